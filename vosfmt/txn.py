"""The crash-safe writer: one Transaction batches edits, commit makes them durable.

Commit protocol (copy-on-write + superblock flip):
  1. every touched tree node is written to a page that is free in the
     durable state G (never over a live page); value bytes were already
     streamed into free pages / free NVMe blocks while editing;
  2. the free-page list and the VEA free-extent tree of G+1 are written
     the same way;
  3. the blob and the shard are fsync'ed;
  4. the superblock of G+1 goes to the slot G does not use, then fsync.
A crash before step 4 completes leaves G (its slot and pages untouched);
after it, G+1. Space that G+1 frees is reusable only by G+2, so the state
we might fall back to is never overwritten.
"""
from __future__ import annotations

import os

from .btree import MutableTree
from .checksum import ChunkSummer, csum_len, hasher
from .constants import (DEFAULT_BLK_SIZE, DEFAULT_HDR_BLKS, DEFAULT_NVME_THRESHOLD, DTX_LID_FIRST,
                        CSUM_INLINE_MAX, FORMAT_VERSION, ILOG_MAX, INLINE_MAX,
                        MAX_VALUE, PAGE_SIZE, AddrFlags, KrecFlags, Media, RecType, TreeClass,
                        akey_kind, dkey_kind)
from .errors import NotFoundError, ReadOnlyError, TransactionError, VosError
from .ilog import ilog_update
from .keys import (Oid, Xid, blk_key, dkey_collate, epoch_key, extent_key,
                   oid_key, uuid_bytes, uuid_str, xid_from_key, xid_key)
from .pagefile import DataFile, sync_dir
from .records import (ContainerRec, DtxActive, DtxCommitted, DtxRecRef, ExtBytes, Extent, Ilog,
                      KeyRec, ObjectRec, SingleValue, TreeRoot, dec_dtx_active,
                      dec_extent, dec_refs, dec_sv, enc_container,
                      enc_dtx_active, enc_dtx_committed, enc_extent, enc_key, enc_object,
                      enc_refs, enc_sv, enc_vea, guarded, decode_record)
from .shard import Shard, Superblock, encode_superblock
from .space import ExtentAllocator, build_freelist_page, freelist_capacity, subtract_extents

DEFAULT_SCM_SIZE = 1 << 30
REFS_INLINE_MAX = 256
STREAM_CHUNK = 1 << 20

#: tree classes whose records can be opened for editing (and so need encoding back)
_DECODE = {tc: (lambda k, v, tc=tc: decode_record(tc, k, v))
           for tc in (TreeClass.CONT_TABLE, TreeClass.OBJ_TABLE, TreeClass.DKEY, TreeClass.AKEY,
                      TreeClass.DTX_ACT)}
_ENCODE = {
    TreeClass.CONT_TABLE: enc_container, TreeClass.OBJ_TABLE: enc_object,
    TreeClass.DKEY: enc_key, TreeClass.AKEY: enc_key, TreeClass.DTX_ACT: enc_dtx_active,
}


class _Open:
    """A record opened for editing: its decoded form and its opened child trees."""
    __slots__ = ("rec", "subtrees", "dirty", "refs", "lids")

    def __init__(self, rec):
        self.rec = rec
        self.subtrees: dict[str, MutableTree] = {}
        self.dirty = False
        self.refs = None          # DTX_ACT: decoded record references, once touched
        self.lids = None          # container: lid -> xid key of its active entries


