"""SMD and devices: smd, dev_list, dev_replace, smd_sync."""
from __future__ import annotations

import os
import uuid as _uuid

import click

from vosfmt.constants import DEV_FAULTY
from vosfmt.keys import uuid_str

from ..errors import DdbError, der, failing_as
from ..registry import command

SYS_DB = "SMD sys db"  # what dev_replace and smd_sync change: they need -w like tree edits


def _db_root(s, db_path: str) -> str:
    root = db_path or s.image_root()
    if root is None:
        raise DdbError(f"{der('DER_INVAL')}: give the db path (the directory holding daos_sys)")
    return root


def _open_db(root: str):
    from vosfmt.smd import SysDb  # lmdb is loaded only when a command needs it
    return SysDb(root)


@command("smd", "Show the SMD sys db: devices, targets, pools and blobs",
         args_help={"db_path": "Optional, the db path (default: that of the open VOS file)."})
@click.argument("db_path", required=False, default="")
def smd(s, db_path):
    from tabulate import tabulate
    root = _db_root(s, db_path)
    with _open_db(root) as db:
        devices, targets, pools, version = db.devices(), db.targets(), db.pools(), db.version()
    doc = {"db_path": root, "version": version,
           "devices": [{"uuid": uuid_str(u), "state": "FAULTY" if d.state == DEV_FAULTY else "NORMAL",
                        "targets": d.tgts} for u, d in sorted(devices.items())],
           "targets": [{"target": t, "device": uuid_str(d)} for t, d in sorted(targets.items())],
           "pools": [{"uuid": uuid_str(u), "blob_size": p.blob_sz, "flags": p.flags,
                      "blobs": [{"target": t, "blob_id": b} for t, b in zip(p.tgts, p.blobs)]}
                     for u, p in sorted(pools.items())]}
    if s.out.json:
        s.out.emit(None, doc)
        return
    s.out.text(f"SMD sys db at {root} (version {version})")
    s.out.text("")
    s.out.text("Devices:")
    s.out.text(tabulate([(d["uuid"], d["state"], ",".join(map(str, d["targets"]))) for d in doc["devices"]],
                        headers=["device", "state", "targets"], disable_numparse=True))
    s.out.text("")
    s.out.text("Pools:")
    rows = [(p["uuid"], p["blob_size"], b["target"], f"{b['blob_id']:#x}") for p in doc["pools"]
            for b in p["blobs"]]
    s.out.text(tabulate(rows, headers=["pool", "blob size", "target", "blob id"], disable_numparse=True))


@command("dev_list", "List all devices",
         args_help={"db_path": "Path to the sys db."})
@click.argument("db_path")
def dev_list(s, db_path):
    s.require_closed()
    s.out.text(f"List devices, db_path='{db_path}'")
    with _open_db(db_path) as db:
        devices = db.devices()
    s.out.text(f"{len(devices)} SSD devices in total")
    rows = []
    for u, d in sorted(devices.items()):
        inuse = "yes" if d.tgts else "no "
        faulty = "yes" if d.state == DEV_FAULTY else "no "
        plugged = "yes" if os.path.isdir(os.path.join(db_path, "daos_nvme", uuid_str(u))) else "no "
        s.out.text(f"Device:{uuid_str(u)} [inuse:{inuse}, faulty:{faulty}, plugged:{plugged}]")
        rows.append({"uuid": uuid_str(u), "in_use": bool(d.tgts), "faulty": d.state == DEV_FAULTY,
                     "plugged": plugged == "yes", "targets": d.tgts})
    s.out.emit(None, {"db_path": db_path, "devices": rows})


def _parse_dev(text: str, which: str) -> bytes:
    try:
        return _uuid.UUID(text).bytes
    except ValueError:
        raise DdbError(der("DER_INVAL"),
                       stderr=[f"Invalid UUID string '{text}' for {which} device"]) from None


