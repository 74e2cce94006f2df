"""The one command table, in DAOS ddb's registration order.

Each module below registers its commands into ``_ALL``; ``TABLE`` orders
them the way ``ddb --help`` lists them. Upstream commands not built yet are
simply absent (the README lists them).
"""
from __future__ import annotations

from . import check, meta, modify, pool, smd, space, tree  # noqa: F401  (registration)
from ._table import ALL

ORDER = ["ls", "open", "version", "close", "superblock_dump", "value_dump", "rm", "value_load",
         "ilog_dump", "ilog_commit", "ilog_clear", "dtx_dump", "dtx_cmt_clear", "smd_sync",
         "vea_dump", "vea_update", "dtx_act_commit", "dtx_act_abort", "feature", "rm_pool",
         "dtx_act_discard_invalid", "dev_list", "dev_replace", "dtx_stat", "prov_mem", "dtx_aggr",
         "csum_dump", "smd", "check", "quit", "q"]
HIDDEN = {"quit", "q"}
TABLE = {name: ALL[name] for name in ORDER if name in ALL}
UPSTREAM_NAMES = set(ORDER)
