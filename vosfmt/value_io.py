"""Reading stored values: their bytes (inline, in shard pages, in the NVMe blob) and
their checksums.

A mixin of ``Shard`` (it relies on the shard's ``sb``, ``df``, ``path``,
``db_root``, ``hooks``, ``writable``, ``writer`` and ``is_stale``). Values are
streamed in pieces, never read whole unless asked; an address outside its
file is a ``CorruptionError``, a checksum that does not match a
``ChecksumError`` (or a ``StaleReadError`` when a writer changed the shard
meanwhile).
"""
from __future__ import annotations

import os

from . import layout as L
from .blob import blob_path, decode_header
from .checksum import chunk_csums, csum_of, hasher
from .constants import PAGE_SIZE, AddrFlags, Media
from .errors import ChecksumError, CorruptionError, StaleReadError, VosError
from .keys import uuid_str
from .pagefile import DataFile
from .value_records import SingleValue


class ValueReads:
    _blob: DataFile | None

    def blob_file(self) -> DataFile:
        """The NVMe blob of this shard, located through SMD (opened once)."""
        if self._blob is None:
            from .smd import SysDb
            if not self.sb.nvme_size:
                raise VosError(f"pool {self.pool_uuid} has no NVMe blob (SCM-only)")
            try:
                with SysDb(self.db_root) as db:
                    dev, blob_id = db.blob_location(self.sb.pool_uuid, self.sb.target_idx)
            except VosError as e:
                raise VosError(f"cannot locate the NVMe blob of pool {self.pool_uuid} target "
                               f"{self.sb.target_idx}: {e}") from None
            f = DataFile(blob_path(self.db_root, dev, blob_id), writable=self.writable,
                         hooks=self.hooks, root=self.db_root)
            try:
                self._check_blob_identity(f, blob_id)
            except VosError:
                f.close()
                raise
            self._blob = f
            if self.writer.batch is not None:
                self._blob = self.writer.batch.wrap_blob(self._blob)
        return self._blob

    def _check_blob_identity(self, f: DataFile, blob_id: int) -> None:
        """Refuse a blob whose header is not this shard's: a wrong SMD row would otherwise
        have its bytes read (and checked, and written) as ours."""
        h = decode_header(f.read(0, L.blob_header.sizeof()), f.path)
        if (h.pool_uuid, h.vos_id, h.blob_id) != (self.sb.pool_uuid, self.sb.target_idx, blob_id):
            raise VosError(f"the NVMe blob SMD names for pool {self.pool_uuid} target "
                           f"{self.sb.target_idx} ({f.path}) belongs to pool "
                           f"{uuid_str(h.pool_uuid)} target {h.vos_id} (blob {h.blob_id}); "
                           "ddb check or smd_sync can repair SMD")

    def _media_file(self, media: int) -> DataFile:
        return self.df if media == Media.SCM else self.blob_file()

    def value_chunks(self, v, chunk: int = 1 << 20, path: str | None = None):
        """Yield the bytes of a SingleValue or Extent in pieces of at most ``chunk``."""
        size = v.size if isinstance(v, SingleValue) else v.nbytes
        if size == 0 or v.aflags & AddrFlags.HOLE:
            return
        if v.media == Media.INLINE:
            yield v.data
            return
        if v.media not in (Media.SCM, Media.NVME):
            raise CorruptionError(f"unknown media type {v.media}", structure="value address",
                                  path=path)
        f = self._media_file(v.media)
        end = v.off + size
        if end > f.size() or (v.media == Media.SCM and v.off < 2 * PAGE_SIZE):
            raise CorruptionError(f"value of {size} bytes at {v.off:#x} lies outside "
                                  f"{os.path.basename(f.path)}", offset=v.off,
                                  structure="value address", path=path, file=f.path)
        pos = v.off
        while pos < end:
            n = min(chunk, end - pos)
            yield f.read(pos, n)
            pos += n

    def read_value(self, v, path: str | None = None) -> bytes:
        return b"".join(self.value_chunks(v, path=path))

    def ext_bytes(self, x, path: str | None = None, what: str = "ext_bytes") -> bytes:
        if x.media == Media.INLINE:
            return x.data or b""
        if x.media != Media.SCM or x.off + x.len > self.df.size():
            raise CorruptionError(f"{what} of {x.len} bytes at {x.off:#x} is out of bounds",
                                  offset=x.off, structure=what, path=path, file=self.path)
        return self.df.read(x.off, x.len)

    def value_checksum(self, v, path: str | None = None) -> bytes:
        """Recompute the stored checksum(s) of a value from its bytes."""
        if isinstance(v, SingleValue):
            if v.media == Media.INLINE and not v.is_punch:
                return csum_of(v.csum_type, v.data)
            h = hasher(v.csum_type)
            if h is None:
                return b""
            for piece in self.value_chunks(v, path=path):
                h.update(piece)
            return h.digest()
        if v.csum_type and v.chunk_size <= 0:
            raise CorruptionError(f"extent checksums cut in chunks of {v.chunk_size} bytes",
                                  offset=v.off, structure="ext_rec", path=path)
        return chunk_csums(v.csum_type, v.chunk_size, v.lo * v.rsize,
                           self.read_value(v, path=path)) if v.csum_type else b""

    def stored_checksum(self, v, path: str | None = None) -> bytes:
        if isinstance(v, SingleValue):
            return v.csum
        return self.ext_bytes(v.csums, path, "extent checksums")

    def verify_value(self, v, path: str | None = None) -> None:
        """Raise ChecksumError if the value's bytes do not match their checksum, or its
        checksums cannot be used; CorruptionError if its bytes cannot be read."""
        if v.is_punch or not v.csum_type or v.aflags & AddrFlags.CORRUPTED:
            return              # a value already marked bad is not re-reported
        try:
            stored = self.stored_checksum(v, path)
        except CorruptionError as e:        # nothing vouches for the bytes: as a mismatch
            raise ChecksumError(f"the value's checksums cannot be read ({e.reason})",
                                offset=v.off, structure="value", path=path) from None
        if not isinstance(v, SingleValue) and v.chunk_size <= 0:
            raise ChecksumError(f"extent checksums cut in chunks of {v.chunk_size} bytes",
                                offset=v.off, structure="ext_rec", path=path)
        if self.value_checksum(v, path) != stored:
            if self.is_stale():
                raise StaleReadError("the shard was changed by a writer while being read; read "
                                     "it again", offset=v.off, structure="value", path=path)
            raise ChecksumError("value checksum mismatch", offset=v.off, structure="value",
                                path=path)
