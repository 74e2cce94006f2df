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

A row is a plain tuple; ``F`` names its fields' positions; ``row_key_rec``
and ``row_value`` make the records of a row for code that wants objects. The log
entries stay one ``bytes`` field (``F.ilog``, 16 bytes each) so that every
shape has the same positions. ``key_value_rows`` returns None for a leaf it
cannot decode this way (another value tree, a value not stored inline, a
malformed entry): callers then take the record-by-record path, which also
names what is wrong. A row is only ever returned for bytes the record
decoders would accept.

``DDB_LEAF_DECODE=0`` in the environment turns leaf decoding off (every
reader and the checker then go record by record): the test suite runs on
both paths, and a user can rule this path out when a result looks wrong.
"""
from __future__ import annotations

import os
import struct
from operator import itemgetter

from . import layout as L
from .codec import fast, format_body, int_field
from .constants import Media, RootFlags
from .keys import epoch_from_key
from .records import KeyRec, TreeRoot
from .value_records import SingleValue

ENABLED = os.environ.get("DDB_LEAF_DECODE", "1") != "0"

_LEAF_ENTRY = fast(L.leaf_entry)               # klen, vlen
_KEY_FLAGS = int_field(L.key_rec, "flags")
_ILOG_HDR = fast(L.ilog_header)                 # nr, flags, mod_count
_ILOG_ENT_SIZE = fast(L.ilog_entry).size
_ROOT = fast(L.tree_root_fixed)
_SV = fast(L.sv_rec_fixed)



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
            "<", format_body(_LEAF_ENTRY), f"{klen}s", format_body(_KEY_FLAGS),
            format_body(_ILOG_HDR), f"{nr * _ILOG_ENT_SIZE}s", format_body(_ROOT),
            format_body(_LEAF_ENTRY), f"{vklen}s", format_body(_SV), f"{cl}s", f"{size}s"))
        self.struct = struct.Struct(fmt)
        self.size = self.struct.size
        evlen = _SV.size + cl + size
        elen = _HEAD + vklen + evlen
        vlen = self.size - _HEAD - klen
        #: what _LENGTHS of a row of this shape must read
        self.lengths = (klen, vlen, nr, 1, int(RootFlags.EMBEDDED), elen, vklen, evlen, cl,
                        int(Media.INLINE), size)


_SHAPES: dict[tuple, Shape] = {}


_FIXED = _HEAD + _KEY_HEAD + _ROOT.size + _HEAD + _SV.size    # an entry's bytes but its lengths
_ILOG_NR = _ILOG_HDR.names.index("nr")
_SV_CL, _SV_MEDIA, _SV_SIZE = (_SV.names.index(n) for n in ("csum_len", "media", "size"))


def _shape_at(buf, pos: int, end: int) -> Shape | None:
    """The shape of the entry at ``pos``, read field by field (None: not one of these, or
    longer than the ``end - pos`` bytes left)."""
    try:
        klen, _vlen = _LEAF_ENTRY.unpack_from(buf, pos)
        at = pos + _HEAD + klen
        nr = _ILOG_HDR.unpack_from(buf, at + _KEY_FLAGS.size)[_ILOG_NR]
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
    cl, media, size = sv[_SV_CL], sv[_SV_MEDIA], sv[_SV_SIZE]
    if media != Media.INLINE or \
            _FIXED + klen + nr * _ILOG_ENT_SIZE + vklen + cl + size > end - pos:
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
    not, or the entries do not fill the area exactly (or leaf decoding is off)."""
    if not ENABLED:
        return None
    shape = _shape_at(buf, pos, end)
    if shape is None or nkeys < 1:
        return None
    want = shape.lengths
    if end - pos == nkeys * shape.size:             # one shape throughout, most likely
        rows = list(shape.struct.iter_unpack(memoryview(buf)[pos:end]))
        if set(map(_LENGTHS, rows)) == {want}:
            return rows
    rows = []
    for _ in range(nkeys):
        if pos + shape.size > end:
            shape = _shape_at(buf, pos, end)
            if shape is None:
                return None
        row = shape.struct.unpack_from(buf, pos)
        if _LENGTHS(row) != shape.lengths:
            shape = _shape_at(buf, pos, end)
            if shape is None:
                return None
            row = shape.struct.unpack_from(buf, pos)
            if _LENGTHS(row) != shape.lengths:
                return None
        rows.append(row)
        pos += shape.size
    return rows if pos == end else None


_EMBEDS: dict[tuple, struct.Struct] = {}


def row_key_rec(row) -> KeyRec:
    """The key record of a row, as ``records.dec_key`` decodes it (its embedded tree's bytes
    packed back from the row's fields, which cover every byte of them)."""
    shape = (row[F.embed_klen], row[F.sv_csum_len], row[F.sv_size])
    embed = _EMBEDS.get(shape)
    if embed is None:
        if len(_EMBEDS) > 4096:
            _EMBEDS.clear()
        vklen, cl, size = shape
        embed = _EMBEDS[shape] = struct.Struct(
            f"<{format_body(_LEAF_ENTRY)}{vklen}s{format_body(_SV)}{cl}s{size}s")
    return KeyRec(row[F.flags], (row[F.ilog], row[F.ilog_flags], row[F.ilog_mod_count]),
                  TreeRoot(row[F.root_tclass], row[F.root_key_kind], row[F.root_page],
                           row[F.root_count], row[F.root_depth], row[F.root_flags],
                           embed.pack(*row[F.embed_klen:])))


def row_value(row) -> SingleValue:
    """The single value of a row, as ``value_records.dec_sv`` decodes it."""
    return SingleValue(epoch_from_key(row[F.vkey]), row[F.sv_size], row[F.sv_minor],
                       row[F.sv_dtx_lid], row[F.sv_ver], row[F.sv_media], row[F.sv_aflags],
                       row[F.sv_gsize], row[F.sv_off], row[F.sv_csum_type], row[F.csum],
                       row[F.data])
