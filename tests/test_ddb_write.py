"""ddb write mode: value_load, rm, rm_pool, feature, locking, atomic batches, dry runs."""
from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from support import file_state
from vosfmt import open_shard
from vosfmt.smd import SysDb
from vosfmt.usage import space_usage

C1 = "12345678-1234-1234-1234-123456789001"
O0 = "281479271743488.4294967296.0.0"


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def healthy(shard_path: str) -> None:
    root = os.path.dirname(os.path.dirname(shard_path))
    with open_shard(shard_path, db_root=root) as sh:
        u = space_usage(sh)
        assert not u.leaked_pages and not u.leaked_blocks and not u.page_conflicts
        assert not u.free_and_used_pages and not u.free_and_used_blocks


def counts(shard_path: str):
    with open_shard(shard_path) as sh:
        c = sh.container_at(0)
        o = c.object_at(0)
        d = o.dkey_at(0)
        return sh.container_count(), c.object_count(), o.dkey_count(), d.akey_count()


@pytest.mark.parametrize("args", [["value_load", "/etc/hostname", "/[0]/[0]/[0]/[1]"],
                                  ["rm", "/[0]/[0]"]])
def test_modifying_commands_need_write_mode(unit, args):
    r = ddb(unit, *args)
    assert r.exit_code == 1
    assert r.stderr == ("Can only modify the VOS tree in 'write mode'\n"
                        "ERROR: ddb: DER_INVAL(-1003): Invalid parameters\n")


# --- value_load -------------------------------------------------------------------

@pytest.mark.parametrize("size", [5, 3000, 70000])     # inline, shard pages, NVMe blob
def test_value_load_round_trip(small, tmp_path, size):
    src = tmp_path / "src"
    data = os.urandom(size)
    src.write_bytes(data)
    target = "/[1]/[0]/dkey-1/akey-1"
    r = ddb("-w", small, "value_load", str(src), target)
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("AKEY: (/[1]/[0]/[0]/[0]) /") and lines[0].endswith("/dkey-1/akey-1")
    assert lines[1] == f"Successfully loaded file '{src}'"
    out = tmp_path / "out"
    assert ddb(small, "value_dump", target, str(out)).exit_code == 0
    assert out.read_bytes() == data                   # the newest version
    assert ddb(small, "ls", "-d", target).stdout.count("Single Value") == 3
    healthy(small)


def test_value_load_creates_keys_and_objects(unit, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"new value")
    before = counts(unit)
    r = ddb("-w", unit, "value_load", str(src), "/[0]/[0]/[0]/a-new-key")
    assert r.stdout.splitlines() == [
        f"AKEY: (/[0]/[0]/[0]/[0]) /{C1}/{O0}/dkey-1/a-new-key", f"Successfully loaded file '{src}'"]
    assert counts(unit)[3] == before[3] + 1
    r = ddb("-w", unit, "value_load", str(src), "/[0]/[0]/a-new-key/a-new-key")
    assert r.exit_code == 0 and "INVALID PATH" not in r.stdout and "invalid" not in r.stdout
    r = ddb("-w", unit, "value_load", str(src), f"{C1}/281479271743488.999.0.0/dkey_new/akey_new")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0].endswith("/281479271743488.999.0.0/dkey_new/akey_new")
    assert counts(unit)[1] == before[1] + 1
    assert ddb(unit, "value_dump", f"{C1}/281479271743488.999.0.0/dkey_new/akey_new").stdout \
        .splitlines()[-1] == "new value"
    healthy(unit)


def test_value_load_arrays(unit, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(bytes(range(40)))
    r = ddb("-w", unit, "value_load", "--rsize", "4", str(src), "/[0]/[0]/[0]/arr/{100-109}")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0].endswith("/dkey-1/arr/{100-109}")
    out = tmp_path / "out"
    ddb(unit, "value_dump", "/[0]/[0]/[0]/arr/{100-109}", str(out))
    assert out.read_bytes() == bytes(range(40))
    assert "Record Size: 4" in ddb(unit, "ls", "-d", "/[0]/[0]/[0]/arr").stdout
    r = ddb("-w", unit, "value_load", str(src), "/[0]/[0]/[0]/arr/{0-99}")
    assert r.exit_code == 1 and "DER_REC2BIG" in r.stderr
    assert "Data value might not be large enough to fill the supplied recx" in r.stderr


