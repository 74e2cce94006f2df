"""What the system checker keeps in the MS: the instance state and the findings.

Both live in the MS's replicated state (``vosfmt.ms``), so they survive the
leader process and MS leadership changes like the rest of it:

    checker  "state" -> {"enabled", "instance", "leader" (rank), "status", "phase",
                         "start_time", "active" (the leader process working now, else None),
                         "flags" {"dry_run", "auto", "failout"}, "policies" {CLASS: ACTION},
                         "last_policies", "pools" {uuid: POOL}, "counters", "seq_next",
                         "answers" {seq hex: ACTION} (the MS findings' answers),
                         "acting" {seq hex: ACTING} (the MS findings' repairs begun),
                         "ranks" [R...] (the ranks the instance checks),
                         "listed" (False from a new instance's first write until its
                         pool list is made: a leader dead before it lists them again),
                         "ms_behind" [R...] (the MS replicas behind at the instance's
                         start: any other one behind was left by the checker's own
                         interrupted write, and is caught up, not reported),
                         "local" {rank: {"ok", "error", "exit", "status", "counts"}} (the
                         ranks' single-engine checks after the passes)}
             POOL = {"uuid", "label", "status" CPS_*, "phase" CSP_*, "rank_count",
                     "start_time", "remaining", "elapsed",
                     "answers" {seq hex: ACTION} (repair decisions not yet applied),
                     "acting" {seq hex: ACTING} (repairs begun, not recorded done),
                     "label_fix" (the MS label a TRUST_MS POOL_BAD_LABEL writes in phase 3)}
             ACTING = {"action", "inc" (the Inconsistency, ``to_json``)}: written with the
                     finding's report (its result still None) before the repair starts, and
                     removed with its result; a resumed leader applies it again first
    findings seq as 16 hex digits -> dmg's CheckReport fields, nothing else

Sequence numbers follow DAOS: bit 63 zero, bits 40-62 the reporting rank (the
leader's all ones), the low 40 bits a counter seeded from the clock at instance
start and past every stored finding's, persisted (``seq_next``) in the same MS write as
the first finding that uses it, so it never repeats across restarts.

Every write is one MS update (one raft index on every reachable replica). The
checker's own rows are written even without an MS quorum (to the readable
replicas, forced) and never to the replicas found behind (``skip``): an MS
replica left behind stays behind until its MS_REPLICA_BEHIND finding is
repaired (TRUST_MS) or another MS writer catches it up.
"""
from __future__ import annotations

import time

from vosfmt.ms import ManagementService
from vosfmt.replicated import ReplicatedService, copy_state

SEQ_RANK_SHIFT = 40
SEQ_COUNTER_MASK = (1 << SEQ_RANK_SHIFT) - 1
LEADER_SEQ_RANK = (1 << 23) - 1             # bits 40-62 all ones: reported by the leader

REPORT_FIELDS = ("seq", "class", "action", "result", "rank", "target", "pool_uuid", "pool_label",
                 "cont_uuid", "cont_label", "objid", "dkey", "akey", "timestamp", "msg",
                 "act_choices", "act_details", "act_msgs")

INSTANCE_STATUSES = ("INIT", "RUNNING", "COMPLETED", "STOPPED", "FAILED", "PAUSED", "IMPLICATED")
PHASES = ("CSP_PREPARE", "CSP_POOL_LIST", "CSP_POOL_MBS", "CSP_POOL_CLEANUP", "CSP_CONT_LIST",
          "CSP_CONT_CLEANUP", "CSP_DTX_RESYNC", "CSP_OBJ_SCRUB", "CSP_REBUILD",
          "CSP_AGGREGATION", "CSP_DONE")
DONE_POOL = ("CPS_CHECKED", "CPS_FAILED", "CPS_STOPPED", "CPS_IMPLICATED")


def seq_key(seq: int) -> str:
    return f"{seq:016x}"


