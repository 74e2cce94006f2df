"""Fields that other facts repeat: what they should be, and their rewrite (Code.FIELD_DISAGREES).

A field rewritten with its page checksum recomputed decodes fine, so only
what repeats it can tell it is wrong:

- a value's address flags (``aflags``) and media: a hole (HOLE) has no data,
  no checksums and no location (a single value: size 0); a value that has
  any of these is no hole. Bits other than HOLE and CORRUPTED mean nothing.
- a dkey or akey tree's ``key_kind``: the object's type decides it
  (``constants.dkey_kind`` / ``akey_kind``, as the writer does); uint64 keys
  are 8 bytes.
- an active DTX entry's ``oid`` (the leader's object): when this shard leads
  the transaction (LEADER, or it is its only target), the object is one its
  record references name (those that records carrying its local id confirm).
- an active DTX entry's group count: a modification group is a set of the
  transaction's targets, so 1 <= ``grp_cnt`` <= ``tgt_cnt``; with one target
  the group count can only be 1. (With more targets, which of the two counts
  was damaged nothing records: reported and left, like the faults below.)

Two faults are found here with no value to rewrite them to; they are reported, and left
for the user (the default is to ignore them, so a run exits 4):

- an incarnation-log entry whose punch and update minor epochs are equal: an entry is a
  punch (punch_minor > update_minor) or an update, the writer refuses equal minors
  (upstream ``ilog_update`` too), and a log entry carries at least one non-zero minor.
  Which of the two was damaged, and from what, nothing else records.
- a committed DTX entry at epoch 0: epoch 0 is never used (upstream C2.10; the writer
  refuses it), and nothing else records a committed transaction's epoch (its records
  carry the committed local id, not its own; the xid's HLC is the client's clock, not
  the epoch).

The scan side is a few functions called from ``scan.ShardScan`` only when a
cheap test fails (a non-zero ``aflags``, a kind other than the object type's,
once per DTX entry); the repair side rewrites the one field in a transaction.
"""
from __future__ import annotations

import struct

from vosfmt import CorruptionError
from vosfmt import layout as L
from vosfmt.codec import field_offset
from vosfmt.constants import AddrFlags, KeyKind, Media, TreeClass
from vosfmt.dtx import leads_here
from vosfmt.keys import epoch_key, extent_key
from vosfmt.record_decoding import checked_decoder

from .finding import owner_keys, owner_label
from .problems import Action, Code
from .registry import repairs

KNOWN_AFLAGS = AddrFlags.HOLE | AddrFlags.CORRUPTED
_DECODE_ERRORS = (CorruptionError, ValueError, IndexError, KeyError, struct.error)


#: byte offsets of the one-byte fields rewritten in place, from the layout declarations
_SV_AT = {n: field_offset(L.sv_rec_fixed, n) for n in ("aflags", "media")}
_EXT_AT = {n: field_offset(L.ext_rec_fixed, n) for n in ("aflags", "media")}


def _kind_name(kind: int) -> str:
    try:
        return f"{kind} ({KeyKind(kind).name.lower()})"
    except ValueError:
        return f"{kind} (no key kind)"


# --- the scan side ---------------------------------------------------------------------------

def _salvage_extent(k, v):
    """The checker's extent decoder, with a second try with the HOLE flag toggled: that
    flag decides whether the record's data bytes are there, so a flipped one makes an
    intact extent malformed. An extent that decodes only the other way is returned with
    its stored flags (``addr_flags_fault`` then names the flag); anything else raises as
    before. Costs nothing unless the record is malformed."""
    try:
        return _checked_extent(k, v)
    except _DECODE_ERRORS:
        at = _EXT_AT["aflags"]
        if len(v) <= at:
            raise
        other = bytearray(v)
        other[at] ^= AddrFlags.HOLE
        try:
            x = _checked_extent(k, bytes(other))
        except _DECODE_ERRORS:
            pass
        else:
            x.aflags ^= AddrFlags.HOLE
            return x
        raise


_checked_extent = checked_decoder(TreeClass.EVT)


#: tree class -> the checker's decoder: ``records.checked_decoder``, salvaging extents whose
#: HOLE flag was flipped (a table: the scan looks one up per tree, i.e. per record)
SCAN_DECODERS = {tc: _salvage_extent if tc == TreeClass.EVT else checked_decoder(tc)
                 for tc in TreeClass}


def scan_decoder(tclass: int):
    """The checker's decoder of a tree class (ValueError for an unknown class)."""
    try:
        return SCAN_DECODERS[tclass]
    except KeyError:
        raise ValueError(f"unknown tree class {tclass}") from None


