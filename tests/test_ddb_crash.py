"""Every modifying ddb command, and an atomic batch, interrupted at every write/sync."""
from __future__ import annotations

import os
import shutil

import pytest

from crashsim import FaultInjector, SimulatedCrash
from ddb import cli as ddb_cli
from ddb.commands import meta, modify
from fixtures import export_image
from vosfmt import open_shard
from vosfmt.image import list_shards
from vosfmt.usage import space_usage

pytestmark = pytest.mark.slow            # every write of every command, interrupted

EPOCH = 2**61


def _cases(src_dir: str):
    small, big, arr = (os.path.join(src_dir, n) for n in ("small", "big", "arr"))
    batch = os.path.join(src_dir, "batch")
    return {
        "load-inline": ["-w", "{shard}", "value_load", small, "/[1]/[0]/dkey-1/akey-1"],
        "load-nvme": ["-w", "{shard}", "value_load", big, "/[1]/[0]/dkey-1/new-akey"],
        "load-array": ["-w", "{shard}", "value_load", arr, "/[1]/[0]/new-dkey/arr/{100-3099}"],
        "rm-cont": ["-w", "{shard}", "rm", "/[0]"],
        "rm-obj": ["-w", "{shard}", "rm", "/[1]/[0]"],
        "rm-dkey": ["-w", "{shard}", "rm", "/[1]/[0]/[0]"],
        "rm-akey": ["-w", "{shard}", "rm", "/[1]/[3]/[0]/[0]"],
        "rm-extent": ["-w", "{shard}", "rm", "/[1]/[0]/dkey-1/akey-2/{9-18}"],
        "feature": ["-w", "feature", "-e", "immutable,skip_rebuild", "{shard}"],
        "ilog-clear": ["-w", "{shard}", "ilog_clear", "/[1]/[0]"],
        "ilog-commit": ["-w", "{shard}", "ilog_commit", "/[1]/[0]/pending/in-flight"],
        "dtx-commit": ["-w", "{shard}", "dtx_act_commit", "/[1]", "{xid}"],
        "dtx-abort": ["-w", "{shard}", "dtx_act_abort", "/[1]", "{xid}"],
        "dtx-cmt-clear": ["-w", "{shard}", "dtx_cmt_clear", "/[1]"],
        "dtx-aggr": ["-w", "{shard}", "dtx_aggr", "-t", "1772359202", "/[1]"],
        "vea-update": ["-w", "{shard}", "vea_update", "1", "5"],
        "atomic-batch": ["-w", "--atomic", "-s", "{shard}", "-f", batch],
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from fixtures import build
    base = str(tmp_path_factory.mktemp("ddbcrash"))
    build("small", base)
    srcs = str(tmp_path_factory.mktemp("srcs"))
    open(os.path.join(srcs, "small"), "wb").write(b"tiny value")
    open(os.path.join(srcs, "big"), "wb").write(bytes(range(256)) * 300)
    open(os.path.join(srcs, "arr"), "wb").write(b"a" * 3000)
    open(os.path.join(srcs, "batch"), "w").write(
        f"value_load {srcs}/big /[1]/[0]/dkey-1/bb\nrm /[1]/[1]\n"
        f"value_load {srcs}/small /[1]/[0]/dkey-1/akey-1\nrm /[1]/[0]/dkey-1/akey-2/{{9-18}}\n")
    return base, srcs


def _run(root: str, argv, hooks=None) -> int:
    shard = list_shards(root)[0]
    with open_shard(shard) as sh:
        xid = str(next(sh.container_at(1).dtx_active()).xid)
    return ddb_cli.run([a.replace("{shard}", shard).replace("{xid}", xid) for a in argv], hooks=hooks)


def _healthy(root: str, case: str = "") -> None:
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            u = space_usage(sh)
            assert not (u.leaked_pages or u.leaked_blocks or u.page_conflicts or u.block_conflicts
                        or u.free_and_used_pages)
            # vea_update of blocks still in use is allowed (with a warning): the checker's job
            assert not u.free_and_used_blocks or case == "vea-update"


@pytest.mark.parametrize("case", list(_cases("x")))
def test_crash_at_every_boundary(setup, tmp_path, monkeypatch, case, capsys):
    base, srcs = setup
    monkeypatch.setattr(modify, "hlc_now", lambda: EPOCH)
    monkeypatch.setattr(meta, "now", lambda: 1800000000)
    argv = _cases(srcs)[case]
    old = export_image(base)
    ref = str(tmp_path / "ref")
    shutil.copytree(base, ref)
    counter = FaultInjector()
    assert _run(ref, argv, counter) == 0, capsys.readouterr().err
    new = export_image(ref)
    assert new != old
    _healthy(ref, case)
    assert counter.events >= 4
    for mode in ("keep", "drop", "tear"):
        for n in range(1, counter.events + 1):
            root = str(tmp_path / f"{mode}{n}")
            shutil.copytree(base, root)
            with pytest.raises(SimulatedCrash):
                _run(root, argv, FaultInjector(crash_at=n, mode=mode, seed=n))
            after = export_image(root)
            assert after in (old, new), f"{case}: crash at {n} ({mode}) left a mixed state"
            _healthy(root, case)
            shutil.rmtree(root)
    capsys.readouterr()
