"""What runs where the storage is: one rank's clues and repair orders, as JSON-able dicts.

The leader reaches a rank's engine only through ``handle(request) ->
response`` (``transport`` carries them: processes here, ssh later), so a
request and its response are plain JSON values both ways. Requests name the
rank's image (``root``: its ``rank-<R>`` directory) and an ``op``:

    clues              what the rank holds: per pool its targets, its PS replica's raft
                       meta, the container uuids of each vos-N (phases 0 and 4)
    destroy_pool       every vos-N (with its blob and SMD rows), the rdb-pool, the directory
    destroy_shards     the named vos-N of a pool (its rdb-pool stays)
    destroy_container  the container in every vos-N of the pool, one Transaction per shard
    local_check        the single-engine checker over the rank's image
    replica_exists     whether the rank holds the pool's PS replica (rdb-pool)
    replica_load       that replica's raft meta and state (``RdbReplica.load``)
    replica_store      one atomic write of a raft meta and changed keys to it
    replica_create     a whole new replica (``RdbReplica.create``)

and one op about a host rather than a rank, ``ranks`` (``root``: the
directory holding that host's ``rank-<R>`` folders), which a remote leader
sends first to learn where each rank is. The replica ops are a PS replica
backend at a distance (``remote.RemoteReplica``): the PS of a remote system
is read and written where its rdb-pool files are.

Every response has ``ok`` and ``error``; an expected failure (a shard that
cannot be opened, a refused removal) is ``ok: False`` with the reason, never
an exception. Every op is idempotent: what is already gone is not an error,
so an order re-sent after a crash finishes the work. Files are removed only
through ``vosfmt.image.remove_shard`` and ``vosfmt.safefs`` (verified, never
through a link, never a recursive delete).
"""
from __future__ import annotations

import os

from vosfmt import VosError, open_shard
from vosfmt.blob import blob_path, read_header
from vosfmt.errors import NotFoundError
from vosfmt.image import remove_shard
from vosfmt.keys import uuid_bytes, uuid_str
from vosfmt.paths import is_shard_name
from vosfmt.raft import RaftMeta
from vosfmt.rdb import RdbReplica
from vosfmt.safefs import remove_dir, unlink_file
from vosfmt.smd import SysDb, sys_db_exists
from vosfmt.system import RDB_FILE, is_pool_name, rank_dirs
from vosfmt.txn import Transaction

from ..errors import CheckError

VOS = "vos-"


class BadRequest(Exception):
    """A request the engine cannot take (unknown op, a missing or malformed field)."""


# --- the rank's layout ---------------------------------------------------------------------

def _targets(pdir: str) -> dict[int, str]:
    """target -> vos-N path of a pool directory, by target."""
    try:
        names = os.listdir(pdir)
    except FileNotFoundError:
        return {}
    out = {int(n[len(VOS):]): os.path.join(pdir, n) for n in names
           if n.startswith(VOS) and is_shard_name(n) and os.path.isfile(os.path.join(pdir, n))}
    return dict(sorted(out.items()))


def _pool_dirs(root: str) -> dict[str, str]:
    out = {}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if is_pool_name(name) and os.path.isdir(path) and not os.path.islink(path):
            out[name.lower()] = path
    return out


# --- clues ------------------------------------------------------------------------------------

def _rdb_clue(path: str, rank: int, pool: str) -> dict | None:
    if not os.path.lexists(path):
        return None
    try:
        meta, _state = RdbReplica(path, rank=rank, pool_uuid=pool).load()
        return {"meta": meta.to_json(), "error": None}
    except VosError as e:
        return {"meta": None, "error": str(e)}
    except OSError as e:
        return {"meta": None, "error": f"{path}: {e.strerror or e}"}


def _containers(root: str, path: str) -> list[str]:
    with open_shard(path, db_root=root) as sh:
        return sorted(c.uuid for c in sh.containers())


def clues(req: dict) -> dict:
    root, rank = req["root"], req["rank"]
    pools, errors = {}, []
    for pool, pdir in _pool_dirs(root).items():
        targets = _targets(pdir)
        conts = {}
        for t, path in targets.items():
            try:
                conts[str(t)] = _containers(root, path)
            except (VosError, OSError) as e:
                errors.append(f"{pool}/vos-{t}: {e}")
        pools[pool] = {"targets": list(targets), "containers": conts,
                       "rdb": _rdb_clue(os.path.join(pdir, RDB_FILE), rank, pool)}
    return {"pools": pools, "errors": errors}


# --- destroying -----------------------------------------------------------------------------