def addr_flags_fault(v, sv: bool):
    """(field, stored, expected, reason) when a value's address flags or media disagree with
    what the record holds, else None. Called only for values with flags, or (extents) with
    neither inline data nor the HOLE flag."""
    af = v.aflags
    hole, why = None, ""                 # None: the record does not say (other damage)
    if sv:
        if v.size:
            where = f" on {Media(v.media).name}" if v.media in (Media.SCM, Media.NVME) else ""
            hole, why = False, f"it has {v.size} byte(s) of data{where}" + \
                (" and a checksum" if v.csum else "")
        elif not v.csum and not v.off:
            if v.media != Media.INLINE:
                return ("media", v.media, int(Media.INLINE),
                        "the value is a punch (size 0), which has no media location")
            hole, why = True, "its size is 0 (a punch)"
    else:
        has = []
        if v.data is not None:
            has.append(f"{len(v.data)} inline data byte(s)")
        if v.csums.len:
            has.append(f"{v.csums.len} byte(s) of checksums")
        if v.media != Media.INLINE and v.off:
            has.append(f"data at offset {v.off}")
        if has:
            hole, why = False, "it has " + " and ".join(has)
        elif v.media == Media.INLINE:
            hole, why = True, "it has no data, checksums or location"
        elif af & AddrFlags.HOLE:
            return ("media", v.media, int(Media.INLINE),
                    "the extent is a hole (no data, checksums or location), which has no media")
    want = af & KNOWN_AFLAGS
    if hole is not None:
        want = (want & ~AddrFlags.HOLE) | (AddrFlags.HOLE if hole else 0)
    if want == af:
        return None
    reasons = []
    if (af ^ want) & AddrFlags.HOLE:
        reasons.append(f"{why}, so it is {'a hole' if hole else 'no hole'}")
    if af & ~KNOWN_AFLAGS:
        reasons.append(f"bit(s) {af & ~KNOWN_AFLAGS:#x} are no address flag")
    return ("aflags", af, want, ", and ".join(reasons))


def value_finding(scan, v, owner, sv: bool, where: dict) -> None:
    """Report a value whose flags or media disagree, and make the decoded record say what
    the repair will write (so the rest of the value's checks see the repaired value)."""
    fault = addr_flags_fault(v, sv)
    if fault is None:
        return
    name, stored, want, reason = fault
    scan.add(Code.FIELD_DISAGREES, record="value", owner=where["value"], name=name, stored=stored,
             expected=want, reason=reason, what="value", **where)
    setattr(v, name, want)
    if not sv and name == "aflags" and want & AddrFlags.HOLE:
        v.data = None


def key_kind_finding(scan, root, items, owner: list, want: int, level: str, otype: str) -> int:
    """A dkey or akey tree whose key kind is not the one its object's type decides: the
    kind the rest of the scan should read the keys with (the repaired one when the keys'
    sizes allow it, else the stored one, and the finding is left for the user)."""
    stored = root.key_kind
    ctx = dict(record=f"{level} tree of", owner=owner_label(owner), path=owner, name="key_kind",
               stored=_kind_name(stored), expected=_kind_name(want), what="key_kind",
               kind=int(want), level=level,
               reason=f"the object's type ({otype}) has {KeyKind(want).name.lower()} {level}s")
    if want == KeyKind.UINT64:
        odd = [k for k, _v, _r in items or () if len(k) != 8]
        if odd:
            ctx["reason"] += (f" (8 bytes) and {len(odd)} key(s) are not 8 bytes: the type or "
                              "the keys are damaged, the kind is left as it is")
            ctx["default"] = int(Action.IGNORE)
            scan.add(Code.FIELD_DISAGREES, **ctx)
            return stored
    scan.add(Code.FIELD_DISAGREES, **ctx)
    return want


def dtx_oid_finding(scan, e, good_refs, cu: str) -> None:
    """An active entry of a transaction this shard leads names an object none of its
    (confirmed) record references name."""
    if not good_refs or not leads_here(e):
        return
    oids = [r.oid for r in good_refs]
    if e.oid in oids:
        return
    # a damaged field leaves the others: the object sharing most of them is the one
    best = max(oids, key=lambda o: sum(a == b for a, b in zip(o, e.oid)))
    scan.add(Code.FIELD_DISAGREES, record="active transaction", owner=str(e.xid), name="oid",
             stored=str(e.oid), expected=str(best), what="dtx_oid", cont=cu,
             xid=str(e.xid),
             reason=f"the {len(set(oids))} object(s) its records are in do not include it")


