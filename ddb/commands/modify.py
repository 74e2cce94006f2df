"""Commands that change a shard: value_load, rm, rm_pool, feature."""
from __future__ import annotations

import os

import click

from vosfmt import VosError
from vosfmt.constants import COMPAT_FEATURES, Media
from vosfmt.dtx import OrphanedRefs
from vosfmt.keys import hlc_now
from vosfmt.paths import parse_shard_path

from ..errors import DdbError, der
from ..registry import command
from ..resolve import resolve_parts
from ..vospath import PathError, format_path, parse_path
from .common import progress_bar, resolve_or_fail


class _Progress:
    """A file wrapper that advances a progress bar as it is read."""

    def __init__(self, f, bar):
        self.f, self.bar = f, bar

    def read(self, n=-1):
        data = self.f.read(n)
        self.bar.update(len(data))
        return data


def _load_target(s, path: str):
    """(cont uuid, oid, dkey, akey, existing akey handle or None, extent) of a destination."""
    try:
        parts = parse_path(path)
        if len(parts) < 4:
            raise PathError(None, f"value_load needs a path to an akey (or an extent), got '{path}'")
        r = resolve_parts(s.shard, parts[:4], path, partial=True)
    except PathError as e:
        raise DdbError(f"{der('DER_INVAL')}: {e.detail}",
                       stdout=[e.message] if e.level is not None else []) from None
    for level in range(r.depth, 4):
        if parts[level].index is not None:
            raise DdbError(f"{der('DER_INVAL')}: part {level + 1} does not exist; parts to create "
                           "must be given by value", stdout=[PathError(level, "").message])
    values = [p.value for p in parts[:4]]
    akey = r.akey
    extent = None
    if len(parts) == 5:
        p = parts[4]
        if p.index is None:
            extent = p.value
        elif akey is not None and akey.value_kind == "array" and p.index < akey.value_count():
            e = akey.value_at(p.index)
            extent = (e.lo, e.hi)
        else:
            raise DdbError(f"{der('DER_INVAL')}: no extent [{p.index}] here", stdout=["RECX is invalid"])
    return (*values, akey, extent)


@command("value_load", "Load a value to a VOS path.",
         long="Load a value from a file into a VOS path: a single value at a new epoch, or the "
              "array extent {lo-hi}. Missing objects, dkeys and akeys given by value are created.",
         args_help={"src": "Source file path that contains the data.",
                    "dst": "Destination VOS path to load the value into."})
@click.option("--rsize", type=int, default=1, help="Record size for an array extent.")
@click.argument("src")
@click.argument("dst")
def value_load(s, rsize, src, dst):
    s.require_write()
    cu, oid, dkey, akey, handle, extent = _load_target(s, dst)
    if not os.path.isfile(src):
        raise DdbError(der("DER_INVAL"), stderr=[f"Unable to access '{src}'"])
    size = os.path.getsize(src)
    if size == 0:
        raise DdbError(f"{der('DER_INVAL')}: '{src}' is empty; a value cannot be empty")
    if rsize <= 0:
        raise DdbError(f"{der('DER_INVAL')}: --rsize must be positive")
    kind = "array" if extent is not None else "sv"
    if handle is not None and handle.value_kind not in (None, kind):
        raise DdbError("DER_NO_PERM(-1001): Operation not permitted", stderr=[
            "Trying to update with the wrong value type? (Array vs SV): "
            f"the akey holds {'an array' if handle.value_kind == 'array' else 'a single value'}"])
    nbytes = size
    if extent is not None:
        nbytes = (extent[1] - extent[0] + 1) * rsize
        if size < nbytes:
            raise DdbError(f"DER_REC2BIG(-2013): Record too large: '{src}' has {size} bytes, "
                           f"extent {{{extent[0]}-{extent[1]}}} x {rsize} needs {nbytes}",
                           stderr=["Data value might not be large enough to fill the supplied recx"])
    obj_max = 0
    cont = s.shard.container(cu)
    try:
        obj_max = cont.object(oid).rec.max_write
    except VosError:                # no such object yet (or unreadable: the write will say)
        pass
    epoch = max(hlc_now(), obj_max + 1)
    bar = progress_bar(nbytes, "value_load")
    try:
        with open(src, "rb") as f, s.transaction() as tx, OrphanedRefs(tx, cu, oid, dkey, akey):
            stream = _Progress(f, bar) if bar is not None else f
            if extent is None:
                tx.put_single_value(cu, oid, dkey, akey, epoch, stream=stream, size=nbytes)
            else:
                tx.put_extent(cu, oid, dkey, akey, extent[0], extent[1] - extent[0] + 1, epoch,
                              stream=stream, rsize=rsize)
    except OSError as e:
        raise DdbError(f"{der('DER_INVAL')}: cannot read '{src}': {e.strerror}") from None
    finally:
        if bar is not None:
            bar.render_finish()
    from ..vospath import Part, format_values
    parts = [Part(value=v) for v in (cu, oid, dkey, akey)]
    if extent is not None:
        parts.append(Part(value=extent))
    r = resolve_or_fail(s, format_values(parts, oid.otype))
    s.out.text(r.printed)
    s.out.emit(f"Successfully loaded file '{src}'",
               {"path": r.printed, "src": src, "size": nbytes, "epoch": epoch,
                "media": Media(_media(r)).name.lower()})


