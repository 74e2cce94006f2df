"""The system classes against upstream-checkers.md §1.4, written out here independently of
the table in ddb.checker.system.classes: per class and situation the default, every policy
value and what it becomes (the rest INTERACT), auto, the choices in order with their details
and act_msgs, dry runs, and the answer to an interaction (not an option: IGNORE)."""
from __future__ import annotations

import pytest

from ddb.checker.problems import Action as A
from ddb.checker.problems import Cls
from ddb.checker.report import Result
from ddb.checker.system.classes import CLASSES, SUGGESTED, answer, decide, sys_class

# class -> [(situation, default, choices in index order, {policy: what it becomes})]
TABLE = {
    Cls.POOL_LESS_SVC_WITHOUT_QUORUM: [
        ({"replica": True}, A.TRUST_PS, [A.TRUST_PS, A.DISCARD, A.IGNORE],
         {A.TRUST_PS: A.TRUST_PS, A.DISCARD: A.DISCARD, A.IGNORE: A.IGNORE}),
        ({"replica": False}, A.DISCARD, [A.DISCARD, A.IGNORE],
         {A.DISCARD: A.DISCARD, A.IGNORE: A.IGNORE})],
    Cls.POOL_NONEXIST_ON_MS: [
        ({"zombie": False}, A.READD, [A.READD, A.DISCARD, A.IGNORE],
         {A.READD: A.READD, A.TRUST_PS: A.READD, A.DISCARD: A.DISCARD, A.TRUST_MS: A.DISCARD,
          A.IGNORE: A.IGNORE}),
        ({"zombie": True}, A.INTERACT, [A.READD, A.DISCARD, A.IGNORE],
         {A.READD: A.READD, A.TRUST_PS: A.READD, A.DISCARD: A.DISCARD, A.TRUST_MS: A.DISCARD,
          A.IGNORE: A.IGNORE})],
    Cls.POOL_NONEXIST_ON_ENGINE: [
        ({}, A.DISCARD, [A.DISCARD, A.IGNORE],
         {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE})],
    Cls.POOL_BAD_LABEL: [
        ({"ms_label": "tank"}, A.TRUST_MS, [A.TRUST_MS, A.TRUST_PS, A.IGNORE],
         {A.TRUST_MS: A.TRUST_MS, A.TRUST_PS: A.TRUST_PS, A.IGNORE: A.IGNORE}),
        ({"ms_label": ""}, A.TRUST_PS, [A.TRUST_PS, A.TRUST_MS, A.IGNORE],
         {A.TRUST_MS: A.TRUST_MS, A.TRUST_PS: A.TRUST_PS, A.IGNORE: A.IGNORE}),
        ({"ms_label": None}, A.TRUST_PS, [A.TRUST_PS, A.TRUST_MS, A.IGNORE],
         {A.TRUST_MS: A.TRUST_MS, A.TRUST_PS: A.TRUST_PS, A.IGNORE: A.IGNORE})],
    Cls.ENGINE_NONEXIST_IN_MAP: [
        ({}, A.DISCARD, [A.DISCARD, A.IGNORE],
         {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE})],
    Cls.ENGINE_DOWN_IN_MAP: [
        ({}, A.IGNORE, [A.IGNORE, A.DISCARD],
         {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE})],
    Cls.ENGINE_HAS_NO_STORAGE: [
        ({}, A.TRUST_TARGET, [A.TRUST_TARGET, A.IGNORE],
         {A.TRUST_TARGET: A.TRUST_TARGET, A.IGNORE: A.IGNORE})],
    Cls.CONT_NONEXIST_ON_PS: [
        ({}, A.DISCARD, [A.DISCARD, A.IGNORE],
         {A.DISCARD: A.DISCARD, A.TRUST_PS: A.DISCARD, A.IGNORE: A.IGNORE})],
    Cls.CONT_BAD_LABEL: [
        # trusting an empty side is not an option: it becomes INTERACT
        ({"cs_label": "home", "prop_label": "home-fault"}, A.TRUST_PS,
         [A.TRUST_PS, A.IGNORE, A.TRUST_TARGET],
         {A.TRUST_PS: A.TRUST_PS, A.TRUST_TARGET: A.TRUST_TARGET, A.IGNORE: A.IGNORE}),
        ({"cs_label": "home", "prop_label": ""}, A.TRUST_PS, [A.TRUST_PS, A.IGNORE],
         {A.TRUST_PS: A.TRUST_PS, A.IGNORE: A.IGNORE}),
        ({"cs_label": "", "prop_label": "home"}, A.TRUST_TARGET, [A.TRUST_TARGET, A.IGNORE],
         {A.TRUST_TARGET: A.TRUST_TARGET, A.IGNORE: A.IGNORE})],
    Cls.MS_REPLICA_BEHIND: [
        ({}, A.TRUST_MS, [A.TRUST_MS, A.IGNORE], {A.TRUST_MS: A.TRUST_MS, A.IGNORE: A.IGNORE})],
    Cls.MS_WITHOUT_QUORUM: [
        ({"replica": True}, A.INTERACT, [A.TRUST_MS, A.IGNORE],
         {A.TRUST_MS: A.TRUST_MS, A.IGNORE: A.IGNORE}),
        ({"replica": False}, A.IGNORE, [A.IGNORE], {A.IGNORE: A.IGNORE})],
}
NUMBERS = {"POOL_LESS_SVC_WITHOUT_QUORUM": 2, "POOL_NONEXIST_ON_MS": 4,
           "POOL_NONEXIST_ON_ENGINE": 5, "POOL_BAD_LABEL": 7, "ENGINE_NONEXIST_IN_MAP": 8,
           "ENGINE_DOWN_IN_MAP": 9, "ENGINE_HAS_NO_STORAGE": 10, "CONT_NONEXIST_ON_PS": 11,
           "CONT_BAD_LABEL": 12, "UNKNOWN": 100, "MS_REPLICA_BEHIND": 207,
           "MS_WITHOUT_QUORUM": 208}
CASES = [(cls, *case) for cls, cases in TABLE.items() for case in cases]
IDS = [f"{c[0].name}-{i}" for i, c in enumerate(CASES)]
POLICIES = [a for a in A if a != A.DEFAULT]


def test_numbers_are_daos_and_every_class_has_a_row():
    assert {c.name: int(c) for c in CLASSES} == NUMBERS
    assert set(TABLE) | {Cls.UNKNOWN} == set(CLASSES)


@pytest.mark.parametrize("cls, situation, default, order, accepts", CASES, ids=IDS)
def test_default_and_choices(cls, situation, default, order, accepts):
    d = decide(cls, situation)
    assert d.action == default
    assert [a for a, _ in d.choices] == order
    details = [t for _, t in d.choices]
    assert details[0].endswith(SUGGESTED + ".")
    assert not any(SUGGESTED in t for t in details[1:])
    assert d.interact == (default == A.INTERACT)
    assert decide(cls, situation, A.DEFAULT).action == default


@pytest.mark.parametrize("cls, situation, default, order, accepts", CASES, ids=IDS)
def test_every_policy_value(cls, situation, default, order, accepts):
    for pol in POLICIES:
        want = accepts.get(pol, A.INTERACT)
        d = decide(cls, situation, pol)
        assert d.action == want, pol.name
        assert not d.auto_ignored
        if want == A.INTERACT:      # asked with every option, the suggestion first
            assert d.act_choices() == [a.name for a in order]
            assert d.act_details() == [t for _, t in d.choices]
            assert len(d.act_msgs()) == len(order)
            assert d.result is None
        else:
            assert d.act_choices() == []
            assert len(d.act_details()) == 1 and len(d.act_msgs()) == 1


@pytest.mark.parametrize("cls, situation, default, order, accepts", CASES, ids=IDS)
def test_auto_turns_interact_into_ignore(cls, situation, default, order, accepts):
    for pol in [A.DEFAULT, *POLICIES]:
        plain = decide(cls, situation, pol)
        d = decide(cls, situation, pol, auto=True)
        if plain.action == A.INTERACT:
            assert (d.action, d.auto_ignored, d.result) == (A.IGNORE, True, Result.IGNORED)
        else:
            assert (d.action, d.auto_ignored) == (plain.action, False)


@pytest.mark.parametrize("cls, situation, default, order, accepts", CASES, ids=IDS)
def test_dry_run_keeps_the_action_with_result_1(cls, situation, default, order, accepts):
    for pol in [A.DEFAULT, *POLICIES]:
        plain, dry = decide(cls, situation, pol), decide(cls, situation, pol, dry_run=True)
        assert dry.action == plain.action
        want = None if dry.interact else Result.IGNORED if dry.action == A.IGNORE \
            else Result.DRY_RUN
        assert dry.result == want
        assert plain.result == (Result.IGNORED if plain.action == A.IGNORE else None)


@pytest.mark.parametrize("cls, situation, default, order, accepts", CASES, ids=IDS)
def test_an_answer_that_is_not_an_option_is_ignore(cls, situation, default, order, accepts):
    for act in A:
        d = answer(cls, situation, act)
        assert d.action == (act if act in order else A.IGNORE)
        assert not d.interact and d.act_choices() == []


def test_unknown_is_always_ignored_and_skips_the_pool():
    for pol in [A.DEFAULT, *POLICIES]:
        for auto in (False, True):
            d = decide(Cls.UNKNOWN, {}, pol, auto=auto)
            assert (d.action, d.choices, d.auto_ignored) == (A.IGNORE, (), False)
            assert d.skips_pool
    assert "unknown inconsistency: strange map entry" in \
        sys_class(Cls.UNKNOWN).message(what="strange map entry")


def test_missing_situation_is_refused():
    with pytest.raises(ValueError, match="replica"):
        decide(Cls.POOL_LESS_SVC_WITHOUT_QUORUM, {})
    with pytest.raises(ValueError, match="cs_label, prop_label"):
        decide(Cls.CONT_BAD_LABEL, {}, A.TRUST_PS)
    with pytest.raises(KeyError):
        decide(Cls.SB_DAMAGED, {})


DAOS_MESSAGES = [
    (Cls.POOL_NONEXIST_ON_MS, {}, "Check leader detects orphan pool."),
    (Cls.POOL_NONEXIST_ON_ENGINE, {}, "Check leader detects dangling pool."),
    (Cls.POOL_LESS_SVC_WITHOUT_QUORUM, {}, "Check leader detects corrupted pool without quorum."),
    (Cls.ENGINE_NONEXIST_IN_MAP, {"what": "rank", "pool": "p", "rank": 4, "target": 0},
     "Check engine detects orphan rank entry in pool map"),
    (Cls.ENGINE_HAS_NO_STORAGE, {"what": "target", "pool": "p", "rank": 1, "target": 0},
     "Check engine detects dangling target entry in pool map"),
    (Cls.ENGINE_DOWN_IN_MAP, {"what": "rank", "pool": "p", "rank": 1, "target": 0,
                              "state": "DOWN"}, "orphan rank entry in pool map"),
    (Cls.CONT_BAD_LABEL, {"cs_label": "home", "prop_label": "home-fault"},
     "Check engine detects inconsistent container label: home (CS) vs home-fault (property)."),
    (Cls.CONT_NONEXIST_ON_PS, {"pool": "p", "cont": "c"}, "orphan container"),
    (Cls.POOL_BAD_LABEL, {"ms_label": "tank", "ps_label": "tank-fault"},
     "inconsistent pool label: tank (MS) vs tank-fault (PS)"),
    (Cls.MS_REPLICA_BEHIND, {"rank": 2, "index": 3, "auth_index": 4}, "rank 2 behind"),
    (Cls.MS_WITHOUT_QUORUM, {"readable": [0], "membership": [0, 1, 2]}, "MS without quorum"),
]


@pytest.mark.parametrize("cls, names, text", DAOS_MESSAGES, ids=[m[0].name for m in DAOS_MESSAGES])
def test_messages_hold_daos_texts(cls, names, text):
    assert text in sys_class(cls).message(**names)


def test_act_msgs_and_details_are_daos_texts():
    orphan = decide(Cls.POOL_NONEXIST_ON_MS, {"zombie": False}, A.INTERACT, names={"pool": "P"})
    assert orphan.act_msgs() == ["Re-add the pool", "Discard the pool", "Ignore the pool finding"]
    assert orphan.act_details()[0] == "Re-add the orphan pool back to MS [suggested]."
    label = decide(Cls.POOL_BAD_LABEL, {"ms_label": "tank"}, A.INTERACT, names={"pool": "P"})
    assert label.act_msgs() == ["Reset the pool property using the MS label for P",
                                "Update the MS label to use the pool property value for P",
                                "Ignore the pool finding"]
    cont = decide(Cls.CONT_BAD_LABEL, {"cs_label": "", "prop_label": "x"}, A.INTERACT,
                  names={"pool": "P", "cont": "C"})
    assert cont.act_msgs()[0] == "Update the CS label to use the container property value for C"
    orphan_cont = decide(Cls.CONT_NONEXIST_ON_PS, {}, names={"pool": "P", "cont": "C"})
    assert orphan_cont.act_msgs() == ["Discard the container"]
    # resolved: only the chosen option's detail, without the suggestion mark's position moving
    assert orphan_cont.act_details() == ["Destroy the orphan container to release space "
                                         "[suggested]."]


def test_which_final_actions_end_the_pool():
    skip = {(c, a) for c in CLASSES for a in A if a in CLASSES[c].skips}
    assert (Cls.ENGINE_HAS_NO_STORAGE, A.IGNORE) in skip
    assert (Cls.POOL_LESS_SVC_WITHOUT_QUORUM, A.IGNORE) in skip
    assert (Cls.POOL_NONEXIST_ON_MS, A.DISCARD) in skip
    assert (Cls.CONT_BAD_LABEL, A.IGNORE) not in skip
    # a dry-run pool-map edit or DICTATE start leaves the later phases nothing sane to read
    assert decide(Cls.ENGINE_HAS_NO_STORAGE, {}, dry_run=True).skips_pool
    assert not decide(Cls.ENGINE_HAS_NO_STORAGE, {}).skips_pool
    assert decide(Cls.POOL_LESS_SVC_WITHOUT_QUORUM, {"replica": True}, dry_run=True).skips_pool
