"""Damage the audit of issue 12 found the checker blind to, or unable to converge on.

Every test damages a built image through the public injectors (or raw file
edits, as an attacker would), then runs ``ddb check start`` as a user does:
``-n`` must find it, ``-y`` must repair it (or honestly leave it, exit 4),
and a second ``-n`` must be clean with the data outside the damage intact.
"""
from __future__ import annotations

import json
import os
import random
import shutil

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from fixtures import build, export_image
from fixtures.corrupt import inject
from fixtures.damage import damage
from fixtures.inject_records import key_flags_wrong
from fixtures.inject_shard import branch_pages, edit_node
from support import file_state
from vosfmt import open_shard
from vosfmt.constants import PAGE_SIZE
from vosfmt.image import list_shards
from vosfmt.txn import Transaction
from vosfmt.usage import space_usage


def ddb(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def check(root, mode):
    """(exit status, {problem name: count}) of one ``check start`` run."""
    r = ddb("--json", "check", "start", mode, "-D", root)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    doc = json.loads(r.stdout) if r.stdout.strip() else {"reports": []}
    names = {}
    for f in doc["reports"]:
        names[f["name"]] = names.get(f["name"], 0) + 1
    return r.exit_code, names


def found_then_repaired(root, findings: dict) -> None:
    """-n finds exactly ``findings`` (exit 4); -y repairs exactly those and -n is then clean."""
    code, names = check(root, "-n")
    assert code == 4 and names == findings, names
    assert repaired_clean(root) == findings


def repaired_clean(root):
    """-y fixes it, then -n is clean (the rule every repair must meet)."""
    code, names = check(root, "-y")
    assert code == 1, names
    code, after = check(root, "-n")
    assert code == 0, (names, after)
    return names


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    out = {}
    for name in ("small", "dtx", "unit"):
        root = str(tmp_path_factory.mktemp(name))
        build(name, root)
        out[name] = root
    return out


@pytest.fixture
def copy(presets, tmp_path):
    def get(name):
        dst = str(tmp_path / name)
        shutil.copytree(presets[name], dst)
        return dst
    return get


def pages_owned(root, shard_index, want):
    """Pages of a shard whose owner label satisfies ``want``."""
    path = list_shards(root)[shard_index]
    with open_shard(path, db_root=root) as sh:
        return path, sorted(p for p, o in space_usage(sh).pages.items() if want(o))


def zero_page(path, page):
    with open(path, "r+b") as f:
        f.seek(page * PAGE_SIZE)
        f.write(bytes(PAGE_SIZE))


# --- 8: whatever does not decode is a finding ------------------------------------------

def test_an_unreadable_dtx_record_list_is_a_finding_and_is_rebuilt(copy):
    root = copy("dtx")
    before = export_image(root)
    path, pages = pages_owned(root, 1, lambda o: o.endswith(" records"))
    zero_page(path, pages[0])
    found_then_repaired(root, {"DTX_RECORDS_UNREADABLE": 1})
    assert export_image(root) == before        # the list came back whole, from the records


# --- 10: a rebuild converges in one run ------------------------------------------------

def test_the_unreadable_page_of_a_rebuilt_tree_is_freed_in_the_same_run(copy):
    root = copy("small")
    path, pages = pages_owned(root, 0, lambda o: o.count("/") == 1 and o.endswith(" tree node"))
    zero_page(path, pages[0])                   # a container's object tree
    names = repaired_clean(root)
    assert "TREE_NODE_UNREADABLE" in names


def test_a_node_cycle_is_damage_and_its_rebuild_leaks_nothing(copy):
    root = copy("unit")
    path = list_shards(root)[0]
    page, _owner = branch_pages(path, root)[0]

    def loop(node):
        node["kids"][1] = node["kids"][0]          # both entries lead to the same leaf
    edit_node(path, page, loop)
    code, names = check(root, "-n")
    assert code == 4 and "TREE_NODE_UNREADABLE" in names and "PAGE_DOUBLE_OWNED" not in names
    repaired_clean(root)


# --- 14: counts inside branch nodes ----------------------------------------------------

def test_a_wrong_branch_count_is_found_and_rebuilt_without_loss(copy):
    root = copy("unit")
    before = export_image(root)
    path = list_shards(root)[0]
    page, _owner = branch_pages(path, root)[0]

    def miscount(node):
        node["counts"][0] -= 1
    edit_node(path, page, miscount)
    found_then_repaired(root, {"TREE_COUNT_WRONG": 1})
    assert export_image(root) == before
    r = ddb(path, "ls", "/[0]/[5]")
    assert r.exit_code == 0, r.stdout + r.stderr


# --- 17: a superblock copy that checksums but cannot be right ---------------------------

def edit_slot(path, slot, change):
    """Change one superblock copy's fields and write it back with a valid checksum."""
    from vosfmt.layout import SUPERBLOCK_SIZE
    from vosfmt.superblock import decode_superblock, encode_superblock
    with open(path, "r+b") as f:
        f.seek(slot * PAGE_SIZE)
        sb = decode_superblock(f.read(SUPERBLOCK_SIZE), slot, path)
        change(sb)
        f.seek(slot * PAGE_SIZE)
        f.write(encode_superblock(sb))


def slots(path):
    with open_shard(path) as sh:
        return sh.sb.slot, 1 - sh.sb.slot


@pytest.mark.parametrize("which, change", [
    ("used", lambda sb: setattr(sb, "page_size", 1 << 30)),
    ("other", lambda sb: setattr(sb, "generation", (1 << 64) - 1)),
    ("other", lambda sb: setattr(sb, "generation", sb.generation + (1 << 40))),
    ("other", lambda sb: setattr(sb, "total_pages", 1 << 40)),
], ids=["page-size", "max-generation", "far-generation", "pages"])
def test_an_impossible_superblock_copy_falls_back_and_is_rewritten(copy, which, change):
    root = copy("small")
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh, Transaction(sh):
        pass            # a second commit: the copy not in use has a free-page list to belie it
    before = export_image(root)
    used, other = slots(path)
    edit_slot(path, used if which == "used" else other, change)
    found_then_repaired(root, {"SB_COPY_DAMAGED": 1})
    if which == "other":                        # the state in use was never in doubt
        assert export_image(root) == before


# --- 15: a record's own id against the key it is filed under ----------------------------

def test_an_object_filed_under_another_oid_is_found_and_renamed(copy):
    root = copy("small")
    before = export_image(root)
    inject(root, "RECORD_ID_MISMATCH")
    found_then_repaired(root, {"RECORD_ID_MISMATCH": 1})
    assert export_image(root) == before


def test_a_container_filed_under_another_uuid_is_found_and_renamed(copy):
    import uuid
    root = copy("small")
    before = export_image(root)
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c = next(sh.containers())
        with Transaction(sh) as tx:
            tx.patch_record((c.rec.uuid,), uuid=uuid.uuid4().bytes)
    found_then_repaired(root, {"RECORD_ID_MISMATCH": 1})
    assert export_image(root) == before
    for line in ddb(path, "ls", "-r").stdout.splitlines()[1:]:     # every printed path resolves
        printed = line.split(") ", 1)[1]
        assert ddb(path, "ls", printed).exit_code == 0, line


# --- 11: a repair that cannot happen is not counted as done ----------------------------

def _blob(root):
    (dev,) = os.listdir(os.path.join(root, "daos_nvme"))
    (name,) = os.listdir(os.path.join(root, "daos_nvme", dev))
    return os.path.join(root, "daos_nvme", dev, name)


def _delete(p):
    os.unlink(p)


def _cut(p):
    os.truncate(p, 0)


def _scribble(p):
    with open(p, "r+b") as f:
        f.seek(8)
        f.write(b"\xff\xff")


@pytest.mark.parametrize("damage", [_delete, _cut, _scribble], ids=["deleted", "truncated", "header"])
def test_a_lost_blob_is_left_uncorrected_and_its_values_untouched(copy, damage):
    from support import file_state
    root = copy("small")
    damage(_blob(root))
    shard = list_shards(root)[0]
    before = file_state(root)[shard][0]
    for mode in ("-n", "-y", "-n"):
        r = ddb("--json", "check", "start", mode, "-D", root)
        assert r.exit_code == 4, r.stdout
        (f,) = json.loads(r.stdout)["reports"]
        assert f["name"] == "SMD_BLOB_MISSING" and f["result"] != 0      # never "repaired"
    assert file_state(root)[shard][0] == before        # no value marked corrupted or removed


def test_a_repair_a_rescan_still_finds_is_counted_failed(copy):
    """smd_sync forced (by policy) on a blob that is gone: it runs, but changes nothing."""
    from ddb.checker import Action
    from ddb.checker.engine import Checker, Options
    from ddb.checker.problems import Cls
    from ddb.checker.store import ReportStore
    root = copy("small")
    os.unlink(_blob(root))
    opts = Options(mode="default", policies={Cls.SMD_INCONSISTENT: Action.TRUST_TARGET})
    assert Checker(root, (), opts).start() == 4
    with ReportStore(root) as store:
        (f,) = store.findings()
    assert f["name"] == "SMD_BLOB_MISSING" and f["result"] == -5 and "did not take effect" in f["error"]


# --- 12: values are read through SMD only once SMD leads to their own blob --------------

def test_values_are_not_condemned_through_a_wrong_smd_row(tmp_path):
    from vosfmt.smd import SysDb
    root = str(tmp_path / "img")
    sv = {"epoch": 5, "random": 9000}
    build({"targets": 2, "nvme_size": 64 << 20, "containers": [
        {"target": t, "objects": [{"dkeys": [{"key": "d", "akeys": [{"key": "a", "sv": [sv]}]}]}]}
        for t in range(2)]}, root)
    before = export_image(root)
    with SysDb(root, write=True) as db:             # the two targets' blobs swapped in SMD
        for p in db.pools().values():
            p.blobs = p.blobs[::-1]
            db.write(pools=[p])
    found_then_repaired(root, {"SMD_BLOB_MISSING": 2})
    assert export_image(root) == before             # no intact value was marked corrupted


# --- 16: the sys db of an SCM-only image ------------------------------------------------

@pytest.mark.parametrize("page", [None, 0, 1, 3])
def test_a_damaged_sys_db_is_found_and_rebuilt(copy, page):
    root = copy("dtx")
    smd_before = ddb("--json", "smd", root).stdout
    data = os.path.join(root, "daos_sys", "sys_db", "data.mdb")
    if page is None:
        os.truncate(data, 2 * PAGE_SIZE)
    else:
        zero_page(data, page)
    assert ddb("smd", root).exit_code != 0
    found_then_repaired(root, {"SMD_DB_UNREADABLE": 1})
    after = json.loads(ddb("--json", "smd", root).stdout)
    assert {k: v for k, v in after.items() if k != "db_path"} == \
        {k: v for k, v in json.loads(smd_before).items() if k != "db_path"}


# --- 18: keys left holding nothing ------------------------------------------------------

def test_an_akey_left_without_values_is_found_and_removed(copy):
    root = copy("small")
    where = inject(root, "KEY_EMPTY")
    found_then_repaired(root, {"KEY_EMPTY": 1})
    listing = ddb(list_shards(root)[0], "ls", "-r", f"/{where['cont']}/{where['oid']}").stdout
    assert "akey-2" not in listing and "akey-1" in listing


def test_a_dkey_left_without_akeys_is_one_finding_and_goes_whole(copy):
    root = copy("small")
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c = next(c for c in sh.containers() if c.object_count() > 1)
        o = c.object_at(0)
        d = o.dkey_at(0)
        akeys = [a.key for a in d.akeys()]
        with Transaction(sh) as tx:
            for akey in akeys:
                tx.delete_key(c.rec.uuid, o.oid, d.key, akey)
    code, names = check(root, "-n")
    assert code == 4 and names == {"KEY_EMPTY": 1}, names
    repaired_clean(root)
    with open_shard(path) as sh:
        assert all(k.key != d.key for k in sh.container(c.uuid).object(o.oid).dkeys())


def test_punched_and_pending_keys_without_values_are_not_empty(built, tmp_path):
    """VOS allows keys that hold only incarnation-log entries: a punch, or a pending write."""
    root = str(tmp_path / "img")
    punched = [{"epoch": 1}, {"epoch": 2, "punch": True}]
    build({"containers": [{"objects": [{"dkeys": [
        {"key": "d1", "akeys": [{"key": "a", "sv": [], "ilog": punched},
                                {"key": "b", "sv": [{"epoch": 3, "data": "x"}]}]},
        {"key": "d2", "akeys": [], "ilog": punched},
        {"key": "d3", "akeys": [{"key": "a", "sv": [], "ilog": [
            {"epoch": 1, "dtx": "11111111-1111-1111-1111-111111111111.1"}]}]}]}]}]}, root)
    assert check(root, "-n") == (0, {})
    for name in ("small", "dtx", "posix"):          # posix: empty files are objects with no dkeys
        assert check(built(name), "-n") == (0, {}), name


# --- a shard file cut short ---------------------------------------------------------------

def _files(root):
    """Bytes and mtimes of the image's files (not the checker's store)."""
    return {p: s for p, s in file_state(root).items() if "check_db" not in p and "check.lock" not in p}


@pytest.mark.parametrize("preset,seed", [("small", 5), ("unit", 6)])
def test_a_truncated_shard_is_a_finding_extended_and_rebuilt(copy, preset, seed):
    root = copy(preset)
    desc = damage(root, seed, "truncate")
    path = os.path.join(root, desc["file"])
    r = ddb(path, "ls")                             # readers still refuse it, naming why
    assert r.exit_code != 0 and "shard file is truncated" in r.stderr
    files = _files(root)
    code, names = check(root, "-n")
    assert code == 4 and names.get("SHARD_TRUNCATED") == 1, names
    assert _files(root) == files                    # -n wrote nothing
    code, names = check(root, "-y")
    assert code == 1 and "SHARD_TRUNCATED" in names and "TREE_NODE_UNREADABLE" in names, names
    assert check(root, "-n") == (0, {})
    with open_shard(path) as sh:
        assert os.path.getsize(path) == sh.sb.total_pages * PAGE_SIZE


def test_other_repairs_do_not_write_a_truncated_shard(copy):
    """Only the chosen extension opens a truncated file for writing: a rebuild alone fails."""
    from ddb.checker.repair import repair_shard
    from ddb.checker.scan import ShardScan
    from vosfmt import VosError
    root = copy("small")
    desc = damage(root, 5, "truncate")
    path = os.path.join(root, desc["file"])
    with open_shard(path, db_root=root, truncated_ok=True) as sh:
        findings = [f for f in ShardScan(sh).run() if f.problem.name != "SHARD_TRUNCATED"]
    before = file_state(root)[path]
    with pytest.raises(VosError, match="truncated"):
        repair_shard(path, root, [(f, f.problem.default) for f in findings])
    assert file_state(root)[path] == before


# --- a key's flags against the class of the tree below it ---------------------------------

@pytest.mark.parametrize("flags", [None, 0xFF], ids=["other-kind", "unknown-bits"])
def test_akey_flags_that_contradict_its_value_tree_are_rewritten_from_the_tree(copy, flags):
    root = copy("small")
    before = export_image(root)
    where = key_flags_wrong(root, random.Random(0), flags)
    found_then_repaired(root, {"KEY_FLAGS_WRONG": 1})
    assert export_image(root) == before          # the values were never lost, only misread
    r = ddb(list_shards(root)[0], "ls", "-r", f"/{where['cont']}/{where['oid']}")
    assert r.exit_code == 0, r.stderr


# --- an extent's record count against what repeats it ---------------------------------------

def test_an_extent_count_its_checksums_belie_is_found_and_the_extent_dropped(copy):
    """nr of a stored (not inline) extent is repeated by its checksum count: one per chunk."""
    from vosfmt.constants import Media, TreeClass
    from vosfmt.keys import extent_key
    from vosfmt.record_decoding import checked_decoder
    root = copy("small")
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c, o, d, a, x = next((c, o, d, a, v) for c in sh.containers() for o in c.objects()
                             for d in o.dkeys() for a in d.akeys() if a.value_kind == "array"
                             for v in a.extents() if v.csum_type and v.media != Media.INLINE)
        with Transaction(sh) as tx:
            tree = tx.value_tree(c.rec.uuid, o.oid, d.key, a.key)
            key = extent_key(x.lo, x.epoch, x.minor)
            raw = bytearray(tree.get(key))
            raw[0] ^= 0x80                          # nr's low byte, as a bit flip would
            tree.put(key, bytes(raw))
    with pytest.raises(ValueError, match="checksums"):
        checked_decoder(TreeClass.EVT)(key, bytes(raw))
    code, names = check(root, "-n")
    assert code == 4 and "TREE_NODE_UNREADABLE" in names, names
    repaired_clean(root)


# --- a field against the facts that repeat it (FIELD_DISAGREES) ------------------------------

def _patch_value(root, want, offset_of, change):
    """Rewrite one byte of the first value record ``want(akey, value)`` picks, as a page
    checksummed rewrite would; returns (cont uuid, oid)."""
    from vosfmt.keys import epoch_key, extent_key
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c, o, d, a, v = next((c, o, d, a, v) for c in sh.containers() for o in c.objects()
                             for d in o.dkeys() for a in d.akeys()
                             for v in (a.extents() if a.value_kind == "array" else a.single_values())
                             if want(a, v))
        sv = a.value_kind == "sv"
        key = epoch_key(v.epoch) if sv else extent_key(v.lo, v.epoch, v.minor)
        with Transaction(sh) as tx:
            tree = tx.value_tree(c.rec.uuid, o.oid, d.key, a.key)
            raw = bytearray(tree.get(key))
            at = offset_of(sv)
            raw[at] = change(raw[at])
            tree.put(key, bytes(raw))
    return c.uuid, str(o.oid)


def _aflags_at(sv):
    from vosfmt.layout import ext_rec_fixed, sv_rec_fixed
    con = sv_rec_fixed if sv else ext_rec_fixed
    names = [sc.name for sc in con.subcons]
    return sum(sc.sizeof() for sc in con.subcons[:names.index("aflags")])


@pytest.mark.parametrize("field", ["aflags", "extent"], ids=["single-value", "inline-extent"])
def test_a_value_marked_a_hole_though_it_carries_data_is_unmarked(copy, field):
    """campaign unit seed 133 (field): HOLE set on a value with data and a checksum hid it
    (a single value decoded fine; an inline extent's data looked like trailing garbage and
    the extent was dropped)."""
    from fixtures.inject_records import field_disagrees
    root = copy("small")
    before = export_image(root)
    field_disagrees(root, random.Random(0), field)
    found_then_repaired(root, {"FIELD_DISAGREES": 1})
    assert export_image(root) == before                  # nothing lost: only the flag changed


@pytest.mark.parametrize("change", [lambda b: 0, lambda b: b | 0x80],
                         ids=["flag-cleared", "unknown-bit"])
def test_a_hole_whose_flags_were_rewritten_is_a_hole_again(copy, change):
    """A punched extent (no data, checksums or location) is a hole whatever its flags say;
    the legitimate holes of the dtx preset are not findings (it checks clean)."""
    from vosfmt.constants import AddrFlags
    root = copy("dtx")
    assert check(root, "-n") == (0, {})
    before = export_image(root)
    _patch_value(root, lambda a, v: a.value_kind == "array" and v.aflags == AddrFlags.HOLE,
                 _aflags_at, change)
    code, names = check(root, "-n")
    assert code == 4 and names == {"FIELD_DISAGREES": 1}, names
    repaired_clean(root)
    assert export_image(root) == before


@pytest.mark.parametrize("field", ["key_kind", "akey_kind"])
def test_a_key_tree_kind_other_than_the_object_types_is_rewritten(copy, field):
    """campaign posix seed 144 (field): an akey tree's key_kind 0 -> 1 made ddb read its
    8-byte keys as integers. The object's type decides both kinds."""
    from fixtures.inject_records import field_disagrees
    root = copy("small")
    before = export_image(root)
    field_disagrees(root, random.Random(0), field)
    found_then_repaired(root, {"FIELD_DISAGREES": 1})
    assert export_image(root) == before


def test_an_integer_dkey_tree_marked_bytes_is_rewritten_and_its_keys_kept(copy):
    """The other way: an ARRAY_BYTE object's uint64 dkey tree marked as byte keys."""
    from vosfmt.constants import KeyKind, dkey_kind
    root = copy("small")
    before = export_image(root)
    path = list_shards(root)[0]
    with open_shard(path, write=True, db_root=root) as sh:
        c, o = next((c, o) for c in sh.containers() for o in c.objects()
                    if dkey_kind(o.oid.otype) == KeyKind.UINT64 and o.rec.dkey_root.count > 1)
        with Transaction(sh) as tx:
            tx.set_key_kind((c.rec.uuid, o.oid), "dkey_root", KeyKind.BYTES)
    code, names = check(root, "-n")
    assert code == 4 and names == {"FIELD_DISAGREES": 1}, names
    repaired_clean(root)
    assert export_image(root) == before


def test_an_active_dtx_entry_naming_an_object_it_did_not_write_is_rewritten(copy):
    """campaign dtx seed 130 (field): an active entry's oid.hi rewritten; its record
    references (which the records' local ids confirm) name the object it leads."""
    from fixtures.inject_records import field_disagrees
    root = copy("dtx")
    before = export_image(root)
    field_disagrees(root, random.Random(0), "dtx_oid")
    found_then_repaired(root, {"FIELD_DISAGREES": 1})
    assert export_image(root) == before                  # the oid is back, exactly


def test_an_active_dtx_entry_with_more_groups_than_targets_is_rewritten(copy):
    """campaign dtx seed 53 (field): grp_cnt 1 -> 2^32-1 on a one-target entry; a group is
    a set of targets, so the count can only be 1."""
    from fixtures.inject_records import field_disagrees
    root = copy("dtx")
    before = export_image(root)
    field_disagrees(root, random.Random(0), "dtx_grp_cnt")
    found_then_repaired(root, {"FIELD_DISAGREES": 1})
    assert export_image(root) == before


# --- a shard that cannot be opened at all ---------------------------------------------------

def _flip_superblocks(path):
    """A byte of each superblock copy flipped: both fail their checksums ('no valid
    superblock'), the magic still there."""
    with open(path, "r+b") as f:
        for slot in (0, 1):
            f.seek(slot * PAGE_SIZE + 40)
            b = f.read(1)
            f.seek(slot * PAGE_SIZE + 40)
            f.write(bytes([b[0] ^ 0xFF]))


def _run(root, mode):
    """(exit status, [(name, shard, result)], reports) of one ``check start`` run."""
    r = ddb("--json", "check", "start", mode, "-D", root)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    assert r.exit_code != 8, r.stderr                    # never an operational error
    reports = json.loads(r.stdout)["reports"]
    return r.exit_code, sorted((f["name"], f["shard"], f["result"]) for f in reports), reports


def _smd_rows(root):
    """Every SMD row: pools as {uuid: (size, {target: blob})}, and targets -> devices."""
    from vosfmt.smd import SysDb
    with SysDb(root) as db:
        return ({u: (p.blob_sz, dict(zip(p.tgts, p.blobs))) for u, p in db.pools().items()},
                db.targets())


@pytest.mark.parametrize("how,why", [("zeroed", "no superblock magic"),
                                     ("flipped", "no valid superblock")])
def test_a_shard_that_cannot_be_opened_is_a_finding_and_the_others_are_still_checked(
        copy, how, why):
    """dtx (two shards): one shard's superblocks destroyed used to stop the whole check with
    exit 8. It is SHARD_UNREADABLE (nothing repairs it: -n and -y both exit 4), and the other
    shard is checked and repaired; the unreadable one is never written."""
    from fixtures.inject_shard import shard_unreadable
    root = copy("dtx")
    s0, s1 = list_shards(root)
    if how == "zeroed":
        shard_unreadable(root, random.Random(0), s1)
    else:
        _flip_superblocks(s1)
    inject(root, "PAGES_LEAKED")                 # in the first shard, which still opens
    dead, smd = file_state(root)[s1], _smd_rows(root)
    code, found, reports = _run(root, "-n")
    assert code == 4 and found == [("PAGES_LEAKED", s0, 1), ("SHARD_UNREADABLE", s1, 2)], found
    (msg,) = [f["msg"] for f in reports if f["name"] == "SHARD_UNREADABLE"]
    assert os.path.relpath(s1, root) in msg and why in msg, msg
    code, found, _ = _run(root, "-y")
    assert code == 4 and found == [("PAGES_LEAKED", s0, 0), ("SHARD_UNREADABLE", s1, 2)], found
    code, found, _ = _run(root, "-n")
    assert code == 4 and found == [("SHARD_UNREADABLE", s1, 2)], found
    assert file_state(root)[s1] == dead and _smd_rows(root) == smd


def test_an_unreadable_shard_keeps_its_blob_and_smd_rows_through_image_repairs(tmp_path):
    """NVMe pool of two targets, target 1's shard unreadable: SMD repairs for the rest (a
    wrong blob for target 0, rebuilt by smd_sync; a pool row with no shard, removed) leave
    target 1's blob and SMD row as they were: a shard we cannot read is not a missing one."""
    from fixtures.inject_shard import shard_unreadable
    from fixtures.inject_space import smd_pool_without_shard
    from vosfmt.blob import scan_blobs
    from vosfmt.smd import SysDb
    root = str(tmp_path / "img")
    sv = {"epoch": 5, "random": 9000}
    build({"targets": 2, "nvme_size": 64 << 20, "containers": [
        {"target": t, "objects": [{"dkeys": [{"key": "d", "akeys": [{"key": "a", "sv": [sv]}]}]}]}
        for t in range(2)]}, root)
    s0, s1 = list_shards(root)
    ((blob1, _),) = [(p, h) for p, h in scan_blobs(root) if h.vos_id == 1]
    (pool_uuid,) = _smd_rows(root)[0]
    shard_unreadable(root, random.Random(0), s1)
    smd_pool_without_shard(root, random.Random(0))
    with SysDb(root, write=True) as db:                 # target 0 led to a blob that is not there
        pool = db.pools()[pool_uuid]
        pool.blobs = [b + 1000 if t == 0 else b for t, b in zip(pool.tgts, pool.blobs)]
        db.write(pools=[pool])
    before = file_state(root)
    pools, targets = _smd_rows(root)
    code, found, _ = _run(root, "-n")
    assert code == 4 and found == [("SHARD_UNREADABLE", s1, 2), ("SMD_BLOB_MISSING", s0, 1),
                                   ("SMD_POOL_WITHOUT_SHARD", "", 1)], found
    code, found, _ = _run(root, "-y")
    assert code == 4 and found == [("SHARD_UNREADABLE", s1, 2), ("SMD_BLOB_MISSING", s0, 0),
                                   ("SMD_POOL_WITHOUT_SHARD", "", 0)], found
    code, found, _ = _run(root, "-n")
    assert code == 4 and found == [("SHARD_UNREADABLE", s1, 2)], found
    after = file_state(root)
    assert after[s1] == before[s1] and after[blob1] == before[blob1]
    new_pools, new_targets = _smd_rows(root)
    assert set(new_pools) == {pool_uuid}                # the pool with no shard is gone, ours kept
    (size, blobs), (new_size, new_blobs) = pools[pool_uuid], new_pools[pool_uuid]
    assert new_size == size and new_blobs[1] == blobs[1] and new_targets[1] == targets[1]


# --- fields no fact can restore: found, reported, left (exit 4) -----------------------------

def _shard_bytes(root):
    return {p: file_state(root)[p][0] for p in list_shards(root)}


@pytest.mark.parametrize("seed,field", [(106, "epoch"), (114, "update_minor"),
                                        (143, "update_minor")])
def test_a_field_with_no_valid_value_to_restore_is_reported_and_left(copy, seed, field):
    """campaign dtx seeds 106, 114, 143 (field), checksums recomputed: a committed DTX
    entry's epoch rewritten to 0 (never a valid epoch; nothing else records a committed
    transaction's epoch), an ilog entry's update_minor 1 -> 0, equal to its punch_minor
    (an entry is a punch or an update; which minor was damaged nothing records). Found,
    not repaired: -y leaves the shards as they are and exits 4."""
    root = copy("dtx")
    desc = damage(root, seed, "field")
    assert desc["field"].endswith("." + field) and desc["new"] == 0, desc
    code, names = check(root, "-n")
    assert code == 4 and names == {"FIELD_DISAGREES": 1}, names
    shards = _shard_bytes(root)
    code, names = check(root, "-y")
    assert code == 4 and names == {"FIELD_DISAGREES": 1}, names
    assert _shard_bytes(root) == shards


# --- a blob header that its file name, directory and SMD row contradict ---------------------

def _blob_file(root):
    paths = [os.path.join(d, n) for d, _s, ns in os.walk(os.path.join(root, "daos_nvme"))
             for n in ns]
    assert len(paths) == 1, paths
    return paths[0]


def test_a_blob_header_whose_blob_id_its_name_and_smd_contradict_is_rewritten(copy):
    """campaign small/posix seed 263 (blob_header_field): the header's blob_id rewritten to
    2**64-1, its checksum recomputed. The file name, the SMD row and the shard agree on the
    real id: BLOB_HEADER_WRONG, -y rewrites the header from them (smd_sync used to copy the
    wrong id into SMD), and the image is as built."""
    root = copy("small")
    before, blob = export_image(root), _blob_file(root)
    with open(blob, "rb") as f:
        raw = f.read()
    desc = damage(root, 263, "blob_header_field")
    assert desc["field"] == "blob_id", desc
    found_then_repaired(root, {"BLOB_HEADER_WRONG": 1})
    assert export_image(root) == before
    with open(blob, "rb") as f:
        assert f.read() == raw


def test_a_blob_header_whose_device_its_directory_contradicts_is_rewritten(copy):
    from vosfmt.blob import BlobHeader, read_header, rewrite_header
    root = copy("small")
    blob = _blob_file(root)
    with open(blob, "rb") as f:
        raw = f.read()
    h = read_header(blob)
    rewrite_header(root, blob, BlobHeader(h.blk_sz, h.hdr_blks, h.vos_id, h.blob_id,
                                          bytes(16), h.pool_uuid, h.version))
    found_then_repaired(root, {"BLOB_HEADER_WRONG": 1})
    with open(blob, "rb") as f:
        assert f.read() == raw


def test_smd_sync_does_not_trust_a_header_its_file_name_contradicts(copy):
    """A header whose blob id is not its file name's is skipped and reported: SMD is not
    rebuilt with a blob id no file has."""
    from vosfmt.blob import BlobHeader, read_header, rewrite_header
    from vosfmt.image import smd_sync
    root = copy("small")
    blob = _blob_file(root)
    h = read_header(blob)
    rewrite_header(root, blob, BlobHeader(h.blk_sz, h.hdr_blks, h.vos_id, (1 << 64) - 1,
                                          h.dev_uuid, h.pool_uuid, h.version))
    res = smd_sync(root, dry_run=True)
    assert res.synced == [] and [p for p, _ in res.problems] == [blob], res.problems
    assert "file name" in res.problems[0][1]


# --- superblock geometry fixed at creation --------------------------------------------------

@pytest.mark.parametrize("preset", ["unit", "small"])
def test_a_superblock_copy_with_impossible_reserved_blocks_is_damaged(copy, preset):
    """campaign unit/large seed 229 (field): hdr_blks 0 -> 1 in a superblock copy, checksum
    recomputed; an SCM-only shard has no NVMe geometry, and with NVMe the reserved and VEA
    blocks are the whole blob. The copy is damaged: SB_COPY_DAMAGED rewrites it."""
    import struct

    from fixtures.located import recrc_rawcopy
    from vosfmt.layout import superblock, superblock_body
    root = copy(preset)
    path = list_shards(root)[0]
    with open_shard(path) as sh:
        slot, hdr = sh.sb.slot, sh.sb.hdr_blks
    off = slot * PAGE_SIZE + sum(superblock_body.subcons[i].sizeof() for i in range(
        [s.name for s in superblock_body.subcons].index("hdr_blks")))
    with open(path, "r+b") as f:
        buf = bytearray(f.read(2 * PAGE_SIZE))
        page = bytearray(buf[slot * PAGE_SIZE:slot * PAGE_SIZE + superblock.sizeof()])
        struct.pack_into("<I", page, off - slot * PAGE_SIZE, hdr + 1)
        recrc_rawcopy(superblock, page)
        f.seek(slot * PAGE_SIZE)
        f.write(page)
    found_then_repaired(root, {"SB_COPY_DAMAGED": 1})
    with open_shard(path) as sh:
        assert sh.sb.hdr_blks == hdr
