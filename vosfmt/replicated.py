"""A replicated service offline: read, edit and recover the state its replicas hold.

The MS (``vosfmt.ms``) and every pool's PS (``vosfmt.rdb``) keep the same kind of
state, ``State`` = table name -> key -> JSON-able value, in one replica per rank.
A replica backend (one LMDB environment, one rdb-pool file) provides:

    rank, path                 where it lives
    exists() -> bool           is there a replica at all (else it is "missing")
    load() -> (RaftMeta, State)  raises VosError when it cannot be read ("unreadable")
    store(meta, puts, deletes)   ONE crash-safe atomic write: the raft meta and the
                               changed keys ({(table, key): value}, {(table, key)})
    create(meta, state)        a whole new replica, replacing any there, atomically

``ReplicatedService`` applies raft's rules (``vosfmt.raft``) to them:

- ``read`` returns the authoritative replica's state (the best readable one's when
  there is no quorum; the verdict says so) and never writes;
- ``update`` applies an edit as ONE new index (same term) to every reachable
  replica, the authoritative one first: each replica gets the difference between
  its own state and the new one in one ``store``, so a replica that was behind is
  caught up by the same write, and a crash leaves each replica old or new, never
  a mix. An update whose edit changes nothing still writes the new index: it is
  how replicas left behind are converged. Without quorum it refuses
  (``NoQuorumError``) unless forced. Missing or unreadable replicas are left alone.
- ``dictate`` is the recovery without quorum (DAOS's DICTATE, ``dmg system
  recover``): one readable replica becomes the sole member, its state is copied
  to the wanted members, then the membership becomes them.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .errors import VosError
from .raft import RaftMeta, Verdict, decide, majority

State = dict[str, dict[str, object]]
Puts = dict[tuple[str, str], object]
Deletes = set[tuple[str, str]]


class NoQuorumError(VosError):
    """The replicas that can be read are not a majority of the service's membership."""


