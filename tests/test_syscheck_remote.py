"""The remote transport (``ddb.checker.system.remote``): the check engines on two "hosts".

ClusterShell's local ``exec`` worker stands in for ssh (no ssh server needed):
each host name picks its own directory through ``%h`` in ``--root``, and the
system preset's ranks are split between the two (rank 0-2 on node1, 3-4 on
node2) while the leader's side keeps ms/ only. Clues from both hosts, dry runs
and repairs give what the local transport gives on an unsplit copy (reports,
exit codes, and the system_dump of the reassembled image); a host that fails
or does not answer is an error naming it (exit 8), never a missing rank; the
CLI's ``--hosts`` / ``--root``; ClusterShell is loaded by the remote transport
only.
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys

import pytest
from ClusterShell.Worker.Exec import ExecWorker

from ddb.checker.errors import CheckError
from ddb.checker.system.engine import handle
from ddb.checker.system.leader import SystemChecker
from ddb.checker.system.remote import ClusterShellTransport
from ddb.checker.system.transport import LocalTransport
from fixtures.system_injectors import inject_system
from support import sparse_copy
from vosfmt.sysdump import system_dump

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS = {"node1": (0, 1, 2), "node2": (3, 4)}
ENGINE = f"{sys.executable} -m ddb check engine"
BIN = os.path.dirname(sys.executable)

pytestmark = pytest.mark.slow


class Split:
    """A copy of the system preset for the local transport, and one split between the
    leader (ms/) and two hosts' directories, damaged alike."""

    def __init__(self, base: str, tmp: str, problem: str | None = None, **inject):
        self.local = os.path.join(tmp, "local")
        self.leader = os.path.join(tmp, "leader")
        self.hosts = os.path.join(tmp, "hosts")
        for dst in (self.local, self.leader):
            sparse_copy(base, dst)
            if problem:
                inject_system(dst, problem, **inject)
        for host, ranks in HOSTS.items():
            os.makedirs(os.path.join(self.hosts, host))
            for r in ranks:
                os.rename(os.path.join(self.leader, f"rank-{r}"),
                          os.path.join(self.hosts, host, f"rank-{r}"))

    @property
    def root(self) -> str:
        return os.path.join(self.hosts, "%h")

    def transport(self, **kw) -> ClusterShellTransport:
        return ClusterShellTransport("node[1-2]", self.root, command=ENGINE, worker=ExecWorker,
                                     timeout=kw.pop("timeout", 300), **kw)

    def checkers(self) -> dict[str, SystemChecker]:
        return {"local": SystemChecker(self.local, LocalTransport(self.local, workers=1)),
                "remote": SystemChecker(self.leader, self.transport())}

    def reassembled(self) -> str:
        """The split image put back together (the leader's ms/ and every host's ranks)."""
        for host in HOSTS:
            for name in os.listdir(os.path.join(self.hosts, host)):
                os.rename(os.path.join(self.hosts, host, name), os.path.join(self.leader, name))
        return self.leader

    def cleanup(self) -> None:
        for d in (self.local, self.leader, self.hosts):
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def split(built, tmp_path):
    made = []

    def make(problem=None, **inject) -> Split:
        s = Split(built("system"), str(tmp_path), problem, **inject)
        made.append(s)
        return s
    yield make
    for s in made:
        s.cleanup()


def outcome(c: SystemChecker, rc: int) -> tuple:
    """What a run gave, without what differs between two runs (seq, timestamps)."""
    q = c.query()
    keep = ("class", "action", "result", "rank", "target", "pool_uuid", "pool_label",
            "cont_uuid", "cont_label", "msg", "act_choices", "act_details", "act_msgs")
    return rc, q["status"], [{k: r[k] for k in keep} for r in q["reports"] or []]


def pools_of(root: str) -> list:
    return system_dump(root)["pools"]


# --- the transport ----------------------------------------------------------------------------

def test_ranks_and_clues_come_from_both_hosts(split):
    s = split()
    t = s.transport()
    assert t.where() == {0: "node1", 1: "node1", 2: "node1", 3: "node2", 4: "node2"}
    assert t.ranks() == [0, 1, 2, 3, 4]
    local = LocalTransport(s.local, workers=1)
    want = local.map({r: {"op": "clues"} for r in local.ranks()})
    got = t.map({r: {"op": "clues"} for r in t.ranks()})
    assert {r: x["pools"] for r, x in got.items()} == {r: x["pools"] for r, x in want.items()}
    assert all(x["ok"] for x in got.values())


