"""Incarnation logs and DTX tables: ilog_*, dtx_* commands."""
from __future__ import annotations

import time

import click

from vosfmt import Xid
from vosfmt.dtx import abort_active, clear_ilog, commit_active, discard_invalid
from vosfmt.keys import hlc_seconds

from ..errors import DdbError, der, failing_as
from ..registry import command
from ..vospath import Part, format_path
from .common import resolve_or_fail


def now() -> int:
    """Commit time for dtx_act_commit (a function so tests can pin it)."""
    return int(time.time())


def _log_target(s, path: str, what: str):
    r = resolve_or_fail(s, path)
    if r.depth < 2:
        s.out.text(r.printed)
        raise DdbError(der("DER_INVAL"), stderr=["Path to object, dkey, or akey required"])
    if r.depth == 5:
        raise DdbError(f"{der('DER_INVAL')}: {what} takes an object, dkey or akey path, not an extent")
    dkey = r.dkey.key if r.depth >= 3 else None
    akey = r.akey.key if r.depth >= 4 else None
    handle = [None, None, r.obj, r.dkey, r.akey][r.depth]
    return r, dkey, akey, handle


def _active_lids(container) -> set[int]:
    return {e.lid for e in container.dtx_active()}


@command("ilog_dump", "Dump the ilog",
         long="Dump the incarnation log of an object, dkey or akey: each entry's status, epoch, "
              "transaction local id, minor epoch and kind (create or punch).",
         args_help={"path": "VOS tree path to an object, dkey, or akey."})
@click.argument("path")
def ilog_dump(s, path):
    r, _dkey, _akey, handle = _log_target(s, path, "ilog_dump")
    s.out.text(r.printed)
    lids = _active_lids(r.container)
    entries = []
    for i, e in enumerate(handle.ilog.entries):
        st = e.status(lids)
        kind = "PUNCH" if e.is_punch else "CREATE"
        entries.append({"index": i, "status": st.name, "status_code": int(st), "epoch": e.epoch,
                        "tx_id": e.tx_id, "minor_epoch": e.minor, "kind": kind.lower(),
                        "punch_minor": e.punch_minor, "update_minor": e.update_minor})
        for line in (f"Index: {i}", f"\tStatus: {st.name} ({int(st)})", f"\tEpoch: {e.epoch}",
                     f"\tTxn ID: {e.tx_id}", f"\tMinor Epoch: {e.minor}", f"\tKind: {kind}"):
            s.out.text(line)
    s.out.emit(None, {"path": r.printed, "entries": entries})


def _ilog_change(s, path: str, commit: bool):
    r, dkey, akey, _h = _log_target(s, path, "ilog_commit" if commit else "ilog_clear")
    s.require_write()
    s.out.text(r.printed)
    with failing_as(f"Failed to {'persist' if commit else 'abort'} ilogs: "), s.transaction() as tx:
        n = clear_ilog(tx, r.container.rec.uuid, r.obj.oid, dkey, akey, commit=commit)
    s.out.emit("Done", {"path": r.printed, "entries": n, "action": "commit" if commit else "clear"})


@command("ilog_commit", "Process the ilog",
         long="Mark every entry of an incarnation log committed (DAOS ilog_persist).",
         args_help={"path": "VOS tree path to an object, dkey, or akey."})
@click.argument("path")
def ilog_commit(s, path):
    _ilog_change(s, path, True)


@command("ilog_clear", "Remove all the ilog entries",
         long="Remove every entry of an incarnation log (DAOS ilog_abort on each).",
         args_help={"path": "VOS tree path to an object, dkey, or akey."})
@click.argument("path")
def ilog_clear(s, path):
    _ilog_change(s, path, False)


# --- DTX -------------------------------------------------------------------------

def _container(s, path: str, missing: str = "Path to container is required"):
    r = resolve_or_fail(s, path)
    if r.depth < 1:
        raise DdbError(der("DER_INVAL"), stderr=[missing])
    cont_path = format_path([Part(r.parts[0].index, r.parts[0].value)])
    return r.container, cont_path


def _xid(text: str) -> Xid:
    try:
        return Xid.parse(text)
    except ValueError:
        raise DdbError(der("DER_INVAL"), stderr=[f"Invalid dtx_id: {text}"]) from None


@command("dtx_dump", "Dump the dtx tables",
         long="Dump the active and/or committed DTX tables of a container.",
         args_help={"path": "VOS tree path to a container."})
