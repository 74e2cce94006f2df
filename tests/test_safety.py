"""ddb's file safety (issue 12): what ddb creates, truncates or deletes outside the checker.

People run ddb as root on a damaged system, so every test plants something
where ddb writes -- a symbolic link, a FIFO, a crafted SMD row or
superblock -- and proves that nothing outside the image changed (every file
of a directory beside the image is hashed before and after), that nothing
but the tool's own files inside the image went away, and that a refusal is
one clear ``ERROR: ddb: ...`` line with a non-zero exit and no traceback.
Also here: ddb's own edits keep the image consistent (rm drops the DTX
references it orphans; rm leaves no empty akey, dkey or object).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from ddb.cli import main as ddb_main
from support import file_state
from vosfmt.blob import blob_path, read_header
from vosfmt.keys import uuid_bytes
from vosfmt.smd import SysDb, sys_db_path

DDB = os.path.join(os.path.dirname(sys.executable), "ddb")
POOL_A = "aaaaaaaa-0000-4000-8000-000000000001"
POOL_B = "bbbbbbbb-0000-4000-8000-000000000002"


def ddb(*args, timeout: float = 120):
    return subprocess.run([DDB, *args], capture_output=True, text=True, timeout=timeout)


def refused(r, *words) -> str:
    """The run failed with one clear error line (containing ``words``); its message."""
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR: ddb: ")]
    assert len(errors) == 1 and r.stderr.splitlines()[-1] == errors[0], r.stderr
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def outside(tmp_path):
    """A directory beside the image holding files ddb must never touch."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_bytes(b"precious\n" * 100)
    (d / "other").write_bytes(os.urandom(5000))
    return d


def state(d) -> dict:
    """Every entry of a directory tree: type, and hash and mtime of regular files."""
    out = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            out[p] = os.lstat(p).st_mode >> 12
    out.update(file_state(str(d)))
    return out


def _root(shard: str) -> str:
    return os.path.dirname(os.path.dirname(shard))


def _blob_of(root: str, pool: str, target: int = 0) -> str:
    with SysDb(root) as db:
        dev, blob = db.blob_location(uuid_bytes(pool), target)
    return blob_path(root, dev, blob)


def _pool_of(shard: str) -> str:
    return os.path.basename(os.path.dirname(shard))


# --- 1. the writer lock's details file ------------------------------------------------

def test_lock_details_never_written_through_a_link(small, outside, capsys):
    """The details file is written under a fresh name, not through a planted link
    (the old code wrote ``<shard>.lock.<pid>`` with a plain open())."""
    before = state(outside)
    for name in (f"{small}.lock", f"{small}.lock.{os.getpid()}", f"{small}.lock.tmp"):
        os.symlink(outside / "victim", name)
    assert ddb_main(["-w", small, "rm", "/[0]/[0]/[0]/[0]"]) == 0
    assert state(outside) == before
    assert not os.path.lexists(f"{small}.lock")          # our own details file was removed
    assert os.path.islink(f"{small}.lock.{os.getpid()}")  # what we did not create is left alone


def test_lock_details_fifo_does_not_stall_a_refused_writer(small):
    """A FIFO at ``<shard>.lock`` is not opened (the old reader blocked on it forever)."""
    from vosfmt import open_shard
    holder = open_shard(small, write=True)
    try:
        os.unlink(f"{small}.lock")
        os.mkfifo(f"{small}.lock")
        r = ddb("-w", small, "rm", "/[0]", timeout=20)
        refused(r, "is locked for writing by another process")
    finally:
        holder.close()
    assert os.path.lexists(f"{small}.lock")               # not a regular file: not removed


def test_shard_is_not_opened_for_writing_through_a_link(small, outside):
    shutil.copy(small, outside / "vos-7")
    link = os.path.join(os.path.dirname(small), "vos-7")
    os.symlink(outside / "vos-7", link)
    before = state(outside)
    refused(ddb("-w", link, "rm", "/[0]"), "symbolic link")
    refused(ddb("-w", "rm_pool", link), "symbolic link")
    assert state(outside) == before and os.path.islink(link)
    assert ddb(link, "ls").returncode == 0                # reading through it is fine


# --- 2. rm_pool -----------------------------------------------------------------------

@pytest.fixture
def two_pools(tmp_path):
    """An image with two NVMe pools on one device."""
    from fixtures import build
    root = str(tmp_path / "img")
    spec = {"pools": [{"pool": p, "nvme_size": 16 << 20, "containers": []} for p in (POOL_A, POOL_B)],
            "devices": 1}
    build(spec, root)
    return root


def _smd(root: str):
    with SysDb(root) as db:
        return db.pools(), db.targets()


def test_rm_pool_refuses_an_smd_row_naming_another_pools_blob(two_pools):
    root = two_pools
    blob_b = _blob_of(root, POOL_B)
    with SysDb(root, write=True) as db:
        row = db.pools()[uuid_bytes(POOL_A)]
        row.blobs = [int(os.path.basename(blob_b).split("-")[1])]
        db.write(pools=[row])
    smd = _smd(root)
    before = state(root)
    shard_a = os.path.join(root, POOL_A, "vos-0")
    refused(ddb("-w", "rm_pool", shard_a), "refusing to remove", POOL_B)
    assert state(root) == before and _smd(root) == smd    # nothing at all was removed
    assert read_header(blob_b).pool_uuid == uuid_bytes(POOL_B)


def test_rm_pool_refuses_a_shard_of_another_pool(two_pools):
    """A's directory holding a shard whose superblock names B: refused as `open` refuses it
    (the old code deleted B's blob and B's SMD row)."""
    root = two_pools
    shard_a = os.path.join(root, POOL_A, "vos-0")
    shutil.copy(os.path.join(root, POOL_B, "vos-0"), shard_a)
    smd = _smd(root)
    before = state(root)
    msg = refused(ddb("-w", "rm_pool", shard_a), "pool uuid mismatch")
    assert POOL_B in msg
    assert state(root) == before and _smd(root) == smd


def test_rm_pool_never_deletes_through_a_linked_device_directory(small, outside):
    """A link planted at daos_nvme/<dev> must not lead the unlink outside the image."""
    root = _root(small)
    blob = _blob_of(root, _pool_of(small))
    dev_dir = os.path.dirname(blob)
    shutil.copytree(dev_dir, outside / "dev")
    shutil.rmtree(dev_dir)
    os.symlink(outside / "dev", dev_dir)
    before = state(outside)
    refused(ddb("-w", "rm_pool", small), "symbolic link")
    assert state(outside) == before and os.path.exists(small)


def test_blob_is_not_written_through_a_linked_device_directory(small, outside, tmp_path):
    """value_load of an NVMe-sized value must not follow a link planted at daos_nvme/<dev>."""
    root = _root(small)
    dev_dir = os.path.dirname(_blob_of(root, _pool_of(small)))
    shutil.copytree(dev_dir, outside / "dev")
    shutil.rmtree(dev_dir)
    os.symlink(outside / "dev", dev_dir)
    src = tmp_path / "src"
    src.write_bytes(os.urandom(70000))
    before = state(outside)
    refused(ddb("-w", small, "value_load", str(src), SV), "symbolic link")
    assert state(outside) == before


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_rm_pool_removes_only_a_regular_blob_file(small, outside, kind):
    root = _root(small)
    blob = _blob_of(root, _pool_of(small))
    shutil.copy(blob, outside / "blob")
    os.unlink(blob)
    if kind == "link":
        os.symlink(outside / "blob", blob)
    else:
        os.mkfifo(blob)
    smd = _smd(root)
    before = state(outside)
    refused(ddb("-w", "rm_pool", small), "blob-")
    assert state(outside) == before
    assert os.path.lexists(blob) and os.path.exists(small) and _smd(root) == smd


