"""The remote transport: the ranks' check engines on other hosts, reached through ClusterShell.

``ddb check start -D SYS_ROOT --hosts 'node[01-16]' --root /mnt/daos`` leads
the check from this host and runs ``ddb check engine`` on every host of the
node set, over ssh (ClusterShell's default "distant worker"; a site's
``defaults.conf`` may choose another, the tests use the local ``exec``
worker), one process per request, side by side (ClusterShell's fan-out).

Where the ranks are: each host holds the ``rank-<R>`` folders found under
``--root`` on that host (``%h`` in the root is replaced by the host name, for
sites whose mounts are named after the host). The transport asks every host
first (the engine op ``ranks``); a rank found on two hosts, or a host that
does not answer, stops the check before it starts (``CheckError``).

What travels: each request as JSON on the engine's stdin (no argument length
limit, nothing to quote), its response as JSON on stdout. A host that fails,
exits without a JSON response or times out gives ``{"ok": False, "error":
..., "unreachable": True}`` for that rank: the leader's usual failure (a
failed PREPARE, a failed repair), never a silent gap.

Where the replicated services are: a pool's PS replicas (``rdb-pool``) live
with the ranks' storage, so ``pool_service`` reads and writes them through
the engine's replica ops (``RemoteReplica``, a ``vosfmt.replicated`` backend
at a distance); raft's rules still run here, in the leader. The MS replicas
(``ms/<rank>``) and the leader's lock are read where ``-D`` names them: on the
leader's host (DAOS runs the check leader on an MS replica's host; a system
whose MS replicas are spread over several hosts needs them mounted there).

ClusterShell is imported here only, and only when a remote transport is
made, so ``ddb``'s start-up and the local checks never load it.
"""
from __future__ import annotations

import json

from vosfmt.errors import VosError
from vosfmt.raft import RaftMeta
from vosfmt.replicated import Deletes, Puts, ReplicatedService, State

from ..errors import CheckError

ENGINE_COMMAND = "ddb check engine"
RANK_DIR = "rank-{}"


class RemoteReplica:
    """A pool's PS replica on a rank of a remote transport (``vosfmt.replicated``'s
    backend): the engine's ``replica_*`` ops. The engine's own failure (an unreadable
    replica) is a VosError, as locally; a host that cannot be reached is a CheckError:
    it must not look like a missing or unreadable replica to raft's rules."""

    def __init__(self, transport: ClusterShellTransport, rank: int, pool: str):
        self.transport = transport
        self.rank = rank
        self.pool = pool
        self.path = transport.replica_path(rank, pool)

    def __repr__(self):
        return f"<PS replica {self.rank} at {self.path}>"

    def _call(self, op: str, **args) -> dict:
        resp = self.transport.call(self.rank, {"op": op, "pool": self.pool, **args})
        if resp.get("unreachable"):
            raise CheckError(resp.get("error") or f"rank {self.rank} did not answer")
        if not resp.get("ok"):
            raise VosError(resp.get("error") or f"{op} failed on rank {self.rank}")
        return resp

    def exists(self) -> bool:
        return bool(self._call("replica_exists").get("exists"))

    def load(self) -> tuple[RaftMeta, State]:
        resp = self._call("replica_load")
        return RaftMeta.from_json(resp["meta"]), resp["state"]

    def store(self, meta: RaftMeta, puts: Puts, deletes: Deletes) -> None:
        self._call("replica_store", meta=meta.to_json(),
                   puts=[[t, k, v] for (t, k), v in sorted(puts.items())],
                   deletes=[[t, k] for t, k in sorted(deletes)])

    def create(self, meta: RaftMeta, state: State) -> None:
        self._call("replica_create", meta=meta.to_json(), state=state)