@command("dev_replace", "Replace an old device with a new unused device",
         long="Move every target of the old device to the new, unused one in SMD. The blob data "
              "is not moved (in DAOS it is rebuilt from other replicas).",
         args_help={"db_path": "Path to the sys db.", "old_dev": "Old device UUID.",
                    "new_dev": "New device UUID."})
@click.argument("db_path")
@click.argument("old_dev")
@click.argument("new_dev")
def dev_replace(s, db_path, old_dev, new_dev):
    s.require_closed()
    old, new = _parse_dev(old_dev, "old"), _parse_dev(new_dev, "new")
    if old == new:
        raise DdbError(der("DER_INVAL"), stderr=["Doesn't support replacing device by itself"])
    dry = s.require_write_access(SYS_DB)
    s.out.text(f"Replace old device {old_dev[:8]} with new device {new_dev[:8]}, db_path='{db_path}'")
    from vosfmt.image import replace_device
    with failing_as("Device replacing failed. "):
        row = replace_device(db_path, old, new, dry_run=dry)
    doc = {"old": uuid_str(old), "new": uuid_str(new)}
    if dry:
        s.out.emit(f"Dry run: would move target(s) {','.join(map(str, row.tgts))} of device "
                   f"{uuid_str(old)} to {uuid_str(new)}; nothing was written",
                   dict(doc, targets=row.tgts, dry_run=True))
        return
    s.out.emit("Device replacing succeeded", doc)


@command("smd_sync", "Restore the SMD file with backup from blob",
         long="Rebuild the SMD device, target and pool tables from the headers of the NVMe "
              "blobs (defaults: <db_path>/daos_nvme and the db path of -s).",
         args_help={"nvme_conf": "Directory of emulated NVMe devices, or a file listing device "
                                 "directories.",
                    "db_path": "Path to the sys db."})
@click.argument("nvme_conf", required=False, default="")
@click.argument("db_path", required=False, default="")
def smd_sync_cmd(s, nvme_conf, db_path):
    s.require_closed()
    if nvme_conf and not db_path and os.path.isdir(os.path.join(nvme_conf, "daos_nvme")):
        nvme_conf, db_path = "", nvme_conf          # `smd_sync DB_PATH`: the common case
    root = _db_root(s, db_path)
    conf = nvme_conf or os.path.join(root, "daos_nvme")
    if not os.path.exists(conf):
        raise DdbError(der("DER_INVAL"), stderr=[f"Invalid nvme_conf '{conf}'"])
    dry = s.require_write_access(SYS_DB)
    s.out.text(f"Using nvme config file: '{conf}' and smd db path: '{root}'")
    from vosfmt.image import smd_sync
    with failing_as("Done: "):
        res = smd_sync(root, None if not nvme_conf else conf, dry_run=dry)
    if res.recreated:
        s.out.note(f"WARNING: the sys db could not be read; {'would move' if dry else 'moved'} it "
                   f"to {res.recreated}")
    for path, msg in res.problems:
        s.out.note(f"WARNING: {path}: {msg}")
    for _path, hdr, size in res.synced:
        s.out.text(f"> Sync Info - pool: {uuid_str(hdr.pool_uuid)}, target id: {hdr.vos_id}, "
                   f"\t[Data],\t blob id: {hdr.blob_id:#x}, blob_size: {size}")
        s.out.text(f"> Sync Info - dev : {uuid_str(hdr.dev_uuid)}, target id: {hdr.vos_id}")
    doc = {"nvme_conf": conf, "db_path": root, "recreated": res.recreated,
           "problems": [{"path": p, "message": m} for p, m in res.problems],
           "synced": [{"pool": uuid_str(h.pool_uuid), "target": h.vos_id, "blob_id": h.blob_id,
                       "blob_size": size, "device": uuid_str(h.dev_uuid)}
                      for _p, h, size in res.synced]}
    if dry:
        s.out.emit(f"Dry run: would rewrite the SMD sys db at '{root}' from {len(res.synced)} "
                   "blob(s); nothing was written", dict(doc, dry_run=True))
        return
    s.out.emit("Done: DER_SUCCESS(0): 'Success'", doc)
