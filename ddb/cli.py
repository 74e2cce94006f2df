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
#: commands that manage the pool themselves: -s is not auto-opened for them (one-shot only)
SELF_MANAGED = {"feature", "open", "close", "prov_mem", "smd_sync", "rm_pool", "dev_list",
                "dev_replace", "smd", "check"}

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
    if rest and rest[0] not in command_names and o.vos_path is None and not o.help:
        o.vos_path, rest = rest[0], rest[1:]
    o.command = rest
    return o


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


def print_help(table, hidden, stream=None) -> None:
    stream = stream or sys.stdout
    stream.write(HELP)
    stream.write("\nAvailable Commands:\n\n")
    names = [n for n in table if n not in hidden]
    w = max(len(n) for n in names)
    for n in names:
        stream.write(f"  {n:<{w}}  {table[n].short_help}\n")
    stream.write(PATHS_HELP)


#: One piece of a shell word, as shlex.split(posix=True) reads them: blanks end a word;
#: '...' is literal; "..." keeps a backslash except before " or \; \ outside quotes
#: escapes any character. At the end of the line, a backslash (also inside an open "...")
#: has nothing to escape, and an open quote has no end.
_PIECES = (r"""(?P<blank>[ \t\r\n]+)|'(?P<single>[^']*)'|"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"|"""
           r"""\\(?P<escaped>.)|(?P<plain>[^ \t\r\n'"\\]+)|"""
           r"""(?P<no_escaped>(?:"[^"\\]*(?:\\.[^"\\]*)*)?\\\Z)|(?P<no_closing>['"])""")
_pieces = None


def split_line(line: str) -> list[str]:
    """POSIX shell-like word splitting (quotes, backslash escapes), with shlex's results
    and messages but in one linear pass: shlex builds each word a character at a time,
    quadratic in its length (a 640k-character line took a minute)."""
    global _pieces
    if _pieces is None:                 # compiled on first use: one-shot runs never split
        import re
        _pieces = (re.compile(_PIECES, re.S), re.compile(r'\\(["\\])'))
    pieces, dq_escape = _pieces
    words, word, in_word = [], [], False
    for m in pieces.finditer(line):
        kind = m.lastgroup
        if kind == "blank":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            continue
        if kind.startswith("no_"):
            raise DdbError("invalid args: " + ("No escaped character" if kind == "no_escaped"
                                               else "No closing quotation"))
        text = m.group(kind)
        word.append(dq_escape.sub(r"\1", text) if kind == "double" else text)
        in_word = True
    if in_word:
        words.append("".join(word))
    return words


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


def fail(out, e: DdbError, prefix: str = "", **fields) -> None:
    """The one way a failure is reported: ``out.error`` (text lines, or one JSON error
    document with --json) and then ``ERROR: ddb: <prefix><message>`` on stderr."""
    out.error(e, **fields)
    sys.stderr.write(f"ERROR: ddb: {prefix}{e.message}\n")
    sys.stderr.flush()


def run(argv: list[str], *, hooks=None) -> int:
    from .commands import HIDDEN, TABLE, UPSTREAM_NAMES
    from .registry import run_command
    from .session import Session
    from .output import Output

    o = parse_args(argv, set(TABLE) | UPSTREAM_NAMES)
    if o.help:
        if o.command:
            if o.command[0] not in TABLE:
                raise DdbError(f"Unknown command: '{o.command[0]}'. Run 'help' to see available commands.")
            run_command(TABLE, Session(), [o.command[0], "--help"])
        else:
            print_help(TABLE, HIDDEN)
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
    session.write_allowed = o.write
    session.debug = o.debug is not None
    ok = False
    try:
        if o.command:
            name = o.command[0]
            if name not in TABLE:
                fail(session.out, DdbError(f"Unknown command: '{name}'. "
                                           "Run 'help' to see available commands."))
                print_help_commands(TABLE, HIDDEN, sys.stderr)
                return 1
            if o.vos_path and name not in SELF_MANAGED and "-h" not in o.command[1:2] \
                    and "--help" not in o.command[1:2]:
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
            last = 0
            for line in read_command_lines(o.cmd_file):
                try:
                    words = split_line(line)
                    run_command(TABLE, session, words)
                except QuitRequested:
                    break
                except ExitCode as e:
                    last = e.code
                except DdbError as e:
                    shown = shown_line(line)
                    fail(session.out, e, f"Failed running command \"{shown}\": ", command=shown)
                    if session.batch_mode == "atomic" and session.shard is not None:
                        sys.stderr.write("ddb: atomic batch abandoned: nothing was changed\n")
                    return 1
            ok = True
            return last
        if o.vos_path:
            _auto_open(session, o)
        from .shell import run_shell
        rc = run_shell(session, TABLE, HIDDEN)
        ok = rc == 0
        return rc
    finally:
        try:
            session.close(success=ok)
        finally:
            session.out.flush()


def print_help_commands(table, hidden, stream) -> None:
    stream.write("\nAvailable Commands:\n\n")
    names = [n for n in table if n not in hidden]
    w = max(len(n) for n in names)
    for n in names:
        stream.write(f"  {n:<{w}}  {table[n].short_help}\n")


def _auto_open(session, o: Options) -> None:
    try:
        session.open(o.vos_path, write=o.write, db_path=o.db_path)
    except DdbError as e:
        raise DdbError(f"Error opening VOS path '{o.vos_path}': {e.message}", stdout=e.stdout,
                       stderr=e.stderr) from None


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
        fail(Output(_json_requested(args)), e)
        return 1
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
        fail(Output(_json_requested(args)), DdbError(f"internal error: {type(e).__name__}: {e} "
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
