"""The record of the commonest akey, packed in one call: the encode-side counterpart of
``leafrows``.

Most akeys of a big image hold one single value, small enough to live inside its record,
in a one-leaf value tree embedded in the akey record, with a one-entry incarnation log.
``bulkload.ContainerLoad`` would encode such a record piece by piece (``enc_sv``,
``leaf_body``, ``enc_root``, ``enc_ilog``, ``enc_key``), five packs and four joins an
akey. Given as a ``PlainAkeyIn`` (one tuple, no log-entry or value objects),
``InlineAkeys`` packs the same bytes with one struct per value size, whose format is
built from the same layout declarations those codecs use (``layout.key_rec``'s fields,
``ilog_header``, ``ilog_entry``, ``tree_root_fixed``, ``leaf_entry``, ``sv_rec_fixed``);
tests/test_bulk_build.py checks both give the same bytes.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

from . import layout as L
from .checksum import csum_len, csum_of
from .codec import fast, format_body, int_field
from .constants import MAX_VALUE, KrecFlags, Media, RootFlags, TreeClass
from .keys import epoch_key
from .mutable_tree import EMBED_MAX

_KEY_FLAGS = int_field(L.key_rec, "flags")
_ILOG_HDR = fast(L.ilog_header)
_ILOG_ENT = fast(L.ilog_entry)
_ROOT = fast(L.tree_root_fixed)
_LEAF_ENTRY = fast(L.leaf_entry)
_SV = fast(L.sv_rec_fixed)
_EPOCH_KEY_LEN = len(epoch_key(1))

#: the record's bytes before its value tree: flags, a one-entry log, the root descriptor
_HEAD_LEN = _KEY_FLAGS.size + _ILOG_HDR.size + _ILOG_ENT.size + _ROOT.size
#: the embedded leaf's bytes besides the checksum and the data
_LEAF_FIXED = _LEAF_ENTRY.size + _EPOCH_KEY_LEN + _SV.size

#: the fields every such record holds alike, in their order: flags and log header (one
#: entry, modified once); the value tree's root (one embedded leaf, depth 0) but its
#: length; after the value's dtx id: version, media, address flags and padding
_HEAD = (KrecFlags.BTR, 1, 0, 1)
_ROOT_HEAD = (0, 1, int(TreeClass.SINGV), 0, 0, RootFlags.EMBEDDED)
_EMBED_FIXED = _LEAF_ENTRY.size + _EPOCH_KEY_LEN
_SV_MID = (0, int(Media.INLINE), 0, 0)



class PlainAkeyIn(NamedTuple):
    """An akey to load that was created once, at ``created`` (update minor
    ``created_minor``), and holds one single value, both committed: the commonest akey, in
    one tuple (``bulkload.AkeyIn`` is any akey)."""
    key: bytes
    created: int
    created_minor: int
    epoch: int
    minor: int
    data: bytes


class InlineAkeys:
    """Packs the records of one container's plain akeys (its checksum type)."""

    def __init__(self, csum_type: int):
        self.ctype = csum_type
        self.clen = csum_len(csum_type)
        #: the largest value whose tree still embeds in the record (``mutable_tree.embeddable``)
        self.max_size = min(EMBED_MAX, MAX_VALUE - _HEAD_LEN) - _LEAF_FIXED - self.clen
        self._packs: dict[int, struct.Struct] = {}

    def record(self, ak: PlainAkeyIn) -> bytes | None:
        """The record of a plain akey whose value lives in it, in an embedded tree; None
        when the value is too big for that (or invalid: the general path names why)."""
        _key, created, created_minor, epoch, minor, data = ak
        size = len(data)
        if not 0 < size <= self.max_size or epoch <= 0:
            return None
        pack = self._packs.get(size)
        if pack is None:
            pack = self._packs[size] = self._struct(size)
        svlen = _SV.size + self.clen + size
        return pack(*_HEAD, created, 0, 0, created_minor, *_ROOT_HEAD,
                    _EMBED_FIXED + svlen, _EPOCH_KEY_LEN, svlen, epoch_key(epoch), minor,
                    self.ctype, self.clen, 0, *_SV_MID, size, size, 0,
                    csum_of(self.ctype, data), data)

    def _struct(self, size: int):
        return struct.Struct("".join((
            "<", format_body(_KEY_FLAGS), format_body(_ILOG_HDR), format_body(_ILOG_ENT), format_body(_ROOT),
            format_body(_LEAF_ENTRY), f"{_EPOCH_KEY_LEN}s", format_body(_SV), f"{self.clen}s",
            f"{size}s"))).pack
