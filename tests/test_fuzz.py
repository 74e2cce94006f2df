"""Fuzz targets (hypothesis): no input may produce a traceback, a hang, or a write.

CI runs a short smoke (the example counts below); the targets that build or
copy images are marked slow. A long run:
DDB_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py
"""
from __future__ import annotations

import io
import os
import shutil
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddb.checker.scan import ShardScan
from ddb.vospath import PathError, format_key, parse_key, parse_path
from fixtures import build
from support import file_state, read_everything, sparse_copy
from vosfmt import VosError, open_shard
from vosfmt.blob import decode_header
from vosfmt.image import list_shards

N = int(os.environ.get("DDB_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=N or 50, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

path_chars = st.sampled_from(list("/[]{}\\-:.,0123456789abcdefxABX uint8163264bin()") + ["\x00", "é"])


@FUZZ
@given(st.text(path_chars, max_size=80) | st.text(max_size=40))
def test_path_grammar(text):
    try:
        parts = parse_path(text)
    except PathError:
        return
    assert len(parts) <= 5
    for level, p in enumerate(parts):
        if level in (2, 3) and p.value is not None:
            assert parse_key(format_key(p.value, 0)) == p.value


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fz"))
    build("small", root)
    return root


words = st.sampled_from(["ls", "-r", "-d", "value_dump", "superblock_dump", "open", "close", "-w",
                         "--json", "/[0]", "/[1]/[0]", "{uint64:0x1}", "--", "-", "-f", "check",
                         "start", "-n", "query", "feature", "-s", "rm", "ilog_dump", "dtx_dump",
                         "csum_dump", "vea_dump", "smd", "--debug=x", "--log_dir", "/nonexistent",
                         "x" * 300, "", "'", "[9]", "help", "version", "-h"])


@pytest.mark.slow
@FUZZ
@given(argv=st.lists(words, max_size=6))
def test_command_line(image, argv, capsys):
    """Any argument list: an exit status and at most one-line errors, never a traceback."""
    from ddb.cli import main
    shard = list_shards(image)[0]
    before = file_state(image)
    argv = [shard if a == "{shard}" else a for a in argv]
    if "-w" in argv or "rm" in argv or "feature" in argv:
        argv = [a for a in argv if a not in ("-w", "rm", "feature")]
    old_stdin = sys.stdin
    sys.stdin = io.StringIO("")
    try:
        rc = main([shard] + argv)
    finally:
        sys.stdin = old_stdin
    err = capsys.readouterr().err
    assert isinstance(rc, int)
    assert "Traceback" not in err and "internal error" not in err
    changed = {p for p, v in file_state(image).items() if before.get(p) != v}
    assert not {p for p in changed if "daos_sys/check" not in p and "check.lock" not in p}


def _damaged_copy(image: str, tmp_path_factory, data, pick, patches: int, max_len: int,
                  truncate: bool) -> tuple[str, str]:
    """(root, file): a copy of ``image`` whose file ``pick(root)`` has up to ``patches`` random
    overwrites of up to ``max_len`` bytes, and maybe a truncation."""
    root = str(tmp_path_factory.mktemp("fz-copy"))
    shutil.rmtree(root)
    sparse_copy(image, root)
    path = pick(root)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for _ in range(data.draw(st.integers(1, patches))):
            f.seek(data.draw(st.integers(0, size - 1)))
            f.write(data.draw(st.binary(min_size=1, max_size=max_len)))
        if truncate and data.draw(st.booleans()):
            f.truncate(data.draw(st.integers(0, size)))
    return root, path


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_shard_reader_on_mutated_images(image, tmp_path_factory, data):
    root, path = _damaged_copy(image, tmp_path_factory, data, lambda r: list_shards(r)[0],
                               patches=4, max_len=16, truncate=True)
    before = file_state(root)
    try:
        with open_shard(path, db_root=root) as sh:
            read_everything(sh)
    except VosError:
        pass
    try:                                # the checker's own reads (leaf at a time, and not)
        with open_shard(path, db_root=root, truncated_ok=True) as sh:
            ShardScan(sh).run()
    except VosError:
        pass
    assert file_state(root) == before                         # read-only: nothing written
    shutil.rmtree(root)


@FUZZ
@given(st.binary(max_size=200))
def test_blob_header_reader(raw):
    try:
        decode_header(raw, "fuzz")
    except VosError:
        pass


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_smd_reader_on_damaged_lmdb(image, tmp_path_factory, data):
    from vosfmt.smd import SysDb
    root, _ = _damaged_copy(image, tmp_path_factory, data,
                            lambda r: os.path.join(r, "daos_sys", "sys_db", "data.mdb"),
                            patches=3, max_len=32, truncate=False)
    before = file_state(root)
    try:
        with SysDb(root) as db:
            db.devices()
            db.targets()
            db.pools()
    except VosError:
        pass
    changed = {p for p, v in file_state(root).items() if before.get(p) != v}
    assert not {p for p in changed if not p.endswith("lock.mdb")}    # read-only: data untouched
    shutil.rmtree(root)


@FUZZ
@given(st.binary(max_size=600), st.integers(1, 40))
def test_leaf_rows_decoder(raw, nkeys):
    """Any leaf bytes: rows or None (left to the record decoders), never an exception."""
    from vosfmt.leafrows import key_value_rows
    rows = key_value_rows(raw, 0, len(raw), nkeys)
    assert rows is None or len(rows) == nkeys