def _media(r) -> int:
    v = r.extent if r.extent is not None else r.akey.single_value()
    return v.media


@command("rm", "Remove a branch of the VOS tree.",
         long="Remove a container, object, dkey, akey, or one stored array extent (with all "
              "that is below it). A key or object left empty is removed with it; references "
              "of active transactions to what was removed are dropped.",
         args_help={"path": "VOS tree path to remove."})
@click.argument("path")
def rm(s, path):
    s.require_write()
    if not path:
        raise DdbError(der("DER_INVAL"), stderr=["Error: DER_INVAL(-1003): 'Invalid parameters'"])
    r = resolve_or_fail(s, path)
    if r.depth == 0:
        raise DdbError(f"{der('DER_INVAL')}: give a container or something below it; "
                       "rm_pool removes a whole pool shard")
    depth = _emptied_depth(r)
    cu = r.container.rec.uuid
    with s.transaction() as tx:
        if depth == 1:
            tx.delete_container(cu)
            dtx = None
        else:
            scope = _scope(r, depth)
            with OrphanedRefs(tx, cu, *scope) as dtx:
                _delete(tx, cu, depth, scope, r)
    printed = r.printed
    emptied = [format_path(r.parts[:d], r.otype) for d in range(r.depth - 1, depth - 1, -1)]
    lines = [f"{printed} deleted"] + [f"{p} deleted (nothing was left in it)" for p in emptied]
    doc = {"deleted": printed, "emptied": emptied, "dtx_refs_dropped": 0, "dtx_entries_removed": 0}
    if dtx is not None and dtx.dropped:
        doc.update(dtx_refs_dropped=dtx.dropped, dtx_entries_removed=dtx.entries_removed)
        lines.append(f"Dropped {dtx.dropped} reference(s) of active transactions to removed records"
                     + (f"; {dtx.entries_removed} transaction(s) left with none removed"
                        if dtx.entries_removed else ""))
    s.out.emit("\n".join(lines), doc)


def _emptied_depth(r) -> int:
    """The level rm really removes: the target, or the highest parent it leaves empty.

    An akey with no value, a dkey with no akey and an object with no dkey
    cannot be made by any write and mean nothing to VOS (its aggregation
    deletes them); rm does not leave them behind. Containers are kept:
    an empty container is a normal state.
    """
    depth = r.depth
    counts = {5: lambda: r.akey.value_count(), 4: lambda: r.dkey.akey_count(),
              3: lambda: r.obj.dkey_count()}
    while depth in counts and counts[depth]() == 1:
        depth -= 1
    return depth


def _scope(r, depth: int) -> tuple:
    """(oid, dkey, akey, value key) of what is removed, None below ``depth``."""
    from vosfmt.keys import extent_key
    vkey = extent_key(r.extent.lo, r.extent.epoch, r.extent.minor) if depth == 5 else None
    values = (r.obj.oid, r.dkey.key if r.dkey is not None else None,
              r.akey.key if r.akey is not None else None, vkey)
    return tuple(v if i < depth - 1 else None for i, v in enumerate(values))


