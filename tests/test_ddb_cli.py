"""The ddb command line: invocation modes, commands, errors, JSON, through the entry point."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from fixtures import export_image
from support import file_state
from vosfmt.image import list_shards

C1 = "12345678-1234-1234-1234-123456789001"
O0 = "281479271743488.4294967296.0.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def unit(tmp_path_factory):
    from fixtures import build
    root = str(tmp_path_factory.mktemp("unit"))
    build("unit", root)
    return list_shards(root)[0]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from fixtures import build
    root = str(tmp_path_factory.mktemp("small"))
    build("small", root)
    return list_shards(root)[0]


# --- invocation ---------------------------------------------------------------

def test_help():
    r = ddb("-h")
    assert r.exit_code == 0
    assert "Usage:\n  ddb [OPTIONS] [ddb_command] [ddb_command_args...]\n" in r.stdout
    assert "Available Commands:\n" in r.stdout and "VOS Paths:\n" in r.stdout
    names = [line.split()[0] for line in r.stdout.split("Available Commands:\n\n")[1]
             .split("\n\n")[0].splitlines()]
    assert names == ["ls", "open", "version", "close", "superblock_dump", "value_dump", "rm",
                     "value_load", "ilog_dump", "ilog_commit", "ilog_clear", "dtx_dump",
                     "dtx_cmt_clear", "smd_sync", "vea_dump", "vea_update", "dtx_act_commit",
                     "dtx_act_abort", "feature", "rm_pool", "dtx_act_discard_invalid", "dev_list",
                     "dev_replace", "dtx_stat", "dtx_aggr", "csum_dump", "smd", "check", "system_dump"]
    assert ddb("-w", "--help").stdout == r.stdout


def test_command_help_in_both_forms(unit):
    a, b = ddb("ls", "--help"), ddb("--help", "ls")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout
    assert a.stdout == ("\nList containers, objects, dkeys, akeys, and values\n\nUsage:\n"
                        "  ls [flags] [path]\n\nArgs:\n"
                        "  path  string  Optional, list contents of the provided path\n\nFlags:\n"
                        "  -h, --help       display help\n"
                        "  -r, --recursive  Recursively list the contents of the path\n"
                        "  -d, --details    List more details of items in path\n")
    assert "  value_dump [flags] path [dst]\n" in ddb("value_dump", "-h").stdout
    assert "  open [flags] path\n" in ddb("open", "-h").stdout
    r = ddb("-f", "-", input="ls --help\n")
    assert r.exit_code == 0 and r.stdout == a.stdout
    r = ddb("--help", "bogus")
    assert r.exit_code == 1 and "Unknown command: 'bogus'" in r.stderr


def test_version():
    for args in (["-v"], ["version"], ["--version"]):
        r = ddb(*args)
        assert r.exit_code == 0 and r.stdout.startswith("ddb version ")


@pytest.mark.parametrize("args,message", [
    (["-f", "x", "ls"], "ERROR: ddb: Cannot use both command file and a command string"),
    (["-p", "/db", "ls"], "ERROR: ddb: Cannot use sys db path without a VOS path"),
    (["--debug=LOUD", "version"], 'invalid log level "LOUD"'),
    (["--log_dir=/nonexistent/dir", "version"], 'Error accessing debug directory "/nonexistent/dir"'),
    (["--bogus", "ls"], "unknown flag `--bogus'"),
    (["-s"], "expected argument for flag `-s'"),
])
def test_option_errors(args, message):
    r = ddb(*args)
    assert r.exit_code == 1 and message in r.stderr and "Traceback" not in r.stderr


def test_log_dir_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("")
    r = ddb(f"--log_dir={f}", "version")
    assert r.exit_code == 1 and f'Debug path "{f}" is not a directory' in r.stderr
    r = ddb(f"--log_dir={tmp_path}", "--debug=info", "version")
    assert r.exit_code == 0


def test_unknown_command_lists_commands(unit):
    r = ddb(unit, "bogus")
    assert r.exit_code == 1
    assert r.stderr.startswith("ERROR: ddb: Unknown command: 'bogus'. Run 'help' to see available commands.\n")
    assert "Available Commands:" in r.stderr
    assert ddb("help").exit_code == 1            # help is a shell built-in only


def test_both_invocation_forms(unit):
    a = ddb(unit, "ls")
    b = ddb("-s", unit, "ls")
    c = ddb(f"--vos_path={unit}", "ls")
    assert a.exit_code == b.exit_code == c.exit_code == 0
    assert a.stdout == b.stdout == c.stdout
    assert a.stdout.splitlines()[0] == "Listing contents of '/'"


def test_commands_need_an_open_pool():
    r = ddb("ls")
    assert r.exit_code == 1
    assert r.stderr == ("Cannot operate on a closed pool. Open it first.\n"
                        "ERROR: ddb: DER_NO_HDL(-1002): Invalid handle\n")
    assert ddb("superblock_dump").exit_code == 1


def test_argument_errors(unit):
    r = ddb(unit, "ls", "/[0]", "-r")
    assert r.stderr.endswith("ERROR: ddb: invalid usage of command 'ls' (unconsumed input '-r'), try 'help'\n")
    assert ddb(unit, "ls", "--bar").stderr.endswith("ERROR: ddb: invalid flag: --bar\n")
    assert ddb("open").stderr.endswith("ERROR: ddb: missing argument 'path'\n")


def test_no_command_starts_the_shell(unit):
    r = ddb(unit, input="ls /[0]/[0]/[0]\nversion\n")           # not a terminal: scripted shell
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == f"Listing contents of 'DKEY: (/[0]/[0]/[0]) /{C1}/{O0}/dkey-1'"
    assert r.stdout.splitlines()[-1].startswith("ddb version")


# --- open / close ------------------------------------------------------------

def test_open_path_rules(unit, tmp_path):
    r = ddb("open", "/non/existent/vos-0")
    assert r.exit_code == 1 and "Expected format: [/path/to/db/]pool-uuid/(vos-N|rdb-pool)" in r.stderr
    missing = str(tmp_path / "12345678-1234-1234-1234-123456789012" / "vos-0")
    r = ddb("open", missing)
    assert r.exit_code == 1 and "no such file" in r.stderr
    r = ddb("-f", "-", input=f"open {unit}\nopen {unit}\n")
    assert r.exit_code == 1
    assert f'Failed running command "open {unit}": DER_BUSY(-1012)' in r.stderr
    assert "Cannot operate on an opened pool. Close it first." in r.stderr
    wrong = tmp_path / "99999999-1234-1234-1234-123456789012"
    wrong.mkdir()
    shutil.copy(unit, wrong / "vos-0")
    r = ddb("open", str(wrong / "vos-0"))
    assert r.exit_code == 1 and "pool uuid mismatch" in r.stderr


def test_auto_open_failure_names_the_path(tmp_path):
    bad = tmp_path / "12345678-1234-1234-1234-123456789012"
    bad.mkdir()
    (bad / "vos-0").write_bytes(b"\0" * 8192)
    r = ddb(str(bad / "vos-0"), "ls")
    assert r.exit_code == 1
    assert r.stderr.startswith(f"ERROR: ddb: Error opening VOS path '{bad / 'vos-0'}': ")
    assert "not a VOS pool shard" in r.stderr


def test_command_file(unit, tmp_path):
    f = tmp_path / "cmds"
    f.write_text(f"# a comment\n\nopen {unit}\nls /[0]/[0]/[0]\n  \nclose\nversion\n")
    r = ddb("-f", str(f))
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Listing contents of 'DKEY: (/[0]/[0]/[0]) /{C1}/{O0}/dkey-1'"
    assert len(lines) == 1 + 10 + 1 and lines[-1].startswith("ddb version")
    f.write_text(f"open {unit}\nls /[0]/[99]\nversion\n")
    r = ddb("-f", str(f))
    assert r.exit_code == 1 and "ddb version" not in r.stdout
    assert r.stdout.splitlines()[-1] == "Object is invalid"
    assert r.stderr.startswith('ERROR: ddb: Failed running command "ls /[0]/[99]": DER_INVAL(-1003)')
    r = ddb("-f", str(tmp_path / "nope"))
    assert r.exit_code == 1 and f'Error opening file "{tmp_path / "nope"}"' in r.stderr
    r = ddb("-f", "-", input="version\nquit\nbogus\n")
    assert r.exit_code == 0
    r = ddb("-f", "-", input="bogus\n")
    assert r.stderr == ('ERROR: ddb: Failed running command "bogus": Unknown command: '
                        "'bogus'. Run 'help' to see available commands.\n")
    r = ddb("-f", "-", input="ls 'unclosed\n")
    assert r.exit_code == 1 and "invalid args" in r.stderr


def test_command_file_auto_opens_and_quotes(unit):
    r = ddb("-s", unit, "-f", "-", input="ls '/[0]/[0]/dkey-1/akey-2'\nvalue_dump \"/[0]/[0]/[0]/[2]\"\n")
    assert r.exit_code == 0, r.stderr
    assert "Value (size: 20):" in r.stdout


# --- ls ------------------------------------------------------------------------

def test_ls_root_and_levels(unit):
    r = ddb(unit, "ls")
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Listing contents of '/'", f"CONT: (/[0]) /{C1}"]
    assert len(lines) == 11 and lines[10] == "CONT: (/[9]) /12345678-1234-1234-1234-123456789010"
    r = ddb(unit, "ls", "/[0]/[0]")
    assert f"/{C1}/{O0}" in r.stdout and len(r.stdout.splitlines()) == 11
    r = ddb(unit, "ls", f"{C1}/{O0}/dkey-3")
    assert r.stdout.splitlines()[1] == f"AKEY: (/[0]/[0]/[3]/[0]) /{C1}/{O0}/dkey-3/akey-1"
    r = ddb(unit, "ls", "/[0]/[0]/[0]/[0]/[0]")
    assert r.stdout == f"Listing contents of 'RECX: (/[0]/[0]/[0]/[0]/[0]) /{C1}/{O0}/dkey-1/akey-1/{{9-18}}'\n"
    r = ddb(unit, "ls", "/[0]/[0]/[0]/akey-2")
    assert r.stdout.splitlines()[1] == f"AKEY: (/[0]/[0]/[0]/[2]) /{C1}/{O0}/dkey-1/akey-2"


def test_ls_recursive_lists_everything_once(unit):
    r = ddb(unit, "ls", "-r")
    lines = r.stdout.splitlines()[1:]
    kinds = {}
    for line in lines:
        kinds.setdefault((len(line) - len(line.lstrip(" ")), line.split(":")[0].strip()), []).append(line)
    assert len(kinds[(0, "CONT")]) == 10
    assert len(kinds[(1, "OBJ")]) == 100
    assert len(kinds[(2, "DKEY")]) == 1000
    assert len(kinds[(3, "AKEY")]) == 10000
    assert len(kinds[(4, "RECX")]) == 5000
    assert len(kinds[(4, "AKEY")]) == 5000                    # the single-value lines
    for group in kinds.values():
        assert len(set(group)) == len(group)
    assert ddb(unit, "ls", "-r").stdout == r.stdout            # stable order
    assert lines[:5] == [f"CONT: (/[0]) /{C1}", f" OBJ: (/[0]/[0]) /{C1}/{O0}",
                         f"  DKEY: (/[0]/[0]/[0]) /{C1}/{O0}/dkey-1",
                         f"   AKEY: (/[0]/[0]/[0]/[0]) /{C1}/{O0}/dkey-1/akey-1",
                         f"    RECX: (/[0]/[0]/[0]/[0]/[0]) /{C1}/{O0}/dkey-1/akey-1/{{9-18}}"]


def test_ls_details(unit):
    assert ddb(unit, "ls", "-d").stdout.splitlines()[1] == f"[0] {C1}"
    assert ddb(unit, "ls", "-d", "/[0]").stdout.splitlines()[1] == \
        "[0] '281479271743488.4294967296' (type: DAOS_OT_MULTI_HASHED, groups: 1)"
    assert ddb(unit, "ls", "-d", "/[0]/[0]").stdout.splitlines()[1] == "[0] 'dkey-1' (6)"
    lines = ddb(unit, "ls", "-d", "-r", "/[0]/[0]/[0]").stdout.splitlines()
    assert lines[1:5] == ["[0] 'akey-1' (6) (ARRAY)",
                          " [0] Array Value (Length: 10 records, Record Indexes: {9-18}, Record Size: 1, Epoch: 2606400000000000000)",
                          "[1] 'akey-10' (7) (SV)",
                          " [0] Single Value (Length: 21 bytes, Epoch: 2606400000000000000)"]


def test_ls_typed_keys(small):
    r = ddb(small, "ls", "-r")
    assert "/{uint64:0x0}" in r.stdout and "/{uint64:0x3}" in r.stdout
    assert "/a key\\/with slash" in r.stdout and "/{bin(3):0x00ff10}" in r.stdout
    for line in r.stdout.splitlines()[1:]:                    # every printed path resolves again
        path = line.split(") ", 1)[1]
        again = ddb(small, "ls", path)
        assert again.exit_code == 0, (path, again.stderr)


@pytest.mark.parametrize("path,message", [
    ("99999999-9999-9999-9999-999999999999", "Container is invalid"),
    (f"{C1}/9999.99999/", "Object is invalid"),
    (f"{C1}/1.2.3.4", "Object is invalid"),
    ("/[0]/[0]/nokey", "DKEY is invalid"),
    ("/[0]/[0]/[0]/nokey", "AKEY is invalid"),
    ("/[0]/[0]/[0]/[0]/{1-2}", "RECX is invalid"),
    ("/[0]/[0]/[0]/[1]/[0]", "RECX is invalid"),
    ("/[0]/[0]/[0]/{bin:0x1}", "AKEY is invalid"),
])
def test_ls_path_errors(unit, path, message):
    r = ddb(unit, "ls", path)
    assert r.exit_code == 1
    assert r.stdout == message + "\n"
    assert r.stderr.startswith("ERROR: ddb: DER_INVAL(-1003): Invalid parameters")


def test_too_many_parts(unit):
    r = ddb(unit, "ls", "/[0]/[0]/[0]/[0]/[0]/[0]")
    assert r.exit_code == 1 and r.stdout == "" and "too many parts" in r.stderr


# --- value_dump / superblock_dump --------------------------------------------

def test_value_dump_screen(unit):
    r = ddb(unit, "value_dump", "/[0]/[0]/[0]/[2]")
    assert r.stdout == (f"AKEY: (/[0]/[0]/[0]/[2]) /{C1}/{O0}/dkey-1/akey-2\n"
                        "Value (size: 20):\nSingle value 0.0.1.2\n")
    r = ddb(unit, "value_dump", "/[0]/[0]/[0]/[0]/[0]")
    assert r.stdout.splitlines()[1:] == ["Value (size: 10):", "0011abcdef"]


def test_value_dump_to_file_byte_for_byte(small, tmp_path):
    img = export_image(os.path.dirname(os.path.dirname(small)))
    wanted = {}
    for c in img["pools"][0]["containers"]:
        for o in c["objects"]:
            for d in o["dkeys"]:
                for a in d["akeys"]:
                    for v in a.get("sv", []):
                        wanted[(c["uuid"], o["oid"], json.dumps(d["key"]), json.dumps(a["key"]))] = v
    big = [k for k, v in wanted.items() if len(v.get("hex", "")) == 200000]
    assert big
    cu, oid, dk, ak = big[0]
    dst = tmp_path / "out.bin"
    r = ddb(small, "value_dump", f"{cu}/{oid}/{json.loads(dk)}/{json.loads(ak)}", str(dst))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1] == f"Dumping value (size: 100000) to: {dst}"
    assert dst.read_bytes().hex() == wanted[big[0]]["hex"]   # read from the NVMe blob via SMD


def test_value_dump_binary_and_errors(small, tmp_path):
    r = ddb(small, "ls", "-r")
    binline = [l for l in r.stdout.splitlines() if "{bin(3):0x00ff10}" in l and l.strip().startswith("AKEY")][0]
    path = binline.split(") ", 1)[1]
    r = ddb(small, "value_dump", path)
    assert r.stdout.splitlines()[1:] == ["Value (size: 4):", "deadbeef"]
    r = ddb(small, "value_dump", "/[0]")
    assert r.exit_code == 1 and "Path [/[0]] is incomplete" in r.stderr
    r = ddb(small, "value_dump")                        # DAOS: path is a required argument
    assert r.exit_code == 1 and r.stderr == "ERROR: ddb: missing argument 'path'\n"
    r = ddb(small, "value_dump", "")
    assert r.exit_code == 1 and r.stderr.startswith("A VOS path to dump is required.\n")
    r = ddb(small, "value_dump", path, str(tmp_path / "no" / "such" / "dir" / "f"))
    assert r.exit_code == 1 and "Unable to open path" in r.stderr


def test_superblock_dump(unit, small):
    r = ddb(unit, "superblock_dump")
    assert r.stdout.splitlines() == [
        "Pool UUID: 12345678-1234-1234-1234-123456789012", "Format Version: 1", "Containers: 10",
        "Compat Flags: 0", "Incompat Flags: 0", "SCM Size: 1GB", "NVME Size: 0B",
        "Block Size: 0B", "Reserved Blocks: 0", "Block Device Capacity: 0B"]
    lines = ddb(small, "superblock_dump").stdout.splitlines()
    assert lines[6:] == ["NVME Size: 64MB", "Block Size: 4KB", "Reserved Blocks: 1",
                         "Block Device Capacity: 63MB"]


# --- JSON --------------------------------------------------------------------------

def test_json_output(unit, tmp_path):
    docs = [json.loads(line) for line in ddb("--json", unit, "ls", "-r", "/[0]/[0]/[0]").stdout.splitlines()]
    assert docs[0] == {"listing": f"DKEY: (/[0]/[0]/[0]) /{C1}/{O0}/dkey-1"}
    assert docs[1]["level"] == "AKEY" and docs[1]["kind"] == "array" and docs[1]["indexes"] == "/[0]/[0]/[0]/[0]"
    assert docs[2]["level"] == "RECX" and docs[2]["lo"] == 9 and docs[2]["hi"] == 18
    sb = json.loads(ddb("--json", unit, "superblock_dump").stdout)
    assert sb["containers"] == 10 and sb["pool_uuid"] == "12345678-1234-1234-1234-123456789012"
    v = json.loads(ddb("--json", unit, "value_dump", "/[0]/[0]/[0]/[2]").stdout)
    assert bytes.fromhex(v["hex"]) == b"Single value 0.0.1.2" and v["size"] == 20
    assert json.loads(ddb("--json", "version").stdout)["version"]
    out = tmp_path / "v"
    d = json.loads(ddb("--json", unit, "value_dump", "/[0]/[0]/[0]/[2]", str(out)).stdout)
    assert d["dst"] == str(out) and out.read_bytes() == b"Single value 0.0.1.2"


# --- safety -------------------------------------------------------------------------

def test_read_only_runs_change_nothing(unit):
    root = os.path.dirname(os.path.dirname(unit))
    before = file_state(root)
    for args in (["ls", "-r"], ["superblock_dump"], ["value_dump", "/[0]/[0]/[0]/[2]"]):
        assert ddb(unit, *args).exit_code == 0
    assert file_state(root) == before


def test_corrupt_shard_gives_one_line(unit, tmp_path):
    root = tmp_path / "img"
    shutil.copytree(os.path.dirname(os.path.dirname(unit)), root)
    shard = list_shards(str(root))[0]
    with open(shard, "r+b") as f:
        f.seek(4 * 4096 + 100)
        f.write(b"\xff\xff\xff")
    r = ddb(shard, "ls", "-r")
    assert r.exit_code == 1
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "checksum mismatch" in err[0] and "offset 0x4000" in err[0]
    assert "Traceback" not in r.stderr


# --- real processes ----------------------------------------------------------------

def test_console_script_and_module(unit):
    exe = shutil.which("ddb", path=os.path.dirname(sys.executable))
    runs = [[sys.executable, "-m", "ddb", unit, "ls"]]
    if exe:
        runs.append([exe, unit, "ls"])
    for cmd in runs:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert p.returncode == 0 and p.stdout.startswith("Listing contents of '/'\nCONT: (/[0])")
    p = subprocess.run([sys.executable, "-m", "ddb", unit, "ls", "/[0]/[77]"], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 1 and p.stdout == "Object is invalid\n"


def test_one_shot_does_not_import_prompt_toolkit(unit):
    code = ("import sys\nfrom ddb.cli import main\nrc = main([sys.argv[1], 'ls'])\n"
            "assert 'prompt_toolkit' not in sys.modules, 'prompt_toolkit imported'\n"
            "assert 'tabulate' not in sys.modules\nsys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", code, unit], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr


# --- the command manifest -------------------------------------------------------------

DAOS_SELF_MANAGED = {"feature", "open", "close", "smd_sync", "rm_pool", "dev_list", "dev_replace"}


def test_manifest_rows_and_modules_agree():
    """Each row's module defines exactly the commands whose rows name it, and every command
    module is named by some row: the manifest cannot disagree with the code."""
    import importlib
    import pkgutil

    import ddb.commands
    from ddb.commands import TABLE, defined_commands
    from ddb.manifest import BY_NAME, ROWS
    assert len(BY_NAME) == len(ROWS)
    modules = {m.name for m in pkgutil.iter_modules(ddb.commands.__path__)}
    assert {row.module for row in ROWS} <= modules
    for m in modules:                                   # helper modules define none, have none
        defined = defined_commands(importlib.import_module(f"ddb.commands.{m}"))
        assert set(defined) == {row.name for row in ROWS if row.module == m}, m
        assert all(TABLE[name] is cmd for name, cmd in defined.items())
    assert list(TABLE) == [row.name for row in ROWS]


def test_self_managed_commands_are_daos_ddbs_and_ours():
    """DAOS ddb's list (prov_mem is not built), plus smd and check, which read the image
    around the shard, and system_dump, the system around it: with -s, none of them opens the
    shard first."""
    from ddb.manifest import ROWS
    assert {row.name for row in ROWS if row.self_managed} == \
        DAOS_SELF_MANAGED | {"smd", "check", "system_dump"}


def test_self_managed_commands_do_not_open_the_vos_file(unit, tmp_path):
    missing = str(tmp_path / "12345678-1234-1234-1234-123456789012" / "vos-0")
    root = os.path.dirname(os.path.dirname(unit))
    r = ddb("-s", missing, "-p", root, "smd")            # smd reads -p's sys db, opens no shard
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith(f"SMD sys db at {root} (version 1)")
    r = ddb("-s", missing, "dev_list", root)
    assert r.exit_code == 0 and r.stdout.startswith(f"List devices, db_path='{root}'")
    r = ddb("-s", missing, "ls")
    assert r.stderr.startswith(f"ERROR: ddb: Error opening VOS path '{missing}': DER_NONEXIST")


def test_one_shot_loads_only_the_module_of_its_command(unit):
    code = ("import sys\nfrom ddb.cli import main\nrc = main([sys.argv[1], 'ls'])\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('ddb.commands.'))\n"
            "assert loaded == ['ddb.commands.common', 'ddb.commands.tree'], loaded\nsys.exit(rc)\n")
    p = subprocess.run([sys.executable, "-c", code, unit], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert p.returncode == 0, p.stderr


# --- first contact -------------------------------------------------------------------------

UNKNOWN = "ERROR: ddb: Unknown command: '{}'. Run 'help' to see available commands.\n"


def test_a_lone_unknown_word_is_an_unknown_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args, word in ((["lss"], "lss"), (["foo", "--help"], "foo"), (["-w", "lss", "-r"], "lss")):
        r = ddb(*args)
        assert r.exit_code == 1 and r.stderr.startswith(UNKNOWN.format(word)), args
        assert "Available Commands:" in r.stderr
    r = ddb("lss", "ls")                                 # a word before a command is the VOS file
    assert r.exit_code == 1 and r.stderr.endswith(
        "ERROR: ddb: Error opening VOS path 'lss': DER_INVAL(-1003): Invalid parameters\n")
    (tmp_path / "lss").write_text("")                    # an existing file is the VOS file
    r = ddb("lss")
    assert r.exit_code == 1 and "Error opening VOS path 'lss'" in r.stderr


def test_help_after_the_vos_file(unit):
    assert ddb(unit, "--help").stdout == ddb("--help").stdout
    assert ddb(unit, "-h", "ls").stdout == ddb("ls", "--help").stdout


def test_required_path_in_usage_lines():
    """DAOS ddb shows path as required for these (and grumble says which argument is missing)."""
    for name in ("value_dump", "ilog_dump", "ilog_commit", "ilog_clear", "dtx_dump",
                 "dtx_cmt_clear", "csum_dump"):
        usage = ddb(name, "--help").stdout.split("Usage:\n", 1)[1].splitlines()[0]
        assert usage.startswith(f"  {name} [flags] path"), usage
        r = ddb(name)
        assert r.exit_code == 1 and r.stderr == "ERROR: ddb: missing argument 'path'\n", name


def test_group_help_in_ddbs_style():
    """A DdbGroup (the check command's class) prints Usage / Flags / Commands like every
    other command; its subcommands print Usage / Args / Flags."""
    import click

    from ddb.registry import DdbGroup

    @click.group("grp", cls=DdbGroup, short_help="A group.",
                 context_settings={"help_option_names": ["-h", "--help"]})
    def grp():
        """A group of things."""

    @grp.command("sub")
    @click.option("-D", "--db", default="", help="The image.")
    @click.argument("targets", nargs=-1)
    def sub(db, targets):
        """Do one thing."""
    out = CliRunner().invoke(grp, ["--help"]).output
    assert out == ("\nA group of things.\n\nUsage:\n  grp [flags] command\n\nFlags:\n"
                   "  -h, --help  display help\n\nCommands:\n  sub  Do one thing.\n")
    out = CliRunner().invoke(grp, ["sub", "-h"]).output
    assert out == ("\nDo one thing.\n\nUsage:\n  grp sub [flags] [targets...]\n\nArgs:\n"
                   "  targets  string\n\nFlags:\n  -h, --help       display help\n"
                   "  -D, --db string  The image.\n")


# --- one error path --------------------------------------------------------------------------

def test_vos_errors_are_worded_by_type_in_one_place():
    from ddb.errors import DdbError, failing_as, user_error
    from vosfmt import CorruptionError, NotFoundError, TransactionError
    from vosfmt.paths import ShardPathTooLong
    assert user_error(NotFoundError("no x")).message == \
        "DER_NONEXIST(-1005): The specified entity does not exist: no x"
    assert user_error(TransactionError("bad"), "Doing: ").message == \
        "Doing: DER_INVAL(-1003): Invalid parameters: bad"
    e = user_error(ShardPathTooLong("too long"))
    assert (e.message, e.stderr) == ("DER_EXCEEDS_PATH_LEN(-1042): Path name exceeds permitted length",
                                     ["too long"])
    assert user_error(NotFoundError("x")).status == 1
    assert user_error(NotFoundError("x"), status=8).status == 8    # check: e2fsck's exit 8
    with pytest.raises(DdbError) as got, failing_as("Unable to x: "):
        raise CorruptionError("bad magic", offset=16)
    assert got.value.message == "Unable to x: bad magic: at offset 0x10"


def test_no_command_words_a_vos_error_itself():
    """A VosError becomes the user's error through ddb.errors (user_error, failing_as) only:
    no handler of VosError in ddb builds a DdbError of its own."""
    import ast
    bad = []
    for d, _, files in os.walk(os.path.join(ROOT, "ddb")):
        for f in files:
            path = os.path.join(d, f)
            if not f.endswith(".py") or os.sep + "checker" + os.sep in path:
                continue
            with open(path) as fh:
                tree = ast.parse(fh.read())
            for h in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)):
                if h.type is None or "VosError" not in ast.dump(h.type):
                    continue
                if any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "DdbError"
                       for n in ast.walk(h)):
                    bad.append(f"{os.path.relpath(path, ROOT)}:{h.lineno}")
    assert not bad


def test_long_help_texts_are_filled_to_80_columns():
    """A description longer than a terminal line is filled, paragraph by paragraph; the
    usage, argument and flag rows keep DAOS ddb's layout."""
    for argv in (["check", "--help"], ["vea_update", "--help"], ["check", "start", "--help"]):
        out = ddb(*argv).stdout
        description = out.split("\nUsage:", 1)[0].strip("\n").splitlines()
        assert description and all(len(line) <= 80 for line in description), argv
    start = ddb("check", "start", "--help").stdout
    assert "  targets  string  Shard files or pool directories to check (default: all)." in start
    assert ddb("ls", "--help").stdout.startswith(
        "\nList containers, objects, dkeys, akeys, and values\n\nUsage:\n  ls [flags] [path]\n")
