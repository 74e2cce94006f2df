"""A pool service (PS) replica: ``<sys_root>/rank-<R>/<pool>/rdb-pool``, a vosfmt shard file.

DAOS keeps rdb in a VOS pool; so do we, in the same format as a ``vos-N`` shard
(SCM only), so ddb opens and navigates it like one. Its superblock names the
pool and target index ``RDB_TARGET`` (DAOS's special system target id). Content:

    container RDB_CONT
      object 0.<table id>.0.0 per table   raft 1, pool_map 2, props 3, containers 4,
                                          cont_labels 5
        dkey  the key's text              (UTF-8)
          akey "value"                    a single value: the compact JSON (keys sorted)
                                          of the value, at epoch = the raft index that
                                          wrote it; older versions are deleted by the
                                          same transaction, a deleted key's dkey too

    raft         term, vote, membership, last_index
    pool_map     "version" -> int; "rank-<R>" -> {"rank": R, "state": UPIN|UP|DOWN|DOWNOUT|NEW,
                 "targets": [{"index": i, "state": ...}, ...]}
    props        "label" -> str, and others ("owner", "redun_fac", "nvme", ...)
    containers   container uuid -> {"uuid", "label", "props": {... "label" ...}}
    cont_labels  label -> container uuid (the container service's label index)

A replica write (``RdbReplica.store``) is one vosfmt ``Transaction``, so a crash
leaves the replica old or new (the superblock flip). A new replica is filled under
a temporary name and renamed into place: a half-filled one never carries the name,
and a file without raft metadata is unreadable, never a valid replica.
"""
from __future__ import annotations

import json
import os
import secrets

from .constants import RDB_TARGET
from .create import create_shard
from .errors import CorruptionError, NotFoundError, VosError
from .keys import Oid, epoch_from_key, uuid_bytes, uuid_str
from .raft import RaftMeta
from .replicated import Deletes, Puts, ReplicatedService, State, canonical
from .safefs import check_tree, move_into_place, unlink_file
from .shard import open_shard
from .system import RDB_FILE, rank_dirs, rank_of, rdb_path
from .txn import Transaction

RDB_CONT = "00000000-0000-0000-0000-000000000001"
TABLE_IDS = {"raft": 1, "pool_map": 2, "props": 3, "containers": 4, "cont_labels": 5}
PS_TABLES = ("pool_map", "props", "containers", "cont_labels")
VALUE_AKEY = b"value"
MAP_STATES = ("UP", "UPIN", "DOWN", "DOWNOUT", "NEW")


def empty_ps_state() -> State:
    return {t: {} for t in PS_TABLES}


def map_key(rank: int) -> str:
    """The pool map's key of a rank's entry."""
    return f"rank-{rank}"


def table_oid(table: str) -> Oid:
    return Oid(0, TABLE_IDS[table])


class RdbReplica:
    """One PS replica file (see the module docstring). ``hooks`` go to the shard's file
    I/O (the crash tests)."""

    def __init__(self, path: str, *, rank: int | None = None, pool_uuid: str | None = None,
                 hooks=None):
        self.path = path
        pdir = os.path.dirname(os.path.abspath(path))
        self.root = os.path.dirname(pdir)           # the engine's SCM mount (rank-<R>)
        self.pool_uuid = uuid_str(uuid_bytes(pool_uuid or os.path.basename(pdir)))
        self.rank = rank if rank is not None else rank_of(self.root)
        self.hooks = hooks

    def __repr__(self):
        return f"<PS replica {self.rank} at {self.path}>"

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def load(self) -> tuple[RaftMeta, State]:
        with open_shard(self.path, db_root=self.root) as sh:
            if sh.pool_uuid != self.pool_uuid or sh.sb.target_idx != RDB_TARGET:
                raise CorruptionError(
                    f"not the rdb-pool of pool {self.pool_uuid} (superblock names pool "
                    f"{sh.pool_uuid}, target {sh.sb.target_idx:#x})", structure="superblock",
                    file=self.path)
            try:
                cont = sh.container(RDB_CONT)
            except NotFoundError:
                raise CorruptionError("rdb-pool has no rdb container (an unfinished replica)",
                                      structure="rdb", file=self.path) from None
            tables = {t: _read_table(sh, cont, t) for t in TABLE_IDS}
        try:
            meta = RaftMeta.from_json(tables.pop("raft"))
        except ValueError as e:
            raise CorruptionError(f"rdb-pool has no usable raft metadata ({e})",
                                  structure="rdb raft", file=self.path) from None
        return meta, tables

    def store(self, meta: RaftMeta, puts: Puts, deletes: Deletes) -> None:
        """The raft meta and the changed keys in one Transaction, at epoch ``last_index``."""
        with open_shard(self.path, write=True, db_root=self.root, hooks=self.hooks) as sh, \
                Transaction(sh) as tx:
            _write(tx, meta, puts, deletes)

    def create(self, meta: RaftMeta, state: State) -> None:
        create_rdb_pool(self.path, self.pool_uuid, meta, state, hooks=self.hooks)


