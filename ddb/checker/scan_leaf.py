"""The check's hot loop, a leaf at a time: a dkey's akeys that each hold one inline value.

That is most of a real shard (DAOS writes a value per akey, and a tree of
one record is embedded in its akey), and checked record by record
(``scan_records``) each costs four decoders, four objects and a dozen
calls. Here the akey leaf is decoded in one pass into rows
(``vosfmt.leafrows``) and every row is held against what makes the
record-by-record pass find nothing and record no fact beyond counts: a
single-value akey (its flags say so), a committed incarnation log with
sound minors, one value stored inline without address flags or a pending
local id, its checksum right. The facts such a tree adds are then the
same in bulk: its node page, the records and checksummed bytes, the newest
epoch.

Anything else — a leaf of another shape, a branch, one row that would be
a finding — returns None before a fact is recorded, and the caller checks
the tree record by record, which names what is wrong (so does every tree
when ``DDB_LEAF_DECODE=0`` turns leaf decoding off). So the findings of
a check never depend on which path ran (tests/test_scan_leaf.py runs every
damage both ways).
"""
from __future__ import annotations

from operator import itemgetter, lt

from vosfmt import CorruptionError
from vosfmt.checksum import csum_len, csum_of, csums_of
from vosfmt.constants import (
    DTX_LID_ABORTED,
    DTX_LID_COMMITTED,
    DTX_LID_FIRST,
    DTX_LID_SOLO_FLAG,
    KeyKind,
    RootFlags,
    TreeClass,
)
from vosfmt.keys import epoch_from_key, epoch_key
from vosfmt.leafrows import F
from vosfmt.records import ILOG_ENTRY, key_flags_for

#: the fields of a row judged row by row, and what the first four must read
_KIND = itemgetter(F.flags, F.root_tclass, F.embed_klen, F.sv_aflags, F.sv_size, F.sv_dtx_lid,
                   F.sv_csum_type, F.sv_csum_len, F.ilog)
_WANT = (key_flags_for(TreeClass.SINGV), int(TreeClass.SINGV), len(epoch_key(0)), 0)
_KEYS, _VKEYS, _SIZE, _CT, _CSUM, _DATA = (itemgetter(i) for i in (
    F.key, F.vkey, F.sv_size, F.sv_csum_type, F.csum, F.data))
_ILOG_CACHE_MAX = 1024
_SETTLED = (DTX_LID_COMMITTED, DTX_LID_ABORTED)     # log ids that record no DTX fact


class LeafPass:
    """Clean akey leaves of one shard's scan, checked in bulk (see the module docstring)."""

    def __init__(self, scan):
        self.scan, self.reader, self.facts = scan, scan.reader, scan.facts
        self._ilog_newest: dict[bytes, int | None] = {}     # log bytes -> newest epoch

    def akeys(self, root, owner: list, akind: int) -> int | None:
        """The newest epoch under a clean akey tree, its facts recorded; None (nothing
        recorded) when the tree needs the record-by-record pass."""
        try:
            rows = self.reader.key_value_rows(root)
        except CorruptionError:
            return None
        if rows is None:
            return None
        newest, checked = self._clean(rows, akind)
        if newest is None:
            return None
        self.scan.tick()
        if not root.flags & RootFlags.EMBEDDED:
            self.scan.own(root.page, (owner, " akey tree node"))
        f = self.facts
        f.records += len(rows)
        f.value_bytes += checked
        return newest

    def _clean(self, rows: list, akind: int) -> tuple[int | None, int]:
        """(the newest epoch, the bytes of checksummed values) of rows that would raise no
        finding; (None, 0) otherwise. The fields judged row by row are taken in one pass,
        and most leaves have one combination of them (one kind of akey, one log), so each
        distinct combination is judged once."""
        keys = list(map(_KEYS, rows))
        if not all(map(lt, keys, keys[1:])):
            return None, 0              # out of key order: lookups would miss records
        if akind == KeyKind.UINT64 and any(len(k) != 8 for k in keys):
            return None, 0
        newest, logs, csums = 0, self._ilog_newest, set()
        for flags, tclass, vklen, aflags, size, lid, ct, cl, raw in set(map(_KIND, rows)):
            if (flags, tclass, vklen, aflags) != _WANT or not size \
                    or (lid >= DTX_LID_FIRST and not lid & DTX_LID_SOLO_FLAG):
                return None, 0          # (a pending write: the DTX checks need its facts)
            csums.add((ct, cl))
            n = logs.get(raw, -1)
            if n == -1:
                if len(logs) >= _ILOG_CACHE_MAX:
                    logs.clear()
                n = logs[raw] = _committed_newest(raw)
            if n is None:
                return None, 0
            if n > newest:
                newest = n
        if not _csums_right(rows, csums):
            return None, 0
        checked = sum(map(_SIZE, filter(_CT, rows))) if any(ct for ct, _ in csums) else 0
        return max(newest, epoch_from_key(max(map(_VKEYS, rows)))), checked   # keys sort as epochs


def _csums_right(rows: list, kinds: set) -> bool:
    """Does every checksummed value's checksum match its data? Rows of one checksum type and
    length (``kinds``: the leaf's (type, length) pairs) are verified at once
    (``checksum.csums_of``); mixed leaves value by value."""
    if len(kinds) == 1:
        ((ct, cl),) = kinds
        if not ct:
            return True
        if cl == csum_len(ct):
            return csums_of(ct, list(map(_DATA, rows))) == b"".join(map(_CSUM, rows))
    return all(not r[F.sv_csum_type] or csum_of(r[F.sv_csum_type], r[F.data]) == r[F.csum]
               for r in rows)


def _committed_newest(raw: bytes) -> int | None:
    """The newest epoch of a log whose entries are all settled, each a punch or an update;
    None for any other log (the record-by-record pass reports or records it)."""
    newest = 0
    for epoch, lid, punch_minor, update_minor in ILOG_ENTRY.iter_unpack(raw):
        if punch_minor == update_minor or not (lid in _SETTLED or lid & DTX_LID_SOLO_FLAG):
            return None
        if epoch > newest:
            newest = epoch
    return newest
