"""Running a check: scan, decide per policy and answer mode, repair, record, resume.

The decision follows DAOS's per-class algorithm (policy, DEFAULT → the
problem's default, an action that is not a choice → INTERACT, auto turns
INTERACT into IGNORE, dry runs change nothing) and e2fsck's answer modes
(-n, -y, -p preen). Findings and per-shard bookmarks go to the report
store as they happen, so a check that dies can be resumed by the next one.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from vosfmt import CorruptionError, VosError, open_shard, safefs
from vosfmt.errors import NoSuperblockError
from vosfmt.image import list_shards

from .problems import Action, Code, problem
from .repair import repair_shard
from .scan import Finding, FindingSet, ShardScan, scan_image_smd
from .store import ReportStore, dry_run_path, image_id, private_dir

from .exits import EXIT_CLEAN, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT

RESULT_REPAIRED, RESULT_DRY_RUN, RESULT_IGNORED, RESULT_FAILED = 0, 1, 2, -5
MAX_ROUNDS = 4
LOCK_FILE = os.path.join("daos_sys", "check.lock")     # the writing leader's details (not the lock)
STOP_FILE = os.path.join("daos_sys", "check.stop")     # a stop request (`check stop`)
SYS_DB = os.path.join("daos_sys", "sys_db")
EXCLUSIVE_WAIT = 2.0    # seconds a writer waits for short readers (a query) to let go of the image
STOP_WAIT = 10.0        # seconds `check stop` waits for the leader to end
STOP_POLL = 0.1         # seconds between a leader's looks for a stop request
_POLL = 0.02


class CheckError(Exception):
    """An operational error of the checker (exit 8), with a one-line message."""


class CheckStopped(Exception):
    """`check stop` asked the running check to end (it leaves a resumable state)."""


class PreenHalt(Exception):
    def __init__(self, finding: Finding):
        self.finding = finding


@dataclass
class Options:
    dry_run: bool = False
    mode: str = "default"            # default | yes | preen | interactive
    auto: bool = False
    failout: bool = False
    reset: bool = False
    policies: dict = field(default_factory=dict)      # Cls -> Action for this run


def _leader() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}


# --- what a storage image is ------------------------------------------------------------
def is_image(db_root: str) -> bool:
    """A storage image has an SMD sys db or pool directories with vos-N shards (an image whose
    sys db is lost is still checked: the checker reports the missing SMD)."""
    try:
        return os.path.isdir(os.path.join(db_root, SYS_DB)) or bool(list_shards(db_root))
    except (OSError, VosError):
        return False


def require_image(db_root: str) -> None:
    """Refuse, before anything is opened or created, a directory that is not a storage image."""
    if not os.path.isdir(db_root):
        raise CheckError(f"{db_root}: no such directory (give the storage image with -D)")
    if not is_image(db_root):
        raise CheckError(f"{db_root} is not a storage image: it has neither {SYS_DB} nor pool "
                         "directories with vos-N shards")


# --- who may run: a flock on the image root directory -----------------------------------
class ImageLock:
    """flock on the image root directory itself, so taking it creates nothing.

    Shared for readers (dry runs, query, get-policy), exclusive for whatever
    writes (a repairing check, repair, set-policy, stop of a dead run); the
    exclusive holder also writes its details to ``daos_sys/check.lock``
    (replaced by rename, never through a link) so others can name it. The
    kernel drops the lock when its holder dies.
    """

    def __init__(self, db_root: str, *, exclusive: bool, wait: float | None = None):
        self.db_root = db_root
        self.exclusive = exclusive
        self.fd = os.open(db_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        deadline = time.monotonic() + (EXCLUSIVE_WAIT if wait is None and exclusive else wait or 0)
        while True:
            try:
                fcntl.flock(self.fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise CheckError(busy_message(db_root)) from None
                time.sleep(_POLL)
        if exclusive:
            try:
                safefs.write_file(db_root, os.path.join(db_root, LOCK_FILE), json.dumps(_leader()).encode())
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if self.exclusive:
                safefs.unlink_file(self.db_root, os.path.join(self.db_root, LOCK_FILE))
        finally:
            os.close(self.fd)           # drops the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def busy_message(db_root: str) -> str:
    info = _read_leader(db_root)
    if info:
        return f"a check is already running, led by {info}"
    return f"{db_root} is in use by a read-only check (a dry run) or a query; try again when it ends"


def _read_leader(db_root: str) -> str | None:
    """The exclusive holder's details, or None when there are none (a reader holds the image)."""
    try:
        fd = safefs.open_file(db_root, os.path.join(db_root, LOCK_FILE), os.O_RDONLY)
        with os.fdopen(fd) as f:
            d = json.load(f)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["since"]))
        return f"pid {d['pid']} on {d['host']} (since {since})"
    except (OSError, VosError, ValueError, KeyError, TypeError):
        return None