def _read_table(sh, cont, table: str) -> dict[str, object]:
    try:
        obj = cont.object(table_oid(table))
    except NotFoundError:
        return {}
    out = {}
    for dk in obj.dkeys():
        try:
            key = dk.key.decode()
            sv = dk.akey(VALUE_AKEY).single_value()
            if sv is None or sv.is_punch:
                raise ValueError("no value")
            out[key] = json.loads(sh.read_value(sv, path=dk.path))
        except (UnicodeDecodeError, ValueError, NotFoundError) as e:
            raise CorruptionError(f"rdb table {table} key {dk.key!r} holds no JSON value ({e})",
                                  structure="rdb", path=dk.path, file=sh.path) from None
    return out


def _write(tx, meta: RaftMeta, puts: Puts, deletes: Deletes) -> None:
    epoch = meta.last_index
    if epoch < 1:
        raise VosError("an rdb-pool write needs a raft index of 1 or more")
    rows = {("raft", k): v for k, v in meta.to_json().items()}
    for (table, key), value in puts.items():
        if table not in PS_TABLES:
            raise VosError(f"the PS has no table {table!r}")
        rows[table, key] = value
    for (table, key), value in sorted(rows.items()):
        oid, dkey = table_oid(table), key.encode()
        tx.put_single_value(RDB_CONT, oid, dkey, VALUE_AKEY, epoch, canonical(value))
        for k, _v in list(tx.value_tree(RDB_CONT, oid, dkey, VALUE_AKEY).items()):
            if epoch_from_key(k) != epoch:
                tx.delete_value(RDB_CONT, oid, dkey, VALUE_AKEY, epoch_from_key(k))
    for table, key in sorted(deletes):
        if table not in PS_TABLES:
            raise VosError(f"the PS has no table {table!r}")
        try:
            tx.delete_key(RDB_CONT, table_oid(table), key.encode())
        except NotFoundError:
            pass


def create_rdb_pool(path: str, pool_uuid, meta: RaftMeta, state: State, *, hooks=None) -> None:
    """A new PS replica holding ``state`` at ``meta``: made and filled under a temporary
    name beside ``path``, then renamed over it (replacing an unreadable replica)."""
    pdir = os.path.dirname(os.path.abspath(path))
    root = os.path.dirname(pdir)
    check_tree(root, pdir, (RDB_FILE,), create=True)
    tmp = os.path.join(pdir, f".{RDB_FILE}.{secrets.token_hex(6)}.new")
    try:
        create_shard(tmp, pool_uuid, RDB_TARGET)        # itself made under tmp + ".tmp"
        with open_shard(tmp, write=True, db_root=root, hooks=hooks) as sh, Transaction(sh) as tx:
            tx.put_container(RDB_CONT)
            puts = {(t, k): v for t, rows in state.items() for k, v in rows.items()}
            _write(tx, meta, puts, set())
        move_into_place(root, tmp, path)
    finally:
        for junk in (tmp, tmp + ".tmp"):
            unlink_file(root, junk)


class PoolService(ReplicatedService):
    """A pool's PS: every ``rank-<R>/<pool>/rdb-pool`` found, and the membership's ranks
    whose file is missing."""

    def __init__(self, sys_root: str, pool_uuid, *, hooks=None):
        self.sys_root = sys_root
        self.pool_uuid = uuid_str(uuid_bytes(pool_uuid))

        def replica(rank: int) -> RdbReplica:
            return RdbReplica(rdb_path(sys_root, rank, self.pool_uuid), rank=rank,
                              pool_uuid=self.pool_uuid, hooks=hooks)

        found = {r: replica(r) for r in rank_dirs(sys_root)
                 if os.path.lexists(rdb_path(sys_root, r, self.pool_uuid))}
        super().__init__(f"pool service of pool {self.pool_uuid}", found, replica)


def rdb_replica(path: str, *, hooks=None) -> RdbReplica:
    return RdbReplica(path, hooks=hooks)
