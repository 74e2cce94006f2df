"""Opening a pool shard and navigating it (the read API).

``open_shard`` reads the two superblock slots and nothing else, so opening
costs the same for a 1 MiB and a 4 GiB shard. Navigation objects
(``Container``, ``VosObject``, ``DKey``, ``AKey``) are thin handles that
hold their decoded record and read child trees only when asked. Every
read is bounds- and checksum-checked; trouble surfaces as
``CorruptionError`` naming the structure, offset and VOS path.
"""
from __future__ import annotations

import os
import struct

from . import layout as L
from .blob import blob_path
from .btree import TreeReader
from .checksum import chunk_csums, csum_of, hasher
from .codec import decode, encode
from .constants import (EPOCH_MAX, FORMAT_VERSION, KNOWN_INCOMPAT, KNOWN_RO_COMPAT, PAGE_SIZE,
                        POOL_DF_MAGIC, SUPERBLOCK_SLOTS, VEA_MAGIC, AddrFlags, KeyKind, Media,
                        TreeClass)
from .errors import (ChecksumError, CorruptionError, FormatError, NoSuperblockError,
                     NotFoundError, ReadOnlyError, VosError)
from .keytext import format_key
from .keys import (Oid, Xid, blk_from_key, dkey_collate, dkey_uncollate, epoch_from_key,
                   extent_from_key, oid_from_key, oid_key, uuid_bytes, uuid_str, xid_from_key,
                   xid_key)
from .pagefile import DataFile
from .paths import db_root_of
from .records import (ContainerRec, DtxActive, FreeExtent, KeyRec,
                      ObjectRec, SingleValue, TreeRoot, dec_container, dec_dtx_active,
                      dec_dtx_committed, dec_extent, dec_key, dec_object, dec_refs, dec_sv,
                      dec_vea, guarded, malformed)
from .recordtype import Record


class Superblock(Record):
    """The decoded superblock of the generation in use."""
    __slots__ = ("format_version", "compat", "ro_compat", "incompat", "pool_uuid", "target_idx",
                 "page_size", "generation", "total_pages", "scm_size", "nvme_size",
                 "nvme_threshold", "blk_size", "hdr_blks", "tot_blks", "vea_root", "cont_root",
                 "freelist_head", "free_pages", "slot")
    DEFAULTS = dict(slot=0)

    @property
    def cont_count(self) -> int:
        return self.cont_root.count


_ROOT_FIELDS = ("page", "count", "tclass", "key_kind", "depth", "flags")


def encode_superblock(sb: Superblock) -> bytes:
    body = {n: getattr(sb, n) for n in sb.__slots__ if n != "slot"}
    for name in ("vea_root", "cont_root"):
        r = body[name]
        body[name] = dict({k: getattr(r, k) for k in _ROOT_FIELDS}, embed_len=0)
    body.update(magic=POOL_DF_MAGIC, vea_magic=VEA_MAGIC, sb_size=L.SUPERBLOCK_SIZE,
                reserved=bytes(64))
    return encode(L.superblock, dict(body=dict(value=body)), structure="superblock")


def decode_superblock(raw: bytes, slot: int, path: str) -> Superblock:
    off = slot * PAGE_SIZE
    c = decode(L.superblock, raw, offset=off, structure="superblock", path=None)
    v = c.body.value

    def root(r):
        if r.embed_len:
            raise CorruptionError("superblock tree root claims embedded entries", offset=off,
                                  structure="superblock", file=path)
        return TreeRoot(r.tclass, r.key_kind, r.page, r.count, r.depth, r.flags)

    return Superblock(v.format_version, v.compat, v.ro_compat, v.incompat, bytes(v.pool_uuid),
                      v.target_idx, v.page_size, v.generation, v.total_pages, v.scm_size,
                      v.nvme_size, v.nvme_threshold, v.blk_size, v.hdr_blks, v.tot_blks,
                      root(v.vea_root), root(v.cont_root), v.freelist_head, v.free_pages, slot)


