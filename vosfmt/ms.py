"""The management service (MS): its replicas are LMDB environments ``<sys_root>/ms/<rank>/``.

Each replica (``MsReplica``, a ``vosfmt.replicated`` backend, through
``vosfmt.kv.KvStore``, the only lmdb user) has one named database per table:
``raft`` (keys ``term``, ``vote``, ``membership``, ``last_index``) and the state
tables below, keys UTF-8 text, values compact JSON.

    members   str(rank) -> {"rank": R, "uuid": "...", "state": "joined"|"stopped"|"excluded"|...}
    pools     pool uuid -> {"uuid", "label", "svc_ranks": [R...], "state": "ready"|...}
    checker   "state" -> {"enabled": bool, "instance": int, "leader": R|None,
                          "policies": {CLASS: ACTION}}
    findings  seq (16 hex digits) -> finding document (the checker's)

A replica write is one LMDB transaction (``KvStore.write``), so a crash leaves
the replica old or new: LMDB's own atomicity (copy-on-write pages, the meta page
written last), which the crash harness cannot interrupt from Python (its writes
happen in C); the crash tests interrupt the MS between replicas. A new replica
is built in a fresh directory beside ``ms/<rank>`` and its ``data.mdb`` renamed
into place, so it appears complete or not at all. Reads open read-only with
``lock=False``: they never write, not even LMDB's lock file.

LMDB readers without its lock file cannot hold a snapshot across the tables
against a writer, so a replica's reader holds a shared ``flock`` on its
directory and a writer an exclusive one (an flock writes nothing): a read sees
one index whole, never the tables of two.
"""
from __future__ import annotations

import json
import os
import secrets
from contextlib import contextmanager

from .errors import CorruptionError, VosError
from .kv import KvStore
from .lock import LockedError, take
from .raft import RaftMeta
from .replicated import Deletes, Puts, ReplicatedService, State, canonical
from .safefs import check_tree, move_into_place, remove_dir
from .system import MS_DIR, ms_dirs, ms_path

MS_TABLES = ("members", "pools", "checker", "findings")
RAFT_TABLE = "raft"
_DBS = tuple(t.encode() for t in (RAFT_TABLE, *MS_TABLES))
_FILES = ("data.mdb", "lock.mdb")
_MAP_SIZE = 256 << 20
LOCK_WAIT = 5.0     # seconds a reader or writer waits for a replica another one uses


def empty_ms_state() -> State:
    return {t: {} for t in MS_TABLES}


class MsReplica:
    """One MS replica (see the module docstring)."""

    def __init__(self, sys_root: str, rank: int):
        self.sys_root = sys_root
        self.rank = rank
        self.path = ms_path(sys_root, rank)

    def __repr__(self):
        return f"<MS replica {self.rank} at {self.path}>"

    def exists(self) -> bool:
        return os.path.lexists(os.path.join(self.path, "data.mdb"))

    def load(self) -> tuple[RaftMeta, State]:
        check_tree(self.sys_root, self.path, _FILES)
        with _locked(self.path, exclusive=False), \
                KvStore(self.path, _DBS, map_size=_MAP_SIZE, what="MS replica") as kv:
            tables = {t: _decode_rows(kv, t, self.path) for t in (RAFT_TABLE, *MS_TABLES)}
        try:
            meta = RaftMeta.from_json(tables.pop(RAFT_TABLE))
        except ValueError as e:
            raise CorruptionError(f"MS replica has no usable raft metadata ({e})",
                                  structure="ms raft", file=self.path) from None
        return meta, tables

    def store(self, meta: RaftMeta, puts: Puts, deletes: Deletes) -> None:
        """The raft meta and the changed keys in one LMDB transaction."""
        check_tree(self.sys_root, self.path, _FILES)
        rows, keys = _rows(meta, puts), _keys(deletes)
        with _locked(self.path, exclusive=True), \
                KvStore(self.path, _DBS, write=True, map_size=_MAP_SIZE, what="MS replica") as kv:
            kv.write(rows, keys)

    def create(self, meta: RaftMeta, state: State) -> None:
        """A whole replica, built beside ``ms/<rank>`` and renamed into it (replacing what is
        there: an unreadable replica)."""
        rows = _rows(meta, {(t, k): v for t, table in state.items() for k, v in table.items()})
        tmp = os.path.join(self.sys_root, MS_DIR, f".{self.rank}.{secrets.token_hex(6)}.new")
        check_tree(self.sys_root, self.path, _FILES, create=True)
        check_tree(self.sys_root, tmp, create=True)
        try:
            with KvStore(tmp, _DBS, write=True, create=True, map_size=_MAP_SIZE,
                         what="MS replica") as kv:
                kv.write(rows, ())
            with _locked(self.path, exclusive=True):
                move_into_place(self.sys_root, os.path.join(tmp, "data.mdb"),
                                os.path.join(self.path, "data.mdb"))
        finally:
            remove_dir(self.sys_root, tmp, _FILES)


@contextmanager
def _locked(path: str, *, exclusive: bool):
    """Hold an flock on a replica's directory (shared: a reader; exclusive: a writer)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise VosError(f"cannot open the MS replica {path}: {e.strerror}") from None
    try:
        if not take(fd, exclusive=exclusive, wait=LOCK_WAIT):
            raise LockedError(f"the MS replica {path} is in use by another "
                              f"{'reader or writer' if exclusive else 'writer'}")
        yield
    finally:
        os.close(fd)


def _rows(meta: RaftMeta, puts: Puts) -> list[tuple[bytes, bytes, bytes]]:
    out = [(RAFT_TABLE.encode(), k.encode(), canonical(v)) for k, v in meta.to_json().items()]
    for (table, key), value in sorted(puts.items()):
        if table not in MS_TABLES:
            raise VosError(f"the MS has no table {table!r}")
        out.append((table.encode(), key.encode(), canonical(value)))
    return out


def _keys(deletes: Deletes) -> list[tuple[bytes, bytes]]:
    for table, _key in deletes:
        if table not in MS_TABLES:
            raise VosError(f"the MS has no table {table!r}")
    return [(t.encode(), k.encode()) for t, k in sorted(deletes)]


def _decode_rows(kv: KvStore, table: str, path: str) -> dict[str, object]:
    out = {}
    for k, v in kv.rows(table.encode()):
        try:
            out[k.decode()] = json.loads(v)
        except (UnicodeDecodeError, ValueError):
            raise CorruptionError(f"MS table {table} holds a row that is not JSON",
                                  structure=f"ms {table}", file=path) from None
    return out


def ms_replica(sys_root: str, rank: int) -> MsReplica:
    return MsReplica(sys_root, rank)


class ManagementService(ReplicatedService):
    """The MS of a system: every ``ms/<rank>`` replica found, and the membership's ranks
    whose replica is missing."""

    def __init__(self, sys_root: str):
        self.sys_root = sys_root
        super().__init__("management service",
                         {r: MsReplica(sys_root, r) for r in ms_dirs(sys_root)},
                         lambda rank: MsReplica(sys_root, rank))

    def table(self, name: str) -> dict[str, object]:
        """One state table as read (empty when no replica can be read)."""
        _verdict, state = self.read()
        return {} if state is None else state.get(name, {})

    def members(self) -> dict[str, object]:
        return self.table("members")

    def pools(self) -> dict[str, object]:
        return self.table("pools")
