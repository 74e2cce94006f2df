"""`ddb check start -j N`: how many processes scan an image's shards (issue 16, all cores).

The job count changes who scans, never what a check finds, repairs, reports or
exits with; a stop request still ends every worker, and none outlives its leader.
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from ddb.checker.dryrun import STATE_ENV
from ddb.checker.exits import EXIT_CLEAN, EXIT_FIXED, EXIT_INTERRUPTED, EXIT_LEFT, EXIT_USAGE
from ddb.checker.imagelock import image_in_use
from ddb.checker.parallel import scan_in_parallel, usable_cores, worker_count
from ddb.checker.store import store_path
from fixtures import build, inject_shard, inject_space, preset
from fixtures.corrupt import inject
from support import sparse_copy
from vosfmt.image import list_shards

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = [sys.executable, "-m", "ddb"]
VARYING = {"start_time", "stop_time", "started", "finished", "timestamp", "leader", "since", "image"}


@pytest.fixture(scope="module")
def three_damaged_shards(tmp_path_factory):
    """The small preset's containers over three shards, one problem planted in each."""
    root = str(tmp_path_factory.mktemp("jobs") / "img")
    spec = preset("small")
    c0, c1 = spec["containers"]
    spec.update(targets=3, containers=[dict(c0, target=0), dict(c1, target=1),
                                       dict(copy.deepcopy(c0), target=2)])
    build(spec, root)
    shards = list_shards(root)
    inject(root, "VALUE_CSUM_MISMATCH")                 # the first shard
    mp = pytest.MonkeyPatch()
    with mp.context() as m:                             # the injectors damage the first shard
        m.setattr(inject_space, "first_shard", lambda r: shards[1])
        inject(root, "PAGES_LEAKED")
        m.setattr(inject_shard, "first_shard", lambda r: shards[2])
        inject(root, "SB_COPY_DAMAGED")
    return root


def _run(*args, env=None, **kw):
    return subprocess.run(CLI + list(args), cwd=REPO, capture_output=True, text=True, timeout=120,
                          env=env, **kw)


def _scrubbed(doc, root: str):
    """A query document without what differs from run to run (times, pids, the copy's path)."""
    if isinstance(doc, dict):
        return {k.replace(root, "IMAGE"): _scrubbed(v, root) for k, v in doc.items()
                if k not in VARYING}
    if isinstance(doc, list):
        return [_scrubbed(v, root) for v in doc]
    return doc.replace(root, "IMAGE") if isinstance(doc, str) else doc


def _check(src: str, work, mode: str, jobs: int) -> list:
    """Exit status, stdout and scrubbed query of each start (then one more) of a fresh copy."""
    root = str(work / f"{mode}-j{jobs}")
    sparse_copy(src, root)
    env = {**os.environ, STATE_ENV: str(work / f"state-j{jobs}")}
    out = []
    for _ in range(2):          # the second start verifies what the first one repaired
        r = _run("check", "start", mode, "-j", str(jobs), "-D", root, env=env)
        q = json.loads(_run("check", "query", "--json", "-D", root, env=env).stdout)
        out.append((r.returncode, r.stdout.replace(root, "IMAGE"), _scrubbed(q, root)))
    return out


@pytest.mark.parametrize("mode, first, second", [("-n", EXIT_LEFT, EXIT_LEFT),
                                                 ("-y", EXIT_FIXED, EXIT_CLEAN)])
def test_one_job_and_two_find_repair_and_report_alike(three_damaged_shards, tmp_path, mode, first,
                                                      second):
    one = _check(three_damaged_shards, tmp_path, mode, 1)
    two = _check(three_damaged_shards, tmp_path, mode, 2)
    assert one == two
    assert [rc for rc, _, _ in one] == [first, second]
    names = sorted(f["name"] for f in one[0][2]["reports"])
    assert names == ["PAGES_LEAKED", "SB_COPY_DAMAGED", "VALUE_CSUM_MISMATCH"]