class Transaction:
    """All edits between ``begin()`` and ``commit()`` become durable together or not at all."""

    def __init__(self, shard: Shard, *, free_pages=None):
        """``free_pages`` replaces the on-disk free-page list (the checker's rebuild)."""
        batch = shard._batch
        if not shard.writable and batch is None:
            raise ReadOnlyError(f"{shard.path} is opened read-only")
        if getattr(shard, "_tx", None) is not None:
            raise TransactionError("a transaction is already open on this shard")
        if getattr(shard, "_in_doubt", False):
            raise VosError(f"{shard.path}: the last commit failed after writing its superblock; "
                           "close and reopen the shard to see which state is durable")
        self.shard = shard
        self.reader = shard.reader
        self.sb: Superblock = shard.sb.replace()
        self.batch = batch
        self.generation = batch.generation if batch else self.sb.generation + 1
        ps = self.sb.page_size
        self._old_freelist = []
        free = []
        if free_pages is None:
            for page, extents in shard.freelist_pages():
                self._old_freelist.append(page)
                free.extend(extents)
        else:
            free = list(free_pages)
        if batch is not None:
            free = batch.usable(free, "pages")
        self.pages = ExtentAllocator(free, end=self.sb.total_pages,
                                     limit=max(self.sb.scm_size // ps, self.sb.total_pages),
                                     what=f"shard {shard.path}")
        if batch is not None:     # free in the result, but not reusable before the batch is durable
            self.pages.deferred.extend(batch.reserved_pages)
        self.blocks: ExtentAllocator | None = None
        self._vea_fresh = False
        self.cont = self._tree(self.sb.cont_root, "/")
        self._blob_written = False
        self._sb_dirty = False
        self._orig_size = shard.df.size()
        self._superblock_issued = False
        self.closed = False
        shard._tx = self

    # --- PageWriter for MutableTree.flush ---------------------------------------
    def alloc_page(self) -> int:
        return self.pages.alloc(1)

    def free_page(self, page: int) -> None:
        self.pages.free(page, 1)

    def write_page(self, page: int, data: bytes) -> None:
        self.shard.df.write(page * self.sb.page_size, data)
        self.reader.invalidate(page)

    # --- plumbing ------------------------------------------------------------------
    def _check_open(self):
        if self.closed:
            raise TransactionError("transaction is already finished")

    def _tree(self, desc: TreeRoot, path: str) -> MutableTree:
        t = MutableTree(self.reader, desc, path)
        t.opened = {}
        return t

    def _open(self, tree: MutableTree, key: bytes, make=None) -> _Open | None:
        o = tree.opened.get(key)
        if o is not None:
            return o
        v = tree.get(key)
        if v is None:
            if make is None:
                return None
            o = _Open(make())
            o.dirty = True
            tree.put(key, _ENCODE[tree.tclass](o.rec))
        else:
            o = _Open(guarded(_DECODE[tree.tclass], key, v, tclass=tree.tclass, path=tree.path))
        tree.opened[key] = o
        return o

    def _sub(self, o: _Open, field: str, path: str) -> MutableTree:
        t = o.subtrees.get(field)
        if t is None:
            t = o.subtrees[field] = self._tree(getattr(o.rec, field), path)
        return t

    # --- superblock -------------------------------------------------------------------
    def set_features(self, *, compat: int | None = None, ro_compat: int | None = None,
                     incompat: int | None = None) -> None:
        self._check_open()
        for name, value in (("compat", compat), ("ro_compat", ro_compat), ("incompat", incompat)):
            if value is not None:
                setattr(self.sb, name, value)
        self._sb_dirty = True

    # --- containers ---------------------------------------------------------------
    def _cont(self, cuuid, create: bool = False, csum_type: int = 0,
              chunk_size: int = 0) -> _Open:
        key = uuid_bytes(cuuid)
        o = self._open(self.cont, key, (lambda: ContainerRec(
            key, csum_type=csum_type, chunk_size=chunk_size or 32768)) if create else None)
        if o is None:
            raise NotFoundError(f"no container {uuid_str(key)}")
        return o

    def put_container(self, cuuid, **fields) -> None:
        """Create a container (or update its fields: hae, csum_type, chunk_size...)."""
        self._check_open()
        o = self._cont(cuuid, create=True, csum_type=fields.get("csum_type", 0),
                       chunk_size=fields.get("chunk_size", 0))
        for k, v in fields.items():
            if k in ContainerRec.SUBTREES or k == "uuid" or not hasattr(o.rec, k):
                raise TransactionError(f"cannot set container field {k!r}")
            setattr(o.rec, k, v)
        o.dirty = True

    def delete_container(self, cuuid) -> None:
        self._check_open()
        key = uuid_bytes(cuuid)
        self._delete(self.cont, key, f"container {uuid_str(key)}")

    # --- objects and keys -------------------------------------------------------------
    def _obj(self, cuuid, oid: Oid, create: bool = False) -> _Open:
        c = self._cont(cuuid)
        t = self._sub(c, "obj_root", "/" + uuid_str(c.rec.uuid))
        o = self._open(t, oid_key(oid), (lambda: ObjectRec(
            oid, dkey_root=TreeRoot(TreeClass.DKEY, dkey_kind(oid.otype)))) if create else None)
        if o is None:
            raise NotFoundError(f"no object {oid} in container {uuid_str(c.rec.uuid)}")
        return o

    def _dkey(self, cuuid, oid: Oid, dkey: bytes, create: bool = False) -> _Open:
        ob = self._obj(cuuid, oid, create)
        t = self._sub(ob, "dkey_root", f"/{uuid_str(uuid_bytes(cuuid))}/{oid}")
        ck = dkey_collate(t.key_kind, dkey)
        o = self._open(t, ck, (lambda: KeyRec(KrecFlags.DKEY, child_root=TreeRoot(
            TreeClass.AKEY, akey_kind(oid.otype)))) if create else None)
        if o is None:
            raise NotFoundError(f"no dkey {dkey!r} in object {oid}")
        return o

    def _akey(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, create: str | None = None) -> _Open:
        dk = self._dkey(cuuid, oid, dkey, bool(create))
        t = self._sub(dk, "child_root", f"/{uuid_str(uuid_bytes(cuuid))}/{oid}/{dkey!r}")
        ck = dkey_collate(t.key_kind, akey)

        def make():
            if create == "array":
                return KeyRec(KrecFlags.EVT, child_root=TreeRoot(TreeClass.EVT))
            return KeyRec(KrecFlags.BTR, child_root=TreeRoot(TreeClass.SINGV))

        o = self._open(t, ck, make if create else None)
        if o is None:
            raise NotFoundError(f"no akey {akey!r} under dkey {dkey!r}")
        if create and o.rec.value_kind != create:
            have = "an array" if o.rec.value_kind == "array" else "a single value"
            raise TransactionError(f"akey {akey!r} holds {have}; cannot store "
                                   f"{'an array extent' if create == 'array' else 'a single value'}"
                                   " there (mixing single values and arrays is not allowed)")
        return o

    def put_object(self, cuuid, oid: Oid, **fields) -> None:
        """Create an object (or update sync_epoch / max_write)."""
        self._check_open()
        o = self._obj(cuuid, oid, create=True)
        for k, v in fields.items():
            if k not in ("sync_epoch", "max_write"):
                raise TransactionError(f"cannot set object field {k!r}")
            setattr(o.rec, k, v)
        o.dirty = True

    def delete_object(self, cuuid, oid: Oid) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._sub(c, "obj_root", "/" + uuid_str(c.rec.uuid))
        self._delete(t, oid_key(oid), f"object {oid}")

    def put_key(self, cuuid, oid: Oid, dkey: bytes, akey: bytes | None = None,
                kind: str = "sv") -> None:
        """Create a dkey, or an akey whose values will be of ``kind`` ('sv' or 'array')."""
        self._check_open()
        if akey is None:
            self._dkey(cuuid, oid, dkey, create=True)
        else:
            self._akey(cuuid, oid, dkey, akey, create=kind)

    def delete_key(self, cuuid, oid: Oid, dkey: bytes, akey: bytes | None = None) -> None:
        self._check_open()
        if akey is None:
            ob = self._obj(cuuid, oid)
            t = self._sub(ob, "dkey_root", "")
            self._delete(t, dkey_collate(t.key_kind, dkey), f"dkey {dkey!r}")
        else:
            dk = self._dkey(cuuid, oid, dkey)
            t = self._sub(dk, "child_root", "")
            self._delete(t, dkey_collate(t.key_kind, akey), f"akey {akey!r}")

    def _target(self, cuuid, oid, dkey, akey) -> _Open:
        if akey is not None:
            return self._akey(cuuid, oid, dkey, akey)
        if dkey is not None:
            return self._dkey(cuuid, oid, dkey)
        return self._obj(cuuid, oid)

    def set_ilog(self, cuuid, oid: Oid, dkey: bytes | None = None, akey: bytes | None = None,
                 entries=(), flags: int | None = None) -> None:
        """Replace the incarnation log of an object, dkey or akey wholesale.

        Entries carrying an active DTX local id that were not in the log
        before are registered with that DTX entry (an ILOG record reference).
        """
        self._check_open()
        o = self._target(cuuid, oid, dkey, akey)
        entries = sorted(entries, key=lambda e: e.epoch)
        if len(entries) > ILOG_MAX:
            raise TransactionError(f"incarnation log is full ({ILOG_MAX} entries)")
        if len({e.epoch for e in entries}) != len(entries):
            raise TransactionError("incarnation log entries must have distinct epochs")
        old = {(e.epoch, e.tx_id) for e in o.rec.ilog.entries}
        il = o.rec.ilog
        o.rec.ilog = Ilog(list(entries), il.flags if flags is None else flags, il.mod_count + 1)
        o.dirty = True
        for e in entries:
            if e.tx_id >= DTX_LID_FIRST and (e.epoch, e.tx_id) not in old:
                self._register(cuuid, e.tx_id, DtxRecRef(RecType.ILOG, oid, dkey or b"",
                                                         akey or b""))

    def get_ilog(self, cuuid, oid: Oid, dkey: bytes | None = None, akey: bytes | None = None) -> Ilog:
        """The incarnation log of an object, dkey or akey as this transaction sees it."""
        return self._target(cuuid, oid, dkey, akey).rec.ilog

    def get_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey):
        """A stored value (``vkey`` an epoch, or (lo, epoch, minor)) as this transaction sees it."""
        ak = self._akey(cuuid, oid, dkey, akey)
        tree = self._sub(ak, "child_root", "")
        if isinstance(vkey, int):
            raw = tree.get(epoch_key(vkey))
            return None if raw is None else dec_sv(raw, vkey)
        raw = tree.get(extent_key(*vkey))
        return None if raw is None else dec_extent(raw, *vkey)

    def dtx_committed_entries(self, cuuid) -> list[DtxCommitted]:
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "")
        from .records import dec_dtx_committed
        return [dec_dtx_committed(v, xid_from_key(k)) for k, v in t.items()]

    def log(self, cuuid, oid: Oid, dkey: bytes | None, akey: bytes | None, epoch: int,
            minor: int = 0, tx_id: int = 0, punch: bool = False) -> None:
        """Record a create or punch in an incarnation log (DAOS ilog_update rules)."""
        self._check_open()
        o = self._target(cuuid, oid, dkey, akey)
        new = ilog_update(o.rec.ilog.entries, epoch, minor, tx_id, punch)
        if new is not None:
            self.set_ilog(cuuid, oid, dkey, akey, new)
        if dkey is None:
            if epoch > o.rec.max_write:
                o.rec.max_write = epoch
                o.dirty = True
        else:
            ob = self._obj(cuuid, oid)
            if epoch > ob.rec.max_write:
                ob.rec.max_write = epoch
                ob.dirty = True

    # --- values --------------------------------------------------------------------
    def _blob(self) -> DataFile:
        return self.shard.blob_file()

    def _blocks(self) -> ExtentAllocator:
        if self.blocks is None:
            sb = self.sb
            end = sb.hdr_blks + sb.tot_blks
            free = [(e.off, e.cnt) for e in self.shard.vea_free_extents()]
            if self.batch is not None:
                free = self.batch.usable(free, "blocks")
            self.blocks = ExtentAllocator(free, end=end, limit=end, what="NVMe blob")
            if self.batch is not None:
                self.blocks.deferred.extend(self.batch.reserved_blocks)
            self.blocks.end = end
        return self.blocks

    def _place(self, size: int, data, stream, summer) -> tuple[int, int, bytes | None]:
        """Store ``size`` bytes; return (media, offset, inline bytes)."""
        sb = self.sb
        if size <= INLINE_MAX:
            raw = bytes(data) if data is not None else _read_exact(stream, size)
            if summer is not None:
                summer.update(raw)
            return Media.INLINE, 0, raw
        if sb.nvme_size and size >= sb.nvme_threshold:
            n = -(-size // sb.blk_size)
            blk = self._blocks().alloc(n)
            off, f, media = blk * sb.blk_size, self._blob(), Media.NVME
            release = (self._blocks(), blk, n)
            self._blob_written = True
        else:
            n = -(-size // sb.page_size)
            page = self.pages.alloc(n)
            off, f, media = page * sb.page_size, self.shard.df, Media.SCM
            release = (self.pages, page, n)
        try:
            _copy_in(f, off, size, data, stream, summer)
        except BaseException:
            alloc, start, count = release
            alloc.free(start, count)
            raise
        return media, off, None

    def _release(self, media: int, off: int, size: int) -> None:
        sb = self.sb
        if media == Media.SCM and size:
            self.pages.free(off // sb.page_size, -(-size // sb.page_size))
        elif media == Media.NVME and size:
            self._blocks().free(off // sb.blk_size, -(-size // sb.blk_size))

    def _release_record(self, tclass: int, rec) -> None:
        if tclass == TreeClass.SINGV:
            if not rec.is_punch:
                self._release(rec.media, rec.off, rec.size)
        elif tclass == TreeClass.EVT:
            if not rec.is_punch:
                self._release(rec.media, rec.off, rec.nbytes)
            self._release(rec.csums.media, rec.csums.off, rec.csums.len)
        elif tclass == TreeClass.DTX_ACT:
            self._release(rec.records.media, rec.records.off, rec.records.len)
            self._release(rec.mbs.media, rec.mbs.off, rec.mbs.len)

    def _ext_bytes(self, raw: bytes, inline_max: int) -> ExtBytes:
        if len(raw) <= inline_max:
            return ExtBytes(Media.INLINE, len(raw), 0, raw)
        ps = self.sb.page_size
        page = self.pages.alloc(-(-len(raw) // ps))
        self.shard.df.write(page * ps, raw)
        return ExtBytes(Media.SCM, len(raw), page * ps, None)

    def _value_tree(self, cuuid, oid, dkey, akey, kind) -> tuple[_Open, MutableTree, _Open]:
        c = self._cont(cuuid)
        ak = self._akey(cuuid, oid, dkey, akey, create=kind)
        return c, self._sub(ak, "child_root", f"/{uuid_str(c.rec.uuid)}/{oid}"), ak

    def put_single_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, epoch: int,
                         data=None, *, stream=None, size: int | None = None, minor: int = 0,
                         dtx_lid: int = 0, ver: int = 0, punch: bool = False,
                         gsize: int | None = None, log: bool = True) -> SingleValue:
        """Store one version of a single value; missing object/keys are created.

        ``data`` (bytes) or ``stream`` (a binary file object) with ``size``
        supplies the bytes; large values are streamed, never buffered whole.
        ``log`` also records creates in the object/dkey/akey incarnation logs
        as VOS does on update. ``punch`` stores a zero-size punch record.
        """
        self._check_open()
        if epoch <= 0:
            raise TransactionError("epoch must be positive")
        size = _source_size(data, stream, size, punch)
        if size == 0 and not punch:
            raise TransactionError("a single value cannot be empty (size 0 means a punch)")
        c, tree, _ak = self._value_tree(cuuid, oid, dkey, akey, "sv")
        ctype = c.rec.csum_type
        sv = SingleValue(epoch, size, minor, dtx_lid, ver, gsize=size if gsize is None else gsize,
                         csum_type=ctype)
        if punch:
            sv.aflags = AddrFlags.HOLE
        else:
            h = hasher(ctype)
            sv.media, sv.off, sv.data = self._place(size, data, stream, h)
            sv.csum = h.digest() if h is not None else b""
        key = epoch_key(epoch)
        old = tree.get(key)
        if old is not None:
            self._release_record(TreeClass.SINGV, dec_sv(old, epoch))
        tree.put(key, enc_sv(sv))
        self._after_value(cuuid, oid, dkey, akey, epoch, minor, dtx_lid, punch, log,
                          DtxRecRef(RecType.SVT, oid, dkey, akey, key))
        return sv

    def put_extent(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, lo: int, nr: int,
                   epoch: int, data=None, *, rsize: int = 1, stream=None, minor: int = 0,
                   dtx_lid: int = 0, ver: int = 0, punch: bool = False,
                   log: bool = True) -> Extent:
        """Store one array extent of ``nr`` records of ``rsize`` bytes from index ``lo``.

        A punched extent is stored as a hole. Data is ``nr * rsize`` bytes.
        """
        self._check_open()
        if epoch <= 0 or nr <= 0 or rsize <= 0 or lo < 0 or lo + nr > 1 << 64:
            raise TransactionError("invalid extent (epoch, record count and size must be positive)")
        size = nr * rsize
        if not punch:
            got = _source_size(data, stream, size, False)
            if got != size:
                raise TransactionError(f"extent of {nr} records x {rsize} bytes needs {size} bytes, "
                                       f"got {got}")
        c, tree, _ak = self._value_tree(cuuid, oid, dkey, akey, "array")
        ctype = c.rec.csum_type
        ext = Extent(lo, nr, epoch, minor, rsize, dtx_lid, ver, csum_type=ctype,
                     csum_len=csum_len(ctype), chunk_size=c.rec.chunk_size)
        if punch:
            ext.aflags = AddrFlags.HOLE
        else:
            summer = ChunkSummer(ctype, c.rec.chunk_size, lo * rsize) if ctype else None
            ext.media, ext.off, ext.data = self._place(size, data, stream, summer)
            if summer is not None:
                ext.csums = self._ext_bytes(summer.digest(), CSUM_INLINE_MAX)
        key = extent_key(lo, epoch, minor)
        old = tree.get(key)
        if old is not None:
            self._release_record(TreeClass.EVT, dec_extent(old, lo, epoch, minor))
        tree.put(key, enc_extent(ext))
        self._after_value(cuuid, oid, dkey, akey, epoch, minor, dtx_lid, punch, log,
                          DtxRecRef(RecType.EVT, oid, dkey, akey, key))
        return ext

    def _after_value(self, cuuid, oid, dkey, akey, epoch, minor, lid, punch, log, ref):
        if log:
            for d, a in ((None, None), (dkey, None), (dkey, akey)):
                self.log(cuuid, oid, d, a, epoch, minor, lid)
        if lid >= DTX_LID_FIRST:
            self._register(cuuid, lid, ref)

    def relocate_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, data: bytes) -> None:
        """Give a stored value its own copy of ``data`` without releasing its old address.

        The checker's repair for space two records share: the old address
        stays with the other owner.
        """
        self._check_open()
        ak = self._akey(cuuid, oid, dkey, akey)
        tree = self._sub(ak, "child_root", "")
        if isinstance(vkey, int):
            key, rec = epoch_key(vkey), None
            raw = tree.get(key)
            rec = None if raw is None else dec_sv(raw, vkey)
            enc = enc_sv
        else:
            key = extent_key(*vkey)
            raw = tree.get(key)
            rec = None if raw is None else dec_extent(raw, *vkey)
            enc = enc_extent
        if rec is None:
            raise NotFoundError("no such value")
        rec.media, rec.off, rec.data = self._place(len(data), data, None, None)
        tree.put(key, enc(rec))

    def delete_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, *,
                     release: bool = True) -> None:
        """Remove one stored version: ``vkey`` is an epoch (single value) or (lo, epoch, minor).

        ``release=False`` drops the record without freeing what its address
        names (for a damaged address that points at space it does not own).
        """
        self._check_open()
        ak = self._akey(cuuid, oid, dkey, akey)
        tree = self._sub(ak, "child_root", "")
        key = epoch_key(vkey) if isinstance(vkey, int) else extent_key(*vkey)
        if not release:
            if tree.delete(key) is None:
                raise NotFoundError("no value")
            return
        self._delete(tree, key, "value")

    def update_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, **fields) -> None:
        """Change metadata of a stored value (dtx_lid, aflags, ver, minor)."""
        self._check_open()
        ak = self._akey(cuuid, oid, dkey, akey)
        tree = self._sub(ak, "child_root", "")
        if isinstance(vkey, int):
            key, dec, enc = epoch_key(vkey), (lambda v: dec_sv(v, vkey)), enc_sv
        else:
            key, dec, enc = extent_key(*vkey), (lambda v: dec_extent(v, *vkey)), enc_extent
        raw = tree.get(key)
        if raw is None:
            raise NotFoundError("no such value")
        rec = dec(raw)
        for k, v in fields.items():
            if k not in ("dtx_lid", "aflags", "ver"):
                raise TransactionError(f"cannot set value field {k!r}")
            setattr(rec, k, v)
        tree.put(key, enc(rec))

    # --- DTX tables ------------------------------------------------------------------
    def _act_tree(self, c: _Open) -> MutableTree:
        return self._sub(c, "dtx_act_root", "/" + uuid_str(c.rec.uuid) + " (dtx)")

    def _lids(self, c: _Open) -> dict:
        if c.lids is None:
            c.lids = {}
            t = self._act_tree(c)
            for k, v in t.items():
                o = t.opened.get(k)
                lid = o.rec.lid if o is not None else dec_dtx_active(v, xid_from_key(k)).lid
                c.lids[lid] = k
        return c.lids

    def put_dtx_active(self, cuuid, entry: DtxActive, refs=()) -> None:
        """Create or replace an active DTX entry (its record references with it)."""
        self._check_open()
        c = self._cont(cuuid)
        if entry.lid < DTX_LID_FIRST:
            raise TransactionError(f"active DTX local id must be >= {DTX_LID_FIRST}")
        lids = self._lids(c)
        key = xid_key(entry.xid)
        if lids.get(entry.lid, key) != key:
            raise TransactionError(f"local id {entry.lid} is already used by another DTX entry")
        t = self._act_tree(c)
        old = self._open(t, key)
        if old is not None:
            self._release_record(TreeClass.DTX_ACT, old.rec)
            if old.rec.lid != entry.lid:
                lids.pop(old.rec.lid, None)
        o = _Open(entry.replace(records=ExtBytes(), mbs=entry.mbs))
        o.refs = list(refs)
        o.dirty = True
        t.opened[key] = o
        t.put(key, enc_dtx_active(o.rec))
        lids[entry.lid] = key

    def dtx_active(self, cuuid, xid: Xid) -> DtxActive | None:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        return None if o is None else o.rec

    def dtx_active_entries(self, cuuid) -> list[DtxActive]:
        """Every active DTX entry of a container, as this transaction sees it."""
        c = self._cont(cuuid)
        t = self._act_tree(c)
        out = []
        for k, v in t.items():
            o = t.opened.get(k)
            out.append(o.rec if o is not None else dec_dtx_active(v, xid_from_key(k)))
        return out

    def dtx_refs(self, cuuid, xid: Xid) -> list[DtxRecRef]:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        return list(self._refs_of(o))

    def _refs_of(self, o: _Open) -> list:
        if o.refs is None:
            raw = self.shard.ext_bytes(o.rec.records, None, "dtx record list")
            o.refs = dec_refs(raw, o.rec.rec_cnt)
        return o.refs

    def set_dtx_refs(self, cuuid, xid: Xid, refs) -> None:
        c = self._cont(cuuid)
        o = self._open(self._act_tree(c), xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        o.refs = list(refs)
        o.dirty = True

    def _register(self, cuuid, lid: int, ref: DtxRecRef) -> None:
        c = self._cont(cuuid)
        key = self._lids(c).get(lid)
        if key is None:
            raise TransactionError(f"no active DTX entry with local id {lid} in container "
                                   f"{uuid_str(c.rec.uuid)}")
        o = self._open(self._act_tree(c), key)
        refs = self._refs_of(o)
        if ref not in refs:
            refs.append(ref)
            o.dirty = True

    def delete_dtx_active(self, cuuid, xid: Xid) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._act_tree(c)
        o = self._open(t, xid_key(xid))
        if o is None:
            raise NotFoundError(f"no active DTX {xid}")
        self._lids(c).pop(o.rec.lid, None)
        self._delete(t, xid_key(xid), f"active DTX {xid}")

    def put_dtx_committed(self, cuuid, entry: DtxCommitted) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "/" + uuid_str(c.rec.uuid) + " (dtx)")
        t.put(xid_key(entry.xid), enc_dtx_committed(entry))

    def delete_dtx_committed(self, cuuid, xid: Xid) -> None:
        self._check_open()
        c = self._cont(cuuid)
        t = self._sub(c, "dtx_cmt_root", "")
        self._delete(t, xid_key(xid), f"committed DTX {xid}")

    # --- VEA ----------------------------------------------------------------------------
    def vea_free(self, blk_off: int, blk_cnt: int) -> None:
        """Return blocks to the VEA free map (as DAOS vea_free / ddb vea_update)."""
        self._check_open()
        sb = self.sb
        if blk_cnt <= 0 or blk_off < sb.hdr_blks or blk_off + blk_cnt > sb.hdr_blks + sb.tot_blks:
            raise TransactionError(f"region {{{blk_off}, {blk_cnt}}} is outside the device")
        self._blocks().deferred.append((blk_off, blk_cnt))

    def vea_unfree(self, blk_off: int, blk_cnt: int) -> None:
        """Take blocks out of the free map (they are in use: the checker's repair)."""
        self._check_open()
        b = self._blocks()
        gone = [(blk_off, blk_cnt)]
        b.avail = [list(e) for e in subtract_extents([tuple(e) for e in b.avail], gone)]
        b.deferred = subtract_extents(b.deferred, gone)

    def reset_vea(self, free_extents) -> None:
        """Rebuild the VEA free map from scratch (the old tree may be unreadable)."""
        self._check_open()
        end = self.sb.hdr_blks + self.sb.tot_blks
        self.blocks = ExtentAllocator(free_extents, end=end, limit=end, what="NVMe blob")
        self._vea_fresh = True

    def free_pages(self, extents) -> None:
        """Return pages to the free list (leaked pages: the checker's repair)."""
        self._check_open()
        self.pages.deferred.extend(extents)

    def unfree_pages(self, extents) -> None:
        """Take pages out of the free list (they are in use: the checker's repair)."""
        self._check_open()
        p = self.pages
        p.avail = [list(e) for e in subtract_extents([tuple(e) for e in p.avail], extents)]
        p.deferred = subtract_extents(p.deferred, extents)

    def replace_tree(self, owner: tuple, field: str, items) -> None:
        """Replace one tree by a fresh one holding ``items`` [(key, value bytes)].

        ``owner`` names the record holding the tree: () for the superblock's
        container table, (cont,), (cont, oid), (cont, oid, dkey) or
        (cont, oid, dkey, akey). Used to rebuild a damaged tree from the
        records that could still be read; the old tree's pages are left for
        the leak repair to reclaim.
        """
        self._check_open()
        if not owner:
            old = self.sb.cont_root
            self.cont = self._tree(TreeRoot(old.tclass, old.key_kind), "/")
            tree = self.cont
        else:
            o = [self._cont, self._obj, self._dkey, self._akey][len(owner) - 1](*owner)
            old = getattr(o.rec, field)
            tree = o.subtrees[field] = self._tree(TreeRoot(old.tclass, old.key_kind), "")
            o.dirty = True
        for k, v in items:
            tree.put(k, v)

    def vea_reserve(self, blk_cnt: int) -> int:
        """Take blocks from the VEA (for tests and repair tools); returns the offset."""
        self._check_open()
        return self._blocks().alloc(blk_cnt)

    # --- deletion ------------------------------------------------------------------------
    def _delete(self, tree: MutableTree, key: bytes, what: str) -> None:
        value = tree.get(key)
        if value is None:
            raise NotFoundError(f"no {what}")
        self._drop(tree, key, value)
        tree.delete(key)

    def _drop(self, tree: MutableTree, key: bytes, value: bytes) -> None:
        """Release everything a record owns: its space and its whole subtree."""
        o = tree.opened.pop(key, None)
        if o is not None:
            rec = o.rec
        elif tree.tclass in _DECODE:
            rec = guarded(_DECODE[tree.tclass], key, value, tclass=tree.tclass, path=tree.path)
        elif tree.tclass == TreeClass.SINGV:
            rec = dec_sv(value, 0)
        elif tree.tclass == TreeClass.EVT:
            rec = dec_extent(value, 0, 0, 0)
        else:
            return
        self._release_record(tree.tclass, rec)
        for field in getattr(rec, "SUBTREES", ()):
            sub = o.subtrees.get(field) if o is not None else None
            if sub is None:
                sub = self._tree(getattr(rec, field), tree.path)
            for k, v in list(sub.items()):
                self._drop(sub, k, v)
            for page in sub.original_pages():
                self.pages.free(page, 1)

    # --- commit ---------------------------------------------------------------------------
    def _flush(self, tree: MutableTree, budget: int) -> TreeRoot:
        enc = _ENCODE.get(tree.tclass)
        for key, o in list(tree.opened.items()):
            rec, changed = o.rec, o.dirty
            if o.refs is not None and o.dirty:
                self._release(rec.records.media, rec.records.off, rec.records.len)
                rec.records = self._ext_bytes(enc_refs(o.refs), REFS_INLINE_MAX)
                rec.rec_cnt = len(o.refs)
            if o.subtrees:
                names = rec.SUBTREES
                base = len(enc(rec)) - sum(len(getattr(rec, f).embed) for f in names)
                room = MAX_VALUE - base - sum(len(getattr(rec, f).embed) for f in names
                                              if f not in o.subtrees)
                for f in names:
                    sub = o.subtrees.get(f)
                    if sub is None:
                        continue
                    d = self._flush(sub, max(room, 0))
                    if d is not getattr(rec, f):
                        setattr(rec, f, d)
                        changed = True
                    room -= len(d.embed)
            if changed:
                raw = enc(rec)
                if len(raw) > MAX_VALUE:
                    raise TransactionError(f"record of {len(raw)} bytes exceeds {MAX_VALUE}")
                tree.put(key, raw)
        tree.opened.clear()
        return tree.flush(self, budget)

    def commit(self) -> None:
        """Make every edit durable atomically (see the module docstring)."""
        self._check_open()
        try:
            self._commit()
        except BaseException:
            if self._superblock_issued:
                self.shard._in_doubt = True
            self.abort()
            if self.batch is not None:       # the staged view may be damaged: drop it all
                self.batch.abort()
            raise
        self._finish()

    def _commit(self) -> None:
        sb, shard = self.sb, self.shard
        ps = sb.page_size
        sb.cont_root = self._flush(self.cont, 0)
        if self.blocks is not None:
            vt = self._tree(TreeRoot(TreeClass.VEA) if self._vea_fresh else sb.vea_root, "vea")
            old = {k: v for k, v in vt.items()}
            new = {blk_key(off): enc_vea(cnt) for off, cnt in self.blocks.final_free()}
            for k in old.keys() - new.keys():
                vt.delete(k)
            for k, v in new.items():
                if old.get(k) != v:
                    vt.put(k, v)
            sb.vea_root = vt.flush(self, 0)
        # Free-page list of the new state; its own pages come from space free in G.
        for page in self._old_freelist:
            self.pages.free(page, 1)
        cap = freelist_capacity(ps)
        chain: list[int] = []
        while True:
            free = self.pages.final_free()
            if len(chain) >= -(-len(free) // cap):
                break
            page = self.pages.take_from_avail(1)
            if page is None:
                page = self.pages.alloc(1)
                self.pages.fresh.pop(page, None)
            chain.append(page)
        for i, page in enumerate(chain):
            part = free[i * cap:(i + 1) * cap]
            nxt = chain[i + 1] if i + 1 < len(chain) else 0
            self.write_page(page, build_freelist_page(ps, page, self.generation, nxt, part))
        sb.freelist_head = chain[0] if chain else 0
        sb.free_pages = sum(c for _, c in free)
        sb.total_pages = self.pages.end
        sb.generation = self.generation
        sb.slot = self.generation % 2
        if shard.df.size() < sb.total_pages * ps:
            shard.df.truncate(sb.total_pages * ps)
        if self._blob_written:
            self._blob().sync()
        shard.df.sync()
        if self.batch is not None:           # staged: the batch writes the real superblock
            shard.df.write(sb.slot * PAGE_SIZE, encode_superblock(sb))
            self.batch.note_commit(self.pages, self.blocks)
            shard._after_commit(sb)
            return
        self._superblock_issued = True       # from here on the new state may be durable
        shard.df.write(sb.slot * PAGE_SIZE, encode_superblock(sb))
        shard.df.sync()
        shard._after_commit(sb)

    def abort(self) -> None:
        """Discard every edit; the shard is left as it was.

        Value bytes streamed into pages that are free stay there as garbage
        nobody references; pages appended past the end are cut off again.
        """
        if not self.closed:
            self._finish()
            if not self._superblock_issued and self.shard.df.size() > self._orig_size:
                self.shard.df.truncate(self._orig_size)

    def _finish(self) -> None:
        self.closed = True
        self.shard._tx = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.closed:
            return
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _source_size(data, stream, size, punch: bool) -> int:
    if punch:
        return 0
    if data is not None:
        n = len(data)
        if size is not None and size != n:
            raise TransactionError(f"size {size} does not match {n} bytes of data")
        return n
    if stream is None or size is None:
        raise TransactionError("a value needs data, or a stream and its size")
    return size


def _read_exact(stream, size: int) -> bytes:
    raw = stream.read(size)
    if len(raw) != size:
        raise TransactionError(f"source ended after {len(raw)} of {size} bytes")
    return raw


def _copy_in(f: DataFile, off: int, size: int, data, stream, summer) -> None:
    if data is not None:
        if summer is not None:
            summer.update(data)
        f.write(off, data)
        return
    done = 0
    while done < size:
        chunk = stream.read(min(STREAM_CHUNK, size - done))
        if not chunk:
            raise TransactionError(f"source ended after {done} of {size} bytes")
        if summer is not None:
            summer.update(chunk)
        f.write(off + done, chunk)
        done += len(chunk)


def begin(shard: Shard) -> Transaction:
    return Transaction(shard)


def create_shard(path: str, pool_uuid, target: int, *, scm_size: int = DEFAULT_SCM_SIZE,
                 nvme_size: int = 0, blk_size: int = DEFAULT_BLK_SIZE,
                 hdr_blks: int = DEFAULT_HDR_BLKS,
                 nvme_threshold: int = DEFAULT_NVME_THRESHOLD) -> None:
    """Create an empty shard file atomically (written to a temporary name, then renamed).

    The NVMe free map is initialised by the first transaction (see
    ``vosfmt.image.create_pool``), not here: a superblock cannot embed trees.
    """
    if os.path.exists(path):
        raise VosError(f"{path}: already exists")
    if nvme_size and (blk_size % 4096 or not 0 < blk_size <= 1 << 20):
        raise VosError("VEA block size must be a multiple of 4 KiB, at most 1 MiB")
    tot_blks = nvme_size // blk_size - hdr_blks if nvme_size else 0
    if nvme_size and tot_blks <= 0:
        raise VosError("NVMe size is too small for its header blocks")
    sb = Superblock(FORMAT_VERSION, 0, 0, 0, uuid_bytes(pool_uuid), target,
                    PAGE_SIZE, 1, 2, scm_size, nvme_size, nvme_threshold, blk_size if nvme_size else 0,
                    hdr_blks if nvme_size else 0, tot_blks, TreeRoot(TreeClass.VEA),
                    TreeRoot(TreeClass.CONT_TABLE), 0, 0, 1)
    tmp = path + ".tmp"
    if os.path.exists(tmp):
        os.unlink(tmp)
    with DataFile(tmp, writable=True, create=True) as f:
        raw = encode_superblock(sb)
        page = raw + bytes(PAGE_SIZE - len(raw))
        f.write(0, page + page)            # both copies valid from the start
        f.sync()
    os.replace(tmp, path)
    sync_dir(os.path.dirname(os.path.abspath(path)))
