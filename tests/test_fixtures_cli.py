"""``python -m fixtures`` and the ``ddb`` entry point, run as a user would."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, stdin=None):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=300)


def test_build_prints_each_shard(tmp_path):
    out = tmp_path / "img"
    r = run("-m", "fixtures", "build", str(out), "--preset", "dtx", "--seed", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2 and all(os.path.isfile(p) for p in lines)
    assert [os.path.basename(p) for p in lines] == ["vos-0", "vos-1"]
    assert os.path.isfile(out / "daos_sys" / "sys_db" / "data.mdb")


def test_build_from_spec_file_and_dump(tmp_path):
    spec = {"pool": "0b8a3d6c-1d3e-4f3e-9c1a-6f9a2b1c0d11", "targets": 1, "nvme_size": 0,
            "containers": [{"uuid": "6e2f1b0a-2222-4ccc-8ddd-0123456789ab", "target": 0,
                            "objects": [{"oid": "1.2.0.0", "dkeys": [{"key": "dkey-1", "akeys": [
                                {"key": "akey-1", "sv": [{"epoch": 1, "data": "text"}]},
                                {"key": {"uint64": 7}, "array": [
                                    {"lo": 9, "hi": 18, "rsize": 1, "epoch": 1,
                                     "hex": "00ff" * 5}]}]}]}],
                            "committed_dtx": [{"xid": "6e2f1b0a-2222-4ccc-8ddd-0123456789ab.5",
                                               "epoch": 5, "cmt_time": 1700000000}]}]}
    f = tmp_path / "spec.json"
    f.write_text(json.dumps(spec))
    out = tmp_path / "img"
    r = run("-m", "fixtures", "build", str(out), "--spec", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out / "0b8a3d6c-1d3e-4f3e-9c1a-6f9a2b1c0d11" / "vos-0")
    d = run("-m", "fixtures", "dump", str(out))
    img = json.loads(d.stdout)
    c = img["pools"][0]["containers"][0]
    assert c["objects"][0]["oid"] == "1.2.0.0"
    akeys = c["objects"][0]["dkeys"][0]["akeys"]
    # keys enumerate in byte order: the 8-byte little-endian 7 sorts before "akey-1"
    assert akeys[0]["key"] == {"bin": (7).to_bytes(8, "little").hex()}
    assert akeys[0]["array"][0]["hex"] == "00ff" * 5
    assert akeys[1]["sv"][0]["hex"] == b"text".hex()
    assert c["committed_dtx"][0]["cmt_time"] == 1700000000


@pytest.mark.parametrize("args,message", [
    (["--spec", "/nonexistent.json"], "cannot read"),
    (["--preset", "nope"], "invalid choice"),
])
def test_build_errors(tmp_path, args, message):
    r = run("-m", "fixtures", "build", str(tmp_path / "x"), *args)
    assert r.returncode != 0 and message in r.stderr and "Traceback" not in r.stderr


def test_bad_json_and_bad_spec(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{nope")
    r = run("-m", "fixtures", "build", str(tmp_path / "a"), "--spec", str(f))
    assert r.returncode == 1 and "not valid JSON" in r.stderr
    r = run("-m", "fixtures", "build", str(tmp_path / "b"), "--spec", "-",
            stdin=json.dumps({"containers": [{"objects": [{"oid": "x"}]}]}))
    assert r.returncode == 1 and "bad spec" in r.stderr and "invalid oid" in r.stderr
    assert "Traceback" not in r.stderr


def test_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "junk").write_text("x")
    r = run("-m", "fixtures", "build", str(tmp_path))
    assert r.returncode == 1 and "not empty" in r.stderr


def test_dump_of_a_missing_directory(tmp_path):
    r = run("-m", "fixtures", "dump", str(tmp_path / "none"))
    assert r.returncode == 1 and "not a directory" in r.stderr
