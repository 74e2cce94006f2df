"""``Record``: the base of our plain data classes (decoded records, superblock, options).

Plain ``__slots__`` classes rather than dataclasses: generating a dataclass
costs about 0.3 ms at import, and a one-shot ``ddb`` command imports a
dozen of them (start-up time is a target). A subclass lists its fields in
``__slots__`` and either writes its own ``__init__`` (the hot records, for
speed) or gives ``DEFAULTS`` and uses the generic one here. ``FIELDS``
names the public fields when they differ from the slots.
"""
from __future__ import annotations


class Record:
    __slots__ = ()
    DEFAULTS: dict = {}

    def __init__(self, *args, **kwargs):
        names = self.__slots__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} fields")
        for n, a in zip(names, args):
            setattr(self, n, a)
        for n in names[len(args):]:
            if n in kwargs:
                setattr(self, n, kwargs.pop(n))
            elif n in self.DEFAULTS:
                d = self.DEFAULTS[n]
                setattr(self, n, d.copy() if isinstance(d, (list, dict, set)) else d)
            else:
                raise TypeError(f"{type(self).__name__} needs field {n!r}")
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(kwargs)}")

    @property
    def _fields(self) -> tuple:
        return getattr(type(self), "FIELDS", None) or self.__slots__

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._fields)

    __hash__ = None     # mutable

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def replace(self, **changes):
        """A copy with some fields changed (like dataclasses.replace)."""
        new = object.__new__(type(self))
        for n in self.__slots__:
            setattr(new, n, changes.pop(n) if n in changes else getattr(self, n))
        if changes:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(changes)}")
        return new