def _held(db_root: str, mode: int) -> bool:
    """Whether another process holds the image lock in a way that conflicts with ``mode``."""
    fd = os.open(db_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def leader_alive(db_root: str) -> bool:
    """A check that writes holds the image."""
    return _held(db_root, fcntl.LOCK_SH)


def image_in_use(db_root: str) -> bool:
    """Any check (a dry run included) or reader holds the image."""
    return _held(db_root, fcntl.LOCK_EX)


# --- stopping: a request file the leader and its scan workers look for --------------------
class StopWatch:
    """Sees a stop request made after the run began (an older, stale one is ignored)."""

    def __init__(self, db_root: str, base=False):
        self.path = os.path.join(db_root, STOP_FILE)
        self.base = self._stamp() if base is False else base

    def _stamp(self):
        try:
            st = os.lstat(self.path)
            return (st.st_ino, st.st_mtime_ns)
        except OSError:
            return None

    def requested(self) -> bool:
        stamp = self._stamp()
        return stamp is not None and stamp != self.base

    def check(self) -> None:
        if self.requested():
            raise CheckStopped()

    def ticker(self):
        """A cheap callable for the scan's inner loop: looks for a request every STOP_POLL s."""
        due = [time.monotonic() + STOP_POLL]

        def tick():
            now = time.monotonic()
            if now >= due[0]:
                due[0] = now + STOP_POLL
                self.check()
        return tick


def request_stop(db_root: str, wait: float = STOP_WAIT) -> bool:
    """Ask the running check to stop and wait for it to let go of the image; True if it did."""
    stop_path = os.path.join(db_root, STOP_FILE)
    safefs.write_file(db_root, stop_path, json.dumps(_leader()).encode())
    deadline = time.monotonic() + wait
    try:
        while image_in_use(db_root):
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)
        return True
    finally:
        safefs.unlink_file(db_root, stop_path)


# --- the stores, opened under the right lock ------------------------------------------------
@contextmanager
def reading(db_root: str):
    """The image's report store for reading (None if there is none), beside any running check.

    With no writer running, a shared image lock keeps writers out, so LMDB's
    lock file is not touched (a read-only image can be queried); beside a
    running writer, the reader joins LMDB's reader table.
    """
    require_image(db_root)
    lock = None
    try:
        lock = ImageLock(db_root, exclusive=False)
    except CheckError:
        pass                                    # a writer runs: read beside it
    try:
        if not ReportStore.exists(db_root):
            yield None
            return
        with ReportStore(db_root, lock_readers=lock is None) as store:
            yield store
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def writing(db_root: str):
    """The image's report store for writing, under the exclusive image lock."""
    require_image(db_root)
    with ImageLock(db_root, exclusive=True), ReportStore(db_root, write=True) as store:
        yield store


@contextmanager
def dry_run_store(db_root: str):
    """The store a dry run keeps its report in, outside the image (see ddb.checker.store)."""
    path = dry_run_path(db_root)
    try:
        private_dir(path)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise CheckError(f"cannot keep the dry-run report in {path}: {e.strerror or e} "
                         "(set DDB_STATE_DIR to a writable directory)") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckError(f"a dry run of {db_root} is already running") from None
        with ReportStore(db_root, write=True, path=path) as store:
            yield store
    finally:
        os.close(fd)


def _dry_run_reader(db_root: str):
    """The dry-run store of this image for reading, or None (absent, busy or another image's)."""
    path = dry_run_path(db_root)
    if not ReportStore.exists(db_root, path):
        return None
    try:
        store = ReportStore(db_root, path=path)
    except VosError:
        return None
    if store.instance().get("image") != image_id(db_root):
        store.close()
        return None
    return store


def _dry_run_busy(db_root: str) -> bool:
    try:
        fd = os.open(dry_run_path(db_root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def dry_run_next_seq(db_root: str) -> int:
    from .store import SEQ_BASE
    store = _dry_run_reader(db_root)
    if store is None:
        return SEQ_BASE
    with store:
        return store.next_seq()


def targets_of(db_root: str, names) -> list[str]:
    """Shard paths for TARGET arguments: shard files, pool directories or pool uuids."""
    shards = list_shards(db_root)
    if not names:
        return shards
    out = []
    for n in names:
        p = os.path.abspath(n) if os.path.exists(n) else os.path.join(db_root, n)
        match = [s for s in shards if os.path.abspath(s) == os.path.abspath(p)
                 or os.path.dirname(os.path.abspath(s)) == os.path.abspath(p)]
        if not match:
            raise CheckError(f"no pool shard matches '{n}' under {db_root}")
        out += [m for m in match if m not in out]
    return out


def _exit_status(totals: dict, halted, stopped) -> int:
    """e2fsck's bits: 4 when anything is left (which clears 1), 32 when stopped, 1 when repaired."""
    left = (totals["pending"] or totals["failed"] or totals["dry_run"] or totals["ignored"]
            or halted)
    if stopped:
        return EXIT_INTERRUPTED | (EXIT_LEFT if left else 0)
    if left:
        return EXIT_LEFT
    return EXIT_FIXED if totals["repaired"] else EXIT_CLEAN


class Checker:
    def __init__(self, db_root: str, targets=(), options: Options | None = None, *, ask=None,
                 progress=None, hooks=None):
        self._first: dict = {}
        self.db_root = db_root
        self.names = list(targets)
        self.opt = options or Options()
        self.ask = ask                      # interactive: (finding, choices) -> Action
        self.progress = progress
        self.hooks = hooks
        self.remember: dict = {}            # class -> Action ('a' = the suggestion for all)

    # --- decisions ---------------------------------------------------------------
    def decide(self, f: Finding, stored_policies: dict) -> Action:
        prob = f.problem
        if prob.report_only:
            return Action.IGNORE
        acts = [a for a, _ in prob.choices]
        default = Action(f.ctx["default"]) if "default" in f.ctx else prob.default
        if default == Action.IGNORE and self.opt.mode in ("yes", "preen"):
            return Action.IGNORE           # nothing can repair this one
        pol = Action.DEFAULT if self.opt.mode == "yes" else \
            Action(self.opt.policies.get(prob.cls, stored_policies.get(int(prob.cls), Action.DEFAULT)))
        act = default if pol == Action.DEFAULT else pol
        if act not in acts and act != Action.IGNORE:
            act = Action.INTERACT
        if self.opt.mode == "interactive" and not self.opt.dry_run:
            act = Action.INTERACT
        if self.opt.mode == "preen" and act != Action.IGNORE and not prob.safe_auto:
            raise PreenHalt(f)
        if act == Action.INTERACT and self.opt.auto:
            act = Action.IGNORE
        if act == Action.INTERACT and self.ask is not None and not self.opt.dry_run:
            if prob.cls in self.remember:
                return self.remember[prob.cls]
            choice, for_all = self.ask(f, prob.choices)
            if for_all:
                self.remember[prob.cls] = choice
            return choice
        return act

    # --- start ----------------------------------------------------------------------
    def start(self) -> int:
        """Run the check. A dry run writes nothing in the image (its report goes to the
        dry-run store outside it); any other run holds the image exclusively."""
        require_image(self.db_root)
        self.stop_watch = StopWatch(self.db_root)
        if self.opt.dry_run:
            return self._dry_start()
        with writing(self.db_root) as store:
            store.seq_floor = dry_run_next_seq(self.db_root)
            return self._start(store, store.policies())

    def _dry_start(self) -> int:
        with ImageLock(self.db_root, exclusive=False, wait=0):
            policies, floor = {}, None
            if ReportStore.exists(self.db_root):
                with ReportStore(self.db_root, lock_readers=False) as base:
                    policies, floor = base.policies(), base.next_seq()
            with dry_run_store(self.db_root) as store:
                if floor is not None:
                    store.seq_floor = floor
                store.clear()
                store.put(instance={"status": "INIT", "image": image_id(self.db_root)})
                return self._start(store, policies)

    def _start(self, store: ReportStore, stored: dict) -> int:
        shards = targets_of(self.db_root, self.names)
        inst = store.instance()
        marks = store.shards()
        prev = inst.get("status", "INIT")
        reset = (self.opt.reset or prev in ("INIT", "COMPLETED") or inst.get("dry_run")
                 or not any(m.get("status") not in ("CHECKED",) for p, m in marks.items() if p in shards))
        old = store.findings()
        if reset:
            store.put(delete_findings=[f["seq"] for f in old if f["shard"] in shards or not f["shard"]],
                      delete_shards=[p for p in marks if p in shards])
            marks = {}
            rescan = set(shards)
        else:       # resume: pending findings of shards scanned again are rediscovered
            rescan = {p for p in shards if marks.get(p, {}).get("status") != "CHECKED"}
            store.put(delete_findings=[f["seq"] for f in old
                                       if f["action"] == Action.INTERACT and f["shard"] in rescan])
        # a pending question this run will not ask again can no longer be answered (DAOS STALE)
        stale = [dict(f, action=int(Action.STALE), choices=[]) for f in store.findings()
                 if f["action"] == Action.INTERACT and f["shard"] and f["shard"] not in rescan]
        if stale:
            store.put(findings=stale)
        flags = {"dry_run": self.opt.dry_run, "auto": self.opt.auto, "failout": self.opt.failout}
        inst = {**inst, "status": "RUNNING", "leader": _leader(), "start_time": time.time(),
                "resumed_from": prev if not reset else None, **flags, "stop_time": None,
                "policies": {str(int(k)): int(v) for k, v in self.opt.policies.items()}}
        todo = [p for p in shards if marks.get(p, {}).get("status") != "CHECKED"]
        # every shard to check is bookmarked first, so a run stopped before its end resumes
        store.put(instance=inst, shards={p: marks.get(p) or {"status": "UNCHECKED", "phase": 0}
                                         for p in todo})
        totals = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        halted = stopped = None
        try:
            self._first = scan_in_parallel(self.db_root, todo, self.stop_watch.base) \
                if len(todo) > 1 else {}
            for i, path in enumerate(shards):
                if path not in todo:
                    continue
                self.stop_watch.check()
                counts = self._check_shard(store, path, stored, i, len(shards))
                for k, v in counts.items():
                    totals[k] += v
            self.stop_watch.check()
            counts = self._check_image(store, shards, stored)
            for k, v in counts.items():
                totals[k] += v
        except PreenHalt as h:
            halted = h.finding
            self._record(store, [h.finding], {id(h.finding): (Action.INTERACT, None)})
            totals["pending"] += 1
        except CheckStopped:
            stopped = True
        status = "STOPPED" if stopped else "RUNNING" if totals["pending"] else "COMPLETED"
        inst.update(status=status, stop_time=time.time(), counters=totals,
                    preen_halt=halted.message if halted else None)
        store.put(instance=inst)
        return _exit_status(totals, halted, stopped)

    def _check_shard(self, store, path: str, stored: dict, index: int, count: int) -> dict:
        counts = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        seen = FindingSet()
        held = None         # the last round's repairs: recorded once the next scan has verified them
        bookmark = {"status": "CHECKING", "phase": 0, "started": time.time()}
        store.put(shards={path: bookmark})
        for rnd in range(MAX_ROUNDS + 1):
            pre = self._first.pop(path, None) if rnd == 0 else None
            if pre is not None and pre[0] == _FAILED:
                raise CheckError(f"cannot check {path}: {pre[1]}")
            if pre is not None:
                findings = pre[1]
                if self.progress:
                    self.progress(path, index, count, 3, 3)
            else:
                try:
                    findings = self._scan(store, path, bookmark, index, count, first=rnd == 0)
                except VosError as e:
                    if held is not None:        # what was repaired before stays on record
                        self._record(store, *held, counts)
                    raise CheckError(f"cannot check {path}: {e}") from None
            if held is not None:
                self._record(store, *_verified(*held, findings), counts)
                held = None
            findings = [f for f in findings if f not in seen]
            if not findings:
                break
            if rnd == MAX_ROUNDS:       # still more after the last round: left uncorrected
                self._record(store, findings, {id(f): (Action.IGNORE, None) for f in findings},
                             counts)
                break
            for f in findings:
                seen.add(f)
            decisions = {id(f): (self.decide(f, stored), None) for f in findings}
            to_fix = [(f, a) for f in findings for a, _ in [decisions[id(f)]]
                      if a not in (Action.IGNORE, Action.INTERACT) and not self.opt.dry_run]
            if to_fix:
                try:
                    repair_shard(path, self.db_root, to_fix, hooks=self.hooks)
                except VosError as e:
                    for f, a in to_fix:
                        decisions[id(f)] = (a, str(e))
                    if self.opt.failout:
                        self._record(store, findings, decisions, counts)
                        bookmark.update(status="FAILED")
                        store.put(shards={path: bookmark})
                        raise CheckError(f"repair failed on {path}: {e}") from None
            if not to_fix:
                self._record(store, findings, decisions, counts)
                break
            held = (findings, decisions)
        bookmark.update(status="PENDING" if counts["pending"] else "CHECKED", phase=4,
                        counters=counts, finished=time.time())
        store.put(shards={path: bookmark})
        return counts

    def _scan(self, store, path: str, bookmark: dict, index: int, count: int, *, first: bool):
        """One scan of a shard. A shard that its damage keeps from being opened is one
        Code.SHARD_UNREADABLE finding (first round only: one a repair made unopenable is an error)."""
        try:
            shard = open_shard(path, db_root=self.db_root, truncated_ok=True)
        except VosError as e:
            unopenable = unreadable_finding(self.db_root, path, e) if first else None
            if unopenable is None:
                raise
            return [unopenable]
        with shard:
            def prog(n, total):
                bookmark["phase"] = n
                store.put(shards={path: bookmark})
                if self.progress:
                    self.progress(path, index, count, n, total)
            return ShardScan(shard, prog, tick=self.stop_watch.ticker()).run()

    def _check_image(self, store, shards, stored) -> dict:
        counts = {"total": 0, "repaired": 0, "ignored": 0, "failed": 0, "pending": 0, "dry_run": 0}
        findings = self._scan_smd(shards)
        if not findings:
            return counts
        decisions = {id(f): (self.decide(f, stored), None) for f in findings}
        for f in findings:
            act = decisions[id(f)][0]
            if act in (Action.IGNORE, Action.INTERACT) or self.opt.dry_run:
                continue
            try:
                apply_image_repair(self.db_root, f, act)
            except VosError as e:
                decisions[id(f)] = (act, str(e))
        if not self.opt.dry_run and any(a not in (Action.IGNORE, Action.INTERACT) and e is None
                                        for a, e in decisions.values()):
            findings, decisions = _verified(findings, decisions, self._scan_smd(shards))
        self._record(store, findings, decisions, counts)
        return counts

    def _scan_smd(self, shards) -> list:
        opened = []
        try:
            for p in shards:
                try:
                    opened.append(open_shard(p, db_root=self.db_root, truncated_ok=True))
                except VosError:
                    pass
            return scan_image_smd(self.db_root, opened)
        finally:
            for sh in opened:
                sh.close()

    def _record(self, store, findings, decisions, counts=None) -> None:
        seqs = store.next_seqs(len(findings))
        docs = []
        for seq, f in zip(seqs, findings):
            act, err = decisions[id(f)]
            if act == Action.INTERACT:
                result, key = None, "pending"
            elif err is not None:
                result, key = RESULT_FAILED, "failed"
            elif act == Action.IGNORE:
                result, key = RESULT_IGNORED, "ignored"
            elif self.opt.dry_run:
                result, key = RESULT_DRY_RUN, "dry_run"
            else:
                result, key = RESULT_REPAIRED, "repaired"
            if counts is not None:
                counts["total"] += 1
                counts[key] += 1
            docs.append(finding_doc(seq, f, act, result, err))
        store.put(findings=docs)


_FOUND, _FAILED, _STOPPED = "found", "failed", "stopped"


def _scan_one(args):
    """One shard's first round in a worker: (path, (kind, findings or error text))."""
    db_root, path, stop_base = args
    try:
        shard = open_shard(path, db_root=db_root, truncated_ok=True)
    except VosError as e:
        unopenable = unreadable_finding(db_root, path, e)
        return path, ((_FOUND, [unopenable]) if unopenable is not None else (_FAILED, str(e)))
    try:
        with shard:
            tick = StopWatch(db_root, stop_base).ticker()
            return path, (_FOUND, ShardScan(shard, tick=tick).run())
    except VosError as e:
        return path, (_FAILED, str(e))
    except CheckStopped:
        return path, (_STOPPED, None)


def unreadable_finding(db_root: str, path: str, e: VosError) -> Finding | None:
    """SHARD_UNREADABLE for a shard whose damage keeps it from being opened: no superblock
    copy holds, or none carries the magic (an empty, cut or overwritten file). None for what
    is not damage, which stays an operational error (exit 8): unknown incompatible features or
    a format version from a newer writer (refused, as e2fsck does), permissions, I/O, locks."""
    if not isinstance(e, (CorruptionError, NoSuperblockError)):
        return None
    reason = e.reason if isinstance(e, CorruptionError) else str(e)
    if reason.startswith(f"{path}: "):
        reason = reason[len(path) + 2:]
    return Finding(Code.SHARD_UNREADABLE, dict(file=os.path.relpath(path, db_root), reason=reason),
                   path)


def scan_in_parallel(db_root: str, paths: list[str], stop_base=None) -> dict:
    """First-round findings of several shards, scanned by one process per core.

    Scans only read; repairs and the report store stay in the leader process.
    A stop request ends every worker's scan; it is raised here as CheckStopped.
    """
    import multiprocessing as mp
    workers = min(len(paths), os.cpu_count() or 1)
    if workers < 2:
        return {}
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            out = dict(pool.map(_scan_one, [(db_root, p, stop_base) for p in paths]))
    except (OSError, ValueError):       # no fork here: the leader scans them one by one
        return {}
    if any(kind == _STOPPED for kind, _ in out.values()):
        raise CheckStopped()
    return out


def finding_doc(seq: int, f: Finding, act: Action, result, err=None) -> dict:
    prob = f.problem
    pending = act == Action.INTERACT
    return {"seq": seq, "code": f.code, "name": prob.name, "class": int(prob.cls),
            "class_name": prob.cls.name, "pass": prob.pass_, "shard": f.shard,
            "msg": f.message, "action": int(act), "result": result, "error": err,
            "choices": [int(a) for a, _ in prob.choices] if pending else [],
            "details": [d for _, d in prob.choices] if pending else
            [d for a, d in prob.choices if a == act][:1],
            "report_only": prob.report_only, "ctx": f.ctx, "timestamp": time.time()}


def _verified(findings, decisions, rescan) -> tuple:
    """Mark failed the repairs a new scan (``rescan``) still finds undone: a repair that did
    not happen is never counted as repaired."""
    again = FindingSet(rescan)
    for f in findings:
        act, err = decisions[id(f)]
        if err is None and act not in (Action.IGNORE, Action.INTERACT) and f in again:
            decisions[id(f)] = (act, "the repair did not take effect: a new scan still finds it")
    return findings, decisions


def apply_image_repair(db_root: str, f: Finding, act: Action) -> None:
    from vosfmt.image import smd_sync
    from vosfmt.keys import uuid_bytes
    from vosfmt.smd import SysDb
    if f.code in (0x060001, 0x060003):          # blob missing, sys db unreadable
        smd_sync(db_root)
    elif f.code == Code.BLOB_HEADER_WRONG:
        _rewrite_blob_header(db_root, f)
    elif f.code == 0x060002:
        with SysDb(db_root, write=True) as db:
            pool = db.pools().get(uuid_bytes(f.ctx["pool"]))
            if pool is None:
                return
            keep = [(t, b) for t, b in zip(pool.tgts, pool.blobs) if t != f.ctx["target"]]
            if keep:
                pool.tgts, pool.blobs = [t for t, _ in keep], [b for _, b in keep]
                db.write(pools=[pool])
            else:
                db.write(delete_pools=[pool.uuid])


def _rewrite_blob_header(db_root: str, f: Finding) -> None:
    """BLOB_HEADER_WRONG: rewrite the blob's header from the facts that repeat it, if the
    file still holds a header of the finding's pool and target (else leave it: the rescan
    says what it is now)."""
    from vosfmt.blob import BlobHeader, read_header, rewrite_header
    from vosfmt.keys import uuid_bytes
    path, fix = os.path.join(db_root, f.ctx["blob"]), f.ctx["fix"]
    h = read_header(path)
    if (h.pool_uuid, h.vos_id) != (uuid_bytes(f.ctx["pool"]), f.ctx["target"]):
        return
    rewrite_header(db_root, path, BlobHeader(fix["blk_sz"], fix["hdr_blks"], h.vos_id,
                                             fix["blob_id"], bytes.fromhex(fix["dev_uuid"]),
                                             h.pool_uuid, h.version))


def repair_finding(db_root: str, seq: int, idx: int) -> dict:
    """``check repair SEQ IDX``: apply choice IDX of a pending finding (DAOS error texts)."""
    with writing(db_root) as store:
        doc = store.finding(seq)
        if doc is None:
            raise CheckError(f"finding {seq:#x} not found" + _dry_run_hint(db_root, seq))
        if doc["action"] == Action.STALE:
            raise CheckError(f"finding {seq:#x} is stale: the current checker instance cannot act on "
                             "it; restart the checker against its shard")
        if doc["action"] != Action.INTERACT:
            raise CheckError(f"finding {seq:#x} is already resolved: {resolution(doc)}")
        if not 0 <= idx < len(doc["choices"]):
            raise CheckError(f"invalid action {idx} for seq {seq:#x}")
        act = Action(doc["choices"][idx])
        inst = store.instance()
        f = Finding(doc["code"], doc["ctx"], doc["shard"])
        err = None
        if act != Action.IGNORE:
            try:
                if f.shard:
                    current = _still_there(db_root, f)
                    if current is not None:
                        repair_shard(f.shard, db_root, [(current, act)])
                else:
                    apply_image_repair(db_root, f, act)
            except VosError as e:
                err = str(e)
        result = (RESULT_FAILED if err else RESULT_IGNORED if act == Action.IGNORE
                  else RESULT_REPAIRED)
        doc.update(action=int(act), result=result, error=err, choices=[],
                   details=[d for a, d in problem(f.code).choices if a == act][:1])
        store.put(findings=[doc])
        pending = [d for d in store.findings() if d["action"] == Action.INTERACT]
        if not [d for d in pending if d["shard"] == f.shard] and f.shard:
            marks = store.shards()
            bm = marks.get(f.shard, {})
            bm["status"] = "CHECKED"
            store.put(shards={f.shard: bm})
        if not pending and inst.get("status") == "RUNNING":
            inst["status"] = "COMPLETED"
            store.put(instance=inst)
        return doc


def _dry_run_hint(db_root: str, seq: int) -> str:
    store = _dry_run_reader(db_root)
    if store is None:
        return ""
    with store:
        if store.finding(seq) is None:
            return ""
    return " (it comes from a dry run, which repairs nothing: run 'ddb check start' without -n)"


def _still_there(db_root: str, f: Finding):
    """The same inconsistency found by a fresh scan (None if it is gone)."""
    with open_shard(f.shard, db_root=db_root, truncated_ok=True) as shard:
        for g in ShardScan(shard).run():
            if g.identity() == f.identity():
                return g
    return None


def resolution(doc: dict) -> str:
    act = Action(doc["action"]).name
    if doc.get("result") == RESULT_DRY_RUN:
        return f"{act} (dry run)"
    if doc.get("result") == RESULT_FAILED:
        return f"{act} (failed: {doc.get('error')})"
    return act


def stop(db_root: str, wait: float = STOP_WAIT) -> str:
    """``check stop``: a running check (dry runs too) ends within STOP_POLL seconds of the
    request, leaving STOPPED (resumable); a RUNNING record whose leader is gone is marked so."""
    require_image(db_root)
    if image_in_use(db_root):
        if not request_stop(db_root, wait):
            return "STOPPING"
        return query(db_root)["status"]
    if not ReportStore.exists(db_root):
        return "INIT"
    with writing(db_root) as store:
        inst = store.instance()
        if inst.get("status") != "RUNNING":
            return inst.get("status", "INIT")
        inst.update(status="STOPPED", stop_time=time.time())
        store.put(instance=inst)
        return "STOPPED"


def _report(store, alive: bool) -> dict:
    inst = store.instance()
    if inst.get("status") == "RUNNING" and not alive and \
            not any(f["action"] == Action.INTERACT for f in store.findings()):
        inst["status"] = "PAUSED"           # its leader died mid-run: start resumes it
    return {"status": inst.get("status", "INIT"), "instance": inst, "shards": store.shards(),
            "reports": sorted(store.findings(), key=lambda d: (d["class"], d["seq"]))}


def query(db_root: str) -> dict:
    """The latest check of the image: its own store's, or a later dry run's (kept outside it)."""
    with reading(db_root) as store:
        own = _report(store, leader_alive(db_root)) if store is not None else None
    dry = _dry_run_reader(db_root)
    if dry is not None:
        with dry:
            dry_report = _report(dry, _dry_run_busy(db_root))
        if own is None or dry_report["instance"].get("start_time", 0) > \
                own["instance"].get("start_time", 0):
            return dry_report
    return own or {"status": "INIT", "shards": {}, "reports": []}


def stored_policies(db_root: str, last: bool = False) -> tuple[dict, dict]:
    """(policies, the last instance's flags) as stored in the image; ``last``: the last run's."""
    with reading(db_root) as store:
        if store is None:
            return {}, {}
        pol, inst = store.policies(), store.instance()
    flags = {k: inst.get(k) for k in ("dry_run", "auto", "failout")}
    if last:
        pol = {int(k): v for k, v in inst.get("policies", {}).items()} or pol
    return pol, flags


def update_policies(db_root: str, change) -> dict:
    """Store ``change(policies)`` under the exclusive image lock; returns it."""
    with writing(db_root) as store:
        pol = change(store.policies())
        store.put(policies=pol)
    return pol
