"""Crash safety of replicated state: an update (or a dictate) killed anywhere leaves every
replica old or new, a read returns one whole state, and the next write converges them.

A PS replica is a vosfmt file, so ``crashsim`` stops its writer at every write and fsync
(on any replica; keep, drop and tear what was not synced). An MS replica is an LMDB
environment written by LMDB's C code, which the harness cannot interrupt: a replica
write is one LMDB transaction, atomic by LMDB's own design (copy-on-write pages, the
meta page written last), and these tests stop the MS between replica writes instead
(after k of n)."""
from __future__ import annotations

import shutil

import pytest

from crashsim import FaultInjector, SimulatedCrash
from system_support import POOL, SVC, MsKind, PsKind, build_system, replica_states
from vosfmt.rdb import PoolService
from vosfmt.replicated import copy_state


def _edit(kind, n):
    return lambda state: kind.edit(state, n)


def _snapshot(kind, root):
    return {r: ms for r, ms in replica_states(kind, root).items()}


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """Two starting systems: all replicas current, and rank 2's replicas one index behind."""
    base = build_system(str(tmp_path_factory.mktemp("sys-base") / "sys"))
    behind = str(tmp_path_factory.mktemp("sys-behind") / "sys")
    shutil.copytree(base, behind)
    saved = str(tmp_path_factory.mktemp("saved"))
    for kind in (MsKind, PsKind):
        kind.save(behind, 2, f"{saved}/{kind.name}")
        kind.service(behind).update(_edit(kind, 1))
        kind.put_back(behind, 2, f"{saved}/{kind.name}")
    return {"current": base, "behind": behind}


def _after(kind, base, tmp_path, hooks=None):
    """The replicas after a clean update of a copy of ``base`` (and the write events)."""
    root = str(tmp_path / "clean")
    shutil.copytree(base, root)
    kind.service(root, hooks).update(_edit(kind, 9))
    after = _snapshot(kind, root)
    shutil.rmtree(root)
    return after


def _converges(kind, root, before_state, after_state):
    """A reader gets one whole state; the next update brings every replica to one index."""
    v, state = kind.service(root).read()
    assert v.quorum and state in (before_state, after_state)
    v = kind.service(root).update(_edit(kind, 10))
    assert v.current == SVC
    loaded = _snapshot(kind, root)
    assert len({repr(loaded[r]) for r in SVC}) == 1
    want = copy_state(state)
    kind.edit(want, 10)
    assert loaded[0][1] == want


class ReadingInjector(FaultInjector):
    """Counts the writer's I/O like FaultInjector, and reads the service at every event:
    the read must be the state before or after the update, whole."""

    def __init__(self, root, allowed):
        super().__init__()
        self.root, self.allowed, self.reads = root, allowed, 0

    def _tick(self):
        super()._tick()
        _v, state = PoolService(self.root, POOL).read()
        assert state in self.allowed
        self.reads += 1


@pytest.mark.parametrize("start", ["current", "behind"])
@pytest.mark.parametrize("mode", ["keep", "drop", "tear"])
def test_ps_update_killed_at_every_io(bases, tmp_path, start, mode):
    base = bases[start]
    before = _snapshot(PsKind, base)
    counter = FaultInjector()
    after = _after(PsKind, base, tmp_path, counter)
    assert counter.events > 10
    outcomes = set()
    for n in range(1, counter.events + 1):
        root = str(tmp_path / f"{mode}-{n}")
        shutil.copytree(base, root)
        with pytest.raises(SimulatedCrash):
            PsKind.service(root, FaultInjector(crash_at=n, mode=mode, seed=n)).update(
                _edit(PsKind, 9))
        now = _snapshot(PsKind, root)
        for r in SVC:
            assert now[r] in (before[r], after[r]), f"crash at event {n}: rank {r} mixed"
        outcomes.add(tuple("new" if now[r] == after[r] else "old" for r in SVC))
        _converges(PsKind, root, before[0][1], after[0][1])
        shutil.rmtree(root)
    assert ("old", "old", "old") in outcomes
    assert len(outcomes) >= 3                  # crashes between replicas leave some old, some new


