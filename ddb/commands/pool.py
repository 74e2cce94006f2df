"""Pool-level commands: open, close, version, quit, superblock_dump."""
from __future__ import annotations

import uuid as _uuid

import click

from .. import __version__
from ..errors import QuitRequested
from ..printer import superblock_lines
from ..registry import command


@command("open", "Opens the VOS file at <path>",
         long="Opens the VOS file at <path>: a pool's shard of target N,\n"
              "[db/]<pool-uuid>/vos-N, or the pool's service replica, [db/]<pool-uuid>/rdb-pool\n"
              "(in a system image, db is an engine's rank-R directory). Both are navigated\n"
              "and edited the same way.",
         args_help={"path": "Path to the vos file to open (vos-N or rdb-pool)."})
@click.option("-w", "--write_mode", is_flag=True, help="Open the vos file in write mode.")
@click.option("-p", "--db_path", default="", help="Path to the sys db.")
@click.argument("path")
def open_pool(s, write_mode, db_path, path):
    s.open(path, write=write_mode, db_path=db_path or None)
    s.out.emit(None, {"opened": path, "write_mode": write_mode})


@command("close", "Close the currently opened VOS file")
def close_pool(s):
    path = s.path
    s.close()
    s.out.emit(None, {"closed": path})


@command("version", "Print ddb version")
def version(s):
    s.out.emit(f"ddb version {__version__}", {"version": __version__})


def _quit(s):
    raise QuitRequested()


quit_shell = command("quit", "exit the shell")(_quit)
q = command("q", "exit the shell")(_quit)


@command("superblock_dump", "Dump the pool superblock information")
def superblock_dump(s):
    sb = s.require_open().sb
    data = {
        "pool_uuid": str(_uuid.UUID(bytes=sb.pool_uuid)), "format_version": sb.format_version,
        "containers": sb.cont_count, "compat_flags": sb.compat, "ro_compat_flags": sb.ro_compat,
        "incompat_flags": sb.incompat, "scm_size": sb.scm_size, "nvme_size": sb.nvme_size,
        "block_size": sb.blk_size, "reserved_blocks": sb.hdr_blks, "total_blocks": sb.tot_blks,
        "block_device_capacity": sb.tot_blks * sb.blk_size, "generation": sb.generation,
        "page_size": sb.page_size, "total_pages": sb.total_pages, "free_pages": sb.free_pages,
        "nvme_threshold": sb.nvme_threshold, "target": sb.target_idx,
    }
    if s.out.json:
        s.out.emit(None, data)
    else:
        for line in superblock_lines(sb):
            s.out.emit(line)
