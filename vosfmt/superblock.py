"""The superblock: its record, its codec, and reading the two copies a shard keeps.

A shard keeps two copies (slots 0 and 1, see ``txn``'s commit protocol); each
commit writes the slot the durable state does not use. ``read_slot`` judges
one copy on its own (truncated, no magic, checksum, impossible fields);
``judge_slots`` judges both, adding the one check that needs the pair; and
``choose_superblock`` picks the newest sound copy or raises the most telling
error. The checker reads the per-slot verdicts, so it needs no offsets or
magic numbers of its own.
"""
from __future__ import annotations

from . import layout as L
from .codec import decode, encode, field_struct
from .constants import FORMAT_VERSION, PAGE_SIZE, POOL_DF_MAGIC, SUPERBLOCK_SLOTS, VEA_MAGIC
from .errors import CorruptionError, FormatError, NoSuperblockError
from .records import TreeRoot
from .recordtype import Record
from .space import freelist_generation


class Superblock(Record):
    """The decoded superblock of the generation in use."""
    __slots__ = ("format_version", "compat", "ro_compat", "incompat", "pool_uuid", "target_idx",
                 "page_size", "generation", "total_pages", "scm_size", "nvme_size",
                 "nvme_threshold", "blk_size", "hdr_blks", "tot_blks", "vea_root", "cont_root",
                 "freelist_head", "free_pages", "slot")
    DEFAULTS = dict(slot=0)

    @property
    def cont_count(self) -> int:
        return self.cont_root.count


_ROOT_FIELDS = ("page", "count", "tclass", "key_kind", "depth", "flags")


def encode_superblock(sb: Superblock) -> bytes:
    body = {n: getattr(sb, n) for n in sb.__slots__ if n != "slot"}
    for name in ("vea_root", "cont_root"):
        r = body[name]
        body[name] = dict({k: getattr(r, k) for k in _ROOT_FIELDS}, embed_len=0)
    body.update(magic=POOL_DF_MAGIC, vea_magic=VEA_MAGIC, sb_size=L.SUPERBLOCK_SIZE,
                reserved=bytes(64))
    return encode(L.superblock, dict(body=dict(value=body)), structure="superblock")


def decode_superblock(raw: bytes, slot: int, path: str) -> Superblock:
    off = slot * PAGE_SIZE
    c = decode(L.superblock, raw, offset=off, structure="superblock", path=None)
    v = c.body.value

    def root(r):
        if r.embed_len:
            raise CorruptionError("superblock tree root claims embedded entries", offset=off,
                                  structure="superblock", file=path)
        return TreeRoot(r.tclass, r.key_kind, r.page, r.count, r.depth, r.flags)

    return Superblock(v.format_version, v.compat, v.ro_compat, v.incompat, bytes(v.pool_uuid),
                      v.target_idx, v.page_size, v.generation, v.total_pages, v.scm_size,
                      v.nvme_size, v.nvme_threshold, v.blk_size, v.hdr_blks, v.tot_blks,
                      root(v.vea_root), root(v.cont_root), v.freelist_head, v.free_pages, slot)


#: no shard commits this often: a larger generation is damage, and would overflow when bumped
MAX_GENERATION = 1 << 48