@pytest.mark.parametrize("value, why", [("0", "0 processes: give 1 or more"),
                                        ("-2", "-2 processes: give 1 or more"),
                                        ("two", "'two' is not a valid integer.")])
def test_a_job_count_below_one_is_a_usage_error(three_damaged_shards, value, why):
    r = _run("check", "start", "-n", "-j", value, "-D", three_damaged_shards)
    assert r.returncode == EXIT_USAGE
    assert r.stderr == f"ERROR: ddb: Invalid value for '-j' / '--jobs': {why}\n"


def test_help_names_the_option():
    r = _run("check", "start", "--help")
    assert "-j, --jobs" in r.stdout and "one per core" in r.stdout


def test_the_worker_count_is_bounded_by_shards_and_jobs():
    assert worker_count(None, 64) == min(64, usable_cores())
    assert worker_count(8, 3) == 3 and worker_count(2, 5) == 2 and worker_count(1, 5) == 1
    assert worker_count(None, 1) == 1


def test_one_job_scans_in_this_process(three_damaged_shards):
    """-j1: the leader scans every shard itself (nothing comes back from workers)."""
    assert scan_in_parallel(three_damaged_shards, list_shards(three_damaged_shards), jobs=1) == {}


SLOW_LEADER = (
    "import sys, time\n"
    "from ddb.checker import scan\n"
    "walk = scan.ShardScan.walk\n"
    "def slow(self, *a, **k):\n"
    "    time.sleep(float(sys.argv[2]))\n"
    "    return walk(self, *a, **k)\n"
    "scan.ShardScan.walk = slow\n"
    "from ddb.cli import main\n"
    "sys.exit(main(['check', 'start', '-y', '-j', '2', '-D', sys.argv[1]]))\n")


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment holds ``marker`` (forked workers inherit it)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


def _leader_with_workers(src: str, tmp_path, delay: float):
    """(root, marker, leader): a ``check start -y -j 2`` of a copy of ``src`` that walks each
    tree ``delay`` s late, once its two workers are scanning; every process of it has
    ``marker`` in its environment."""
    root = str(tmp_path / "img")
    sparse_copy(src, root)
    marker = f"DDB_JOBS_TEST={uuid.uuid4()}"
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    leader = subprocess.Popen([sys.executable, "-c", SLOW_LEADER, root, str(delay)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (image_in_use(root) and os.path.isdir(store_path(root))
               and len(_processes_with(marker)) >= 3):      # the leader and two workers
        if leader.poll() is not None or time.monotonic() > deadline:
            leader.kill()
            pytest.fail(f"no workers: {leader.communicate()}")
        time.sleep(0.05)
    return root, marker, leader


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="looks for workers in /proc")
def test_stop_ends_every_worker(three_damaged_shards, tmp_path):
    root, marker, leader = _leader_with_workers(three_damaged_shards, tmp_path, 0.5)
    try:
        stop = _run("check", "stop", "-D", root)
        _, err = leader.communicate(timeout=60)
    finally:
        leader.kill()
    assert stop.stdout == "Checker status: STOPPED\n", stop.stderr
    assert leader.returncode & EXIT_INTERRUPTED and "check stopped" in err, (leader.returncode, err)
    assert _processes_with(marker) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with a Linux leader")
def test_workers_die_with_a_killed_leader(three_damaged_shards, tmp_path):
    """kill -9 of the leader: its workers end at once, and with them the image lock they hold."""
    root, marker, leader = _leader_with_workers(three_damaged_shards, tmp_path, 5)
    leader.kill()
    leader.wait(timeout=60)             # not its pipes: a surviving worker holds them open
    leader.stdout.close()
    leader.stderr.close()
    deadline = time.monotonic() + 3                 # a worker's own scan: 5 s a tree
    while _processes_with(marker) or image_in_use(root):
        assert time.monotonic() < deadline, _processes_with(marker)
        time.sleep(0.05)
