"""The one exception family of vosfmt.

Callers (ddb, the checker) catch ``VosError`` and print one line; nothing in
this package may let ``struct.error``, ``IndexError`` or a bare construct
exception escape, because those carry no location a user could act on.
"""
from __future__ import annotations


class VosError(Exception):
    """Base class of every error raised by vosfmt."""


class FormatError(VosError):
    """Not a shard of ours, or one written with features we cannot honour."""


class NoSuperblockError(FormatError):
    """No superblock copy carries the shard magic: an empty, cut or overwritten file (or
    not a shard at all). Unlike a newer format's refusal, nothing here names a writer."""


class CorruptionError(VosError):
    """A structure on disk fails its magic, checksum, bounds or shape checks.

    Carries where it was found so a user can act on it: the byte ``offset``
    in the file, the ``structure`` name (as declared in ``vosfmt.layout``) and
    the VOS ``path`` of the object being read, when known.
    """

    def __init__(self, message: str, *, offset: int | None = None,
                 structure: str | None = None, path: str | None = None,
                 file: str | None = None):
        self.reason = message
        self.offset = offset
        self.structure = structure
        if path is not None and not isinstance(path, str):   # lazy (see record_decoding.path_text)
            path = path() if callable(path) else getattr(path, "path", str(path))
        self.path = path
        self.file = file
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.structure:
            where.append(self.structure)
        if self.offset is not None:
            where.append(f"at offset {self.offset:#x}")
        if self.path:
            where.append(f"(VOS path {self.path})")
        if self.file:
            where.append(f"in {self.file}")
        return f"{self.reason}: {' '.join(where)}" if where else self.reason

    def located(self, *, path: str | None = None, file: str | None = None) -> CorruptionError:
        """Fill in context that only an outer layer knows, keeping what is set."""
        if path and not self.path:
            self.path = path
        if file and not self.file:
            self.file = file
        self.args = (self._render(),)
        return self


class ChecksumError(CorruptionError):
    """A stored crc32c does not match the bytes it covers."""


class StaleReadError(CorruptionError):
    """A reader met a page rewritten by a newer commit: reopen and read again.

    Readers never lock; a writer that commits twice while a reader is still
    walking the old state may reuse that state's pages. Nothing is damaged:
    the reader's view is simply out of date.
    """


class NotFoundError(VosError, KeyError):
    """A container, object, key, value or table row does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "not found"


class ReadOnlyError(VosError):
    """A modification was attempted on a shard opened read-only."""


class TransactionError(VosError):
    """An edit is invalid (wrong value kind, too large, closed transaction...)."""


class SpaceError(VosError):
    """The shard or the NVMe blob has no room left for an allocation."""
