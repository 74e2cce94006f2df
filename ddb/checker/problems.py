"""The problem table: every inconsistency the checker knows, as data.

Classes and actions reuse DAOS's CheckInconsistClass / CheckInconsistAction
numbers where the meaning matches; local classes start at 200. Each problem
names its pass, a message template, its default action, the ordered choices
(index 0 is the suggestion) with a detail line each, and whether the default
is safe to apply without asking (e2fsck's PREEN_OK). A problem with no
repair says why in ``report_only``.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Action(enum.IntEnum):
    DEFAULT = 0
    INTERACT = 1
    IGNORE = 2
    DISCARD = 3
    READD = 4
    TRUST_MS = 5
    TRUST_PS = 6
    TRUST_TARGET = 7
    TRUST_MAJORITY = 8
    TRUST_LATEST = 9
    TRUST_OLDEST = 10
    TRUST_EC_PARITY = 11
    TRUST_EC_DATA = 12
    STALE = 0xFFFF


class Cls(enum.IntEnum):
    NONE = 0
    POOL_LESS_SVC_WITHOUT_QUORUM = 2     # the system classes (2-12): ddb.checker.system.classes
    POOL_NONEXIST_ON_MS = 4
    POOL_NONEXIST_ON_ENGINE = 5      # an SMD pool row with no shard ("dangling pool")
    POOL_BAD_LABEL = 7
    ENGINE_NONEXIST_IN_MAP = 8
    ENGINE_DOWN_IN_MAP = 9
    ENGINE_HAS_NO_STORAGE = 10
    CONT_NONEXIST_ON_PS = 11
    CONT_BAD_LABEL = 12
    DTX_CORRUPTED = 13
    DTX_ORPHAN = 14                  # a record's local id names no active transaction
    CSUM_FAILURE = 16                # a value does not match its checksum
    UNKNOWN = 100
    SB_DAMAGED = 200                 # local classes from here on
    TREE_DAMAGED = 201
    SPACE_LEAKED = 202
    SPACE_CONFLICT = 203
    RECORD_DAMAGED = 204
    COUNTER_WRONG = 205
    SMD_INCONSISTENT = 206
    MS_REPLICA_BEHIND = 207          # the MS's own findings (local numbers)
    MS_WITHOUT_QUORUM = 208


class Code(enum.IntEnum):
    """Every problem's number: pass << 16 | index. The only place codes are written."""
    SB_COPY_DAMAGED = 0x000001
    SHARD_TRUNCATED = 0x000002
    SHARD_UNREADABLE = 0x000003
    TREE_NODE_UNREADABLE = 0x010001
    FREE_LIST_DAMAGED = 0x010002
    TREE_COUNT_WRONG = 0x010003
    VALUE_CSUM_MISMATCH = 0x020001
    VALUE_OUT_OF_BOUNDS = 0x020002
    OBJ_MAX_WRITE_STALE = 0x020003
    RECORD_ID_MISMATCH = 0x020004
    KEY_EMPTY = 0x020005
    KEY_FLAGS_WRONG = 0x020006
    FIELD_DISAGREES = 0x020007
    ILOG_ORPHAN_LID = 0x030001
    VALUE_ORPHAN_LID = 0x030002
    DTX_DANGLING_REF = 0x030003
    DTX_ACTIVE_AND_COMMITTED = 0x030004
    DTX_RECORDS_UNREADABLE = 0x030005
    PAGES_LEAKED = 0x040001
    PAGES_FREE_AND_USED = 0x040002
    PAGE_DOUBLE_OWNED = 0x040003
    BLOCKS_LEAKED = 0x040004
    BLOCKS_FREE_AND_USED = 0x040005
    SMD_BLOB_MISSING = 0x060001
    SMD_POOL_WITHOUT_SHARD = 0x060002
    SMD_DB_UNREADABLE = 0x060003
    BLOB_HEADER_WRONG = 0x060004


@dataclass(frozen=True)
class Problem:
    code: Code
    name: str
    cls: Cls
    message: str                     # str.format template over the finding's context
    choices: tuple                   # (Action, detail) pairs; index 0 = suggested
    safe_auto: bool = False          # the default may be applied without asking (preen)
    report_only: str = ""            # why there is no repair

    @property
    def pass_(self) -> int:
        return self.code >> 16

    @property
    def default(self) -> Action:
        return self.choices[0][0] if self.choices else Action.IGNORE


def _p(code, cls, message, choices=(), safe_auto=False, report_only=""):
    return Problem(code, code.name, cls, message, tuple(choices), safe_auto, report_only)


IGN = (Action.IGNORE, "Ignore it and leave the shard as it is.")

