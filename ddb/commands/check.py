"""``ddb check``: the checker's command line, mirroring ``dmg check`` offline plus e2fsck's modes.

Everything it prints goes through the session's output (results on stdout,
notes and progress on stderr); every failure of a check command ends as
e2fsck's exit status, never 1 ("repaired"): a usage error 16, anything else
8. The checker itself (``ddb.checker``) is loaded on first use.
"""
from __future__ import annotations

import os
import sys
import time

import click

from ..checker.exits import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, MEANINGS
from ..errors import DdbError, ExitCode, QuitRequested, user_error
from ..registry import DdbGroup, DdbSubcommand
from .check_report import print_blocks, print_run, print_tables
from .check_system import SYSTEM_VERBS

NO_TERMINAL_NOTE = ("ddb: no terminal to ask: checking read-only, as with -n "
                    "(give -y, -p or -a on|off to repair)")
DRY_RUN_NOTE = "ddb: --dry-run: checking read-only, as with -n (the answer mode is not used)"
NOTHING_WRITTEN = "nothing was written"
DB_HELP = "The storage image (directory holding daos_sys)."


def _db_root(s, db: str, targets=()) -> str:
    from vosfmt.paths import db_root_of
    from vosfmt.smd import SYS_DIR
    if db:
        return db
    for t in targets:
        if os.path.isfile(t):
            return db_root_of(os.path.abspath(t))
        if os.path.isdir(os.path.join(t, SYS_DIR)):
            return t
    root = s.image_root()
    if root:
        return root
    if os.path.isdir(SYS_DIR):
        return "."
    raise DdbError("give the storage image: --db DIR (the directory holding daos_sys), a target, or -s")


def _describe(e: BaseException) -> str:
    """One line for an unexpected failure: an OS error names its file, anything else its type."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else e.strerror
    return f"internal error: {type(e).__name__}: {e}"


class _Group(DdbGroup):
    """The check group. Every failure of its commands ends here as e2fsck's exit status: a
    usage error EXIT_USAGE, anything else (a bug included) EXIT_ERROR with one ``ERROR:``
    line (a traceback too with --debug), so EXIT_FIXED always means "repaired"."""

    def resolve_command(self, ctx, args):
        """A command line whose -D names a system root goes to the system scope's verb."""
        from .check_system import routed
        cmd = routed(ctx.obj, args)
        if cmd is not None:
            return args[0], cmd, args[1:]
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        from vosfmt import VosError

        from ..checker.errors import CheckError
        try:
            return super().invoke(ctx)
        except (ExitCode, QuitRequested, click.exceptions.Exit):
            raise
        except click.UsageError as e:
            raise DdbError(e.format_message(), status=EXIT_USAGE) from None
        except KeyboardInterrupt:
            ctx.obj.out.note("\ncheck interrupted; 'ddb check start' resumes it")
            raise ExitCode(EXIT_INTERRUPTED) from None
        except DdbError as e:
            raise DdbError(e.message, stdout=e.stdout, stderr=e.stderr, status=EXIT_ERROR) from None
        except VosError as e:
            raise user_error(e, status=EXIT_ERROR) from None
        except CheckError as e:
            raise DdbError(str(e), status=EXIT_ERROR) from None
        except Exception as e:  # noqa: BLE001 - the one place a check failure becomes exit 8
            if getattr(ctx.obj, "debug", False):
                import traceback
                ctx.obj.out.note(traceback.format_exc().rstrip("\n"))
            raise DdbError(_describe(e), status=EXIT_ERROR) from None


_HELP = (
    "Check and repair pool shards, their NVMe blobs and the SMD sys db. Findings are kept in "
    "<db>/daos_sys/check_db (a dry run's outside the image, in the user's state directory). "
    "Exit status (e2fsck's bits): " + ", ".join(f"{code} {what}" for code, what in MEANINGS)
    + ". Under ddb --dry-run nothing is written: start runs as -n, and repair, set-policy and "
      "stop say what they would do.\n\n"
    "With -D naming a system root (ms/, rank-<R>/) the verbs are dmg check's over the whole "
    "system: enable, disable, start [POOL...] (-n, -r, -f on|off, -a on|off, -O, -p "
    "CLASS:ACTION,...), stop [POOL...], query [POOL...] [-v] [--json], repair SEQ IDX, "
    "set-policy and get-policy [--last] [CLASS...]; pools by uuid or label. Its findings and "
    "policies are kept in the MS.")


