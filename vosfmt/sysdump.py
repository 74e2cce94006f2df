"""``system_dump``: the whole system image as one JSON document (``ddb system_dump --json``).

It reads the MS and every pool's PS replicas (small) and the engines' directory
listings (``vosfmt.system``), never a vos-N shard's content, so its memory and
time grow with the number of pools and replicas, not with the data. Every list
is sorted, so the document is the same for the same image (golden transcripts).

system_dump schema (every list sorted; keys as written here)::

    {"ms": SERVICE + {"members": [{"rank", "uuid", "state"}],        (by rank)
                      "pools": [{"uuid", "label", "svc_ranks", "state"}],   (by uuid)
                      "checker": {...} | null,   (the checker table's "state" row)
                      "findings": int},          (how many findings it holds)
     "pools": [SERVICE + {"uuid", "on_ms": bool, "label_ms": str|null,
                          "pool_map": {"version": int|null,
                                       "ranks": [{"rank", "state",
                                                  "targets": [{"index", "state"}]}]} | null,
                          "label": str|null, "props": {...} | null,
                          "containers": [{"uuid", "label", "prop_label",
                                          "label_index": uuid|null}],   (by uuid)
                          "cont_labels": [{"label", "uuid"}],           (by label)
                          "engines": [{"rank", "targets": [N...], "rdb": bool}]}]  (by rank)
    SERVICE = {"membership": [R...], "quorum": bool, "authoritative": R|null,
               "best": R|null, "behind": [R...], "missing": [R...], "extra": [R...],
               "term": int, "last_index": int,
               "replicas": [{"rank", "status", "term", "last_index", "membership",
                             "error"}]}                                   (by rank)

A replica's ``status`` is authoritative (up to date), behind, missing (no file),
extra (readable, outside the membership) or unreadable (``error`` says why);
``term`` / ``last_index`` / ``membership`` are null when it cannot be read. A
pool's ``label_index`` is the uuid the CS label index maps the container's
label to (a mismatch or null is what the checker's CONT_BAD_LABEL is about);
state fields are null when no PS replica can be read.
"""
from __future__ import annotations

from .errors import VosError
from .ms import ManagementService
from .raft import decide
from .rdb import PoolService
from .replicated import Survey
from .system import is_pool_name, is_system_root, pools_on_engines


def _service_doc(survey) -> dict:
    v = survey.verdict
    return {"membership": list(v.membership), "quorum": v.quorum,
            "authoritative": v.authoritative, "best": v.best, "behind": list(v.behind),
            "missing": list(v.missing), "extra": list(v.extra), "term": v.term,
            "last_index": v.last_index,
            "replicas": [{"rank": r.rank, "status": r.status,
                          "term": None if r.meta is None else r.meta.term,
                          "last_index": None if r.meta is None else r.meta.last_index,
                          "membership": None if r.meta is None else list(r.meta.membership),
                          "error": r.error} for r in survey.replicas.values()]}


def _get(value, key):
    """``value[key]`` when value is a JSON object holding it, else None: entries are shown as
    found, and a damaged one (a list where an object belongs) must not stop the dump."""
    return value.get(key) if isinstance(value, dict) else None


def _by_rank(entry: dict):
    rank = entry["rank"]
    return (0, rank, "") if type(rank) is int else (1, 0, str(rank))


def _ms_doc(ms_survey) -> dict:
    state = ms_survey.state() or {}
    doc = _service_doc(ms_survey)
    doc["members"] = sorted(({"rank": _get(m, "rank"), "uuid": _get(m, "uuid"),
                              "state": _get(m, "state")}
                             for m in state.get("members", {}).values()), key=_by_rank)
    doc["pools"] = [{"uuid": u, "label": _get(p, "label"), "svc_ranks": _get(p, "svc_ranks"),
                     "state": _get(p, "state")} for u, p in sorted(state.get("pools", {}).items())]
    doc["checker"] = state.get("checker", {}).get("state")
    doc["findings"] = len(state.get("findings", {}))
    return doc


def _pool_map_doc(pool_map: dict) -> dict:
    ranks = [e for e in pool_map.values() if isinstance(e, dict) and "rank" in e]
    return {"version": pool_map.get("version"),
            "ranks": sorted(({"rank": e["rank"], "state": e.get("state"),
                              "targets": e.get("targets", [])} for e in ranks), key=_by_rank)}


def _containers_doc(conts: dict, labels: dict) -> list[dict]:
    out = []
    for u, c in sorted(conts.items()):
        label = _get(c, "label")
        out.append({"uuid": u, "label": label, "prop_label": _get(_get(c, "props"), "label"),
                    "label_index": labels.get(label) if isinstance(label, str) else None})
    return out


def _pool_doc(uuid: str, ms_pools: dict, engines: dict, ps_survey) -> dict:
    state = ps_survey.state()
    doc = {"uuid": uuid, "on_ms": uuid in ms_pools, "label_ms": _get(ms_pools.get(uuid), "label")}
    doc.update(_service_doc(ps_survey))
    labels = {} if state is None else state.get("cont_labels", {})
    props = None if state is None else state.get("props", {})
    doc.update({
        "pool_map": None if state is None else _pool_map_doc(state.get("pool_map", {})),
        "label": None if props is None else props.get("label"),
        "props": props,
        "containers": [] if state is None else _containers_doc(state.get("containers", {}),
                                                               labels),
        "cont_labels": [{"label": k, "uuid": u} for k, u in sorted(labels.items())],
        "engines": [{"rank": r, "targets": p.targets, "rdb": p.rdb}
                    for r, p in sorted(engines.items())],
    })
    return doc


def system_dump(sys_root: str) -> dict:
    """The document of ``ddb system_dump --json`` (schema in the module docstring)."""
    if not is_system_root(sys_root):
        raise VosError(f"{sys_root}: not a system image (no ms/ and no rank-<R>/ directory)")
    ms_survey = ManagementService(sys_root).survey()
    ms_doc = _ms_doc(ms_survey)
    ms_pools = {_pool_key(u): p for u, p in (ms_survey.state() or {}).get("pools", {}).items()}
    on_engines = pools_on_engines(sys_root)
    pools = []
    for u in sorted(set(ms_pools) | set(on_engines)):
        ps = PoolService(sys_root, u).survey() if is_pool_name(u) else Survey(decide({}), {}, {})
        pools.append(_pool_doc(u, ms_pools, on_engines.get(u, {}), ps))
    return {"ms": ms_doc, "pools": pools}


def _pool_key(text: str) -> str:
    """An MS pool entry's uuid as the engines' directories spell it (lower case); a key that
    is no uuid is kept as it is (its pool has no PS to read)."""
    return text.lower() if is_pool_name(text) else text
