"""Command-line error paths and write discipline (audit issue 12), through the entry point.

Each test names the audit item it pins down: write mode and dry runs of the
sys-db commands (4), one clean error for damaged shards (19), sizes checked
before a path part is built (20), linear and clean command-file splitting
(21), and one JSON document per failing command under --json (22).
"""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from conftest import file_state
from ddb.cli import cli
from vosfmt.image import list_shards
from vosfmt.keys import uuid_str
from vosfmt.smd import SysDb

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
