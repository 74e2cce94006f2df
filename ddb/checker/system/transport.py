"""How the leader reaches the ranks' check engines: requests out, responses back, as JSON.

A ``Transport`` is anything with these four methods (the leader uses nothing else, so
``remote.ClusterShellTransport``, which runs ``ddb check engine`` over ssh on the hosts
holding the ranks, replaces the local one):

    ranks() -> [R, ...]                  the ranks whose storage it reaches, sorted
    call(rank, request) -> response      one request (``engine.handle``'s) on one rank
    map({rank: request}) -> {rank: response}   one request per rank, run side by side
    pool_service(pool) -> ReplicatedService    a pool's PS over its rdb-pool replicas,
                                         which live with the ranks' storage

It fills in each request's ``rank`` and ``root`` (the rank's image: the leader
never builds engine paths) and sends only JSON (the request is encoded and
decoded on the way, so what the leader gets is what a remote engine would
send). A request that fails in a way ``handle`` does not expect (a bug, a
worker killed) comes back ``{"ok": False, "error": ...}``, never raised.

``LocalTransport`` runs the engines of the ranks under one system root in
worker processes, one per core. Workers are started with "spawn": a forked
child would inherit the leader's open LMDB environments (the MS), which LMDB
forbids using across a fork, and a forkserver keeps the environment of its
first use (a later HOME or DDB_STATE_DIR would not reach the dry-run stores);
measured on the system preset, spawn costs what forkserver does (about 0.1 s
for five ranks' clues). Workers are not daemonic, so a local check in one can
scan its shards in processes of its own.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from vosfmt.rdb import PoolService
from vosfmt.replicated import ReplicatedService
from vosfmt.system import rank_dirs, rank_root

from .engine import handle


class Transport(Protocol):
    def ranks(self) -> list[int]: ...

    def call(self, rank: int, request: dict) -> dict: ...

    def map(self, requests: dict[int, dict]) -> dict[int, dict]: ...

    def pool_service(self, pool: str) -> ReplicatedService: ...


def run_encoded(request: str) -> str:
    """One JSON request -> its JSON response, nothing raised (a worker's entry point, and
    the shape of a remote engine's stdin -> stdout)."""
    try:
        req = json.loads(request)
    except ValueError as e:
        return json.dumps({"ok": False, "error": f"bad request: not JSON ({e})"})
    try:
        return json.dumps(handle(req))
    except Exception as e:          # a bug in one op must not stop the others' responses
        return json.dumps({"op": req.get("op") if isinstance(req, dict) else None,
                           "rank": req.get("rank") if isinstance(req, dict) else None,
                           "ok": False, "error": f"{type(e).__name__}: {e}"})


class LocalTransport:
    """The ranks under one system root (``rank-<R>/``), their engines in local processes.
    ``workers``: how many at once (default: one per core; 1 runs them in this process)."""

    def __init__(self, sys_root: str, workers: int | None = None):
        self.sys_root = sys_root
        self.workers = workers if workers is not None else (os.cpu_count() or 1)

    def ranks(self) -> list[int]:
        return list(rank_dirs(self.sys_root))

    def pool_service(self, pool: str) -> ReplicatedService:
        return PoolService(self.sys_root, pool)

    def _encode(self, rank: int, request: dict) -> str:
        return json.dumps({**request, "rank": rank, "root": rank_root(self.sys_root, rank)})

    def call(self, rank: int, request: dict) -> dict:
        return json.loads(run_encoded(self._encode(rank, request)))

    def map(self, requests: dict[int, dict]) -> dict[int, dict]:
        encoded = {r: self._encode(r, q) for r, q in sorted(requests.items())}
        workers = min(self.workers, len(encoded))
        if workers < 2:
            return {r: json.loads(run_encoded(q)) for r, q in encoded.items()}
        out = {}
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {r: pool.submit(run_encoded, q) for r, q in encoded.items()}
            for r, fut in futures.items():
                try:
                    out[r] = json.loads(fut.result())
                except Exception as e:      # the worker died (killed, out of memory)
                    out[r] = {"op": requests[r].get("op"), "rank": r, "ok": False,
                              "error": f"the engine of rank {r} failed: {type(e).__name__}: {e}"}
        return out