@click.group("check", cls=_Group, help=_HELP,
             short_help="Check and repair shards, blobs and SMD (like dmg check / e2fsck)",
             context_settings={"help_option_names": ["-h", "--help"]})
def check():
    pass


check.add_command(SYSTEM_VERBS["enable"])
check.add_command(SYSTEM_VERBS["disable"])


class _StartCommand(DdbSubcommand):
    def parse_args(self, ctx, args):
        # -p is dmg's --policies when followed by CLASS:ACTION, else e2fsck's preen
        out = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-p":
                if i + 1 < len(args) and ":" in args[i + 1]:
                    out += ["--policies", args[i + 1]]
                    i += 2
                    continue
                out.append("--preen")
            else:
                out.append(a)
            i += 1
        return super().parse_args(ctx, out)


def _onoff(ctx, param, value):
    if value is None:
        return None
    if value not in ("on", "off"):
        raise click.BadParameter("must be on or off")
    return value == "on"


def _at_least_one(ctx, param, value):
    if value is not None and value < 1:
        raise click.BadParameter(f"{value} processes: give 1 or more")
    return value


def _policies(text: str) -> dict:
    from ..checker import parse_action, parse_class
    out = {}
    for item in filter(None, (x.strip() for x in (text or "").split(","))):
        cls, _, act = item.partition(":")
        try:
            out[parse_class(cls)] = parse_action(act)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    return out


@check.command("start", cls=_StartCommand,
               args_help={"targets": "Shard files or pool directories to check (default: all)."})
@click.option("-n", "--dry-run", "dry_run", is_flag=True, help="Report only; change nothing (read-only).")
@click.option("-y", "--yes", is_flag=True, help="Apply every default repair.")
@click.option("--preen", is_flag=True, help="(-p) Apply only safe default repairs; stop (exit 4) at others.")
@click.option("-r", "--reset", is_flag=True, help="Start from scratch instead of resuming.")
@click.option("-f", "--failout", callback=_onoff, default=None,
              help="on|off: stop at the first failed repair.")
@click.option("-a", "--auto", callback=_onoff, default=None,
              help="on|off: never ask; interactions become IGNORE.")
@click.option("--policies", default="", help="CLASS:ACTION,... for this run (also -p CLASS:ACTION).")
@click.option("-j", "--jobs", type=int, callback=_at_least_one, default=None, metavar="N",
              help="Scan up to N shards at once, one process each (default: one per core; "
                   "1: all in this process).")
@click.option("-D", "--db", default="", help=DB_HELP)
@click.argument("targets", nargs=-1)
@click.pass_obj
def start(s, dry_run, yes, preen, reset, failout, auto, policies, jobs, db, targets):
    """Run the checker over every shard (or the TARGETs: shard files, pool directories)."""
    from ..checker import Checker, Options, dry_run_path, query, stored_policies
    if sum((dry_run, yes, preen)) > 1:
        raise click.UsageError("Only one of the options -p (preen), -n or -y may be specified.")
    root = _db_root(s, db, targets)
    mode, dry_run, note = _answer_mode(dry_run, yes, preen, auto, sys.stdin.isatty(),
                                       forced=s.dry_run)
    if note:
        s.out.note(note)
    if failout is None:             # -f is sticky (DAOS): the last run's value when none is given
        failout = bool(stored_policies(root)[1].get("failout"))
    opts = Options(dry_run=dry_run, mode=mode, auto=bool(auto) or yes, failout=failout,
                   reset=reset, policies=_policies(policies), jobs=jobs)
    t0 = time.time()
    progress = _progress(s) if sys.stderr.isatty() else None
    rc = Checker(root, targets, opts, ask=_asker(s) if mode == "interactive" else None,
                 progress=progress, hooks=getattr(s, "hooks", None)).start()
    if progress:
        s.out.note("")
    q = query(root)
    print_run(s, [r for r in q["reports"] if r["timestamp"] >= t0], q)
    if dry_run:
        s.out.note(f"ddb: dry run: nothing was written to {root}; its report is kept in "
                   f"{dry_run_path(root)} ('ddb check query' shows it)")
    if rc & EXIT_INTERRUPTED:
        s.out.note("ddb: check stopped" + ("" if dry_run else "; 'ddb check start' resumes it"))
    raise ExitCode(rc)