def test_rm_pool_still_removes_its_own_pool(two_pools):
    root = two_pools
    blob_a, blob_b = _blob_of(root, POOL_A), _blob_of(root, POOL_B)
    r = ddb("-w", "rm_pool", os.path.join(root, POOL_A, "vos-0"))
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(blob_a) and os.path.exists(blob_b)
    pools, _ = _smd(root)
    assert list(pools) == [uuid_bytes(POOL_B)]
    assert not os.path.lexists(os.path.join(root, POOL_A, "vos-0.lock"))


# --- 3. value_dump and csum_dump destinations --------------------------------------------

SV = "/[1]/[0]/dkey-1/akey-1"                 # the small preset's 18-byte single value


@pytest.fixture
def dumps(tmp_path):
    """An empty directory for dump destinations."""
    d = tmp_path / "dumps"
    d.mkdir()
    return d


def _short_reads(monkeypatch):
    """Make every value read stop after its first 4 bytes (a value that ends early)."""
    from vosfmt.shard import Shard
    real = Shard.value_chunks

    def short(self, v, chunk=1 << 20, path=None):
        for piece in real(self, v, chunk=chunk, path=path):
            yield piece[:4]
            return
    monkeypatch.setattr(Shard, "value_chunks", short)


def test_value_dump_short_read_keeps_an_existing_file(small, dumps, monkeypatch, capsys):
    dst = dumps / "dump.bin"
    dst.write_bytes(b"old contents")
    _short_reads(monkeypatch)
    assert ddb_main([small, "value_dump", SV, str(dst)]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("ERROR: ddb: value ended after 4 of 18 bytes")
    assert dst.read_bytes() == b"old contents" and os.listdir(dumps) == ["dump.bin"]


def test_value_dump_short_read_never_removes_a_fifo(small, dumps, monkeypatch, capsys):
    fifo = dumps / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    _short_reads(monkeypatch)
    assert ddb_main([small, "value_dump", SV, str(fifo)]) == 1
    reader.join(10)
    assert os.listdir(dumps) == ["pipe"] and got == [b"hell"]


def test_value_dump_to_a_pipe_and_to_dev_null(small, dumps):
    r = ddb(small, "value_dump", SV, "/dev/null")
    assert r.returncode == 0 and os.path.exists("/dev/null")
    fifo = dumps / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    assert ddb(small, "value_dump", SV, str(fifo)).returncode == 0
    reader.join(10)
    assert got == [b"hello again, newer"] and os.path.lexists(fifo)


def test_value_dump_replaces_a_file_and_keeps_its_mode(small, dumps):
    dst = dumps / "dump.bin"
    dst.write_bytes(b"x" * 100)
    os.chmod(dst, 0o640)
    assert ddb(small, "value_dump", SV, str(dst)).returncode == 0
    assert dst.read_bytes() == b"hello again, newer" and (os.stat(dst).st_mode & 0o777) == 0o640
    assert os.listdir(dumps) == ["dump.bin"]


@pytest.mark.parametrize("command", [["value_dump", SV], ["csum_dump", SV]])
def test_dump_destination_link_is_refused(small, dumps, outside, command):
    link = dumps / "dst"
    os.symlink(outside / "victim", link)
    dangling = dumps / "dangling"
    os.symlink(outside / "new-file", dangling)
    before = state(outside)
    refused(ddb(small, *command, str(link)), "symbolic link")
    refused(ddb(small, *command, str(dangling)), "symbolic link")
    assert state(outside) == before and sorted(os.listdir(dumps)) == ["dangling", "dst"]


def test_dump_destination_directory_is_refused(small, dumps):
    refused(ddb(small, "value_dump", SV, str(dumps)), "directory")
    r = ddb(small, "value_dump", SV, str(dumps / "no" / "such"))
    refused(r)
    assert "Unable to open path" in r.stderr


def test_csum_dump_writes_a_fresh_file(small, dumps):
    dst = dumps / "csum"
    assert ddb(small, "csum_dump", SV, str(dst)).returncode == 0
    assert len(dst.read_bytes()) == 4 and os.listdir(dumps) == ["csum"]


# --- smd_sync's move-aside, the sys db, the shell history -------------------------------

def _damage_sys_db(root: str) -> None:
    with open(os.path.join(sys_db_path(root), "data.mdb"), "r+b") as f:
        f.write(b"\xff" * 4096)


def test_smd_sync_never_moves_a_sys_db_outside_the_image(small, outside):
    """daos_sys linked outside: the damaged sys db there is not moved aside or recreated."""
    root = _root(small)
    shutil.move(os.path.join(root, "daos_sys"), outside / "daos_sys")
    os.symlink(outside / "daos_sys", os.path.join(root, "daos_sys"))
    _damage_sys_db(root)
    before = state(outside)
    refused(ddb("-w", "smd_sync", root), "symbolic link")
    assert state(outside) == before


def test_smd_sync_never_writes_a_linked_sys_db(small, outside):
    root = _root(small)
    sys_db = sys_db_path(root)
    shutil.move(sys_db, outside / "sys_db")
    os.symlink(outside / "sys_db", sys_db)
    before = state(outside)
    refused(ddb("-w", "smd_sync", root), "symbolic link")
    assert state(outside) == before


def test_smd_sync_moves_a_damaged_sys_db_aside(small):
    root = _root(small)
    _damage_sys_db(root)
    r = ddb("-w", "smd_sync", root)
    assert r.returncode == 0, r.stderr
    aside = [n for n in os.listdir(os.path.join(root, "daos_sys")) if n.startswith("sys_db.damaged-")]
    assert len(aside) == 1
    with SysDb(root) as db:
        assert db.pools()


def test_shell_history_never_written_through_a_link(tmp_path, outside):
    from ddb.shell import HISTORY_MAX, CappedHistory
    path = tmp_path / ".ddb_history"
    os.symlink(outside / "victim", path)
    before = state(outside)
    h = CappedHistory(str(path))
    assert list(h.load_history_strings()) == []
    for i in range(2 * HISTORY_MAX + 2):                # enough to trigger the rewrite
        h.store_string(f"ls /[{i}]")
    assert state(outside) == before and os.path.islink(path)
    os.unlink(path)
    h.store_string("ls")
    assert list(CappedHistory(str(path)).load_history_strings()) == ["ls"]
    assert os.stat(path).st_mode & 0o777 == 0o600


# --- 13. rm drops the active-DTX references it orphans ----------------------------------

def _check_clean(shard: str) -> None:
    r = ddb(shard, "check", "start", "-n")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", ["/[0]/[0]", "/[0]/[0]/[0]", "/[0]/[0]/[0]/[2]",
                                  "/[0]/[0]/[0]/[1]/[1]"])   # extent {4-11}: written by an active DTX
