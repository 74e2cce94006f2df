"""Raft's rules for an offline replicated service, as pure functions (no I/O).

Each replica of a service (the MS, a pool's PS) records ``RaftMeta``: its
term, vote, the membership it knows and the index of the last entry it
applied. Offline there is no leader to ask, so who is right is decided from
what the replicas hold, the way raft would elect:

- the membership that counts is the one recorded by the readable replica
  with the highest (term, last_index) (ties: the lowest rank);
- *reachable* replicas are the readable ones in that membership; there is a
  quorum when they are a majority of it;
- the *authoritative* replica is the reachable one with the highest
  (term, last_index): it holds every entry a majority ever committed (raft's
  election restriction), so its state is the service's state;
- reachable replicas with a lower position are *behind*, membership ranks
  with no readable replica *missing*, readable replicas outside the
  membership *extra* (they never count toward the quorum).

``decide`` turns what was found into a ``Verdict``; ``vosfmt.replicated``
does the reading and writing.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RaftMeta:
    """One replica's raft metadata: ``membership`` is a sorted tuple of ranks, ``vote`` the
    rank it voted for in ``term`` (None: no vote)."""
    term: int
    vote: int | None
    membership: tuple[int, ...]
    last_index: int

    @property
    def position(self) -> tuple[int, int]:
        """What raft compares to pick the most up-to-date replica."""
        return self.term, self.last_index

    def to_json(self) -> dict:
        return {"term": self.term, "vote": self.vote, "membership": list(self.membership),
                "last_index": self.last_index}

    @classmethod
    def from_json(cls, doc: dict) -> RaftMeta:
        """The meta a replica stored; raises ValueError when a field is absent or malformed."""
        try:
            term, vote, members, index = (doc["term"], doc["vote"], doc["membership"],
                                          doc["last_index"])
        except (KeyError, TypeError):
            raise ValueError("raft metadata lacks term, vote, membership or last_index") from None
        if not isinstance(members, list):
            raise ValueError("raft metadata's membership is not a list of ranks")
        ints = [term, index, *members] + ([] if vote is None else [vote])
        if not all(type(i) is int and i >= 0 for i in ints):
            raise ValueError("raft metadata holds a value that is not a non-negative integer")
        return cls(term, vote, tuple(sorted(set(members))), index)


def majority(n: int) -> int:
    """How many of ``n`` members make a quorum."""
    return n // 2 + 1


@dataclass(frozen=True)
class Verdict:
    """What the replicas found say about a service (see the module docstring).

    ``authoritative`` is the reachable replica read as the service's state (None when none
    is reachable); ``current`` every reachable replica at its position; ``best`` the readable
    replica with the highest position, reachable or not (the one ``dictate`` starts from).
    ``term`` / ``last_index`` are the authoritative (else the best) replica's.
    """
    membership: tuple[int, ...]
    quorum: bool
    authoritative: int | None
    best: int | None
    current: tuple[int, ...]
    behind: tuple[int, ...]
    missing: tuple[int, ...]
    extra: tuple[int, ...]
    term: int
    last_index: int

    @property
    def reachable(self) -> tuple[int, ...]:
        return tuple(sorted(self.current + self.behind))

    def status_of(self, rank: int) -> str:
        """authoritative (up to date), behind, missing or extra; "unknown" for a rank the
        verdict does not mention."""
        for status, ranks in (("authoritative", self.current), ("behind", self.behind),
                              ("missing", self.missing), ("extra", self.extra)):
            if rank in ranks:
                return status
        return "unknown"


def decide(found: dict[int, RaftMeta | None]) -> Verdict:
    """The verdict on a service whose replicas ``found`` (rank -> meta, None when the
    replica is missing or unreadable) hold."""
    readable = {r: m for r, m in found.items() if m is not None}
    if not readable:
        return Verdict((), False, None, None, (), (), (), (), 0, 0)
    best = min(readable, key=lambda r: (tuple(-p for p in readable[r].position), r))
    membership = readable[best].membership
    reachable = sorted(r for r in readable if r in membership)
    quorum = len(reachable) >= majority(len(membership))
    top = max((readable[r].position for r in reachable), default=None)
    current = tuple(r for r in reachable if readable[r].position == top)
    behind = tuple(r for r in reachable if readable[r].position != top)
    authoritative = current[0] if current else None
    missing = tuple(r for r in membership if r not in readable)
    extra = tuple(sorted(r for r in readable if r not in membership))
    term, index = readable[best if authoritative is None else authoritative].position
    return Verdict(membership, quorum, authoritative, best, current, behind, missing, extra,
                   term, index)
