"""The exclusive writer lock of a shard: flock on the file, holder details beside it.

A writer holds ``flock(LOCK_EX)`` on the shard for as long as it is open and
records who it is in ``<shard>.lock`` (pid, host, since). A second writer is
refused at once with those details. Readers never lock: they only read
pages that committed superblocks reach. The kernel drops the flock when the
holder dies, so a stale ``.lock`` file never blocks anyone.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from .errors import VosError


class LockedError(VosError):
    """Another writer holds the shard."""


def lock_path(shard_path: str) -> str:
    return shard_path + ".lock"


def holder(shard_path: str, wait: float = 0.25) -> str:
    """Who holds the lock; waits briefly for a holder that is still writing its details."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(lock_path(shard_path)) as f:
                info = json.load(f)
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
            return f"pid {info['pid']} on {info['host']} since {since}"
        except (OSError, ValueError, KeyError, TypeError):
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
    tmp = lock_path(shard_path) + f".{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, lock_path(shard_path))
    except OSError:
        pass      # the flock is what counts; the details are a courtesy


def release(fd: int, shard_path: str) -> None:
    try:
        os.unlink(lock_path(shard_path))
    except OSError:
        pass
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass
