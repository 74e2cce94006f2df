"""Construct declarations of every on-disk record: the format's single source of truth.

Only declarations and their sizes live here; no I/O. All integers are
little-endian. Hot loops use ``struct`` fast paths that ``vosfmt.codec``
derives from these declarations (and the tests compare byte for byte).

Tree *keys* are not records: they are collation strings (``vosfmt.keys``)
whose bytewise order is the tree order, so integers inside them are
big-endian. Everything else is little-endian.
"""
from __future__ import annotations

from construct import (
    Array,
    Bytes,
    Checksum,
    Const,
    If,
    Int8ul,
    Int16ul,
    Int32ul,
    Int64ul,
    Padding,
    RawCopy,
    Struct,
    this,
)

from . import constants as C
from .checksum import crc32c

# --- generic pieces -----------------------------------------------------------

#: Root descriptor of a B+tree (DAOS btr_root). ``embed`` holds the entries of
#: a single-leaf tree stored inside the parent record (flags & EMBEDDED).
tree_root_fixed = Struct(
    "page" / Int64ul,          # root node page, 0 = none (empty or embedded)
    "count" / Int64ul,         # records in the whole tree
    "tclass" / Int8ul,         # constants.TreeClass
    "key_kind" / Int8ul,       # constants.KeyKind (key trees only)
    "depth" / Int8ul,          # 0 = the root is a leaf
    "flags" / Int8ul,          # constants.RootFlags
    "embed_len" / Int32ul,
)
tree_root = Struct(
    *tree_root_fixed.subcons,
    "embed" / Bytes(this.embed_len),
)

#: One incarnation-log entry (DAOS ilog_id + epoch).
ilog_entry = Struct(
    "epoch" / Int64ul,
    "tx_id" / Int32ul,         # DTX local id: 0 committed, 1 aborted, >=2 active
    "punch_minor" / Int16ul,
    "update_minor" / Int16ul,  # punch iff punch_minor > update_minor
)
ilog_header = Struct(
    "nr" / Int8ul,
    "flags" / Int8ul,          # bit 0: CORRUPTED
    "mod_count" / Int16ul,
)
ilog = Struct(
    *ilog_header.subcons,
    "entries" / Array(this.nr, ilog_entry),
)

#: Bytes that live inline when small, else in a run of shard pages (SCM).
ext_bytes_fixed = Struct(
    "media" / Int8ul,          # Media.INLINE or Media.SCM
    "len" / Int32ul,
    "off" / Int64ul,           # byte offset of the run in the shard file
)
ext_bytes = Struct(
    *ext_bytes_fixed.subcons,
    "data" / If(this.media == C.Media.INLINE, Bytes(this.len)),
)

unit_oid = Struct(
    "hi" / Int64ul,
    "lo" / Int64ul,
    "shard" / Int32ul,
    "layout" / Int32ul,
)

# --- superblock -------------------------------------------------------------

superblock_body = Struct(
    "magic" / Const(C.POOL_DF_MAGIC, Int32ul),
    "format_version" / Int16ul,
    "sb_size" / Int16ul,
    "compat" / Int64ul,
    "ro_compat" / Int64ul,
    "incompat" / Int64ul,
    "pool_uuid" / Bytes(16),
    "target_idx" / Int32ul,
    "page_size" / Int32ul,
    "generation" / Int64ul,
    "total_pages" / Int64ul,       # pages the state of this generation spans
    "scm_size" / Int64ul,
    "nvme_size" / Int64ul,
    "nvme_threshold" / Int32ul,
    # VEA space descriptor (DAOS vea_space_df)
    "vea_magic" / Const(C.VEA_MAGIC, Int32ul),
    "blk_size" / Int32ul,
    "hdr_blks" / Int32ul,
    "tot_blks" / Int64ul,
    "vea_root" / tree_root_fixed,
    "cont_root" / tree_root_fixed,
    # free-page list: a chain of freelist pages
    "freelist_head" / Int64ul,
    "free_pages" / Int64ul,
    "reserved" / Bytes(64),
)
superblock = Struct(
    "body" / RawCopy(superblock_body),
    "crc" / Checksum(Int32ul, lambda data: crc32c(data), this.body.data),
)

