"""``ddb check`` on a system root (issue 15): dmg check's verbs, flags and query output.

The text is built by pure functions from a query document (tested on documents
made by hand), then the verbs run through the ``ddb`` command on copies of the
``system`` preset: DAOS's sequences (dry run, all-interactive start and repair,
stop/start, policies), pools by label, ``check engine``, and a golden query.
"""
from __future__ import annotations

import json
import os
import re

import click
import pytest
from click.testing import CliRunner

from ddb.checker.problems import Action, Cls
from ddb.cli import cli
from ddb.commands.check_report import policy_lines, query_lines
from ddb.commands.check_system import on_off, parse_policies, parse_seq, pool_uuids
from ddb.errors import DdbError
from support import sparse_copy

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "syscheck")
U1 = "aaaaaaaa-0000-0000-0000-000000000001"
U4 = "aaaaaaaa-0000-0000-0000-000000000004"
U5 = "aaaaaaaa-0000-0000-0000-000000000005"
LEADER = 0x7FFFFF << 40


def ddb(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def report(seq, cls, action, **more) -> dict:
    doc = {"seq": seq, "class": cls, "action": action, "result": 0, "rank": 0, "target": 0,
           "pool_uuid": "", "pool_label": "", "cont_uuid": "", "cont_label": "", "objid": "",
           "dkey": "", "akey": "", "timestamp": 0, "msg": "", "act_choices": [], "act_details": [],
           "act_msgs": []}
    return {**doc, **more}


DOC = {"status": "RUNNING", "scan_phase": "CSP_POOL_LIST", "start_time": "2026-01-02 03:04:05", "leader": 0,
       "pools": {U1: {"uuid": U1, "label": "tank", "status": "CPS_CHECKED", "phase": "CSP_DONE",
                      "rank_count": 4, "start_time": "2026-01-02 03:04:06", "remaining": 0, "elapsed": 1}},
       "reports": [
           report(LEADER | 5, "POOL_NONEXIST_ON_MS", "INTERACT", pool_uuid=U5,
                  msg="Check leader detects orphan pool.", act_choices=["READD", "DISCARD", "IGNORE"],
                  act_details=["Re-add the orphan pool back to MS [suggested].", "Discard the orphan pool.",
                               "Keep the orphan pool."],
                  act_msgs=["Re-add the pool", "Discard the pool", "Ignore the pool finding"]),
           report(LEADER | 4, "POOL_NONEXIST_ON_ENGINE", "DISCARD", result=1, pool_uuid=U4,
                  pool_label="pool-4", msg="Check leader detects dangling pool.",
                  act_details=["Discard the dangling pool entry from MS [suggested]."],
                  act_msgs=["Discard the pool"])]}


# --- the text, from documents made by hand -------------------------------------------------------

def test_query_text_is_dmgs_layout_sorted_by_class_then_seq():
    assert query_lines(DOC) == [
        "DAOS System Checker Info",
        "  Current status: RUNNING (started at: 2026-01-02 03:04:05)",
        "  Current phase: POOL_LIST (Comparing pool list on MS and storage nodes)",
        "  Checking 1 pool",
        "",
        "Inconsistency Reports:",
        "- Resolved:",
        "ID                  Class                    Pool    Resolution",
        "------------------  -----------------------  ------  -----------------",
        "0x7fffff0000000004  POOL_NONEXIST_ON_ENGINE  pool-4  DISCARD (dry run)",
        "",
        "- Action Required:",
        "ID                  Class                Pool                                  Repair Options",
        "------------------  -------------------  ------------------------------------  "
        "-------------------------------------------------",
        f"0x7fffff0000000005  POOL_NONEXIST_ON_MS  {U5}  0: Re-add the orphan pool back to MS [suggested].",
        f"{'':79}1: Discard the orphan pool.",
        f"{'':79}2: Keep the orphan pool.",
    ]


def test_query_text_verbose_has_pool_lines_and_one_block_per_report():
    lines = query_lines(DOC, verbose=True)
    assert lines[4:7] == ["", "Per-Pool Checker Info:",
                          f"  Pool {U1}: 4 ranks, status: CPS_CHECKED, phase: CSP_DONE, "
                          "started: 2026-01-02 03:04:06"]
    blocks = lines[lines.index("Inconsistency Reports:") + 1:]
    assert blocks == [
        "ID: 0x7fffff0000000005", "Class: POOL_NONEXIST_ON_MS", "Message: Check leader detects orphan pool.",
        f"Pool: {U5}", "Potential resolution actions:",
        "  0: Re-add the orphan pool back to MS [suggested].", "  1: Discard the orphan pool.",
        "  2: Keep the orphan pool.", "",
        "ID: 0x7fffff0000000004", "Class: POOL_NONEXIST_ON_ENGINE",
        "Message: Check leader detects dangling pool.", f"Pool: pool-4 ({U4})",
        "Resolution: DISCARD (dry run - not applied)"]


def test_query_text_completed_without_reports_and_a_container_column():
    done = {**DOC, "status": "COMPLETED", "scan_phase": "CSP_DONE", "reports": None}
    assert query_lines(done)[2:] == ["  Current phase: DONE (Check completed)", "  Checked 1 pool", "",
                                     "No reports to display."]
    cont = report(7, "CONT_NONEXIST_ON_PS", "DISCARD", pool_label="tank", cont_uuid=U1,
                  act_details=["Discard the orphan container [suggested]."])
    failed = report(3, "POOL_BAD_LABEL", "TRUST_MS", result=-5, pool_label="tank")
    text = query_lines({"status": "COMPLETED", "reports": [cont, failed]})
    assert text[:2] == ["DAOS System Checker Info", "  Current status: COMPLETED"]
    assert text[5].split() == ["ID", "Class", "Pool", "Cont", "Resolution"]
    assert text[7].split() == ["0x3", "POOL_BAD_LABEL", "tank", "TRUST_MS", "(failed:", "-5)"]
    assert text[8].split() == ["0x7", "CONT_NONEXIST_ON_PS", "tank", U1, "DISCARD"]


def test_policy_text():
    doc = {"checker_flags": "none", "policies": ["POOL_BAD_LABEL:DEFAULT", "CONT_BAD_LABEL:INTERACT"]}
    assert policy_lines(doc) == ["Checker flags: none",
                                 "Inconsistency Class    Repair Action",
                                 "---------------------  ---------------",
                                 "POOL_BAD_LABEL         DEFAULT",
                                 "CONT_BAD_LABEL         INTERACT"]


# --- parsing --------------------------------------------------------------------------------------

def test_parse_flags_policies_seqs_and_pools():
    assert on_off((), "--auto") is None and on_off(("on",), "-a") is True and on_off(("off", "off"), "-a") is False
    with pytest.raises(click.UsageError, match="mutually exclusive"):
        on_off(("on", "off"), "--failout")
    with pytest.raises(click.UsageError, match="must be on or off"):
        on_off(("yes",), "--failout")
    assert parse_policies(["CIC_POOL_BAD_LABEL:CIA_TRUST_PS,cont_bad_label:ignore", "UNKNOWN:IGNORE"]) == {
        Cls.POOL_BAD_LABEL: Action.TRUST_PS, Cls.CONT_BAD_LABEL: Action.IGNORE, Cls.UNKNOWN: Action.IGNORE}
    with pytest.raises(click.UsageError, match='invalid inconsistency action "CIA_X"'):
        parse_policies(["POOL_BAD_LABEL:CIA_X"])
    with pytest.raises(click.UsageError, match="want CLASS:ACTION"):
        parse_policies(["POOL_BAD_LABEL"])
    assert parse_seq("0x10") == 16 and parse_seq("16") == 16
    with pytest.raises(click.UsageError, match="invalid sequence number"):
        parse_seq("x1")
    ms = {U1: {"uuid": U1, "label": "tank"}, U4: {"uuid": U4, "label": "pool-4"}}
    assert pool_uuids(["tank", U1.upper(), U5, "pool-4"], ms) == [U1, U5, U4]
    with pytest.raises(DdbError, match="unable to find pool service"):
        pool_uuids(["nosuch"], ms)


# --- through the ddb command, on the system preset ------------------------------------------------

@pytest.fixture
def system(built, tmp_path):
    """A private copy of the system preset, its checker enabled."""
    dst = str(tmp_path / "sys")
    sparse_copy(built("system"), dst)
    r = ddb("check", "enable", "-D", dst)
    assert (r.exit_code, r.stdout) == (0, "System checker enabled\n")
    return dst


def injected(root: str, problem: str, **kw) -> dict:
    from fixtures.system_injectors import inject_system
    return inject_system(root, problem, **kw)


def query(root: str, *pools) -> dict:
    r = ddb("check", "query", "--json", "-D", root, *pools)
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def engine_files(root: str) -> dict:
    from support import file_state
    return {p: v for p, v in file_state(root).items() if "/ms/" not in p}


def test_dry_run_reports_the_injected_class_and_changes_no_engine_file(system):
    where = injected(system, "POOL_NONEXIST_ON_ENGINE")
    before = engine_files(system)
    r = ddb("check", "start", "-n", "-D", system)
    assert r.exit_code == 4, r.stderr
    (rep,) = query(system)["reports"]
    assert (rep["class"], rep["action"], rep["result"], rep["pool_uuid"]) == \
        ("POOL_NONEXIST_ON_ENGINE", "DISCARD", 1, where["pool"])
    assert "dangling pool" in rep["msg"]
    assert engine_files(system) == before
    text = ddb("check", "query", "-D", system).stdout
    assert f"POOL_NONEXIST_ON_ENGINE  {where['label']}  DISCARD (dry run)" in text


def test_all_interactive_start_query_until_a_finding_then_repair(system):
    where = injected(system, "POOL_NONEXIST_ON_ENGINE")
    assert ddb("check", "set-policy", "--all-interactive", "-D", system).exit_code == 0
    assert ddb("check", "start", "-D", system).exit_code == 4
    q = query(system)
    assert q["status"] == "RUNNING" and q["pools"][where["pool"]]["status"] == "CPS_PENDING"
    (rep,) = q["reports"]
    assert rep["action"] == "INTERACT" and rep["act_choices"] == ["DISCARD", "IGNORE"]
    text = ddb("check", "query", "-D", system).stdout
    assert "- Action Required:" in text and "0: Discard the dangling pool entry from MS [suggested]." in text
    r = ddb("check", "repair", "-D", system, hex(rep["seq"]), "0")
    assert (r.exit_code, r.stdout) == (0, "Repair request sent\n")
    q = query(system)
    (done,) = q["reports"]
    assert (done["seq"], done["action"], done["result"], done["act_choices"]) == (rep["seq"], "DISCARD", 0, [])
    assert q["status"] == "COMPLETED"
    assert "- Resolved:" in ddb("check", "query", "-D", system).stdout
    assert ddb("check", "set-policy", "--reset-defaults", "-D", system).exit_code == 0
    assert ddb("check", "start", "-n", "-D", system).exit_code == 0       # repaired: clean now
    assert query(system)["reports"] is None


def test_stop_then_start_keeps_exactly_one_finding(system):
    injected(system, "POOL_NONEXIST_ON_ENGINE")
    ddb("check", "set-policy", "--all-interactive", "-D", system)
    assert ddb("check", "start", "-D", system).exit_code == 4
    r = ddb("check", "stop", "-D", system)
    assert (r.exit_code, r.stdout) == (0, "Checker status: STOPPED\n")
    assert ddb("check", "start", "-D", system).exit_code == 4
    reports = query(system)["reports"]
    assert [r["class"] for r in reports] == ["POOL_NONEXIST_ON_ENGINE"]


def test_repair_errors(system):
    injected(system, "POOL_NONEXIST_ON_ENGINE")
    ddb("check", "set-policy", "--all-interactive", "-D", system)
    ddb("check", "start", "-D", system)
    seq = query(system)["reports"][0]["seq"]
    for args, err in (((hex(seq + 1), "0"), f"finding {seq + 1:#x} not found"),
                      ((str(seq), "2"), f"invalid action 2 for seq {seq:#x}")):
        r = ddb("check", "repair", "-D", system, *args)
        assert (r.exit_code, r.stderr) == (8, f"ERROR: ddb: {err}\n")
    assert ddb("check", "repair", "-D", system, str(seq), "0x1").exit_code == 0      # IGNORE
    r = ddb("check", "repair", "-D", system, hex(seq), "0")
    assert (r.exit_code, r.stderr) == (8, f"ERROR: ddb: finding {seq:#x} is already resolved: IGNORE\n")
    r = ddb("check", "repair", "-D", system, "nope", "0")
    assert r.exit_code == 16 and "invalid sequence number 'nope'" in r.stderr


def test_set_and_get_policy_round_trip_and_errors(system):
    r = ddb("check", "set-policy", "-D", system, "CIC_POOL_BAD_LABEL:CIA_TRUST_PS,CONT_BAD_LABEL:IGNORE")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(ddb("--json", "check", "get-policy", "-D", system).stdout)
    assert "POOL_BAD_LABEL:TRUST_PS" in doc["policies"] and "CONT_BAD_LABEL:IGNORE" in doc["policies"]
    assert set(doc) == {"checker_flags", "policies"}
    text = ddb("check", "get-policy", "-D", system, "POOL_BAD_LABEL").stdout.splitlines()
    assert text[0].startswith("Checker flags: ") and text[-1].split() == ["POOL_BAD_LABEL", "TRUST_PS"]
    assert len(text) == 4
    ddb("check", "set-policy", "--reset-defaults", "-D", system)
    doc = json.loads(ddb("--json", "check", "get-policy", "-D", system).stdout)
    assert "POOL_BAD_LABEL:DEFAULT" in doc["policies"]
    for args, err in ((("--all-interactive", "POOL_BAD_LABEL:IGNORE"), "cannot be combined"),
                      (("--reset-defaults", "--all-interactive"), "cannot be combined"),
                      (("POOL_BAD_LABEL:CIA_X",), 'invalid inconsistency action "CIA_X"'),
                      (("NO_SUCH:IGNORE",), "invalid inconsistency class")):
        r = ddb("check", "set-policy", "-D", system, *args)
        assert r.exit_code == 16 and err in r.stderr, (args, r.stderr)


def test_pools_by_label_and_verbs_refused_while_disabled(system):
    where = injected(system, "POOL_NONEXIST_ON_ENGINE")
    assert ddb("check", "start", "-n", "-D", system, "tank").exit_code == 0        # another pool
    assert ddb("check", "start", "-n", "-D", system, where["label"]).exit_code == 4
    assert [r["pool_label"] for r in query(system, where["label"])["reports"]] == [where["label"]]
    assert query(system, "tank")["reports"] is None
    r = ddb("check", "start", "-n", "-D", system, "nosuch")
    assert (r.exit_code, r.stderr) == (8, "ERROR: ddb: unable to find pool service: nosuch\n")
    r = ddb("check", "start", "-a", "on", "--auto=off", "-D", system)
    assert r.exit_code == 16 and "mutually exclusive" in r.stderr
    assert ddb("check", "disable", "-D", system).exit_code == 0
    for verb in (("start", "-n"), ("stop",), ("repair", "1", "0")):
        r = ddb("check", *verb, "-D", system)
        assert (r.exit_code, r.stderr) == (8, "ERROR: ddb: system checker is not enabled\n"), verb


def test_check_engine_answers_a_clues_request(system):
    from vosfmt.system import rank_root
    req = {"op": "clues", "rank": 0, "root": rank_root(system, 0)}
    r = ddb("check", "engine", input=json.dumps(req))
    assert r.exit_code == 0, r.stderr
    resp = json.loads(r.stdout)
    assert resp["ok"] and resp["rank"] == 0 and resp["pools"]
    for bad in ("not json", "[1]", json.dumps({"op": "nosuch", "rank": 0, "root": system})):
        r = ddb("check", "engine", input=bad)
        assert r.exit_code == 8 and json.loads(r.stdout)["ok"] is False, bad


def _normalised(text: str) -> str:
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "YYYY-MM-DD hh:mm:ss", text)
    return re.sub(r"0x7fffff[0-9a-f]{10}", "0x7fffffSSSSSSSSSS", text)


