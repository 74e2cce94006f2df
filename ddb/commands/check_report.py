"""How ``ddb check`` shows findings: a run's lines and summary, and ``check query``'s report.

Text only through the session's output; the documents themselves come from
the checker's report store (``ddb.checker.report``).
"""
from __future__ import annotations

import os


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
