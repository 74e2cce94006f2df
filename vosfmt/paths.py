"""Where a pool shard lives in a storage image, and what its path says.

    <db_root>/<pool-uuid>/vos-<N>     the pool shard of target N
    <db_root>/<pool-uuid>/rdb-pool    the pool-service replica

The one home of this grammar: ddb's ``open`` (DAOS ddb's rule and limits,
from its ddb_parse.c), the listing of an image's shards, shell completion
of shard files and the default db root of a shard all read it here.
String work only: nothing here touches a file.
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple

from .errors import VosError

UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
SHARD_NAME_PATTERN = r"vos-(?:0|[1-9][0-9]*)|rdb-pool"
_SHARD_NAME = re.compile(rf"(?:{SHARD_NAME_PATTERN})\Z")
_SHARD_PATH = re.compile(rf"(?:(.*?)/+)?({UUID_PATTERN})/+({SHARD_NAME_PATTERN})\Z", re.S)

#: DAOS ddb's limits (ddb_parse.h): VOS_PATH_SIZE = DB_PATH_SIZE = PATH_MAX,
#: VOS_FILE_NAME_SIZE = 16, each counting the terminating NUL; a target index is a uint32
PATH_SIZE = 4096
FILE_NAME_SIZE = 16
TARGET_MAX = 2**32 - 1


class ShardPathError(VosError):
    """A path that does not name a pool shard (DAOS ddb: DER_INVAL)."""


class ShardPathTooLong(ShardPathError):
    """A shard path, db path or shard file name over DAOS ddb's limits (DER_EXCEEDS_PATH_LEN)."""


class TargetOutOfRange(ShardPathError):
    """A ``vos-N`` whose N is not a uint32 (DER_OVERFLOW)."""


class ShardPath(NamedTuple):
    db_root: str            # the directory before the pool uuid: "." if none, "/" at the root
    pool_uuid: str          # lower case
    name: str               # vos-N or rdb-pool
    target: int | None      # N; None for rdb-pool


def is_shard_name(name: str) -> bool:
    """Whether a file name is that of a shard (``vos-N`` without leading zeros, ``rdb-pool``)."""
    return _SHARD_NAME.match(name) is not None


def is_shard_path(path: str) -> bool:
    """Whether ``path`` has a shard's form ``[db/]<pool-uuid>/(vos-N|rdb-pool)``."""
    return _SHARD_PATH.match(path) is not None


def parse_shard_path(path: str, db_path: str | None = None) -> ShardPath:
    """What a shard path says, by DAOS ddb's rule (checked in its order: form, path length,
    db path length, file name length, target range). ``db_path`` (ddb's -p) overrides the
    db root the path implies."""
    m = _SHARD_PATH.match(path)
    if m is None:
        raise ShardPathError(f"Invalid VOS path: '{path}'. Expected format: "
                             "[/path/to/db/]pool-uuid/(vos-N|rdb-pool)")
    _within(PATH_SIZE, path, lambda n: f"VOS path '{path}' too long: got={n}, max={PATH_SIZE - 1}")
    if db_path:
        _within(PATH_SIZE, db_path,
                lambda n: f"DB path '{db_path}' too long: got={n}, max={PATH_SIZE - 1}")
    db, puuid, name = m.groups()
    db = db_path or ("." if db is None else db or "/")
    if name == "rdb-pool":
        return ShardPath(db, puuid.lower(), name, None)
    _within(FILE_NAME_SIZE, name, lambda n: f"VOS file name '{name}' too long in VOS path "
                                            f"'{path}': got={n}, max={FILE_NAME_SIZE - 1}")
    target = int(name[4:])
    if target > TARGET_MAX:
        raise TargetOutOfRange(f"Target index '{target}' out of range in VOS path '{path}': "
                               f"min=0 , max={TARGET_MAX}")
    return ShardPath(db, puuid.lower(), name, target)


def _within(size: int, text: str, message) -> None:
    """DAOS's buffers hold size - 1 bytes: longer text is refused, naming its length."""
    n = len(os.fsencode(text))
    if n >= size:
        raise ShardPathTooLong(message(n))


def db_root_of(shard_path: str) -> str:
    """The db root a shard belongs to: ``<db_root>/<pool-uuid>/vos-N`` -> ``<db_root>``
    (absolute, so it is the same whatever the current directory later becomes)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(shard_path)))
