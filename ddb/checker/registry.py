"""The repair registry: one repair function per problem, registered next to its code.

``@repairs(Code.X)`` files the function under its problem; registering a
code twice is an error, and a test holds the registry to the problem table
(every problem with a repair has exactly one, a report-only one none).

When a repair runs decides how it is called (``Phase``):

- ``FILE``: on the open shard, before its transaction (the file's size, the
  other superblock copy): ``fn(job, finding, action)``.
- ``BEGIN``: what the transaction is opened with; returns the free-page
  list it starts from (a damaged one cannot be read): ``fn(job, finding, action)``.
- ``TX``: inside the shard's one transaction, in ``order`` (trees before
  their records, space last): ``fn(job, finding, action)``; False when it
  found nothing to do (its finding's ``drop`` pages are then kept).
- ``IMAGE``: SMD and blobs, outside any shard: ``fn(db_root, finding, action)``.

``job`` is the shard's ``repair.ShardJob`` (the shard, its transaction, a
scan's facts when ``needs_facts(finding)`` says so).
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from .problems import Code


class Phase(enum.Enum):
    FILE = "file"
    BEGIN = "begin"
    TX = "tx"
    IMAGE = "image"


def _never(_finding) -> bool:
    return False


@dataclass(frozen=True)
class Repair:
    code: Code
    fn: Callable
    phase: Phase
    order: int                          # within its phase: lower first
    needs_facts: Callable               # (finding) -> whether it reads a scan's facts


REPAIRS: dict[Code, Repair] = {}


def repairs(code: Code, *, phase: Phase = Phase.TX, order: int = 50, needs_facts=_never):
    """Register the decorated function as the repair of problem ``code``."""
    def register(fn):
        if code in REPAIRS:
            raise ValueError(f"{code.name} already has a repair: {REPAIRS[code].fn.__qualname__}")
        REPAIRS[code] = Repair(code, fn, phase, order, needs_facts)
        return fn
    return register
