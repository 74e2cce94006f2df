"""The ``ddb`` entry point.

Only ``version`` exists so far; the DAOS ddb command set (``ls``,
``superblock_dump``, ``value_dump``...) is tracked in the issues and listed
as missing in the README. Until a command works on real data it is absent,
and asking for it is an error, not a placeholder.
"""
from __future__ import annotations

import sys

from . import __version__

USAGE = "Usage:\n  ddb [OPTIONS] [ddb_command] [ddb_command_args...]\n"
COMMANDS = {"version": "Print ddb version"}


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        print("Available Commands:\n")
        for name, text in COMMANDS.items():
            print(f"  {name}  {text}")
        return 0
    if args[0] in ("-v", "--version", "version"):
        print(f"ddb version {__version__}")
        return 0
    print(f"ERROR: ddb: Unknown command: '{args[0]}'. Run 'ddb --help' to see available commands.",
          file=sys.stderr)
    return 1