def seq_of(rank: int | None, counter: int) -> int:
    rank = LEADER_SEQ_RANK if rank is None else rank & LEADER_SEQ_RANK
    return (rank << SEQ_RANK_SHIFT) | (counter & SEQ_COUNTER_MASK)


def clock_seed() -> int:
    """The counter's start at instance start: milliseconds of the clock (40 bits last ~34 years)."""
    return (time.time_ns() // 1_000_000) & SEQ_COUNTER_MASK


def new_state() -> dict:
    return {"enabled": False, "instance": 0, "leader": None, "status": "INIT", "phase": None,
            "start_time": None, "active": None, "flags": {"dry_run": False, "auto": False,
                                                          "failout": False},
            "policies": {}, "last_policies": {}, "pools": {}, "counters": {}, "seq_next": 0,
            "answers": {}}


def new_pool(uuid: str, label, rank_count: int) -> dict:
    return {"uuid": uuid, "label": label, "status": "CPS_UNCHECKED", "phase": "CSP_PREPARE",
            "rank_count": rank_count, "start_time": None, "remaining": 0, "elapsed": 0,
            "answers": {}, "label_fix": None}


class CheckerState:
    """The checker's rows of one MS, read once and written back by ``save``.

    ``state`` and ``findings`` (seq -> report) are the in-memory copies; a ``save``
    writes the instance state and the findings changed since the last one.
    """

    def __init__(self, sys_root: str):
        self.ms = ManagementService(sys_root)
        self.skip: set[int] = set()         # MS replicas left behind: not written
        self.reload()

    def reload(self) -> None:
        survey = self.ms.survey()
        st = survey.state() or {}
        self.skip = set(survey.verdict.behind)
        self.state = {**new_state(), **st.get("checker", {}).get("state", {})}
        self.findings = {int(k, 16): v for k, v in st.get("findings", {}).items()}
        self._dirty: set[int] = set()
        self._deleted: set[int] = set()

    # --- findings ------------------------------------------------------------------
    def next_seq(self, rank: int | None) -> int:
        counter = max(self.state.get("seq_next") or 0, 1)
        self.state["seq_next"] = counter + 1
        return seq_of(rank, counter)

    def put_finding(self, report: dict) -> None:
        self.findings[report["seq"]] = {k: report.get(k) for k in REPORT_FIELDS}
        self._dirty.add(report["seq"])
        self._deleted.discard(report["seq"])

    def delete_finding(self, seq: int) -> None:
        self.findings.pop(seq, None)
        self._dirty.discard(seq)
        self._deleted.add(seq)

    def pool(self, uuid: str) -> dict | None:
        return self.state["pools"].get(uuid)

    # --- writing -------------------------------------------------------------------
    def save(self, edit=None) -> None:
        """Write the instance state and the changed findings as one MS update (forced: the
        checker's own rows are kept even by an MS without quorum); ``edit`` (state -> None)
        changes other checker rows in the same update (a stop request consumed)."""
        state = copy_state({"s": self.state})["s"]
        puts = {seq_key(s): dict(self.findings[s]) for s in self._dirty}
        dels = [seq_key(s) for s in self._deleted]

        def write(ms_state):
            ms_state.setdefault("checker", {})["state"] = state
            table = ms_state.setdefault("findings", {})
            table.update(puts)
            for k in dels:
                table.pop(k, None)
            if edit is not None:
                edit(ms_state)
        self._service().update(write, force=True)
        self._dirty.clear()
        self._deleted.clear()

    def put_row(self, key: str, value) -> None:
        """One other row of the checker table (a stop request), None deleting it."""
        def write(ms_state):
            table = ms_state.setdefault("checker", {})
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        self._service().update(write, force=True)

    def _service(self) -> ReplicatedService:
        if not self.skip:
            return self.ms
        kept = {r: b for r, b in self.ms.replicas.items() if r not in self.skip}
        return ReplicatedService(self.ms.name, kept, self.ms.make_replica)
