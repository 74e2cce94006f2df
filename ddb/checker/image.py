"""What the checker takes for a storage image, and which of its shards a check covers."""
from __future__ import annotations

import os

from vosfmt import VosError
from vosfmt.image import list_shards
from vosfmt.smd import SYS_DB_DIR
from vosfmt.system import is_system_root

from .errors import CheckError


def is_image(db_root: str) -> bool:
    """A storage image has an SMD sys db or pool directories with vos-N shards (an image whose
    sys db is lost is still checked: the checker reports the missing SMD)."""
    try:
        return os.path.isdir(os.path.join(db_root, SYS_DB_DIR)) or bool(list_shards(db_root))
    except (OSError, VosError):
        return False


def require_image(db_root: str) -> None:
    """Refuse, before anything is opened or created, a directory that is not a storage image."""
    if not os.path.isdir(db_root):
        raise CheckError(f"{db_root}: no such directory (give the storage image with -D)")
    if is_image(db_root):
        return
    if is_system_root(db_root):
        raise CheckError(f"{db_root} is a system image (ms/, rank-<R>/), not one engine's storage: "
                         "give a rank-<R> directory with -D, or check the whole system with "
                         "the system verbs (ddb check start -D SYSTEM)")
    raise CheckError(f"{db_root} is not a storage image: it has neither {SYS_DB_DIR} nor pool "
                     "directories with vos-N shards")


def targets_of(db_root: str, names) -> list[str]:
    """Shard paths for TARGET arguments: shard files, pool directories or pool uuids."""
    shards = list_shards(db_root)
    if not names:
        return shards
    out = []
    for n in names:
        p = os.path.abspath(n) if os.path.exists(n) else os.path.join(db_root, n)
        match = [s for s in shards if os.path.abspath(s) == os.path.abspath(p)
                 or os.path.dirname(os.path.abspath(s)) == os.path.abspath(p)]
        if not match:
            raise CheckError(f"no pool shard matches '{n}' under {db_root}")
        out += [m for m in match if m not in out]
    return out
