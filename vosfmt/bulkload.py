"""Filling a freshly created, empty shard bottom-up from sorted input, in one commit.

A ``Transaction`` edits top-down: every put descends the copy-on-write path to its
leaf, and the commit re-packs what the edits touched. Filling an empty shard that way
pays a descent per record. ``BulkLoad`` builds each tree once, from its records in
key order: an object's values, then its akeys, then its dkeys are encoded and packed
as the object arrives, and only its record (a hundred bytes or so) is kept; at the end
of a container the object records are sorted by oid and the object table is packed,
then the DTX tables. Nodes are cut by ``mutable_tree.pack_nodes`` and small trees
embedded by ``mutable_tree.embeddable``, the rules every transaction's commit
follows, and every record is encoded by the ``enc_*`` codecs, but the commonest akey's
(``inline_akeys.PlainAkeyIn``), packed in one call into the same bytes.

Crash safety is the transaction's own: ``BulkLoad`` *is* a ``Transaction`` (its space
allocators hand out only pages and blocks free in the durable state, or past its end;
its commit writes the free-page list and the VEA, syncs, then flips the superblock),
so an interrupted load leaves the shard as it was, empty and valid.

Memory: the object being loaded (as the caller holds it), one record per object of
the open container, and the record references of its active DTX entries.
"""
from __future__ import annotations

from typing import NamedTuple

from .bulk_values import SvIn, ValueEncoder
from .constants import (
    DTX_LID_FIRST,
    ILOG_MAX,
    MAX_VALUE,
    KrecFlags,
    RecType,
    RootFlags,
    TreeClass,
    akey_kind,
    dkey_kind,
)
from .dtx_records import DtxActive, DtxCommitted, DtxRecRef, enc_dtx_active, enc_dtx_committed, enc_refs
from .edit_dtx import REFS_INLINE_MAX
from .errors import TransactionError
from .inline_akeys import InlineAkeys, PlainAkeyIn
from .keys import Oid, dkey_collate, oid_key, uuid_bytes, xid_key
from .mutable_tree import embeddable, pack_nodes, stack_levels
from .node import LEAF_OVERHEAD, leaf_body
from .records import (
    ContainerRec,
    Ilog,
    IlogEntry,
    KeyRec,
    ObjectRec,
    TreeRoot,
    enc_container,
    enc_key,
    enc_object,
)
from .txn import Transaction


class AkeyIn(NamedTuple):
    """An akey to load: its key bytes, incarnation log, 'sv' or 'array', and its values
    (``bulk_values.SvIn`` or ``ExtentIn``, in tree order)."""
    key: bytes
    ilog: list
    kind: str
    values: list


class DkeyIn(NamedTuple):
    """A dkey to load: its key bytes, incarnation log and akeys (in tree order)."""
    key: bytes
    ilog: list
    akeys: list


