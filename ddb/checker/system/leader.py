"""The check leader of a system: dmg check's verbs over the MS state (``SystemChecker``).

Who leads: the instance records its leader rank (the lowest MS member at
instance creation) in the MS state; it keeps it across MS leadership changes
and replica losses, and only ``start --reset`` picks again. The leader
process holds an exclusive flock on ``<sys_root>/ms`` while it works (a second
concurrent leader is refused; the kernel drops it when the process dies) and
records itself as ``active``. A RUNNING instance whose ``active`` leader no
longer holds the lock died: ``query`` shows PAUSED and ``start`` resumes it.
A RUNNING instance with no ``active`` leader waits for the admin (a pending
finding): ``repair`` or ``set-policy`` answer it and the leader goes on.

Starting (§1.9): resume is the default; a reset (asked, or automatic after a
completed or dry run, when nothing is left to resume, or when the set of ranks
changed) forgets the findings
of the pools it resets; unresolved findings of pools not rescanned become
STALE; ``-O`` rescans the pool list on a resumed instance. Dry runs write no
engine file and no PS or MS state but the checker's own rows.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

from vosfmt import lock
from vosfmt.replicated import state_diff
from vosfmt.system import MS_DIR

from ..errors import CheckError
from ..exits import EXIT_CLEAN, EXIT_ERROR, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT
from ..problems import Action, Cls
from .classes import SYSTEM_CLASSES
from .passes import ms_findings
from .runner import Run, RunFailed, RunStopped
from .starting import new_instance, pool_set, retire_findings
from .state import DONE_POOL, CheckerState, seq_key
from .transport import LocalTransport

NOT_ENABLED = "system checker is not enabled"
STOP_KEY = "stop"            # the checker table's key of a stop request to a live leader
STOP_WAIT = 10.0


class SystemChecker:
    """dmg check's verbs on the system under ``sys_root`` (see the module docstring)."""

    def __init__(self, sys_root: str, transport=None):
        self.sys_root = sys_root
        self.transport = transport or LocalTransport(sys_root)
        self._lock_fd = None

    # --- the leader lock ------------------------------------------------------------------
    def _ms_dir(self) -> str:
        return os.path.join(self.sys_root, MS_DIR)

    @contextmanager
    def _leading(self):
        try:
            fd = os.open(self._ms_dir(), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise CheckError(f"{self.sys_root}: no management service to lead the check "
                             f"from ({e.strerror})") from None
        try:
            if not lock.take(fd, exclusive=True):
                raise CheckError("a system check leader is already running on this system")
            yield
        finally:
            os.close(fd)

    def leader_alive(self) -> bool:
        return os.path.isdir(self._ms_dir()) and \
            lock.held_by_another(self._ms_dir(), exclusive=False)

    def _state(self, *, enabled: bool = True) -> CheckerState:
        st = CheckerState(self.sys_root)
        if enabled and not st.state.get("enabled"):
            raise CheckError(NOT_ENABLED)
        return st

    def _status(self, st: CheckerState) -> str:
        s = st.state
        if s["status"] == "RUNNING" and s.get("active") and not self.leader_alive():
            return "PAUSED"
        return s["status"]

    # --- enable / disable -----------------------------------------------------------------
    def enable(self) -> None:
        self._set_enabled(True)

    def disable(self) -> None:
        if self.leader_alive():
            raise CheckError("a system check is running; stop it first")
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        st = self._state(enabled=False)
        st.state["enabled"] = on
        st.save()

    # --- start ----------------------------------------------------------------------------
    def start(self, pools=(), *, dry_run: bool = False, reset: bool = False, failout=None,
              auto=None, find_orphans: bool = False, policies=None) -> int:
        """Start or resume the check (of ``pools`` only, by uuid); e2fsck's exit bits."""
        with self._leading():
            ms_found = ms_findings(self.sys_root)        # before the first MS write
            st = self._state()
            s = st.state
            if s["status"] == "RUNNING" and not s.get("active"):
                raise CheckError("Operation already performed: the check is running, waiting "
                                 "for repair answers (repair, set-policy or stop it)")
            prev = s["status"]
            pools = [p.lower() for p in pools]
            flags = s["flags"]
            was_dry = flags.get("dry_run")
            flags.update(dry_run=bool(dry_run),
                         auto=flags.get("auto", False) if auto is None else bool(auto),
                         failout=flags.get("failout", False) if failout is None else bool(failout))
            run_pol = {**{Cls[k]: Action[v] for k, v in s["policies"].items()},
                       **dict(policies or {})}
            s["last_policies"] = {c.name: a.name for c, a in run_pol.items()}
            left = [u for u, p in s["pools"].items()
                    if p["status"] != "CPS_CHECKED" and (not pools or u in pools)]
            ranks = list(self.transport.ranks())
            resetting = reset or prev in ("INIT", "COMPLETED") or was_dry \
                or (not left and prev != "RUNNING") or s.get("ranks", ranks) != ranks
            s["ranks"] = ranks
            run = Run(self.sys_root, st, self.transport, dry_run=flags["dry_run"],
                      auto=flags["auto"], failout=flags["failout"], policies=run_pol)
            s.update(status="RUNNING", active=lock.holder_details())
            fresh = resetting and not pools
            ms_found = _own_lag(st, ms_found, resuming=not fresh)
            relist = not s.get("listed", True) and prev == "RUNNING"   # died before its list
            if fresh:
                new_instance(st, self.sys_root, pick_leader=reset)
                s["ms_behind"] = [i.rank for i in ms_found if i.cls == Cls.MS_REPLICA_BEHIND]
            if fresh or relist:
                s["listed"] = False
            st.save()
            return self._run(st, run, pools, resetting or relist,
                             find_orphans or ((resetting or relist) and not pools), ms_found,
                             keep_answers=prev == "RUNNING")

    def _run(self, st, run: Run, pools, reset: bool, rescan: bool, ms_found, *,
             keep_answers: bool = False) -> int:
        """``keep_answers``: a dead leader's instance goes on with its admin's answers (their
        findings kept, met again and acted on under their seqs)."""
        s = st.state
        try:
            run.prepare()
        except CheckError:
            s.update(status="FAILED", active=None)
            st.save()
            raise
        s["phase"] = "CSP_PREPARE"
        names = pool_set(st, run.facts, pools, reset, rescan, keep_answers=keep_answers)
        retire_findings(st, names, reset, pools)
        s["listed"] = True
        st.save()
        return self._go_on(st, run, names, ms_found)

    def _go_on(self, st, run: Run, names, ms_found) -> int:
        """The MS's findings, then the pools; the instance's status and exit bits after."""
        s = st.state
        stopped = failed = False
        local = 0
        try:
            run.check_ms(ms_found)
            s["phase"] = "CSP_POOL_LIST"
            st.save()
            run.run_pools(names, lambda: self._stop_request(st))
            status = run.finish()
            local = run.local_checks() if status == "COMPLETED" else 0
        except RunStopped:
            status, stopped = "STOPPED", True
            for p in s["pools"].values():
                if p["status"] not in DONE_POOL:
                    p["status"] = "CPS_STOPPED"
        except RunFailed:
            status, failed = "FAILED", True
            for p in s["pools"].values():
                if p["status"] not in DONE_POOL:
                    p["status"] = "CPS_IMPLICATED"
        s.update(status=status, active=None, counters=run.counts)
        st.save(edit=lambda ms: ms["checker"].pop(STOP_KEY, None))     # a stop is answered
        return _exit(run.counts, stopped, failed, local)

    def _stop_request(self, st: CheckerState):
        """None, or the pools a stop asks for ([] for all), read from the MS."""
        _v, ms = st.ms.read()
        req = ((ms or {}).get("checker") or {}).get(STOP_KEY)
        return None if req is None else list(req.get("pools") or [])

    # --- stop -----------------------------------------------------------------------------
    def stop(self, pools=()) -> None:
        """Stop the instance, or the named pools only (the others go on)."""
        st = self._state()
        pools = [p.lower() for p in pools]
        if self.leader_alive():
            st.put_row(STOP_KEY, {"pools": pools})
            deadline = time.monotonic() + STOP_WAIT
            while self.leader_alive() and not pools and time.monotonic() < deadline:
                time.sleep(lock.POLL)
            return
        with self._leading():
            st.reload()
            s = st.state
            targets = pools or list(s["pools"])
            for u in targets:
                bm = s["pools"].get(u)
                if bm is not None and bm["status"] not in DONE_POOL:
                    bm["status"] = "CPS_STOPPED"
            if not pools and s["status"] in ("RUNNING", "PAUSED"):
                s.update(status="STOPPED", active=None)
            elif s["status"] == "RUNNING" and not any(
                    p["status"] not in DONE_POOL for p in s["pools"].values()):
                s["status"] = "COMPLETED"
            st.save()

    # --- query ----------------------------------------------------------------------------
    def query(self, pools=()) -> dict:
        """dmg check query's JSON (§1.8): reports sorted by (class, seq), None when there
        are none."""
        st = self._state(enabled=False)
        s = st.state
        pools = [p.lower() for p in pools]
        status = self._status(st)
        shown = {u: _pool_doc(p, status) for u, p in sorted(s["pools"].items())
                 if not pools or u in pools}
        reports = [dict(r) for _seq, r in sorted(st.findings.items())
                   if not pools or r["pool_uuid"] in pools]
        reports.sort(key=lambda r: (_cls_value(r["class"]), r["seq"]))
        return {"status": status, "scan_phase": s.get("phase"),
                "start_time": s.get("start_time"), "leader": s.get("leader"),
                "pools": shown, "reports": reports or None}

    # --- repair ---------------------------------------------------------------------------
    def repair(self, seq: int, idx: int) -> int:
        """Answer a pending finding with its option ``idx``; its pool's check goes on."""
        with self._leading():
            st = self._state()
            r = st.findings.get(seq)
            if r is None:
                raise CheckError(f"finding 0x{seq:x} not found")
            if r["action"] != "INTERACT":
                raise CheckError(f"finding 0x{seq:x} is already resolved: {_resolution(r)}")
            if not 0 <= idx < len(r["act_choices"] or []):
                raise CheckError(f"invalid action {idx} for seq 0x{seq:x}")
            return self._answer(st, {seq: r["act_choices"][idx]})

    def _answer(self, st: CheckerState, answers: dict) -> int:
        """Record the admin's answers and let their pools go on (under the leader lock)."""
        s = st.state
        if self._status(st) != "RUNNING":
            raise CheckError(f"the check is {self._status(st)}: start it again to answer "
                             "its findings")
        pools = []
        for seq, action in answers.items():
            r = st.findings[seq]
            pool = r["pool_uuid"] or None
            where = s["pools"][pool] if pool else s
            where.setdefault("answers", {})[seq_key(seq)] = action
            if pool and pool not in pools:
                pools.append(pool)
                where["status"] = "CPS_CHECKING"
        flags = s["flags"]
        run = Run(self.sys_root, st, self.transport, dry_run=flags["dry_run"],
                  auto=flags["auto"], failout=flags["failout"],
                  policies={Cls[k]: Action[v] for k, v in s["last_policies"].items()})
        s["active"] = lock.holder_details()
        _own_lag(st, [], resuming=True)
        st.save()
        run.prepare()
        return self._go_on(st, run, pools, self._answered_ms(st, s))

    def _answered_ms(self, st, s) -> list:
        """The MS findings an answer waits for, met again (their class's detection)."""
        if not any(r["action"] == "INTERACT" and not r["pool_uuid"]
                   and seq_key(seq) in s.get("answers", {}) for seq, r in st.findings.items()):
            return []
        return ms_findings(self.sys_root)

    # --- policies -------------------------------------------------------------------------
    def set_policy(self, policies=None, *, reset_defaults: bool = False,
                   all_interactive: bool = False) -> int:
        """Merge CLASS -> ACTION into the stored policies; pending findings whose class's new
        policy is one of their choices are answered with it (their pools go on)."""
        with self._leading():
            st = self._state()
            s = st.state
            if reset_defaults or all_interactive:
                act = "INTERACT" if all_interactive else "DEFAULT"
                s["policies"] = {c.name: act for c in SYSTEM_CLASSES if c != Cls.UNKNOWN}
            for c, a in (policies or {}).items():
                s["policies"][Cls(c).name] = Action(a).name
            st.save()
            if s["status"] != "RUNNING" or s.get("active"):
                return EXIT_CLEAN
            answers = {seq: s["policies"][r["class"]] for seq, r in st.findings.items()
                       if r["action"] == "INTERACT" and r["class"] in s["policies"]
                       and s["policies"][r["class"]] in r["act_choices"]}
            return self._answer(st, answers) if answers else EXIT_CLEAN

    def get_policy(self, last: bool = False) -> dict:
        """get-policy's JSON: the checker flags and CLASS:ACTION for every class."""
        s = self._state().state
        pol = s["last_policies"] if last else s["policies"]
        flags = [k.upper() for k, v in s["flags"].items() if v]
        rows = [f"{c.name}:{pol.get(c.name, 'DEFAULT')}" for c in sorted(SYSTEM_CLASSES)]
        return {"checker_flags": "|".join(flags) or "NONE", "policies": rows}


def _own_lag(st: CheckerState, found: list, *, resuming: bool) -> list:
    """``found`` without the MS replicas the checker's own interrupted writes left behind (a
    leader died between two replicas of one update): behind now but not at the instance's
    start, and either the instance goes on or they lack only the checker's rows. The
    checker's next write catches them up instead of reporting them."""
    before = set(st.state.get("ms_behind") or [])
    lagging = st.skip - before
    if lagging and not resuming:
        survey = st.ms.survey()
        auth = survey.state() or {}
        lagging = {r for r in lagging if r in survey.states
                   and _checker_rows_only(survey.states[r], auth)}
    st.skip -= lagging
    return [i for i in found if i.cls != Cls.MS_REPLICA_BEHIND or i.rank not in lagging]


def _checker_rows_only(old: dict, new: dict) -> bool:
    puts, deletes = state_diff(old, new)
    tables = {t for t, _k in puts} | {t for t, _k in deletes}
    return bool(tables) and tables <= {"checker", "findings"}


def _pool_doc(p: dict, status: str) -> dict:
    """A pool's query entry; a dead leader's unfinished pools show PAUSED, as DAOS rewrites
    them at restart."""
    doc = {k: p.get(k) for k in ("uuid", "label", "status", "phase", "rank_count", "start_time",
                                 "remaining", "elapsed")}
    if status == "PAUSED" and doc["status"] in ("CPS_CHECKING", "CPS_UNCHECKED"):
        doc["status"] = "CPS_PAUSED"
    return doc


def _cls_value(name: str) -> int:
    try:
        return int(Cls[name])
    except KeyError:
        return 1 << 16


def _resolution(r: dict) -> str:
    return f"{r['action']} (dry run)" if r.get("result") == 1 else r["action"]


def _exit(counts: dict, stopped: bool, failed: bool, local: int) -> int:
    """e2fsck's bits of the system passes and the ranks' local checks (``local``) together:
    anything left clears "fixed"."""
    left = counts["pending"] or counts["failed"] or counts["dry_run"] or counts["ignored"]
    rc = (EXIT_LEFT if left else EXIT_FIXED if counts["repaired"] else EXIT_CLEAN) | local
    if failed:
        rc |= EXIT_ERROR
    if stopped:
        rc |= EXIT_INTERRUPTED
    return rc & ~EXIT_FIXED if rc & EXIT_LEFT else rc

