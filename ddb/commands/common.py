"""Helpers shared by command bodies: path resolution, progress of long transfers."""
from __future__ import annotations

import sys

from ..errors import DdbError, der
from ..resolve import Resolved, resolve
from ..vospath import PathError

#: values at least this big show a progress bar while they are copied (on a terminal)
PROGRESS_MIN = 64 << 20


def resolve_or_fail(session, path: str) -> Resolved:
    shard = session.require_open()
    try:
        return resolve(shard, path)
    except PathError as e:
        raise DdbError(f"{der('DER_INVAL')}: {e.detail}",
                       stdout=[e.message] if e.level is not None else []) from None


def progress_bar(size: int, label: str):
    """A progress bar on stderr for copying ``size`` bytes, or None: small copies, and
    output that is not a terminal, get none."""
    if size <= PROGRESS_MIN or not sys.stderr.isatty():
        return None
    import click
    return click.progressbar(length=size, label=label, file=sys.stderr)