def dtx_groups_finding(scan, e, cu: str) -> None:
    """An active entry with no group, more groups than targets, or no target."""
    if e.tgt_cnt >= 1 and 1 <= e.grp_cnt <= e.tgt_cnt:
        return
    fixable = e.tgt_cnt == 1
    scan.add(Code.FIELD_DISAGREES, record="active transaction", owner=str(e.xid), name="grp_cnt",
             stored=e.grp_cnt, expected=1 if fixable else f"between 1 and tgt_cnt ({e.tgt_cnt})",
             what="dtx_grp_cnt", cont=cu, xid=str(e.xid),
             reason=f"a group is a set of its {e.tgt_cnt} target(s)"
                    + ("" if fixable else "; which count was damaged nothing records: left "
                                          "for the user"),
             **({} if fixable else {"default": int(Action.IGNORE)}))


def ilog_minors_finding(scan, owner: list, epoch: int, minor: int) -> None:
    """A log entry whose punch and update minors are both ``minor``: reported only."""
    scan.add(Code.FIELD_DISAGREES, record="incarnation log of", owner=owner_label(owner), path=owner,
             name=f"the punch and update minor of its entry at epoch {epoch}",
             stored=f"{minor} for both", expected="two different values", epoch=epoch,
             what="ilog_minors", default=int(Action.IGNORE),
             reason="an entry is a punch or an update, so its minors differ (the writer "
                    "refuses equal ones); which one was damaged, and from what, nothing "
                    "records: left for the user")


def dtx_cmt_epoch_finding(scan, e, cu: str) -> None:
    """A committed DTX entry at epoch 0: reported only."""
    scan.add(Code.FIELD_DISAGREES, record="committed transaction", owner=str(e.xid), name="epoch",
             stored=0, expected="a non-zero epoch", what="dtx_cmt_epoch", cont=cu,
             xid=str(e.xid), default=int(Action.IGNORE),
             reason="epoch 0 is never used (the writer refuses it), and nothing else records "
                    "a committed transaction's epoch: left for the user")


# --- the repair side -------------------------------------------------------------------------

@repairs(Code.FIELD_DISAGREES, order=2)            # after trees; a key kind before the keys' users
def rewrite_field(job, f, action) -> bool:
    """Rewrite the field a Code.FIELD_DISAGREES finding names; False when the record no longer
    holds the value the scan saw (nothing is written: the next scan decides)."""
    tx, c = job.tx, f.ctx
    what = c["what"]
    if what == "value":
        return _repair_value(tx, c)
    if what == "key_kind":
        return _repair_key_kind(tx, c)
    if what == "dtx_oid":
        return _repair_dtx_oid(tx, c)
    if what == "dtx_grp_cnt":
        return _repair_dtx_grp_cnt(tx, c)
    return False            # ilog_minors, dtx_cmt_epoch: no value to rewrite them to


def _repair_value(tx, c: dict) -> bool:
    cu, oid, dkey, akey = owner_keys(c["path"])
    vkey = c["vkey"]
    sv = len(vkey) == 1
    tree = tx.value_tree(cu, oid, dkey, akey)
    key = epoch_key(vkey[0]) if sv else extent_key(*vkey)
    raw = tree.get(key)
    at = (_SV_AT if sv else _EXT_AT)[c["name"]]
    if raw is None or len(raw) <= at or raw[at] != c["stored"]:
        return False
    raw = bytearray(raw)
    raw[at] = c["expected"]
    tree.put(key, bytes(raw))
    return True


def _repair_key_kind(tx, c: dict) -> bool:
    cu, oid, *dkey = owner_keys(c["path"])
    tx.set_key_kind((cu, oid, *dkey), "child_root" if dkey else "dkey_root", c["kind"])
    return True


def _active_entry(tx, c: dict):
    """(container, xid, the active entry as the transaction sees it or None)."""
    from vosfmt.keys import Xid, uuid_bytes
    cu, xid = uuid_bytes(c["cont"]), Xid.parse(c["xid"])
    return cu, xid, tx.dtx_active(cu, xid)


def _repair_dtx_oid(tx, c: dict) -> bool:
    from vosfmt.keys import Oid
    cu, xid, e = _active_entry(tx, c)
    if e is None or str(e.oid) != c["stored"]:
        return False
    tx.update_dtx_active(cu, xid, oid=Oid.parse(c["expected"]))
    return True


def _repair_dtx_grp_cnt(tx, c: dict) -> bool:
    cu, xid, e = _active_entry(tx, c)
    if e is None or e.grp_cnt != c["stored"] or e.tgt_cnt != 1:
        return False
    tx.update_dtx_active(cu, xid, grp_cnt=1)
    return True
