"""How ``ddb check`` shows findings: a run's lines and summary, and ``check query``'s report.

One engine's check: text only through the session's output; the documents
themselves come from the checker's report store (``ddb.checker.report``).
A system's check (``query_lines``, ``policy_lines``): pure functions from
SystemChecker's documents (dmg's JSON) to dmg check's text lines.
"""
from __future__ import annotations

import os
import time


def print_run(s, reports, q) -> None:
    from ..checker import is_pending, resolution, tally
    if s.out.json:
        s.out.emit(None, {"status": q["status"], "reports": reports})
        return
    for r in reports:
        state = "PENDING" if is_pending(r) else resolution(r)
        s.out.text(f"{r['seq']:#x} {r['name']} ({r['code']:#08x}): {r['msg']}: {state}")
    n = tally(reports)
    s.out.text(f"check: {n['total']} finding(s), {n['repaired']} repaired, {n['pending']} pending, "
               f"{n['ignored']} ignored, {n['dry_run']} dry run, {n['failed']} failed")
    if n["repaired"]:
        s.out.text("***** STORAGE IMAGE WAS MODIFIED *****")


def print_blocks(s, reports) -> None:
    from ..checker import Action, is_pending, resolution
    for r in reports:
        s.out.text(f"ID: {r['seq']:#x}\nClass: {r['class_name']}\nCode: {r['code']:#08x} {r['name']}\n"
                   f"Message: {r['msg']}\nShard: {r['shard'] or '(image)'}")
        if is_pending(r):
            s.out.text("Potential resolution actions:")
            for i, (a, d) in enumerate(zip(r["choices"], r["details"])):
                s.out.text(f"  {i}: {Action(a).name}: {d}")
        else:
            s.out.text(f"Resolution: {resolution(r)}")
        s.out.text("")


def print_tables(s, reports) -> None:
    from tabulate import tabulate

    from ..checker import is_pending, resolution
    resolved = [r for r in reports if not is_pending(r)]
    pending = [r for r in reports if is_pending(r)]
    if resolved:
        s.out.text("- Resolved:")
        s.out.text(tabulate([(f"{r['seq']:#x}", r["class_name"], r["name"], _short(r["shard"]), resolution(r))
                             for r in resolved], headers=["ID", "Class", "Problem", "Shard", "Resolution"],
                            disable_numparse=True))
    if pending:
        s.out.text("- Action Required:")
        rows = []
        for r in pending:
            for i, d in enumerate(r["details"]):
                first = i == 0
                rows.append((f"{r['seq']:#x}" if first else "", r["class_name"] if first else "",
                             r["name"] if first else "", _short(r["shard"]) if first else "", f"{i}: {d}"))
        s.out.text(tabulate(rows, headers=["ID", "Class", "Problem", "Shard", "Repair Options"],
                            disable_numparse=True))


def _short(path: str) -> str:
    if not path:
        return "(image)"
    return f"{os.path.basename(os.path.dirname(path))[:8]}/{os.path.basename(path)}"


# --- a system's check: dmg's text ---------------------------------------------------------------

#: dmg's text for each scan phase (CheckScanPhase)
PHASE_TEXT = {
    "PREPARE": "Preparing check engine",
    "POOL_LIST": "Comparing pool list on MS and storage nodes",
    "POOL_MBS": "Comparing pool membership on MS and storage nodes",
    "POOL_CLEANUP": "Cleaning up pool entries",
    "CONT_LIST": "Comparing container list on PS and storage nodes",
    "CONT_CLEANUP": "Cleaning up container entries",
    "DTX_RESYNC": "DTX resync and cleanup",
    "OBJ_SCRUB": "RP/EC shards consistency verification with checksum scrub if have",
    "REBUILD": "Object rebuild",
    "AGGREGATION": "EC aggregation & VOS aggregation",
    "DONE": "Check completed",
}
_RESULT_DRY_RUN = 1


def bare(name, prefix: str) -> str:
    """A dmg enum name without its prefix (CIC_, CIA_, CSP_, CIS_)."""
    name = str(name or "")
    return name[len(prefix):] if name.startswith(prefix) else name


def when(t) -> str:
    """A time as dmg prints it: epoch seconds as local "YYYY-MM-DD hh:mm:ss", text as given."""
    if isinstance(t, (int, float)) and not isinstance(t, bool):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
    return str(t)


def _class_value(name: str) -> int:
    from ..checker.problems import Cls
    try:
        return int(Cls[bare(name, "CIC_")])
    except KeyError:
        return 1 << 30


def sorted_reports(reports) -> list[dict]:
    """dmg's order: by class number, then seq."""
    return sorted(reports or [], key=lambda r: (_class_value(r["class"]), r["seq"]))


def awaits_answer(r: dict) -> bool:
    return bare(r["action"], "CIA_") == "INTERACT"


