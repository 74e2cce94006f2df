"""The state a run carries between commands: the open shard, write mode, batch, output."""
from __future__ import annotations

import contextlib
import os

from vosfmt import VosError, open_shard, uuid_str
from vosfmt.paths import db_root_of, parse_shard_path

from .errors import DdbError, der, failing_as, user_error
from .output import Output


class Session:
    """``batch`` is None (each command commits), "atomic" or "dry-run"."""

    def __init__(self, output: Output | None = None, *, batch: str | None = None, hooks=None):
        self.out = output or Output()
        self.default_path: str | None = None      # the global -s: what commands default to
        self.default_db_path: str | None = None   # the global -p
        self.shard = None
        self.path: str | None = None
        self.write_mode = False
        self.write_allowed = False      # the global -w: what self-managed commands may change
        self.debug = False              # --debug: unexpected exceptions keep their traceback
        self.batch_mode = batch
        self.hooks = hooks

    # --- pool state ----------------------------------------------------------
    def open(self, path: str, *, write: bool = False, db_path: str | None = None) -> None:
        """Open a pool shard; any failure is the user's error (callers outside run_command
        name what they were opening: ``-s``'s auto-open, ``feature``)."""
        self.require_closed()
        dry = self.dry_run
        try:
            where = parse_shard_path(path, db_path)
            if not os.path.exists(path):
                raise DdbError(f"{der('DER_NONEXIST')}: no such file '{path}'")
            shard = open_shard(path, write=write and not dry, db_root=where.db_root, hooks=self.hooks)
        except VosError as e:
            raise user_error(e) from None
        except OSError as e:            # a directory, no permission, an I/O error
            raise DdbError(f"cannot open '{path}': {e.strerror or e}") from None
        if uuid_str(shard.sb.pool_uuid) != where.pool_uuid:
            shard.close()
            raise DdbError(f"pool uuid mismatch: the path names {where.pool_uuid} but the shard "
                           f"belongs to {uuid_str(shard.sb.pool_uuid)}")
        self.shard, self.path, self.write_mode = shard, path, write or dry
        if self.batch_mode and self.write_mode:
            from vosfmt.batch import Batch
            Batch(shard, dry_run=dry)

    def close(self, *, success: bool = True) -> None:
        """Close the pool; an atomic batch commits here (if everything succeeded)."""
        shard = self.shard
        if shard is None:
            return
        try:
            batch = shard.writer.batch
            if batch is not None:
                if batch.dry_run:
                    self.out.emit(f"Dry run: {batch.commits} change(s) staged "
                                  f"({batch.staged_bytes} bytes); nothing was written",
                                  {"dry_run": True, "commits": batch.commits,
                                   "staged_bytes": batch.staged_bytes})
                    batch.abort()
                elif success:
                    with failing_as("atomic batch not applied: "):
                        batch.commit()
                else:
                    batch.abort()
        finally:
            shard.close()
            self.shard, self.path, self.write_mode = None, None, False

    def image_root(self) -> str | None:
        """The storage image this run is about, for commands that read around the shard
        (SMD, the checker): the open shard's db root, else -p, else that of -s."""
        if self.shard is not None:
            return self.shard.db_root
        if self.default_db_path:
            return self.default_db_path
        if self.default_path:
            return db_root_of(self.default_path)
        return None

    def system_root(self, given: str = "") -> str:
        """The system image a system-wide command reads (``system_dump``): ``given`` (its
        -D), else the system holding this run's engine image (an open or -s shard
        ``rank-<R>/<pool>/vos-N``, or -p: the parent of ``rank-<R>``), else the current
        directory when it is one. The same order as ``check`` finds its image."""
        from vosfmt.system import is_system_root, rank_of
        if given:
            if not is_system_root(given):
                raise DdbError(f"{given} is not a system image: it has neither ms/ nor "
                               "rank-<R>/ directories")
            return given
        engine = self.image_root()
        if engine is not None and rank_of(engine) is not None:
            parent = os.path.dirname(os.path.abspath(engine))
            if is_system_root(parent):
                return parent
        if is_system_root("."):
            return "."
        raise DdbError("give the system image: -D DIR (the directory holding ms/ and "
                       "rank-<R>/), or a shard under one of its rank-<R> directories with -s")

    def require_open(self):
        if self.shard is None:
            raise DdbError(der("DER_NO_HDL"), stderr=["Cannot operate on a closed pool. Open it first."])
        return self.shard

    def require_closed(self) -> None:
        if self.shard is not None:
            raise DdbError(der("DER_BUSY"), stderr=["Cannot operate on an opened pool. Close it first."])

    def require_write(self):
        shard = self.require_open()
        if not self.write_mode:
            raise DdbError(der("DER_INVAL"), stderr=["Can only modify the VOS tree in 'write mode'"])
        return shard

    @property
    def dry_run(self) -> bool:
        return self.batch_mode == "dry-run"

    def require_write_access(self, what: str) -> bool:
        """Gate for commands that change files other than an open shard (the SMD sys db).

        They need -w exactly as tree edits do, and a dry run must not write
        them either: returns True under --dry-run, and the caller then
        reports what it would change and writes nothing.
        """
        if self.dry_run:
            return True
        if not self.write_allowed:
            raise DdbError(der("DER_INVAL"), stderr=[f"Can only modify the {what} in 'write mode'"])
        return False

    def dry_run_file(self, dst: str, size: int, doc: dict) -> bool:
        """Under --dry-run, report what a command would write to the file DST instead of
        writing it, and return True: a dry run creates no file anywhere, in the image or not."""
        if not self.dry_run:
            return False
        self.out.emit(f"Dry run: would write {size} bytes to {dst}; nothing was written",
                      dict(doc, dst=dst, dry_run=True))
        return True

    @contextlib.contextmanager
    def transaction(self):
        """One modifying command's edits: committed on success (staged in a batch)."""
        from vosfmt.txn import Transaction
        tx = Transaction(self.require_write())
        try:
            yield tx
        except BaseException:
            tx.abort()
            raise
        with failing_as("commit failed, nothing was changed: "):
            tx.commit()
