"""``ddb check`` on a system root: dmg check's verbs over the system checker, and dmg's query text.

``ddb check`` routes here (``routed``) when its -D names a system root
(ms/, rank-<R>/) instead of one engine's storage: the same verb names,
with dmg check's flags (pools by uuid or label instead of shard targets).
``enable`` and ``disable`` exist only here; ``engine`` (hidden) is the entry
point a remote leader runs where the storage is: one JSON request on stdin,
its response on stdout. The query text is check_report's (``query_lines``),
from SystemChecker.query()'s document, dmg's JSON.
With ``--hosts HOSTLIST --root PATH`` the ranks' engines run on those hosts
(``ddb check engine`` over ClusterShell, ``ddb.checker.system.remote``); -D
then names the leader's side (its ms/).
The checker itself (``ddb.checker.system``) is loaded on first use.
"""
from __future__ import annotations

import os
import uuid as uuidlib

import click

from ..checker.exits import EXIT_ERROR
from ..errors import DdbError, ExitCode
from ..registry import DdbSubcommand
from .check_report import awaits_answer, bare, policy_lines, query_lines

SYS_DB_HELP = "The system image (directory holding ms/ and rank-<R>/)."
HOSTS_HELP = ("The hosts holding the ranks (a ClusterShell node set, e.g. node[01-16]): their "
              "engines run there, over ssh; -D then holds the MS (ms/) only.")
ROOT_HELP = "With --hosts: the directory holding the rank-<R>/ folders on each host (%h: the host)."
POOLS_HELP = {"pools": "Pools by uuid or label (default: every pool)."}
NOT_UNDER_DRY_RUN = ("ddb --dry-run: 'check {}' on a system writes the checker's rows in the MS; "
                     "nothing was written ('check start -n' without --dry-run scans without "
                     "repairing)")

# --- argument parsing (pure) --------------------------------------------------------------------

def on_off(values, flag: str):
    """-f/-a given as on|off, possibly twice: True, False, or None when not given."""
    wanted = set(values or ())
    bad = wanted - {"on", "off"}
    if bad:
        raise click.UsageError(f"{flag}: invalid value '{sorted(bad)[0]}' (must be on or off)")
    if len(wanted) > 1:
        raise click.UsageError(f"{flag}=on and {flag}=off are mutually exclusive")
    return None if not wanted else wanted == {"on"}


def parse_policies(items) -> dict:
    """CLASS:ACTION words (each may hold several, comma-separated) -> {Cls: Action}, dmg's prefixes
    (CIC_, CIA_) optional."""
    from ..checker.problems import parse_action, parse_class
    out = {}
    for item in (x.strip() for word in items for x in word.split(",")):
        if not item:
            continue
        cls, sep, act = item.partition(":")
        if not sep:
            raise click.UsageError(f"invalid policy '{item}' (want CLASS:ACTION)")
        try:
            out[parse_class(cls)] = parse_action(act)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    return out


def parse_seq(text: str) -> int:
    try:
        n = int(text, 0)
    except ValueError:
        raise click.UsageError(f"invalid sequence number '{text}'") from None
    if n < 0:
        raise click.UsageError(f"invalid sequence number '{text}'")
    return n


def pool_uuids(names, ms_pools: dict) -> list[str]:
    """POOL arguments (uuid or label) -> pool uuids, de-duplicated in order; a uuid need not be
    in the MS (an orphan pool is named by its uuid), a label must be."""
    by_label = {str(p.get("label")): u for u, p in ms_pools.items() if p.get("label")}
    out = []
    for n in names:
        try:
            u = str(uuidlib.UUID(n))
        except ValueError:
            if n not in by_label:
                raise DdbError(f"unable to find pool service: {n}") from None
            u = by_label[n]
        if u not in out:
            out.append(u)
    return out


# --- routing ------------------------------------------------------------------------------------

def _db_given(args) -> str | None:
    for i, a in enumerate(args):
        if a == "--":
            break
        if a in ("-D", "--db"):
            return args[i + 1] if i + 1 < len(args) else None
        if a.startswith("--db="):
            return a[len("--db="):]
        if a.startswith("-D") and len(a) > 2:
            return a[2:]
    return None


def names_a_system(s, args) -> bool:
    """Whether a check command line is about a system: its -D is a system root, or, with
    neither -D nor a shard (-s, -p), the current directory is one."""
    from vosfmt.smd import SYS_DIR
    from vosfmt.system import is_system_root
    db = _db_given(args)
    if db:
        return is_system_root(db)
    return s.image_root() is None and not os.path.isdir(SYS_DIR) and is_system_root(".")