def _finish_removed_targets(root: str, pool: str, keep: set[int], only=None) -> list[int]:
    """The blobs and SMD rows of the pool's targets that have no shard any more (a removal
    cut between its shard and the rest): each blob removed if its header confirms it is that
    target's (else left), then the rows dropped. The targets finished."""
    if not sys_db_exists(root):
        return []
    puuid = uuid_bytes(pool)
    with SysDb(root) as db:
        row = db.pools().get(puuid)
        stale = [t for t in (row.tgts if row else []) if t not in keep
                 and (only is None or t in only)]
        blobs = {t: db.blob_location(puuid, t) for t in stale
                 if row.blob_of(t) is not None and t in db.targets()}
    for t, (dev, blob_id) in blobs.items():
        path = blob_path(root, dev, blob_id)
        try:
            h = read_header(path) if os.path.isfile(path) and not os.path.islink(path) else None
        except VosError:
            h = None
        if h is not None and (h.pool_uuid, h.vos_id, h.blob_id, h.dev_uuid) == \
                (puuid, t, blob_id, dev):
            unlink_file(root, path)
    if stale:
        with SysDb(root, write=True) as db:
            for t in stale:
                db.remove_target(puuid, t)
    return stale


def _each_target(pdir: str, which, fn) -> tuple[list[int], list[str]]:
    """``fn(target, path)`` on the pool's vos-N of ``which`` (None: all), each on its own: one
    that fails does not stop the others. (targets fn returned True for, errors)."""
    done, errors = [], []
    for t, path in _targets(pdir).items():
        if which is not None and t not in which:
            continue
        try:
            if fn(t, path):
                done.append(t)
        except (VosError, OSError) as e:
            errors.append(f"vos-{t}: {e}")
    return done, errors


def _destroy_targets(root: str, pool: str, pdir: str, which) -> tuple[list[int], list[str]]:
    """Remove the pool's vos-N of ``which`` (None: all), then finish earlier removals."""
    def remove(t, path):
        with open_shard(path, write=True, db_root=root) as sh:
            remove_shard(sh)
        return True

    removed, errors = _each_target(pdir, which, remove)
    _finish_removed_targets(root, pool, set(_targets(pdir)), which)
    return removed, errors


def _done(errors: list[str], **out) -> dict:
    return {"ok": not errors, "error": "; ".join(errors) or None, **out}


def destroy_pool(req: dict) -> dict:
    """The pool's shards, then (only when they are all gone) its rdb-pool and directory: a
    replica is never removed while shards it describes remain."""
    root, pool = req["root"], _pool(req)
    pdir = os.path.join(root, pool)
    removed, errors = _destroy_targets(root, pool, pdir, None)
    if errors:
        return _done(errors, removed=removed, rdb=False)
    rdb = unlink_file(root, os.path.join(pdir, RDB_FILE))
    remove_dir(root, pdir)
    if os.path.lexists(pdir):
        left = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
        errors.append(f"pool directory {pdir} is not removed: it still holds "
                      f"{', '.join(left) or 'something that is not a directory'}")
    return _done(errors, removed=removed, rdb=rdb)


def destroy_shards(req: dict) -> dict:
    root, pool = req["root"], _pool(req)
    targets = req["targets"]
    if not isinstance(targets, list) or not all(type(t) is int and t >= 0 for t in targets):
        raise BadRequest("targets must be a list of target indexes")
    pdir = os.path.join(root, pool)
    removed, errors = _destroy_targets(root, pool, pdir, set(targets))
    remove_dir(root, pdir)          # only when nothing is left in it (no rdb-pool either)
    return _done(errors, removed=removed)


def destroy_container(req: dict) -> dict:
    root, pool = req["root"], _pool(req)
    try:
        cont = uuid_str(uuid_bytes(req["cont"]))
    except (ValueError, TypeError):
        raise BadRequest(f"cont {req['cont']!r} is not a uuid") from None

    def delete(t, path):
        with open_shard(path, write=True, db_root=root) as sh:
            try:
                sh.container(cont)
            except NotFoundError:
                return False
            with Transaction(sh) as tx:
                tx.delete_container(cont)
        return True

    removed, errors = _each_target(os.path.join(root, pool), None, delete)
    return _done(errors, removed=removed)


# --- the single-engine check ------------------------------------------------------------------

