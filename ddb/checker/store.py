"""The persistent report store: ``<db_root>/daos_sys/check_db`` (LMDB, never inside a shard).

Tables: ``meta`` (the instance record, stored policies, the next sequence
number), ``shards`` (one bookmark per shard: phase, status, counters) and
``findings`` (keyed by sequence number). Sequence numbers come from a
counter that only grows, so they are never reused, even after a reset.
The image's own store is opened under the image lock (``reading``,
``writing``); a dry run keeps its report outside the image (``dryrun``).
"""
from __future__ import annotations

import json
import os
import struct
from contextlib import contextmanager

from vosfmt import safefs
from vosfmt.kv import KvBacked, KvStore
from vosfmt.smd import SYS_DIR

from .errors import CheckError
from .image import require_image
from .imagelock import ImageLock

TABLES = (b"meta", b"shards", b"findings")
LMDB_FILES = ("data.mdb", "lock.mdb")
_SEQ = struct.Struct(">Q")
SEQ_BASE = 0x1000


def store_path(db_root: str) -> str:
    return os.path.join(db_root, SYS_DIR, "check_db")


class ReportStore(KvBacked):
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
        self.seq_floor = SEQ_BASE       # the other store's next number (see ``dryrun``)
        create = write and not os.path.isfile(os.path.join(path, LMDB_FILES[0]))
        self.kv = KvStore(path, TABLES, write=write, create=create, what="check report store",
                          lock_readers=lock_readers)

    @staticmethod
    def exists(db_root: str, path: str | None = None) -> bool:
        return os.path.isfile(os.path.join(path or store_path(db_root), LMDB_FILES[0]))

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


@contextmanager
def reading(db_root: str):
    """The image's report store for reading (None if there is none), beside any running check.

    With no writer running, a shared image lock keeps writers out, so LMDB's
    lock file is not touched (a read-only image can be queried); beside a
    running writer, the reader joins LMDB's reader table.
    """
    require_image(db_root)
    lock = None
    try:
        lock = ImageLock(db_root, exclusive=False)
    except CheckError:
        pass                                    # a writer runs: read beside it
    try:
        if not ReportStore.exists(db_root):
            yield None
            return
        with ReportStore(db_root, lock_readers=lock is None) as store:
            yield store
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def writing(db_root: str):
    """The image's report store for writing, under the exclusive image lock."""
    require_image(db_root)
    with ImageLock(db_root, exclusive=True), ReportStore(db_root, write=True) as store:
        yield store
