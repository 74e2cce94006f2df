"""Helpers shared by command bodies: path resolution through the one error path."""
from __future__ import annotations

from vosfmt import VosError

from ..errors import DdbError, der
from ..resolve import Resolved, resolve
from ..vospath import PathError


def resolve_or_fail(session, path: str) -> Resolved:
    shard = session.require_open()
    try:
        return resolve(shard, path)
    except PathError as e:
        raise DdbError(f"{der('DER_INVAL')}: {e.detail}",
                       stdout=[e.message] if e.level is not None else []) from None
    except VosError as e:
        raise DdbError(str(e)) from None
