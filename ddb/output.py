"""Where command output goes: text lines or JSON, written through one object.

Commands describe each result once as ``emit(text, data)``; in text mode the
line is printed, with ``--json`` the data (one document, or one line per item
of a listing). Lines are buffered so a million-line ``ls -r`` is not a
million writes. Everything a command says goes through here, so the order
of stdout and stderr holds: ``note`` (warnings, progress, hints on stderr),
``document`` (a command's own JSON), ``ask`` (a question at the terminal),
and ``fail``, the one way a run reports a failure.
"""
from __future__ import annotations

import sys


class Output:
    def __init__(self, json_mode: bool = False):
        self.json = json_mode
        if json_mode:
            import json  # only --json needs it: one-shot start-up is a target
            self._dumps = json.dumps
        self._buf: list[str] = []

    def emit(self, text: str | None, data=None) -> None:
        line = self._dumps(data) if self.json else text
        if line is None:
            return
        self._buf.append(line)
        if len(self._buf) >= 2048:
            self.flush()

    def text(self, line: str) -> None:
        """A line shown only in text mode (headers, notes)."""
        if not self.json:
            self.emit(line)

    def document(self, data) -> None:
        """One JSON document on stdout whatever the mode (a command's own --json flag)."""
        import json
        self.flush()
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    def note(self, line: str, *, end: str = "\n") -> None:
        """A line for the person at the terminal, not part of the result: on stderr, in
        text and JSON mode alike, after what the command has printed so far. ``end=""``
        with a leading "\\r" redraws a progress line."""
        self.flush()
        sys.stderr.write(line + end)
        sys.stderr.flush()

    def ask(self, question: str, default: str) -> str:
        """An answer typed at the terminal, after what the command has printed so far."""
        import click
        self.flush()
        return click.prompt(question, default=default, show_default=True)

    def flush(self) -> None:
        if self._buf:
            sys.stdout.write("\n".join(self._buf) + "\n")
            self._buf.clear()
        sys.stdout.flush()

    def error(self, e, **fields) -> None:
        """A failed command: its text-mode lines, or with --json one error document, on
        stdout (after what the command printed); the C layer's lines on stderr. The runner
        then writes its own error line to stderr."""
        self.flush()
        if self.json:
            sys.stdout.write(self._dumps(error_document(e, **fields)) + "\n")
        else:
            for line in e.stdout:
                sys.stdout.write(line + "\n")
        sys.stdout.flush()
        for line in e.stderr:
            sys.stderr.write(line + "\n")

    def fail(self, e, prefix: str = "", **fields) -> None:
        """The one way a run reports a failure: ``error`` (text lines, or one JSON error
        document with --json) and then ``ERROR: ddb: <prefix><message>`` on stderr."""
        self.error(e, **fields)
        sys.stderr.write(f"ERROR: ddb: {prefix}{e.message}\n")
        sys.stderr.flush()


def error_document(e, **fields) -> dict:
    """``{"error": message, ...fields}``, plus the level a path failed at (DAOS ddb's
    ``Container is invalid`` ... line) as ``level``, other stdout lines as ``output``
    and the C layer's stderr lines as ``details``."""
    from .vospath import LEVEL_ERRORS
    doc = {"error": e.message, **fields}
    level = [line for line in e.stdout if line in LEVEL_ERRORS]
    other = [line for line in e.stdout if line not in LEVEL_ERRORS]
    if level:
        doc["level"] = level[0]
    if other:
        doc["output"] = other
    if e.stderr:
        doc["details"] = list(e.stderr)
    return doc
