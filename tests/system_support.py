"""A tiny system image for the replication tests, built with vosfmt's API alone (no
fixtures preset): 4 ranks, MS replicas on 0-2, one pool whose PS replicas are on 0-2.

``SERVICES`` gives, per service kind, how to open it and how to remove, save and put
back one rank's replica, so a test runs the same on the MS (LMDB) and the PS (rdb-pool).
"""
from __future__ import annotations

import os
import shutil

from vosfmt.errors import VosError
from vosfmt.ms import ManagementService, empty_ms_state, ms_replica
from vosfmt.rdb import PoolService, RdbReplica, empty_ps_state, map_key
from vosfmt.replicated import create_replicas
from vosfmt.system import ms_path, rank_root, rdb_path

POOL = "11111111-2222-3333-4444-555555555555"
CONT = "aaaaaaaa-0000-0000-0000-000000000001"
RANKS = (0, 1, 2, 3)
SVC = (0, 1, 2)


def ms_state() -> dict:
    st = empty_ms_state()
    st["members"] = {str(r): {"rank": r, "uuid": f"00000000-0000-0000-0000-00000000000{r}",
                              "state": "joined"} for r in RANKS}
    st["pools"][POOL] = {"uuid": POOL, "label": "pool-a", "svc_ranks": list(SVC),
                         "state": "ready"}
    st["checker"]["state"] = {"enabled": False, "instance": 0, "leader": None, "policies": {}}
    return st


def ps_state() -> dict:
    st = empty_ps_state()
    st["pool_map"] = {"version": 1, **{map_key(r): {
        "rank": r, "state": "UPIN", "targets": [{"index": t, "state": "UPIN"} for t in (0, 1)]}
        for r in RANKS}}
    st["props"] = {"label": "pool-a", "owner": "root@"}
    st["containers"] = {CONT: {"uuid": CONT, "label": "cont-a", "props": {"label": "cont-a"}}}
    st["cont_labels"] = {"cont-a": CONT}
    return st


def build_system(root: str) -> str:
    for r in RANKS:
        os.makedirs(rank_root(root, r))
    create_replicas([ms_replica(root, r) for r in SVC], ms_state())
    create_replicas([RdbReplica(rdb_path(root, r, POOL)) for r in SVC], ps_state())
    return root


class MsKind:
    name = "ms"

    @staticmethod
    def service(root: str, hooks=None):
        return ManagementService(root)

    @staticmethod
    def path(root: str, rank: int) -> str:
        return ms_path(root, rank)

    @staticmethod
    def edit(state: dict, n: int) -> None:
        state["pools"][POOL]["label"] = f"label-{n}"
        state["members"].pop("3", None)

    @staticmethod
    def remove(root: str, rank: int) -> None:
        shutil.rmtree(ms_path(root, rank))

    @staticmethod
    def save(root: str, rank: int, dst: str) -> None:
        shutil.copytree(ms_path(root, rank), dst)

    @staticmethod
    def put_back(root: str, rank: int, src: str) -> None:
        shutil.rmtree(ms_path(root, rank), ignore_errors=True)
        shutil.copytree(src, ms_path(root, rank))

    @staticmethod
    def damage(root: str, rank: int) -> None:
        with open(os.path.join(ms_path(root, rank), "data.mdb"), "r+b") as f:
            f.write(b"\xff" * 8192)


class PsKind:
    name = "ps"

    @staticmethod
    def service(root: str, hooks=None):
        return PoolService(root, POOL, hooks=hooks)

    @staticmethod
    def path(root: str, rank: int) -> str:
        return rdb_path(root, rank, POOL)

    @staticmethod
    def edit(state: dict, n: int) -> None:
        state["props"]["label"] = f"label-{n}"
        state["cont_labels"].pop("cont-a", None)
        state["cont_labels"][f"cont-{n}"] = CONT
        state["pool_map"]["version"] = n + 1

    @staticmethod
    def remove(root: str, rank: int) -> None:
        os.remove(rdb_path(root, rank, POOL))

    @staticmethod
    def save(root: str, rank: int, dst: str) -> None:
        shutil.copyfile(rdb_path(root, rank, POOL), dst)

    @staticmethod
    def put_back(root: str, rank: int, src: str) -> None:
        os.makedirs(os.path.dirname(rdb_path(root, rank, POOL)), exist_ok=True)
        shutil.copyfile(src, rdb_path(root, rank, POOL))

    @staticmethod
    def damage(root: str, rank: int) -> None:
        with open(rdb_path(root, rank, POOL), "r+b") as f:
            f.write(b"\xff" * 8192)


SERVICES = {"ms": MsKind, "ps": PsKind}


def tree_snapshot(root: str) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (and every directory, as None)."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(d, name), root)] = None
        for name in files:
            with open(os.path.join(d, name), "rb") as f:
                out[os.path.relpath(os.path.join(d, name), root)] = f.read()
    return out


def replica_states(kind, root: str, ranks=SVC) -> dict:
    """rank -> (meta, state) of each replica as its backend loads it (None: unreadable)."""
    svc = kind.service(root)
    out = {}
    for r in ranks:
        try:
            out[r] = svc.replica(r).load()
        except VosError:
            out[r] = None
    return out
