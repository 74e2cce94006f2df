"""The command manifest: every ddb command, written once.

One row per command says where it is defined, how ``help`` groups it,
whether it manages the pool itself and whether lists hide it. Everything
else derives from these rows: the lazy command table (ddb.commands), the
order of ``ddb --help`` (DAOS ddb's registration order, then ours), the
shell's help groups and which commands skip the auto-open of ``-s``.
A declaration only: importing it loads no command module.
"""
from __future__ import annotations

from typing import NamedTuple


class Row(NamedTuple):
    name: str
    module: str             # ddb.commands.<module> defines it
    group: str | None       # the shell help's group; None: the untitled first group
    self_managed: bool = False
    """It opens, closes or must not have a pool itself (DAOS ddb's list, plus ``smd`` and
    ``check``, which read the image around the shard, and ``system_dump``, the system around
    it): one-shot runs do not auto-open -s."""
    hidden: bool = False    # left out of command lists (an alias, a shell-only word)


ROWS = (
    Row("ls", "tree", "vos"),
    Row("open", "pool", "vos", self_managed=True),
    Row("version", "pool", None),
    Row("close", "pool", "vos", self_managed=True),
    Row("superblock_dump", "pool", "vos"),
    Row("value_dump", "tree", "vos"),
    Row("rm", "modify", "vos"),
    Row("value_load", "modify", "vos"),
    Row("ilog_dump", "meta", "vos"),
    Row("ilog_commit", "meta", "vos"),
    Row("ilog_clear", "meta", "vos"),
    Row("dtx_dump", "meta", "vos"),
    Row("dtx_cmt_clear", "meta", "vos"),
    Row("smd_sync", "smd", "smd", self_managed=True),
    Row("vea_dump", "space", "vos"),
    Row("vea_update", "space", "vos"),
    Row("dtx_act_commit", "meta", "vos"),
    Row("dtx_act_abort", "meta", "vos"),
    Row("feature", "modify", "vos", self_managed=True),
    Row("rm_pool", "modify", "vos", self_managed=True),
    Row("dtx_act_discard_invalid", "meta", "vos"),
    Row("dev_list", "smd", "vos", self_managed=True),
    Row("dev_replace", "smd", "vos", self_managed=True),
    Row("dtx_stat", "meta", "vos"),
    Row("dtx_aggr", "meta", "vos"),
    Row("csum_dump", "space", "vos"),
    Row("smd", "smd", "smd", self_managed=True),
    Row("check", "check", "check", self_managed=True),
    Row("system_dump", "system", "system", self_managed=True),
    Row("quit", "pool", None, hidden=True),
    Row("q", "pool", None, hidden=True),
)

BY_NAME = {row.name: row for row in ROWS}
