"""The command table, read from the manifest, loading each command's module on first use.

``TABLE`` maps a name to its click command in the manifest's order, but
imports ``ddb.commands.<module>`` only when one of its commands is asked
for, so ``ddb IMAGE ls`` loads the navigation commands and nothing else
(start-up time is a benchmark). A command is the module-level click
command of that name in the module its manifest row names: there is no
registration step that could disagree with the manifest.
Upstream commands not built here are simply absent (see the README).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

import click

from ..manifest import BY_NAME, ROWS


def defined_commands(module) -> dict:
    """name -> click command, for every command ``module`` defines at its top level (the
    subcommands of a group it defines are the group's, not the table's)."""
    cmds = [obj for obj in vars(module).values() if isinstance(obj, click.Command)]
    nested = {id(sub) for c in cmds if isinstance(c, click.Group) for sub in c.commands.values()}
    return {c.name: c for c in cmds if id(c) not in nested}


class _LazyTable(Mapping):
    """name -> click command, importing a command's module on first use."""

    def __init__(self):
        self._loaded: dict = {}

    def __getitem__(self, name):
        row = BY_NAME[name]
        cmd = self._loaded.get(name)
        if cmd is None:
            module = importlib.import_module(f"{__name__}.{row.module}")
            cmd = self._loaded[name] = defined_commands(module)[name]
        return cmd

    def __iter__(self):
        return (row.name for row in ROWS)

    def __len__(self):
        return len(ROWS)

    def __contains__(self, name):
        return name in BY_NAME


TABLE = _LazyTable()
