"""Pure text formatting for ddb output lines (no I/O, no shard access)."""
from __future__ import annotations

import uuid as _uuid

from vosfmt.keytext import INT_KEYED_TYPES, int_key_text, key_text


def human_bytes(n: int) -> str:
    """DAOS ddb's sizes: divide by 1024 while >= 1024, truncating; B KB MB GB TB."""
    units = ["B", "KB", "MB", "GB", "TB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n //= 1024
        i += 1
    return f"{n}{units[i]}"


def superblock_lines(sb) -> list[str]:
    cap = sb.tot_blks * sb.blk_size
    return [
        f"Pool UUID: {_uuid.UUID(bytes=sb.pool_uuid)}",
        f"Format Version: {sb.format_version}",
        f"Containers: {sb.cont_count}",
        f"Compat Flags: {sb.compat}",
        f"Incompat Flags: {sb.incompat}",
        f"SCM Size: {human_bytes(sb.scm_size)}",
        f"NVME Size: {human_bytes(sb.nvme_size)}",
        f"Block Size: {human_bytes(sb.blk_size)}",
        f"Reserved Blocks: {sb.hdr_blks}",
        f"Block Device Capacity: {human_bytes(cap)}",
    ]


def render_value(data: bytes, limit: int = 255) -> str:
    """One screen line for a value: text up to the first NUL if printable, else hex."""
    text = data.split(b"\0", 1)[0]
    if text and all(0x20 <= c < 0x7F for c in text):
        return text[:limit].decode("ascii")
    h = data[:limit // 2 + 1].hex()
    return h[:limit - 3] + "..." if len(h) > limit or len(data) * 2 > limit else h


def detail_key(key: bytes, otype: int) -> str:
    """A key in ``ls -d`` form: 'text' (len), or {uintN:0x..} / {bin(n):0x..} cut to 64."""
    typed = int_key_text(key, otype)
    if typed is not None:
        return typed
    t = key_text(key) if otype not in INT_KEYED_TYPES else None
    if t is not None:
        return f"'{t[0][:63]}' ({len(key)})"
    s = f"bin({len(key)}):0x{key.hex()}"
    if len(s) > 63:
        s = s[:60] + "..."
    return "{" + s + "}"


def detail_object(oid) -> str:
    return f"'{oid.hi}.{oid.lo}' (type: {oid.otype_name}, groups: {oid.grp_nr})"


def detail_sv(sv) -> str:
    return f"Single Value (Length: {sv.size} bytes, Epoch: {sv.epoch})"


def detail_extent(e) -> str:
    return (f"Array Value (Length: {e.nr} records, Record Indexes: {{{e.lo}-{e.hi}}}, "
            f"Record Size: {e.rsize}, Epoch: {e.epoch})")
