"""Edits of stored values: single-value versions and array extents.

The part of ``Transaction`` that stores, changes and removes values under an
akey, creating the object and keys on the way and logging the creation in
their incarnation logs as VOS does on update. Bytes are placed by
``edit_space``; a value written by an active DTX is registered with it
(``edit_dtx``).
"""
from __future__ import annotations

from .checksum import ChunkSummer, csum_len, hasher
from .constants import CSUM_INLINE_MAX, DTX_LID_FIRST, AddrFlags, RecType, TreeClass
from .dtx_records import DtxRecRef
from .edit_records import OpenRecord, OpenTree
from .errors import NotFoundError, TransactionError
from .keys import Oid, epoch_key, extent_key, uuid_str
from .value_records import Extent, SingleValue, dec_extent, dec_sv, enc_extent, enc_sv


class ValueEdits:
    """Single values and array extents: store, change, remove, read back."""

    def value_tree(self, cuuid, oid: Oid, dkey: bytes, akey: bytes) -> OpenTree:
        """The editable tree of an akey's stored values, raw record bytes by collated key
        (epoch_key or extent_key): for repairs that patch bytes a decoder would reject."""
        return self._sub(self._akey(cuuid, oid, dkey, akey), "child_root", "")

    def get_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey):
        """A stored value (``vkey`` an epoch, or (lo, epoch, minor)) as this transaction sees it."""
        tree = self.value_tree(cuuid, oid, dkey, akey)
        if isinstance(vkey, int):
            raw = tree.get(epoch_key(vkey))
            return None if raw is None else dec_sv(raw, vkey)
        raw = tree.get(extent_key(*vkey))
        return None if raw is None else dec_extent(raw, *vkey)

    def _value_tree(self, cuuid, oid, dkey, akey, kind) -> tuple[OpenRecord, OpenTree]:
        """The container and the value tree of an akey holding ``kind`` values, made if
        missing (with its object and keys)."""
        c = self._cont(cuuid)
        ak = self._akey(cuuid, oid, dkey, akey, create=kind)
        return c, self._sub(ak, "child_root", f"/{uuid_str(c.rec.uuid)}/{oid}")

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
        c, tree = self._value_tree(cuuid, oid, dkey, akey, "sv")
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
        c, tree = self._value_tree(cuuid, oid, dkey, akey, "array")
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

    def delete_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, *,
                     release: bool = True) -> None:
        """Remove one stored version: ``vkey`` is an epoch (single value) or (lo, epoch, minor).

        ``release=False`` drops the record without freeing what its address
        names (for a damaged address that points at space it does not own).
        """
        self._check_open()
        tree = self.value_tree(cuuid, oid, dkey, akey)
        key = epoch_key(vkey) if isinstance(vkey, int) else extent_key(*vkey)
        if not release:
            if tree.delete(key) is None:
                raise NotFoundError("no value")
            return
        self._delete(tree, key, "value")

    def update_value(self, cuuid, oid: Oid, dkey: bytes, akey: bytes, vkey, **fields) -> None:
        """Change metadata of a stored value (dtx_lid, aflags, ver, minor)."""
        self._check_open()
        tree = self.value_tree(cuuid, oid, dkey, akey)
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