class ClusterShellTransport:
    """The ranks under ``root`` on the hosts of ``hosts`` (a ClusterShell node set).

    ``command``: the engine's command line on each host; ``timeout``: seconds one
    request may take (None: no limit); ``worker``: a ClusterShell worker class (default:
    the task's distant worker, ssh unless ``defaults.conf`` says otherwise)."""

    def __init__(self, hosts: str, root: str, *, command: str = ENGINE_COMMAND,
                 timeout: float | None = None, worker=None):
        from ClusterShell.NodeSet import NodeSet, NodeSetException
        try:
            self.hosts = list(NodeSet(hosts))
        except NodeSetException as e:
            raise CheckError(f"--hosts {hosts!r} is not a node set: {e}") from None
        if not self.hosts:
            raise CheckError("--hosts names no host")
        self.root = root
        self.command = command
        self.timeout = timeout
        self.worker = worker
        self._where: dict[int, str] | None = None

    # --- where the ranks are -----------------------------------------------------------------
    def host_root(self, host: str) -> str:
        return self.root.replace("%h", host)

    def rank_root(self, rank: int) -> str:
        return f"{self.host_root(self._host(rank)).rstrip('/')}/{RANK_DIR.format(rank)}"

    def replica_path(self, rank: int, pool: str) -> str:
        return f"{self._host(rank)}:{self.rank_root(rank)}/{pool}/rdb-pool"

    def _host(self, rank: int) -> str:
        where = self.where()
        if rank not in where:
            raise CheckError(f"rank {rank} is on none of the hosts {','.join(self.hosts)}")
        return where[rank]

    def where(self) -> dict[int, str]:
        """rank -> its host, asked once of every host (the engine op ``ranks``)."""
        if self._where is None:
            answers = self._run({h: (h, {"op": "ranks", "root": self.host_root(h)})
                                 for h in self.hosts})
            where: dict[int, str] = {}
            errors = []
            for host, resp in answers.items():
                if not resp.get("ok"):
                    errors.append(f"host {host}: {resp.get('error')}")
                    continue
                for rank in resp.get("ranks") or []:
                    if rank in where:
                        errors.append(f"rank {rank} is on two hosts: {where[rank]} and {host}")
                    where[rank] = host
            if errors:
                raise CheckError("; ".join(errors))
            self._where = dict(sorted(where.items()))
        return self._where

    # --- the Transport protocol ------------------------------------------------------------
    def ranks(self) -> list[int]:
        return list(self.where())

    def call(self, rank: int, request: dict) -> dict:
        return self.map({rank: request})[rank]

    def map(self, requests: dict[int, dict]) -> dict[int, dict]:
        jobs = {r: (self._host(r), {**q, "rank": r, "root": self.rank_root(r)})
                for r, q in sorted(requests.items())}
        out = self._run(jobs)
        for r, resp in out.items():
            if resp.get("unreachable"):
                resp.update(op=requests[r].get("op"), rank=r,
                            error=f"the engine of rank {r} failed: {resp['error']}")
        return out

    def pool_service(self, pool: str) -> ReplicatedService:
        """The pool's PS over the replicas its ranks hold (asked of every rank)."""
        found = self.map({r: {"op": "replica_exists", "pool": pool} for r in self.ranks()})
        lost = {r: x.get("error") for r, x in found.items() if not x.get("ok")}
        if lost:
            raise CheckError("; ".join(f"rank {r}: {e}" for r, e in sorted(lost.items())))
        return ReplicatedService(
            f"pool service of pool {pool}",
            {r: RemoteReplica(self, r, pool) for r, x in found.items() if x.get("exists")},
            lambda rank: RemoteReplica(self, rank, pool))

    # --- ClusterShell --------------------------------------------------------------------------
    def _run(self, jobs: dict) -> dict:
        """key -> (host, request) run side by side; key -> response (never raises for a host)."""
        from ClusterShell.NodeSet import NodeSet
        from ClusterShell.Task import task_self
        task = task_self()
        wclass = self.worker or task.default("distant_worker")
        workers = {}
        for key, (host, request) in jobs.items():
            w = wclass(NodeSet(host), handler=None, timeout=self.timeout, command=self.command,
                       stderr=True)
            w.write(json.dumps(request).encode())
            w.set_write_eof()
            task.schedule(w)
            workers[key] = (host, w)
        task.resume()
        return {key: _response(host, w, self.timeout) for key, (host, w) in workers.items()}


def _response(host: str, worker, timeout) -> dict:
    """One worker's answer: the engine's JSON response, or why there is none."""
    if worker.num_timeout():
        return _unreachable(f"host {host}: no answer within {timeout} s (timed out)")
    out = bytes(worker.node_buffer(host) or b"")
    err = bytes(worker.node_error(host) or b"").decode(errors="replace").strip()
    try:
        rc = worker.node_retcode(host)
    except KeyError:
        rc = None
    try:
        resp = json.loads(out)
        if isinstance(resp, dict) and "ok" in resp:
            return resp
    except ValueError:
        pass
    tail = err.splitlines()[-1] if err else out.decode(errors="replace").strip()[-200:]
    return _unreachable(f"host {host}: the engine exited {rc} without a response"
                        + (f": {tail}" if tail else ""))


def _unreachable(error: str) -> dict:
    return {"ok": False, "error": error, "unreachable": True}
