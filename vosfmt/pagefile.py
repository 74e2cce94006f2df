"""Positioned file I/O for shard and blob files.

Every byte vosfmt reads or writes passes through ``DataFile``: reads are
counted (so tests can prove that opening is O(1) and navigation touches only
what it shows), writes and syncs pass an optional ``hooks`` object (so the
crash tests can stop a commit at any write/sync boundary). A read-only
``DataFile`` opens the file ``O_RDONLY`` and so cannot change it; a writable
one is opened ``O_NOFOLLOW`` and must be a regular file, so a link planted
where a shard or blob should be never redirects a write.
"""
from __future__ import annotations

import errno
import os
import stat

from .errors import SpaceError, VosError


class DataFile:
    def __init__(self, path: str, *, writable: bool = False, create: bool = False,
                 hooks=None, root: str | None = None):
        """``root``: for a writable file, the image directory it must lie in; every
        component below it is walked without following links (``vosfmt.safefs``)."""
        flags = os.O_RDWR | os.O_NOFOLLOW if writable else os.O_RDONLY
        if create:
            flags |= os.O_CREAT | os.O_EXCL
        try:
            if writable and root is not None:
                from .safefs import open_file
                self.fd = open_file(root, path, flags)
            else:
                self.fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
        except FileExistsError:
            raise VosError(f"{path}: already exists") from None
        except FileNotFoundError:
            raise VosError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise VosError(f"{path}: is a directory") from None
        except PermissionError:
            raise VosError(f"{path}: permission denied") from None
        except OSError as e:
            if writable and e.errno == errno.ELOOP:
                raise VosError(f"{path}: is a symbolic link; refusing to open it for writing") from None
            raise VosError(f"{path}: {e.strerror}") from None
        if writable and not stat.S_ISREG(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            raise VosError(f"{path}: not a regular file; refusing to open it for writing")
        self.path = path
        self.writable = writable
        self.hooks = hooks
        self.bytes_read = 0
        self.reads = 0

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def read(self, off: int, n: int) -> bytes:
        """Read up to ``n`` bytes at ``off``; shorter only at end of file."""
        data = os.pread(self.fd, n, off)
        self.bytes_read += len(data)
        self.reads += 1
        return data

    def write(self, off: int, data) -> None:
        if not self.writable:
            raise VosError(f"{self.path}: opened read-only")
        if self.hooks is not None:
            self.hooks.on_write(self, off, data)
        try:
            view = memoryview(data)
            while view:
                n = os.pwrite(self.fd, view, off)
                view = view[n:]
                off += n
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise SpaceError(f"{self.path}: {e.strerror} while writing") from None
            raise VosError(f"{self.path}: write failed: {e.strerror}") from None

    def truncate(self, size: int) -> None:
        try:
            os.ftruncate(self.fd, size)
        except OSError as e:
            raise SpaceError(f"{self.path}: cannot resize: {e.strerror}") from None

    def sync(self) -> None:
        if self.hooks is not None:
            self.hooks.on_sync(self)
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def sync_dir(path: str) -> None:
    """fsync a directory so a rename or create inside it is durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
