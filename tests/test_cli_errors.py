"""Command-line error paths and write discipline (audit issue 12), through the entry point.

Each test names the audit item it pins down: write mode and dry runs of the
sys-db commands (4), one clean error for damaged shards (19), sizes checked
before a path part is built (20), linear and clean command-file splitting
(21), and one JSON document per failing command under --json (22).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ddb.cli import cli, main
from ddb.errors import DdbError
from ddb.linesplit import split_line
from ddb.vospath import format_key
from support import file_state
from vosfmt import open_shard
from vosfmt.constants import NODE_MAGIC, PAGE_SIZE
from vosfmt.image import list_shards
from vosfmt.keys import extent_key, uuid_str
from vosfmt.pagecrc import page_crc
from vosfmt.smd import SysDb
from vosfmt.txn import Transaction
from vosfmt.value_records import enc_extent

DDB = os.path.join(os.path.dirname(sys.executable), "ddb")
NEW_DEV = "11111111-2222-3333-4444-555555555555"
WRITE_MODE = ["Can only modify the SMD sys db in 'write mode'",
              "ERROR: ddb: DER_INVAL(-1003): Invalid parameters"]


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def tree_state(root: str) -> dict:
    """file_state plus the directory entries (a moved-aside or created sys db shows here)."""
    dirs = {d: sorted(os.listdir(d)) for d, _, _ in os.walk(root)}
    return {"files": file_state(root), "dirs": dirs}


def _device(root: str) -> str:
    with SysDb(root) as db:
        (dev,) = db.devices()
    return uuid_str(dev)


def _damage_sys_db(root: str, how: str) -> None:
    sysdb = os.path.join(root, "daos_sys", "sys_db")
    if how == "removed":
        shutil.rmtree(sysdb)
    elif how == "garbage":
        with open(os.path.join(sysdb, "data.mdb"), "r+b") as f:
            f.seek(4096)
            f.write(b"\xa5" * 4096)


# --- 4: smd_sync and dev_replace need -w; a dry run writes nothing ---------------------

@pytest.fixture
def posix(image_copy):
    return image_copy("posix")


def _sys_db_command(root: str, which: str) -> list[str]:
    if which == "dev_replace":
        return ["dev_replace", root, _device(root), NEW_DEV]
    return ["smd_sync", root] if which == "smd_sync DB" else ["-s", list_shards(root)[0], "smd_sync"]


@pytest.mark.parametrize("which", ["smd_sync", "smd_sync DB", "dev_replace"])
def test_sys_db_commands_need_write_mode(posix, which):
    argv = _sys_db_command(posix, which)
    before = tree_state(posix)
    r = ddb(*argv)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == WRITE_MODE
    assert tree_state(posix) == before
    assert ddb("-w", *argv).exit_code == 0


def test_sys_db_write_mode_in_a_command_file(posix):
    """-w is the run's write permission: a command file inherits it, and lacks it without."""
    line = f"smd_sync {posix}\n"
    r = ddb("-f", "-", input=line)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [WRITE_MODE[0], f"ERROR: ddb: Failed running command "
                                     f"\"smd_sync {posix}\": DER_INVAL(-1003): Invalid parameters"]
    assert ddb("-w", "-f", "-", input=line).exit_code == 0


@pytest.mark.parametrize("damage", ["none", "garbage", "removed"])
def test_smd_sync_dry_run_writes_nothing(posix, damage):
    _damage_sys_db(posix, damage)
    before = tree_state(posix)
    r = ddb("--dry-run", *_sys_db_command(posix, "smd_sync"))
    assert r.exit_code == 0, r.stderr
    assert tree_state(posix) == before          # no byte, no mtime, no lock file, nothing moved
    out = r.stdout.splitlines()
    assert out[0] == f"Using nvme config file: '{posix}/daos_nvme' and smd db path: '{posix}'"
    assert out[1].startswith("> Sync Info - pool: ")
    assert out[-1] == f"Dry run: would rewrite the SMD sys db at '{posix}' from 1 blob(s); nothing was written"
    if damage == "garbage":
        assert "WARNING: the sys db could not be read; would move it to " in r.stderr
    doc = json.loads(ddb("--json", "--dry-run", *_sys_db_command(posix, "smd_sync")).stdout)
    assert doc["dry_run"] is True and len(doc["synced"]) == 1
    assert tree_state(posix) == before


def test_dev_replace_dry_run_writes_nothing(posix):
    dev = _device(posix)
    before = tree_state(posix)
    r = ddb("--dry-run", "dev_replace", posix, dev, NEW_DEV)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"Replace old device {dev[:8]} with new device {NEW_DEV[:8]}, db_path='{posix}'",
        f"Dry run: would move target(s) 0 of device {dev} to {NEW_DEV}; nothing was written"]
    doc = json.loads(ddb("--json", "--dry-run", "dev_replace", posix, dev, NEW_DEV).stdout)
    assert doc == {"old": dev, "new": NEW_DEV, "targets": [0], "dry_run": True}
    r = ddb("--dry-run", "dev_replace", posix, NEW_DEV, dev)      # checked like the real thing
    assert r.exit_code == 1 and "Device replacing failed" in r.stderr
    assert tree_state(posix) == before


# --- 19: a damaged shard is one clean error line, whatever the command ------------------

def _relabel_node(shard: str, page: int) -> None:
    """Make a tree node claim another page number, with a valid crc (only the reader's
    shape checks can see it): the damage dtx_stat, vea_dump and dtx_dump used to
    report as an internal error."""
    with open(shard, "r+b") as f:
        f.seek(page * PAGE_SIZE)
        buf = bytearray(f.read(PAGE_SIZE))
        buf[24:32] = (page + 1000).to_bytes(8, "little")
        buf[4:8] = page_crc(bytes(buf)).to_bytes(4, "little")
        f.seek(page * PAGE_SIZE)
        f.write(buf)


def _tree_pages(shard: str) -> dict:
    with open_shard(shard) as sh:
        c = sh.container_at(0)
        return {"dtx_stat": sh.sb.cont_root.page, "vea_dump": sh.sb.vea_root.page,
                "dtx_dump": c.rec.dtx_cmt_root.page}


@pytest.mark.parametrize("command", ["dtx_stat", "vea_dump", "dtx_dump"])
def test_corruption_error_is_a_clean_line(image_copy, command):
    root = image_copy("dtx" if command == "dtx_dump" else "small")
    shard = list_shards(root)[0]
    page = _tree_pages(shard)[command]
    assert page, "the damaged tree must have a node page"
    _relabel_node(shard, page)
    before = file_state(root)
    r = ddb(shard, command, *(["/[0]"] if command == "dtx_dump" else []))
    assert r.exit_code == 1
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"ERROR: ddb: node claims to be page {page + 1000}: ")
    assert line.endswith(f" in {shard}") and f"at offset {page * PAGE_SIZE:#x}" in line
    assert file_state(root) == before


def test_corruption_error_in_a_command_file_and_the_shell(image_copy):
    root = image_copy("small")
    shard = list_shards(root)[0]
    _relabel_node(shard, _tree_pages(shard)["vea_dump"])
    r = ddb("-s", shard, "-f", "-", input="vea_dump\n")
    (line,) = r.stderr.splitlines()
    assert r.exit_code == 1 and line.startswith('ERROR: ddb: Failed running command "vea_dump": '
                                                "node claims to be page ")
    r = ddb(shard, input="vea_dump\nversion\n")          # a scripted shell goes on
    assert r.exit_code == 1 and "error: node claims to be page " in r.stdout
    assert r.stdout.splitlines()[-1].startswith("ddb version ")