def _delete(tx, cu, depth: int, scope: tuple, r) -> None:
    oid, dkey, akey, _vkey = scope
    if depth == 2:
        tx.delete_object(cu, oid)
    elif depth == 3:
        tx.delete_key(cu, oid, dkey)
    elif depth == 4:
        tx.delete_key(cu, oid, dkey, akey)
    else:
        e = r.extent
        tx.delete_value(cu, oid, dkey, akey, (e.lo, e.epoch, e.minor))


@command("feature", "Manage VOS pool features",
         long="Show, enable or disable the pool's compat flags: immutable, skip_start, "
              "skip_rebuild, skip_dtx_resync.", args_help={"path": "Optional, path to the vos file."})
@click.option("-e", "--enable", default="", help="Enable vos pool features")
@click.option("-d", "--disable", default="", help="Disable vos pool features")
@click.option("-p", "--db_path", default="", help="Path to the sys db.")
@click.option("-s", "--show", is_flag=True, help="Show current features")
@click.argument("path", required=False, default="")
def feature(s, enable, disable, db_path, show, path):
    """Show (read-only) or change the compat flags. A change is a write like any tree edit:
    it needs -w (or a pool opened with ``open -w``); a dry run stages it and drops it."""
    if sum(map(bool, (enable, disable, show))) != 1:
        raise DdbError("exactly one of --enable, --disable, --show must be provided")
    if db_path and not path:
        raise DdbError("Cannot use sys db path without a VOS path")
    on = _flags(s, enable)
    off = _flags(s, disable)
    change = bool(enable or disable)
    opened_here = False
    if s.shard is None:
        path = path or getattr(s, "default_path", None) or ""
        if not path:
            raise DdbError(f"{der('DER_INVAL')}: feature needs the path of a VOS file")
        if change:
            s.require_write_access("VOS tree")      # -w (or --dry-run: staged, then dropped)
        try:
            s.open(path, write=change, db_path=db_path or None)
        except DdbError as e:
            raise e.prefixed(f"Unable to open VOS pool '{path}': ") from None
        opened_here = True
    try:
        shard = s.shard
        if change:
            with s.transaction() as tx:             # refused on a pool opened read-only
                tx.set_features(compat=(shard.sb.compat | on) & ~off)
        sb = shard.sb
        s.out.emit(None if not show else f"Compat Flags: {sb.compat}\nIncompat Flags: {sb.incompat}",
                   {"compat_flags": sb.compat, "incompat_flags": sb.incompat,
                    "features": sorted(n for n, b in COMPAT_FEATURES.items() if sb.compat & b)})
    finally:
        if opened_here:
            s.close()


def _flags(s, names: str) -> int:
    bits = 0
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name not in COMPAT_FEATURES:
            raise DdbError(der("DER_INVAL"), stdout=[f"Unknown flag: '{name}'"])
        bits |= COMPAT_FEATURES[name]
    return bits


@command("rm_pool", "Remove a VOS pool file.",
         long="Remove a pool shard file, its NVMe blob and its SMD rows.",
         args_help={"path": "Path to the vos file to remove."})
@click.option("-p", "--db_path", default="", help="Path to the sys db.")
@click.argument("path")
def rm_pool(s, db_path, path):
    """Deleting a shard, its blob and its SMD rows is the biggest change ddb makes: it needs
    -w like any other; a dry run only says what it would remove."""
    s.require_closed()
    parse_shard_path(path, db_path)
    if not os.path.lexists(path):
        raise DdbError(f"{der('DER_NONEXIST')}: no such file '{path}'")
    from vosfmt.image import remove_shard
    if s.require_write_access("VOS pool"):
        s.out.emit(f"Dry run: would remove '{path}' with its NVMe blob and SMD rows",
                   {"dry_run": True, "would_remove": path})
        return
    # Opened as `open -w` opens it: locked, and refused when its superblock names another pool.
    s.open(path, write=True, db_path=db_path or None)
    try:
        removed = remove_shard(s.shard)
    finally:
        s.close(success=False)
    s.out.emit(None, {"removed": removed})
