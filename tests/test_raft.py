"""Raft's offline rules (vosfmt.raft): majority, and the verdict on what the replicas hold."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vosfmt.raft import RaftMeta, decide, majority


def meta(term: int, index: int, members=(0, 1, 2)) -> RaftMeta:
    return RaftMeta(term, members[0] if members else None, tuple(members), index)


@pytest.mark.parametrize("n, want", [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_majority(n, want):
    assert majority(n) == want


def test_all_current():
    v = decide({0: meta(1, 5), 1: meta(1, 5), 2: meta(1, 5)})
    assert v.quorum and v.authoritative == 0 and v.current == (0, 1, 2)
    assert v.behind == v.missing == v.extra == ()
    assert (v.term, v.last_index) == (1, 5)
    assert [v.status_of(r) for r in range(4)] == ["authoritative"] * 3 + ["unknown"]


def test_minority_lost_and_behind():
    v = decide({0: None, 1: meta(1, 4), 2: meta(1, 6)})
    assert v.quorum and v.authoritative == 2 and v.behind == (1,) and v.missing == (0,)
    assert v.last_index == 6 and v.reachable == (1, 2)


def test_term_beats_index():
    v = decide({0: meta(2, 3), 1: meta(1, 9), 2: meta(1, 9)})
    assert v.authoritative == 0 and v.behind == (1, 2)


def test_majority_lost():
    v = decide({0: meta(1, 7), 1: None, 2: None})
    assert not v.quorum and v.authoritative == 0 and v.best == 0 and v.missing == (1, 2)


def test_nothing_readable():
    v = decide({0: None, 1: None})
    assert not v.quorum and v.authoritative is None and v.best is None
    assert v.membership == () and (v.term, v.last_index) == (0, 0)


def test_membership_of_the_best_replica_counts():
    # rank 3 was added at index 7 (membership 0..3); rank 0 never saw it
    v = decide({0: meta(1, 6), 1: meta(1, 7, (0, 1, 2, 3)), 3: meta(1, 7, (0, 1, 2, 3))})
    assert v.membership == (0, 1, 2, 3) and v.missing == (2,) and v.quorum
    assert v.behind == (0,) and v.current == (1, 3)


def test_extra_replicas_do_not_count():
    v = decide({0: meta(1, 5), 5: meta(1, 5, (5,)), 6: meta(1, 4)})
    assert v.membership == (0, 1, 2) and v.extra == (5, 6) and not v.quorum
    assert v.reachable == (0,) and v.status_of(5) == "extra"


def test_meta_json_roundtrip_and_refusals():
    m = RaftMeta(3, None, (1, 2), 9)
    assert RaftMeta.from_json(m.to_json()) == m
    assert RaftMeta.from_json({"term": 1, "vote": 0, "membership": [2, 0, 2],
                               "last_index": 1}).membership == (0, 2)
    for bad in ({}, {"term": 1, "vote": 0, "membership": [0]},
                {"term": "1", "vote": 0, "membership": [0], "last_index": 1},
                {"term": 1, "vote": 0, "membership": 3, "last_index": 1},
                {"term": 1, "vote": 0, "membership": [-1], "last_index": 1}, []):
        with pytest.raises(ValueError):
            RaftMeta.from_json(bad)


# --- properties ----------------------------------------------------------------------------------

RANKS = st.integers(0, 6)
METAS = st.builds(lambda t, i, m: RaftMeta(t, None, tuple(sorted(m)), i), st.integers(1, 3),
                  st.integers(1, 5), st.sets(RANKS, min_size=1, max_size=5))
FOUND = st.dictionaries(RANKS, st.none() | METAS, max_size=7)


@settings(max_examples=300, deadline=None)
@given(FOUND)
def test_authoritative_is_never_behind_a_reachable_replica(found):
    v = decide(found)
    if v.authoritative is None:
        assert not v.reachable
        return
    top = found[v.authoritative].position
    assert all(found[r].position <= top for r in v.reachable)
    assert all(found[r].position < top for r in v.behind)
    assert (v.term, v.last_index) == top
    assert v.authoritative == min(v.current)


@settings(max_examples=300, deadline=None)
@given(FOUND)
def test_best_is_ahead_of_every_readable_replica(found):
    v = decide(found)
    readable = {r: m for r, m in found.items() if m is not None}
    if not readable:
        assert v.best is None
        return
    assert all(m.position <= found[v.best].position for m in readable.values())
    assert v.membership == found[v.best].membership


@settings(max_examples=300, deadline=None)
@given(FOUND)
def test_quorum_is_a_readable_majority_and_ranks_are_partitioned(found):
    v = decide(found)
    readable = {r for r, m in found.items() if m is not None}
    in_members = readable & set(v.membership)
    assert v.quorum == (bool(v.membership) and len(in_members) >= majority(len(v.membership)))
    assert set(v.reachable) == in_members
    assert set(v.missing) == set(v.membership) - readable
    assert set(v.extra) == readable - set(v.membership)
    assert not set(v.current) & set(v.behind)


@settings(max_examples=300, deadline=None)
@given(FOUND, st.dictionaries(st.integers(10, 15), st.tuples(st.integers(0, 3), st.integers(0, 5)),
                              max_size=4))
def test_extra_replicas_never_change_quorum(found, extras):
    """Replicas outside the membership that are not ahead of the best one change nothing
    but the extra list."""
    v = decide(found)
    if v.best is None:
        return
    term, index = found[v.best].position
    more = dict(found)
    for r, (dt, di) in extras.items():
        t = max(term - dt, 1)
        more[r] = RaftMeta(t, None, (r,), index - di if t == term else index + di)
    w = decide(more)
    assert (w.quorum, w.authoritative, w.membership, w.behind, w.missing) == \
        (v.quorum, v.authoritative, v.membership, v.behind, v.missing)
    assert set(w.extra) == set(v.extra) | set(extras)
