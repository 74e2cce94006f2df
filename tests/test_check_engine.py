"""The checker's engine and `ddb check` as an operator meets them: links planted where it
writes, no terminal, directories that are not images, read-only images, crashes, a full
file system, and `check stop` of a running scan (issue 12)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from ddb.checker.dryrun import STATE_ENV
from ddb.checker.exits import EXIT_ERROR, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT, EXIT_USAGE
from ddb.checker.imagelock import ImageLock, image_in_use
from ddb.checker.problems import Code
from ddb.checker.store import store_path
from ddb.cli import cli
from fixtures import build
from fixtures.corrupt import inject
from support import file_state
from vosfmt.image import list_shards

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSUM = Code.VALUE_CSUM_MISMATCH          # default TRUST_TARGET, DISCARD by policy
CLI = [sys.executable, "-c", "import sys; from ddb.cli import main; sys.exit(main(sys.argv[1:]))"]


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def tree(root: str) -> dict:
    """Every path below root (directories and links too) with its content hash and mtime."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[p] = (st.st_mode, st.st_mtime_ns, st.st_size)
    state = file_state(root)
    return {p: (v, state.get(p)) for p, v in out.items()}


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))


@pytest.fixture
def damaged(image_copy):
    root = image_copy("small")
    inject(root, CSUM, seed=0)
    return root


# --- 1: nothing is written through a link ------------------------------------------------------
def test_a_linked_lock_file_is_replaced_not_followed(damaged, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, os.path.join(damaged, "daos_sys", "check.lock"))
    for mode in ("-n", "-y"):
        ddb("check", "start", mode, "-D", damaged)
        assert victim.read_text() == "precious", mode
    assert os.path.isdir(store_path(damaged)) and not os.path.islink(store_path(damaged))


def test_a_linked_report_store_is_refused(damaged, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, store_path(damaged))
    for args in (["start", "-y"], ["set-policy", "CSUM_FAILURE:DISCARD"], ["repair", "0x1000", "0"]):
        r = ddb("check", *args, "-D", damaged)
        assert r.exit_code == EXIT_ERROR and "symbolic link" in r.stderr, (args, r.stderr)
    assert os.listdir(elsewhere) == []


# --- 5: no terminal means -n, unless an answer mode or -a is given ------------------------------
def test_without_a_terminal_a_check_only_reports(damaged):
    assert ddb("check", "set-policy", "CSUM_FAILURE:DISCARD", "-D", damaged).exit_code == 0
    before = tree(damaged)
    r = ddb("check", "start", "-D", damaged, input="")
    assert r.exit_code == EXIT_LEFT and "DISCARD (dry run)" in r.stdout
    assert "no terminal to ask" in r.stderr and "MODIFIED" not in r.stdout
    assert tree(damaged) == before


def test_auto_on_ignores_what_it_would_ask_and_auto_off_leaves_it_pending(damaged):
    ddb("check", "set-policy", "CSUM_FAILURE:INTERACT", "-D", damaged)
    r = ddb("check", "start", "-a", "on", "-D", damaged)
    assert r.exit_code == EXIT_LEFT and ": IGNORE" in r.stdout
    r = ddb("check", "start", "-a", "off", "-D", damaged)
    assert r.exit_code == EXIT_LEFT and ": PENDING" in r.stdout


@pytest.mark.parametrize("flags, tty, expected", [
    ((False, False, False, None), False, ("default", True)),      # nobody to ask: -n
    ((False, False, False, None), True, ("interactive", False)),
    ((False, False, False, True), False, ("default", False)),     # -a on: policies, never ask
    ((False, False, False, False), False, ("default", False)),    # -a off: pending for repair
    ((False, False, False, False), True, ("interactive", False)),
    ((False, True, False, None), False, ("yes", False)),
    ((False, False, True, None), False, ("preen", False)),
    ((True, False, False, None), True, ("default", True)),
])
def test_answer_mode_rules(flags, tty, expected):
    from ddb.commands.check import _answer_mode
    assert _answer_mode(*flags, tty)[:2] == expected


