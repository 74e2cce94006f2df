"""Who may run: a lock on the image root directory itself, so taking it creates nothing.

Shared for readers (dry runs, query, get-policy), exclusive for whatever
writes (a repairing check, repair, set-policy, stop of a dead run); the
exclusive holder also records who it is in ``daos_sys/check.lock``
(replaced by rename, never through a link) so others can name it. The
kernel drops the lock when its holder dies. The lock itself is
``vosfmt.lock``'s, as a shard writer's is.
"""
from __future__ import annotations

import os

from vosfmt import lock
from vosfmt.smd import SYS_DIR

from .errors import CheckError

HOLDER_FILE = os.path.join(SYS_DIR, "check.lock")    # the writing leader's details (not the lock)
EXCLUSIVE_WAIT = 2.0    # seconds a writer waits for short readers (a query) to let go of the image


class ImageLock:
    """The image lock, held until ``release`` (or the end of a ``with`` block)."""

    def __init__(self, db_root: str, *, exclusive: bool, wait: float | None = None):
        self.db_root = db_root
        self.exclusive = exclusive
        self.fd = os.open(db_root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if wait is None:
            wait = EXCLUSIVE_WAIT if exclusive else 0.0
        if not lock.take(self.fd, exclusive=exclusive, wait=wait):
            os.close(self.fd)
            raise CheckError(busy_message(db_root))
        if exclusive:
            try:
                lock.record_holder(db_root, os.path.join(db_root, HOLDER_FILE))
            except BaseException:
                self.release()
                raise

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if self.exclusive:
                lock.drop_holder(self.db_root, os.path.join(self.db_root, HOLDER_FILE))
        finally:
            os.close(self.fd)           # drops the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def busy_message(db_root: str) -> str:
    leader = lock.read_holder(db_root, os.path.join(db_root, HOLDER_FILE))
    if leader:
        return f"a check is already running, led by {leader}"
    return f"{db_root} is in use by a read-only check (a dry run) or a query; try again when it ends"


def leader_alive(db_root: str) -> bool:
    """A check that writes holds the image."""
    return lock.held_by_another(db_root, exclusive=False)


def image_in_use(db_root: str) -> bool:
    """Any check (a dry run included) or reader holds the image."""
    return lock.held_by_another(db_root, exclusive=True)
