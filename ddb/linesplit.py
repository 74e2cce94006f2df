"""Splitting a command line into words, as command files and the shell both need.

A pure function with no ddb state, so the one-shot runner (ddb.cli) and the
shell (ddb.shell) share it without importing each other. DAOS ddb splits
with go-shlex in POSIX mode; ``split_line`` gives shlex's results and
messages, but in one linear pass.
"""
from __future__ import annotations

import re

from .errors import DdbError

#: One piece of a shell word, as shlex.split(posix=True) reads them: blanks end a word;
#: '...' is literal; "..." keeps a backslash except before " or \; \ outside quotes
#: escapes any character. At the end of the line, a backslash (also inside an open "...")
#: has nothing to escape, and an open quote has no end.
_PIECES = re.compile(
    r"""(?P<blank>[ \t\r\n]+)|'(?P<single>[^']*)'|"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"|"""
    r"""\\(?P<escaped>.)|(?P<plain>[^ \t\r\n'"\\]+)|"""
    r"""(?P<no_escaped>(?:"[^"\\]*(?:\\.[^"\\]*)*)?\\\Z)|(?P<no_closing>['"])""", re.S)
_DQ_ESCAPE = re.compile(r'\\(["\\])')
_UNSPLITTABLE = {"no_escaped": "No escaped character", "no_closing": "No closing quotation"}


def split_line(line: str) -> list[str]:
    """POSIX shell-like word splitting (quotes, backslash escapes), with shlex's results
    and messages but in one linear pass: shlex builds each word a character at a time,
    quadratic in its length (a 640k-character line took a minute)."""
    words, word, in_word = [], [], False
    for m in _PIECES.finditer(line):
        kind = m.lastgroup
        if kind == "blank":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
            continue
        if kind in _UNSPLITTABLE:
            raise DdbError("invalid args: " + _UNSPLITTABLE[kind])
        text = m.group(kind)
        word.append(_DQ_ESCAPE.sub(r"\1", text) if kind == "double" else text)
        in_word = True
    if in_word:
        words.append("".join(word))
    return words
