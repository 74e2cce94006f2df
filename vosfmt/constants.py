"""Magic numbers, sizes, enums and flag sets of the vosfmt on-disk format.

Names follow DAOS where a DAOS counterpart exists (see
``shared/reference/upstream-vos-model.md``) so one can grep between the two.
"""
from __future__ import annotations

import enum

# --- file geometry -------------------------------------------------------
PAGE_SIZE = 4096
SUPERBLOCK_SLOTS = (0, 1)          # pages holding the two superblock copies
FIRST_DATA_PAGE = 2
FORMAT_VERSION = 1

POOL_DF_MAGIC = 0x5CA1AB1E         # superblock (DAOS vos_pool_df magic)
NODE_MAGIC = 0x564E4F44            # "DONV": B+tree node page
FREELIST_MAGIC = 0x46524545        # "EERF": free-page list page
BLOB_HDR_MAGIC = 0xB0B51ED5        # NVMe blob header (DAOS bio_blob_hdr)
VEA_MAGIC = 0xEA201804             # VEA space descriptor

# --- feature sets (ext2 style) ------------------------------------------
# compat: the engine's operational switches that ddb `feature` manages.
COMPAT_IMMUTABLE = 1 << 0
COMPAT_SKIP_START = 1 << 1
COMPAT_SKIP_REBUILD = 1 << 2
COMPAT_SKIP_DTX_RESYNC = 1 << 3
COMPAT_FEATURES = {
    "immutable": COMPAT_IMMUTABLE,
    "skip_start": COMPAT_SKIP_START,
    "skip_rebuild": COMPAT_SKIP_REBUILD,
    "skip_dtx_resync": COMPAT_SKIP_DTX_RESYNC,
}
KNOWN_COMPAT = COMPAT_IMMUTABLE | COMPAT_SKIP_START | COMPAT_SKIP_REBUILD | COMPAT_SKIP_DTX_RESYNC
# ro_compat: none defined yet; an unknown bit makes the shard read-only.
KNOWN_RO_COMPAT = 0
# incompat: none defined yet (format version 1 already includes embedded trees);
# an unknown bit makes the shard unreadable for this tool.
KNOWN_INCOMPAT = 0

# --- limits ------------------------------------------------------------------
MAX_KEY = 512                      # bytes of a dkey / akey / any tree key
MAX_VALUE = 1500                   # bytes of one encoded tree record value
INLINE_MAX = 1024                  # values up to this size live inside their record
ILOG_MAX = 32                      # entries of one incarnation log
CSUM_INLINE_MAX = 128              # checksum arrays above this go to shard pages
DEFAULT_SCM_SIZE = 1 << 30         # bytes a shard may grow to
DEFAULT_NVME_THRESHOLD = 4096      # values >= this go to the NVMe blob (if any)
DEFAULT_BLK_SIZE = 4096
DEFAULT_HDR_BLKS = 1
DEFAULT_CHUNK_SIZE = 32 * 1024     # array checksum chunk (DAOS default)
RDB_TARGET = 0xFFFFFFFF            # an rdb-pool's target index (DAOS's special system target id)
DTX_LID_COMMITTED = 0
DTX_LID_ABORTED = 1
DTX_LID_FIRST = 2
DTX_LID_MAX = DTX_LID_FIRST + (1 << 20)
DTX_LID_SOLO_FLAG = 1 << 31
EPOCH_MAX = (1 << 64) - 1

# --- SMD device states (DAOS bio: NORMAL, FAULTY) ------------------------------
DEV_NORMAL = 0
DEV_FAULTY = 1


class TreeClass(enum.IntEnum):
    """What a B+tree holds; stored in every root descriptor and node page."""
    CONT_TABLE = 1
    OBJ_TABLE = 2
    DKEY = 3
    AKEY = 4
    SINGV = 5
    EVT = 6
    DTX_ACT = 7
    DTX_CMT = 8
    VEA = 9