def dmg_resolution(r: dict) -> str:
    act = bare(r["action"], "CIA_")
    result = r.get("result") or 0
    if result == _RESULT_DRY_RUN:
        return f"{act} (dry run)"
    if result < 0:
        return f"{act} (failed: {result})"
    return act


def _seq(r: dict) -> str:
    return f"{r['seq']:#x}"


def _pool(r: dict) -> str:
    return r.get("pool_label") or r.get("pool_uuid") or ""


def _cont(r: dict) -> str:
    return r.get("cont_label") or r.get("cont_uuid") or ""


def _named(r: dict, key: str) -> str:
    label, uuid = r.get(f"{key}_label") or "", r.get(f"{key}_uuid") or ""
    return f"{label} ({uuid})" if label and uuid else label or uuid


def _options(r: dict) -> list[str]:
    details = r.get("act_details") or []
    msgs = r.get("act_msgs") or []
    return [(details[i] if i < len(details) and details[i] else msgs[i] if i < len(msgs) else "")
            for i in range(len(r.get("act_choices") or []))]


def _table(rows, headers) -> list[str]:
    from tabulate import tabulate
    return tabulate(rows, headers=headers, disable_numparse=True).splitlines()


def report_tables(reports) -> list[str]:
    """The "- Resolved:" and "- Action Required:" tables (a Cont column when a report names one)."""
    with_cont = any(_cont(r) for r in reports)

    def row(r, last):
        return [_seq(r), bare(r["class"], "CIC_"), _pool(r), *([_cont(r)] if with_cont else []), last]
    head = ["ID", "Class", "Pool", *(["Cont"] if with_cont else [])]
    resolved = [r for r in reports if not awaits_answer(r)]
    pending = [r for r in reports if awaits_answer(r)]
    out = []
    if resolved:
        out += ["- Resolved:", *_table([row(r, dmg_resolution(r)) for r in resolved], head + ["Resolution"])]
    if pending:
        rows = []
        for r in pending:
            for i, text in enumerate(_options(r)):
                first = row(r, f"{i}: {text}")
                rows.append(first if i == 0 else [""] * (len(first) - 1) + [first[-1]])
        out += (["", ] if out else []) + ["- Action Required:",
                                           *_table(rows, head + ["Repair Options"])]
    return out


def report_blocks(reports) -> list[str]:
    """``query -v``: one block per report."""
    out = []
    for r in reports:
        out += [f"ID: {_seq(r)}", f"Class: {bare(r['class'], 'CIC_')}", f"Message: {r.get('msg', '')}"]
        out += [f"{what}: {_named(r, key)}" for what, key in (("Pool", "pool"), ("Container", "cont"))
                if r.get(f"{key}_uuid") or r.get(f"{key}_label")]
        if awaits_answer(r):
            out.append("Potential resolution actions:")
            out += [f"  {i}: {text}" for i, text in enumerate(_options(r))]
        elif (r.get("result") or 0) == _RESULT_DRY_RUN:
            out.append(f"Resolution: {bare(r['action'], 'CIA_')} (dry run - not applied)")
        else:
            out.append(f"Resolution: {dmg_resolution(r)}")
        out.append("")
    return out[:-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def pool_line(p: dict) -> str:
    started = f", started: {when(p['start_time'])}" if p.get("start_time") else ""
    return (f"  Pool {p.get('uuid')}: {_plural(int(p.get('rank_count') or 0), 'rank')}, "
            f"status: {p.get('status')}, phase: {p.get('phase')}{started}")


def query_lines(q: dict, verbose: bool = False) -> list[str]:
    """dmg check query's text for a SystemChecker.query() document."""
    status = bare(q.get("status") or "INIT", "CIS_")
    started = f" (started at: {when(q['start_time'])})" if q.get("start_time") else ""
    out = ["DAOS System Checker Info", f"  Current status: {status}{started}"]
    phase = bare(q.get("scan_phase"), "CSP_")
    if phase:
        text = PHASE_TEXT.get(phase)
        out.append(f"  Current phase: {phase}" + (f" ({text})" if text else ""))
    pools = q.get("pools") or {}
    if pools:
        verb = "Checked" if status == "COMPLETED" else "Checking"
        out.append(f"  {verb} {_plural(len(pools), 'pool')}")
        if verbose:
            out += ["", "Per-Pool Checker Info:", *(pool_line(p) for _, p in sorted(pools.items()))]
    out.append("")
    reports = sorted_reports(q.get("reports"))
    if not reports:
        return out + ["No reports to display."]
    out.append("Inconsistency Reports:")
    return out + (report_blocks(reports) if verbose else report_tables(reports))


def policy_lines(doc: dict) -> list[str]:
    """get-policy's text: the flags line and the class/action table."""
    rows = [p.split(":", 1) for p in doc["policies"]]
    return [f"Checker flags: {doc['checker_flags']}",
            *_table(rows, ["Inconsistency Class", "Repair Action"])]
