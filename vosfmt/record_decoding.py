"""Any tree record decoded by its tree class, with errors that name what was read.

Generic code (the writer opening records, the checker, error messages of
the readers) goes through here: ``record_decoder`` picks the decoder of a
tree class, ``guarded`` turns malformed bytes into a ``CorruptionError``
naming the record structure and VOS path, and ``checked_decoder`` adds the
checks across fields only a checker needs.
"""
from __future__ import annotations

import struct

from .constants import TreeClass
from .dtx_records import dec_dtx_active, dec_dtx_committed
from .errors import CorruptionError
from .keys import Oid, epoch_from_key, extent_from_key, oid_key, xid_from_key
from .records import dec_container, dec_key, dec_object, dec_vea
from .value_records import Extent, dec_extent, dec_sv, extent_fault

_OID_KEY_SIZE = len(oid_key(Oid(0, 0)))


_RECORD_NAMES = {
    TreeClass.CONT_TABLE: "container_rec", TreeClass.OBJ_TABLE: "object_rec",
    TreeClass.DKEY: "key_rec", TreeClass.AKEY: "key_rec", TreeClass.SINGV: "sv_rec",
    TreeClass.EVT: "ext_rec", TreeClass.DTX_ACT: "dtx_act_rec",
    TreeClass.DTX_CMT: "dtx_cmt_rec", TreeClass.VEA: "vea_rec",
}


def record_name(tclass: int) -> str:
    """The layout.py name of the records a tree of class ``tclass`` holds (for messages)."""
    return _RECORD_NAMES.get(tclass, "record")


def path_text(path) -> str | None:
    """Error paths may be given lazily (a callable or a handle with ``.path``)."""
    if path is None or isinstance(path, str):
        return path
    if callable(path):
        return path()
    return getattr(path, "path", str(path))


def guarded(fn, buf, *args, offset=None, tclass=0, path=None):
    """Call a decoder, turning malformed bytes into CorruptionError.

    ``path`` may be lazy (see path_text) so the hot path never formats it.
    """
    try:
        return fn(buf, *args)
    except (struct.error, IndexError, ValueError) as e:
        raise malformed(e, tclass, path, offset) from None


def malformed(e: Exception, tclass: int, path=None, offset=None) -> CorruptionError:
    """The CorruptionError for a record whose bytes did not decode (``e``)."""
    return CorruptionError(f"malformed {record_name(tclass)} ({e})", offset=offset,
                           structure=record_name(tclass), path=path_text(path))


def _keyed(size: int, dec):
    """A decoder that also checks its key's size (keys the record itself cannot check)."""
    def check(k, v):
        if len(k) != size:
            raise struct.error(f"key is {len(k)} bytes, expected {size}")
        return dec(v)
    return check


_DECODERS = {
    TreeClass.CONT_TABLE: _keyed(16, dec_container),
    TreeClass.OBJ_TABLE: _keyed(_OID_KEY_SIZE, dec_object),
    TreeClass.DKEY: lambda k, v: dec_key(v),
    TreeClass.AKEY: lambda k, v: dec_key(v),
    TreeClass.SINGV: lambda k, v: dec_sv(v, epoch_from_key(k)),
    TreeClass.EVT: lambda k, v: dec_extent(v, *extent_from_key(k)),
    TreeClass.DTX_ACT: lambda k, v: dec_dtx_active(v, xid_from_key(k)),
    TreeClass.DTX_CMT: lambda k, v: dec_dtx_committed(v, xid_from_key(k)),
    TreeClass.VEA: _keyed(8, dec_vea),
}


def record_decoder(tclass: int):
    """The decoder ``(key, value) -> record`` of a tree class."""
    try:
        return _DECODERS[tclass]
    except KeyError:
        raise ValueError(f"unknown tree class {tclass}") from None


def _checked_extent(k, v) -> Extent:
    x = _DECODERS[TreeClass.EVT](k, v)
    fault = extent_fault(x)
    if fault:
        raise ValueError(fault)
    return x


def checked_decoder(tclass: int):
    """``record_decoder`` plus the checks across fields that readers do not need but a
    checker must make (an extent's count against its checksums): the checker's decoder."""
    return _checked_extent if tclass == TreeClass.EVT else record_decoder(tclass)


def decode_record(tclass: int, key: bytes, value: bytes):
    """Decode any tree record from its collated key and value bytes (by tree class)."""
    return record_decoder(tclass)(key, value)