def test_rm_leaves_no_dangling_dtx_reference(dtx, path):
    _check_clean(dtx)
    r = ddb("-w", dtx, "rm", path)
    assert r.returncode == 0, r.stderr
    _check_clean(dtx)


def test_rm_reports_the_references_it_dropped(dtx):
    r = ddb("-w", dtx, "rm", "/[0]/[0]/[0]")
    assert r.returncode == 0 and "Dropped 3 reference(s) of active transactions" in r.stdout
    r = ddb("--json", "-w", dtx, "rm", "/[0]/[0]/[0]")
    assert r.returncode == 0 and '"dtx_refs_dropped": 3' in r.stdout


def test_rm_inside_an_atomic_batch_keeps_dtx_consistent(dtx, tmp_path):
    cmds = tmp_path / "cmds"
    cmds.write_text("rm /[0]/[0]/[1]\nrm /[0]/[0]/[0]/[2]\n")
    r = ddb("-w", "--atomic", "-s", dtx, "-f", str(cmds))
    assert r.returncode == 0, r.stderr
    _check_clean(dtx)


def test_value_load_keeps_dtx_consistent(dtx, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"new value")
    assert ddb("-w", dtx, "value_load", str(src), "/[0]/[0]/dkey-0/pending").returncode == 0
    _check_clean(dtx)


