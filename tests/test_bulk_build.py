"""The bulk builder (vosfmt.bulkload through fixtures.bulk_builder) against the transaction
builder: equal exports on every preset, clean checks, sound space accounting, shards a
transaction can go on writing, and an interrupted load that leaves the shard as it was.
(Same seed, same bytes: test_roundtrip, whose builds are bulk builds.)"""
from __future__ import annotations

import functools
import hashlib
import os

import pytest
from click.testing import CliRunner

import fixtures.spec_objects as spec_objects
import fixtures.system_builder as system_builder
from crashsim import FaultInjector, SimulatedCrash
from ddb.cli import cli
from fixtures import SpecError, build, dump_system, export_image, preset
from fixtures.builder import build_image
from fixtures.spec import normalize_image
from vosfmt import open_shard
from vosfmt.bulk_values import SvIn
from vosfmt.bulkload import AkeyIn, BulkLoad, DkeyIn
from vosfmt.constants import ObjType
from vosfmt.errors import TransactionError
from vosfmt.image import list_shards
from vosfmt.inline_akeys import InlineAkeys
from vosfmt.keys import Oid
from vosfmt.records import IlogEntry
from vosfmt.txn import Transaction
from vosfmt.usage import space_usage

PRESETS = [("small", 1.0), ("unit", 1.0), ("posix", 1.0), ("dtx", 1.0), ("large", 0.01)]

#: one object whose akey tree needs several leaves under a branch, and a single value
#: too big for its record (in shard pages): the trees a bulk load packs over pages
DEEP = {"targets": 1, "containers": [{"objects": [
    {"oid": "72057594037927936.7.0.0", "dkeys": [
        {"key": "wide", "akeys": [{"key": f"akey-{i:05d}", "sv": [{"epoch": 5 + i % 3,
                                                                  "data": f"value {i}"}]}
                                  for i in range(1500)]},
        {"key": "big", "akeys": [{"key": "v", "sv": [{"epoch": 9, "random": 9000}]}]}]}]}]}