def _answer_mode(dry_run: bool, yes: bool, preen: bool, auto, tty: bool, *,
                 forced: bool = False) -> tuple[str, bool, str | None]:
    """(mode, dry_run, a note to show) from the answer options, e2fsck's rule for a missing
    terminal included.

    ddb's global --dry-run (``forced``) writes nothing, ever: it makes any
    answer mode -n. -n, -y and -p are what they say. ``-a on|off`` given: the policies decide
    without a question (on: what would be asked is IGNOREd; off: it is asked
    on a terminal, else left pending for ``check repair``). With none of them
    a terminal is asked; without a terminal nobody can answer, so the check
    only reports, as with -n (e2fsck refuses to run interactively then).
    """
    if dry_run:
        return "default", True, None
    if forced:
        return "default", True, DRY_RUN_NOTE
    if yes:
        return "yes", False, None
    if preen:
        return "preen", False, None
    if tty and not auto:
        return "interactive", False, None
    if auto is not None:
        return "default", False, None
    return "default", True, NO_TERMINAL_NOTE


def _progress(s):
    def show(path, i, n, p, total):
        s.out.note(f"\rchecking shard {i + 1}/{n}: pass {p}/{total} "
                   f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}   ", end="")
    return show


def _asker(s):
    def ask(finding, choices):
        from ..checker import Action
        question = "\n".join([f"{finding.shard}: {finding.message}.",
                              *(f"  {i}: {Action(act).name}: {detail}"
                                for i, (act, detail) in enumerate(choices)),
                              "Choice (a = the suggestion for all of this class)"])
        while True:
            ans = s.out.ask(question, "0")
            if ans == "a":
                return choices[0][0], True
            if ans.isdigit() and int(ans) < len(choices):
                return choices[int(ans)][0], False
            s.out.note("  answer with a number or a")
    return ask


