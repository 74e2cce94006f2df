"""The system repairs: one function per (class, action), applied by the leader.

Replicated state changes through ``vosfmt``'s services (an MS or PS update is
one raft index on every reachable replica; ``dictate`` is the recovery without
quorum); engine storage changes only through the engine orders of
``engine.handle`` sent over the transport, so a remote transport changes
nothing here. Each repair is idempotent: after a crash the resumed pass meets
what is left and repairs it again. A failure raises VosError (the finding's
result is then -DER_IO).
"""
from __future__ import annotations

from vosfmt.errors import VosError
from vosfmt.ms import ManagementService
from vosfmt.rdb import map_key

from ..problems import Action, Cls
from .passes import Facts, Inconsistency

A = Action


class Repairer:
    """Applies decisions for one run: ``facts`` (dropped after each change), ``transport``
    (the engine orders), ``bookmark(pool)`` (the pool's MS bookmark, for the label fix that
    TRUST_MS defers to phase 3)."""

    def __init__(self, sys_root: str, facts: Facts, transport, bookmark):
        self.sys_root = sys_root
        self.facts = facts
        self.transport = transport
        self.bookmark = bookmark

    def apply(self, inc: Inconsistency, action: Action) -> None:
        fn = _REPAIRS.get((inc.cls, action))
        if fn is None:
            return
        try:
            fn(self, inc)
        except (KeyError, TypeError) as e:      # the state changed under the check
            raise VosError(f"{inc.cls.name} {action.name}: what it repairs is no longer "
                           f"there ({type(e).__name__}: {e})") from None
        finally:
            self.facts.changed(inc.pool)

    # --- engine orders -------------------------------------------------------------------
    def order(self, rank: int, op: str, **args) -> None:
        req = {"op": op, "rank": rank, "root": self.facts.root(rank), **args}
        resp = self.transport.call(rank, req)
        if not resp.get("ok"):
            raise VosError(f"rank {rank}: {op} failed: {resp.get('error')}")

    def destroy_everywhere(self, pool: str) -> None:
        for rank in self.facts.holders(pool):
            self.order(rank, "destroy_pool", pool=pool)

    # --- services ------------------------------------------------------------------------
    def ms_update(self, edit) -> None:
        ManagementService(self.sys_root).update(edit)

    def ps_update(self, pool: str, edit) -> None:
        self.transport.pool_service(pool).update(edit)


# --- pools --------------------------------------------------------------------------------

def _svc_discard(r: Repairer, inc):
    r.destroy_everywhere(inc.pool)
    r.ms_update(lambda s: s["pools"].pop(_ms_key(s, inc.pool), None))


def _svc_dictate(r: Repairer, inc):
    """The best replica dictates; the service gets back its replica count on ranks that hold
    the pool (readable replicas first, then the old members, then other holders)."""
    ps = r.transport.pool_service(inc.pool)
    survey = ps.survey()
    # the membership the finding saw: a dictate resumed after a crash finds a sole member
    old = list(inc.facts.get("membership") or survey.verdict.membership)
    ms_entry = r.facts.ms_pools().get(inc.pool) or {}
    count = len(old) or len(ms_entry.get("svc_ranks") or []) or 1
    holders = list(r.facts.holders(inc.pool))
    order = sorted(survey.states) + [x for x in old if x in holders] + holders
    wanted = []
    for rank in order:
        if rank not in wanted and len(wanted) < count:
            wanted.append(rank)
    ps.dictate(survey.verdict.best, members=wanted)
    if ms_entry:
        r.ms_update(lambda s: s["pools"][_ms_key(s, inc.pool)].update(svc_ranks=sorted(wanted)))


def _orphan_readd(r: Repairer, inc):
    verdict, state = r.facts.ps(inc.pool)
    if state is None:
        raise VosError(f"pool {inc.pool} has no readable PS replica to re-add it from")
    label = state.get("props", {}).get("label")
    entry = {"uuid": inc.pool, "label": label, "svc_ranks": list(verdict.membership),
             "state": "ready"}
    r.ms_update(lambda s: s["pools"].__setitem__(inc.pool, entry))


def _orphan_discard(r: Repairer, inc):
    r.destroy_everywhere(inc.pool)


def _dangling_discard(r: Repairer, inc):
    r.ms_update(lambda s: s["pools"].pop(_ms_key(s, inc.pool), None))


def _label_trust_ps(r: Repairer, inc):
    label = inc.facts["ps_label"] or None
    r.ms_update(lambda s: s["pools"][_ms_key(s, inc.pool)].update(label=label))