def superblock_fault(sb: Superblock) -> str | None:
    """Why a checksummed superblock copy cannot describe any shard, or None if it can.

    A copy describing more pages than the file holds is not at fault: the file
    was truncated, which falling back to an older state would hide.
    """
    pages = sb.total_pages
    if sb.format_version != FORMAT_VERSION:
        return f"format version {sb.format_version}"
    if sb.page_size != PAGE_SIZE:
        return f"page size {sb.page_size}"
    if not 0 < sb.generation < MAX_GENERATION:
        return f"impossible generation {sb.generation}"
    if pages < 2 or pages > max(sb.scm_size // PAGE_SIZE, 2):
        return f"{pages} pages in a shard of {sb.scm_size} bytes"
    for name, page in (("free-page list", sb.freelist_head), ("container table", sb.cont_root.page),
                       ("VEA", sb.vea_root.page)):
        if page and not 2 <= page < pages:
            return f"its {name} starts at page {page}, outside its {pages} pages"
    if sb.free_pages > pages:
        return f"{sb.free_pages} free pages of {pages}"
    # The NVMe geometry is fixed at creation (create.create_shard): an SCM-only shard has none;
    # otherwise the reserved header blocks (at least the blob header's) and the VEA's blocks
    # together are the whole blob, nvme_size // blk_size blocks.
    geometry = f"NVMe geometry {sb.hdr_blks}+{sb.tot_blks} blocks of {sb.blk_size} bytes"
    if not sb.nvme_size:
        if sb.blk_size or sb.hdr_blks or sb.tot_blks:
            return geometry + " in an SCM-only shard (nvme_size 0)"
    elif sb.blk_size <= 0 or sb.blk_size & (sb.blk_size - 1) or sb.hdr_blks < 1 \
            or sb.hdr_blks + sb.tot_blks != sb.nvme_size // sb.blk_size:
        return f"{geometry} in an NVMe blob of {sb.nvme_size} bytes"
    return None


# --- reading the two copies ------------------------------------------------------

TRUNCATED = "truncated"
NO_MAGIC = "no superblock magic"
_MAGIC_AT, _MAGIC = field_struct(L.superblock_body, "magic")


class SlotReport(Record):
    """One superblock copy as read: ``sb`` when it is sound, else ``fault`` says why not
    (``sb`` may still be set: a copy that decodes but cannot be the newest state).
    ``magic``: the slot starts with the superblock magic (a shard's copy, sound or not)."""
    __slots__ = ("slot", "sb", "fault", "magic")

    @property
    def problem(self) -> str:
        """The fault as a phrase naming the slot (for error messages)."""
        if self.fault == TRUNCATED:
            return f"slot {self.slot} is truncated"
        if self.fault == NO_MAGIC:
            return f"slot {self.slot} has no superblock magic"
        return f"slot {self.slot}: {self.fault}"


def read_slot(df, slot: int, path: str) -> SlotReport:
    """Read and judge one copy on its own: its size, magic, checksum and fields."""
    raw = df.read(slot * PAGE_SIZE, L.SUPERBLOCK_SIZE)
    if len(raw) < L.SUPERBLOCK_SIZE:
        return SlotReport(slot, None, TRUNCATED, False)
    if _MAGIC.unpack_from(raw, _MAGIC_AT)[0] != POOL_DF_MAGIC:
        return SlotReport(slot, None, NO_MAGIC, False)
    try:
        sb = decode_superblock(raw, slot, path)
    except CorruptionError as e:
        return SlotReport(slot, None, e.reason, True)
    return SlotReport(slot, sb, superblock_fault(sb), True)


def judge_slots(df, path: str) -> list[SlotReport]:
    """Both copies, each judged; when both are sound but their generations are far apart,
    the newer is judged against its own free-page list (see ``_stale_generation``)."""
    reports = [read_slot(df, slot, path) for slot in SUPERBLOCK_SLOTS]
    sound = [r for r in reports if r.fault is None]
    if len(sound) == 2 and abs(sound[0].sb.generation - sound[1].sb.generation) > 1:
        newer = max(sound, key=lambda r: r.sb.generation)
        newer.fault = _stale_generation(df, newer.sb)
    return reports


def _stale_generation(df, sb: Superblock) -> str | None:
    """Why a copy's generation cannot be the newest state's (the other copy's generation
    is far from it): every commit writes its free-page list with its generation, so a
    sound list page written by another generation belies the copy."""
    if not sb.freelist_head:
        return None
    buf = df.read(sb.freelist_head * PAGE_SIZE, PAGE_SIZE)
    if len(buf) != PAGE_SIZE:
        return None
    gen = freelist_generation(buf, sb.freelist_head)
    if gen is not None and gen != sb.generation:
        return f"generation {sb.generation}, but its free-page list is of generation {gen}"
    return None


def choose_superblock(reports: list[SlotReport], path: str) -> Superblock:
    """The newest sound copy; with none, the error of the most telling fault."""
    sound = [r.sb for r in reports if r.fault is None]
    if sound:
        return max(sound, key=lambda s: s.generation)
    if not any(r.magic for r in reports):
        raise NoSuperblockError(f"{path}: not a VOS pool shard (no superblock magic)")
    faults = [r.fault for r in reports]
    version = [f for f in faults if f.startswith("format version")]
    if version and all(f.startswith(("format version", NO_MAGIC)) for f in faults):
        raise FormatError(f"{path}: {version[0]} is not supported "
                          f"(this tool reads version {FORMAT_VERSION})")
    raise CorruptionError("no valid superblock (" + "; ".join(r.problem for r in reports) + ")",
                          offset=0, structure="superblock", file=path)