# --- pages -----------------------------------------------------------------

#: Every B+tree node page starts with this; ``crc`` is the crc32c of the whole page
#: with the crc field itself left out (``vosfmt.pagecrc``).
node_header = Struct(
    "magic" / Const(C.NODE_MAGIC, Int32ul),
    "crc" / Int32ul,
    "tclass" / Int8ul,
    "flags" / Int8ul,              # NodeFlags
    "level" / Int8ul,              # 0 = leaf
    "pad" / Int8ul,
    "nkeys" / Int16ul,
    "used" / Int16ul,              # bytes of entries after the header
    "generation" / Int64ul,        # commit that wrote the page
    "page" / Int64ul,              # the page's own number (catches misdirected writes)
)
leaf_entry = Struct(
    "klen" / Int16ul,
    "vlen" / Int16ul,
    "key" / Bytes(this.klen),
    "value" / Bytes(this.vlen),
)
branch_entry = Struct(
    "klen" / Int16ul,
    "child" / Int64ul,
    "count" / Int64ul,             # records below this child
    "key" / Bytes(this.klen),      # lower bound of the child (ignored for the first)
)
leaf_node = Struct("header" / node_header, "entries" / Array(this.header.nkeys, leaf_entry))
branch_node = Struct("header" / node_header, "entries" / Array(this.header.nkeys, branch_entry))

freelist_header = Struct(
    "magic" / Const(C.FREELIST_MAGIC, Int32ul),
    "crc" / Int32ul,
    "nr" / Int32ul,
    "pad" / Int32ul,
    "generation" / Int64ul,
    "page" / Int64ul,
    "next" / Int64ul,              # next page of the chain, 0 = end
)
free_extent = Struct("start" / Int64ul, "count" / Int64ul)
freelist_page = Struct("header" / freelist_header, "extents" / Array(this.header.nr, free_extent))

# --- tree records (the values stored in tree leaves) -----------------------

#: Container table value (DAOS vos_cont_df + ext), key = uuid.
container_rec_fixed = Struct(
    "uuid" / Bytes(16),
    "hae" / Int64ul,
    "newest_aggregated" / Int64ul,
    "global_stable_epoch" / Int64ul,
    "csum_type" / Int16ul,
    "pad" / Int16ul,
    "chunk_size" / Int32ul,
)
container_rec = Struct(
    *container_rec_fixed.subcons,
    "obj_root" / tree_root,
    "dtx_act_root" / tree_root,
    "dtx_cmt_root" / tree_root,
)

#: Object index value (DAOS vos_obj_df), key = collated unit oid.
object_rec_fixed = Struct(
    *unit_oid.subcons,
    "sync_epoch" / Int64ul,
    "max_write" / Int64ul,
)
object_rec = Struct(
    *object_rec_fixed.subcons,
    "ilog" / ilog,
    "dkey_root" / tree_root,
)

#: dkey / akey tree value (DAOS vos_krec_df); the key itself is the tree key.
key_rec = Struct(
    "flags" / Int8ul,              # KrecFlags
    "ilog" / ilog,
    "child_root" / tree_root,
)

#: Single-value tree value (DAOS vos_irec_df), key = collated epoch.
sv_rec_fixed = Struct(
    "minor" / Int16ul,
    "csum_type" / Int8ul,
    "csum_len" / Int8ul,
    "dtx_lid" / Int32ul,
    "ver" / Int32ul,
    "media" / Int8ul,              # bio_addr_t: Media
    "aflags" / Int8ul,             # bio_addr_t: AddrFlags
    "pad" / Int16ul,
    "size" / Int64ul,              # 0 = punch
    "gsize" / Int64ul,
    "off" / Int64ul,               # SCM: byte offset in the shard; NVME: in the blob
)
sv_rec = Struct(
    *sv_rec_fixed.subcons,
    "csum" / Bytes(this.csum_len),
    "data" / If(this.media == C.Media.INLINE, Bytes(this.size)),
)

