"""The interactive shell: prompt_toolkit input over the same command table.

The shell owns only shell things: the prompt (``ddb:  ``), history in
``~/.ddb_history`` (500 entries, one line each as DAOS ddb writes it, so
both tools share it), completion (ddb/completer.py), Ctrl-C /
Ctrl-D, continuation lines ending in ``\\``, and the built-ins ``help``,
``clear``, ``exit``, ``cd`` and ``pwd``. Commands run exactly as in one-shot
mode. When standard input is not a terminal, lines are read and run one by
one, continuing after errors (the exit status is 1 if any failed).

``cd PATH`` sets a current VOS path: ``ls`` with no path lists it, and paths
beginning with ``./`` or ``../`` (or ``.``) are taken relative to it. Paths
without that prefix keep DAOS ddb's meaning (absolute, the leading ``/``
optional).
"""
from __future__ import annotations

import os
import sys

from .errors import DdbError, ExitCode, QuitRequested
from .linesplit import split_line
from .manifest import BY_NAME
from .registry import run_command

PROMPT = "ddb:  "
HISTORY_MAX = 500


def history_path() -> str:
    home = os.path.expanduser("~")
    return os.path.join(home if home != "~" else "/tmp", ".ddb_history")


class Shell:
    def __init__(self, session, table):
        self.session = session
        self.table = table
        self.cwd = ""
        self.failed = False

    # --- one line ---------------------------------------------------------------
    def run_line(self, line: str) -> bool:
        """Run one line; False when the shell should end."""
        line = line.strip()
        if not line:
            return True
        try:
            words = split_line(line)
        except DdbError as e:
            self._error(e)
            return True
        if not words:
            return True
        name = words[0]
        try:
            if name == "exit":
                return False
            if name == "help":
                self.help(words[1:])
            elif name == "clear":
                sys.stdout.write("\033[2J\033[H")
                sys.stdout.flush()
            elif name == "pwd":
                print(self.cwd or "/")
            elif name == "cd":
                self.cd(words[1:])
            elif name not in self.table:
                raise DdbError("command not found")
            else:
                run_command(self.table, self.session, self._relative(words))
        except QuitRequested:
            return False
        except ExitCode as e:
            if e.code & ~1:
                self.failed = True
        except DdbError as e:
            self._error(e)
        return True

    def _error(self, e: DdbError) -> None:
        """A failed line: under --json the one-shot error path (one JSON document on stdout,
        the message on stderr), so a reader of the output sees every failure the same way;
        in text mode the command's lines and ``error: <message>``."""
        self.failed = True
        out = self.session.out
        if out.json:
            out.fail(e)
            return
        out.error(e)
        red = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        word = "\033[31merror:\033[0m" if red else "error:"
        print(f"{word} {e.message}", flush=True)

    # --- built-ins ---------------------------------------------------------------
    def help(self, args) -> None:
        if args:
            if args[0] not in self.table:
                raise DdbError("command not found")
            run_command(self.table, self.session, [args[0], "--help"])
            return
        groups: dict[str, list[tuple[str, str]]] = {"": [
            ("clear", "clear the screen"), ("exit", "exit the shell"),
            ("help", "use 'help [command]' for command help"), ("quit, q", "exit the shell"),
            ("cd", "set the current VOS path (ls lists it; ./ paths are relative to it)"),
            ("pwd", "print the current VOS path")]}
        for name, cmd in self.table.items():
            row = BY_NAME[name]
            if not row.hidden:
                groups.setdefault(row.group or "", []).append((name, cmd.short_help))
        for group in sorted(groups):
            rows = sorted(groups[group])
            print(group or "Commands:")
            w = max(len(n) for n, _ in rows)
            for n, text in rows:
                print(f"  {n:<{w}}  {text}")
            print()

    def cd(self, args) -> None:
        target = args[0] if args else "/"
        path = self._join(target) if target.startswith(".") else target
        from .commands.common import resolve_or_fail
        r = resolve_or_fail(self.session, path)
        self.cwd = r.printed.split(") ", 1)[1] if r.parts else ""

    def _join(self, rel: str) -> str:
        parts = [p for p in self.cwd.split("/") if p]
        for piece in rel.split("/"):
            if piece in ("", "."):
                continue
            if piece == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(piece)
        return "/" + "/".join(parts)

    def _relative(self, words: list[str]) -> list[str]:
        """``ls`` alone lists the current path; './' and '../' paths are relative to it."""
        if not self.cwd:
            return words
        out = [w if not (w == "." or w.startswith(("./", "../")) or w == "..") else self._join(w)
               for w in words]
        if out[0] == "ls" and not [w for w in out[1:] if not w.startswith("-")]:
            out.append(self.cwd)
        return out

    # --- loops ----------------------------------------------------------------------
    def run_lines(self, stream) -> int:
        """Non-interactive: run every line, continuing after errors."""
        for raw in stream:
            line = raw.rstrip("\n")
            if line.strip().startswith("#"):
                continue
            if not self.run_line(line):
                break
        return 1 if self.failed else 0

    def run_interactive(self, *, input=None, output=None) -> int:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.completion import Completer, Completion

        from .completer import Context, suggest
        shell = self

        class DdbCompleter(Completer):
            def get_completions(self, document, complete_event):
                ctx = Context(shell.table, shell.session.shard, shell.cwd)
                for s in suggest(document.text_before_cursor, ctx):
                    yield Completion(s.text, start_position=s.start, display=s.display or None,
                                     display_meta=s.meta or None)

        history = CappedHistory(history_path()) if input is None else None
        ps = PromptSession(history=history if history is not None else None, completer=DdbCompleter(),
                           complete_while_typing=True, enable_history_search=False,
                           input=input, output=output)
        interrupted = False
        pending = ""
        while True:
            try:
                line = ps.prompt("... " if pending else PROMPT)
            except KeyboardInterrupt:
                if interrupted:
                    print("interrupted")
                    return 1
                interrupted = True
                pending = ""
                print("input Ctrl-c once more to exit")
                continue
            except EOFError:
                return 0
            interrupted = False
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            try:
                if not self.run_line(line):
                    return 0
            except KeyboardInterrupt:
                print("interrupted")


class CappedHistory:
    """The shell's history in DAOS ddb's format: one line per entry, oldest first, the
    newest HISTORY_MAX kept (the file is rewritten when it holds twice that).

    The file is read, appended to and rewritten through vosfmt.safefs,
    relative to its directory and never through a link: ddb runs as root,
    and without a home directory the history lives in /tmp, where anyone
    can plant a link. A file that cannot be used safely just means no history.
    A prompt_toolkit History, built lazily (one-shot runs never load it).
    """

    def __new__(cls, path: str):
        from prompt_toolkit.history import History

        class _Capped(History):
            def __init__(self, filename: str):
                super().__init__()
                self.filename = filename

            def load_history_strings(self):
                lines = (_read(self.filename) or b"").decode("utf-8", errors="replace").splitlines()
                return iter([line for line in lines if line][::-1][:HISTORY_MAX])

            def store_string(self, string: str) -> None:
                line = " ".join(string.splitlines())        # an entry is one line
                _append(self.filename, (line + "\n").encode("utf-8", errors="replace"))
                _trim(self.filename)

        return _Capped(path)


def _open_history(path: str, flags: int) -> int | None:
    """An fd of the history file, or None when it cannot be used safely: a link, not a
    regular file, or someone else's file (in /tmp another user may have made it)."""
    from vosfmt import VosError
    from vosfmt.safefs import open_file
    try:
        fd = open_file(os.path.dirname(path), path, flags, 0o600)
    except (OSError, VosError):
        return None
    if os.fstat(fd).st_uid != os.getuid():
        os.close(fd)
        return None
    return fd


def _read(path: str) -> bytes | None:
    """The history file's bytes (b"" when there is none); None when it is not safe to use."""
    fd = _open_history(path, os.O_RDONLY)
    if fd is None:
        return b"" if not os.path.lexists(path) else None
    with os.fdopen(fd, "rb") as f:
        return f.read()


def _append(path: str, data: bytes) -> None:
    fd = _open_history(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    if fd is None:
        return
    try:
        os.write(fd, data)
    except OSError:
        pass
    finally:
        os.close(fd)


def _trim(path: str) -> None:
    """Rewrite the history file when it holds many more entries than we keep."""
    data = _read(path)
    if not data:
        return
    entries = data.splitlines(keepends=True)
    if len(entries) <= 2 * HISTORY_MAX:
        return
    from vosfmt import VosError
    from vosfmt.safefs import write_file
    try:
        write_file(os.path.dirname(path), path, b"".join(entries[-HISTORY_MAX:]), 0o600)
    except (OSError, VosError):
        pass


def run_shell(session, table, *, input=None, output=None, stdin=None) -> int:
    shell = Shell(session, table)
    stream = stdin if stdin is not None else sys.stdin
    if input is None and not stream.isatty():
        return shell.run_lines(stream)
    return shell.run_interactive(input=input, output=output)