def test_ps_reader_never_mixes_two_indexes(bases, tmp_path):
    root = str(tmp_path / "live")
    shutil.copytree(bases["behind"], root)
    _v, before = PsKind.service(root).read()
    want = copy_state(before)
    PsKind.edit(want, 9)
    reader = ReadingInjector(root, (before, want))
    PsKind.service(root, reader).update(_edit(PsKind, 9))
    assert reader.reads > 10
    assert PsKind.service(root).read()[1] == want


class CrashingReplica:
    """A backend that crashes the process before its write when the shared countdown ends."""

    def __init__(self, backend, countdown):
        self.backend, self.countdown = backend, countdown
        self.rank, self.path = backend.rank, backend.path

    def exists(self):
        return self.backend.exists()

    def load(self):
        return self.backend.load()

    def _tick(self):
        self.countdown[0] -= 1
        if self.countdown[0] < 0:
            raise SimulatedCrash("between replica writes")

    def store(self, *args):
        self._tick()
        self.backend.store(*args)

    def create(self, *args):
        self._tick()
        self.backend.create(*args)


def _crashing(kind, root, writes):
    svc = kind.service(root)
    countdown = [writes]
    svc.replicas = {r: CrashingReplica(b, countdown) for r, b in svc.replicas.items()}
    make = svc.make_replica
    svc.make_replica = lambda rank: CrashingReplica(make(rank), countdown)
    return svc


@pytest.mark.parametrize("kind", [MsKind, PsKind], ids=["ms", "ps"])
@pytest.mark.parametrize("start", ["current", "behind"])
def test_update_killed_between_replicas(bases, tmp_path, kind, start):
    base = bases[start]
    before = _snapshot(kind, base)
    after = _after(kind, base, tmp_path)
    for k in range(len(SVC)):
        root = str(tmp_path / f"k{k}")
        shutil.copytree(base, root)
        with pytest.raises(SimulatedCrash):
            _crashing(kind, root, k).update(_edit(kind, 9))
        now = _snapshot(kind, root)
        assert sum(now[r] == after[r] for r in SVC) == k
        assert all(now[r] in (before[r], after[r]) for r in SVC)
        _converges(kind, root, before[0][1], after[0][1])


@pytest.mark.parametrize("kind", [MsKind, PsKind], ids=["ms", "ps"])
def test_dictate_killed_at_every_replica_write(bases, tmp_path, kind):
    """Dictate writes the chosen replica, re-creates the others, then writes the membership:
    killed anywhere, no replica loses the committed state and the next dictate finishes."""
    base = str(tmp_path / "lost")
    shutil.copytree(bases["current"], base)
    kind.remove(base, 1)
    kind.damage(base, 2)
    _v, committed = kind.service(base).read()
    for k in range(6):          # 6 writes: the sole member, 2 copies, the membership on 3
        root = str(tmp_path / f"d{k}")
        shutil.copytree(base, root)
        with pytest.raises(SimulatedCrash):
            _crashing(kind, root, k).dictate()
        for r, loaded in _snapshot(kind, root).items():
            assert loaded is None or loaded[1] == committed, f"after {k} writes: rank {r}"
        _v, state = kind.service(root).read()
        assert state == committed
        v = kind.service(root).dictate(0, members=SVC)
        assert v.quorum and v.current == SVC
        assert all(s[1] == committed for s in _snapshot(kind, root).values())


def test_ps_dictate_killed_at_every_io(bases, tmp_path):
    """Re-replicating fills each new rdb-pool under a temporary name: a crash in the fill
    leaves the rank's old file (here unreadable) or none, never a half-filled replica."""
    base = str(tmp_path / "lost")
    shutil.copytree(bases["current"], base)
    PsKind.remove(base, 1)
    PsKind.damage(base, 2)
    _v, committed = PsKind.service(base).read()
    counter = FaultInjector()
    clean = str(tmp_path / "clean")
    shutil.copytree(base, clean)
    PsKind.service(clean, counter).dictate()
    for n in range(1, counter.events + 1, 3):
        root = str(tmp_path / f"io{n}")
        shutil.copytree(base, root)
        with pytest.raises(SimulatedCrash):
            PsKind.service(root, FaultInjector(crash_at=n, mode="tear", seed=n)).dictate()
        now = _snapshot(PsKind, root)
        assert all(s is None or s[1] == committed for s in now.values())
        assert PsKind.service(root).read()[1] == committed
        assert PsKind.service(root).dictate(0, members=SVC).current == SVC
        shutil.rmtree(root)
