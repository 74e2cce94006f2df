"""The benchmark report runs end to end (tiny sizes), so it cannot rot unnoticed.

Only the shape of the table is asserted: timings never gate a test.
"""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow            # builds images and times real work

ROWS = ["one-shot ddb IMAGE ls", "open + superblock_dump", "ls of one dkey", "ls -r",
        "full read-only walk", "check start -n", "peak memory vs image size", "value_load to NVMe (fsync'ed)",
        "value_dump to a file", "check start -n, value checksums", "value_load of 16 B (one commit)",
        "full walk at scale", "check -n at scale", "cost per record vs scale", "peak memory vs scale",
        "check start -n, every core"]


def test_bench_report_prints_every_row():
    p = subprocess.run([sys.executable, "-m", "bench", "--scale", "0.002", "--value-mib", "4",
                        "--akeys", "200", "--scales", "0.002,0.01", "--cores-scale", "0.01"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split()[:4] == ["operation", "size", "ours", "baseline"]
    for name in ROWS:
        assert any(line.startswith(name + " ") for line in lines), name
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("argv", [
    ["bench.build_walk", "--scale", "0.002"],
    ["bench.check", "--scale", "0.002"],
    ["bench.ddb_cmds", "--akeys", "200", "--large-scale", "0.002", "--value-mib", "4"],
    ["bench.write", "--scale", "0.002", "--value-mib", "4"],
    ["bench.system", "--ranks", "4", "--targets", "2", "--pools", "2", "--objects", "2"],
    ["bench.scale", "--scales", "0.002,0.01", "--runs", "1"],
    ["bench.cores", "--scale", "0.01", "--runs", "1"],
])
def test_single_benchmarks_run(argv):
    p = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() and "Traceback" not in p.stderr
