"""A system image: many engines' storage, the MS replicas and every pool's PS replicas.

    <sys_root>/
      ms/<rank>/              MS replica (vosfmt.ms): an LMDB environment
      rank-<R>/               engine R's SCM mount: a single-engine image (vosfmt.image)
        <pool>/vos-<N>        the pool's shard of target N
        <pool>/rdb-pool       the pool's PS replica on this rank (vosfmt.rdb)

A directory is a system root when it has ``ms/`` or a ``rank-<R>/`` (R decimal,
no leading zeros). This module owns that layout: the listings below read
directory entries only (cheap for a 16-rank x 8-target system). The MS (``vosfmt.ms``) and
the PS (``vosfmt.rdb``) build on it; ``vosfmt.sysdump`` reads them all into the
document ``ddb system_dump`` prints.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .paths import UUID_PATTERN, is_shard_name

MS_DIR = "ms"
RANK_PREFIX = "rank-"
RDB_FILE = "rdb-pool"
_RANK_NAME = re.compile(r"rank-(0|[1-9][0-9]*)\Z")
_MS_NAME = re.compile(r"(0|[1-9][0-9]*)\Z")
_POOL_NAME = re.compile(rf"{UUID_PATTERN}\Z")


# --- layout ------------------------------------------------------------------------------------

def rank_root(sys_root: str, rank: int) -> str:
    """Engine ``rank``'s SCM mount: a single-engine image."""
    return os.path.join(sys_root, f"{RANK_PREFIX}{rank}")


def ms_path(sys_root: str, rank: int) -> str:
    return os.path.join(sys_root, MS_DIR, str(rank))


def rdb_path(sys_root: str, rank: int, pool_uuid: str) -> str:
    return os.path.join(rank_root(sys_root, rank), pool_uuid, RDB_FILE)


def rank_of(engine_root: str) -> int | None:
    """The rank a ``rank-<R>`` directory is for (None for another name)."""
    m = _RANK_NAME.match(os.path.basename(os.path.normpath(engine_root)))
    return int(m.group(1)) if m else None


def _numbered_dirs(path: str, pattern: re.Pattern) -> dict[int, str]:
    try:
        names = os.listdir(path)
    except OSError:
        return {}
    out = {}
    for name in names:
        m = pattern.match(name)
        if m and os.path.isdir(os.path.join(path, name)):
            out[int(m.group(1))] = os.path.join(path, name)
    return dict(sorted(out.items()))


def rank_dirs(sys_root: str) -> dict[int, str]:
    """rank -> ``rank-<R>`` directory, by rank."""
    return _numbered_dirs(sys_root, _RANK_NAME)


def ms_dirs(sys_root: str) -> dict[int, str]:
    """rank -> ``ms/<rank>`` directory, by rank."""
    return _numbered_dirs(os.path.join(sys_root, MS_DIR), _MS_NAME)


def is_pool_name(name: str) -> bool:
    """Whether a directory name is a pool's (its uuid)."""
    return _POOL_NAME.match(name) is not None


def is_system_root(path: str) -> bool:
    return os.path.isdir(os.path.join(path, MS_DIR)) or bool(rank_dirs(path))


@dataclass
class PoolPresence:
    """What one engine holds of a pool: its directory, vos-N targets, an rdb-pool."""
    rank: int
    path: str
    targets: list[int] = field(default_factory=list)
    rdb: bool = False


def pools_on_engines(sys_root: str) -> dict[str, dict[int, PoolPresence]]:
    """pool uuid (lower case) -> rank -> what that engine holds, from directory listings."""
    out: dict[str, dict[int, PoolPresence]] = {}
    for rank, rdir in rank_dirs(sys_root).items():
        for name in sorted(os.listdir(rdir)):
            pdir = os.path.join(rdir, name)
            if not is_pool_name(name) or not os.path.isdir(pdir):
                continue
            p = PoolPresence(rank, pdir)
            for f in os.listdir(pdir):
                if f == RDB_FILE:
                    p.rdb = True
                elif is_shard_name(f):
                    p.targets.append(int(f[len("vos-"):]))
            p.targets.sort()
            out.setdefault(name.lower(), {})[rank] = p
    return dict(sorted(out.items()))
