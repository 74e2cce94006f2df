"""``system_dump``: a whole system image (the MS, every pool's PS replicas, the engines) as text.

The document is vosfmt.sysdump's (``--json`` prints it as it is); this module
only lays it out for a reader: one section for the management service, then one
per pool, each replicated service with its verdict line and a table of its
replicas. Every field is shown as found: a damaged entry (a list where a label
belongs, a null) is printed, never a reason to stop, so a broken system can be
looked at. The text functions are pure (document in, lines out).
"""
from __future__ import annotations

import json

import click

from ..registry import command

NONE = "-"


def _txt(value) -> str:
    """A field as found: text as it is, null as '-', anything else as compact JSON."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _ranks(value) -> str:
    """A list of ranks as '0,1,3' ('none' when empty)."""
    if isinstance(value, list) and all(type(r) is int for r in value):
        return ",".join(map(str, value)) if value else "none"
    return _txt(value)


def _table(rows: list, headers: list[str], indent: str) -> list[str]:
    from tabulate import tabulate
    text = tabulate([[_txt(c) for c in row] for row in rows], headers=headers,
                    disable_numparse=True)
    return [indent + line.rstrip() for line in text.splitlines()]


# --- a replicated service (the MS, a PS) --------------------------------------------------------

def verdict(svc: dict, missing: str) -> str:
    """The service's raft verdict: its membership and whether a majority of it is reachable
    (``missing``: what to say when no replica is found at all)."""
    replicas = svc.get("replicas") or []
    if not replicas:
        return f"MISSING ({missing})"
    membership = svc.get("membership") or []
    if not membership:
        return f"no readable replica ({len(replicas)} found)"
    reachable = sum(r.get("status") in ("authoritative", "behind") for r in replicas)
    if svc.get("quorum"):
        return f"membership {_ranks(membership)}, quorum ({reachable} of {len(membership)} reachable)"
    return (f"membership {_ranks(membership)}, WITHOUT QUORUM ({reachable} of {len(membership)} "
            f"reachable, {len(membership) // 2 + 1} needed)")


def replica_lines(svc: dict) -> list[str]:
    """Which replica's state is shown (the authoritative one; the best one without quorum)
    and every replica as found, indented under the service's line."""
    replicas = svc.get("replicas") or []
    if not replicas:
        return []
    out = []
    where = f"term {_txt(svc.get('term'))}, last index {_txt(svc.get('last_index'))}"
    if svc.get("quorum"):
        out.append(f"  Authoritative replica: rank {_txt(svc.get('authoritative'))} ({where})")
    elif svc.get("best") is not None:
        out.append(f"  Best replica (no quorum): rank {svc['best']} ({where})")
    rows = [(r.get("rank"), r.get("status"), r.get("term"), r.get("last_index"),
             None if r.get("membership") is None else _ranks(r["membership"]))
            for r in replicas]
    out.append(f"  Replicas: {len(rows)}")
    out += _table(rows, ["rank", "status", "term", "last index", "membership"], "    ")
    return out + [f"    Rank {_txt(r.get('rank'))} {_txt(r.get('status'))}: {r['error']}"
                  for r in replicas if r.get("error")]


# --- the MS --------------------------------------------------------------------------------------

def checker_line(checker) -> str:
    if not isinstance(checker, dict):
        return f"Checker: {_txt(checker)}"
    policies = checker.get("policies")
    if isinstance(policies, dict):
        shown = ", ".join(f"{k}={_txt(v)}" for k, v in sorted(policies.items())) or "default"
    else:
        shown = _txt(policies)
    state = {True: "enabled", False: "disabled"}.get(checker.get("enabled"),
                                                     _txt(checker.get("enabled")))
    return (f"Checker: {state}, instance {_txt(checker.get('instance'))}, leader "
            f"{_txt(checker.get('leader'))}, policies: {shown}")


def ms_lines(ms: dict) -> list[str]:
    out = [f"Management service: {verdict(ms, 'no replica under ms/')}", *replica_lines(ms)]
    if not ms.get("replicas"):
        return out
    members, pools = ms.get("members") or [], ms.get("pools") or []
    out += [f"  Members: {len(members)}"]
    out += _table([(m["rank"], m["uuid"], m["state"]) for m in members],
                  ["rank", "uuid", "state"], "    ") if members else []
    out += [f"  Pool entries: {len(pools)}"]
    out += _table([(p["uuid"], p["label"], _ranks(p["svc_ranks"]), p["state"]) for p in pools],
                  ["uuid", "label", "svc ranks", "state"], "    ") if pools else []
    out += [f"  {checker_line(ms.get('checker'))}", f"  Findings: {_txt(ms.get('findings'))}"]
    return out


# --- a pool --------------------------------------------------------------------------------------