def test_a_pool_service_reads_its_replicas_on_their_hosts(split):
    s = split()
    t = s.transport()
    clues = t.map({r: {"op": "clues"} for r in t.ranks()})
    pool = sorted(clues[0]["pools"])[0]
    ps = t.pool_service(pool)
    holders = sorted(r for r, c in clues.items() if (c["pools"].get(pool) or {}).get("rdb"))
    assert sorted(ps.replicas) == holders
    assert ps.replicas[holders[-1]].path.startswith(f"node{1 if holders[-1] < 3 else 2}:")
    local = LocalTransport(s.local).pool_service(pool)
    assert ps.read() == local.read()


def test_the_engine_answers_which_ranks_a_host_holds(tmp_path):
    (tmp_path / "rank-3").mkdir()
    (tmp_path / "rank-10").mkdir()
    (tmp_path / "other").mkdir()
    assert handle({"op": "ranks", "root": str(tmp_path)})["ranks"] == [3, 10]
    gone = handle({"op": "ranks", "root": str(tmp_path / "nothing")})
    assert not gone["ok"] and "no such directory" in gone["error"]
    bad = handle({"op": "replica_store", "rank": 3, "root": str(tmp_path / "rank-3"),
                  "pool": "aaaaaaaa-0000-0000-0000-000000000001", "meta": {}, "puts": [],
                  "deletes": []})
    assert not bad["ok"] and bad["error"].startswith("bad request: meta is not a raft meta")


# --- the leader over two hosts: the same as local -----------------------------------------------

@pytest.mark.parametrize("problem,inject", [
    ("CONT_BAD_LABEL", {}),                         # a PS write on the replicas' hosts
    ("CONT_NONEXIST_ON_PS", {}),                    # destroy_container on every rank
    ("POOL_NONEXIST_ON_MS", {}),                    # READD from the PS read remotely
    ("POOL_LESS_SVC_WITHOUT_QUORUM", {"seed": 1}),  # dictate: replicas created remotely
])
def test_start_finds_and_repairs_as_the_local_transport(split, problem, inject):
    s = split(problem, **inject)
    runs = {}
    for name, c in s.checkers().items():
        c.enable()
        dry = outcome(c, c.start(dry_run=True))
        fix = outcome(c, c.start())
        again = outcome(c, c.start(dry_run=True))
        runs[name] = (dry, fix, again)
    assert runs["remote"] == runs["local"]
    dry, fix, again = runs["remote"]
    assert [r["class"] for r in dry[2]] == [problem]
    assert fix[0] & 1 and fix[2][0]["result"] == 0
    assert again[0] == 0 and again[2] == []
    assert pools_of(s.reassembled()) == pools_of(s.local)


def test_a_dry_run_over_the_hosts_changes_no_engine_file(split):
    s = split("CONT_NONEXIST_ON_PS")

    def files():
        out = {}
        for d, _dirs, names in os.walk(s.hosts):
            if d.endswith(os.path.join("daos_sys", "check_db")):
                continue
            for n in names:
                st = os.stat(os.path.join(d, n))
                out[os.path.join(d, n)] = (st.st_size, st.st_mtime_ns)
        return out
    before = files()
    c = SystemChecker(s.leader, s.transport())
    c.enable()
    assert c.start(dry_run=True) == 4
    assert files() == before


def test_an_all_interactive_finding_is_repaired_later_over_the_hosts(split):
    s = split("POOL_NONEXIST_ON_MS")
    c = SystemChecker(s.leader, s.transport())
    c.enable()
    c.set_policy(all_interactive=True)
    c.start()
    [r] = c.query()["reports"]
    assert r["action"] == "INTERACT" and r["act_choices"][0] == "READD"
    again = SystemChecker(s.leader, s.transport())      # another leader process
    again.repair(r["seq"], 0)
    [r] = again.query()["reports"]
    assert r["action"] == "READD" and r["result"] == 0
    assert again.query()["status"] == "COMPLETED"


# --- failures ---------------------------------------------------------------------------------

def test_a_host_whose_command_fails_stops_the_check_before_it_starts(split):
    s = split()
    t = ClusterShellTransport("node[1-2]", s.root, command=f"test %h != node2 && {ENGINE}",
                              worker=ExecWorker, timeout=300)
    c = SystemChecker(s.leader, t)
    c.enable()
    with pytest.raises(CheckError, match=r"host node2: the engine exited 1 without a response"):
        c.start(dry_run=True)
    assert c.query()["status"] == "INIT"