@click.option("-a", "--active", is_flag=True, help="Only dump entries from the active table")
@click.option("-c", "--committed", is_flag=True, help="Only dump entries from the committed table")
@click.argument("path")
def dtx_dump(s, active, committed, path):
    c, cp = _container(s, path, "Path to object is required.")
    both = active == committed
    s.out.text(cp)
    doc = {"path": cp}
    if active or both:
        s.out.text("Active Transactions:")
        rows = []
        for e in c.dtx_active():
            refs = c.dtx_records(e)
            rows.append({"xid": str(e.xid), "epoch": e.epoch, "lid": e.lid, "grp_cnt": e.grp_cnt,
                         "tgt_cnt": e.tgt_cnt, "ver": e.ver, "rec_cnt": e.rec_cnt,
                         "mbs_flags": e.mbs_flags, "flags": e.flags, "oid": str(e.oid),
                         "dkey_hash": e.dkey_hash})
            for line in (f"ID: {e.xid}", f"\tEpoch: {e.epoch}", "\tHandle Time: 0",
                         f"\tGrp Cnt: {e.grp_cnt}", f"\tVer: {e.ver}", f"\tRec Cnt: {e.rec_cnt}",
                         f"\tMbs Flags: {e.mbs_flags}", f"\tFlags: {e.flags}", f"\tOid: {e.oid}",
                         f"\tLocal ID: {e.lid}", f"\tTgt Cnt: {e.tgt_cnt}",
                         f"\tDkey Hash: {e.dkey_hash:#x}", f"\tRecords: {len(refs)}"):
                s.out.text(line)
        s.out.text(f"{len(rows)} Active Entries")
        doc["active"] = rows
    if committed or both:
        s.out.text("Committed Transactions:")
        rows = []
        for e in c.dtx_committed():
            rows.append({"xid": str(e.xid), "epoch": e.epoch, "cmt_time": e.cmt_time})
            for line in (f"ID: {e.xid}", f"\tEpoch: {e.epoch}", f"\tCommit Time: {e.cmt_time}"):
                s.out.text(line)
        s.out.text(f"{len(rows)} Committed Entries")
        doc["committed"] = rows
    s.out.emit(None, doc)


@command("dtx_cmt_clear", "Clear the dtx committed table",
         long="Remove every entry of a container's committed DTX table.",
         args_help={"path": "VOS tree path to a container."})
@click.argument("path")
def dtx_cmt_clear(s, path):
    c, cp = _container(s, path)
    s.require_write()
    s.out.text(cp)
    entries = list(c.dtx_committed())
    with s.transaction() as tx:
        for e in entries:
            tx.delete_dtx_committed(c.rec.uuid, e.xid)
        if entries:
            newest = max(max(e.epoch for e in entries), c.rec.newest_aggregated)
            tx.put_container(c.rec.uuid, newest_aggregated=newest)
    s.out.emit(f"Cleared {len(entries)} dtx committed entries", {"path": cp, "cleared": len(entries)})


def _act(s, path, dtx_id, verb, fn):
    c, cp = _container(s, path)
    s.require_write()
    s.out.text(cp)
    xid = _xid(dtx_id)
    with failing_as(f"Error marking entry as {verb}: "), s.transaction() as tx:
        done = fn(tx, c.rec.uuid, xid)
    text = f"Entry marked as {verb}" if done else f"No entry found to mark as {verb}"
    s.out.emit(text, {"path": cp, "xid": str(xid), "result": verb if done else "not found"})


@command("dtx_act_commit", "Mark the active dtx entry as committed",
         long="Commit an active DTX entry: its records become committed and the entry moves to "
              "the committed table.",
         args_help={"path": "VOS tree path to a container.", "dtx_id": "DTX id (<uuid>.<hlc hex>)."})
@click.argument("path")
@click.argument("dtx_id")
def dtx_act_commit(s, path, dtx_id):
    _act(s, path, dtx_id, "committed",
         lambda tx, cu, xid: commit_active(tx, cu, xid, now()))


@command("dtx_act_abort", "Mark the active dtx entry as aborted",
         long="Abort an active DTX entry: its ilog entries are removed, its values marked "
              "aborted, and the entry is dropped.",
         args_help={"path": "VOS tree path to a container.", "dtx_id": "DTX id (<uuid>.<hlc hex>)."})
@click.argument("path")
@click.argument("dtx_id")
def dtx_act_abort(s, path, dtx_id):
    _act(s, path, dtx_id, "aborted", abort_active)


@command("dtx_act_discard_invalid", "Discard the active DTX entry's records if invalid.",
         long="Drop the record references of an active DTX entry (or of every entry, with 'all') "
              "that no longer name a live record of that transaction.",
         args_help={"path": "VOS tree path to a container.", "dtx_id": "DTX id, or 'all'."})
@click.argument("path")
@click.argument("dtx_id")
def dtx_act_discard_invalid(s, path, dtx_id):
    c, cp = _container(s, path)
    s.require_write()
    s.out.text(cp)
    xids = [e.xid for e in c.dtx_active()] if dtx_id == "all" else [_xid(dtx_id)]
    results = []
    with s.transaction() as tx:
        for xid in xids:
            n = discard_invalid(tx, c.rec.uuid, xid)
            s.out.text(f"ID: {xid}")
            s.out.text("No entry found" if n is None else f"Entry's record(s) discarded: {n}")
            results.append({"xid": str(xid), "discarded": n})
    s.out.emit(None, {"path": cp, "results": results})


# --- dtx_stat / dtx_aggr -------------------------------------------------------------

def _when(unix: float | None, raw) -> str:
    """A time as DAOS prints it; one no calendar can show (a damaged commit time far
    beyond year 9999) is still printed, as its raw number."""
    if not unix or raw in (0, None):
        return "NA (NA)"
    try:
        return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(unix))} ({raw})"
    except (OverflowError, OSError, ValueError):
        return f"out of range ({raw})"


