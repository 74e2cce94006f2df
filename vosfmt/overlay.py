"""A copy-on-write view of a data file: writes go to a private temporary file.

Reads see the overlay's bytes over the base file's. Nothing reaches the base
until ``apply``; ``discard`` forgets everything. Atomic command batches and
dry runs stage all their commits in overlays, so a failed or dry batch leaves
the real files byte-identical, and memory stays bounded whatever is staged.
The staging file is anonymous (``tempfile.TemporaryFile``: ``O_TMPFILE``, or
a random ``O_EXCL`` name removed at once, mode 0600), so there is no name
at which a link could be planted and nothing is left to delete.
"""
from __future__ import annotations

import bisect
import os
import tempfile

from .errors import SpaceError


class OverlayFile:
    def __init__(self, base):
        self.base = base
        self.path = base.path
        self.writable = True
        self.hooks = None
        self._tmp = tempfile.TemporaryFile(prefix="ddb-overlay-")
        self._starts: list[int] = []      # sorted, disjoint [start, end) ranges written
        self._ends: list[int] = []
        self._size = base.size()
        self.bytes_written = 0

    @property
    def bytes_read(self) -> int:
        return self.base.bytes_read

    @property
    def reads(self) -> int:
        return self.base.reads

    def size(self) -> int:
        return self._size

    def _ranges(self, off: int, end: int):
        i = bisect.bisect_right(self._ends, off)
        while i < len(self._starts) and self._starts[i] < end:
            yield max(self._starts[i], off), min(self._ends[i], end)
            i += 1

    def read(self, off: int, n: int) -> bytes:
        end = min(off + n, self._size)
        if end <= off:
            return b""
        buf = bytearray(self.base.read(off, end - off).ljust(end - off, b"\0"))
        fd = self._tmp.fileno()
        for s, e in self._ranges(off, end):
            buf[s - off:e - off] = os.pread(fd, e - s, s)
        return bytes(buf)

    def write(self, off: int, data) -> None:
        try:
            n = os.pwrite(self._tmp.fileno(), data, off)
        except OSError as e:
            raise SpaceError(f"cannot stage a write for {self.path}: {e.strerror}") from None
        if n != len(data):
            raise SpaceError(f"cannot stage a write for {self.path}: short write")
        self.bytes_written += n
        self._add(off, off + n)
        self._size = max(self._size, off + n)

    def _add(self, s: int, e: int) -> None:
        i = bisect.bisect_left(self._ends, s)
        j = bisect.bisect_right(self._starts, e)
        if i < j:
            s = min(s, self._starts[i])
            e = max(e, self._ends[j - 1])
        self._starts[i:j] = [s]
        self._ends[i:j] = [e]

    def truncate(self, size: int) -> None:
        self._size = size

    def sync(self) -> None:
        """Nothing is durable until apply(); a staged commit only needs ordering."""

    def staged_ranges(self):
        return list(zip(self._starts, self._ends))

    def apply(self, exclude: int = 0) -> int:
        """Copy every staged byte at or after offset ``exclude`` into the base file.

        The shard's batch excludes the two superblock slots: it writes the one
        final superblock itself, last.
        """
        fd = self._tmp.fileno()
        done = 0
        for s, e in self.staged_ranges():
            pos = max(s, exclude)
            while pos < e:
                n = min(e - pos, 4 << 20)
                self.base.write(pos, os.pread(fd, n, pos))
                pos += n
                done += n
        if self.base.size() < self._size:
            self.base.truncate(self._size)
        return done

    def discard(self) -> None:
        self._tmp.close()
        self._starts, self._ends = [], []

    def close(self) -> None:
        self.discard()
