"""ddb metadata commands on the dtx, posix and unit presets: ILOG, DTX, VEA, checksums, SMD."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from ddb.cli import cli
from fixtures import export_image
from support import file_state
from vosfmt import open_shard
from vosfmt.image import list_shards
from vosfmt.smd import SysDb
from vosfmt.usage import space_usage

C1 = "12345678-1234-1234-1234-123456789001"
O0 = "281479271743488.4294967296.0.0"
EPOCH = 2606400000000000000


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def _actives(shard):
    with open_shard(shard) as sh:
        c = sh.container_at(0)
        return [(e, c.dtx_records(e)) for e in c.dtx_active()]


def _lids_in_use(shard) -> set:
    """Every local id carried by an ilog entry or a value of container 0."""
    out = set()
    with open_shard(shard) as sh:
        c = sh.container_at(0)
        for o in c.objects():
            out |= {e.tx_id for e in o.ilog.entries}
            for d in o.dkeys():
                out |= {e.tx_id for e in d.ilog.entries}
                for a in d.akeys():
                    out |= {e.tx_id for e in a.ilog.entries}
                    out |= {v.dtx_lid for v in list(a.single_values()) + list(a.extents())}
    return out


# --- ILOG ------------------------------------------------------------------------

def test_ilog_dump_unit(unit):
    for path, level in (("/[0]/[0]", "OBJ"), ("/[0]/[0]/[0]", "DKEY"), ("/[0]/[0]/[0]/[1]", "AKEY")):
        r = ddb(unit, "ilog_dump", path)
        lines = r.stdout.splitlines()
        assert lines[0].startswith(f"{level}: (")
        assert lines[1:] == ["Index: 0", "\tStatus: COMMITTED (1)", f"\tEpoch: {EPOCH}", "\tTxn ID: 0",
                             "\tMinor Epoch: 1", "\tKind: CREATE"]
    for path in ("/[0]/[0]//", "/[0]/[0]/[0]//"):
        assert ddb(unit, "ilog_dump", path).exit_code == 1
    r = ddb(unit, "ilog_dump", "/[0]")
    assert r.exit_code == 1 and "Path to object, dkey, or akey required" in r.stderr


def test_ilog_dump_shows_uncommitted_and_punches(dtx):
    lines = ddb(dtx, "ls", "-r", "/[0]").stdout.splitlines()
    pending = [l.split(") ", 1)[1] for l in lines if l.strip().startswith("AKEY") and l.endswith("/pending")][0]
    out = ddb(dtx, "ilog_dump", pending).stdout
    assert "\tStatus: UNCOMMITTED (2)" in out and "\tTxn ID: 0" not in out
    aborted = [l.split(") ", 1)[1] for l in lines if l.strip().startswith("AKEY") and l.endswith("/aborted")][0]
    assert "\tStatus: REMOVED (3)" in ddb(dtx, "ilog_dump", aborted).stdout


def test_ilog_commit_and_clear(unit, dtx):
    r = ddb("-w", unit, "ilog_clear", "/[0]/[0]/[0]/[1]")
    assert r.stdout.splitlines()[1:] == ["Done"]
    assert ddb(unit, "ilog_dump", "/[0]/[0]/[0]/[1]").stdout.count("Index:") == 0
    for path in ("/[0]/[0]", "/[0]/[0]/[0]"):
        assert ddb(unit, "ilog_dump", path).stdout.count("Index:") == 1
        ddb("-w", unit, "ilog_clear", path)
        assert ddb(unit, "ilog_dump", path).stdout.count("Index:") == 0
    lines = ddb(dtx, "ls", "-r", "/[0]").stdout.splitlines()
    pending = [l.split(") ", 1)[1] for l in lines if l.strip().startswith("AKEY") and l.endswith("/pending")][0]
    assert ddb("-w", dtx, "ilog_commit", pending).stdout.endswith("Done\n")
    out = ddb(dtx, "ilog_dump", pending).stdout
    assert "UNCOMMITTED" not in out and "\tTxn ID: 0" in out
    r = ddb(unit, "ilog_commit", "/[0]/[0]")
    assert r.exit_code == 1 and "write mode" in r.stderr


# --- DTX ----------------------------------------------------------------------------

def test_dtx_dump_lines(dtx):
    r = ddb(dtx, "dtx_dump", "/[0]")
    lines = r.stdout.splitlines()
    cont = lines[0]
    assert cont.startswith("CONT: (/[0]) /") and lines[1] == "Active Transactions:"
    act = _actives(dtx)
    e = act[0][0]
    assert lines[2:15] == [f"ID: {e.xid}", f"\tEpoch: {e.epoch}", "\tHandle Time: 0",
                           f"\tGrp Cnt: {e.grp_cnt}", f"\tVer: {e.ver}", f"\tRec Cnt: {e.rec_cnt}",
                           f"\tMbs Flags: {e.mbs_flags}", f"\tFlags: {e.flags}", f"\tOid: {e.oid}",
                           f"\tLocal ID: {e.lid}", f"\tTgt Cnt: {e.tgt_cnt}",
                           f"\tDkey Hash: {e.dkey_hash:#x}", f"\tRecords: {len(act[0][1])}"]
    assert f"{len(act)} Active Entries" in lines
    assert lines[-1] == "20 Committed Entries"
    a = ddb(dtx, "dtx_dump", "-a", "/[0]").stdout
    assert "Committed Transactions:" not in a and "Active Transactions:" in a
    c = ddb(dtx, "dtx_dump", "-c", "/[0]").stdout
    assert "Active Transactions:" not in c and c.count("ID: ") == 20
    r = ddb(dtx, "dtx_dump")                            # DAOS: path is a required argument
    assert r.exit_code == 1 and r.stderr == "ERROR: ddb: missing argument 'path'\n"
    r = ddb(dtx, "dtx_dump", "/")
    assert r.exit_code == 1 and "Path to object is required." in r.stderr


def test_dtx_act_commit(dtx):
    (entry, refs), *_ = _actives(dtx)
    assert entry.lid in _lids_in_use(dtx)
    r = ddb("-w", dtx, "dtx_act_commit", "/[0]", str(entry.xid))
    assert r.stdout.splitlines()[1:] == ["Entry marked as committed"]
    assert entry.lid not in _lids_in_use(dtx)
    with open_shard(dtx) as sh:
        c = sh.container_at(0)
        assert str(entry.xid) in {str(e.xid) for e in c.dtx_committed()}
        assert str(entry.xid) not in {str(e.xid) for e in c.dtx_active()}
    r = ddb("-w", dtx, "dtx_act_commit", "/[0]", str(entry.xid))
    assert r.exit_code == 0 and r.stdout.splitlines()[1] == "No entry found to mark as committed"
    r = ddb("-w", dtx, "dtx_act_commit", "/[0]", str(entry.xid).upper())
    assert r.exit_code == 1 and "Invalid dtx_id" in r.stderr


def test_dtx_act_abort_removes_ilog_entries_and_marks_values(dtx):
    (entry, refs), *_ = _actives(dtx)
    r = ddb("-w", dtx, "dtx_act_abort", "/[0]", str(entry.xid))
    assert r.stdout.splitlines()[1:] == ["Entry marked as aborted"]
    assert entry.lid not in _lids_in_use(dtx)
    with open_shard(dtx) as sh:
        c = sh.container_at(0)
        assert str(entry.xid) not in {str(e.xid) for e in c.dtx_active()}
        assert str(entry.xid) not in {str(e.xid) for e in c.dtx_committed()}
        aborted = 0
        for o in c.objects():
            for d in o.dkeys():
                for a in d.akeys():
                    aborted += sum(v.dtx_lid == 1 for v in list(a.single_values()) + list(a.extents())
                                   if v.epoch == entry.epoch)
        assert aborted >= 1
    assert "No entry found to mark as aborted" in ddb("-w", dtx, "dtx_act_abort", "/[0]", str(entry.xid)).stdout


def test_dtx_discard_invalid(dtx):
    (entry, refs), *_ = _actives(dtx)
    lines = ddb("-w", dtx, "dtx_act_discard_invalid", "/[0]", "all").stdout.splitlines()
    assert lines[1] == f"ID: {entry.xid}" and lines[2] == "Entry's record(s) discarded: 0"
    target = [r for r in refs if r.type == 2][0]        # a single value it wrote
    path = f"/[0]/{target.oid}/{target.dkey.decode()}/{target.akey.decode()}"
    assert ddb("-w", dtx, "ilog_clear", path).exit_code == 0   # its ilog entries lose the lid
    r = ddb("-w", dtx, "rm", path)                              # the value is gone; rm drops
    assert r.exit_code == 0 and "Dropped 1 reference(s)" in r.stdout   # its own orphan, not the ilog's
    lines = ddb("-w", dtx, "dtx_act_discard_invalid", "/[0]", str(entry.xid)).stdout.splitlines()
    assert lines[1:] == [f"ID: {entry.xid}", "Entry's record(s) discarded: 1"]
    (after, arefs), *_ = _actives(dtx)
    assert len(arefs) == len(refs) - 2
    lines = ddb("-w", dtx, "dtx_act_discard_invalid", "/[0]", "00000000-0000-0000-0000-000000000001.1").stdout
    assert "No entry found" in lines


def test_dtx_cmt_clear_and_stat(dtx):
    r = ddb(dtx, "dtx_stat", "/[0]")
    lines = r.stdout.splitlines()
    assert len(lines) == 3 and lines[1] == "\t- Committed DTX count:\t20" and lines[2] == "\t- DTX aggregated epoch:\tNA (NA)"
    d = ddb(dtx, "dtx_stat", "-d", "/[0]").stdout.splitlines()
    assert len(d) == 5 and d[2].startswith("\t- Committed DTX time:\tmin=20") and "max=20" in d[2] and "mean=20" in d[2]
    assert d[3].startswith("\t- Committed DTX epoch:\tmin=20")
    pool = ddb(dtx, "dtx_stat").stdout.splitlines()
    assert pool[-3] == "DTX entries statistics of the pool:" and pool[-2] == "\t- Committed DTX count:\t20"
    r = ddb("-w", dtx, "dtx_cmt_clear", "/[0]")
    assert r.stdout.splitlines()[1] == "Cleared 20 dtx committed entries"
    assert ddb(dtx, "dtx_dump", "-c", "/[0]").stdout.splitlines()[-1] == "0 Committed Entries"
    lines = ddb(dtx, "dtx_stat", "/[0]").stdout.splitlines()
    assert lines[1] == "\t- Committed DTX count:\t0" and lines[2].startswith("\t- DTX aggregated epoch:\t20")


def test_dtx_aggr(dtx):
    with open_shard(dtx) as sh:
        times = sorted(e.cmt_time for e in sh.container_at(0).dtx_committed())
    r = ddb("-w", dtx, "dtx_aggr", "-t", str(times[0] + 1), "/[0]")
    assert r.stdout.startswith("Aggregating DTX entries of container CONT: (/[0]) /")
    assert ddb(dtx, "dtx_stat", "/[0]").stdout.splitlines()[1] == "\t- Committed DTX count:\t19"
    assert ddb("-w", dtx, "dtx_aggr", "-d", "2099-01-01 00:00:00").exit_code == 0
    assert ddb(dtx, "dtx_stat", "/[0]").stdout.splitlines()[1] == "\t- Committed DTX count:\t0"
    for args, msg in ((["-t", "1", "-d", "2020-01-01 00:00:00"], "mutually exclusive"),
                      ([], "has to be defined"), (["-d", "yesterday"], "date format is invalid")):
        r = ddb("-w", dtx, "dtx_aggr", *args)
        assert r.exit_code == 1 and msg in r.stderr


# --- VEA and checksums -----------------------------------------------------------------

def test_vea_dump_and_update(image_copy):
    shard = list_shards(image_copy("posix"))[0]
    lines = ddb(shard, "vea_dump").stdout.splitlines()
    assert lines[0].startswith("[Region 0] offset: ") and lines[-1] == "Total Free Regions: 1"
    off = int(lines[0].split("offset: ")[1].split(",")[0])
    r = ddb("-w", shard, "vea_update", str(off), "1")
    assert r.exit_code == 1 and f"New free region {{{off}, 1}} overlaps with {{{off}," in r.stderr
    for bad in ("0", "5x", "x", "2147483648"):
        r = ddb("-w", shard, "vea_update", bad, "1")
        assert r.exit_code == 1 and f"'{bad}' is not a valid offset" in r.stderr
    r = ddb("-w", shard, "vea_update", "1", "2")
    assert r.stdout == "Adding free region to vea {1, 2}\n" and "still used by" in r.stderr
    lines = ddb(shard, "vea_dump").stdout.splitlines()
    assert lines[0] == "[Region 0] offset: 1, block count: 2, age: 0" and lines[-1] == "Total Free Regions: 2"
    with open_shard(shard) as sh:
        u = space_usage(sh)
        assert {1, 2} <= u.free_and_used_blocks              # the checker can find it
    unit = list_shards(image_copy("unit"))[0]
    assert ddb(unit, "vea_dump").stdout == "Total Free Regions: 0\n"


def test_csum_dump(unit, tmp_path):
    r = ddb(unit, "csum_dump", "/[0]/[0]/[0]/[1]")
    sv = r.stdout.splitlines()
    from vosfmt.checksum import csum_of
    from vosfmt.constants import CsumType
    want = csum_of(CsumType.CRC32C, b"Single value 0.0.1.10").hex()
    assert sv[1] == f"Type: crc32c, Length: 4, Epoch: {EPOCH}, Value: 0x{want}"
    arr = ddb(unit, "csum_dump", "/[0]/[0]/[0]/[0]/[0]").stdout.splitlines()
    assert arr[1] == "Checksum Type: crc32c, Checksum Length: 4, Chunk Size: 32768, Record Extent(s):"
    assert arr[2].startswith(f"- Record Indexes: {{9-18}}, Record Size: 1, Epoch: {EPOCH}, Checksum Value(s): 0x")
    f = tmp_path / "c"
    r = ddb(unit, "csum_dump", "/[0]/[0]/[0]/[1]", str(f))
    assert r.stdout.splitlines()[1] == f"Dumping checksum (type: crc32c, length: 4, epoch: {EPOCH}) to {f}"
    assert f.read_bytes().hex() == want
    r = ddb(unit, "csum_dump", "/[0]/[0]/[0]/[0]", str(f))
    assert r.stdout.splitlines()[1:] == [
        f"Dumping checksum(s) (Type: crc32c, Length: 4, Chunk Size: 32768) at {f}",
        f"- Record Indexes: {{9-18}}, Record Size: 1, Epoch: {EPOCH}"]
    assert len(f.read_bytes()) == 4
    assert ddb(unit, "csum_dump", "-e", "5", "/[0]/[0]/[0]/[1]").stdout.splitlines()[1].startswith("No checksum at AKEY")
    assert ddb(unit, "csum_dump", "/[0]/[0]").exit_code == 1


# --- SMD and devices ------------------------------------------------------------------

def test_smd_and_dev_list(image_copy):
    root = image_copy("posix")
    with SysDb(root) as db:
        (dev,) = db.devices()
    from vosfmt.keys import uuid_str
    assert ddb("dev_list", root).stdout.splitlines() == [
        f"List devices, db_path='{root}'", "1 SSD devices in total",
        f"Device:{uuid_str(dev)} [inuse:yes, faulty:no , plugged:yes]"]
    out = ddb("smd", root).stdout
    assert uuid_str(dev) in out and "NORMAL" in out
    doc = json.loads(ddb("--json", "smd", root).stdout)
    assert doc["devices"][0]["targets"] == [0] and doc["pools"][0]["blobs"][0]["target"] == 0


def test_dev_replace(image_copy):
    root = image_copy("posix")
    with SysDb(root) as db:
        (old,) = db.devices()
    from vosfmt.keys import uuid_str
    new = "11111111-2222-3333-4444-555555555555"
    r = ddb("-w", "dev_replace", root, uuid_str(old), new)
    assert r.stdout.splitlines() == [
        f"Replace old device {uuid_str(old)[:8]} with new device 11111111, db_path='{root}'",
        "Device replacing succeeded"]
    with SysDb(root) as db:
        assert list(db.targets().values()) == [bytes.fromhex(new.replace("-", ""))]
    r = ddb("-w", "dev_replace", root, new, new)
    assert r.exit_code == 1 and "Doesn't support replacing device by itself" in r.stderr
    r = ddb("-w", "dev_replace", root, "nope", new)
    assert r.exit_code == 1 and "Invalid UUID string 'nope' for old device" in r.stderr
    r = ddb("-w", "dev_replace", root, uuid_str(old), new)
    assert r.exit_code == 1 and "Device replacing failed" in r.stderr


@pytest.mark.parametrize("damage", ["remove", "garbage"])
def test_smd_sync_restores_every_nvme_value(image_copy, tmp_path, damage):
    root = image_copy("posix")
    shard = list_shards(root)[0]
    before = export_image(root)
    sysdb = os.path.join(root, "daos_sys", "sys_db")
    if damage == "remove":
        shutil.rmtree(sysdb)
    else:
        with open(os.path.join(sysdb, "data.mdb"), "r+b") as f:
            f.seek(4096)
            f.write(os.urandom(4096))
    r = ddb(shard, "ls", "-r")
    nvme_paths = []
    with open_shard(shard, db_root=root) as sh:
        for c in sh.containers():
            for o in c.objects():
                for d in o.dkeys():
                    for a in d.akeys():
                        for e in a.extents():
                            if e.media == 2:
                                nvme_paths.append(f"{c.uuid}/{o.oid}/{{uint64:{int.from_bytes(d.key, 'little'):#x}}}/"
                                                  f"{{uint8:{a.key[0]:#x}}}/{{{e.lo}-{e.hi}}}")
    assert nvme_paths
    failing = ddb(shard, "value_dump", nvme_paths[0], str(tmp_path / "x"))
    assert failing.exit_code == 1
    r = ddb("-w", "-s", shard, "smd_sync")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"Using nvme config file: '{root}/daos_nvme' and smd db path: '{root}'"
    assert r.stdout.splitlines()[-1] == "Done: DER_SUCCESS(0): 'Success'"
    assert "> Sync Info - pool: " in r.stdout and "[Data]" in r.stdout
    assert export_image(root) == before            # every value, NVMe ones included, reads back
    for i, p in enumerate(nvme_paths):
        assert ddb(shard, "value_dump", p, str(tmp_path / f"v{i}")).exit_code == 0
    r = ddb("-f", "-", input=f"open {shard}\nsmd_sync {root}\n")
    assert r.exit_code == 1 and "Close it first" in r.stderr


# --- JSON and read-only -----------------------------------------------------------

def test_json_forms(dtx):
    docs = {
        "ilog_dump": json.loads(ddb("--json", dtx, "ilog_dump", "/[0]/[0]").stdout),
        "dtx_dump": json.loads(ddb("--json", dtx, "dtx_dump", "/[0]").stdout),
        "dtx_stat": json.loads(ddb("--json", dtx, "dtx_stat").stdout),
        "vea_dump": json.loads(ddb("--json", dtx, "vea_dump").stdout),
        "csum_dump": json.loads(ddb("--json", dtx, "csum_dump", "/[0]/[0]/[0]/[0]").stdout),
    }
    assert docs["ilog_dump"]["entries"][0]["status"] == "COMMITTED"
    assert len(docs["dtx_dump"]["committed"]) == 20 and docs["dtx_dump"]["active"][0]["lid"] >= 2
    assert docs["dtx_stat"]["pool"]["committed"] == 20
    assert docs["vea_dump"]["regions"] == []
    xid = docs["dtx_dump"]["active"][0]["xid"]
    d = json.loads(ddb("--json", "-w", dtx, "dtx_act_commit", "/[0]", xid).stdout)
    assert d == {"path": docs["dtx_dump"]["path"], "xid": xid, "result": "committed"}


def test_read_only_commands_change_nothing(image_copy):
    root = image_copy("dtx")
    shard = list_shards(root)[0]
    before = file_state(root)
    for args in (["ilog_dump", "/[0]/[0]"], ["dtx_dump", "/[0]"], ["dtx_stat", "-d"], ["vea_dump"],
                 ["csum_dump", "/[0]/[0]/[0]/[0]"], ["smd", root]):
        assert ddb(shard, *args).exit_code == 0, args
    assert ddb("dev_list", root).exit_code == 0
    assert file_state(root) == before


def test_vea_update_names_the_values_it_frees_by_their_vos_path(image_copy):
    """The warning's owner is a path ddb takes back (here: value_dump of it works)."""
    import re
    shard = list_shards(image_copy("posix"))[0]
    r = ddb("-w", shard, "vea_update", "1", "2")
    assert r.exit_code == 0
    owners = re.findall(r"^WARNING: blocks of \{1, 2\} are still used by (\S+) \(epoch (\d+)\); "
                        r"the checker will report them as free and in use$", r.stderr, re.M)
    assert owners and len(owners) == len(r.stderr.splitlines())
    for path, _epoch in owners:
        dumped = ddb(shard, "value_dump", path)
        assert dumped.exit_code == 0, dumped.stderr
    doc = json.loads(ddb("--json", "--dry-run", "-w", shard, "vea_update", "3", "1").stdout.splitlines()[0])
    assert all(set(u) == {"path", "epoch"} for u in doc["still_used_by"])