#: no shard commits this often: a larger generation is damage, and would overflow when bumped
MAX_GENERATION = 1 << 48


def superblock_fault(sb: Superblock) -> str | None:
    """Why a checksummed superblock copy cannot describe any shard, or None if it can.

    A copy describing more pages than the file holds is not at fault: the file
    was truncated, which falling back to an older state would hide.
    """
    pages = sb.total_pages
    if sb.format_version != FORMAT_VERSION:
        return f"format version {sb.format_version}"
    if sb.page_size != PAGE_SIZE:
        return f"page size {sb.page_size}"
    if not 0 < sb.generation < MAX_GENERATION:
        return f"impossible generation {sb.generation}"
    if pages < 2 or pages > max(sb.scm_size // PAGE_SIZE, 2):
        return f"{pages} pages in a shard of {sb.scm_size} bytes"
    for name, page in (("free-page list", sb.freelist_head), ("container table", sb.cont_root.page),
                       ("VEA", sb.vea_root.page)):
        if page and not 2 <= page < pages:
            return f"its {name} starts at page {page}, outside its {pages} pages"
    if sb.free_pages > pages:
        return f"{sb.free_pages} free pages of {pages}"
    # The NVMe geometry is fixed at creation (txn.create_shard): an SCM-only shard has none;
    # otherwise the reserved header blocks (at least the blob header's) and the VEA's blocks
    # together are the whole blob, nvme_size // blk_size blocks.
    geometry = f"NVMe geometry {sb.hdr_blks}+{sb.tot_blks} blocks of {sb.blk_size} bytes"
    if not sb.nvme_size:
        if sb.blk_size or sb.hdr_blks or sb.tot_blks:
            return geometry + " in an SCM-only shard (nvme_size 0)"
    elif sb.blk_size <= 0 or sb.blk_size & (sb.blk_size - 1) or sb.hdr_blks < 1 \
            or sb.hdr_blks + sb.tot_blks != sb.nvme_size // sb.blk_size:
        return f"{geometry} in an NVMe blob of {sb.nvme_size} bytes"
    return None


class Shard:
    """An open pool shard file (read-only unless opened with ``write=True``)."""

    def __init__(self, path: str, *, write: bool = False, db_root: str | None = None,
                 hooks=None, truncated_ok: bool = False):
        """``truncated_ok``: open a shard file shorter than its superblock describes (the
        checker, which reports it and reads the missing pages as unreadable); ``truncated``
        then holds (file size, described size). Every other user gets the error."""
        self.path = path
        self.hooks = hooks
        self.df = DataFile(path, writable=write, hooks=hooks)
        self._locked = False
        try:
            self.sb = self._read_superblock()
            self._check_features(write)
            if write:
                from .lock import acquire
                acquire(self.df.fd, path)
                self._locked = True
                self.sb = self._read_superblock()     # what the previous writer left
            self.truncated = self._check_size(truncated_ok)
        except Exception:
            self.df.close()
            raise
        self.writable = write
        self.db_root = db_root if db_root is not None else db_root_of(path)
        self.reader = TreeReader(self.df, self.sb.page_size, self.sb.generation,
                                 self.sb.total_pages)
        self.reader.is_stale = self._is_stale
        self._blob: DataFile | None = None
        self._blob_path: str | None = None
        self._tx = None
        self._batch = None

    # --- opening --------------------------------------------------------------
    def _read_superblock(self) -> Superblock:
        """The newest superblock copy that is sound; a damaged one falls back to the other.

        A copy is damaged when it fails its checksum, and also when its checksum holds
        but its fields are impossible (superblock_fault): trusting such a copy would
        lose the intact one. ``superblock_problems`` names what was wrong with each
        copy not used, ``slot_faults`` maps those slots to the reason.
        """
        candidates, problems, magic_seen, faults = [], [], False, {}

        def reject(slot: int, why: str) -> None:
            faults[slot] = why
            problems.append(f"slot {slot}: {why}")

        for slot in SUPERBLOCK_SLOTS:
            raw = self.df.read(slot * PAGE_SIZE, L.SUPERBLOCK_SIZE)
            if len(raw) < L.SUPERBLOCK_SIZE:
                faults[slot] = "truncated"
                problems.append(f"slot {slot} is truncated")
                continue
            if int.from_bytes(raw[:4], "little") != POOL_DF_MAGIC:
                faults[slot] = "no superblock magic"
                problems.append(f"slot {slot} has no superblock magic")
                continue
            magic_seen = True
            try:
                sb = decode_superblock(raw, slot, self.path)
            except CorruptionError as e:
                reject(slot, e.reason)
                continue
            why = superblock_fault(sb)
            if why is None:
                candidates.append(sb)
            else:
                reject(slot, why)
        if len(candidates) == 2 and abs(candidates[0].generation - candidates[1].generation) > 1:
            newer = max(candidates, key=lambda s: s.generation)
            why = self._stale_generation(newer)
            if why:
                candidates.remove(newer)
                reject(newer.slot, why)
        if not candidates:
            if not magic_seen:
                raise NoSuperblockError(f"{self.path}: not a VOS pool shard (no superblock magic)")
            self._unusable(problems, faults)
        sb = max(candidates, key=lambda s: s.generation)
        self.superblock_problems = problems
        self.slot_faults = faults
        return sb

    def _check_size(self, truncated_ok: bool) -> tuple[int, int] | None:
        """(file size, described size) of a file shorter than its superblock says, else None;
        raises unless ``truncated_ok`` (reading past the end would look like damaged pages)."""
        size, want = self.df.size(), self.sb.total_pages * self.sb.page_size
        if size >= want:
            return None
        if not truncated_ok:
            raise CorruptionError(f"shard file is truncated: {size} bytes, the superblock "
                                  f"describes {self.sb.total_pages} pages", offset=size,
                                  structure="superblock", file=self.path)
        return size, want

    def extend_to_superblock(self) -> None:
        """Give a truncated shard file back the size its superblock describes, the missing
        pages zero (the checker's repair). Crash-safe: no byte in use changes, only pages
        past the end appear; what they held stays lost and reads as damaged pages."""
        if not self.writable:
            raise ReadOnlyError(f"{self.path} is opened read-only")
        if self.truncated is None:
            return
        self.df.truncate(self.truncated[1])
        self.df.sync()
        self.truncated = None

    def _unusable(self, problems: list, faults: dict) -> None:
        """Raise the error of a shard with no usable superblock copy, the most telling first."""
        why = list(faults.values())
        version = [w for w in why if w.startswith("format version")]
        if version and all(w.startswith(("format version", "no superblock magic")) for w in why):
            raise FormatError(f"{self.path}: {version[0]} is not supported "
                              f"(this tool reads version {FORMAT_VERSION})")
        raise CorruptionError("no valid superblock (" + "; ".join(problems) + ")", offset=0,
                              structure="superblock", file=self.path)

    def _stale_generation(self, sb: Superblock) -> str | None:
        """Why a copy's generation cannot be the newest state's (the other copy's generation
        is far from it): every commit writes its free-page list with its generation, so a
        sound list page written by another generation belies the copy."""
        from .space import _FL_HDR
        if not sb.freelist_head:
            return None
        buf = self.df.read(sb.freelist_head * PAGE_SIZE, PAGE_SIZE)
        if len(buf) != PAGE_SIZE:
            return None
        from .btree import page_crc
        from .constants import FREELIST_MAGIC
        magic, crc, _nr, _pad, gen, selfpage, _nxt = _FL_HDR.unpack_from(buf, 0)
        if magic == FREELIST_MAGIC and crc == page_crc(buf) and selfpage == sb.freelist_head \
                and gen != sb.generation:
            return f"generation {sb.generation}, but its free-page list is of generation {gen}"
        return None

    def _check_features(self, write: bool) -> None:
        sb = self.sb
        unknown = sb.incompat & ~KNOWN_INCOMPAT
        if unknown:
            raise FormatError(f"{self.path}: unsupported incompatible features {unknown:#x}; "
                              "refusing to open")
        ro = sb.ro_compat & ~KNOWN_RO_COMPAT
        if ro and write:
            raise ReadOnlyError(f"{self.path}: unknown read-only-compatible features {ro:#x}; "
                                "the shard can only be opened read-only")

    def close(self) -> None:
        if self._batch is not None:
            self._batch.abort()
        if self._locked:
            from .lock import release
            release(self.df.fd, self.path)
            self._locked = False
        self.df.close()
        if self._blob is not None:
            self._blob.close()
            self._blob = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pool_uuid(self) -> str:
        return uuid_str(self.sb.pool_uuid)

    @property
    def generation(self) -> int:
        return self.sb.generation

    def _is_stale(self) -> bool:
        """Has another process committed a newer generation since we opened?"""
        if self.writable or self._batch is not None:
            return False          # we hold the writer lock: nobody else commits
        try:
            return self._read_superblock().generation > self.sb.generation
        except VosError:
            return False

    def begin(self, **kwargs):
        """Start a Transaction (write mode, or inside a batch)."""
        from .txn import Transaction
        return Transaction(self, **kwargs)

    def rewrite_superblock_copy(self) -> None:
        """Write the superblock in use into the other slot too (repairs a damaged copy)."""
        if not self.writable:
            raise ReadOnlyError(f"{self.path} is opened read-only")
        other = 1 - self.sb.slot
        raw = encode_superblock(self.sb)
        self.df.write(other * PAGE_SIZE, raw + bytes(PAGE_SIZE - len(raw)))
        self.df.sync()

    def batch(self, *, dry_run: bool = False):
        """Start a Batch: later transactions stage into overlays until its commit."""
        from .batch import Batch
        return Batch(self, dry_run=dry_run)

    def _after_commit(self, sb: Superblock) -> None:
        self.sb = sb
        self.reader.generation = sb.generation
        self.reader.total_pages = sb.total_pages

    # --- containers -------------------------------------------------------------
    def containers(self):
        for k, v in self.reader.items(self.sb.cont_root, path="/"):
            yield Container(self, guarded(dec_container, v, tclass=TreeClass.CONT_TABLE,
                                          path="/" + uuid_str(k)))

    def container(self, cuuid) -> "Container":
        key = uuid_bytes(cuuid)
        v = self.reader.get(self.sb.cont_root, key, path="/")
        if v is None:
            raise NotFoundError(f"no container {uuid_str(key)}")
        return Container(self, guarded(dec_container, v, tclass=TreeClass.CONT_TABLE,
                                       path="/" + uuid_str(key)))

    def container_at(self, index: int) -> "Container":
        kv = self.reader.nth(self.sb.cont_root, index, path="/")
        if kv is None:
            raise NotFoundError(f"no container at index {index}")
        return Container(self, guarded(dec_container, kv[1], tclass=TreeClass.CONT_TABLE,
                                       path="/" + uuid_str(kv[0])))

    def container_count(self) -> int:
        return self.sb.cont_root.count

    def container_index(self, cuuid) -> int | None:
        return self.reader.index_of(self.sb.cont_root, uuid_bytes(cuuid), path="/")

    # --- space -------------------------------------------------------------------
    def vea_free_extents(self) -> list[FreeExtent]:
        out = []
        for k, v in self.reader.items(self.sb.vea_root, path="vea"):
            cnt, age = guarded(dec_vea, v, tclass=TreeClass.VEA, path="vea")
            out.append(FreeExtent(blk_from_key(k), cnt, age))
        return out

    def free_page_extents(self) -> list[tuple[int, int]]:
        return [e for _page, es in self.freelist_pages() for e in es]

    def freelist_pages(self):
        """Yield (page, [(start, count)...]) along the free-page chain."""
        from .space import read_freelist_page
        page, seen = self.sb.freelist_head, set()
        while page:
            if page in seen:
                raise CorruptionError("free-page list loops", offset=page * PAGE_SIZE,
                                      structure="freelist_page", file=self.path)
            seen.add(page)
            nxt, extents = read_freelist_page(self, page)
            yield page, extents
            page = nxt

    # --- values --------------------------------------------------------------------
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
            self._blob_path = blob_path(self.db_root, dev, blob_id)
            f = DataFile(self._blob_path, writable=self.writable, hooks=self.hooks,
                         root=self.db_root)
            try:
                self._check_blob_identity(f, blob_id)
            except VosError:
                f.close()
                raise
            self._blob = f
            if self._batch is not None:
                self._blob = self._batch.wrap_blob(self._blob)
        return self._blob

    def _check_blob_identity(self, f: DataFile, blob_id: int) -> None:
        """Refuse a blob whose header is not this shard's: a wrong SMD row would otherwise
        have its bytes read (and checked, and written) as ours."""
        from .blob import decode_header
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

    def value_checksum(self, container: "Container", v, path: str | None = None) -> bytes:
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

    def verify_value(self, container: "Container", v, path: str | None = None) -> None:
        """Raise ChecksumError if the value's bytes do not match their checksum."""
        if v.is_punch or not v.csum_type or v.aflags & AddrFlags.CORRUPTED:
            return              # a value already marked bad is not re-reported
        if self.value_checksum(container, v, path) != self.stored_checksum(v, path):
            if self._is_stale():
                from .errors import StaleReadError
                raise StaleReadError("the shard was changed by a writer while being read; read "
                                     "it again", offset=v.off, structure="value", path=path)
            raise ChecksumError("value checksum mismatch", offset=v.off, structure="value",
                                path=path)


def open_shard(path: str, *, write: bool = False, db_root: str | None = None,
               hooks=None, truncated_ok: bool = False) -> Shard:
    return Shard(path, write=write, db_root=db_root, hooks=hooks, truncated_ok=truncated_ok)


# --- navigation handles ----------------------------------------------------------

class Container:
    __slots__ = ("shard", "rec", "path")

    def __init__(self, shard: Shard, rec: ContainerRec):
        self.shard, self.rec = shard, rec
        self.path = "/" + uuid_str(rec.uuid)

    def __repr__(self):
        return f"<container {self.uuid}>"

    @property
    def uuid(self) -> str:
        return uuid_str(self.rec.uuid)

    def _obj(self, k, v) -> "VosObject":
        rec = guarded(dec_object, v, tclass=TreeClass.OBJ_TABLE,
                      path=lambda: f"{self.path}/{oid_from_key(k)}")
        return VosObject(self, rec)

    def objects(self):
        for k, v in self.shard.reader.items(self.rec.obj_root, path=self.path):
            yield self._obj(k, v)

    def object(self, oid: Oid) -> "VosObject":
        v = self.shard.reader.get(self.rec.obj_root, oid_key(oid), path=self.path)
        if v is None:
            raise NotFoundError(f"no object {oid} in container {self.uuid}")
        return self._obj(oid_key(oid), v)

    def object_at(self, index: int) -> "VosObject":
        kv = self.shard.reader.nth(self.rec.obj_root, index, path=self.path)
        if kv is None:
            raise NotFoundError(f"no object at index {index} in container {self.uuid}")
        return self._obj(*kv)

    def object_count(self) -> int:
        return self.rec.obj_root.count

    def object_index(self, oid: Oid) -> int | None:
        return self.shard.reader.index_of(self.rec.obj_root, oid_key(oid), path=self.path)

    def dtx_active(self):
        for k, v in self.shard.reader.items(self.rec.dtx_act_root, path=self.path + " (dtx)"):
            yield guarded(dec_dtx_active, v, xid_from_key(k), tclass=TreeClass.DTX_ACT,
                          path=self.path)

    def dtx_committed(self):
        for k, v in self.shard.reader.items(self.rec.dtx_cmt_root, path=self.path + " (dtx)"):
            yield guarded(dec_dtx_committed, v, xid_from_key(k), tclass=TreeClass.DTX_CMT,
                          path=self.path)

    def dtx_lookup(self, xid: Xid):
        """The active or committed entry for ``xid`` (active first), or None."""
        v = self.shard.reader.get(self.rec.dtx_act_root, xid_key(xid), path=self.path)
        if v is not None:
            return guarded(dec_dtx_active, v, xid, tclass=TreeClass.DTX_ACT, path=self.path)
        v = self.shard.reader.get(self.rec.dtx_cmt_root, xid_key(xid), path=self.path)
        if v is not None:
            return guarded(dec_dtx_committed, v, xid, tclass=TreeClass.DTX_CMT, path=self.path)
        return None

    def dtx_records(self, entry: DtxActive):
        raw = self.shard.ext_bytes(entry.records, self.path, "dtx record list")
        try:
            return dec_refs(raw, entry.rec_cnt)
        except (struct.error, IndexError) as e:
            raise CorruptionError(f"malformed dtx record list ({e})", structure="dtx_rec_ref",
                                  path=f"{self.path} dtx {entry.xid}") from None


class _KeyParent:
    """Objects own a dkey tree and dkeys an akey tree; both navigate the same way."""
    __slots__ = ()
    _FIELD = "child_root"
    _TCLASS = TreeClass.AKEY
    _WHAT = "akey"
    _CHILD: type

    def _root(self) -> TreeRoot:
        return getattr(self.rec, self._FIELD)

    def _make(self, k, v):
        key = dkey_uncollate(self._root().key_kind, k)
        try:
            rec = dec_key(v)
        except (struct.error, IndexError, ValueError) as e:
            raise self._bad_child(key, e) from None
        return self._CHILD(self, key, rec)

    def _bad_child(self, key: bytes, e: Exception):
        return malformed(e, self._TCLASS, f"{self.path}/{format_key(key)}")

    def _children(self, start: bytes | None = None):
        """Children in key order; with ``start`` (raw key bytes), from the first >= it.

        The hot path of every listing and walk: ``_make`` is inlined here.
        """
        root = self._root()
        kind = root.key_kind
        ck = None
        if start is not None:
            ck = dkey_collate(kind, start) if kind != KeyKind.UINT64 or len(start) == 8 else None
        child = self._CHILD
        uint = kind == KeyKind.UINT64
        for k, v in self.shard.reader.items(root, start=ck, path=self):
            key = dkey_uncollate(kind, k) if uint else k     # other kinds store the key as is
            try:
                rec = dec_key(v)
            except (struct.error, IndexError, ValueError) as e:
                raise self._bad_child(key, e) from None
            yield child(self, key, rec)

    def _child(self, key: bytes):
        ck = dkey_collate(self._root().key_kind, key)
        v = self.shard.reader.get(self._root(), ck, path=self)
        if v is None:
            raise NotFoundError(f"no {self._WHAT} {format_key(key)} in {self.path}")
        return self._make(ck, v)

    def _child_at(self, index: int):
        kv = self.shard.reader.nth(self._root(), index, path=self)
        if kv is None:
            raise NotFoundError(f"no {self._WHAT} at index {index} in {self.path}")
        return self._make(*kv)

    def _child_count(self) -> int:
        return self._root().count

    def _child_index(self, key: bytes) -> int | None:
        ck = dkey_collate(self._root().key_kind, key)
        return self.shard.reader.index_of(self._root(), ck, path=self)


class VosObject(_KeyParent):
    __slots__ = ("container", "rec", "shard")
    _FIELD, _TCLASS, _WHAT = "dkey_root", TreeClass.DKEY, "dkey"

    def __init__(self, container: Container, rec: ObjectRec):
        self.container, self.rec, self.shard = container, rec, container.shard

    @property
    def path(self) -> str:
        return f"{self.container.path}/{self.rec.oid}"

    def __repr__(self):
        return f"<object {self.oid}>"

    @property
    def oid(self) -> Oid:
        return self.rec.oid

    @property
    def ilog(self):
        return self.rec.ilog

    dkeys = _KeyParent._children
    dkey = _KeyParent._child
    dkey_at = _KeyParent._child_at
    dkey_count = _KeyParent._child_count
    dkey_index = _KeyParent._child_index


class DKey(_KeyParent):
    __slots__ = ("obj", "key", "rec", "shard")

    def __init__(self, obj: VosObject, key: bytes, rec: KeyRec):
        self.obj, self.key, self.rec, self.shard = obj, key, rec, obj.shard

    @property
    def path(self) -> str:
        return f"{self.obj.path}/{format_key(self.key)}"

    def __repr__(self):
        return f"<dkey {format_key(self.key)}>"

    @property
    def ilog(self):
        return self.rec.ilog

    akeys = _KeyParent._children
    akey = _KeyParent._child
    akey_at = _KeyParent._child_at
    akey_count = _KeyParent._child_count
    akey_index = _KeyParent._child_index


class AKey:
    __slots__ = ("dkey", "key", "rec", "shard")

    def __init__(self, dkey: DKey, key: bytes, rec: KeyRec):
        self.dkey, self.key, self.rec, self.shard = dkey, key, rec, dkey.shard

    @property
    def path(self) -> str:
        return f"{self.dkey.path}/{format_key(self.key)}"

    def __repr__(self):
        return f"<akey {format_key(self.key)}>"

    @property
    def ilog(self):
        return self.rec.ilog

    @property
    def value_kind(self) -> str | None:
        return self.rec.value_kind

    def single_values(self):
        """Every stored version, oldest epoch first."""
        if self.rec.value_kind != "sv":
            return
        for k, v in self.shard.reader.items(self.rec.child_root, path=self):
            try:
                sv = dec_sv(v, epoch_from_key(k))
            except (struct.error, IndexError, ValueError) as e:
                raise malformed(e, TreeClass.SINGV, self) from None
            yield sv

    def single_value(self, epoch: int = EPOCH_MAX) -> SingleValue | None:
        """The newest version at or before ``epoch``."""
        best = None
        for sv in self.single_values():
            if sv.epoch <= epoch:
                best = sv
        return best

    def extents(self):
        """Every stored extent, ordered by (lo, epoch, minor)."""
        if self.rec.value_kind != "array":
            return
        for k, v in self.shard.reader.items(self.rec.child_root, path=self):
            try:
                x = dec_extent(v, *extent_from_key(k))
            except (struct.error, IndexError, ValueError) as e:
                raise malformed(e, TreeClass.EVT, self) from None
            yield x

    def value_count(self) -> int:
        return self.rec.child_root.count

    def value_at(self, index: int):
        kv = self.shard.reader.nth(self.rec.child_root, index, path=self.path)
        if kv is None:
            raise NotFoundError(f"no value at index {index} under akey {format_key(self.key)}")
        k, v = kv
        sv = self.value_kind == "sv"
        try:
            return dec_sv(v, epoch_from_key(k)) if sv else dec_extent(v, *extent_from_key(k))
        except (struct.error, IndexError, ValueError) as e:
            raise malformed(e, TreeClass.SINGV if sv else TreeClass.EVT, self) from None


VosObject._CHILD = DKey
DKey._CHILD = AKey