def ddb(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _both(tmp_path, make_spec) -> tuple[str, str]:
    """The image of the spec ``make_spec()`` built by each builder (a spec of generated
    objects, like large's, is consumed by a build: each gets its own)."""
    bulk, txn = str(tmp_path / "bulk"), str(tmp_path / "txn")
    build_image(make_spec(), bulk)
    build_image(make_spec(), txn, builder="txn")
    return bulk, txn


def _assert_sound(root: str) -> None:
    """Every page and block is used or free, never both; the superblock agrees."""
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            u = space_usage(sh)
            assert not u.page_conflicts and not u.block_conflicts, path
            assert not u.leaked_pages and not u.free_and_used_pages, path
            assert not u.leaked_blocks and not u.free_and_used_blocks, path
            assert sh.sb.free_pages == len(u.free_pages)
            assert os.path.getsize(path) == sh.sb.total_pages * sh.sb.page_size
    r = ddb("check", "start", "-n", "-D", root)
    assert r.exit_code == 0 and "0 finding(s)" in r.stdout, r.stdout


@pytest.mark.parametrize("name,scale", PRESETS + [("deep", 1.0)])
def test_bulk_and_txn_builds_export_equal(tmp_path, name, scale):
    bulk, txn = _both(tmp_path, lambda: DEEP if name == "deep" else preset(name, 0, scale))
    assert export_image(bulk) == export_image(txn)
    _assert_sound(bulk)


def test_deep_trees_are_paged(tmp_path):
    root = str(tmp_path / "deep")
    build_image(DEEP, root)
    with open_shard(list_shards(root)[0], db_root=root) as sh:
        (c,) = sh.containers()
        (o,) = c.objects()
        wide = o.dkey(b"wide")
        assert wide.rec.child_root.depth == 1 and wide.akey_count() == 1500
        assert wide.akey_at(1234).key == b"akey-01234"
        assert o.dkey(b"big").akey(b"v").single_value().size == 9000


def test_system_preset_builders_dump_equal(tmp_path, monkeypatch):
    spec = preset("system", 0)
    build(spec, str(tmp_path / "bulk"))
    monkeypatch.setattr(system_builder, "build_image",
                        functools.partial(build_image, builder="txn"))
    build(spec, str(tmp_path / "txn"))
    assert dump_system(str(tmp_path / "bulk")) == dump_system(str(tmp_path / "txn"))


def test_bulk_image_stays_writable(tmp_path):
    root = str(tmp_path / "img")
    build("small", root)
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c = next(sh.containers())
        o = next(c.objects())
        d = next(o.dkeys())
        a = next(d.akeys())
        with Transaction(sh) as tx:
            tx.put_single_value(c.uuid, o.oid, d.key, a.key, 1 << 62, b"after the bulk load")
            tx.put_single_value(c.uuid, o.oid, b"new-dkey", b"new-akey", 1 << 62, bytes(5000))
    with open_shard(path, db_root=root) as sh:
        c = next(sh.containers())
        o = c.object(next(c.objects()).oid)
        assert sh.read_value(o.dkey(d.key).akey(a.key).single_value()) == b"after the bulk load"
        assert o.dkey(b"new-dkey").akey(b"new-akey").single_value().size == 5000
    _assert_sound(root)


def _empty_shard(tmp_path) -> tuple[str, str]:
    root = str(tmp_path / "empty")
    build({"targets": 1, "containers": []}, root)
    return root, list_shards(root)[0]


def _object(n: int = 3) -> tuple:
    ilog = [IlogEntry(10)]
    return (Oid(Oid.make_hi(ObjType.MULTI_HASHED), 1), ilog, 10,
            [DkeyIn(b"d", ilog, [AkeyIn(b"a%05d" % i, ilog, "sv", [SvIn(10, 0, 0, b"x" * 50)])
                                 for i in range(n)])])


@pytest.mark.parametrize("mode", ["keep", "drop", "tear"])
def test_interrupted_load_leaves_the_shard_empty(tmp_path, mode):
    """A crash at every write and sync of a load: the shard is still the empty one, until the
    superblock is written; then it is the loaded one."""
    root, path = _empty_shard(tmp_path)
    states = []
    for crash_at in range(1, 1000):
        hooks = FaultInjector(crash_at, mode, seed=crash_at)
        try:
            with open_shard(path, write=True, db_root=root, hooks=hooks) as sh, BulkLoad(sh) as ld:
                c = ld.container(bytes(range(16)))
                c.add_object(*_object(300))
                c.finish()
        except SimulatedCrash:
            with open_shard(path, db_root=root) as sh:
                states.append([o.oid for c in sh.containers() for o in c.objects()])
            if states[-1]:          # the superblock reached the disk
                break
            continue
        break
    loaded = [_object()[0]]
    assert len(states) > 10 and all(s == [] for s in states[:-1]) and states[-1] in ([], loaded)
    with open_shard(path, db_root=root) as sh:
        assert [o.oid for c in sh.containers() for o in c.objects()] == loaded
    _assert_sound(root)


def test_load_refuses_a_shard_with_containers(tmp_path):
    root = str(tmp_path / "img")
    build("dtx", root)
    with open_shard(list_shards(root)[0], write=True, db_root=root) as sh:
        with pytest.raises(TransactionError, match="not empty"):
            BulkLoad(sh)
        with Transaction(sh):        # the refused load left no transaction open
            pass


@pytest.mark.parametrize("damage,message", [
    ("unsorted", "not in increasing order"),
    ("orphan lid", "no active DTX entry with local id 7"),
    ("ilog order", "not in increasing epoch order"),
])
def test_load_refuses_bad_input(tmp_path, damage, message):
    root, path = _empty_shard(tmp_path)
    oid, ilog, max_write, dkeys = _object()
    if damage == "unsorted":
        dkeys[0].akeys.reverse()
    elif damage == "orphan lid":
        dkeys[0].akeys[0].values[0] = SvIn(10, 0, 7, b"y")
    else:
        ilog = [IlogEntry(10), IlogEntry(9)]
    with open_shard(path, write=True, db_root=root) as sh:
        with pytest.raises(TransactionError, match=message), BulkLoad(sh) as ld:
            c = ld.container(bytes(16))
            c.add_object(oid, ilog, max_write, dkeys)
            c.finish()
    with open_shard(path, db_root=root) as sh:
        assert sh.sb.cont_count == 0


# --- the fast paths for plain akeys give what the general paths give ---------------------------

def _general_paths(monkeypatch) -> None:
    """Turn off the plain-akey fast paths: spec normalisation's and the loader's record packing
    (a PlainAkeyIn then goes through the general encoders)."""
    monkeypatch.setattr(spec_objects, "_plain_akeys", lambda items, kind: None)
    monkeypatch.setattr(InlineAkeys, "record", lambda self, ak: None)


def _files(root: str) -> dict[str, bytes]:
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n != "lock.mdb":
                with open(os.path.join(d, n), "rb") as f:
                    out[os.path.relpath(os.path.join(d, n), root)] = hashlib.sha256(f.read()).digest()
    return out


@pytest.mark.parametrize("name,scale", PRESETS)
def test_fast_paths_write_the_same_bytes(tmp_path, monkeypatch, name, scale):
    fast = str(tmp_path / "fast")
    build_image(preset(name, 0, scale), fast)
    with monkeypatch.context() as m:
        _general_paths(m)
        build_image(preset(name, 0, scale), str(tmp_path / "general"))
    assert _files(fast) == _files(str(tmp_path / "general"))


def _akeys_spec(akeys: list, otype: str) -> dict:
    return {"containers": [{"objects": [{"type": otype, "dkeys": [{"key": "d", "akeys": akeys}]}]}]}


def _sv(epoch, text="00ff"):
    return [{"epoch": epoch, "hex": text}]


@pytest.mark.parametrize("akeys", [
    [{"key": "b", "sv": _sv(7)}, {"key": "a", "sv": _sv(5, "AB cd")}, {"key": "é", "sv": _sv(6)}],
    [{"key": "tab\there", "sv": _sv(7)}, {"key": "x", "sv": _sv(1 << 63)}],
    [{"key": "8 bytes!", "sv": _sv(7)}, {"key": "another8", "sv": _sv(4)}],
    [{"key": "a", "sv": _sv(7)}, {"key": "b", "sv": _sv(5) + _sv(9)}],
    [{"key": "a", "sv": _sv(7)}, {"key": "a", "sv": _sv(8)}],
    [{"key": "a", "sv": _sv(0)}], [{"key": "a", "sv": _sv(True)}], [{"key": "a", "sv": _sv(1 << 64)}],
    [{"key": "a", "sv": _sv(3, "zz")}], [{"key": "a", "sv": _sv(3, "")}], [{"key": "a", "sv": _sv(3, 5)}],
    [{"key": "", "sv": _sv(3)}], [{"key": "k" * 600, "sv": _sv(3)}], [{"key": "a", "sv": []}],
    [{"key": "a", "sv": [{"epoch": 3, "hex": "00", "minor": 2}]}], [{"key": "a", "sv": _sv(3), "x": 1}],
])
@pytest.mark.parametrize("otype", ["multi_hashed", "akey_uint64"])
def test_plain_akeys_normalise_as_the_general_path_does(monkeypatch, akeys, otype):
    """Same explicit form, or the same error, with and without the fast path."""
    def outcome():
        try:
            return normalize_image(_akeys_spec(akeys, otype))
        except SpecError as e:
            return str(e)
    fast = outcome()
    with monkeypatch.context() as m:
        _general_paths(m)
        assert outcome() == fast