class BulkLoad(Transaction):
    """A transaction that fills an empty shard: ``container()`` per container, then
    ``commit()`` (or use it as a context manager, like any transaction)."""

    def __init__(self, shard):
        super().__init__(shard)
        if self.sb.cont_root.count or self.sb.cont_root.page:
            self.abort()
            raise TransactionError(f"{shard.path} is not empty: a bulk load fills a new shard")
        self._loaded: set[bytes] = set()

    def alloc_page(self) -> int:
        """A page for a new node. Nothing a bulk load writes is freed within it, so its pages
        need no per-page record of this transaction's allocations (one entry a node)."""
        return self.pages.alloc_untracked(1)

    def container(self, cuuid, *, csum_type: int = 0, chunk_size: int = 0) -> ContainerLoad:
        """Start loading a container (each container once); ``ContainerLoad.finish`` puts
        its record in the container table."""
        self._check_open()
        key = uuid_bytes(cuuid)
        if key in self._loaded:
            raise TransactionError("a bulk load takes each container once")
        self._loaded.add(key)
        return ContainerLoad(self, ContainerRec(key, csum_type=csum_type,
                                                chunk_size=chunk_size or 32768))

    def tree(self, tclass: int, key_kind: int, keys: list, vals: list, budget: int) -> TreeRoot:
        """Write the tree of these records (keys strictly increasing) and return its root;
        a single leaf that fits ``budget`` bytes is embedded instead."""
        d = TreeRoot(tclass, key_kind)
        n = len(keys)
        if n == 1:
            size = LEAF_OVERHEAD + len(keys[0]) + len(vals[0])
        elif n:
            if not all(map(bytes.__lt__, keys, keys[1:])):
                raise TransactionError(f"bulk load: keys of a {TreeClass(tclass).name} tree are "
                                       "not in increasing order (or repeat)")
            size = sum(map(len, keys)) + sum(map(len, vals)) + LEAF_OVERHEAD * n
        else:
            return d
        if embeddable(size, budget):
            d.count, d.flags, d.embed = len(keys), RootFlags.EMBEDDED, leaf_body(keys, vals)
            return d
        entries = [(k, v, 1) for k, v in zip(keys, vals)]
        ps = self.sb.page_size
        return stack_levels(self, ps, d, pack_nodes(self, ps, tclass, entries, 0, leaf=True,
                                                    first_key=b""), 0)


def _general(ak: PlainAkeyIn) -> AkeyIn:
    return AkeyIn(ak.key, [IlogEntry(ak.created, 0, 0, ak.created_minor)], "sv",
                  [SvIn(ak.epoch, ak.minor, 0, ak.data)])


def _record(raw: bytes, what: str) -> bytes:
    if len(raw) > MAX_VALUE:
        raise TransactionError(f"{what} record of {len(raw)} bytes exceeds {MAX_VALUE}")
    return raw


