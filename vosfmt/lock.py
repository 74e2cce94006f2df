"""Locks that name their holder: an ``flock``, and a record of who holds it.

Two locks are built from these pieces. A shard's writer holds
``flock(LOCK_EX)`` on the shard file for as long as it is open and records
who it is in ``<shard>.lock`` (``acquire`` / ``release`` below); a second
writer is refused at once with those details. The checker locks the image
root directory (shared for readers, exclusive for whatever writes, its
holder in ``daos_sys/check.lock``). Readers of a shard never lock: they only
read pages that committed superblocks reach. The kernel drops an flock when
its holder dies, so a stale record never blocks anyone.

A holder record is written, read and removed through ``vosfmt.safefs``
(relative to a root directory, never following a link): a link planted at
its name is replaced, not written through, and a FIFO there cannot stall a
refused writer.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from .errors import VosError
from .safefs import open_file, unlink_file, write_file

POLL = 0.005                # seconds between two tries of a lock or of a holder record


class LockedError(VosError):
    """Another writer holds the shard."""


# --- the pieces ------------------------------------------------------------------------------

def take(fd: int, *, exclusive: bool, wait: float = 0.0) -> bool:
    """flock ``fd`` without blocking, trying again for ``wait`` seconds; False when another
    process keeps it (other OS errors are raised)."""
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)


def held_by_another(path: str, *, exclusive: bool) -> bool:
    """Would another process's flock on ``path`` (a file or a directory) keep out a lock of
    this kind? (Probed on a descriptor of our own, released at once.)"""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return not take(fd, exclusive=exclusive)
    finally:
        os.close(fd)


def holder_details() -> dict:
    """Who this process is, as a holder record says it."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}


def record_holder(root: str, path: str) -> None:
    """Write this process's details to ``path`` (under ``root``, replaced by rename)."""
    write_file(root, path, json.dumps(holder_details()).encode())


def read_holder(root: str, path: str, wait: float = 0.0) -> str | None:
    """The holder ``path`` names ("pid P on HOST since TIME"), or None when there is no
    readable record after ``wait`` seconds (a holder may still be writing it)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with os.fdopen(open_file(root, path, os.O_RDONLY)) as f:
                info = json.load(f)
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
            return f"pid {info['pid']} on {info['host']} since {since}"
        except (OSError, VosError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL)


def drop_holder(root: str, path: str) -> None:
    unlink_file(root, path)


# --- a shard's writer lock ---------------------------------------------------------------------

def lock_path(shard_path: str) -> str:
    return shard_path + ".lock"


def _dir(shard_path: str) -> str:
    return os.path.dirname(os.path.abspath(shard_path))


def holder(shard_path: str, wait: float = 0.25) -> str:
    """Who holds a shard's lock; waits briefly for a holder that is still writing its details."""
    return read_holder(_dir(shard_path), lock_path(shard_path), wait) or \
        "another process (its details are not available)"


def acquire(fd: int, shard_path: str) -> None:
    try:
        taken = take(fd, exclusive=True)
    except OSError as e:
        raise VosError(f"{shard_path}: cannot lock: {e.strerror}") from None
    if not taken:
        raise LockedError(f"{shard_path} is locked for writing by {holder(shard_path)}")
    try:
        record_holder(_dir(shard_path), lock_path(shard_path))
    except (OSError, VosError):
        pass      # the flock is what counts; the details are a courtesy


def release(fd: int, shard_path: str) -> None:
    try:
        drop_holder(_dir(shard_path), lock_path(shard_path))
    except (OSError, VosError):
        pass
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass
