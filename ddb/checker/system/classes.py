"""The system checker's inconsistency classes, as data, and how a finding of one is decided.

Each ``SysClass`` row holds what DAOS's leader and engines hard-code for a
class (``upstream-checkers.md`` §1.4, the code's behaviour where it and the
proto disagree): the message, the default action (some depend on the
situation), the policy values it accepts and what each becomes, the ordered
choices of an interaction (index 0 is the suggestion, marked "[suggested]"),
the act_msgs the control plane adds, and which final actions end that pool's
check. ``decide`` is DAOS's seven steps over a row, pure: the leader calls it
with the facts the row's choices depend on (its ``situation``).

Two classes are ours, numbered from 207 like the single-engine local classes:

- MS_REPLICA_BEHIND: an MS replica is reachable but behind the authoritative
  one. Default TRUST_MS: catch it up from the authoritative replica (any MS
  write does it, ``ManagementService.update``); IGNORE leaves it as it is
  (the next MS write catches it up anyway, as raft would).
- MS_WITHOUT_QUORUM: the readable MS replicas are not a majority. Default
  INTERACT, choices [TRUST_MS (dictate from the best readable replica:
  ``dmg system recover``'s DICTATE, which loses what only the lost replicas
  held, so an admin decides), IGNORE]; with no readable replica only IGNORE.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..problems import Action, Cls
from ..report import Result

A = Action
SUGGESTED = " [suggested]"


@dataclass(frozen=True)
class SysClass:
    """One class. ``details``: action -> the engine's text for that option (without the
    suggestion mark); ``order(situation)``: the options in DAOS's index order;
    ``default_of(situation)``: the concrete default; ``accepts``: policy value -> the action
    it becomes (a value not here, or one that is not an option in the situation, becomes
    INTERACT); ``needs``: the situation keys the row reads; ``configurable``: False for
    UNKNOWN (always IGNORE); ``skips``: final actions after which the pool is not checked
    further; ``dry_skips``: actions whose dry run leaves a later phase nothing sane to read."""
    cls: Cls
    msg: str                                    # str.format template over the finding's names
    details: dict
    order: Callable[[dict], tuple]              # situation -> the options, in index order
    default_of: Callable[[dict], Action]        # situation -> the concrete default
    accepts: dict
    act_msgs: dict                              # action -> str.format template (pool, cont)
    needs: tuple = ()
    configurable: bool = True
    skips: frozenset = frozenset()
    dry_skips: frozenset = frozenset()

    def choices(self, situation: dict) -> list[tuple[Action, str]]:
        """(action, detail) in DAOS's index order, "[suggested]" on the first detail."""
        acts = self.order(situation)
        return [(a, _suggest(self.details[a]) if i == 0 else self.details[a])
                for i, a in enumerate(acts)]

    def default(self, situation: dict) -> Action:
        return self.default_of(situation)

    def message(self, **names) -> str:
        return self.msg.format_map(names)

    def act_msg(self, action: Action, **names) -> str:
        return self.act_msgs.get(action, _GENERIC.get(action, action.name)).format_map(names)


def _suggest(detail: str) -> str:
    return detail[:-1] + SUGGESTED + "." if detail.endswith(".") else detail + SUGGESTED


def _fixed(*acts):
    return lambda situation: tuple(acts)


def _first(situation_order):
    return lambda situation: situation_order(situation)[0]


_GENERIC = {A.IGNORE: "Ignore the finding", A.DISCARD: "Discard the object",
            A.READD: "Re-add the object", A.TRUST_MS: "Trust the MS",
            A.TRUST_PS: "Trust the PS", A.TRUST_TARGET: "Trust the target"}


def _svc_order(s):
    return (A.TRUST_PS, A.DISCARD, A.IGNORE) if s["replica"] else (A.DISCARD, A.IGNORE)


def _orphan_pool_default(s):
    return A.INTERACT if s["zombie"] else A.READD


def _pool_label_order(s):
    return (A.TRUST_MS, A.TRUST_PS, A.IGNORE) if s["ms_label"] else \
        (A.TRUST_PS, A.TRUST_MS, A.IGNORE)


def _cont_label_order(s):
    if not s["cs_label"]:
        return A.TRUST_TARGET, A.IGNORE
    return (A.TRUST_PS, A.IGNORE, A.TRUST_TARGET) if s["prop_label"] else (A.TRUST_PS, A.IGNORE)


def _ms_quorum_order(s):
    return (A.TRUST_MS, A.IGNORE) if s["replica"] else (A.IGNORE,)


def _ms_quorum_default(s):
    return A.INTERACT if s["replica"] else A.IGNORE


POOL_IGNORE = "Ignore the pool finding"

#: an orphan shard (outside the map, or on a DOWN rank): the same policies and messages
_SHARD_ACCEPTS = {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE}
_SHARD_MSGS = {A.DISCARD: "Discard the orphan shard", A.IGNORE: "Ignore the shard finding"}

ROWS = [
    SysClass(
        Cls.POOL_LESS_SVC_WITHOUT_QUORUM, "Check leader detects corrupted pool without quorum.",
        {A.TRUST_PS: "Start the pool service under DICTATE mode from the best replica.",
         A.DISCARD: "Destroy the corrupted pool from related engines to release space.",
         A.IGNORE: "Keep the corrupted pool on related engines, repair nothing."},
        _svc_order, _first(_svc_order),
        {A.DISCARD: A.DISCARD, A.IGNORE: A.IGNORE, A.TRUST_PS: A.TRUST_PS},
        {A.TRUST_PS: "Start the pool service for {pool} in DICTATE mode",
         A.DISCARD: "Discard the pool", A.IGNORE: POOL_IGNORE},
        needs=("replica",), skips=frozenset({A.DISCARD, A.IGNORE}),
        dry_skips=frozenset({A.TRUST_PS})),
    SysClass(
        Cls.POOL_NONEXIST_ON_MS, "Check leader detects orphan pool.",
        {A.READD: "Re-add the orphan pool back to MS.",
         A.DISCARD: "Destroy the orphan pool to release space.",
         A.IGNORE: "Keep the orphan pool entry on engines, repair nothing."},
        _fixed(A.READD, A.DISCARD, A.IGNORE), _orphan_pool_default,
        {A.READD: A.READD, A.TRUST_PS: A.READD, A.DISCARD: A.DISCARD, A.TRUST_MS: A.DISCARD,
         A.IGNORE: A.IGNORE},
        {A.READD: "Re-add the pool", A.DISCARD: "Discard the pool", A.IGNORE: POOL_IGNORE},
        needs=("zombie",), skips=frozenset({A.DISCARD, A.IGNORE})),
    SysClass(
        Cls.POOL_NONEXIST_ON_ENGINE, "Check leader detects dangling pool.",
        {A.DISCARD: "Discard the dangling pool entry from MS.",
         A.IGNORE: "Keep the dangling pool entry on MS, repair nothing."},
        _fixed(A.DISCARD, A.IGNORE), lambda s: A.DISCARD,
        {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE},
        {A.DISCARD: "Discard the pool", A.IGNORE: POOL_IGNORE},
        skips=frozenset({A.DISCARD, A.IGNORE})),
    SysClass(
        Cls.POOL_BAD_LABEL,
        "Check leader detects inconsistent pool label: {ms_label} (MS) vs {ps_label} (PS).",
        {A.TRUST_MS: "Trust the MS pool label and fix the pool label property.",
         A.TRUST_PS: "Trust the PS pool label and fix the pool label on MS.",
         A.IGNORE: "Keep the inconsistent pool label, repair nothing."},
        _pool_label_order, _first(_pool_label_order),
        {A.TRUST_MS: A.TRUST_MS, A.TRUST_PS: A.TRUST_PS, A.IGNORE: A.IGNORE},
        {A.TRUST_MS: "Reset the pool property using the MS label for {pool}",
         A.TRUST_PS: "Update the MS label to use the pool property value for {pool}",
         A.IGNORE: POOL_IGNORE},
        needs=("ms_label",)),
    SysClass(
        Cls.ENGINE_NONEXIST_IN_MAP,
        "Check engine detects orphan {what} entry in pool map for pool {pool}, rank {rank}, "
        "index {target}.",
        {A.DISCARD: "Discard the orphan pool shard to release space.",
         A.IGNORE: "Keep the orphan pool shard on engine, repair nothing."},
        _fixed(A.DISCARD, A.IGNORE), lambda s: A.DISCARD,
        _SHARD_ACCEPTS, _SHARD_MSGS),
    SysClass(
        Cls.ENGINE_DOWN_IN_MAP,
        "Check engine detects orphan {what} entry in pool map for pool {pool}, rank {rank}, "
        "index {target}: it is {state} in the map.",
        {A.IGNORE: "Keep the shard of the down rank so that it can be reintegrated.",
         A.DISCARD: "Discard the shard of the down rank to release space."},
        _fixed(A.IGNORE, A.DISCARD), lambda s: A.IGNORE,
        _SHARD_ACCEPTS, _SHARD_MSGS),
    SysClass(
        Cls.ENGINE_HAS_NO_STORAGE,
        "Check engine detects dangling {what} entry in pool map for pool {pool}, rank {rank}, "
        "index {target}, want to mark as DOWN.",
        {A.TRUST_TARGET: "Change the pool map entry of the missing storage to DOWN.",
         A.IGNORE: "Keep the dangling map entry in the pool map, repair nothing."},
        _fixed(A.TRUST_TARGET, A.IGNORE), lambda s: A.TRUST_TARGET,
        {A.TRUST_TARGET: A.TRUST_TARGET, A.IGNORE: A.IGNORE},
        {A.TRUST_TARGET: "Mark the dangling pool map entry DOWN for {pool}",
         A.IGNORE: "Ignore the pool map finding"},
        skips=frozenset({A.IGNORE}), dry_skips=frozenset({A.TRUST_TARGET})),
    SysClass(
        Cls.CONT_NONEXIST_ON_PS, "Check engine detects orphan container {pool}/{cont}.",
        {A.DISCARD: "Destroy the orphan container to release space.",
         A.IGNORE: "Keep the orphan container on engines, repair nothing."},
        _fixed(A.DISCARD, A.IGNORE), lambda s: A.DISCARD,
        {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE},
        {A.DISCARD: "Discard the container", A.IGNORE: "Ignore the container finding"}),
    SysClass(
        Cls.CONT_BAD_LABEL,
        "Check engine detects inconsistent container label: {cs_label} (CS) vs {prop_label} "
        "(property).",
        {A.TRUST_PS: "Trust the container label in container service.",
         A.TRUST_TARGET: "Trust the container label in container property.",
         A.IGNORE: "Keep the inconsistent container label, repair nothing."},
        _cont_label_order, _first(_cont_label_order),
        {A.TRUST_PS: A.TRUST_PS, A.TRUST_TARGET: A.TRUST_TARGET, A.IGNORE: A.IGNORE},
        {A.TRUST_PS: "Reset the container property using the CS label for {cont}",
         A.TRUST_TARGET: "Update the CS label to use the container property value for {cont}",
         A.IGNORE: "Ignore the container finding"},
        needs=("cs_label", "prop_label")),
    SysClass(
        Cls.UNKNOWN, "Check engine detects unknown inconsistency: {what}.",
        {A.IGNORE: "Ignore it; the pool is skipped."},
        _fixed(), lambda s: A.IGNORE, {}, {A.IGNORE: POOL_IGNORE},
        configurable=False, skips=frozenset({A.IGNORE})),
    SysClass(
        Cls.MS_REPLICA_BEHIND,
        "Check leader detects MS replica on rank {rank} behind the authoritative one "
        "(index {index} < {auth_index}).",
        {A.TRUST_MS: "Catch the replica up from the authoritative MS replica.",
         A.IGNORE: "Keep the replica behind; the next MS write catches it up."},
        _fixed(A.TRUST_MS, A.IGNORE), lambda s: A.TRUST_MS,
        {A.TRUST_MS: A.TRUST_MS, A.IGNORE: A.IGNORE},
        {A.TRUST_MS: "Catch the MS replica up from the authoritative one",
         A.IGNORE: "Ignore the MS finding"}),
    SysClass(
        Cls.MS_WITHOUT_QUORUM,
        "Check leader detects MS without quorum: {readable} of membership {membership} "
        "readable.",
        {A.TRUST_MS: "Restart the MS under DICTATE mode from the best readable replica "
                     "(what only the lost replicas held is lost).",
         A.IGNORE: "Keep the MS without quorum, repair nothing."},
        _ms_quorum_order, _ms_quorum_default,
        {A.TRUST_MS: A.TRUST_MS, A.IGNORE: A.IGNORE},
        {A.TRUST_MS: "Dictate the MS from its best readable replica",
         A.IGNORE: "Ignore the MS finding"},
        needs=("replica",)),
]