@check.command("query")
@click.option("-v", "--verbose", is_flag=True, help="One block per report.")
@click.option("-D", "--db", default="", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_obj
def query_cmd(s, verbose, db, as_json):
    """Show the checker's status and its findings."""
    from ..checker import query
    q = query(_db_root(s, db))
    if as_json or s.out.json:
        s.out.document({"status": q["status"], "instance": q.get("instance", {}),
                        "shards": q["shards"], "reports": q["reports"] or None})
        return
    inst = q.get("instance", {})
    started = inst.get("start_time")
    when = time.strftime(" (started at: %Y-%m-%d %H:%M:%S)", time.localtime(started)) if started else ""
    s.out.text("DDB Checker Info")
    s.out.text(f"  Current status: {q['status']}{when}")
    done = sum(1 for m in q["shards"].values() if m.get("status") == "CHECKED")
    s.out.text(f"  Checked {done} of {len(q['shards'])} shards")
    if verbose:
        for path, m in sorted(q["shards"].items()):
            s.out.text(f"  Shard {path}: status: CPS_{m.get('status')}, pass: {m.get('phase')}")
    if not q["reports"]:
        s.out.text("No reports to display.")
        return
    s.out.text("Inconsistency Reports:")
    (print_blocks if verbose else print_tables)(s, q["reports"])


@check.command("repair", args_help={"seq": "The finding's sequence number (as query shows it).",
                                     "idx": "The index of the chosen action (0: suggested)."})
@click.option("-D", "--db", default="", help=DB_HELP)
@click.argument("seq")
@click.argument("idx", type=int)
@click.pass_obj
def repair_cmd(s, db, seq, idx):
    """Answer a pending finding: apply its choice IDX."""
    from ..checker import repair_finding, resolution
    root = _db_root(s, db)
    try:
        n = int(seq, 0)
    except ValueError:
        raise click.UsageError(f"invalid sequence number '{seq}'") from None
    if s.dry_run:
        _would_repair(s, root, n, idx)
        return
    doc = repair_finding(root, n, idx)
    s.out.emit(f"Finding {n:#x} resolved: {resolution(doc)}", {"seq": n, "resolution": resolution(doc)})


def _would_repair(s, root: str, n: int, idx: int) -> None:
    """``check repair`` under --dry-run: the choice it would apply to the pending finding,
    looked up read-only in the image's report store (where repair looks); nothing is written."""
    from ..checker import Action, CheckError, is_pending, reading, resolution
    with reading(root) as store:
        doc = store.finding(n) if store is not None else None
    if doc is None:
        raise CheckError(f"finding {n:#x} not found")
    if not is_pending(doc):
        raise CheckError(f"finding {n:#x} is not pending: {resolution(doc)}")
    if not 0 <= idx < len(doc["choices"]):
        raise CheckError(f"invalid action {idx} for seq {n:#x}")
    act = Action(doc["choices"][idx]).name
    s.out.emit(f"Dry run: would resolve finding {n:#x} ({doc['name']}) with {act}: "
               f"{doc['details'][idx]}; {NOTHING_WRITTEN}",
               {"seq": n, "resolution": act, "dry_run": True})


@check.command("stop", args_help={"targets": "A shard file or image directory naming the image "
                                              "(instead of -D)."})
@click.option("-D", "--db", default="", help=DB_HELP)
@click.argument("targets", nargs=-1)
@click.pass_obj
def stop_cmd(s, db, targets):
    """Stop a running check (it can be resumed with start)."""
    from ..checker import query, stop
    root = _db_root(s, db, targets)
    if s.dry_run:               # whether there is a check to stop (stop itself writes)
        state = query(root)["status"]
        what = (f"would stop the check of {root}" if state == "RUNNING"
                else f"no check of {root} is running (status: {state})")
        s.out.emit(f"Dry run: {what}; {NOTHING_WRITTEN}", {"status": state, "dry_run": True})
        return
    state = stop(root)
    s.out.emit(f"Checker status: {state}", {"status": state})


@check.command("get-policy")
@click.option("-D", "--db", default="", help=DB_HELP)
@click.option("--last", is_flag=True, help="The policies the last start used.")
@click.pass_obj
def get_policy(s, db, last):
    """Show the repair action of every inconsistency class."""
    from tabulate import tabulate

    from ..checker import PROBLEMS, Action, stored_policies
    pol, flags = stored_policies(_db_root(s, db), last)
    classes = sorted({p.cls for p in PROBLEMS})
    rows = [(c.name, Action(pol.get(int(c), Action.DEFAULT)).name) for c in classes]
    fl = ", ".join(k.upper() for k, v in flags.items() if v) or "none"
    if s.out.json:
        s.out.emit(None, {"checker_flags": fl, "policies": [f"{c}:{a}" for c, a in rows]})
        return
    s.out.text(f"Checker flags: {fl}")
    s.out.text(tabulate(rows, headers=["Inconsistency Class", "Repair Action"], disable_numparse=True))


@check.command("set-policy", args_help={"policies": "CLASS:ACTION pairs (see get-policy)."})
@click.option("-D", "--db", default="", help=DB_HELP)
@click.option("--reset-defaults", is_flag=True, help="Every class back to DEFAULT.")
@click.option("--all-interactive", is_flag=True, help="Every class to INTERACT.")
@click.argument("policies", nargs=-1)
@click.pass_obj
def set_policy(s, db, reset_defaults, all_interactive, policies):
    """Set CLASS:ACTION policies (stored for later starts)."""
    from ..checker import PROBLEMS, Action, stored_policies, update_policies
    if (reset_defaults or all_interactive) and policies or (reset_defaults and all_interactive):
        raise click.UsageError("--reset-defaults, --all-interactive and a policy list cannot be combined")
    root = _db_root(s, db)
    wanted = _policies(",".join(policies))

    def change(pol: dict) -> dict:
        if reset_defaults:
            return {}
        if all_interactive:
            return {int(c): int(Action.INTERACT) for c in {p.cls for p in PROBLEMS}}
        return {**pol, **{int(c): int(a) for c, a in wanted.items()}}
    if s.dry_run:                   # the stored policies are read, changed and shown, not stored
        names = _policy_names(change(stored_policies(root)[0]))
        shown = ", ".join(f"{c}:{a}" for c, a in names.items()) or "every class DEFAULT"
        s.out.emit(f"Dry run: would set the policies to {shown}; {NOTHING_WRITTEN}",
                   {"policies": names, "dry_run": True})
        return
    s.out.emit(None, {"policies": _policy_names(update_policies(root, change))})


def _policy_names(pol: dict) -> dict:
    from ..checker import Action, Cls
    return {Cls(k).name: Action(v).name for k, v in pol.items()}