class ContainerLoad:
    """One container of a bulk load: objects in any order, then ``finish``."""

    def __init__(self, load: BulkLoad, rec: ContainerRec):
        self.load, self.rec = load, rec
        self.objects: list[tuple[bytes, bytes]] = []      # (oid key, object record)
        self.committed: list[tuple[bytes, bytes]] = []    # (xid key, committed entry)
        self.refs: dict[int, list] = {}                   # lid -> record references
        self.values = ValueEncoder(load, rec.csum_type, rec.chunk_size, self.refs)
        self.inline = InlineAkeys(rec.csum_type)
        self._key_base: dict[int, int] = {}

    def add_committed(self, entry: DtxCommitted) -> None:
        self.committed.append((xid_key(entry.xid), enc_dtx_committed(entry)))

    def add_object(self, oid: Oid, ilog: list, max_write: int, dkeys: list) -> int:
        """Write an object's trees (``dkeys``: ``DkeyIn`` in tree order, their akeys
        ``AkeyIn`` or ``inline_akeys.PlainAkeyIn``); keep its record.
        Returns how many values it holds."""
        self.load._check_open()
        dkk, akk = dkey_kind(oid.otype), akey_kind(oid.otype)
        nvalues = 0
        dks, dvals = [], []
        for dk in dkeys:
            aks, avals = [], []
            for ak in dk.akeys:
                aks.append(dkey_collate(akk, ak.key))
                if type(ak) is PlainAkeyIn:
                    rec = self.inline.record(ak)
                    if rec is not None:
                        nvalues += 1
                        avals.append(rec)
                        continue
                    ak = _general(ak)
                vkeys, vvals = self.values.encode(ak.kind, ak.values, (oid, dk.key, ak.key))
                nvalues += len(vkeys)
                tclass = TreeClass.SINGV if ak.kind == "sv" else TreeClass.EVT
                avals.append(self._key_record(KrecFlags.BTR if ak.kind == "sv" else KrecFlags.EVT,
                                              ak.ilog, tclass, 0, vkeys, vvals,
                                              (oid, dk.key, ak.key)))
            dks.append(dkey_collate(dkk, dk.key))
            dvals.append(self._key_record(KrecFlags.DKEY, dk.ilog, TreeClass.AKEY, akk, aks, avals,
                                          (oid, dk.key, b"")))
        rec = ObjectRec(oid, 0, max_write, self._log(ilog, (oid, b"", b"")),
                        TreeRoot(TreeClass.DKEY, dkk))
        budget = MAX_VALUE - len(enc_object(rec))
        rec.dkey_root = self.load.tree(TreeClass.DKEY, dkk, dks, dvals, budget)
        self.objects.append((oid_key(oid), _record(enc_object(rec), f"object {oid}")))
        return nvalues

    def _key_record(self, flags: int, ilog: list, tclass: int, kind: int, keys, vals,
                    path: tuple) -> bytes:
        """A dkey or akey record over the tree of ``keys``; the room it leaves its tree is
        what a record with this many log entries and an empty tree does not use."""
        base = self._key_base.get(len(ilog))
        if base is None:
            base = self._key_base[len(ilog)] = len(enc_key(KeyRec(flags, Ilog(list(ilog)))))
        root = self.load.tree(tclass, kind, keys, vals, MAX_VALUE - base)
        return _record(enc_key(KeyRec(flags, self._log(ilog, path), root)), "key")

    def _log(self, entries: list, path: tuple) -> Ilog:
        """The incarnation log of the record at ``path`` (oid, dkey, akey) as a transaction's
        ``set_ilog`` leaves a new record's (``entries`` by epoch, modified once), its
        entries of active DTXs registered with them (once per DTX)."""
        if len(entries) > ILOG_MAX:
            raise TransactionError(f"incarnation log is full ({ILOG_MAX} entries)")
        prev, lids = -1, None
        for e in entries:
            if e.epoch <= prev:
                raise TransactionError(f"bulk load: the incarnation log of {path[0]} "
                                       f"{path[1]!r} {path[2]!r} is not in increasing epoch order")
            prev = e.epoch
            if e.tx_id >= DTX_LID_FIRST:
                lids = lids or {}
                lids[e.tx_id] = None
        for lid in lids or ():
            self.refs.setdefault(lid, []).append(DtxRecRef(RecType.ILOG, *path))
        return Ilog(entries, 0, 1)

    def finish(self, active: list[DtxActive] = ()) -> None:
        """Pack the object table and the DTX tables (``active``: the container's active
        entries; each gets the references of what was loaded under its local id) and put
        the container record in the container table."""
        load, rec = self.load, self.rec
        load._check_open()
        rows = []
        for e in active:
            if e.lid < DTX_LID_FIRST:
                raise TransactionError(f"active DTX local id must be >= {DTX_LID_FIRST}")
            refs = self.refs.pop(e.lid, [])
            rows.append((xid_key(e.xid), e.replace(records=load._ext_bytes(
                enc_refs(refs), REFS_INLINE_MAX), rec_cnt=len(refs))))
        if self.refs:
            raise TransactionError(f"no active DTX entry with local id {min(self.refs)} in the "
                                   "container, but records were loaded under it")
        if len({e.lid for e in active}) != len(active):
            raise TransactionError("two active DTX entries share a local id")
        rows.sort(key=lambda r: r[0])
        self.objects.sort(key=lambda r: r[0])
        self.committed.sort(key=lambda r: r[0])
        room = MAX_VALUE - len(enc_container(rec))
        for field, tclass, records in (
                ("obj_root", TreeClass.OBJ_TABLE, self.objects),
                ("dtx_act_root", TreeClass.DTX_ACT,
                 [(k, _record(enc_dtx_active(e), "active DTX")) for k, e in rows]),
                ("dtx_cmt_root", TreeClass.DTX_CMT, self.committed)):
            root = load.tree(tclass, 0, [k for k, _ in records], [v for _, v in records],
                             max(room, 0))
            setattr(rec, field, root)
            room -= len(root.embed)
        self.objects = self.committed = []
        load.cont.put(rec.uuid, _record(enc_container(rec), "container"))
