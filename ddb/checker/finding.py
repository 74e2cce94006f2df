"""What a scan returns: findings, and how to tell one found again from a new one.

A Finding is a problem code and a JSON-able context (the message's fields,
and what its repair needs); the report store keeps exactly that. Owners in
a context are VOS paths as JSON (container uuid, oid, key bytes as hex);
``owner_label`` turns them into the text a message shows.
"""
from __future__ import annotations

from dataclasses import dataclass

from vosfmt.keys import Oid, uuid_bytes
from vosfmt.keytext import format_key

from .problems import Code, problem


@dataclass
class Finding:
    """One inconsistency: its problem code and a JSON-able context (message fields + repair data)."""
    code: Code                          # (a plain int when read back from the report store)
    ctx: dict
    shard: str = ""

    @property
    def problem(self):
        return problem(self.code)

    @property
    def message(self) -> str:
        try:
            return self.problem.message.format(**self.ctx)
        except (KeyError, IndexError, ValueError):
            return self.problem.message

    def identity(self) -> tuple:
        keys = sorted(k for k in self.ctx if k not in _NOT_IDENTITY)
        return (self.code, self.shard, tuple((k, str(self.ctx[k])) for k in keys))


#: context that describes how much, not what: the same inconsistency found again may differ there
_NOT_IDENTITY = frozenset(("lost", "count", "ranges", "extents", "drop", "refs"))


class FindingSet:
    """Findings met so far, to tell one found again from a new one.

    The same inconsistency has the same identity; for space findings it must also
    share pages or blocks (a new leak elsewhere is another finding).
    """

    def __init__(self, findings=()):
        self._by: dict = {}
        for f in findings:
            self.add(f)

    def add(self, f: Finding) -> None:
        self._by.setdefault(f.identity(), []).append(f)

    def __contains__(self, f: Finding) -> bool:
        return any(_overlaps(f, g) for g in self._by.get(f.identity(), ()))


def _overlaps(f: Finding, g: Finding) -> bool:
    a, b = f.ctx.get("extents"), g.ctx.get("extents")
    if a is None or b is None:
        return True
    return any(s1 < s2 + n2 and s2 < s1 + n1 for s1, n1 in a for s2, n2 in b)


# --- owners as text ----------------------------------------------------------------------------

def _otype(oid_text: str) -> int:
    try:
        return Oid.parse(oid_text).otype
    except ValueError:
        return 0


def owner_keys(owner: list) -> tuple:
    """A JSON owner path -> (cont uuid bytes, Oid, dkey bytes, akey bytes), as far as it goes."""
    out = []
    if owner:
        out.append(uuid_bytes(owner[0]))
    if len(owner) > 1:
        out.append(Oid.parse(owner[1]))
    out += [bytes.fromhex(k) for k in owner[2:]]
    return tuple(out)


def owner_label(owner: list) -> str:
    if not owner:
        return "the pool"
    parts = [owner[0]] + owner[1:2]
    otype = _otype(owner[1]) if len(owner) > 1 else 0
    parts += [format_key(bytes.fromhex(k), otype) for k in owner[2:]]
    return "/" + "/".join(parts)


def label_text(label) -> str:
    """Page/block owner labels are stored lazily as (owner path, suffix)."""
    if isinstance(label, tuple):
        return owner_label(label[0]) + label[1]
    return label
