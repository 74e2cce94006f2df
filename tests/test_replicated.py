"""Quorum rules on real replicas, the same for the MS (LMDB) and a PS (rdb-pool files):
a lost minority is reported and work goes on, a behind replica is caught up by the next
update, a lost majority refuses updates until dictate recovers without losing anything."""
from __future__ import annotations

import pytest

from system_support import SERVICES, SVC, build_system, replica_states, tree_snapshot
from vosfmt.errors import VosError
from vosfmt.replicated import NoQuorumError, copy_state, state_diff


@pytest.fixture(params=sorted(SERVICES))
def kind(request):
    return SERVICES[request.param]


@pytest.fixture
def root(tmp_path):
    return build_system(str(tmp_path / "sys"))


def _edit(kind, n):
    return lambda state: kind.edit(state, n)


def _statuses(svc) -> dict[int, str]:
    return {r: rep.status for r, rep in svc.survey().replicas.items()}


def test_all_replicas_current(kind, root):
    svc = kind.service(root)
    v, state = svc.read()
    assert v.quorum and v.membership == SVC and v.last_index == 1
    assert _statuses(svc) == {0: "authoritative", 1: "authoritative", 2: "authoritative"}
    v = svc.update(_edit(kind, 1))
    assert v.last_index == 2 and v.current == SVC
    loaded = replica_states(kind, root)
    assert len({repr(s) for s in loaded.values()}) == 1
    assert loaded[0][0].last_index == 2


def test_reads_never_write(kind, root):
    before = tree_snapshot(root)
    svc = kind.service(root)
    svc.read()
    svc.status()
    svc.survey()
    assert tree_snapshot(root) == before


def test_minority_lost_reads_and_writes_go_on(kind, root):
    kind.remove(root, 1)
    svc = kind.service(root)
    v, state = svc.read()
    assert v.quorum and v.missing == (1,) and state is not None
    assert _statuses(svc)[1] == "missing"
    v = svc.update(_edit(kind, 7))
    assert v.quorum and v.missing == (1,) and v.current == (0, 2)
    _v, after = kind.service(root).read()
    expected = copy_state(state)
    kind.edit(expected, 7)
    assert after == expected
    assert not kind.service(root).replica(1).exists()       # update never creates replicas


def test_unreadable_minority_is_reported_with_its_error(kind, root):
    kind.damage(root, 2)
    svc = kind.service(root)
    s = svc.survey()
    assert s.verdict.quorum and s.verdict.missing == (2,)
    assert s.replicas[2].status == "unreadable" and s.replicas[2].error
    svc.update(_edit(kind, 3))
    assert replica_states(kind, root)[2] is None               # left alone


def test_behind_replica_is_caught_up_by_the_next_update(kind, root, tmp_path):
    old = str(tmp_path / "old-replica")
    kind.save(root, 2, old)
    kind.service(root).update(_edit(kind, 1))
    kind.service(root).update(_edit(kind, 2))
    kind.put_back(root, 2, old)                     # restored from an old backup
    svc = kind.service(root)
    v, state = svc.read()
    assert v.quorum and v.behind == (2,) and v.authoritative == 0 and v.last_index == 3
    assert _statuses(svc)[2] == "behind"
    loaded = replica_states(kind, root)
    assert loaded[2][0].last_index == 1 and loaded[2][1] != state
    v = svc.update(lambda s: None)                  # an empty edit converges
    assert v.behind == () and v.current == SVC and v.last_index == 4
    loaded = replica_states(kind, root)
    assert all(loaded[r][1] == state for r in SVC)
    assert len({loaded[r][0] for r in SVC}) == 1


def test_majority_lost_refuses_updates(kind, root):
    kind.service(root).update(_edit(kind, 5))
    _v, committed = kind.service(root).read()
    kind.remove(root, 1)
    kind.remove(root, 2)
    svc = kind.service(root)
    v, state = svc.read()
    assert not v.quorum and v.best == 0 and v.missing == (1, 2)
    assert state == committed                       # the best replica's, reported without quorum
    before = tree_snapshot(root)
    with pytest.raises(NoQuorumError) as e:
        svc.update(_edit(kind, 6))
    msg = str(e.value)
    assert svc.name in msg and "no quorum" in msg
    assert "membership [0, 1, 2]" in msg and "readable [0]" in msg and "missing [1, 2]" in msg
    assert isinstance(e.value, VosError)
    assert tree_snapshot(root) == before


def test_nothing_readable(kind, root):
    for r in SVC:
        kind.damage(root, r)
    svc = kind.service(root)
    v, state = svc.read()
    assert state is None and not v.quorum and v.authoritative is None
    with pytest.raises(NoQuorumError, match="no readable replica"):
        svc.update(_edit(kind, 1), force=True)
    with pytest.raises(VosError, match="no replica is readable"):
        svc.dictate()


def test_forced_update_without_quorum(kind, root):
    kind.remove(root, 1)
    kind.remove(root, 2)
    v = kind.service(root).update(_edit(kind, 4), force=True)
    assert not v.quorum and v.last_index == 2
    _v, state = kind.service(root).read()
    assert state["props" if kind.name == "ps" else "pools"]


def test_dictate_recovers_without_losing_a_committed_entry(kind, root):
    kind.service(root).update(_edit(kind, 5))
    _v, committed = kind.service(root).read()
    best_meta = replica_states(kind, root)[0][0]
    kind.remove(root, 1)
    kind.damage(root, 2)
    svc = kind.service(root)
    v = svc.dictate()
    assert v.quorum and v.membership == SVC and v.current == SVC
    loaded = replica_states(kind, root)
    assert all(loaded[r][1] == committed for r in SVC)
    meta = loaded[0][0]
    assert meta.term > best_meta.term and meta.last_index == best_meta.last_index + 2
    assert meta.membership == SVC and meta.vote == 0
    v = kind.service(root).update(_edit(kind, 6))   # a service again
    assert v.quorum and v.current == SVC


def test_dictate_to_a_new_membership(kind, root, tmp_path):
    old = str(tmp_path / "old-1")
    kind.save(root, 1, old)
    kind.remove(root, 1)
    kind.remove(root, 2)
    svc = kind.service(root)
    _v, state = svc.read()
    v = svc.dictate(0, members=[0, 3])
    assert v.quorum and v.membership == (0, 3) and v.current == (0, 3)
    assert replica_states(kind, root, (3,))[3][1] == state
    kind.put_back(root, 1, old)                      # an old replica comes back: extra
    s = kind.service(root).survey()
    assert s.verdict.extra == (1,) and s.replicas[1].status == "extra"
    assert s.verdict.quorum and s.verdict.membership == (0, 3)


def test_dictate_refuses_an_unreadable_rank(kind, root):
    kind.remove(root, 1)
    with pytest.raises(VosError, match="rank 1 is not readable"):
        kind.service(root).dictate(1)


def test_unknown_table_is_refused(kind, root):
    with pytest.raises(VosError, match="has no table"):
        kind.service(root).update(lambda s: s.setdefault("bogus", {}).update(k=1))
    assert kind.service(root).status().last_index == 1


def test_state_diff():
    old = {"a": {"x": 1, "y": [1, 2]}, "b": {"z": {"k": 1}}}
    new = {"a": {"x": 1, "y": [1, 3], "w": None}, "b": {}}
    puts, deletes = state_diff(old, new)
    assert puts == {("a", "y"): [1, 3], ("a", "w"): None}
    assert deletes == {("b", "z")}
    assert state_diff(new, new) == ({}, set())