PROBLEMS = [
    # P0 superblock
    _p(Code.SB_COPY_DAMAGED, Cls.SB_DAMAGED,
       "superblock copy in slot {slot} is damaged ({reason}); the other copy (generation {gen}) is used",
       [(Action.TRUST_LATEST, "Rewrite the damaged copy from the good one [suggested]."), IGN],
       safe_auto=True),
    _p(Code.SHARD_TRUNCATED, Cls.TREE_DAMAGED,
       "shard file is truncated: {size} bytes, the superblock describes {pages} pages; "
       "{lost} page(s) at the end are missing and what they held is lost",
       [(Action.TRUST_TARGET, "Extend the file to the size the superblock describes with zero "
                              "pages; the trees and values that were on them are then found "
                              "unreadable and rebuilt from what remains [suggested]."), IGN]),
    _p(Code.SHARD_UNREADABLE, Cls.SB_DAMAGED,
       "shard file {file} cannot be opened: {reason}; nothing in it can be checked",
       [(Action.IGNORE, "Leave the shard as it is; restore it from a replica or a backup (the "
                        "rest of the image is checked without it, and its SMD rows and blob "
                        "are kept).")],
       report_only="no superblock copy can be trusted, so nothing describes the shard's pages "
                   "to rebuild them from"),
    # P1 structure
    _p(Code.TREE_NODE_UNREADABLE, Cls.TREE_DAMAGED,
       "{tree} tree of {owner} has an unreadable node at page {page} ({reason}); "
       "{lost} record(s) below it cannot be read",
       [(Action.DISCARD, "Rebuild the tree from the records that can still be read, dropping "
                         "what was below the damaged node [suggested]."), IGN]),
    _p(Code.FREE_LIST_DAMAGED, Cls.TREE_DAMAGED,
       "free-page list is damaged at page {page} ({reason})",
       [(Action.TRUST_TARGET, "Rebuild the free-page list from the pages nothing reaches "
                              "[suggested]."), IGN], safe_auto=True),
    _p(Code.TREE_COUNT_WRONG, Cls.COUNTER_WRONG,
       "{tree} tree of {owner}{where} says it holds {stored} record(s) but holds {actual}",
       [(Action.TRUST_TARGET, "Rebuild the tree from its records, with the right counts "
                              "[suggested]."), IGN], safe_auto=True),
    # P2 records
    _p(Code.VALUE_CSUM_MISMATCH, Cls.CSUM_FAILURE,
       "value {value} does not match its {csum} checksum",
       [(Action.TRUST_TARGET, "Mark the value corrupted (kept, but reads report it) [suggested]."),
        (Action.DISCARD, "Remove the value."), IGN], safe_auto=True),
    _p(Code.VALUE_OUT_OF_BOUNDS, Cls.RECORD_DAMAGED,
       "value {value} points at {media} bytes {start}..{end}, outside the {where}",
       [(Action.DISCARD, "Remove the value record (its bytes are lost) [suggested]."), IGN]),
    _p(Code.OBJ_MAX_WRITE_STALE, Cls.COUNTER_WRONG,
       "object {owner} records max write epoch {stored} but holds epoch {actual}",
       [(Action.TRUST_TARGET, "Raise the object's max write epoch [suggested]."), IGN],
       safe_auto=True),
    _p(Code.RECORD_ID_MISMATCH, Cls.RECORD_DAMAGED,
       "{what} record filed under {key} says it is {stored}",
       [(Action.TRUST_TARGET, "Rewrite the id stored in the record from the key it is filed "
                              "under (lookups find it by that key) [suggested]."), IGN],
       safe_auto=True),
    _p(Code.KEY_EMPTY, Cls.RECORD_DAMAGED,
       "{level} {owner} holds nothing: no value below it and no punch in its incarnation log",
       [(Action.DISCARD, "Remove the empty key (nothing readable is lost) [suggested]."), IGN],
       safe_auto=True),
    _p(Code.KEY_FLAGS_WRONG, Cls.RECORD_DAMAGED,
       "{level} {owner} has flags {stored:#x}, but the tree below it is {tree} tree (flags "
       "{expected:#x})",
       [(Action.TRUST_TARGET, "Rewrite the key's flags from the class of the tree below it (its "
                              "records decode as that class) [suggested]."), IGN],
       safe_auto=True),
    _p(Code.FIELD_DISAGREES, Cls.RECORD_DAMAGED,
       "{record} {owner}: {name} is {stored}, but {reason}; it should be {expected}",
       [(Action.TRUST_TARGET, "Rewrite the field from the facts that repeat it [suggested]."),
        IGN], safe_auto=True),
    # P3 ILOG <-> DTX
    _p(Code.ILOG_ORPHAN_LID, Cls.DTX_ORPHAN,
       "incarnation log of {owner} has an entry at epoch {epoch} of local id {lid}, "
       "which no active transaction has",
       [(Action.DISCARD, "Abort it: remove the entry [suggested, unless the epoch is below the "
                         "container's stable epoch]."),
        (Action.READD, "Commit it: keep the entry as committed [suggested below the stable "
                       "epoch]."), IGN]),
    _p(Code.VALUE_ORPHAN_LID, Cls.DTX_ORPHAN,
       "value {value} carries local id {lid}, which no active transaction has",
       [(Action.DISCARD, "Abort it: mark the value aborted [suggested, unless the epoch is "
                         "below the container's stable epoch]."),
        (Action.READD, "Commit it: mark the value committed [suggested below the stable "
                       "epoch]."), IGN]),
    _p(Code.DTX_DANGLING_REF, Cls.DTX_CORRUPTED,
       "active transaction {xid} refers to {count} record(s) that no longer carry its local id",
       [(Action.DISCARD, "Drop the dangling references (dtx_act_discard_invalid) [suggested]."), IGN],
       safe_auto=True),
    _p(Code.DTX_ACTIVE_AND_COMMITTED, Cls.DTX_CORRUPTED,
       "transaction {xid} is both active and committed",
       [(Action.READD, "Finish the commit: commit its records, drop the active entry "
                       "[suggested]."), IGN], safe_auto=True),
    _p(Code.DTX_RECORDS_UNREADABLE, Cls.DTX_CORRUPTED,
       "record list of active transaction {xid} cannot be read ({reason})",
       [(Action.TRUST_TARGET, "Rebuild the list from the records that carry the transaction's "
                              "local id [suggested]."), IGN], safe_auto=True),
    # P4 space
    _p(Code.PAGES_LEAKED, Cls.SPACE_LEAKED,
       "{count} shard page(s) are neither in use nor free ({ranges})",
       [(Action.TRUST_TARGET, "Return them to the free-page list [suggested]."), IGN], safe_auto=True),
    _p(Code.PAGES_FREE_AND_USED, Cls.SPACE_CONFLICT,
       "{count} shard page(s) in use are also on the free-page list ({ranges})",
       [(Action.TRUST_TARGET, "Take them off the free-page list [suggested]."), IGN], safe_auto=True),
    _p(Code.PAGE_DOUBLE_OWNED, Cls.SPACE_CONFLICT,
       "{what} {page} is used by both {first} and {second}",
       [(Action.TRUST_TARGET, "Clone: give the first value its own copy of the shared bytes "
                              "(when a tree node shares the space, only ignoring is possible) "
                              "[suggested]."), IGN]),
    _p(Code.BLOCKS_LEAKED, Cls.SPACE_LEAKED,
       "{count} NVMe block(s) are neither in use nor free ({ranges})",
       [(Action.TRUST_TARGET, "Return them to the VEA free map [suggested]."), IGN], safe_auto=True),
    _p(Code.BLOCKS_FREE_AND_USED, Cls.SPACE_CONFLICT,
       "{count} NVMe block(s) in use are also in the VEA free map ({ranges})",
       [(Action.TRUST_TARGET, "Take them out of the free map [suggested]."), IGN], safe_auto=True),
    # P6 across files
    _p(Code.SMD_BLOB_MISSING, Cls.SMD_INCONSISTENT,
       "SMD does not locate the NVMe blob of pool {pool} target {target} ({reason})",
       [(Action.TRUST_TARGET, "Rebuild SMD from the blob headers (smd_sync) [suggested]."), IGN],
       safe_auto=True),
    _p(Code.SMD_POOL_WITHOUT_SHARD, Cls.POOL_NONEXIST_ON_ENGINE,
       "SMD lists pool {pool} target {target}, which has no shard file",
       [(Action.DISCARD, "Remove the pool's SMD entry for that target [suggested]."), IGN]),
    _p(Code.SMD_DB_UNREADABLE, Cls.SMD_INCONSISTENT,
       "the SMD sys db cannot be read ({reason})",
       [(Action.TRUST_TARGET, "Move it aside and rebuild SMD from the blob headers (smd_sync) "
                              "[suggested]."), IGN], safe_auto=True),
    _p(Code.BLOB_HEADER_WRONG, Cls.SMD_INCONSISTENT,
       "the header of NVMe blob {blob} of pool {pool} target {target} says {stored}, but it "
       "should say {expected}",
       [(Action.TRUST_TARGET, "Rewrite the header from its file name, its directory, its SMD "
                              "row and the shard's superblock [suggested]."), IGN],
       safe_auto=True),
]

BY_CODE = {p.code: p for p in PROBLEMS}
BY_NAME = {p.name: p for p in PROBLEMS}



def problem(code: int) -> Problem:
    return BY_CODE[code]


def parse_class(text: str) -> Cls:
    name = text.strip().upper()
    name = name[4:] if name.startswith("CIC_") else name
    try:
        return Cls[name]
    except KeyError:
        raise ValueError(f"invalid inconsistency class \"{text}\"") from None


def parse_action(text: str) -> Action:
    name = text.strip().upper()
    name = name[4:] if name.startswith("CIA_") else name
    try:
        return Action[name]
    except KeyError:
        raise ValueError(f"invalid inconsistency action \"{text}\"") from None
