"""``ddb``: option parsing, mode selection, one-shot and command-file runs.

    ddb [OPTIONS] [VOS_FILE] [COMMAND [ARGS...]]
    ddb [OPTIONS] -s VOS_FILE [COMMAND [ARGS...]]

Global options end at the first word that is not an option; everything after
the command name belongs to the command (DAOS ddb's rule). The interactive
shell lives in its own module and is imported only when needed, so one-shot
runs stay lean.
"""
from __future__ import annotations

import contextlib
import os
import sys

from . import __version__
from .errors import DdbError, ExitCode, QuitRequested

#: DAOS log level names -> Python logging levels (numbers, so logging loads only when used)
LOG_LEVELS = {"TRACE": 10, "DEBUG": 10, "DBUG": 10, "INFO": 20, "NOTE": 20, "NOTICE": 20,
              "WARN": 30, "ERROR": 40, "ERR": 40, "CRIT": 50, "ALRT": 50, "FATAL": 50,
              "EMRG": 50, "EMIT": 50}

USAGE = "Usage:\n  ddb [OPTIONS] [ddb_command] [ddb_command_args...]\n"
HELP = USAGE + """
The DAOS debug tool, for VOS pool shards of this project's format. With a
command, runs it and exits; with -f, runs the commands in FILE (one per line;
'-' reads standard input); with neither, starts an interactive shell.
The VOS file (given first, or with -s) is opened before the command runs,
read-only unless -w is given; commands that change the tree need -w.

Application Options:
  -w, --write_mode     Open the vos file in write mode.
  -f, --cmd_file=FILE  Path to a file containing a sequence of ddb commands to execute.
  -p, --db_path=DIR    Path to the sys db (default: two levels above the VOS file).
  -s, --vos_path=FILE  Path to the VOS file to open.
  -v, --version        Show version.
      --debug[=LEVEL]  Log level (TRACE, DEBUG, INFO, NOTE, WARN, ERROR, CRIT, EMIT);
                       also show tracebacks of internal errors.
      --log_dir=DIR    Write logs to DIR/ddb-cli.log.
      --json           Machine-readable output: one JSON document per command
                       (JSON lines for listings).
      --atomic         With -w -f: apply every change of the file in one commit, or none.
      --dry-run        Run the command(s) against a copy-on-write view, report what
                       would change, and leave the files untouched.

Help Options:
  -h, --help           Show this help message

Arguments:
  vos_file:            Path to the VOS file to open (same as -s).
  ddb_command:         Optional ddb command to run. If not given, the tool runs in
                       interactive mode.
  ddb_command_args:    Optional arguments for the ddb command.
"""
PATHS_HELP = """
VOS Paths:
  A VOS tree path is [cont]/[obj]/[dkey]/[akey]/[extent]: a container uuid, an object id
  hi.lo.shard.layout, keys as text (\\ escapes '/', '{', '}' and '\\'; key{N} pads to N
  bytes), {uint8|uint16|uint32|uint64:V} or {bin:0xHEX}, and an extent {lo-hi}. Any part
  may be an index [i] instead, mixed freely with values: /[0]/[1]/dkey-1/[0]/{9-18}.
"""


class Options:
    """The global options of one ddb invocation, and the command words after them.

    A plain class with its defaults as class attributes: parse_args sets
    what it finds (no dataclass to generate at start-up).
    """
    write = version = help = json = atomic = dry_run = False
    cmd_file = db_path = vos_path = debug = log_dir = None

    def __init__(self):
        self.command: list[str] = []


_VALUE_OPTS = {"-f": "cmd_file", "--cmd_file": "cmd_file", "-p": "db_path", "--db_path": "db_path",
               "-s": "vos_path", "--vos_path": "vos_path", "--log_dir": "log_dir"}
_FLAG_OPTS = {"-w": "write", "--write_mode": "write", "-v": "version", "--version": "version",
              "-h": "help", "--help": "help", "--json": "json", "--atomic": "atomic",
              "--dry-run": "dry_run"}