#: Extent tree value (DAOS evt_desc + rectangle), key = collated (lo, epoch, minor).
ext_rec_fixed = Struct(
    "nr" / Int64ul,                # records in the extent
    "rsize" / Int32ul,             # bytes per record
    "dtx_lid" / Int32ul,
    "ver" / Int32ul,
    "csum_type" / Int8ul,
    "csum_len" / Int8ul,           # bytes of one chunk checksum
    "media" / Int8ul,
    "aflags" / Int8ul,
    "chunk_size" / Int32ul,
    "off" / Int64ul,
)
ext_rec = Struct(
    *ext_rec_fixed.subcons,
    "csums" / ext_bytes,
    "data" / If((this.media == C.Media.INLINE) & ((this.aflags & C.AddrFlags.HOLE) == 0),
                Bytes(this.nr * this.rsize)),
)

#: Logical reference from an active DTX entry to a record it wrote.
dtx_rec_ref = Struct(
    "type" / Int8ul,               # RecType
    "oid" / unit_oid,
    "dkey_len" / Int16ul,
    "dkey" / Bytes(this.dkey_len),
    "akey_len" / Int16ul,
    "akey" / Bytes(this.akey_len),
    "vkey_len" / Int8ul,           # collated epoch (SVT) or (lo, epoch, minor) (EVT)
    "vkey" / Bytes(this.vkey_len),
)

#: Active DTX table value (DAOS vos_dtx_act_ent_df), key = collated xid.
dtx_act_rec_fixed = Struct(
    "epoch" / Int64ul,
    "lid" / Int32ul,
    "flags" / Int32ul,             # DtxFlags
    "mbs_flags" / Int32ul,
    "ver" / Int32ul,
    "tgt_cnt" / Int32ul,
    "grp_cnt" / Int32ul,
    "oid" / unit_oid,
    "dkey_hash" / Int64ul,
    "rec_cnt" / Int32ul,
)
dtx_act_rec = Struct(
    *dtx_act_rec_fixed.subcons,
    "records" / ext_bytes,         # rec_cnt dtx_rec_ref, concatenated
    "mbs" / ext_bytes,             # membership blob
)

#: Committed DTX table value (DAOS vos_dtx_cmt_ent_df), key = collated xid.
dtx_cmt_rec = Struct(
    "epoch" / Int64ul,
    "cmt_time" / Int64ul,
)

#: VEA free-extent tree value (DAOS vea_free_extent), key = collated block offset.
vea_rec = Struct(
    "blk_cnt" / Int32ul,
    "age" / Int32ul,
)

# --- NVMe blob and SMD ------------------------------------------------------

#: Block 0 of an emulated NVMe blob (DAOS bio_blob_hdr): what smd_sync rebuilds SMD from.
blob_header_body = Struct(
    "magic" / Const(C.BLOB_HDR_MAGIC, Int32ul),
    "version" / Int32ul,
    "blk_sz" / Int32ul,
    "hdr_blks" / Int32ul,
    "vos_id" / Int32ul,            # target index
    "pad" / Padding(4),
    "blob_id" / Int64ul,
    "dev_uuid" / Bytes(16),
    "pool_uuid" / Bytes(16),
)
blob_header = Struct(
    "body" / RawCopy(blob_header_body),
    "crc" / Checksum(Int32ul, lambda data: crc32c(data), this.body.data),
)

SMD_MAX_TGTS = 64
#: SMD ``device`` table value, key = device uuid (16 bytes).
smd_device = Struct(
    "state" / Int32ul,             # 0 NORMAL, 1 FAULTY
    "tgt_cnt" / Int32ul,
    "tgts" / Array(SMD_MAX_TGTS, Int32ul),
)
#: SMD ``target`` table value, key = target id (u32): the device uuid.
smd_target = Struct("dev_uuid" / Bytes(16))
#: SMD ``pool`` table value, key = pool uuid (16 bytes).
smd_pool = Struct(
    "blob_sz" / Int64ul,
    "flags" / Int32ul,
    "tgt_cnt" / Int32ul,
    "tgts" / Array(SMD_MAX_TGTS, Int32ul),
    "blobs" / Array(SMD_MAX_TGTS, Int64ul),
)
#: SMD ``metadata`` table, key ``version``.
smd_version = Struct("version" / Int32ul)

NODE_HEADER_SIZE = node_header.sizeof()
SUPERBLOCK_SIZE = superblock.sizeof()