# --- 18. rm leaves no empty key behind ---------------------------------------------------

def test_rm_of_the_last_extent_removes_the_emptied_keys(small, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"0123456789")
    assert ddb("-w", small, "value_load", str(src), "/[1]/[0]/fresh-dkey/fresh-akey/{0-9}").returncode == 0
    before = ddb(small, "ls", "/[1]/[0]").stdout
    assert "fresh-dkey" in before
    r = ddb("-w", small, "rm", "/[1]/[0]/fresh-dkey/fresh-akey/{0-9}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("RECX:") and lines[0].endswith("/fresh-akey/{0-9} deleted")
    assert lines[1].startswith("AKEY:") and lines[1].endswith("/fresh-akey deleted (nothing was left in it)")
    assert lines[2].startswith("DKEY:") and lines[2].endswith("/fresh-dkey deleted (nothing was left in it)")
    assert len(lines) == 3
    assert "fresh-dkey" not in ddb(small, "ls", "/[1]/[0]").stdout
    _check_clean(small)


def test_rm_of_one_extent_among_others_keeps_the_akey(small, tmp_path):
    target = "/[1]/[0]/dkey-1/akey-2"
    src = tmp_path / "src"
    src.write_bytes(b"0123456789")
    assert ddb("-w", small, "value_load", str(src), target + "/{100-109}").returncode == 0
    assert ddb(small, "ls", target).stdout.count("RECX") == 2
    r = ddb("-w", small, "rm", target + "/[0]")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 1
    assert ddb(small, "ls", target).stdout.count("RECX") == 1


def test_rm_of_an_objects_last_dkey_removes_the_object_not_the_container(small, tmp_path):
    src = tmp_path / "src"
    src.write_bytes(b"v")
    oid = "1.2.0.0"
    assert ddb("-w", small, "value_load", str(src), f"/[0]/{oid}/d/a").returncode == 0
    r = ddb("-w", small, "rm", f"/[0]/{oid}/d")
    assert r.returncode == 0, r.stderr
    assert [line.split(":")[0] for line in r.stdout.splitlines()] == ["DKEY", "OBJ"]
    assert f"/{oid}" not in ddb(small, "ls", "/[0]").stdout
    _check_clean(small)


# --- a dry run creates no file, in the image or not ------------------------------------------

@pytest.mark.parametrize("command,size", [
    (["value_dump", SV], 18), (["value_dump", "/[1]/[0]/dkey-1/akey-2/{9-18}"], 10),
    (["csum_dump", SV], 4), (["csum_dump", "/[1]/[0]/dkey-1/akey-2"], 4)])
def test_dumps_under_dry_run_write_nothing(small, dumps, command, size):
    """value_dump and csum_dump wrote DST under --dry-run."""
    new, old = dumps / "new.bin", dumps / "old.bin"
    old.write_bytes(b"old contents")
    before = state(dumps)
    for dst in (new, old):
        r = ddb("--dry-run", small, *command, str(dst))
        assert r.returncode == 0, r.stderr
        assert f"Dry run: would write {size} bytes to {dst}; nothing was written" in r.stdout.splitlines()
        assert "Dumping" not in r.stdout
        doc = json.loads(ddb("--json", "--dry-run", small, *command, str(dst)).stdout.splitlines()[0])
        assert doc["dst"] == str(dst) and doc["dry_run"] is True
    assert state(dumps) == before and sorted(os.listdir(dumps)) == ["old.bin"]
