"""Deciding what to do with a finding, and the policies stored for later runs.

The decision follows DAOS's per-class algorithm (policy, DEFAULT -> the
problem's default, an action that is not a choice -> INTERACT, auto turns
INTERACT into IGNORE, dry runs change nothing) and e2fsck's answer modes
(-n, -y, -p preen, or a question on a terminal).
"""
from __future__ import annotations

from .finding import Finding
from .problems import Action
from .store import reading, writing


class PreenHalt(Exception):
    """Preen met a finding whose repair is not safe without asking: the run stops there."""

    def __init__(self, finding: Finding):
        self.finding = finding


class Decider:
    """The decisions of one run. ``ask``: (finding, choices) -> (Action, for the whole class),
    for interactive runs; an answer for a whole class is remembered."""

    def __init__(self, options, ask=None):
        self.opt = options
        self.ask = ask
        self.remember: dict = {}            # class -> Action ('a' = the suggestion for all)

    def decide(self, f: Finding, stored_policies: dict) -> Action:
        prob = f.problem
        if prob.report_only:
            return Action.IGNORE
        acts = [a for a, _ in prob.choices]
        default = Action(f.ctx["default"]) if "default" in f.ctx else prob.default
        if default == Action.IGNORE and self.opt.mode in ("yes", "preen"):
            return Action.IGNORE           # nothing can repair this one
        pol = Action.DEFAULT if self.opt.mode == "yes" else \
            Action(self.opt.policies.get(prob.cls, stored_policies.get(int(prob.cls), Action.DEFAULT)))
        act = default if pol == Action.DEFAULT else pol
        if act not in acts and act != Action.IGNORE:
            act = Action.INTERACT
        if self.opt.mode == "interactive" and not self.opt.dry_run:
            act = Action.INTERACT
        if self.opt.mode == "preen" and act != Action.IGNORE and not prob.safe_auto:
            raise PreenHalt(f)
        if act == Action.INTERACT and self.opt.auto:
            act = Action.IGNORE
        if act == Action.INTERACT and self.ask is not None and not self.opt.dry_run:
            if prob.cls in self.remember:
                return self.remember[prob.cls]
            choice, for_all = self.ask(f, prob.choices)
            if for_all:
                self.remember[prob.cls] = choice
            return choice
        return act


def stored_policies(db_root: str, last: bool = False) -> tuple[dict, dict]:
    """(policies, the last instance's flags) as stored in the image; ``last``: the last run's."""
    with reading(db_root) as store:
        if store is None:
            return {}, {}
        pol, inst = store.policies(), store.instance()
    flags = {k: inst.get(k) for k in ("dry_run", "auto", "failout")}
    if last:
        pol = {int(k): v for k, v in inst.get("policies", {}).items()} or pol
    return pol, flags


def update_policies(db_root: str, change) -> dict:
    """Store ``change(policies)`` under the exclusive image lock; returns it."""
    with writing(db_root) as store:
        pol = change(store.policies())
        store.put(policies=pol)
    return pol