def routed(s, args):
    """The system-scope command for a ``check`` command line, or None for today's engine check."""
    if s is None or not args:
        return None
    name = args[0]
    if name == "engine" or name in SYSTEM_VERBS and names_a_system(s, args[1:]):
        return SYSTEM_VERBS[name]
    return None


# --- the verbs ----------------------------------------------------------------------------------

def _checker(s, db: str, hosts: str | None = None, root: str | None = None):
    """The leader over the system under ``db``: its ranks local, or on ``hosts``."""
    from ..checker.system.leader import SystemChecker
    if (hosts is None) != (root is None):
        raise click.UsageError("--hosts and --root go together")
    if hosts is None:
        return SystemChecker(s.system_root(db))
    from ..checker.system.remote import ClusterShellTransport
    return SystemChecker(s.system_root(db), ClusterShellTransport(hosts, root))


def _pools(checker, names) -> list[str]:
    from vosfmt.ms import ManagementService
    return pool_uuids(names, ManagementService(checker.sys_root).pools()) if names else []


def _refuse_dry_run(s, verb: str) -> None:
    if s.dry_run:
        raise DdbError(NOT_UNDER_DRY_RUN.format(verb))


#: name -> click command of each system-scope verb (not module attributes: the command
#: table takes a module's top-level commands for its own, and these are ``check``'s)
SYSTEM_VERBS: dict[str, click.Command] = {}


def _verb(name: str, **kwargs):
    """Declare a system-scope verb: its callback takes the session first."""
    def deco(fn):
        SYSTEM_VERBS[name] = click.command(name, cls=DdbSubcommand, **kwargs)(click.pass_obj(fn))
        return fn
    return deco


def _db_option(fn):
    return click.option("-D", "--db", default="", help=SYS_DB_HELP)(fn)


def _remote_options(fn):
    """--hosts and --root: the verbs that reach the ranks' engines (or name them, for the
    same command line to work with every verb)."""
    fn = click.option("--root", default=None, help=ROOT_HELP)(fn)
    return click.option("--hosts", default=None, help=HOSTS_HELP)(fn)


@_verb("enable")
@_db_option
def enable_cmd(s, db):
    """Enable the system checker (a system only: -D names its root)."""
    _refuse_dry_run(s, "enable")
    _checker(s, db).enable()
    s.out.emit("System checker enabled", {"enabled": True})


@_verb("disable")
@_db_option
def disable_cmd(s, db):
    """Disable the system checker (a system only: -D names its root)."""
    _refuse_dry_run(s, "disable")
    _checker(s, db).disable()
    s.out.emit("System checker disabled", {"enabled": False})


@_verb("start", args_help=POOLS_HELP)
@click.option("-n", "--dry-run", "dry_run", is_flag=True, help="Scan only; repair nothing.")
@click.option("-r", "--reset", is_flag=True, help="Start from scratch instead of resuming.")
@click.option("-f", "--failout", multiple=True, default=None,
              help="on|off: stop at a failed repair (sticky).")
@click.option("-a", "--auto", multiple=True, default=None,
              help="on|off: never interact; INTERACT becomes IGNORE (sticky).")
@click.option("-O", "--find-orphans", "find_orphans", is_flag=True,
              help="Rescan the pool list for orphan pools, even on a resumed check.")
@click.option("-p", "--policies", multiple=True, default=None, help="CLASS:ACTION,... for this run only.")
@_db_option
@_remote_options
@click.argument("pools", nargs=-1)
def start_cmd(s, dry_run, reset, failout, auto, find_orphans, policies, db, hosts, root, pools):
    """Start (or resume) the system check of every pool, or of the POOLs."""
    failout, auto = on_off(failout, "--failout"), on_off(auto, "--auto")
    wanted = parse_policies(policies)
    _refuse_dry_run(s, "start")
    checker = _checker(s, db, hosts, root)
    rc = checker.start(_pools(checker, pools), dry_run=dry_run, reset=reset, failout=failout,
                       auto=auto, find_orphans=find_orphans, policies=wanted)
    q = checker.query()
    reports = q.get("reports") or []
    pending = sum(1 for r in reports if awaits_answer(r))
    s.out.emit(f"Checker status: {bare(q.get('status'), 'CIS_')}, {len(reports)} report(s) "
               f"({pending} pending); 'ddb check query' shows them",
               {"status": q.get("status"), "reports": len(reports), "pending": pending})
    raise ExitCode(rc)


