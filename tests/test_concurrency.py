"""Two writers race for one shard many times; readers walk it all along and never fail."""
from __future__ import annotations

import multiprocessing as mp
import os
import traceback

import pytest

from fixtures import build
from support import all_values
from vosfmt import Oid, StaleReadError, VosError, open_shard
from vosfmt.image import list_shards
from vosfmt.lock import LockedError
from vosfmt.txn import Transaction

pytestmark = pytest.mark.slow            # 1,500 rounds of two writers and two readers

ROUNDS = 1500
C = "00000000-0000-0000-0000-0000000000c1"


def _writer(path, root, me, barrier, results):
    wins, refusals, errors = 0, 0, []
    for rnd in range(ROUNDS):
        barrier.wait()
        shard = None
        try:
            shard = open_shard(path, write=True, db_root=root)
            wins += 1
            with Transaction(shard) as tx:
                tx.put_single_value(C, Oid(1, rnd % 50), b"d", b"w%d" % me, rnd + 1,
                                    os.urandom(16 if rnd % 3 else 3000))
                if rnd % 7 == 0:
                    tx.delete_key(C, Oid(1, (rnd + 25) % 50), b"d")
        except LockedError as e:
            refusals += 1
            if "locked for writing by pid" not in str(e):
                errors.append(f"bad message: {e}")
        except VosError as e:
            errors.append(repr(e))
        except Exception:
            errors.append(traceback.format_exc())
        barrier.wait()
        if shard is not None:
            shard.close()
    results.put(("writer", me, wins, refusals, errors))


def _reader(path, root, stop, results):
    walks, retries, errors = 0, 0, []
    while not stop.is_set():
        try:
            with open_shard(path, db_root=root) as sh:
                for _c, v in all_values(sh):
                    sh.verify_value(v)
            walks += 1
        except StaleReadError:
            retries += 1
        except Exception:
            errors.append(traceback.format_exc())
            break
    results.put(("reader", walks, retries, errors))


def test_writers_race_and_readers_never_fail(tmp_path):
    root = str(tmp_path / "img")
    build({"containers": [{"uuid": C, "objects": [
        {"oid": f"1.{i}.0.0", "dkeys": [{"key": "d", "akeys": [
            {"key": "a", "sv": [{"epoch": 1, "random": 100}]}]}]} for i in range(50)]}]}, root)
    path = list_shards(root)[0]
    ctx = mp.get_context("fork")
    barrier, stop, results = ctx.Barrier(2), ctx.Event(), ctx.Queue()
    writers = [ctx.Process(target=_writer, args=(path, root, i, barrier, results)) for i in (1, 2)]
    readers = [ctx.Process(target=_reader, args=(path, root, stop, results)) for _ in range(2)]
    for p in writers + readers:
        p.start()
    out = [results.get(timeout=600) for _ in writers]
    stop.set()
    out += [results.get(timeout=60) for _ in readers]
    for p in writers + readers:
        p.join(timeout=60)
    ws = [r for r in out if r[0] == "writer"]
    rs = [r for r in out if r[0] == "reader"]
    assert all(not r[4] for r in ws), [r[4][:3] for r in ws]
    assert sum(r[2] for r in ws) == ROUNDS             # exactly one winner every round
    assert sum(r[3] for r in ws) == ROUNDS             # and one refusal
    assert all(not r[3] for r in rs), rs[0][3][:1]
    assert sum(r[1] for r in rs) > 10
    with open_shard(path, db_root=root) as sh:
        from vosfmt.usage import space_usage
        u = space_usage(sh)
        assert not u.leaked_pages and not u.page_conflicts and not u.free_and_used_pages