def test_golden_query_of_a_dry_run(system):
    injected(system, "POOL_NONEXIST_ON_ENGINE")
    ddb("check", "start", "-n", "-D", system)
    out = []
    for args in (("query",), ("query", "-v")):
        r = ddb("check", *args, "-D", system)
        out += [f"$ ddb check {' '.join(args)} -D SYS", *r.stdout.splitlines(), f"Exit status is {r.exit_code}"]
    text = _normalised("\n".join(out) + "\n")
    path = os.path.join(GOLDEN, "query_dry_run.txt")
    if os.environ.get("DDB_UPDATE_GOLDEN"):
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        assert f.read() == text


def test_single_engine_query_reports_carry_dmgs_keys(image_copy, tmp_path, monkeypatch):
    from ddb.checker.dryrun import STATE_ENV
    from ddb.checker.problems import Code
    from fixtures.corrupt import inject
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    root = image_copy("small")
    inject(root, Code.VALUE_CSUM_MISMATCH, seed=0)
    assert ddb("check", "start", "-n", "-D", root).exit_code == 4
    (rep,) = query(root)["reports"]
    assert {"seq", "class", "action", "result", "rank", "target", "pool_uuid", "pool_label", "cont_uuid",
            "cont_label", "objid", "dkey", "akey", "timestamp", "msg", "act_choices", "act_details",
            "act_msgs"} <= set(rep)
    assert rep["class"] == Cls.CSUM_FAILURE and rep["action"] == Action.TRUST_TARGET    # numbers, as before
    assert rep["pool_uuid"] in rep["shard"] and rep["cont_uuid"] and rep["objid"] and rep["dkey"]
    assert rep["act_details"] == rep["act_msgs"] == rep["details"] and rep["rank"] is None


def test_nothing_is_written_under_ddbs_dry_run(system):
    from support import file_state
    before = file_state(system)
    for verb in (("start", "-n"), ("stop",), ("disable",), ("set-policy", "--reset-defaults")):
        r = ddb("--dry-run", "check", *verb, "-D", system)
        assert r.exit_code == 8 and "nothing was written" in r.stderr, verb
    assert file_state(system) == before