# --- 6: a directory that is not an image ----------------------------------------------------------
@pytest.mark.parametrize("args", [["start", "-n"], ["start", "-y"], ["query"], ["stop"], ["get-policy"],
                                  ["set-policy", "CSUM_FAILURE:DISCARD"], ["repair", "0x1000", "0"]])
def test_a_directory_that_is_not_an_image_is_an_error_and_nothing_is_created(image_copy, tmp_path, args):
    root = image_copy("small")
    pool_dir = os.path.dirname(list_shards(root)[0])
    missing = str(tmp_path / "missing")
    for where in (missing, pool_dir, str(tmp_path / "state")):
        os.makedirs(str(tmp_path / "state"), exist_ok=True)
        before = tree(where) if os.path.exists(where) else None
        r = ddb("check", args[0], "-D", where, *args[1:])
        assert r.exit_code == EXIT_ERROR, (where, r.stdout, r.stderr)
        assert r.stderr.startswith("ERROR: ddb: ") and r.stderr.count("\n") == 1
        assert (tree(where) if os.path.exists(where) else None) == before


def test_an_image_without_its_sys_db_is_still_checked(image_copy):
    root = image_copy("small")
    shutil.rmtree(os.path.join(root, "daos_sys"))
    before = tree(root)
    r = ddb("check", "start", "-n", "-D", root)
    assert r.exit_code == EXIT_LEFT and "SMD_DB_UNREADABLE" in r.stdout and "no SMD sys db" in r.stdout
    assert tree(root) == before
    r = ddb("check", "start", "-y", "-D", root)
    assert r.exit_code == EXIT_FIXED
    assert ddb("check", "start", "-n", "-D", root).exit_code == 0


# --- 7: -n writes nothing: a read-only image can be checked ----------------------------------------
def test_dry_run_changes_no_byte_no_mtime_and_creates_nothing(damaged):
    ddb("check", "start", "-y", "-D", damaged)            # a store exists, as after a real run
    inject(damaged, Code.PAGES_LEAKED, seed=0)
    before = tree(damaged)
    r = ddb("check", "start", "-n", "-D", damaged)
    assert r.exit_code == EXIT_LEFT and "PAGES_LEAKED" in r.stdout and "MODIFIED" not in r.stdout
    assert tree(damaged) == before
    q = json.loads(ddb("check", "query", "--json", "-D", damaged).stdout)  # the report is kept
    assert q["instance"]["dry_run"] and [x["name"] for x in q["reports"]] == ["PAGES_LEAKED"]
    assert tree(damaged) == before


def test_dry_run_exit_status_is_honest(image_copy, damaged):
    clean = image_copy("unit")
    r = ddb("check", "start", "-n", "-D", clean)
    assert r.exit_code == 0 and "0 finding(s)" in r.stdout
    assert ddb("check", "start", "-n", "-D", damaged).exit_code == EXIT_LEFT
    r = ddb("check", "start", "-y", "-D", damaged)
    assert r.exit_code == EXIT_FIXED and "***** STORAGE IMAGE WAS MODIFIED *****" in r.stdout
    r = ddb("check", "start", "-y", "-D", damaged)
    assert r.exit_code == 0 and "MODIFIED" not in r.stdout


def _as_nobody():
    def drop():
        os.setgid(65534)
        os.setuid(65534)
    return drop


def test_read_only_image_dry_run(damaged, tmp_path):
    ddb("check", "set-policy", "CSUM_FAILURE:DISCARD", "-D", damaged)      # a store in the image
    ro = tmp_path / "ro"
    shutil.copytree(damaged, ro)
    state = tmp_path / "nobody-state"
    state.mkdir()
    for p in (tmp_path, ro):
        os.chmod(p, 0o755)
    subprocess.run(["chmod", "-R", "a-w", str(ro)], check=True)
    before = tree(str(ro))
    env = dict(os.environ, **{STATE_ENV: str(state), "HOME": str(state)})
    user = None
    if os.geteuid() == 0:
        os.chown(state, 65534, 65534)
        try:        # as a user who cannot write the image, when that user can run Python here
            probe = subprocess.run([sys.executable, "-c", "import ddb.cli"], cwd=REPO, env=env,
                                   preexec_fn=_as_nobody(), capture_output=True)
            user = _as_nobody() if probe.returncode == 0 else None
        except OSError:
            user = None
    try:
        p = subprocess.run(CLI + ["check", "start", "-n", "-D", str(ro)], cwd=REPO, env=env,
                           preexec_fn=user, capture_output=True, text=True, timeout=120)
        assert p.returncode == EXIT_LEFT, p.stderr
        assert "DISCARD (dry run)" in p.stdout                      # the image's stored policy
        assert tree(str(ro)) == before
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(ro)], check=True)