def _targets(targets) -> str:
    if isinstance(targets, list) and all(isinstance(t, dict) for t in targets):
        return " ".join(f"{_txt(t.get('index'))}:{_txt(t.get('state'))}" for t in targets) or "none"
    return _txt(targets)


def pool_map_lines(pool_map) -> list[str]:
    if pool_map is None:
        return ["  Pool map: unknown (no PS replica could be read)"]
    ranks = pool_map.get("ranks") or []
    out = [f"  Pool map: version {_txt(pool_map.get('version'))}, {len(ranks)} rank(s)"]
    return out + _table([(r["rank"], r["state"], _targets(r["targets"])) for r in ranks],
                        ["rank", "state", "targets"], "    ") if ranks else out


def _label_index(cont: dict) -> str:
    """Where the CS label index sends the container's label: 'ok' (to this container),
    'missing' (nowhere) or the other container's uuid."""
    index = cont.get("label_index")
    if index is None:
        return "missing"
    return "ok" if index == cont.get("uuid") else _txt(index)


def container_lines(pool: dict) -> list[str]:
    conts = pool.get("containers") or []
    out = [f"  Containers: {len(conts)}"]
    if conts:
        out += _table([(c["uuid"], c["label"], c["prop_label"], _label_index(c)) for c in conts],
                      ["uuid", "label", "prop label", "label index"], "    ")
    labelled = {(c["uuid"], _txt(c["label"])) for c in conts}
    stray = [e for e in pool.get("cont_labels") or []
             if (_txt(e.get("uuid")), _txt(e.get("label"))) not in labelled]
    if stray:
        out += [f"  Label index entries naming no container of that label: {len(stray)}"]
        out += _table([(e.get("label"), e.get("uuid")) for e in stray], ["label", "uuid"], "    ")
    return out


def engine_lines(pool: dict) -> list[str]:
    engines = pool.get("engines") or []
    if not engines:
        return ["  Engines: no engine holds this pool"]
    rows = [(e["rank"], _ranks(e["targets"]), "yes" if e["rdb"] else "no") for e in engines]
    return [f"  Engines: {len(engines)}", *_table(rows, ["rank", "vos targets", "rdb-pool"], "    ")]


def _props_line(props) -> str:
    if isinstance(props, dict):
        return "  Properties: " + (", ".join(f"{k}={_txt(v)}" for k, v in sorted(props.items()))
                                   or "none")
    return f"  Properties: {_txt(props)}"


def pool_lines(pool: dict) -> list[str]:
    ms_label = f"MS label {_txt(pool.get('label_ms'))}" if pool.get("on_ms") else "no MS entry"
    head = f"Pool {pool['uuid']}: label {_txt(pool.get('label'))} ({ms_label})"
    out = [head, f"  Pool service: {verdict(pool, 'no rdb-pool on any engine')}", *replica_lines(pool)]
    if pool.get("pool_map") is not None or pool.get("replicas"):
        out += pool_map_lines(pool.get("pool_map"))
    if pool.get("props") is not None:
        out += [_props_line(pool["props"]), *container_lines(pool)]
    return out + engine_lines(pool)


def system_lines(doc: dict, root: str) -> list[str]:
    """The text of ``system_dump`` for the document ``doc`` of the system at ``root``."""
    out = [f"System image: {root}", "", *ms_lines(doc["ms"])]
    for pool in doc["pools"]:
        out += ["", *pool_lines(pool)]
    if not doc["pools"]:
        out += ["", "Pools: none"]
    return out


@command("system_dump", "Dump a system image: the MS, every pool's services, maps, containers",
         long="Show a whole system image, read-only.\n\n"
              "The management service (MS): its replicas with their raft state (term, last "
              "index, membership) and status -- authoritative, behind, missing, extra or "
              "unreadable (with the reason) -- then its members, pool entries and checker "
              "state.\n\n"
              "For every pool found on the MS or on an engine: its pool service (PS) replicas "
              "likewise, its pool map (ranks and targets with their states), label (and the MS "
              "entry's), properties, container table and which engines hold it (vos-N targets, "
              "rdb-pool). A container's label index is 'ok' when the CS label index maps its "
              "label to it, 'missing' when to nothing, else the uuid it maps to.\n\n"
              "The system image is -D, else the one holding the shard of -s or the open one, "
              "else the current directory. With --json: one document with the keys ms and pools.")
@click.option("-D", "--sys_root", default="",
              help="The system image (the directory holding ms/ and rank-R/).")
def system_dump(s, sys_root):
    from vosfmt.sysdump import system_dump as read_system
    root = s.system_root(sys_root)
    doc = read_system(root)
    if s.out.json:
        s.out.emit(None, doc)
        return
    for line in system_lines(doc, root):
        s.out.emit(line)