def test_a_host_that_fails_during_the_run_fails_it(split):
    s = split()
    t = s.transport()
    assert t.ranks() == [0, 1, 2, 3, 4]                 # both hosts answered at first
    t.command = f"test %h != node2 && {ENGINE}"         # then node2 goes away
    c = SystemChecker(s.leader, t)
    c.enable()
    with pytest.raises(CheckError, match=r"rank 3: the engine of rank 3 failed: host node2"):
        c.start(dry_run=True)
    assert c.query()["status"] == "FAILED"
    healthy = SystemChecker(s.leader, s.transport())
    assert healthy.start(dry_run=True) == 0             # the next start, host back, is clean
    assert healthy.query()["status"] == "COMPLETED"


def test_a_host_that_does_not_answer_times_out(split):
    s = split()
    t = ClusterShellTransport("node[1-2]", s.root, command=f"sleep 30; {ENGINE}",
                              worker=ExecWorker, timeout=0.5)
    with pytest.raises(CheckError, match=r"host node1: no answer within 0.5 s \(timed out\)"):
        t.ranks()


def test_a_rank_on_two_hosts_is_refused(split, tmp_path):
    s = split()
    os.makedirs(os.path.join(s.hosts, "node2", "rank-1"))
    with pytest.raises(CheckError, match="rank 1 is on two hosts: node1 and node2"):
        s.transport().ranks()


def test_a_bad_node_set_is_refused():
    with pytest.raises(CheckError, match=r"--hosts 'node\[1-' is not a node set"):
        ClusterShellTransport("node[1-", "/x")


# --- the command line ---------------------------------------------------------------------------

def run_ddb(*args, cfg: str):
    """``ddb`` in a process whose ClusterShell runs the exec worker (its defaults.conf) and
    finds ``ddb`` (the engine's command) on PATH."""
    env = {**os.environ, "CLUSTERSHELL_CFGDIR": cfg,
           "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    return subprocess.run([sys.executable, "-m", "ddb", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_the_cli_checks_a_system_on_hosts(split, tmp_path):
    s = split("POOL_NONEXIST_ON_MS")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "defaults.conf").write_text("[task.default]\ndistant_workername: exec\n")
    where = ["-D", s.leader, "--hosts", "node[1-2]", "--root", s.root]
    assert run_ddb("check", "enable", "-D", s.leader, cfg=str(cfg)).returncode == 0
    p = run_ddb("check", "start", "-n", *where, cfg=str(cfg))
    assert p.returncode == 4, p.stderr
    q = run_ddb("check", "query", "--json", *where, cfg=str(cfg))
    [r] = json.loads(q.stdout)["reports"]
    assert r["class"] == "POOL_NONEXIST_ON_MS" and r["msg"] == "Check leader detects orphan pool."
    p = run_ddb("check", "start", *where, cfg=str(cfg))
    assert p.returncode == 1, p.stderr
    bad = run_ddb("check", "start", "-n", "-D", s.leader, "--hosts", "node[1-3]", "--root",
                  s.root, cfg=str(cfg))
    assert bad.returncode == 8
    assert "host node3:" in bad.stderr and "no such directory" in bad.stderr
    lone = run_ddb("check", "start", "-n", "-D", s.leader, "--hosts", "node1", cfg=str(cfg))
    assert lone.returncode != 0 and "--hosts and --root go together" in lone.stderr


# --- the architecture -------------------------------------------------------------------------

def test_clustershell_is_imported_by_the_remote_transport_only():
    users = []
    for pkg in ("ddb", "vosfmt", "fixtures"):
        for d, _dirs, names in os.walk(os.path.join(ROOT, pkg)):
            for n in names:
                if not n.endswith(".py"):
                    continue
                path = os.path.join(d, n)
                with open(path) as f:
                    tree = ast.parse(f.read())
                for node in ast.walk(tree):
                    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                        [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                    if any(m.split(".")[0] == "ClusterShell" for m in mods):
                        users.append(os.path.relpath(path, ROOT))
    assert sorted(set(users)) == [os.path.join("ddb", "checker", "system", "remote.py")]
    p = subprocess.run([sys.executable, "-c", "import sys, ddb.cli, ddb.checker.system.leader; "
                        "print('ClusterShell' in sys.modules)"],
                       capture_output=True, text=True, cwd=ROOT, check=True)
    assert p.stdout.strip() == "False"