CLASSES: dict[Cls, SysClass] = {r.cls: r for r in ROWS}
SYSTEM_CLASSES = tuple(CLASSES)


def sys_class(cls) -> SysClass:
    """The row of a system class (a Cls or its number); KeyError for any other."""
    return CLASSES[Cls(cls)]


@dataclass(frozen=True)
class Decision:
    """What to do with one finding. ``action``: the final action (INTERACT: ask, with
    ``choices``); ``choices``: the ordered (action, detail) options of its situation;
    ``auto_ignored``: auto turned INTERACT into IGNORE (counted ignored)."""
    cls: Cls
    action: Action
    choices: tuple = ()
    dry_run: bool = False
    auto_ignored: bool = False
    names: dict = field(default_factory=dict)

    @property
    def interact(self) -> bool:
        return self.action == Action.INTERACT

    @property
    def result(self) -> int | None:
        """DAOS's result as far as the decision knows it: None while asking, IGNORED, DRY_RUN
        (1) for a dry run's would-be repair; None for a repair still to be applied (the leader
        sets REPAIRED or FAILED)."""
        if self.interact:
            return None
        if self.action == Action.IGNORE:
            return int(Result.IGNORED)
        return int(Result.DRY_RUN) if self.dry_run else None

    @property
    def skips_pool(self) -> bool:
        """The pool's later phases are not run after this (DAOS's cpr_skip)."""
        row = CLASSES[self.cls]
        return self.action in row.skips or (self.dry_run and self.action in row.dry_skips)

    def act_choices(self) -> list[str]:
        """The report's act_choices: every option while asking, none once resolved."""
        return [a.name for a, _ in self.choices] if self.interact else []

    def act_details(self) -> list[str]:
        """Every option's detail while asking; only the chosen one's once resolved."""
        if self.interact:
            return [d for _, d in self.choices]
        return [d for a, d in self.choices if a == self.action][:1] or \
            [CLASSES[self.cls].details.get(self.action, "")][:1]

    def act_msgs(self) -> list[str]:
        row = CLASSES[self.cls]
        acts = [a for a, _ in self.choices] if self.interact else [self.action]
        return [row.act_msg(a, **_names(self.names)) for a in acts]