@pytest.mark.parametrize("target,stdout,message", [
    ("/[0]/[0]/[0]/[0]", "", "DER_NO_PERM(-1001)"),                  # akey-1 holds an array
    ("/[0]/[0]/[0]/[1]/{0-4}", "", "DER_NO_PERM(-1001)"),            # akey-10 holds an SV
    ("/[0]/[0]/[0]/[9999]", "AKEY is invalid\n", "no akey at index 9999"),
    ("/[0]/[0]/newdkey/[3]", "AKEY is invalid\n", "given by value"),
    ("/99999999-9999-9999-9999-999999999999/1.1.0.0/d/a", "Container is invalid\n", "DER_INVAL"),
    ("/[0]/[0]/[0]", "", "needs a path to an akey"),
])
def test_value_load_errors(unit, tmp_path, target, stdout, message):
    src = tmp_path / "src"
    src.write_bytes(b"abcde")
    before = file_state(os.path.dirname(os.path.dirname(unit)))
    r = ddb("-w", unit, "value_load", str(src), target)
    assert r.exit_code == 1 and message in r.stderr and r.stdout == stdout
    assert {p: h for p, (h, _) in file_state(os.path.dirname(os.path.dirname(unit))).items()} == \
        {p: h for p, (h, _) in before.items()}


def test_value_load_source_problems(unit, tmp_path):
    r = ddb("-w", unit, "value_load", str(tmp_path / "none"), "/[0]/[0]/[0]/[1]")
    assert r.exit_code == 1 and f"Unable to access '{tmp_path / 'none'}'" in r.stderr
    (tmp_path / "empty").write_bytes(b"")
    r = ddb("-w", unit, "value_load", str(tmp_path / "empty"), "/[0]/[0]/[0]/[1]")
    assert r.exit_code == 1 and "is empty" in r.stderr


# --- rm ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,level", [("/[0]", 0), ("/[0]/[0]", 1), ("/[0]/[0]/[0]", 2),
                                        ("/[0]/[0]/[0]/[0]", 3)])
