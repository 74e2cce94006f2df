"""Records opened for editing inside a transaction, and how to reach and remove them.

A transaction edits decoded records, not bytes: the first touch of a
container, object, dkey, akey or active DTX entry decodes it into an
``OpenRecord`` kept in its tree's ``opened`` table, edits change the record
(and mark it ``dirty``), and the commit (``txn.Transaction._flush``) encodes
every dirty record back, bottom-up, after flushing the subtrees it owns.

``RecordEditing`` is the part of ``Transaction`` that opens records by their
path (container uuid, oid, dkey, akey) and deletes them with everything
they own. It relies on the transaction's ``reader``, ``pages`` and
``_release_record`` (``edit_space``).
"""
from __future__ import annotations

from .constants import KrecFlags, TreeClass, akey_kind, dkey_kind
from .dtx_records import enc_dtx_active
from .errors import NotFoundError, TransactionError
from .keys import Oid, dkey_collate, oid_key, uuid_bytes, uuid_str
from .mutable_tree import MutableTree
from .record_decoding import decode_record, guarded
from .records import ContainerRec, KeyRec, ObjectRec, TreeRoot, enc_container, enc_key, enc_object
from .value_records import dec_extent, dec_sv

#: tree classes whose records can be opened for editing (and so need encoding back)
DECODE = {tc: (lambda k, v, tc=tc: decode_record(tc, k, v))
          for tc in (TreeClass.CONT_TABLE, TreeClass.OBJ_TABLE, TreeClass.DKEY, TreeClass.AKEY,
                     TreeClass.DTX_ACT)}
ENCODE = {
    TreeClass.CONT_TABLE: enc_container, TreeClass.OBJ_TABLE: enc_object,
    TreeClass.DKEY: enc_key, TreeClass.AKEY: enc_key, TreeClass.DTX_ACT: enc_dtx_active,
}


class OpenRecord:
    """A record opened for editing: its decoded form and its opened child trees."""
    __slots__ = ("rec", "subtrees", "dirty", "refs", "lids")

    def __init__(self, rec):
        self.rec = rec
        self.subtrees: dict[str, OpenTree] = {}
        self.dirty = False
        self.refs = None          # DTX_ACT: decoded record references, once touched
        self.lids = None          # container: lid -> xid key of its active entries


class OpenTree(MutableTree):
    """A tree being edited, with the records of it opened so far (key -> OpenRecord)."""

    def __init__(self, reader, root: TreeRoot, path: str | None = None):
        super().__init__(reader, root, path)
        self.opened: dict[bytes, OpenRecord] = {}


class RecordEditing:
    """Opening records by their path, and deleting them with all they own."""

    def _tree(self, desc: TreeRoot, path: str) -> OpenTree:
        return OpenTree(self.reader, desc, path)

    def _open(self, tree: OpenTree, key: bytes, make=None) -> OpenRecord | None:
        """The record under ``key``, opened; if absent, ``make()``'s record put there (or
        None without ``make``)."""
        o = tree.opened.get(key)
        if o is not None:
            return o
        v = tree.get(key)
        if v is None:
            if make is None:
                return None
            o = OpenRecord(make())
            o.dirty = True
            tree.put(key, ENCODE[tree.tclass](o.rec))
        else:
            o = OpenRecord(guarded(DECODE[tree.tclass], key, v, tclass=tree.tclass,
                                   path=tree.path))
        tree.opened[key] = o
        return o

    def _sub(self, o: OpenRecord, field: str, path: str) -> OpenTree:
        """The tree ``field`` of an open record, opened for editing."""
        t = o.subtrees.get(field)
        if t is None:
            t = o.subtrees[field] = self._tree(getattr(o.rec, field), path)
        return t

    def _cont(self, cuuid, create: bool = False, csum_type: int = 0,
              chunk_size: int = 0) -> OpenRecord:
        key = uuid_bytes(cuuid)
        o = self._open(self.cont, key, (lambda: ContainerRec(
            key, csum_type=csum_type, chunk_size=chunk_size or 32768)) if create else None)
        if o is None:
            raise NotFoundError(f"no container {uuid_str(key)}")
        return o

    def _obj(self, cuuid, oid: Oid, create: bool = False) -> OpenRecord:
        c = self._cont(cuuid)
        t = self._sub(c, "obj_root", "/" + uuid_str(c.rec.uuid))
        o = self._open(t, oid_key(oid), (lambda: ObjectRec(
            oid, dkey_root=TreeRoot(TreeClass.DKEY, dkey_kind(oid.otype)))) if create else None)
        if o is None:
            raise NotFoundError(f"no object {oid} in container {uuid_str(c.rec.uuid)}")
        return o

    def _dkey(self, cuuid, oid: Oid, dkey: bytes, create: bool = False) -> OpenRecord:
        ob = self._obj(cuuid, oid, create)
        t = self._sub(ob, "dkey_root", f"/{uuid_str(uuid_bytes(cuuid))}/{oid}")
        ck = dkey_collate(t.key_kind, dkey)
        o = self._open(t, ck, (lambda: KeyRec(KrecFlags.DKEY, child_root=TreeRoot(
            TreeClass.AKEY, akey_kind(oid.otype)))) if create else None)
        if o is None:
            raise NotFoundError(f"no dkey {dkey!r} in object {oid}")
        return o

    def _akey(self, cuuid, oid: Oid, dkey: bytes, akey: bytes,
              create: str | None = None) -> OpenRecord:
        """``create``: 'sv' or 'array' makes a missing akey (and its parents) of that kind."""
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

    def _owner(self, owner: tuple) -> OpenRecord:
        """The record ``owner`` names: (cont,), (cont, oid), (cont, oid, dkey) or
        (cont, oid, dkey, akey)."""
        return (self._cont, self._obj, self._dkey, self._akey)[len(owner) - 1](*owner)

    def _target(self, cuuid, oid, dkey, akey) -> OpenRecord:
        """The object, dkey or akey a (possibly partial) path names."""
        if akey is not None:
            return self._akey(cuuid, oid, dkey, akey)
        if dkey is not None:
            return self._dkey(cuuid, oid, dkey)
        return self._obj(cuuid, oid)

    # --- deletion ------------------------------------------------------------------------
    def _delete(self, tree: OpenTree, key: bytes, what: str) -> None:
        value = tree.get(key)
        if value is None:
            raise NotFoundError(f"no {what}")
        self._drop(tree, key, value)
        tree.delete(key)

    def _drop(self, tree: OpenTree, key: bytes, value: bytes) -> None:
        """Release everything a record owns: its space and its whole subtree."""
        o = tree.opened.pop(key, None)
        if o is not None:
            rec = o.rec
        elif tree.tclass in DECODE:
            rec = guarded(DECODE[tree.tclass], key, value, tclass=tree.tclass, path=tree.path)
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
