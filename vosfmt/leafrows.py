"""Leaf-at-a-time decoding: a whole leaf of key records, each with its one value, as tuples.

Most akeys hold one single value, and a tree of one record is embedded in
its parent (``mutable_tree``), so an akey leaf entry carries the akey
record *and* its value. Decoded record by record that is four ``struct``
calls and four objects per value; the walk and the checker pay that a
million times. But once a few lengths are known (the key's, the number of
incarnation-log entries, the embedded entry's key, the checksum and the
inline data), the whole entry — leaf entry header, key, key record,
embedded leaf entry, value record — has a fixed layout. ``ROW`` compiles
one ``struct`` per such *shape* from the layout declarations (the
declarations stay the only place a field's width is written; tests compare
rows with the record decoders and construct byte for byte) and decodes an
entry in one call; a leaf whose entries share one shape (keys of equal
length, as DAOS's own akeys mostly are) is decoded with one
``iter_unpack``.

A row is a plain tuple; ``F`` names its fields' positions. The log
entries stay one ``bytes`` field (``F.ilog``, 16 bytes each) so that every
shape has the same positions. ``key_value_rows`` returns None for a leaf it
cannot decode this way (another value tree, a value not stored inline, a
malformed entry): callers then take the record-by-record path, which also
names what is wrong. A row is only ever returned for bytes the record
decoders would accept.
"""
from __future__ import annotations

import struct
from operator import itemgetter

from . import layout as L
from .codec import fast, int_field
from .constants import Media, RootFlags

_LEAF_ENTRY = fast(L.leaf_entry)               # klen, vlen
_KEY_FLAGS = int_field(L.key_rec, "flags")
_ILOG_HDR = fast(L.ilog_header)                 # nr, flags, mod_count
_ILOG_ENT_SIZE = fast(L.ilog_entry).size
_ROOT = fast(L.tree_root_fixed)
_SV = fast(L.sv_rec_fixed)


def _fmt(s) -> str:
    return (s.struct if hasattr(s, "struct") else s).format.lstrip("<")


class _Fields:
    """Positions of a row's fields, in the order the entry stores them."""

    def __init__(self):
        names = ["klen", "vlen", "key", "flags"]
        names += [f"ilog_{n}" for n in _ILOG_HDR.names] + ["ilog"]
        names += [f"root_{n}" for n in _ROOT.names]
        names += ["embed_klen", "embed_vlen", "vkey"]
        names += [f"sv_{n}" for n in _SV.names] + ["csum", "data"]
        for i, n in enumerate(names):
            setattr(self, n, i)
        self.count = len(names)


F = _Fields()

#: the length fields a row's shape fixes, in shape order (see Shape.lengths)
_LENGTHS = itemgetter(F.klen, F.vlen, F.ilog_nr, F.root_count, F.root_flags, F.root_embed_len,
                      F.embed_klen, F.embed_vlen, F.sv_csum_len, F.sv_media, F.sv_size)
_HEAD = _LEAF_ENTRY.size
_KEY_HEAD = _KEY_FLAGS.size + _ILOG_HDR.size


class Shape:
    """The layout of entries of one shape: key length, log entries, checksum, inline data."""
    __slots__ = ("struct", "size", "lengths")

    def __init__(self, klen: int, nr: int, vklen: int, cl: int, size: int):
        fmt = "".join((
            "<", _fmt(_LEAF_ENTRY), f"{klen}s", _fmt(_KEY_FLAGS), _fmt(_ILOG_HDR),
            f"{nr * _ILOG_ENT_SIZE}s", _fmt(_ROOT), _fmt(_LEAF_ENTRY), f"{vklen}s", _fmt(_SV),
            f"{cl}s", f"{size}s"))
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        evlen = _SV.size + cl + size
        elen = _HEAD + vklen + evlen
        vlen = self.size - _HEAD - klen
        #: what _LENGTHS of a row of this shape must read
        self.lengths = (klen, vlen, nr, 1, int(RootFlags.EMBEDDED), elen, vklen, evlen, cl,
                        int(Media.INLINE), size)


_SHAPES: dict[tuple, Shape] = {}


def _shape_at(buf, pos: int) -> Shape | None:
    """The shape of the entry at ``pos``, read field by field (None: not one of these)."""
    try:
        klen, _vlen = _LEAF_ENTRY.unpack_from(buf, pos)
        at = pos + _HEAD + klen
        nr = buf[at + _KEY_FLAGS.size]
        at += _KEY_HEAD + nr * _ILOG_ENT_SIZE
        _page, count, _tc, _kk, _depth, flags, _elen = _ROOT.unpack_from(buf, at)
        if count != 1 or not flags & RootFlags.EMBEDDED:
            return None
        at += _ROOT.size
        vklen, _evlen = _LEAF_ENTRY.unpack_from(buf, at)
        at += _HEAD + vklen
        sv = _SV.unpack_from(buf, at)
    except (struct.error, IndexError):
        return None
    cl, media, size = sv[_SV.names.index("csum_len")], sv[_SV.names.index("media")], \
        sv[_SV.names.index("size")]
    if media != Media.INLINE:
        return None
    key = (klen, nr, vklen, cl, size)
    shape = _SHAPES.get(key)
    if shape is None:
        if len(_SHAPES) > 4096:        # bounded: shapes come from the data
            _SHAPES.clear()
        shape = _SHAPES[key] = Shape(*key)
    return shape


def key_value_rows(buf, pos: int, end: int, nkeys: int) -> list | None:
    """Rows of the ``nkeys`` entries stored in ``buf[pos:end]`` (a leaf's used area), each a
    key record whose tree is one embedded single value stored inline; None if any entry is
    not, or the entries do not fill the area exactly."""
    shape = _shape_at(buf, pos)
    if shape is None or nkeys < 1:
        return None
    want = shape.lengths
    if end - pos == nkeys * shape.size:             # one shape throughout, most likely
        rows = list(shape.struct.iter_unpack(memoryview(buf)[pos:end]))
        if all(_LENGTHS(r) == want for r in rows):
            return rows
    rows = []
    for _ in range(nkeys):
        if pos + shape.size > end:
            shape = _shape_at(buf, pos)
            if shape is None or pos + shape.size > end:
                return None
        row = shape.struct.unpack_from(buf, pos)
        if _LENGTHS(row) != shape.lengths:
            shape = _shape_at(buf, pos)
            if shape is None or pos + shape.size > end:
                return None
            row = shape.struct.unpack_from(buf, pos)
            if _LENGTHS(row) != shape.lengths:
                return None
        rows.append(row)
        pos += shape.size
    return rows if pos == end else None