class KeyKind(enum.IntEnum):
    """How dkeys / akeys are collated (chosen from the object type)."""
    BYTES = 0       # hashed in DAOS; we sort by raw bytes, shorter first
    UINT64 = 1      # 8-byte little-endian key, sorted numerically
    LEXICAL = 2     # raw bytes, memcmp order


# Flag sets tested in hot loops are plain int namespaces: IntFlag's ``&``
# costs about a microsecond, which dominated a full walk.

class NodeFlags:
    LEAF = 1


class RootFlags:
    EMBEDDED = 1    # the root leaf's entries are stored inside the descriptor


class KrecFlags:
    """vos_krec_df kr_bmap."""
    BTR = 1         # a single-value tree hangs below (akey) / an akey tree (dkey)
    EVT = 2         # an extent tree hangs below (akey only)
    DKEY = 4        # this record is a dkey


class Media(enum.IntEnum):
    """bio_addr_t ba_type, plus INLINE for bytes held inside the record."""
    INLINE = 0
    SCM = 1         # a run of pages of the shard file
    NVME = 2        # blocks of the pool's NVMe blob


class AddrFlags:
    HOLE = 1        # punched: no data
    CORRUPTED = 2   # marked bad (scrubber / checker)


class RecType(enum.IntEnum):
    """DTX record reference tag (DAOS DTX_RT_*)."""
    ILOG = 1
    SVT = 2
    EVT = 4


class DtxFlags(enum.IntFlag):
    LEADER = 1
    INVALID = 2
    BLOCK = 4
    CORRUPTED = 8
    ORPHAN = 16
    PARTIAL_COMMITTED = 32
    EPOCH_SORTED = 64


class IlogStatus(enum.IntEnum):
    """ddb's ilog_dump statuses (DAOS enum ilog_status)."""
    INVALID = 0
    COMMITTED = 1
    UNCOMMITTED = 2
    REMOVED = 3


class CsumType(enum.IntEnum):
    """Value checksum algorithms (DAOS numbering where it exists)."""
    OFF = 0
    CRC32 = 2
    CRC64 = 3
    SHA1 = 4
    SHA256 = 5
    ADLER32 = 7
    CRC32C = 8


class ObjType(enum.IntEnum):
    """daos_otype_t: the top byte of an oid's hi word."""
    MULTI_HASHED = 0
    OIT = 1
    DKEY_UINT64 = 2
    AKEY_UINT64 = 3
    MULTI_UINT64 = 4
    DKEY_LEXICAL = 5
    AKEY_LEXICAL = 6
    MULTI_LEXICAL = 7
    KV_HASHED = 8
    KV_UINT64 = 9
    KV_LEXICAL = 10
    ARRAY = 11
    ARRAY_ATTR = 12
    ARRAY_BYTE = 13
    OIT_V2 = 14


_DKEY_KIND = {
    ObjType.DKEY_UINT64: KeyKind.UINT64, ObjType.MULTI_UINT64: KeyKind.UINT64,
    ObjType.KV_UINT64: KeyKind.UINT64, ObjType.ARRAY: KeyKind.UINT64,
    ObjType.ARRAY_ATTR: KeyKind.UINT64, ObjType.ARRAY_BYTE: KeyKind.UINT64,
    ObjType.DKEY_LEXICAL: KeyKind.LEXICAL, ObjType.MULTI_LEXICAL: KeyKind.LEXICAL,
    ObjType.KV_LEXICAL: KeyKind.LEXICAL,
}
_AKEY_KIND = {
    ObjType.AKEY_UINT64: KeyKind.UINT64, ObjType.MULTI_UINT64: KeyKind.UINT64,
    ObjType.AKEY_LEXICAL: KeyKind.LEXICAL, ObjType.MULTI_LEXICAL: KeyKind.LEXICAL,
}


def dkey_kind(otype: int) -> KeyKind:
    return _DKEY_KIND.get(otype, KeyKind.BYTES)


def akey_kind(otype: int) -> KeyKind:
    return _AKEY_KIND.get(otype, KeyKind.BYTES)
