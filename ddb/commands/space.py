"""Space and checksums: vea_dump, vea_update, csum_dump."""
from __future__ import annotations

import re

import click

from vosfmt import CorruptionError, SingleValue
from vosfmt.checksum import csum_len, csum_name
from vosfmt.constants import EPOCH_MAX
from vosfmt.usage import space_usage

from ..errors import DdbError, der, failing_as
from ..registry import command
from .common import resolve_or_fail


@command("vea_dump", "Dump information from the vea about free regions",
         long="List the free extents of the NVMe blob (block offset, block count, age) and their total.")
def vea_dump(s):
    shard = s.require_open()
    regions = shard.vea_free_extents() if shard.sb.nvme_size else []
    for i, e in enumerate(regions):
        s.out.text(f"[Region {i}] offset: {e.off}, block count: {e.cnt}, age: {e.age}")
    s.out.text(f"Total Free Regions: {len(regions)}")
    s.out.emit(None, {"regions": [{"offset": e.off, "blocks": e.cnt, "age": e.age} for e in regions],
                      "free_blocks": sum(e.cnt for e in regions),
                      "total_blocks": shard.sb.tot_blks, "block_size": shard.sb.blk_size})


def _number(text: str, what: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", text or "") or int(text) > 2**31 - 1:
        raise DdbError(der("DER_INVAL"), stderr=[f"'{text}' is not a valid {what}"])
    return int(text)


@command("vea_update", "Alter the VEA tree to mark a region as free.",
         long="Add a region of NVMe blocks to the free map. Refused if it lies outside the device "
              "or overlaps a free extent; warns if values still use those blocks.",
         args_help={"offset": "Block offset of the region.", "blk_cnt": "Number of blocks."})
@click.argument("offset")
@click.argument("blk_cnt")
def vea_update(s, offset, blk_cnt):
    shard = s.require_write()
    off = _number(offset, "offset")
    cnt = _number(blk_cnt, "block size")
    sb = shard.sb
    if not sb.nvme_size:
        raise DdbError(f"{der('DER_INVAL')}: pool {shard.pool_uuid} has no NVMe device (SCM-only)")
    if off < sb.hdr_blks or off + cnt > sb.hdr_blks + sb.tot_blks:
        raise DdbError(f"{der('DER_INVAL')}: region {{{off}, {cnt}}} is outside the device "
                       f"(blocks {sb.hdr_blks}..{sb.hdr_blks + sb.tot_blks - 1})")
    for e in shard.vea_free_extents():
        if off < e.off + e.cnt and e.off < off + cnt:
            raise DdbError(der("DER_INVAL"), stderr=[
                f"New free region {{{off}, {cnt}}} overlaps with {{{e.off}, {e.cnt}}}"])
    users = sorted({_value_path(owner) for b, owner in space_usage(shard).blocks.items()
                    if off <= b < off + cnt})
    for path, epoch in users:
        s.out.note(f"WARNING: blocks of {{{off}, {cnt}}} are still used by {path} (epoch {epoch}); "
                   "the checker will report them as free and in use")
    s.out.text(f"Adding free region to vea {{{off}, {cnt}}}")
    with failing_as("Unable to add new free region: "), s.transaction() as tx:
        tx.vea_free(off, cnt)
    s.out.emit(None, {"offset": off, "blocks": cnt,
                      "still_used_by": [{"path": p, "epoch": e} for p, e in users]})


#: vosfmt.usage's label of a value's blob blocks: its akey path, the extent of an array
#: value, and its epoch
_VALUE_LABEL = re.compile(r"(?P<akey>.*?)(?:\{(?P<extent>[0-9]+-[0-9]+)\})?@(?P<epoch>[0-9]+)", re.S)


def _value_path(label: str) -> tuple[str, int]:
    """(VOS path, epoch) of the value a block belongs to, the path in ddb's grammar
    (``.../akey/{lo-hi}`` for an extent) so it can be pasted into a command."""
    m = _VALUE_LABEL.fullmatch(label)
    path = m["akey"] + (f"/{{{m['extent']}}}" if m["extent"] else "")
    return path, int(m["epoch"])


@command("csum_dump", "Dump visible checksum(s)",
         long="Show the stored checksum of a single value, or the chunk checksums of array "
              "extents, as visible at an epoch; or write the raw checksum bytes to a file.",
         args_help={"path": "VOS tree path to a value.", "dst": "File to write the checksum bytes to."})
@click.option("-e", "--epoch", type=int, default=EPOCH_MAX, help="Epoch of the checksum to dump")
@click.argument("path")
@click.argument("dst", required=False, default="")
def csum_dump(s, epoch, path, dst):
    shard = s.require_open()
    if not path:
        raise DdbError(der("DER_INVAL"), stderr=["A VOS path to dump is required."])
    r = resolve_or_fail(s, path)
    if r.akey is None:
        raise DdbError(f"Path [{path}] is incomplete: it must reach an akey or an extent")
    s.out.text(r.printed)
    if r.akey.value_kind == "sv":
        _dump_sv(s, r.akey.single_value(epoch), dst, r.printed)
        return
    if r.extent is not None:
        lo, hi = r.extent.lo, r.extent.hi
        extents = [e for e in r.akey.extents() if e.epoch <= epoch and e.lo <= hi and lo <= e.hi]
    else:
        extents = [e for e in r.akey.extents() if e.epoch <= epoch]
    _dump_array(s, shard, extents, dst, r.printed)


def _write(dst: str, data: bytes) -> None:
    """The checksum bytes to DST, by value_dump's rules (tree.open_output)."""
    from .tree import open_output
    try:
        with open_output(dst) as out:
            out.write(data)
    except OSError as e:
        raise DdbError(f"cannot write '{dst}': {e.strerror}") from None


def _dump_sv(s, v: SingleValue | None, dst: str, printed: str) -> None:
    if v is None or not v.csum:
        s.out.emit(f"No checksum at {printed}", {"path": printed, "checksum": None})
        return
    name = csum_name(v.csum_type)
    doc = {"path": printed, "type": name, "length": len(v.csum), "epoch": v.epoch,
           "checksum": v.csum.hex()}
    if dst and s.dry_run_file(dst, len(v.csum), doc):
        return
    if dst:
        s.out.text(f"Dumping checksum (type: {name}, length: {len(v.csum)}, epoch: {v.epoch}) to {dst}")
        _write(dst, v.csum)
        doc["dst"] = dst
    else:
        s.out.text(f"Type: {name}, Length: {len(v.csum)}, Epoch: {v.epoch}, Value: 0x{v.csum.hex()}")
    s.out.emit(None, doc)


def _csum_len(e, printed: str) -> int:
    """The checksum length of an extent's type: an unknown type (damage) cannot be cut
    into chunk checksums, and says so instead of failing on a zero length."""
    length = csum_len(e.csum_type)
    if not length:
        raise CorruptionError(f"extent {{{e.lo}-{e.hi}}} has unknown checksum type {e.csum_type}",
                              structure="extent", path=printed)
    return length


def _dump_array(s, shard, extents, dst: str, printed: str) -> None:
    extents = [e for e in extents if e.csum_type and not e.is_punch]
    if not extents:
        s.out.emit(f"No checksum at {printed}", {"path": printed, "checksum": None})
        return
    first = extents[0]
    name, length, chunk = csum_name(first.csum_type), _csum_len(first, printed), first.chunk_size
    rows, blobs = [], []
    for e in extents:
        raw, n = shard.stored_checksum(e, printed), _csum_len(e, printed)
        parts = [raw[i:i + n] for i in range(0, len(raw), n)]
        rows.append({"lo": e.lo, "hi": e.hi, "rsize": e.rsize, "epoch": e.epoch,
                     "checksums": [p.hex() for p in parts]})
        blobs.append(raw)
    doc = {"path": printed, "type": name, "length": length, "chunk_size": chunk, "extents": rows}
    if dst and s.dry_run_file(dst, sum(map(len, blobs)), doc):
        return
    if dst:
        s.out.text(f"Dumping checksum(s) (Type: {name}, Length: {length}, Chunk Size: {chunk}) at {dst}")
        for row in rows:
            s.out.text(f"- Record Indexes: {{{row['lo']}-{row['hi']}}}, Record Size: {row['rsize']}, "
                       f"Epoch: {row['epoch']}")
        _write(dst, b"".join(blobs))
        doc["dst"] = dst
    else:
        s.out.text(f"Checksum Type: {name}, Checksum Length: {length}, Chunk Size: {chunk}, "
                   "Record Extent(s):")
        for row in rows:
            values = ", ".join("0x" + c for c in row["checksums"])
            s.out.text(f"- Record Indexes: {{{row['lo']}-{row['hi']}}}, Record Size: {row['rsize']}, "
                       f"Epoch: {row['epoch']}, Checksum Value(s): {values}")
    s.out.emit(None, doc)