def canonical(value) -> bytes:
    """The one byte form of a stored value: compact JSON, keys sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def copy_state(state: State) -> State:
    """A deep copy holding only JSON values (what every replica can store)."""
    return json.loads(json.dumps(state))


def state_diff(old: State, new: State) -> tuple[Puts, Deletes]:
    """The puts and deletes that turn ``old`` into ``new``."""
    puts: Puts = {}
    deletes: Deletes = set()
    for table in sorted(set(old) | set(new)):
        before, after = old.get(table, {}), new.get(table, {})
        for key in sorted(after):
            if key not in before or canonical(before[key]) != canonical(after[key]):
                puts[table, key] = after[key]
        deletes.update((table, key) for key in before if key not in after)
    return puts, deletes


@dataclass
class ReplicaReport:
    """One replica as found: ``status`` authoritative | behind | missing | extra | unreadable."""
    rank: int
    path: str
    status: str
    meta: RaftMeta | None = None
    error: str | None = None


@dataclass
class Survey:
    """Everything read from the replicas at one moment."""
    verdict: Verdict
    replicas: dict[int, ReplicaReport]      # every replica found, and every missing member
    states: dict[int, State]                # the readable replicas' states

    @property
    def source(self) -> int | None:
        """The replica whose state is read: the authoritative one, else the best one."""
        v = self.verdict
        return v.authoritative if v.authoritative is not None else v.best

    def state(self) -> State | None:
        return None if self.source is None else self.states[self.source]


class ReplicatedService:
    """Raft's offline rules over one service's replicas (see the module docstring).

    ``replicas``: the backends found (rank -> backend); ``make_replica(rank)`` gives the
    backend of a rank that has none yet (a missing member, a replica ``dictate`` creates).
    """

    def __init__(self, name: str, replicas: dict, make_replica: Callable[[int], object]):
        self.name = name
        self.replicas = dict(replicas)
        self.make_replica = make_replica

    def replica(self, rank: int):
        if rank not in self.replicas:
            self.replicas[rank] = self.make_replica(rank)
        return self.replicas[rank]

    # --- reading ------------------------------------------------------------------------
    def survey(self) -> Survey:
        """Read every replica (read-only) and judge them."""
        metas: dict[int, RaftMeta | None] = {}
        states: dict[int, State] = {}
        errors: dict[int, str | None] = {}
        for rank in sorted(self.replicas):
            backend = self.replicas[rank]
            if not backend.exists():
                continue
            try:
                metas[rank], states[rank] = backend.load()
                errors[rank] = None
            except VosError as e:
                metas[rank], errors[rank] = None, str(e)
            except OSError as e:        # a directory in its place, EACCES, EIO: unreadable too
                metas[rank], errors[rank] = None, f"{backend.path}: {e.strerror or e}"
        verdict = decide(metas)
        reports = {}
        for rank in sorted(set(metas) | set(verdict.membership)):
            meta = metas.get(rank)
            if rank not in metas:
                status = "missing"
            elif meta is None:
                status = "unreadable"
            else:
                status = verdict.status_of(rank)
            reports[rank] = ReplicaReport(rank, self.replica(rank).path, status, meta,
                                          errors.get(rank))
        return Survey(verdict, reports, states)

    def status(self) -> Verdict:
        return self.survey().verdict

    def read(self) -> tuple[Verdict, State | None]:
        """The service's state: the authoritative replica's (the best one's without quorum,
        which the verdict says); None when no replica can be read."""
        s = self.survey()
        return s.verdict, s.state()

    def no_quorum(self, survey: Survey) -> NoQuorumError:
        """The refusal of a write: which replicas were readable, missing and unreadable."""
        v = survey.verdict
        by_status = {st: [r for r, rep in survey.replicas.items() if rep.status == st]
                     for st in ("missing", "unreadable")}
        readable = [r for r, rep in survey.replicas.items() if rep.meta is not None]
        if not readable:
            return NoQuorumError(f"{self.name} has no readable replica (missing "
                                 f"{_ranks(by_status['missing'])}, unreadable "
                                 f"{_ranks(by_status['unreadable'])})")
        return NoQuorumError(
            f"{self.name} has no quorum: membership {_ranks(v.membership)} needs "
            f"{majority(len(v.membership))} readable replicas; readable {_ranks(readable)}, "
            f"missing {_ranks(by_status['missing'])}, unreadable {_ranks(by_status['unreadable'])}")

    # --- writing ------------------------------------------------------------------------
    def update(self, edit: Callable[[State], None], *, force: bool = False) -> Verdict:
        """Apply ``edit`` (which changes the state it is given in place) as one new index on
        every reachable replica; returns the verdict after the write."""
        s = self.survey()
        v = s.verdict
        if s.source is None or not (v.quorum or force):
            raise self.no_quorum(s)
        base = s.replicas[s.source].meta
        new = copy_state(s.state())
        edit(new)
        new = copy_state(new)
        # past every readable replica (an extra one may be further on): the write is newest
        top = max(rep.meta.position for rep in s.replicas.values() if rep.meta is not None)
        meta = RaftMeta(top[0], base.vote, base.membership, top[1] + 1)
        ranks = [s.source] + [r for r in v.reachable if r != s.source]
        self._write(ranks, meta, new, s.states)
        return decide({**{r: rep.meta for r, rep in s.replicas.items()},
                       **{r: meta for r in ranks}})

    def _write(self, ranks, meta: RaftMeta, new: State, states: dict[int, State]) -> None:
        """Each rank's replica brought to (meta, new) in one atomic write: by its difference
        when it can be read, else recreated whole."""
        for rank in ranks:
            backend = self.replica(rank)
            if rank in states:
                puts, deletes = state_diff(states[rank], new)
                backend.store(meta, puts, deletes)
            else:
                backend.create(meta, new)
            states[rank] = new

    def dictate(self, rank: int | None = None, *, members=None) -> Verdict:
        """Recovery without quorum: replica ``rank`` (default: the best readable one)
        becomes the sole member (term and index past every readable one's), its state is
        copied to every rank of ``members`` (default: the old membership), then the
        membership becomes ``members`` at the next index, written to all. Nothing the
        chosen replica holds is lost."""
        s = self.survey()
        src = s.verdict.best if rank is None else rank
        if src not in s.states:
            where = "no replica is readable" if src is None else f"rank {src} is not readable"
            raise VosError(f"cannot dictate the {self.name}: {where}")
        wanted = tuple(sorted(set(s.verdict.membership if members is None else members)))
        if not wanted:
            raise VosError(f"cannot dictate the {self.name}: the wanted membership is empty")
        top = max(rep.meta.position for rep in s.replicas.values() if rep.meta is not None)
        state = s.states[src]
        sole = RaftMeta(top[0] + 1, src, (src,), top[1] + 1)
        self.replica(src).store(sole, {}, set())
        others = [r for r in wanted if r != src]
        states = dict(s.states)
        self._write(others, sole, state, states)
        final = RaftMeta(sole.term, src, wanted, sole.last_index + 1)
        self._write([src] + others, final, state, states)
        return decide({**{r: rep.meta for r, rep in s.replicas.items()},
                       **{r: final for r in [src] + others}})


def create_replicas(backends, state: State, *, term: int = 1, index: int = 1) -> RaftMeta:
    """Make a new service: every backend (its membership) created with ``state`` at
    ``index`` of ``term``, the lowest rank's vote. Returns the meta written."""
    ranks = tuple(sorted(b.rank for b in backends))
    if not ranks or index < 1:
        raise VosError("a new service needs at least one replica and an index of 1 or more")
    meta = RaftMeta(term, ranks[0], ranks, index)
    for b in sorted(backends, key=lambda b: b.rank):
        b.create(meta, state)
    return meta


def _ranks(ranks) -> str:
    return "[" + ", ".join(str(r) for r in sorted(ranks)) + "]"