def test_dry_run_and_writer_exclude_each_other(damaged):
    lead = ImageLock(damaged, exclusive=True, wait=0)
    try:
        r = ddb("check", "start", "-n", "-D", damaged)
        assert r.exit_code == EXIT_ERROR and f"led by pid {os.getpid()}" in r.stderr
    finally:
        lead.release()
    reader = ImageLock(damaged, exclusive=False)           # a dry run in progress
    try:
        before = tree(damaged)
        r = ddb("check", "start", "-y", "-D", damaged)
        assert r.exit_code == EXIT_ERROR and "read-only check" in r.stderr
        assert tree(damaged) == before
    finally:
        reader.release()


# --- 8: every failure is exit 8 with one line ------------------------------------------------------
def test_a_crash_is_exit_8_with_one_line(damaged, monkeypatch):
    from ddb.checker import engine

    def boom(*a, **kw):
        raise RuntimeError("boom")
    monkeypatch.setattr(engine.Checker, "_check_shard", boom)
    r = ddb("check", "start", "-y", "-D", damaged)
    assert r.exit_code == EXIT_ERROR
    assert r.stderr == "ERROR: ddb: internal error: RuntimeError: boom\n"
    r = ddb("--debug", "check", "start", "-y", "-D", damaged)
    assert r.exit_code == EXIT_ERROR and "Traceback" in r.stderr and "RuntimeError: boom" in r.stderr
    monkeypatch.setattr(engine.Checker, "_check_shard", lambda *a, **k: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied", "/x/daos_sys")))
    r = ddb("check", "start", "-y", "-D", damaged)
    assert r.exit_code == EXIT_ERROR and r.stderr == "ERROR: ddb: Permission denied: /x/daos_sys\n"


def test_a_bug_outside_the_check_group_is_still_exit_8_never_1(damaged, monkeypatch, capsys):
    """A bug that escapes to ddb's last line of defence (here: before the check group's
    own handler runs) must not exit 1, which for check means 'errors corrected'."""
    from ddb import cli

    def broken(args):
        raise NameError("name 'X' is not defined")
    monkeypatch.setattr(cli, "run", broken)
    assert cli.main(["check", "start", "-y", "-D", damaged]) == EXIT_ERROR
    assert "internal error: NameError" in capsys.readouterr().err
    assert cli.main([damaged + "/x", "ls"]) == 1                     # other commands: 1


def test_usage_errors_are_16(damaged):
    assert ddb("check", "start", "--bogus", "-D", damaged).exit_code == EXIT_USAGE
    assert ddb("check", "start", "-p", "CSUM_FAILURE:CIA_NOPE", "-D", damaged).exit_code == EXIT_USAGE
    assert ddb("check", "repair", "-D", damaged, "zz", "0").exit_code == EXIT_USAGE


# --- 9: a full file system is a clean error -------------------------------------------------------
@pytest.fixture
def tiny_fs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _fill(mnt: str, leave_kib: int) -> None:
    fill = os.path.join(mnt, "fill")
    if os.path.exists(fill):
        os.unlink(fill)
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize - leave_kib * 1024
    with open(fill, "wb") as f:
        try:
            f.write(b"\0" * max(free, 0))
        except OSError:
            pass


def test_a_full_file_system_is_exit_8_never_a_crash(tiny_fs):
    root = os.path.join(tiny_fs, "img")
    build("small", root)
    inject(root, Code.PAGES_LEAKED, seed=0)
    for leave in (0, 4, 8, 12, 16, 24, 32, 48, 64):
        shutil.rmtree(store_path(root), ignore_errors=True)
        _fill(tiny_fs, leave)
        p = subprocess.run(CLI + ["check", "start", "-y", "-D", root], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
        assert p.returncode in (EXIT_ERROR, EXIT_FIXED), (leave, p.returncode, p.stderr)
        if p.returncode == EXIT_ERROR:
            assert p.stderr.startswith("ERROR: ddb: ") and "internal error" not in p.stderr, p.stderr
            assert "space" in p.stderr, p.stderr
            break
    os.unlink(os.path.join(tiny_fs, "fill"))
    assert ddb("check", "start", "-y", "-D", root).exit_code == EXIT_FIXED    # nothing lost


def test_the_sys_db_on_a_full_file_system_is_a_space_error(tiny_fs):
    code = ("import sys\n"
            "from vosfmt.errors import SpaceError, VosError\n"
            "from vosfmt.smd import SysDb\n"
            "try:\n"
            "    with SysDb(sys.argv[1], write=True, create=True) as db:\n"
            "        pass\n"
            "except SpaceError as e:\n"
            "    print('space:', e); sys.exit(3)\n"
            "except VosError as e:\n"
            "    print('error:', e); sys.exit(4)\n")
    roots = [os.path.join(tiny_fs, f"r{i}") for i in range(5)]
    for r in roots:
        os.mkdir(r)
    for leave, r in zip((0, 4, 8, 16, 32), roots):
        _fill(tiny_fs, leave)
        p = subprocess.run([sys.executable, "-c", code, r], cwd=REPO, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode in (0, 3, 4), (leave, p.returncode, p.stderr)   # never SIGBUS (-7)
        assert p.returncode != 4 or "No space" in p.stdout, p.stdout


# --- 23: check stop ends a running scan at once, resumably -----------------------------------------
SLOW_LEADER = (
    "import sys, time\n"
    "from ddb.checker import scan\n"
    "walk = scan.ShardScan.walk\n"
    "def slow(self, *a, **k):\n"
    "    time.sleep(float(sys.argv[1]))\n"
    "    return walk(self, *a, **k)\n"
    "scan.ShardScan.walk = slow\n"
    "from ddb.cli import main\n"
    "sys.exit(main(['check', 'start', '-y', '-D', sys.argv[2]]))\n")


def _stop_running_check(root: str, delay: float):
    leader = subprocess.Popen([sys.executable, "-c", SLOW_LEADER, str(delay), root], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (image_in_use(root) and os.path.isdir(store_path(root))):
            assert leader.poll() is None and time.monotonic() < deadline, leader.communicate()
            time.sleep(0.05)
        time.sleep(0.5)                                 # well into the scan
        stop = subprocess.run(CLI + ["check", "stop", "-D", root], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        out, err = leader.communicate(timeout=60)
    finally:
        if leader.poll() is None:
            leader.kill()
    assert stop.returncode == 0 and stop.stdout == "Checker status: STOPPED\n", stop.stderr
    assert leader.returncode & EXIT_INTERRUPTED and "check stopped" in err, (leader.returncode, err)
    q = json.loads(ddb("check", "query", "--json", "-D", root).stdout)
    assert q["status"] == "STOPPED"
    r = ddb("check", "start", "-y", "-D", root)
    assert r.exit_code in (0, EXIT_FIXED), r.stderr
    q = json.loads(ddb("check", "query", "--json", "-D", root).stdout)
    assert q["status"] == "COMPLETED" and q["instance"]["resumed_from"] == "STOPPED"


def test_stop_ends_a_running_shard_scan(built, tmp_path):
    root = str(tmp_path / "unit")
    shutil.copytree(built("unit"), root)                # ~11000 trees: minutes at 20 ms each
    _stop_running_check(root, 0.02)


def test_stop_ends_parallel_scans(tmp_path):
    root = str(tmp_path / "img")
    build({"targets": 2, "containers": [{"target": t, "objects": [{"dkeys": [{"key": f"d{i}", "akeys": [
        {"key": "a", "sv": [{"epoch": 5, "random": 100}]}]} for i in range(20)]}]} for t in range(2)]},
          root)
    _stop_running_check(root, 0.5)