def test_unexpected_exception_on_an_open_shard_is_one_line(built, monkeypatch, capsys):
    """The last line of defence: a decoder gap (here simulated) is not an internal error;
    --debug still shows the traceback."""
    import struct

    from vosfmt.shard import Shard
    shard = list_shards(built("small"))[0]

    def broken(self):
        raise struct.error("unpack requires a buffer of 8 bytes")
    monkeypatch.setattr(Shard, "vea_free_extents", broken)
    assert main([shard, "vea_dump"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"ERROR: ddb: cannot read '{shard}' (struct.error: unpack requires a buffer of 8 bytes); the "
        "shard may be damaged (run with --debug for a traceback)"]
    with pytest.raises(struct.error):
        main(["--debug", shard, "vea_dump"])


def test_out_of_range_commit_time(image_copy):
    from vosfmt import DtxCommitted, Xid
    root = image_copy("dtx")
    shard = list_shards(root)[0]
    with open_shard(shard, write=True, db_root=root) as sh:
        c = sh.container_at(0)
        with Transaction(sh) as tx:
            tx.put_dtx_committed(c.rec.uuid, DtxCommitted(Xid(bytes(range(16)), 5), 7, 2**62))
    r = ddb(shard, "dtx_stat", "-d", "/[0]")
    assert r.exit_code == 0, r.stderr
    assert f"max=out of range ({2**62})" in r.stdout


def _single_value_akey(sh):
    for c in sh.containers():
        for o in c.objects():
            for d in o.dkeys():
                for a in d.akeys():
                    if a.value_kind == "sv":
                        return c, o, d, a
    raise AssertionError("no single-value akey")


def _array_extent(sh):
    for c in sh.containers():
        for o in c.objects():
            for d in o.dkeys():
                for a in d.akeys():
                    for e in a.extents():
                        if e.csum_type and not e.is_punch:
                            return c, o, d, a, e
    raise AssertionError("no checksummed extent")


def test_value_dump_of_an_emptied_single_value(image_copy):
    """Every version of a single value removed below the writer (which would drop the key)."""
    root = image_copy("small")
    shard = list_shards(root)[0]
    with open_shard(shard, write=True, db_root=root) as sh:
        c, o, d, a = _single_value_akey(sh)
        epochs = [v.epoch for v in a.single_values()]
        with Transaction(sh) as tx:
            for epoch in epochs:
                tx.delete_value(c.rec.uuid, o.oid, d.key, a.key, epoch)
        path = f"/{c.uuid}/{o.oid}/{format_key(d.key, o.oid.otype)}/{format_key(a.key, o.oid.otype)}"
    r = ddb(shard, "value_dump", path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("No value at: AKEY: (")


def test_csum_dump_of_an_unknown_checksum_type(image_copy):
    root = image_copy("dtx")
    shard = list_shards(root)[0]
    with open_shard(shard, write=True, db_root=root) as sh:
        c, o, d, a, e = _array_extent(sh)
        with Transaction(sh) as tx:
            tree = tx.value_tree(c.rec.uuid, o.oid, d.key, a.key)
            e.csum_type = 99
            tree.put(extent_key(e.lo, e.epoch, e.minor), enc_extent(e))
        path = (f"/{c.uuid}/{o.oid}/{format_key(d.key, o.oid.otype)}/"
                f"{format_key(a.key, o.oid.otype)}/{{{e.lo}-{e.hi}}}")
    r = ddb(shard, "csum_dump", path)
    assert r.exit_code == 1
    assert r.stderr.splitlines()[-1].startswith(
        f"ERROR: ddb: extent {{{e.lo}-{e.hi}}} has unknown checksum type 99: extent (VOS path RECX: (")


def test_shard_path_that_is_a_directory(tmp_path):
    shard = tmp_path / "5594aa6b-342f-4d0a-ba5e-4842fab428f7" / "vos-0"
    shard.mkdir(parents=True)
    r = ddb(str(shard), "ls")
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [f"ERROR: ddb: Error opening VOS path '{shard}': cannot open "
                                     f"'{shard}': Is a directory"]


# --- 19: the sweep: seeded damage x every read-only command -----------------------------

def _damage(shard: str, seed: int) -> None:
    """Zero a page, or change bytes in a tree node and recompute its crc (so the
    reader's shape checks, not the checksum, meet the damage)."""
    rng = random.Random(seed)
    with open(shard, "r+b") as f:
        data = bytearray(f.read())
        pages = len(data) // PAGE_SIZE
        if seed % 3 == 0:
            p = rng.randrange(2, pages)
            data[p * PAGE_SIZE:(p + 1) * PAGE_SIZE] = bytes(PAGE_SIZE)
        else:
            nodes = [p for p in range(2, pages)
                     if int.from_bytes(data[p * PAGE_SIZE:p * PAGE_SIZE + 4], "little") == NODE_MAGIC]
            off = rng.choice(nodes) * PAGE_SIZE
            used = int.from_bytes(data[off + 14:off + 16], "little")
            for _ in range(rng.randrange(1, 5)):
                data[off + rng.randrange(8, 32 + used)] = rng.randrange(256)
            data[off + 4:off + 8] = page_crc(bytes(data[off:off + PAGE_SIZE])).to_bytes(4, "little")
        f.seek(0)
        f.write(data)


def _read_only_commands(shard: str, capsys) -> list[list[str]]:
    """Every read-only command, with every path of the undamaged image."""
    assert main(["--json", shard, "ls", "-r"]) == 0
    items = [json.loads(line) for line in capsys.readouterr().out.splitlines()[1:]]
    cmds = [["ls", "-r"], ["ls", "-r", "-d"], ["superblock_dump"], ["dtx_stat"], ["dtx_stat", "-d"],
            ["vea_dump"], ["smd"]]
    for it in items:
        level, path = it["level"], it["indexes"]
        if level == "CONT":
            cmds += [["dtx_dump", path], ["dtx_stat", "-d", path], ["ls", path]]
        elif level in ("OBJ", "DKEY") or (level == "AKEY" and "size" not in it):
            cmds += [["ilog_dump", path], ["ls", "-d", path]]
        if level == "RECX" or (level == "AKEY" and it["kind"] == "sv" and "size" not in it):
            cmds += [["value_dump", path], ["csum_dump", path]]
    return cmds


@pytest.mark.parametrize("preset", ["small", "dtx"])
def test_damage_sweep(image_copy, capsys, preset):
    root = image_copy(preset)
    shard = list_shards(root)[0]
    cmds = _read_only_commands(shard, capsys)
    pristine = open(shard, "rb").read()
    for seed in range(6):
        _damage(shard, seed)
        before = file_state(root)
        for argv in cmds:
            for mode in ([], ["--json"]):
                rc = main(mode + [shard] + argv)
                err = capsys.readouterr().err
                assert rc in (0, 1)
                assert "internal error" not in err and "Traceback" not in err, (seed, argv, err)
                assert len(err.splitlines()) <= 2, (seed, argv, err)
        assert file_state(root) == before, (seed, "a read-only command changed the image")
        with open(shard, "wb") as f:
            f.write(pristine)


# --- 20: sizes are checked before a path part is built ----------------------------------

BIG = "9" * 5000                                       # beyond Python's int-from-text limit
KEY_LIMIT = "DER_INVAL(-1003): Invalid parameters: key of {} bytes exceeds the 512-byte limit"


@pytest.mark.parametrize("path,level,detail", [
    ("/[1]/[0]/x{99999999999}", "DKEY is invalid", KEY_LIMIT.format(99999999999)),
    ("/[1]/[0]/[0]/x{600}", "AKEY is invalid", KEY_LIMIT.format(600)),
    ("/[1]/[0]/{bin:0x" + "ab" * 100000 + "}", "DKEY is invalid", KEY_LIMIT.format(100000)),
    ("/[1]/[0]/" + "k" * 513, "DKEY is invalid", KEY_LIMIT.format(513)),
    (f"/[{BIG}]", "Container is invalid",
     f"DER_INVAL(-1003): Invalid parameters: index '[{'9' * 60}...' is out of range (at most 64 bits)"),
    (f"/[1]/{BIG}.1.0.0", "Object is invalid",
     f"DER_INVAL(-1003): Invalid parameters: object id '{'9' * 61}...' is out of range (at most 64 bits)"),
    ("/[1]/1.2.3.4294967296", "Object is invalid",
     "DER_INVAL(-1003): Invalid parameters: object id '1.2.3.4294967296' is out of range (at most 32 bits)"),
    (f"/[1]/[0]/x{{{BIG}}}", "DKEY is invalid",
     f"DER_INVAL(-1003): Invalid parameters: key size in 'x{{{'9' * 59}...' is out of range (at most 64 bits)"),
    ("/[1]/[0]/{uint64:" + "9" * 30 + "}", "DKEY is invalid",
     f"DER_INVAL(-1003): Invalid parameters: integer '{'9' * 30}' is out of range (at most 64 bits)"),
    ("/[1]/[0]/{uint64:0x1" + "0" * 16 + "}", "DKEY is invalid",
     f"DER_INVAL(-1003): Invalid parameters: integer '0x1{'0' * 16}' is out of range (at most 64 bits)"),
    ("/[1]/[0]/[0]/[1]/{0-18446744073709551616}", "RECX is invalid",
     "DER_INVAL(-1003): Invalid parameters: extent '{0-18446744073709551616}' is out of range "
     "(at most 64 bits)"),
    (f"/[1]/[0]/[0]/[1]/{{{BIG}-{BIG}}}", "RECX is invalid",
     f"DER_INVAL(-1003): Invalid parameters: extent '{{{'9' * 60}...' is out of range (at most 64 bits)"),
])
def test_oversized_path_parts(built, capsys, path, level, detail):
    shard = list_shards(built("small"))[0]
    assert main([shard, "ls", path]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [level]
    assert out.err.splitlines() == [f"ERROR: ddb: {detail}"]


def test_padded_key_is_refused_before_it_is_built(built):
    """x{500000000} used to allocate half a gigabyte first: under a 256 MiB address-space
    limit that was a MemoryError, now it is the key-size error."""
    resource = pytest.importorskip("resource")
    shard = list_shards(built("small"))[0]

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))
    r = subprocess.run([DDB, shard, "ls", "/[1]/[0]/x{500000000}"], capture_output=True,
                       text=True, preexec_fn=limit, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (
        1, "DKEY is invalid\n", "ERROR: ddb: " + KEY_LIMIT.format(500000000) + "\n")


# --- 21: command-file lines split in linear time; a file that is not UTF-8 is an error -----

shell_text = st.text(st.sampled_from(list("ab \t'\"\\#;|$`\n\r") + ["é", "\x00", "\x0b"]), max_size=24)


@settings(max_examples=3000, deadline=None)
@given(shell_text)
def test_split_line_is_shlex(line):
    """Same words and messages as shlex.split(posix=True), which it replaces."""
    import shlex
    try:
        expected = shlex.split(line, comments=False, posix=True)
    except ValueError as e:
        with pytest.raises(DdbError) as err:
            split_line(line)
        assert err.value.message == f"invalid args: {e}"
        return
    assert split_line(line) == expected


def test_split_line_takes_a_long_line():
    """A 640k-character line splits like shlex would (shlex itself, quadratic in a word's
    length, took a minute; bench/ddb_cmds.py compares it with a line ten times shorter)."""
    def line(n):
        return 'ls -r "/[1]/[0]/' + "a\\\"" * (n // 3) + '" tail \'' + "b" * (n // 3) + "'"
    n = 640_000 // 3
    assert split_line(line(640_000)) == ["ls", "-r", "/[1]/[0]/" + 'a"' * n, "tail", "b" * n]


def test_long_command_file_line(built, tmp_path):
    shard = list_shards(built("small"))[0]
    line = f'ls "/[1]/[0]/{"k" * 640_000}"'
    cmds = tmp_path / "long.ddb"
    cmds.write_text(line + "\n")
    r = ddb("-s", shard, "-f", str(cmds))
    assert r.exit_code == 1 and r.stdout == "DKEY is invalid\n"
    assert r.stderr == (f'ERROR: ddb: Failed running command "{line[:197]}...": '
                        f"{KEY_LIMIT.format(640_000)}\n")


def test_command_file_that_is_not_utf8(built, tmp_path):
    """The lines before the bad one run; the error names the line (not a decoder chunk)."""
    shard = list_shards(built("small"))[0]
    cmds = tmp_path / "latin1.ddb"
    cmds.write_bytes(b"version\nls /caf\xe9\nversion\n")
    from ddb import __version__
    for source, stdin in ((str(cmds), None), ("-", cmds.read_bytes())):
        r = ddb("-s", shard, "-f", source, input=stdin)
        assert r.exit_code == 1
        assert r.stdout == f"ddb version {__version__}\n"
        assert r.stderr == (f'ERROR: ddb: Error reading file "{source}": line 2 is not UTF-8 text '
                            "(byte 0xe9 at column 8)\n")


# --- 22: under --json a failure is one JSON document on stdout, the message on stderr -----

INVALID = "DER_INVAL(-1003): Invalid parameters: "


@pytest.mark.parametrize("path,level,detail", [
    ("/[7]", "Container is invalid", "no container at index 7"),
    ("/[1]/[9]", "Object is invalid", "no object at index 9 in container {cont}"),
    ("/[1]/[0]/nope", "DKEY is invalid", "no dkey nope in /{cont}/{oid}"),
    ("/[1]/[0]/dkey-1/[5]", "AKEY is invalid", None),
    ("/[1]/[0]/dkey-1/akey-2/{1-2}", "RECX is invalid", None),
])
def test_json_path_error_is_one_document(built, capsys, path, level, detail):
    shard = list_shards(built("small"))[0]
    assert main(["--json", shard, "ls", "/[1]"]) == 0
    cont = json.loads(capsys.readouterr().out.splitlines()[0])["listing"].split(") /")[1]
    assert main([shard, "ls", "/[1]/[0]"]) == 0
    oid = capsys.readouterr().out.splitlines()[0].split("/")[-1].rstrip("'")
    assert main(["--json", shard, "ls", path]) == 1
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    doc = json.loads(line)
    assert doc["level"] == level and doc["error"].startswith(INVALID)
    if detail is not None:
        assert doc == {"error": INVALID + detail.format(cont=cont, oid=oid), "level": level}
    assert err.splitlines() == [f"ERROR: ddb: {doc['error']}"]
    assert main([shard, "ls", path]) == 1                    # text mode: DAOS ddb's level line
    assert capsys.readouterr().out == level + "\n"


def test_json_errors_of_a_command_file(built, capsys, monkeypatch):
    import io
    shard = list_shards(built("small"))[0]
    monkeypatch.setattr(sys, "stdin", io.StringIO("version\nls /[7]\nversion\n"))
    assert main(["--json", "-s", shard, "-f", "-"]) == 1
    out, err = capsys.readouterr()
    from ddb import __version__
    assert [json.loads(line) for line in out.splitlines()] == [
        {"version": __version__},
        {"error": INVALID + "no container at index 7", "command": "ls /[7]",
         "level": "Container is invalid"}]
    assert err.splitlines() == [f'ERROR: ddb: Failed running command "ls /[7]": {INVALID}'
                                "no container at index 7"]


@pytest.mark.parametrize("argv,message", [
    (["--json", "--bogus"], "unknown flag `--bogus'. Run 'ddb --help' for usage."),
    (["--json", "-f", "x", "ls"], "Cannot use both command file and a command string"),
    (["--json", "-s", "/nonexistent/5594aa6b-342f-4d0a-ba5e-4842fab428f7/vos-0", "ls"],
     "Error opening VOS path '/nonexistent/5594aa6b-342f-4d0a-ba5e-4842fab428f7/vos-0': "
     "DER_NONEXIST(-1005): The specified entity does not exist: no such file "
     "'/nonexistent/5594aa6b-342f-4d0a-ba5e-4842fab428f7/vos-0'"),
])
def test_json_run_errors_are_documents(capsys, argv, message):
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": message}
    assert err.splitlines() == [f"ERROR: ddb: {message}"]


def test_json_write_mode_error_carries_the_details(image_copy, capsys):
    shard = list_shards(image_copy("small"))[0]
    assert main(["--json", shard, "rm", "/[1]/[0]"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": "DER_INVAL(-1003): Invalid parameters",
                               "details": ["Can only modify the VOS tree in 'write mode'"]}
    assert err.splitlines() == ["Can only modify the VOS tree in 'write mode'",
                                "ERROR: ddb: DER_INVAL(-1003): Invalid parameters"]


# --- review: every command that changes anything needs -w; a dry run writes nothing -------

TREE_WRITE_MODE = ["Can only modify the VOS tree in 'write mode'",
                   "ERROR: ddb: DER_INVAL(-1003): Invalid parameters"]


@pytest.mark.parametrize("change", [["-e", "immutable"], ["-d", "skip_start"]])
def test_feature_change_needs_write_mode(image_copy, change):
    """feature opened the shard itself for writing whenever -e/-d was given, -w or not."""
    root = image_copy("small")
    shard = list_shards(root)[0]
    before = tree_state(root)
    r = ddb(shard, "feature", *change)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == TREE_WRITE_MODE
    assert tree_state(root) == before
    assert ddb("-s", shard, "feature", "-s").exit_code == 0          # showing stays read-only
    assert tree_state(root) == before
    assert ddb("-w", shard, "feature", "-e", "immutable").exit_code == 0
    assert ddb(shard, "feature", "-s").stdout == "Compat Flags: 1\nIncompat Flags: 0\n"


def test_feature_dry_run_writes_nothing(image_copy):
    root = image_copy("small")
    shard = list_shards(root)[0]
    before = tree_state(root)
    r = ddb("--dry-run", shard, "feature", "-e", "immutable")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("Dry run: 1 change(s) staged (")
    docs = [json.loads(line) for line in
            ddb("--json", "--dry-run", shard, "feature", "-e", "immutable").stdout.splitlines()]
    assert docs[0]["features"] == ["immutable"] and docs[-1]["dry_run"] is True
    assert tree_state(root) == before


def test_rm_pool_needs_write_mode(image_copy):
    """rm_pool deleted the shard, its blob and its SMD rows without -w."""
    root = image_copy("small")
    shard = list_shards(root)[0]
    before = tree_state(root)
    r = ddb("rm_pool", shard)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == ["Can only modify the VOS pool in 'write mode'",
                                     "ERROR: ddb: DER_INVAL(-1003): Invalid parameters"]
    r = ddb("-f", "-", input=f"rm_pool {shard}\n")
    assert r.exit_code == 1 and r.stderr.splitlines()[0] == "Can only modify the VOS pool in 'write mode'"
    assert tree_state(root) == before
    r = ddb("--dry-run", "rm_pool", shard)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"Dry run: would remove '{shard}' with its NVMe blob and SMD rows\n"
    assert json.loads(ddb("--json", "--dry-run", "rm_pool", shard).stdout) == {
        "dry_run": True, "would_remove": shard}
    assert tree_state(root) == before
    assert ddb("-w", "rm_pool", shard).exit_code == 0
    assert not os.path.exists(shard)


# --- review: the global --dry-run holds for check too -------------------------------------

TREE_COUNT_WRONG, CSUM_FAILURE = "TREE_COUNT_WRONG", "VALUE_CSUM_MISMATCH"


@pytest.fixture
def check_image(image_copy, tmp_path, monkeypatch):
    """A damaged image, with the dry runs' reports kept in the test's own state dir."""
    from ddb.checker.dryrun import STATE_ENV
    from fixtures.corrupt import inject
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))

    def get(code: int) -> str:
        root = image_copy("small")
        inject(root, code, seed=0)
        return root
    return get


@pytest.mark.parametrize("mode", [["-y"], ["-p"], ["-a", "on"], ["-a", "off"], []])
def test_check_start_under_dry_run_only_reports(check_image, mode):
    """check start -y under ddb --dry-run used to repair the image."""
    root = check_image(TREE_COUNT_WRONG)
    before = tree_state(root)
    r = ddb("--dry-run", "check", "start", *mode, "-D", root)
    assert r.exit_code == 4, r.output
    assert "TRUST_TARGET (dry run)" in r.stdout and "MODIFIED" not in r.stdout
    assert r.stderr.splitlines()[0] == ("ddb: --dry-run: checking read-only, as with -n "
                                        "(the answer mode is not used)")
    assert tree_state(root) == before


def test_check_set_policy_and_stop_under_dry_run_write_nothing(check_image):
    root = check_image(TREE_COUNT_WRONG)
    before = tree_state(root)
    r = ddb("--dry-run", "check", "set-policy", "-D", root, "--all-interactive")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Dry run: would set the policies to ")
    assert r.stdout.endswith("; nothing was written\n") and "CSUM_FAILURE:INTERACT" in r.stdout
    doc = json.loads(ddb("--json", "--dry-run", "check", "set-policy", "-D", root,
                         "CSUM_FAILURE:DISCARD").stdout)
    assert doc == {"policies": {"CSUM_FAILURE": "DISCARD"}, "dry_run": True}
    r = ddb("--dry-run", "check", "stop", "-D", root)
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Dry run: no check of {root} is running (status: INIT); nothing was written\n"
    assert tree_state(root) == before                   # no daos_sys/check_db created
    assert ddb("check", "get-policy", "-D", root).stdout.count("DEFAULT") > 1


def test_check_repair_under_dry_run_writes_nothing(check_image):
    root = check_image(CSUM_FAILURE)
    assert ddb("check", "set-policy", "-D", root, "CSUM_FAILURE:INTERACT").exit_code == 0
    assert ddb("check", "start", "-a", "off", "-D", root).exit_code == 4
    (pending,) = json.loads(ddb("check", "query", "--json", "-D", root).stdout)["reports"]
    seq = hex(pending["seq"])
    before = tree_state(root)
    r = ddb("--dry-run", "check", "repair", "-D", root, seq, "0")
    assert r.exit_code == 0, r.output
    assert r.stdout == (f"Dry run: would resolve finding {seq} (VALUE_CSUM_MISMATCH) with "
                        f"TRUST_TARGET: {pending['details'][0]}; nothing was written\n")
    r = ddb("--dry-run", "check", "repair", "-D", root, seq, "9")
    assert r.exit_code == 8 and r.stderr == f"ERROR: ddb: invalid action 9 for seq {seq}\n"
    assert tree_state(root) == before
    assert ddb("check", "repair", "-D", root, seq, "0").exit_code == 0
    r = ddb("--dry-run", "check", "repair", "-D", root, seq, "0")
    assert r.exit_code == 8 and r.stderr == f"ERROR: ddb: finding {seq} is not pending: TRUST_TARGET\n"


# --- review: the shell's errors under --json are one-shot's JSON documents -------------------

@pytest.mark.parametrize("line,one_shot", [("ls /[1]/[77]", True), ("rm /[1]/[0]", True),
                                           ("bogus", False), ('ls "/[1', False)])
def test_shell_json_error_is_the_one_shot_document(built, line, one_shot):
    """The shell printed `error: <msg>` as text under --json and dropped the level line."""
    from ddb import __version__
    shard = list_shards(built("small"))[0]
    r = ddb("--json", shard, input=f"{line}\nversion\n")
    assert r.exit_code == 1
    error, version = (json.loads(out) for out in r.stdout.splitlines())
    assert version == {"version": __version__}
    assert r.stderr.splitlines()[-1] == f"ERROR: ddb: {error['error']}"
    if one_shot:                                        # the same command run one-shot
        r1 = ddb("--json", shard, *split_line(line))
        assert r1.exit_code == 1 and error == json.loads(r1.stdout) and r.stderr == r1.stderr
    if line == "ls /[1]/[77]":
        assert error["level"] == "Object is invalid"


# --- review: an error quotes at most 200 characters of the failing line ---------------------

def test_failed_command_line_is_cut_short(built, tmp_path, capsys):
    """A 640k-character command-file line was echoed whole, in text and in JSON."""
    shard = list_shards(built("small"))[0]
    cmds = tmp_path / "long.ddb"
    line = f'ls "/[1]/[0]/{"k" * 640_000}"'
    cmds.write_text(f"version\n{line}\n")
    shown = line[:197] + "..."
    assert main(["-s", shard, "-f", str(cmds)]) == 1
    err = capsys.readouterr().err
    assert err == f'ERROR: ddb: Failed running command "{shown}": {KEY_LIMIT.format(640_000)}\n'
    assert main(["--json", "-s", shard, "-f", str(cmds)]) == 1
    out, err = capsys.readouterr()
    doc = json.loads(out.splitlines()[-1])
    assert doc == {"error": KEY_LIMIT.format(640_000), "command": shown, "level": "DKEY is invalid"}
    assert len(err) < 400
    for n, form in ((200, "{line}"), (201, "{cut}...")):     # 200 characters are quoted whole
        line = 'ls "/[1]/[0]/' + "k" * (n - 14) + '"'
        cmds.write_text(line + "\n")
        assert main(["-s", shard, "-f", str(cmds)]) == 1
        err = capsys.readouterr().err
        quoted = form.format(line=line, cut=line[:197])
        assert err.startswith(f'ERROR: ddb: Failed running command "{quoted}": ')


# --- open: DAOS ddb's limits on a VOS path -------------------------------------------------

POOL = "12345678-1234-1234-1234-123456789012"


@pytest.mark.parametrize("path,detail,error", [
    (f"/{'a' * 4080}/{POOL}/vos-0", "VOS path '{path}' too long: got=4124, max=4095",
     "DER_EXCEEDS_PATH_LEN(-1042): Path name exceeds permitted length"),
    (f"/mnt/daos/{POOL}/vos-999999999999", "VOS file name 'vos-999999999999' too long in VOS "
     "path '{path}': got=16, max=15", "DER_EXCEEDS_PATH_LEN(-1042): Path name exceeds permitted length"),
    (f"/mnt/daos/{POOL}/vos-99999999999", "Target index '99999999999' out of range in VOS path "
     "'{path}': min=0 , max=4294967295", "DER_OVERFLOW(-1017): Data too long for defined data "
     "type or buffer size"),
    (f"/mnt/daos/{POOL}/vos-01", "Invalid VOS path: '{path}'. Expected format: "
     "[/path/to/db/]pool-uuid/(vos-N|rdb-pool)", "DER_INVAL(-1003): Invalid parameters"),
])
def test_open_refuses_what_daos_ddb_refuses(path, detail, error):
    """ddb_parse.c's checks, in its order (form, length, file name, target index)."""
    r = ddb("open", path)
    assert r.exit_code == 1 and r.stderr == f"{detail.format(path=path)}\nERROR: ddb: {error}\n"
    r = ddb("-s", path, "ls")
    assert r.stderr.endswith(f"ERROR: ddb: Error opening VOS path '{path}': {error}\n")


def test_open_refuses_an_over_long_db_path():
    db = "/" + "d" * 4095
    path = f"/mnt/daos/{POOL}/vos-0"
    r = ddb("open", "-p", db, path)
    assert r.exit_code == 1 and r.stderr == (f"DB path '{db}' too long: got=4096, max=4095\n"
                                             "ERROR: ddb: DER_EXCEEDS_PATH_LEN(-1042): Path name "
                                             "exceeds permitted length\n")


def test_shard_path_grammar():
    from vosfmt.paths import ShardPath, db_root_of, is_shard_name, is_shard_path, parse_shard_path
    assert parse_shard_path(f"{POOL.upper()}/vos-7") == ShardPath(".", POOL, "vos-7", 7)
    assert parse_shard_path(f"/{POOL}/rdb-pool") == ShardPath("/", POOL, "rdb-pool", None)
    assert parse_shard_path(f"a//{POOL}//vos-0", "/db").db_root == "/db"
    assert [is_shard_name(n) for n in ("vos-0", "vos-10", "vos-01", "vos-a", "rdb-pool", "rdb-666")] \
        == [True, True, False, False, True, False]
    assert is_shard_path(f"x/{POOL}/vos-3") and not is_shard_path(f"x/{POOL}x/vos-3")
    assert db_root_of(f"/img/{POOL}/vos-0") == "/img"
