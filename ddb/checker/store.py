"""The persistent report store: ``<db_root>/daos_sys/check_db`` (LMDB, never inside a shard).

Tables: ``meta`` (the instance record, stored policies, the next sequence
number), ``shards`` (one bookmark per shard: phase, status, counters) and
``findings`` (keyed by sequence number). Sequence numbers come from a
counter that only grows, so they are never reused, even after a reset.
"""
from __future__ import annotations

import json
import os
import struct

from vosfmt.kv import KvStore

TABLES = (b"meta", b"shards", b"findings")
_SEQ = struct.Struct(">Q")
SEQ_BASE = 0x1000


def store_path(db_root: str) -> str:
    return os.path.join(db_root, "daos_sys", "check_db")


class ReportStore:
    def __init__(self, db_root: str, *, write: bool = False):
        path = store_path(db_root)
        create = write and not os.path.isfile(os.path.join(path, "data.mdb"))
        # readers lock: `check query` may run beside a live check
        self.kv = KvStore(path, TABLES, write=write, create=create, what="check report store",
                          lock_readers=True)

    @staticmethod
    def exists(db_root: str) -> bool:
        return os.path.isfile(os.path.join(store_path(db_root), "data.mdb"))

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

    # --- writing -----------------------------------------------------------------
    def next_seqs(self, n: int) -> list[int]:
        start = self._json(b"meta", b"next_seq", SEQ_BASE)
        self.kv.write([(b"meta", b"next_seq", json.dumps(start + n).encode())])
        return list(range(start, start + n))

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
