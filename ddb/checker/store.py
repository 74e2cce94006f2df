"""The persistent report store: ``<db_root>/daos_sys/check_db`` (LMDB, never inside a shard).

Tables: ``meta`` (the instance record, stored policies, the next sequence
number), ``shards`` (one bookmark per shard: phase, status, counters) and
``findings`` (keyed by sequence number). Sequence numbers come from a
counter that only grows, so they are never reused, even after a reset.

A dry run (``-n``) writes nothing in the image, so its report lives outside
it: one store per image under the user's state directory
(``$DDB_STATE_DIR``, else ``$XDG_STATE_HOME/ddb``, else
``~/.local/state/ddb``), in ``check/<hash of the image's real path>``.
Its sequence numbers continue the image store's and the other way round
(``seq_floor``), so a number is never shown twice for one image.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
import struct

from vosfmt import safefs
from vosfmt.kv import KvStore

TABLES = (b"meta", b"shards", b"findings")
LMDB_FILES = ("data.mdb", "lock.mdb")
_SEQ = struct.Struct(">Q")
SEQ_BASE = 0x1000
STATE_ENV = "DDB_STATE_DIR"


def store_path(db_root: str) -> str:
    return os.path.join(db_root, "daos_sys", "check_db")


def state_dir() -> str:
    """Where ddb keeps what must not go into an image (the reports of dry runs)."""
    if os.environ.get(STATE_ENV):
        return os.environ[STATE_ENV]
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "ddb")


def dry_run_path(db_root: str) -> str:
    """The dry-run store of the image at ``db_root`` (one per image, by its real path)."""
    key = hashlib.sha256(os.path.realpath(db_root).encode()).hexdigest()[:16]
    return os.path.join(state_dir(), "check", key)


def image_id(db_root: str) -> list:
    """(device, inode) of the image root: a dry-run store of a removed, recreated image is not its."""
    st = os.stat(db_root)
    return [st.st_dev, st.st_ino]


def private_dir(path: str) -> None:
    """Make ``path`` (mode 0700) and refuse it unless it is our own directory, not a link."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OSError(f"{path} is not a directory of this user")


class ReportStore:
    """One report store. ``path`` None is the image's own (``daos_sys/check_db``, created with
    no link followed); ``lock_readers`` False reads without touching LMDB's lock file, for a
    caller whose image lock keeps every writer out."""

    def __init__(self, db_root: str, *, write: bool = False, path: str | None = None,
                 lock_readers: bool = True):
        if path is None:
            path = store_path(db_root)
            if write:
                fd, _ = safefs.open_parent(db_root, os.path.join(path, LMDB_FILES[0]), create=True)
                os.close(fd)
            if write or lock_readers:
                safefs.check_tree(db_root, path, LMDB_FILES)
        self.path = path
        self.seq_floor = SEQ_BASE       # the other store's next number (see the module doc)
        create = write and not os.path.isfile(os.path.join(path, "data.mdb"))
        self.kv = KvStore(path, TABLES, write=write, create=create, what="check report store",
                          lock_readers=lock_readers)

    @staticmethod
    def exists(db_root: str, path: str | None = None) -> bool:
        return os.path.isfile(os.path.join(path or store_path(db_root), "data.mdb"))

    def close(self) -> None:
        self.kv.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- reading -----------------------------------------------------------------
    def _json(self, table: bytes, key: bytes, default=None):
        raw = self.kv.get(table, key)
        return default if raw is None else json.loads(raw)

    def instance(self) -> dict:
        return self._json(b"meta", b"instance", {"status": "INIT"})

    def policies(self) -> dict:
        return {int(k): v for k, v in self._json(b"meta", b"policies", {}).items()}

    def shards(self) -> dict:
        return {k.decode(): json.loads(v) for k, v in self.kv.rows(b"shards")}

    def findings(self) -> list[dict]:
        return [json.loads(v) for _k, v in self.kv.rows(b"findings")]

    def finding(self, seq: int) -> dict | None:
        return self._json(b"findings", _SEQ.pack(seq))

    def next_seq(self) -> int:
        return max(self._json(b"meta", b"next_seq", SEQ_BASE), self.seq_floor)

    # --- writing -----------------------------------------------------------------
    def next_seqs(self, n: int) -> list[int]:
        start = self.next_seq()
        self.kv.write([(b"meta", b"next_seq", json.dumps(start + n).encode())])
        return list(range(start, start + n))

    def clear(self) -> None:
        """Forget every finding and bookmark (the sequence counter stays)."""
        self.put(delete_findings=[f["seq"] for f in self.findings()], delete_shards=list(self.shards()))

    def put(self, *, instance=None, policies=None, shards=None, findings=(), delete_findings=(),
            delete_shards=()) -> None:
        puts = []
        if instance is not None:
            puts.append((b"meta", b"instance", json.dumps(instance).encode()))
        if policies is not None:
            puts.append((b"meta", b"policies", json.dumps({str(k): v for k, v in policies.items()}).encode()))
        for path, bm in (shards or {}).items():
            puts.append((b"shards", path.encode(), json.dumps(bm).encode()))
        for f in findings:
            puts.append((b"findings", _SEQ.pack(f["seq"]), json.dumps(f).encode()))
        dels = [(b"findings", _SEQ.pack(s)) for s in delete_findings]
        dels += [(b"shards", p.encode()) for p in delete_shards]
        self.kv.write(puts, dels)