@_verb("stop", args_help=POOLS_HELP)
@_db_option
@_remote_options
@click.argument("pools", nargs=-1)
def stop_cmd(s, db, hosts, root, pools):
    """Stop the system check (of the POOLs only: the others go on); start resumes it."""
    _refuse_dry_run(s, "stop")
    checker = _checker(s, db, hosts, root)
    checker.stop(_pools(checker, pools))
    status = checker.query().get("status")
    s.out.emit(f"Checker status: {bare(status, 'CIS_')}", {"status": status})


@_verb("query", args_help=POOLS_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Per-pool lines, and one block per report.")
@click.option("--json", "as_json", is_flag=True, help="dmg's JSON document.")
@_db_option
@_remote_options
@click.argument("pools", nargs=-1)
def query_cmd(s, verbose, as_json, db, hosts, root, pools):
    """Show the system checker's status, its pools and its reports."""
    checker = _checker(s, db, hosts, root)
    q = checker.query(_pools(checker, pools))
    if as_json or s.out.json:
        s.out.document(q)
        return
    for line in query_lines(q, verbose):
        s.out.text(line)


@_verb("repair",
               args_help={"seq": "The finding's sequence number (decimal or 0x hex, as query shows).",
                          "idx": "The index of the chosen option (0: suggested)."})
@_db_option
@_remote_options
@click.argument("seq")
@click.argument("idx")
def repair_cmd(s, db, hosts, root, seq, idx):
    """Answer a pending finding with its option IDX; its pool's check goes on."""
    n = parse_seq(seq)
    try:
        i = int(idx, 0)
    except ValueError:
        raise click.UsageError(f"invalid action index '{idx}'") from None
    _refuse_dry_run(s, "repair")
    _checker(s, db, hosts, root).repair(n, i)
    s.out.emit("Repair request sent", {"seq": n, "index": i})


@_verb("set-policy",
               args_help={"policies": "CLASS:ACTION pairs (see get-policy)."})
@click.option("--reset-defaults", is_flag=True, help="Every class back to DEFAULT.")
@click.option("--all-interactive", is_flag=True, help="Every class to INTERACT.")
@_db_option
@_remote_options
@click.argument("policies", nargs=-1)
def set_policy_cmd(s, reset_defaults, all_interactive, db, hosts, root, policies):
    """Set CLASS:ACTION policies, stored in the MS for later starts (and a running check)."""
    if sum((reset_defaults, all_interactive, bool(policies))) > 1:
        raise click.UsageError("--reset-defaults, --all-interactive and a policy list cannot be combined")
    if not (reset_defaults or all_interactive or policies):
        raise click.UsageError("give CLASS:ACTION policies, --reset-defaults or --all-interactive")
    wanted = parse_policies(policies)
    _refuse_dry_run(s, "set-policy")
    checker = _checker(s, db, hosts, root)
    checker.set_policy(wanted, reset_defaults=reset_defaults, all_interactive=all_interactive)
    if s.out.json:
        s.out.emit(None, checker.get_policy())


@_verb("get-policy", args_help={"classes": "Only these classes."})
@click.option("--last", is_flag=True, help="The policies the last start used.")
@_db_option
@click.argument("classes", nargs=-1)
def get_policy_cmd(s, last, db, classes):
    """Show the checker flags and the repair action of every inconsistency class."""
    from ..checker.problems import parse_class
    try:
        wanted = {parse_class(c).name for word in classes for c in word.split(",") if c}
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    doc = _checker(s, db).get_policy(last=last)
    if wanted:
        doc = {**doc, "policies": [p for p in doc["policies"] if p.split(":", 1)[0] in wanted]}
    if s.out.json:
        s.out.emit(None, doc)
        return
    for line in policy_lines(doc):
        s.out.text(line)


@_verb("engine", hidden=True)
def engine_cmd(s):
    """The check engine where the storage is: one JSON request on stdin, its response on stdout
    (what a remote check leader runs on each host). Exit 0 with the response (a failed op
    says so in it), 8 for a malformed request."""
    import json
    import sys

    from ..checker.system.engine import handle
    try:
        request = json.loads(sys.stdin.read())
        if not isinstance(request, dict):
            raise ValueError("a request is a JSON object")
    except ValueError as e:
        s.out.document({"ok": False, "error": f"malformed request: {e}"})
        raise ExitCode(EXIT_ERROR) from None
    response = handle(request)
    s.out.document(response)
    if str(response.get("error") or "").startswith("bad request"):    # the engine's word for malformed
        raise ExitCode(EXIT_ERROR)
