"""The single door between bytes and construct.

``decode``/``encode`` wrap construct so that malformed input becomes a
``CorruptionError`` naming the structure and offset. ``fast`` derives a
``struct.Struct`` from the fixed-size prefix of a construct declaration so
hot loops can skip construct's per-field overhead while the declaration
stays the single source of truth (tests compare the two byte for byte).
"""
from __future__ import annotations

import struct

import construct as cs

from .errors import CorruptionError


def decode(con: cs.Construct, data, *, offset: int | None = None,
           structure: str = "record", path: str | None = None):
    try:
        return con.parse(bytes(data))
    except (cs.ConstructError, struct.error, ValueError, OverflowError) as e:
        raise CorruptionError(f"cannot decode {structure} ({_short(e)})", offset=offset,
                              structure=structure, path=path) from None


def encode(con: cs.Construct, obj, *, structure: str = "record") -> bytes:
    try:
        return con.build(obj)
    except (cs.ConstructError, struct.error, ValueError, OverflowError) as e:
        raise ValueError(f"cannot encode {structure}: {_short(e)}") from None


def _short(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


def field_offset(con: cs.Struct, name: str) -> int:
    """Where field ``name`` of a Struct's fixed-size prefix starts, from the declaration
    (so code that patches one field in place cannot drift from the layout)."""
    off = 0
    for sc in con.subcons:
        if sc.name == name:
            return off
        off += sc.sizeof()
    raise KeyError(name)


def field_struct(con: cs.Struct, name: str) -> tuple[int, struct.Struct]:
    """(offset, struct) of one integer or byte field of a Struct's fixed-size prefix
    (``name`` dotted for a nested Struct): for code that reads or patches that field
    alone, such as a page's checksum, without restating its width."""
    off = 0
    for n, fmt in _fields(con):
        s = struct.Struct("<" + fmt)
        if n == name:
            return off, s
        off += s.size
    raise KeyError(name)


def int_field(con: cs.Struct, name: str) -> struct.Struct:
    """The struct of integer field ``name`` of a Struct, wherever it sits (also after
    variable-size fields, where ``field_struct`` cannot give an offset)."""
    for sub in con.subcons:
        if sub.name == name:
            inner = sub.subcon if isinstance(sub, cs.Renamed) else sub
            if isinstance(inner, cs.FormatField):
                return struct.Struct("<" + inner.fmtstr[1:])
            break
    raise KeyError(name)


def _fields(con):
    """Yield (name, fmt) for each leading fixed-size field of a Struct."""
    for sub in con.subcons:
        name = getattr(sub, "name", None)
        inner = sub.subcon if isinstance(sub, cs.Renamed) else sub
        if isinstance(inner, cs.Const):
            inner = inner.subcon
        if isinstance(inner, cs.FormatField):
            yield name, inner.fmtstr[1:]
        elif isinstance(inner, cs.Padded) and isinstance(inner.length, int):
            yield None, f"{inner.length}x"
        elif isinstance(inner, cs.Bytes) and isinstance(inner.length, int):
            yield name, f"{inner.length}s"
        elif isinstance(inner, cs.Struct):
            inner_fields = list(_fields(inner))
            if sum(struct.calcsize("<" + f) for _, f in inner_fields) != inner.sizeof():
                return
            for n, f in inner_fields:
                yield (f"{name}.{n}" if n else None), f
        else:
            return


class Fast:
    """A struct fast path for the fixed-size prefix of a construct Struct."""

    def __init__(self, con: cs.Struct):
        fields = list(_fields(con))
        self.names = tuple(n for n, _ in fields if n)
        self.struct = struct.Struct("<" + "".join(f for _, f in fields))
        self.size = self.struct.size
        self.unpack_from = self.struct.unpack_from
        self.pack = self.struct.pack
        self.pack_into = self.struct.pack_into


def fast(con: cs.Struct) -> Fast:
    return Fast(con)


def format_body(s) -> str:
    """A ``struct.Struct``'s (or a ``Fast``'s) format without its byte-order mark: a piece
    to join into the format of a larger, composed record (``leafrows``, ``inline_akeys``)."""
    return (s.struct if isinstance(s, Fast) else s).format.lstrip("<")
