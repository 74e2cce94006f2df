"""A system image: many engines' storage, the MS replicas and every pool's PS replicas.

    <sys_root>/
      ms/<rank>/              MS replica (vosfmt.ms): an LMDB environment
      rank-<R>/               engine R's SCM mount: a single-engine image (vosfmt.image)
        <pool>/vos-<N>        the pool's shard of target N
        <pool>/rdb-pool       the pool's PS replica on this rank (vosfmt.rdb)

A directory is a system root when it has ``ms/`` or a ``rank-<R>/`` (R decimal,
no leading zeros). This module owns that layout: the listings below read
directory entries only (cheap for a 16-rank x 8-target system), and the two
safe file moves the replicas' atomic creation needs. ``system_dump`` is the
one document ``ddb system_dump --json`` prints (schema below); it reads the
MS and PS replicas (small) but never a vos-N shard's content.

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

import os
import re
from dataclasses import dataclass, field

from .errors import VosError
from .paths import UUID_PATTERN, is_shard_name
from .raft import decide
from .replicated import Survey
from .safefs import UnsafePathError, open_parent, unlink_file

MS_DIR = "ms"
RANK_PREFIX = "rank-"
_RANK_NAME = re.compile(r"rank-(0|[1-9][0-9]*)\Z")
_MS_NAME = re.compile(r"(0|[1-9][0-9]*)\Z")
_POOL_NAME = re.compile(rf"{UUID_PATTERN}\Z")


# --- layout ------------------------------------------------------------------------------------

def rank_root(sys_root: str, rank: int) -> str:
    """Engine ``rank``'s SCM mount: a single-engine image."""
    return os.path.join(sys_root, f"{RANK_PREFIX}{rank}")


def ms_path(sys_root: str, rank: int) -> str:
    return os.path.join(sys_root, MS_DIR, str(rank))


def rdb_path(sys_root: str, rank: int, pool_uuid: str) -> str:
    return os.path.join(rank_root(sys_root, rank), pool_uuid, "rdb-pool")


def _numbered_dirs(path: str, pattern: re.Pattern) -> dict[int, str]:
    try:
        names = os.listdir(path)
    except OSError:
        return {}
    out = {}
    for name in names:
        m = pattern.match(name)
        if m and os.path.isdir(os.path.join(path, name)):
            out[int(m.group(1))] = os.path.join(path, name)
    return dict(sorted(out.items()))


def rank_dirs(sys_root: str) -> dict[int, str]:
    """rank -> ``rank-<R>`` directory, by rank."""
    return _numbered_dirs(sys_root, _RANK_NAME)


def ms_dirs(sys_root: str) -> dict[int, str]:
    """rank -> ``ms/<rank>`` directory, by rank."""
    return _numbered_dirs(os.path.join(sys_root, MS_DIR), _MS_NAME)


def is_system_root(path: str) -> bool:
    return os.path.isdir(os.path.join(path, MS_DIR)) or bool(rank_dirs(path))


@dataclass
class PoolPresence:
    """What one engine holds of a pool: its directory, vos-N targets, an rdb-pool."""
    rank: int
    path: str
    targets: list[int] = field(default_factory=list)
    rdb: bool = False


def pools_on_engines(sys_root: str) -> dict[str, dict[int, PoolPresence]]:
    """pool uuid (lower case) -> rank -> what that engine holds, from directory listings."""
    out: dict[str, dict[int, PoolPresence]] = {}
    for rank, rdir in rank_dirs(sys_root).items():
        for name in sorted(os.listdir(rdir)):
            pdir = os.path.join(rdir, name)
            if not _POOL_NAME.match(name) or not os.path.isdir(pdir):
                continue
            p = PoolPresence(rank, pdir)
            for f in os.listdir(pdir):
                if f == "rdb-pool":
                    p.rdb = True
                elif is_shard_name(f):
                    p.targets.append(int(f[len("vos-"):]))
            p.targets.sort()
            out.setdefault(name.lower(), {})[rank] = p
    return dict(sorted(out.items()))


# --- safe moves (a replica's atomic creation) -------------------------------------------------

