"""The only lmdb user: small keyed tables in an LMDB environment.

Both the SMD sys db and the checker's report store are a handful of named
tables. ``KvStore`` opens the environment read-only by default (with
``lock=False``, so a read never writes, not even LMDB's lock file), runs
``lmdb.verify`` before trusting an existing file (a damaged LMDB file can
crash the C engine), hands out bytes only, and applies a batch of writes
in one LMDB transaction.
"""
from __future__ import annotations

import os

import lmdb

from .errors import CorruptionError, NotFoundError, SpaceError, VosError


class KvStore:
    def __init__(self, path: str, tables, *, write: bool = False, create: bool = False,
                 map_size: int = 64 << 20, what: str = "store", lock_readers: bool = False):
        """``lock_readers``: readers join LMDB's reader table (safe beside a live writer,
        but writes the lock file); off for image files that read-only opens must not touch."""
        self.path = path
        self.what = what
        self.writable = write
        self.env = None
        if not create and not os.path.isfile(os.path.join(path, "data.mdb")):
            raise NotFoundError(f"no {what} at {path}")
        if create:
            os.makedirs(path, exist_ok=True)
        else:
            self._verify()
        try:
            self.env = lmdb.open(path, map_size=map_size, max_dbs=len(tables) + 1, subdir=True,
                                 readonly=not write, lock=write or lock_readers, create=create,
                                 lib_version=0)
            self.dbs = {}
            for name in tables:
                if write:
                    self.dbs[name] = self.env.open_db(name, create=True)
                else:
                    try:
                        self.dbs[name] = self.env.open_db(name, create=False)
                    except lmdb.NotFoundError:
                        self.dbs[name] = None
        except lmdb.Error as e:
            self.close()
            raise CorruptionError(f"cannot open the {what} ({e})", structure=what, file=path) from None

    def _verify(self) -> None:
        from lmdb.verify import VerifyError, verify
        try:
            problems = verify(self.path)
        except VerifyError as e:
            problems = [str(e)]
        if problems:
            raise CorruptionError(f"the {self.what} is damaged ({problems[0]})", structure=self.what,
                                  file=self.path)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def rows(self, table: bytes) -> list[tuple[bytes, bytes]]:
        db = self.dbs.get(table)
        if db is None:
            return []
        try:
            with self.env.begin(db=db) as txn:
                return [(bytes(k), bytes(v)) for k, v in txn.cursor()]
        except lmdb.Error as e:
            raise CorruptionError(f"cannot read {self.what} table {table.decode()} ({e})",
                                  structure=self.what, file=self.path) from None

    def get(self, table: bytes, key: bytes) -> bytes | None:
        db = self.dbs.get(table)
        if db is None:
            return None
        with self.env.begin(db=db) as txn:
            v = txn.get(key)
            return None if v is None else bytes(v)

    def write(self, puts=(), deletes=()) -> None:
        """Apply ``puts`` [(table, key, value)] and ``deletes`` [(table, key)] atomically."""
        if not self.writable:
            raise VosError(f"{self.what} opened read-only")
        try:
            with self.env.begin(write=True) as txn:
                for table, key, value in puts:
                    txn.put(key, value, db=self.dbs[table])
                for table, key in deletes:
                    txn.delete(key, db=self.dbs[table])
            self.env.sync(True)
        except lmdb.MapFullError:
            raise SpaceError(f"{self.what} at {self.path} is full") from None
        except lmdb.Error as e:
            raise VosError(f"cannot update the {self.what}: {e}") from None
