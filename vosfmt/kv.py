"""The only lmdb user: small keyed tables in an LMDB environment.

Both the SMD sys db and the checker's report store are a handful of named
tables. ``KvStore`` opens the environment read-only by default (with
``lock=False``, so a read never writes, not even LMDB's lock file), runs
``lmdb.verify`` before trusting an existing file (a damaged LMDB file can
crash the C engine), hands out bytes only, and applies a batch of writes
in one LMDB transaction.

A full file system must be a clean error, never a crash: LMDB maps its lock
file and would die of SIGBUS touching a page the file system cannot back,
and a data page it cannot write fails a commit half way. So a writer
allocates the lock file's blocks before LMDB maps it and keeps
``RESERVE_BYTES`` allocated past the last page in use; a reservation that
fails is reported (``SpaceError``) while every committed write is intact.
"""
from __future__ import annotations

import errno
import os

import lmdb

from .errors import CorruptionError, NotFoundError, SpaceError, VosError

#: LMDB's lock file for its default 126 readers: (126 - 1) * 64-byte slots + the 192-byte header
LOCK_FILE_BYTES = 8192
#: bytes a writer keeps allocated past the last page in use (a few hundred records)
RESERVE_BYTES = 128 << 10
#: a batch may take this many times its own size in new pages (copy-on-write branches, free list)
BATCH_GROWTH = 3
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def _allocate(path: str, length: int, what: str) -> None:
    """Give ``path`` real blocks for its first ``length`` bytes (content kept; no link followed)."""
    try:
        fd = os.open(path, _NEW_FILE, 0o644)
        try:
            os.posix_fallocate(fd, 0, length)
        finally:
            os.close(fd)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise SpaceError(f"no space left for the {what} at {path}") from None
        raise VosError(f"cannot prepare the {what} at {path}: {e.strerror}") from None


def _short_of_space(path: str) -> bool:
    """Whether the file system holding ``path`` has less than a writer's reservation free."""
    try:
        st = os.statvfs(path)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < LOCK_FILE_BYTES + RESERVE_BYTES


def _lmdb_failure(what: str, path: str, doing: str, e: Exception) -> VosError:
    """The VosError for an lmdb error: a full disk is a SpaceError (LMDB reports a short
    write as EIO), the rest says what failed."""
    if isinstance(e, lmdb.DiskError) or _short_of_space(path):
        return SpaceError(f"no space left to {doing} the {what} at {path}")
    if isinstance(e, lmdb.MapFullError):
        return SpaceError(f"the {what} at {path} is full")
    return VosError(f"cannot {doing} the {what} at {path}: {e}")


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
            if _short_of_space(path):       # LMDB's first commit could not be reserved for
                raise SpaceError(f"no space left to create the {what} at {path}")
        else:
            self._verify()
        if write:
            _allocate(os.path.join(path, "lock.mdb"), LOCK_FILE_BYTES, what)
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
            if write and (isinstance(e, (lmdb.DiskError, lmdb.MapFullError)) or _short_of_space(path)):
                raise _lmdb_failure(what, path, "open", e) from None
            raise CorruptionError(f"cannot open the {what} ({e})", structure=what, file=path) from None
        if write:
            self._reserve()

    def _reserve(self, batch: int = 0) -> None:
        """Keep RESERVE_BYTES (or room for a ``batch`` of that many bytes) allocated past the last
        page in use, so a commit cannot fail for want of space; raises SpaceError before the
        write (or, after one, with every committed write intact) when there is none."""
        try:
            end = (self.env.info()["last_pgno"] + 1) * self.env.stat()["psize"]
        except lmdb.Error as e:
            raise _lmdb_failure(self.what, self.path, "size", e) from None
        room = max(RESERVE_BYTES, BATCH_GROWTH * batch)
        _allocate(os.path.join(self.path, "data.mdb"), end + room, self.what)

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
        self._reserve(sum(len(k) + len(v) + 64 for _t, k, v in puts))
        try:
            with self.env.begin(write=True) as txn:
                for table, key, value in puts:
                    txn.put(key, value, db=self.dbs[table])
                for table, key in deletes:
                    txn.delete(key, db=self.dbs[table])
            self.env.sync(True)
        except lmdb.Error as e:
            raise _lmdb_failure(self.what, self.path, "update", e) from None


class KvBacked:
    """A table set over one KvStore (``self.kv``), closed with it; a context manager."""

    def close(self) -> None:
        self.kv.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
