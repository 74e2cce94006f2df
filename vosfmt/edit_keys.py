"""Edits of containers, objects, dkeys and akeys, and of their incarnation logs.

The part of ``Transaction`` that creates, updates and deletes the keyed
records themselves (values are ``edit_values``, DTX tables ``edit_dtx``).
It relies on ``edit_records`` to open records by their path and on
``edit_dtx`` to register incarnation-log entries of an active transaction.
"""
from __future__ import annotations

from .constants import DTX_LID_FIRST, ILOG_MAX, RecType
from .dtx_records import DtxRecRef
from .errors import TransactionError
from .ilog import ilog_update
from .keys import Oid, dkey_collate, oid_key, uuid_bytes, uuid_str
from .records import ContainerRec, Ilog


class KeyEdits:
    """Containers, objects, dkeys and akeys, and their incarnation logs."""

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