def _stat_lines(entries, aggregated: int, details: bool):
    lines = [f"\t- Committed DTX count:\t{len(entries)}"]
    if details:
        if entries:
            t = [e.cmt_time for e in entries]
            ep = [e.epoch for e in entries]
            tm = sum(t) // len(t)
            em = sum(ep) // len(ep)
            lines.append(f"\t- Committed DTX time:\tmin={_when(min(t), min(t))}, "
                         f"max={_when(max(t), max(t))}, mean={_when(tm, tm)}")
            lines.append(f"\t- Committed DTX epoch:\tmin={_when(hlc_seconds(min(ep)), min(ep))}, "
                         f"max={_when(hlc_seconds(max(ep)), max(ep))}, mean={_when(hlc_seconds(em), em)}")
        else:
            lines.append("\t- Committed DTX time:\tmin=NA (NA), max=NA (NA), mean=NA (NA)")
            lines.append("\t- Committed DTX epoch:\tmin=NA (NA), max=NA (NA), mean=NA (NA)")
    agg = _when(hlc_seconds(aggregated), aggregated) if aggregated and aggregated != 2**64 - 1 else "NA (NA)"
    lines.append(f"\t- DTX aggregated epoch:\t{agg}")
    return lines


def _stat_doc(entries, aggregated):
    return {"committed": len(entries), "aggregated_epoch": aggregated,
            "cmt_time": [min((e.cmt_time for e in entries), default=0),
                         max((e.cmt_time for e in entries), default=0)],
            "epoch": [min((e.epoch for e in entries), default=0),
                      max((e.epoch for e in entries), default=0)]}


@command("dtx_stat", "Stat on DTX entries",
         long="Statistics of the committed DTX tables of one container, or of every container "
              "and the pool.",
         args_help={"path": "Optional, VOS tree path to a container."})
@click.option("-d", "--details", is_flag=True, help="Show more details (times and epochs)")
@click.argument("path", required=False, default="")
def dtx_stat(s, details, path):
    shard = s.require_open()
    if path:
        c, cp = _container(s, path)
        conts = [(cp, c)]
    else:
        conts = [(format_path([Part(i, c.rec.uuid)]), c) for i, c in enumerate(shard.containers())]
    everything, agg, docs = [], 0, []
    for cp, c in conts:
        entries = list(c.dtx_committed())
        everything += entries
        agg = max(agg, c.rec.newest_aggregated)
        s.out.text(f"DTX entries statistics of container {cp}")
        for line in _stat_lines(entries, c.rec.newest_aggregated, details):
            s.out.text(line)
        docs.append(dict(_stat_doc(entries, c.rec.newest_aggregated), path=cp))
    doc = {"containers": docs}
    if not path:
        s.out.text("DTX entries statistics of the pool:")
        for line in _stat_lines(everything, agg, details):
            s.out.text(line)
        doc["pool"] = _stat_doc(everything, agg)
    s.out.emit(None, doc)


@command("dtx_aggr", "Aggregate DTX entries",
         long="Remove committed DTX entries committed at or before a time, oldest first, in one "
              "container or in all of them.",
         args_help={"path": "Optional, VOS tree path to a container."})
@click.option("-t", "--cmt_time", type=int, default=None, help="Max aggregation committed time (seconds)")
@click.option("-d", "--cmt_date", default="", help="Max aggregation committed date (YYYY-MM-DD HH:MM:SS)")
@click.argument("path", required=False, default="")
def dtx_aggr(s, cmt_time, cmt_date, path):
    if cmt_time is not None and cmt_date:
        raise DdbError("'--cmt_time' and '--cmt_date' options are mutually exclusive")
    if cmt_time is None and not cmt_date:
        raise DdbError("'--cmt_time' or '--cmt_date' option has to be defined")
    if cmt_date:
        try:
            cmt_time = int(time.mktime(time.strptime(cmt_date, "%Y-%m-%d %H:%M:%S")))
        except ValueError:
            raise DdbError(der("DER_INVAL"), stderr=["'--date' option arg date format is invalid"]) from None
    shard = s.require_write()
    if path:
        conts = [_container(s, path)[::-1]]
    else:
        conts = [(format_path([Part(i, c.rec.uuid)]), c) for i, c in enumerate(shard.containers())]
    docs = []
    with s.transaction() as tx:
        for cp, c in conts:
            s.out.text(f"Aggregating DTX entries of container {cp}...")
            entries = sorted(c.dtx_committed(), key=lambda e: (e.cmt_time, e.epoch))
            gone = []
            for e in entries:
                if e.cmt_time > cmt_time:
                    break
                tx.delete_dtx_committed(c.rec.uuid, e.xid)
                gone.append(e)
            if gone:
                tx.put_container(c.rec.uuid, newest_aggregated=max(
                    c.rec.newest_aggregated, max(e.epoch for e in gone)))
            docs.append({"path": cp, "aggregated": len(gone)})
    s.out.emit(None, {"cmt_time": cmt_time, "containers": docs})