def move_into_place(root: str, src: str, dst: str) -> None:
    """Rename file ``src`` over ``dst`` (both below ``root``, no link followed on the way; a
    link at ``dst`` is replaced, never followed) and make the rename durable."""
    sfd, sname = open_parent(root, src)
    try:
        dfd, dname = open_parent(root, dst, create=True)
        try:
            os.rename(sname, dname, src_dir_fd=sfd, dst_dir_fd=dfd)
            os.fsync(dfd)
        except OSError as e:
            raise UnsafePathError(f"cannot move {src} to {dst}: {e.strerror}") from None
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def remove_dir(root: str, path: str, files=()) -> None:
    """Remove directory ``path`` below ``root`` after the regular ``files`` in it (whatever
    of them exists); a directory that is missing is fine, one holding more is kept."""
    for f in files:
        unlink_file(root, os.path.join(path, f))
    try:
        dfd, name = open_parent(root, path)
    except UnsafePathError:
        return
    try:
        os.rmdir(name, dir_fd=dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# --- the dump ----------------------------------------------------------------------------------

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


def _ms_doc(ms_survey) -> dict:
    state = ms_survey.state() or {}
    members = state.get("members", {})
    pools = state.get("pools", {})
    doc = _service_doc(ms_survey)
    doc["members"] = sorted(({"rank": m.get("rank"), "uuid": m.get("uuid"),
                              "state": m.get("state")} for m in members.values()),
                            key=lambda m: (m["rank"] is None, m["rank"] or 0))
    doc["pools"] = [{"uuid": u, "label": p.get("label"), "svc_ranks": p.get("svc_ranks"),
                     "state": p.get("state")} for u, p in sorted(pools.items())]
    doc["checker"] = state.get("checker", {}).get("state")
    doc["findings"] = len(state.get("findings", {}))
    return doc


def _pool_map_doc(pool_map: dict) -> dict:
    ranks = [e for e in pool_map.values() if isinstance(e, dict) and "rank" in e]
    return {"version": pool_map.get("version"),
            "ranks": sorted(({"rank": e["rank"], "state": e.get("state"),
                              "targets": e.get("targets", [])} for e in ranks),
                            key=lambda e: e["rank"])}


def _pool_doc(uuid: str, ms_pools: dict, engines: dict, ps_survey) -> dict:
    state = ps_survey.state()
    doc = {"uuid": uuid, "on_ms": uuid in ms_pools,
           "label_ms": ms_pools.get(uuid, {}).get("label")}
    doc.update(_service_doc(ps_survey))
    labels = {} if state is None else state.get("cont_labels", {})
    conts = {} if state is None else state.get("containers", {})
    props = None if state is None else state.get("props", {})
    doc.update({
        "pool_map": None if state is None else _pool_map_doc(state.get("pool_map", {})),
        "label": None if props is None else props.get("label"),
        "props": props,
        "containers": [{"uuid": u, "label": c.get("label"),
                        "prop_label": c.get("props", {}).get("label"),
                        "label_index": labels.get(c.get("label"))}
                       for u, c in sorted(conts.items())],
        "cont_labels": [{"label": k, "uuid": u} for k, u in sorted(labels.items())],
        "engines": [{"rank": r, "targets": p.targets, "rdb": p.rdb}
                    for r, p in sorted(engines.items())],
    })
    return doc


def system_dump(sys_root: str) -> dict:
    """The document of ``ddb system_dump --json`` (schema in the module docstring)."""
    # ms and rdb build on this module's layout, so they are imported here, not above
    from .ms import ManagementService
    from .rdb import PoolService
    if not is_system_root(sys_root):
        raise VosError(f"{sys_root}: not a system image (no ms/ and no rank-<R>/ directory)")
    ms_survey = ManagementService(sys_root).survey()
    ms_doc = _ms_doc(ms_survey)
    ms_pools = {_pool_key(u): p for u, p in (ms_survey.state() or {}).get("pools", {}).items()}
    on_engines = pools_on_engines(sys_root)
    pools = []
    for u in sorted(set(ms_pools) | set(on_engines)):
        ps = PoolService(sys_root, u).survey() if _POOL_NAME.match(u) else Survey(decide({}), {}, {})
        pools.append(_pool_doc(u, ms_pools, on_engines.get(u, {}), ps))
    return {"ms": ms_doc, "pools": pools}


def _pool_key(text: str) -> str:
    """An MS pool entry's uuid as the engines' directories spell it (lower case); a key that
    is no uuid is kept as it is (its pool has no PS to read)."""
    return text.lower() if _POOL_NAME.match(text) else text
