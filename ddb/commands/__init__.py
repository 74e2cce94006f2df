"""The one command table, in DAOS ddb's registration order.

Each command module registers its click commands into ``_table.ALL`` when it
is imported. ``TABLE`` maps names to commands but imports a module only
when one of its commands is asked for, so ``ddb IMAGE ls`` loads the
navigation commands and nothing else (start-up time is a benchmark).
Upstream commands not built here are simply absent (see the README).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping

from ._table import ALL

ORDER = ["ls", "open", "version", "close", "superblock_dump", "value_dump", "rm", "value_load",
         "ilog_dump", "ilog_commit", "ilog_clear", "dtx_dump", "dtx_cmt_clear", "smd_sync",
         "vea_dump", "vea_update", "dtx_act_commit", "dtx_act_abort", "feature", "rm_pool",
         "dtx_act_discard_invalid", "dev_list", "dev_replace", "dtx_stat", "prov_mem", "dtx_aggr",
         "csum_dump", "smd", "check", "quit", "q"]
#: command -> the module that defines it
MODULES = {
    "ls": "tree", "value_dump": "tree",
    "open": "pool", "close": "pool", "version": "pool", "quit": "pool", "q": "pool",
    "superblock_dump": "pool",
    "rm": "modify", "value_load": "modify", "feature": "modify", "rm_pool": "modify",
    "ilog_dump": "meta", "ilog_commit": "meta", "ilog_clear": "meta", "dtx_dump": "meta",
    "dtx_cmt_clear": "meta", "dtx_act_commit": "meta", "dtx_act_abort": "meta",
    "dtx_act_discard_invalid": "meta", "dtx_stat": "meta", "dtx_aggr": "meta",
    "vea_dump": "space", "vea_update": "space", "csum_dump": "space",
    "smd": "smd", "dev_list": "smd", "dev_replace": "smd", "smd_sync": "smd",
    "check": "check",
}
HIDDEN = {"quit", "q"}
UPSTREAM_NAMES = set(ORDER)


class _LazyTable(Mapping):
    """name -> click command, importing a command's module on first use."""

    def __init__(self):
        self._names = [n for n in ORDER if n in MODULES]

    def __getitem__(self, name):
        if name not in MODULES:
            raise KeyError(name)
        if name not in ALL:
            importlib.import_module(f"{__name__}.{MODULES[name]}")
        return ALL[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self):
        return len(self._names)

    def __contains__(self, name):
        return name in MODULES


TABLE = _LazyTable()