def parse_args(argv: list[str], command_names) -> Options:
    """Global options up to the first non-option word; then [VOS_FILE] COMMAND ARGS."""
    o = Options()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, val = a.partition("=")
        if name in _FLAG_OPTS and not eq:
            setattr(o, _FLAG_OPTS[name], True)
        elif name in _VALUE_OPTS:
            if not eq:
                if i + 1 >= len(argv):
                    raise DdbError(f"expected argument for flag `{name}'")
                i += 1
                val = argv[i]
            setattr(o, _VALUE_OPTS[name], val)
        elif len(name) > 2 and name[:2] in _VALUE_OPTS and not name.startswith("--"):
            setattr(o, _VALUE_OPTS[name[:2]], a[2:])          # -fFILE
        elif name == "--debug":
            o.debug = val if eq else "DEBUG"
        else:
            raise DdbError(f"unknown flag `{a}'. Run 'ddb --help' for usage.")
        i += 1
    rest = argv[i:]
    if rest and o.vos_path is None and not o.help and _names_the_vos_file(rest, command_names):
        o.vos_path, rest = rest[0], rest[1:]
    if rest[:1] in (["-h"], ["--help"]):                # ddb VOS_FILE --help [COMMAND]
        o.help, rest = True, rest[1:]
    o.command = rest
    return o


def _names_the_vos_file(words: list[str], command_names) -> bool:
    """Whether the first word after the options is the VOS file (``ddb VOS_FILE [COMMAND]``)
    rather than a command: it is no command's name, and it is an existing file, looks like
    a path (has a '/') or comes before a command. A lone unknown word (``ddb lss``,
    ``ddb foo --help``) is a mistyped command, as in DAOS ddb, not a VOS file to open."""
    word = words[0]
    if word in command_names:
        return False
    return "/" in word or os.path.exists(word) or len(words) > 1 and words[1] in command_names


def _setup_logging(o: Options) -> None:
    if o.debug is None and o.log_dir is None:
        return
    import logging
    level = logging.ERROR
    if o.debug is not None:
        level = LOG_LEVELS.get(o.debug.upper())
        if level is None:
            raise DdbError("Logging facilities cannot be initialized: Error parsing log level: "
                           f"invalid log level \"{o.debug}\"")
    if o.log_dir is not None:
        if not os.path.exists(o.log_dir):
            raise DdbError(f"Error accessing debug directory \"{o.log_dir}\"")
        if not os.path.isdir(o.log_dir):
            raise DdbError(f"Debug path \"{o.log_dir}\" is not a directory")
        handler = logging.FileHandler(os.path.join(o.log_dir, "ddb-cli.log"))
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logging.getLogger("ddb").addHandler(handler)
    logging.getLogger("ddb").setLevel(level)