def test_rm_each_level_counts_drop_and_indexes_shift(unit, path, level):
    before = counts(unit)
    second = ddb(unit, "ls", path.rsplit("/", 1)[0] or "/").stdout.splitlines()[2].split(") ", 1)[1]
    r = ddb("-w", unit, "rm", path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.endswith(" deleted\n") and r.stdout.startswith(("CONT:", "OBJ:", "DKEY:", "AKEY:"))
    after = counts(unit)
    assert after[level] == before[level] - 1
    now_first = ddb(unit, "ls", path).stdout.splitlines()[0]
    assert second in now_first                        # the next sibling moved to index 0
    healthy(unit)


def test_rm_extent_removes_only_that_extent(small, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"0123456789")
    target = "/[1]/[0]/dkey-1/akey-2"
    ddb("-w", small, "value_load", str(src), target + "/{100-109}")
    assert ddb(small, "ls", target).stdout.count("RECX") == 2
    r = ddb("-w", small, "rm", target + "/{9-18}")
    assert r.exit_code == 0 and r.stdout.startswith("RECX:") and r.stdout.endswith("/{9-18} deleted\n")
    lines = ddb(small, "ls", target).stdout.splitlines()
    assert len(lines) == 2 and lines[1].endswith("/{100-109}")
    healthy(small)


def test_rm_errors(unit):
    assert ddb("-w", unit, "rm", "").exit_code == 1
    r = ddb("-w", unit, "rm", "/[0]/[99]")
    assert r.exit_code == 1 and r.stdout == "Object is invalid\n"
    assert ddb("-w", unit, "rm", "/[0]/[0]/[0]/[0]").exit_code == 0


def test_rm_returns_nvme_space(small):
    root = os.path.dirname(os.path.dirname(small))
    with open_shard(small, db_root=root) as sh:
        free0 = sum(e.cnt for e in sh.vea_free_extents())
    lines = ddb(small, "ls", "-r").stdout.splitlines()
    blob_obj = [line for line in lines if line.strip().startswith("DKEY") and line.endswith("/blob")][0]
    path = blob_obj.split(") ", 1)[1].rsplit("/", 1)[0]
    assert ddb("-w", small, "rm", path).exit_code == 0
    with open_shard(small, db_root=root) as sh:
        assert sum(e.cnt for e in sh.vea_free_extents()) > free0
        assert len(sh.vea_free_extents()) >= 1
    healthy(small)


# --- rm_pool ------------------------------------------------------------------

def test_rm_pool(small):
    root = os.path.dirname(os.path.dirname(small))
    with SysDb(root) as db:
        (row,) = db.pools().values()
        dev = db.targets()[0]
    from vosfmt.blob import blob_path
    blob = blob_path(root, dev, row.blobs[0])
    assert os.path.exists(blob)
    r = ddb("-f", "-", input=f"open {small}\nrm_pool {small}\n")
    assert r.exit_code == 1 and "Cannot operate on an opened pool. Close it first." in r.stderr
    r = ddb("-w", "rm_pool", small)
    assert r.exit_code == 0 and r.stdout == ""
    assert not os.path.exists(small) and not os.path.exists(blob)
    with SysDb(root) as db:
        assert db.pools() == {}
    r = ddb("-w", "rm_pool", small)
    assert r.exit_code == 1 and "no such file" in r.stderr


def test_rm_pool_refuses_a_shard_another_writer_holds(unit):
    holder = open_shard(unit, write=True)
    try:
        r = ddb("-w", "rm_pool", unit)
        assert r.exit_code == 1 and "is locked for writing by pid" in r.stderr
        assert os.path.exists(unit)
    finally:
        holder.close()


# --- feature ---------------------------------------------------------------------

def test_feature(unit):
    assert ddb("feature", "--show", unit).stdout == "Compat Flags: 0\nIncompat Flags: 0\n"
    r = ddb("-w", "feature", "-e", "immutable,skip_start", unit)
    assert r.exit_code == 0 and r.stdout == ""
    assert ddb("feature", "-s", unit).stdout == "Compat Flags: 3\nIncompat Flags: 0\n"
    assert ddb("-w", "feature", "-d", "immutable", unit).exit_code == 0
    assert ddb("-s", unit, "feature", "-s").stdout == "Compat Flags: 2\nIncompat Flags: 0\n"
    assert ddb("-s", unit, "superblock_dump").stdout.splitlines()[3] == "Compat Flags: 2"
    r = ddb("feature", "-e", "immutablexxx", unit)
    assert r.exit_code == 1 and r.stdout == "Unknown flag: 'immutablexxx'\n"
    r = ddb("feature", unit)
    assert r.exit_code == 1 and "exactly one of --enable, --disable, --show must be provided" in r.stderr
    r = ddb("feature", "-p", "/db", "-s")
    assert r.exit_code == 1 and "Cannot use sys db path without a VOS path" in r.stderr
    r = ddb("-f", "-", input=f"open {unit}\nfeature -e skip_rebuild\n")
    assert r.exit_code == 1 and "Can only modify the VOS tree in 'write mode'" in r.stderr
    r = ddb("-f", "-", input=f"open -w {unit}\nfeature -e skip_rebuild\nfeature -s\n")
    assert r.exit_code == 0 and r.stdout == "Compat Flags: 6\nIncompat Flags: 0\n"


# --- locking ------------------------------------------------------------------

def test_second_writer_is_refused_with_the_holder(unit):
    holder = open_shard(unit, write=True)
    try:
        r = ddb("-w", unit, "rm", "/[0]")
        assert r.exit_code == 1
        assert f"is locked for writing by pid {os.getpid()} on " in r.stderr and " since " in r.stderr
        assert ddb(unit, "ls").exit_code == 0                  # readers are never blocked
    finally:
        holder.close()
    assert ddb("-w", unit, "rm", "/[0]").exit_code == 0
    assert not os.path.exists(unit + ".lock")


# --- atomic batches and dry runs --------------------------------------------------------

def _hashes(root):
    return {p: h for p, (h, _) in file_state(root).items()}


def test_atomic_batch_all_or_nothing(unit, tmp_path):
    root = os.path.dirname(os.path.dirname(unit))
    src = tmp_path / "src"
    src.write_bytes(b"batched")
    good = tmp_path / "good"
    good.write_text(f"value_load {src} /[0]/[0]/x/y\nrm /[0]/[1]\nrm /[0]/[1]\nls /[0]/[0]/x\n")
    bad = tmp_path / "bad"
    bad.write_text(f"value_load {src} /[0]/[0]/x/y\nrm /[0]/[1]\nrm /[0]/[99]\n")
    before = _hashes(root)
    with open_shard(unit) as sh:
        gen = sh.generation
    r = ddb("-w", "--atomic", "-s", unit, "-f", str(bad))
    assert r.exit_code == 1 and 'Failed running command "rm /[0]/[99]"' in r.stderr
    assert "nothing was changed" in r.stderr
    assert _hashes(root) == before
    r = ddb("-w", "--atomic", "-s", unit, "-f", str(good))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("AKEY: (/[0]/[0]/[10]/[0])")   # saw its own write
    with open_shard(unit) as sh:
        assert sh.generation == gen + 1                   # one commit for the whole file
        assert sh.container_at(0).object_count() == 8
    healthy(unit)


def test_dry_run_changes_nothing(unit, small, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(os.urandom(50000))
    for shard in (unit, small):
        root = os.path.dirname(os.path.dirname(shard))
        before = file_state(root)
        cmds = tmp_path / "cmds"
        cmds.write_text(f"value_load {src} /[0]/[0]/x/y\nrm /[0]/[0]\nls /[0]\n")
        r = ddb("-w", "--dry-run", "-s", shard, "-f", str(cmds))
        assert r.exit_code == 0, r.stderr
        assert "deleted" in r.stdout and r.stdout.splitlines()[-1].startswith("Dry run: 2 change(s) staged")
        r = ddb("--dry-run", shard, "rm", "/[0]")
        assert r.exit_code == 0 and r.stdout.splitlines()[-1].startswith("Dry run: 1 change(s)")
        r = ddb("--dry-run", "rm_pool", shard)
        assert r.exit_code == 0 and "would remove" in r.stdout
        assert file_state(root) == before                   # bytes and mtimes
    r = ddb("--dry-run", "--atomic", unit, "ls")
    assert r.exit_code == 1 and "cannot be combined" in r.stderr
