"""Navigation handles: a container, object, dkey or akey of an open shard.

Thin handles that hold their decoded record and read child trees only when
asked (through the shard's ``TreeReader``), so walking a listing costs the
pages it touches and nothing more. Malformed records surface as
``CorruptionError`` naming their VOS path.
"""
from __future__ import annotations

import struct

from .constants import EPOCH_MAX, KeyKind, TreeClass
from .dtx_records import DtxActive, dec_dtx_active, dec_dtx_committed, dec_refs
from .errors import CorruptionError, NotFoundError
from .keys import (
    Oid,
    dkey_collate,
    dkey_uncollate,
    epoch_from_key,
    extent_from_key,
    oid_from_key,
    oid_key,
    uuid_str,
    xid_from_key,
)
from .keytext import format_key
from .leafrows import F, row_key_rec, row_value
from .record_decoding import guarded, malformed
from .records import ContainerRec, KeyRec, ObjectRec, TreeRoot, dec_key, dec_object, value_kind_of
from .value_records import SingleValue, dec_extent, dec_sv


class Container:
    """A container: its object index and its DTX tables."""
    __slots__ = ("shard", "rec", "path")

    def __init__(self, shard, rec: ContainerRec):
        self.shard, self.rec = shard, rec
        self.path = "/" + uuid_str(rec.uuid)

    def __repr__(self):
        return f"<container {self.uuid}>"

    @property
    def uuid(self) -> str:
        return uuid_str(self.rec.uuid)

    def _obj(self, k, v) -> VosObject:
        rec = guarded(dec_object, v, tclass=TreeClass.OBJ_TABLE,
                      path=lambda: f"{self.path}/{oid_from_key(k)}")
        return VosObject(self, rec)

    def objects(self):
        for k, v in self.shard.reader.items(self.rec.obj_root, path=self.path):
            yield self._obj(k, v)

    def object(self, oid: Oid) -> VosObject:
        v = self.shard.reader.get(self.rec.obj_root, oid_key(oid), path=self.path)
        if v is None:
            raise NotFoundError(f"no object {oid} in container {self.uuid}")
        return self._obj(oid_key(oid), v)

    def object_at(self, index: int) -> VosObject:
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
        if child is AKey and start is None:
            rows = self.shard.reader.key_value_rows(root, path=self)
            if rows is not None:            # akeys of one inline value each: a leaf at a time
                for r in rows:
                    k = r[_ROW_KEY]
                    yield AKey(self, dkey_uncollate(kind, k) if uint else k, None, r)
                return
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
    """An akey; one listed a leaf at a time holds its ``vosfmt.leafrows`` row and makes its
    record, and its one value, from it only when asked."""
    __slots__ = ("dkey", "key", "_rec", "shard", "_row")

    def __init__(self, dkey: DKey, key: bytes, rec: KeyRec | None, row: tuple | None = None):
        self.dkey, self.key, self._rec, self.shard, self._row = dkey, key, rec, dkey.shard, row

    @property
    def rec(self) -> KeyRec:
        rec = self._rec
        if rec is None:
            rec = self._rec = row_key_rec(self._row)
        return rec

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
        row = self._row
        return self.rec.value_kind if row is None else value_kind_of(row[_ROW_FLAGS])

    def single_values(self):
        """Every stored version, oldest epoch first."""
        if self.value_kind != "sv":
            return
        if self._row is not None:
            yield row_value(self._row)
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


_ROW_KEY, _ROW_FLAGS = F.key, F.flags
VosObject._CHILD = DKey
DKey._CHILD = AKey
