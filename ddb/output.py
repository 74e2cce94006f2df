"""Where command output goes: text lines or JSON, written through one object.

Commands describe each result once as ``emit(text, data)``; in text mode the
line is printed, with ``--json`` the data (one document, or one line per item
of a listing). Lines are buffered so a million-line ``ls -r`` is not a
million writes.
"""
from __future__ import annotations

import sys


class Output:
    def __init__(self, json_mode: bool = False):
        self.json = json_mode
        if json_mode:
            import json     # only --json needs it: one-shot start-up is a target
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

    def flush(self) -> None:
        if self._buf:
            sys.stdout.write("\n".join(self._buf) + "\n")
            self._buf.clear()
        sys.stdout.flush()

    def error_lines(self, stdout=(), stderr=()) -> None:
        self.flush()
        for line in stdout:
            if not self.json:
                sys.stdout.write(line + "\n")
        sys.stdout.flush()
        for line in stderr:
            sys.stderr.write(line + "\n")
