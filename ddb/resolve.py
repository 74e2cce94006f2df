"""Resolve a parsed VOS path against an open shard ("verify" in DAOS ddb).

Every part given by index gets its value and every part given by value gets
its index, walking down from the container; the first part that does not
exist raises PathError at its level. Only the handles on the path are read.
"""
from __future__ import annotations

from vosfmt import NotFoundError, Oid, TransactionError
from vosfmt.keys import oid_from_key, oid_key
from vosfmt.recordtype import Record

from .vospath import Part, PathError, format_path, parse_path


class Resolved(Record):
    """A verified path and the handles it names (deepest last)."""
    __slots__ = ("parts", "shard", "container", "obj", "dkey", "akey", "extent", "typed", "handles")
    DEFAULTS = dict(shard=None, container=None, obj=None, dkey=None, akey=None, extent=None,
                    typed="", handles=[])

    @property
    def depth(self) -> int:
        return len(self.parts)

    @property
    def otype(self) -> int:
        return self.obj.oid.otype if self.obj is not None else 0

    @property
    def printed(self) -> str:
        return format_path(self.parts, self.otype)

    @property
    def reaches_value(self) -> bool:
        return self.extent is not None or (self.akey is not None and self.akey.value_kind == "sv")


def resolve(shard, text: str) -> Resolved:
    return resolve_parts(shard, parse_path(text), text)


def resolve_parts(shard, parts: list[Part], text: str = "", *, partial: bool = False) -> Resolved:
    """Fill in every part; with ``partial``, stop (instead of failing) at the first part
    given by value that does not exist, below an existing container (value_load creates
    the rest). The returned Resolved then covers only the existing prefix."""
    r = Resolved(parts, shard=shard, typed=text)
    if not parts:
        return r
    c = parts[0]
    try:
        if c.index is not None:
            r.container = shard.container_at(c.index)
            c.value = r.container.rec.uuid
        else:
            r.container = shard.container(c.value)
            c.index = shard.container_index(c.value)
    except NotFoundError as e:
        raise PathError(0, str(e)) from None
    steps = [lambda: _object(r.container, parts[1]),
             lambda: _key(r.obj, parts[2], 2, r.obj.dkey_at, r.obj.dkey, r.obj.dkey_index),
             lambda: _key(r.dkey, parts[3], 3, r.dkey.akey_at, r.dkey.akey, r.dkey.akey_index),
             lambda: _extent(r.akey, parts[4])]
    names = ["obj", "dkey", "akey", "extent"]
    for level in range(1, len(parts)):
        try:
            setattr(r, names[level - 1], steps[level - 1]())
        except PathError as e:
            if partial and getattr(e, "missing", False) and parts[level].index is None:
                r.parts = parts[:level]
                return r
            raise
    return r


def _object(container, p: Part):
    try:
        if p.index is not None:
            o = container.object_at(p.index)
            p.value = o.oid
            return o
        o = _find_object(container, p.value)
        p.value = o.oid
        p.index = container.object_index(o.oid)
        return o
    except NotFoundError as e:
        raise _missing(1, e) from None


def _missing(level: int, e) -> PathError:
    err = PathError(level, str(e))
    err.missing = True
    return err


def _find_object(container, oid: Oid):
    """Objects match on hi, lo and shard; the layout version is not part of identity."""
    reader = container.shard.reader
    for k, _v in reader.items(container.rec.obj_root, start=oid_key(Oid(oid.hi, oid.lo, oid.shard, 0)),
                              path=container.path):
        found = oid_from_key(k)
        if found[:3] == oid[:3]:
            return container.object(found)
        break
    raise NotFoundError(f"no object {oid} in container {container.uuid}")


def _key(parent, p: Part, level: int, at, by_key, index_of):
    try:
        if p.index is not None:
            h = at(p.index)
            p.value = h.key
            return h
        h = by_key(p.value)
        p.index = index_of(p.value)
        return h
    except NotFoundError as e:
        raise _missing(level, e) from None
    except TransactionError as e:       # the wrong shape for this object (e.g. not 8 bytes)
        raise PathError(level, str(e)) from None


def _extent(akey, p: Part):
    if akey.value_kind != "array":
        raise PathError(4, f"{akey.path} holds a single value, not array extents")
    try:
        if p.index is not None:
            e = akey.value_at(p.index)
            p.value = (e.lo, e.hi)
            return e
        lo, hi = p.value
        best = None
        for i, e in enumerate(akey.extents()):
            if e.lo == lo and e.hi == hi and (best is None or e.epoch >= best[1].epoch):
                best = (i, e)
        if best is None:
            raise NotFoundError(f"no extent {{{lo}-{hi}}} under {akey.path}")
        p.index = best[0]
        return best[1]
    except NotFoundError as e:
        raise PathError(4, str(e)) from None