def print_help(stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(HELP)
    print_command_list(stream)
    stream.write(PATHS_HELP)


def print_command_list(stream) -> None:
    """``Available Commands:``, in the manifest's order (DAOS ddb's, then ours)."""
    from .commands import TABLE
    from .manifest import ROWS
    names = [row.name for row in ROWS if not row.hidden]
    w = max(len(n) for n in names)
    stream.write("\nAvailable Commands:\n\n")
    for n in names:
        stream.write(f"  {n:<{w}}  {TABLE[n].short_help}\n")


def read_command_lines(path: str):
    """The non-blank, non-comment lines of a command file ('-' is standard input).

    Lines are read as bytes and decoded one at a time, so the lines before one that is
    not UTF-8 run first, and the error names that line instead of a decoder's chunk.
    """
    try:
        fh = getattr(sys.stdin, "buffer", sys.stdin) if path == "-" else open(path, "rb")
    except OSError as e:
        raise DdbError(f"Error opening file \"{path}\": {e.strerror}") from None
    with fh if path != "-" else contextlib.nullcontext(fh):     # stdin stays open
        for n, raw in enumerate(fh, 1):
            line = _decoded(raw, path, n).strip()
            if not line or line.startswith("#"):
                continue
            yield line


def _decoded(raw, path: str, n: int) -> str:
    if isinstance(raw, str):            # a text stream standing in for stdin
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DdbError(f"Error reading file \"{path}\": line {n} is not UTF-8 text (byte "
                       f"{raw[e.start]:#04x} at column {e.start + 1})") from None


#: the most of a failing command-file line an error quotes: a line can be megabytes long
SHOWN_LINE = 200


def shown_line(line: str) -> str:
    """A command line as an error quotes it: at most SHOWN_LINE characters, cut ones ending
    in '...' (the line number is not needed: the run stops at the first failing line)."""
    return line if len(line) <= SHOWN_LINE else line[:SHOWN_LINE - 3] + "..."


def run(argv: list[str], *, hooks=None) -> int:
    from .commands import TABLE
    from .manifest import BY_NAME
    from .output import Output
    from .registry import run_command, unknown_command
    from .session import Session

    o = parse_args(argv, TABLE)
    if o.help:
        if o.command:
            run_command(TABLE, Session(), [o.command[0], "--help"])
        else:
            print_help()
        return 0
    if o.version:
        print(f"ddb version {__version__}")
        return 0
    if o.command and o.cmd_file:
        raise DdbError("Cannot use both command file and a command string")
    if o.db_path and not o.vos_path:
        raise DdbError("Cannot use sys db path without a VOS path")
    if o.atomic and o.dry_run:
        raise DdbError("--atomic and --dry-run cannot be combined (a dry run changes nothing)")
    _setup_logging(o)
    session = Session(Output(o.json), batch="dry-run" if o.dry_run else "atomic" if o.atomic else None,
                      hooks=hooks)
    session.default_path = o.vos_path
    session.default_db_path = o.db_path
    session.write_allowed = o.write
    session.debug = o.debug is not None
    ok = False
    try:
        if o.command:
            name = o.command[0]
            if name not in TABLE:
                session.out.fail(unknown_command(name))
                print_command_list(sys.stderr)
                return 1
            if o.vos_path and not BY_NAME[name].self_managed and o.command[1:2] not in (["-h"], ["--help"]):
                _auto_open(session, o)
            try:
                run_command(TABLE, session, o.command)
            except QuitRequested:
                pass
            except ExitCode as e:
                ok = True
                return e.code
            ok = True
            return 0
        if o.cmd_file:
            if o.vos_path:
                _auto_open(session, o)
            ok, last = _run_command_file(session, o.cmd_file)
            return last
        if o.vos_path:
            _auto_open(session, o)
        from .shell import run_shell
        rc = run_shell(session, TABLE)
        ok = rc == 0
        return rc
    finally:
        try:
            session.close(success=ok)
        finally:
            session.out.flush()


def _run_command_file(session, path: str) -> tuple[bool, int]:
    """Run a command file's lines until the first failure: (succeeded, exit status)."""
    from .commands import TABLE
    from .linesplit import split_line
    from .registry import run_command
    last = 0
    for line in read_command_lines(path):
        try:
            run_command(TABLE, session, split_line(line))
        except QuitRequested:
            break
        except ExitCode as e:
            last = e.code
        except DdbError as e:
            shown = shown_line(line)
            session.out.fail(e, f"Failed running command \"{shown}\": ", command=shown)
            if session.batch_mode == "atomic" and session.shard is not None:
                sys.stderr.write("ddb: atomic batch abandoned: nothing was changed\n")
            return False, e.status
    return True, last


def _auto_open(session, o: Options) -> None:
    try:
        session.open(o.vos_path, write=o.write, db_path=o.db_path)
    except DdbError as e:
        raise e.prefixed(f"Error opening VOS path '{o.vos_path}': ") from None


def _json_requested(argv: list[str]) -> bool:
    """Whether --json is among the global options, for errors raised before (or while)
    they are parsed: under --json even those are a JSON document on stdout."""
    words = iter(argv)
    for a in words:
        if a == "--json":
            return True
        if a in _VALUE_OPTS:
            next(words, None)
        elif not a.startswith("-") or a in ("-", "--"):
            return False
    return False


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = any(a == "--debug" or a.startswith("--debug=") for a in args)
    try:
        return run(args)
    except DdbError as e:
        from .output import Output
        Output(_json_requested(args)).fail(e)
        return e.status
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as e:  # a bug: one line unless --debug
        if debug:
            raise
        from .output import Output
        Output(_json_requested(args)).fail(DdbError(f"internal error: {type(e).__name__}: {e} "
                                                    "(run with --debug for a traceback)"))
        return _bug_status(args)


def _bug_status(args: list[str]) -> int:
    """The exit status of an internal error: ``check`` speaks e2fsck's bits, where 1 would
    claim that errors were corrected, so a bug there is an operational error (8)."""
    from .checker.exits import EXIT_ERROR
    from .commands import TABLE
    try:
        return EXIT_ERROR if parse_args(args, TABLE).command[:1] == ["check"] else 1
    except DdbError:
        return 1


def _click_entry():
    """``main`` as a click command, so tests can drive it with click's CliRunner."""
    import click

    @click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                     "help_option_names": []}, add_help_option=False)
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def cli(args):
        sys.exit(main(list(args)))
    return cli


cli = _click_entry()