def _label_trust_ms(r: Repairer, inc):
    """Deferred: phase 3 writes the MS label into the PS property (``fix_pool_label``)."""
    r.bookmark(inc.pool)["label_fix"] = inc.facts["ms_label"]


def fix_pool_label(r: Repairer, pool: str, label: str) -> None:
    r.ps_update(pool, lambda s: s["props"].update(label=label))
    r.facts.changed(pool)


# --- the pool map ---------------------------------------------------------------------------

def _orphan_rank_discard(r: Repairer, inc):
    r.order(inc.rank, "destroy_pool", pool=inc.pool)


def _down_rank_discard(r: Repairer, inc):
    targets = sorted(r.facts.holders(inc.pool).get(inc.rank, {}).get("targets", []))
    r.order(inc.rank, "destroy_shards", pool=inc.pool, targets=targets)


def _dangling_map_down(r: Repairer, inc):
    """The map version goes up only with a change: a resumed repair whose new map reached
    the PS writes it again as it is (catching up the replicas the crash left behind)."""
    def edit(s):
        entry = s["pool_map"][map_key(inc.rank)]
        changed = inc.target is None and entry.get("state") != "DOWN"
        if inc.target is None:
            entry["state"] = "DOWN"
        for t in entry.get("targets", []):
            if (inc.target is None or t.get("index") == inc.target) and t.get("state") != "DOWN":
                t["state"] = "DOWN"
                changed = True
        if changed:
            s["pool_map"]["version"] = s["pool_map"].get("version", 0) + 1
    r.ps_update(inc.pool, edit)


# --- containers -------------------------------------------------------------------------------

def _orphan_cont_discard(r: Repairer, inc):
    for rank in inc.facts["ranks"]:
        r.order(rank, "destroy_container", pool=inc.pool, cont=inc.cont)


def _cont_label_trust_ps(r: Repairer, inc):
    cs = inc.facts["cs_label"]
    r.ps_update(inc.pool, lambda s: s["containers"][inc.cont].setdefault("props", {})
                .update(label=cs))


def _cont_label_trust_target(r: Repairer, inc):
    prop, old = inc.facts["prop_label"], inc.facts["cs_label"]

    def edit(s):
        s["containers"][inc.cont]["label"] = prop
        if old and s["cont_labels"].get(old) == inc.cont:
            del s["cont_labels"][old]
        s["cont_labels"][prop] = inc.cont
    r.ps_update(inc.pool, edit)


# --- the MS ---------------------------------------------------------------------------------

def _ms_catch_up(r: Repairer, inc):
    ManagementService(r.sys_root).update(lambda s: None)


def _ms_dictate(r: Repairer, inc):
    """Back to the membership the finding saw (a dictate resumed after a crash finds a sole
    member)."""
    ManagementService(r.sys_root).dictate(members=inc.facts.get("membership") or None)


def _ms_key(state: dict, pool: str) -> str:
    """The MS pools table's key of ``pool`` (its uuid as the MS spells it)."""
    return next((k for k in state.get("pools", {}) if k.lower() == pool), pool)


_REPAIRS = {
    (Cls.POOL_LESS_SVC_WITHOUT_QUORUM, A.TRUST_PS): _svc_dictate,
    (Cls.POOL_LESS_SVC_WITHOUT_QUORUM, A.DISCARD): _svc_discard,
    (Cls.POOL_NONEXIST_ON_MS, A.READD): _orphan_readd,
    (Cls.POOL_NONEXIST_ON_MS, A.DISCARD): _orphan_discard,
    (Cls.POOL_NONEXIST_ON_ENGINE, A.DISCARD): _dangling_discard,
    (Cls.POOL_BAD_LABEL, A.TRUST_PS): _label_trust_ps,
    (Cls.POOL_BAD_LABEL, A.TRUST_MS): _label_trust_ms,
    (Cls.ENGINE_NONEXIST_IN_MAP, A.DISCARD): _orphan_rank_discard,
    (Cls.ENGINE_DOWN_IN_MAP, A.DISCARD): _down_rank_discard,
    (Cls.ENGINE_HAS_NO_STORAGE, A.TRUST_TARGET): _dangling_map_down,
    (Cls.CONT_NONEXIST_ON_PS, A.DISCARD): _orphan_cont_discard,
    (Cls.CONT_BAD_LABEL, A.TRUST_PS): _cont_label_trust_ps,
    (Cls.CONT_BAD_LABEL, A.TRUST_TARGET): _cont_label_trust_target,
    (Cls.MS_REPLICA_BEHIND, A.TRUST_MS): _ms_catch_up,
    (Cls.MS_WITHOUT_QUORUM, A.TRUST_MS): _ms_dictate,
}