def local_check(req: dict) -> dict:
    from ..engine import Checker, Options
    from ..image import is_image
    from ..problems import parse_action, parse_class
    from ..querying import query
    try:
        policies = {parse_class(c): parse_action(a) for c, a in req.get("policies", {}).items()}
    except ValueError as e:
        raise BadRequest(str(e)) from None
    opts = Options(dry_run=bool(req.get("dry_run")), auto=bool(req.get("auto")),
                   failout=bool(req.get("failout")), reset=bool(req.get("reset")),
                   policies=policies, jobs=1)   # the leader already runs a process per rank
    root = req["root"]
    if not is_image(root):          # a rank that holds nothing (yet): nothing to check
        return {"ok": True, "error": None, "exit": 0, "status": "EMPTY", "counts": {}}
    rc = Checker(root, (), opts).start()
    q = query(root)
    inst = q.get("instance", {})
    return {"ok": True, "error": None, "exit": rc, "status": q["status"],
            "counts": inst.get("counters", {})}


# --- the PS replica of a pool on this rank ---------------------------------------------------

def _replica(req: dict) -> RdbReplica:
    root, pool = req["root"], _pool(req)
    return RdbReplica(os.path.join(root, pool, RDB_FILE), rank=req["rank"], pool_uuid=pool)


def _meta(req: dict) -> RaftMeta:
    try:
        return RaftMeta.from_json(req["meta"])
    except (ValueError, TypeError, AttributeError) as e:
        raise BadRequest(f"meta is not a raft meta ({e})") from None


def _keyed(rows, what: str) -> list[tuple]:
    """[[table, key, ...], ...] -> tuples (JSON has no tuple keys: puts and deletes travel
    as lists)."""
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) >= 2 and all(isinstance(x, str) for x in r[:2])
            for r in rows):
        raise BadRequest(f"{what} must be a list of [table, key, ...] rows")
    return [tuple(r) for r in rows]


def replica_exists(req: dict) -> dict:
    return {"exists": _replica(req).exists()}


def replica_load(req: dict) -> dict:
    meta, state = _replica(req).load()
    return {"meta": meta.to_json(), "state": state}


def replica_store(req: dict) -> dict:
    puts = {(t, k): v for t, k, v in _keyed(req["puts"], "puts")}
    deletes = {(t, k) for t, k in _keyed(req["deletes"], "deletes")}
    _replica(req).store(_meta(req), puts, deletes)
    return {}


def replica_create(req: dict) -> dict:
    state = req["state"]
    if not isinstance(state, dict):
        raise BadRequest("state must be an object of tables")
    _replica(req).create(_meta(req), state)
    return {}


def ranks(request: dict) -> dict:
    """The ranks whose ``rank-<R>`` folder is under the request's root (a host's answer)."""
    root = request.get("root")
    if not isinstance(root, str):
        raise BadRequest("a ranks request needs the root holding the rank-<R> folders")
    if not os.path.isdir(root):
        return _failed(f"{root}: no such directory (it should hold rank-<R> folders)")
    return {"ok": True, "error": None, "ranks": list(rank_dirs(root))}


# --- dispatch -------------------------------------------------------------------------------

OPS = {"clues": clues, "destroy_pool": destroy_pool, "destroy_shards": destroy_shards,
       "destroy_container": destroy_container, "local_check": local_check,
       "replica_exists": replica_exists, "replica_load": replica_load,
       "replica_store": replica_store, "replica_create": replica_create}


def _pool(req: dict) -> str:
    pool = req.get("pool")
    if not isinstance(pool, str) or not is_pool_name(pool):
        raise BadRequest(f"pool {pool!r} is not a pool uuid")
    return pool.lower()


def _failed(error: str, **more) -> dict:
    return {"ok": False, "error": error, **more}


def handle(request: dict) -> dict:
    """Run one request on this rank; the response carries its ``op`` and ``rank``."""
    op = request.get("op") if isinstance(request, dict) else None
    rank = request.get("rank") if isinstance(request, dict) else None
    base = {"op": op, "rank": rank}
    try:
        if op == "ranks":
            return {**base, **ranks(request)}
        fn = OPS.get(op)
        if fn is None:
            raise BadRequest(f"unknown op {op!r} (give one of: ranks, {', '.join(OPS)})")
        root = request.get("root")
        if not isinstance(root, str) or type(rank) is not int:
            raise BadRequest("a request needs the rank (an int) and its image root")
        if not os.path.isdir(root):
            return {**base, **_failed(f"{root}: rank {rank} has no image directory")}
        out = fn(request)
        return {**base, "ok": True, "error": None, **out}
    except BadRequest as e:
        return {**base, **_failed(f"bad request: {e}")}
    except KeyError as e:
        return {**base, **_failed(f"bad request: it lacks {e}")}
    except (VosError, CheckError) as e:
        return {**base, **_failed(str(e))}
    except OSError as e:
        return {**base, **_failed(f"{getattr(e, 'filename', '') or ''}: {e.strerror or e}")}