def _names(names: dict) -> dict:
    return {"pool": names.get("pool", ""), "cont": names.get("cont", "")}


def _check_situation(row: SysClass, situation: dict) -> None:
    missing = [k for k in row.needs if k not in situation]
    if missing:
        raise ValueError(f"{row.cls.name} needs the situation's {', '.join(missing)}")


def decide(cls, situation: dict | None, policy=Action.DEFAULT, *, auto: bool = False,
           dry_run: bool = False, names: dict | None = None) -> Decision:
    """DAOS's per-class steps: the policy (DEFAULT: the situation's default); a policy the
    class does not accept, or that is not an option in this situation, becomes INTERACT;
    auto turns INTERACT into IGNORE; a dry run keeps the action (reported with result 1).
    ``names``: {"pool": ..., "cont": ...} for the act_msgs."""
    row = sys_class(cls)
    situation = situation or {}
    _check_situation(row, situation)
    choices = tuple(row.choices(situation))
    names = dict(names or {})
    if not row.configurable:
        return Decision(row.cls, Action.IGNORE, choices, dry_run, False, names)
    pol = Action(policy if policy is not None else Action.DEFAULT)
    if pol == Action.DEFAULT:
        act = row.default(situation)
    else:
        act = row.accepts.get(pol, Action.INTERACT)
        if act not in [a for a, _ in choices]:
            act = Action.INTERACT
    if act == Action.INTERACT and auto:
        return Decision(row.cls, Action.IGNORE, choices, dry_run, True, names)
    return Decision(row.cls, act, choices, dry_run, False, names)


def answer(cls, situation: dict | None, chosen, *, dry_run: bool = False,
           names: dict | None = None) -> Decision:
    """The decision an admin's answer (``repair``, or a policy set during the run) makes:
    DAOS's step 7, an action that is not one of the options is IGNORE."""
    row = sys_class(cls)
    situation = situation or {}
    _check_situation(row, situation)
    choices = tuple(row.choices(situation))
    act = Action(chosen)
    if act not in [a for a, _ in choices]:
        act = Action.IGNORE
    return Decision(row.cls, act, choices, dry_run, False, dict(names or {}))
