"""Coverage-guided fuzzing with atheris (optional; not part of CI).

The hypothesis targets in test_fuzz.py are the CI smoke; atheris explores by
coverage instead and runs until stopped or ``-atheris_runs=N``:

    pip install atheris
    python tests/fuzz_atheris.py path  -atheris_runs=200000
    python tests/fuzz_atheris.py blob  -atheris_runs=200000
    python tests/fuzz_atheris.py shard -atheris_runs=20000
    python tests/fuzz_atheris.py leaf  -atheris_runs=200000

Anything other than the library's own errors is a crash: atheris stops and
prints the input.
"""
from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import atheris

# the checkout's fixtures/ (installed as ddb_fixtures) and tests/support.py
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [p for p in (os.path.dirname(HERE), HERE) if p not in sys.path]

with atheris.instrument_imports():
    from ddb.vospath import PathError, format_key, parse_key, parse_path
    from fixtures import build
    from vosfmt import VosError, open_shard
    from vosfmt.blob import decode_header
    from vosfmt.image import list_shards
    from vosfmt.leafrows import key_value_rows

from support import read_everything  # noqa: E402 (after the instrumented imports)


def fuzz_path(data: bytes):
    text = data.decode("utf-8", "replace")
    try:
        parts = parse_path(text)
    except PathError:
        return
    for level, p in enumerate(parts):
        if level in (2, 3) and p.value is not None:
            assert parse_key(format_key(p.value, 0)) == p.value


def fuzz_blob(data: bytes):
    try:
        decode_header(data, "fuzz")
    except VosError:
        pass


def fuzz_leaf(data: bytes):
    """The leaf-at-a-time decoder on any bytes: rows or None, never an exception."""
    rows = key_value_rows(data, 0, len(data), 1 + (data[0] % 40 if data else 0))
    assert rows is None or isinstance(rows, list)


def _shard_target():
    """A reader over a copy of the small preset's shard with the fuzzer's bytes overlaid."""
    root = tempfile.mkdtemp(prefix="ddb-atheris-")
    atexit.register(shutil.rmtree, root, True)
    build("small", root)
    path = list_shards(root)[0]
    with open(path, "rb") as f:
        pristine = f.read()

    def fuzz_shard(data: bytes):
        fdp = atheris.FuzzedDataProvider(data)
        image = bytearray(pristine)
        for _ in range(fdp.ConsumeIntInRange(1, 4)):
            off = fdp.ConsumeIntInRange(0, len(image) - 1)
            patch = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 16))
            image[off:off + len(patch)] = patch
        with open(path, "wb") as f:
            f.write(image)
        try:
            with open_shard(path, db_root=root) as sh:
                read_everything(sh)
        except VosError:
            pass
        with open(path, "rb") as f:
            assert f.read() == bytes(image), "a read-only open changed the shard"
    return fuzz_shard


def main() -> None:
    targets = {"path": lambda: fuzz_path, "blob": lambda: fuzz_blob, "shard": _shard_target,
               "leaf": lambda: fuzz_leaf}
    if len(sys.argv) < 2 or sys.argv[1] not in targets:
        sys.exit(f"usage: {os.path.basename(sys.argv[0])} {{{'|'.join(targets)}}} [atheris options]")
    target = targets[sys.argv.pop(1)]()
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
