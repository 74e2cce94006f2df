"""The state a run carries between commands: the open shard, write mode, batch, output."""
from __future__ import annotations

import contextlib
import os
import re

from vosfmt import VosError, open_shard, uuid_str

from .errors import DdbError, der
from .output import Output

VOS_PATH_RE = re.compile(r"^(?:(.*?)/+)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                         r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/+(vos-(?:0|[1-9][0-9]*)|rdb-pool)$")


def split_vos_path(path: str) -> tuple[str, str, str]:
    """(db dir, pool uuid, file name) of ``[db/]<pool-uuid>/(vos-N|rdb-pool)``."""
    m = VOS_PATH_RE.match(path)
    if not m:
        raise DdbError(der("DER_INVAL"), stderr=[
            f"Invalid VOS path: '{path}'. Expected format: [/path/to/db/]pool-uuid/(vos-N|rdb-pool)"])
    db = m.group(1)
    if db is None:
        db = "."
    elif db == "":
        db = "/"
    return db, m.group(2).lower(), m.group(3)


class Session:
    """``batch`` is None (each command commits), "atomic" or "dry-run"."""

    def __init__(self, output: Output | None = None, *, batch: str | None = None, hooks=None):
        self.out = output or Output()
        self.shard = None
        self.path: str | None = None
        self.write_mode = False
        self.write_allowed = False      # the global -w: what self-managed commands may change
        self.debug = False              # --debug: unexpected exceptions keep their traceback
        self.batch_mode = batch
        self.hooks = hooks

    # --- pool state ----------------------------------------------------------
    def open(self, path: str, *, write: bool = False, db_path: str | None = None) -> None:
        if self.shard is not None:
            raise DdbError(der("DER_BUSY"), stderr=["Cannot operate on an opened pool. Close it first."])
        db, puuid, _name = split_vos_path(path)
        if not os.path.exists(path):
            raise DdbError(f"{der('DER_NONEXIST')}: no such file '{path}'")
        dry = self.dry_run
        try:
            shard = open_shard(path, write=write and not dry, db_root=db_path or db, hooks=self.hooks)
        except VosError as e:
            raise DdbError(str(e)) from None
        except OSError as e:            # a directory, no permission, an I/O error
            raise DdbError(f"cannot open '{path}': {e.strerror or e}") from None
        if uuid_str(shard.sb.pool_uuid) != puuid:
            shard.close()
            raise DdbError(f"pool uuid mismatch: the path names {puuid} but the shard belongs "
                           f"to {uuid_str(shard.sb.pool_uuid)}")
        self.shard, self.path, self.write_mode = shard, path, write or dry
        if self.batch_mode and self.write_mode:
            shard.batch(dry_run=dry)

    def close(self, *, success: bool = True) -> None:
        """Close the pool; an atomic batch commits here (if everything succeeded)."""
        shard = self.shard
        if shard is None:
            return
        try:
            batch = shard._batch
            if batch is not None:
                if batch.dry_run:
                    self.out.emit(f"Dry run: {batch.commits} change(s) staged "
                                  f"({batch.staged_bytes} bytes); nothing was written",
                                  {"dry_run": True, "commits": batch.commits,
                                   "staged_bytes": batch.staged_bytes})
                    batch.abort()
                elif success:
                    try:
                        batch.commit()
                    except VosError as e:
                        raise DdbError(f"atomic batch not applied: {e}") from None
                else:
                    batch.abort()
        finally:
            shard.close()
            self.shard, self.path, self.write_mode = None, None, False

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
        shard = self.require_write()
        try:
            tx = shard.begin()
        except VosError as e:
            raise DdbError(str(e)) from None
        try:
            yield tx
        except BaseException:
            tx.abort()
            raise
        try:
            tx.commit()
        except VosError as e:
            raise DdbError(f"commit failed, nothing was changed: {e}") from None
