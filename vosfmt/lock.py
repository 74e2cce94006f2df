"""The exclusive writer lock of a shard: flock on the file, holder details beside it.

A writer holds ``flock(LOCK_EX)`` on the shard for as long as it is open and
records who it is in ``<shard>.lock`` (pid, host, since). A second writer is
refused at once with those details. Readers never lock: they only read
pages that committed superblocks reach. The kernel drops the flock when the
holder dies, so a stale ``.lock`` file never blocks anyone.

The details file is written, read and removed through ``vosfmt.safefs``
(relative to the shard's directory, never following a link): a link
planted at ``<shard>.lock`` is replaced, not written through, and a FIFO
there cannot stall a refused writer.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from .errors import VosError
from .safefs import open_file, unlink_file, write_file


class LockedError(VosError):
    """Another writer holds the shard."""


def lock_path(shard_path: str) -> str:
    return shard_path + ".lock"


def _dir(shard_path: str) -> str:
    return os.path.dirname(os.path.abspath(shard_path))


def holder(shard_path: str, wait: float = 0.25) -> str:
    """Who holds the lock; waits briefly for a holder that is still writing its details."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with os.fdopen(open_file(_dir(shard_path), lock_path(shard_path), os.O_RDONLY)) as f:
                info = json.load(f)
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
            return f"pid {info['pid']} on {info['host']} since {since}"
        except (OSError, VosError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "another process (its details are not available)"
            time.sleep(0.005)


def acquire(fd: int, shard_path: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LockedError(f"{shard_path} is locked for writing by {holder(shard_path)}") from None
    except OSError as e:
        raise VosError(f"{shard_path}: cannot lock: {e.strerror}") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    try:
        write_file(_dir(shard_path), lock_path(shard_path), json.dumps(info).encode())
    except (OSError, VosError):
        pass      # the flock is what counts; the details are a courtesy


def release(fd: int, shard_path: str) -> None:
    try:
        unlink_file(_dir(shard_path), lock_path(shard_path))
    except (OSError, VosError):
        pass
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass
