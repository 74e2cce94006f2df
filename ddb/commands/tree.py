"""Tree navigation: ls and value_dump."""
from __future__ import annotations

import click

from vosfmt import SingleValue
from vosfmt.keytext import format_key

from ..errors import DdbError, der
from ..printer import detail_extent, detail_key, detail_object, detail_sv, render_value
from ..registry import command
from ..vospath import format_value
from .common import progress_bar, resolve_or_fail

_KIND_SUFFIX = {"sv": " (SV)", "array": " (ARRAY)"}


class _Lister:
    """Prints the children of a resolved path (recursively with -r), one line each."""

    def __init__(self, out, details: bool, recursive: bool):
        self.out, self.recursive = out, recursive
        # one emitter per output form, chosen once: this runs for every line listed
        self.emit = self._json if out.json else self._detail if details else self._plain

    # Each emitter takes (level, indent, i, idx, val, detail, data); ``detail`` and
    # ``data`` are callables, so only the form being printed is built.
    def _plain(self, level: str, indent: int, i: int, idx: str, val: str, detail, data):
        self.out.emit(f"{' ' * indent}{level}: ({idx}) {val}")

    def _detail(self, level: str, indent: int, i: int, idx: str, val: str, detail, data):
        self.out.emit(f"{' ' * indent}[{i}] {detail()}")

    def _json(self, level: str, indent: int, i: int, idx: str, val: str, detail, data):
        self.out.emit(None, dict(level=level, index=i, indexes=idx, path=val, indent=indent,
                                 **data()))

    def children(self, depth: int, handle, idx: str, val: str, otype: int, indent: int):
        """List the children of ``handle`` (a part at ``depth``, 0 = the pool)."""
        if depth == 0:
            for i, c in enumerate(handle.containers()):
                ci, cv = f"{idx}/[{i}]", f"{val}/{c.uuid}"
                self.emit("CONT", indent, i, ci, cv, lambda: c.uuid, lambda: {"uuid": c.uuid})
                if self.recursive:
                    self.children(1, c, ci, cv, 0, indent + 1)
        elif depth == 1:
            for i, o in enumerate(handle.objects()):
                oid = o.oid
                oi, ov = f"{idx}/[{i}]", f"{val}/{oid}"
                self.emit("OBJ", indent, i, oi, ov, lambda: detail_object(oid),
                          lambda: {"oid": str(oid), "type": oid.otype_name, "groups": oid.grp_nr})
                if self.recursive:
                    self.children(2, o, oi, ov, oid.otype, indent + 1)
        elif depth == 2:
            for i, d in enumerate(handle.dkeys()):
                key = d.key
                di, dv = f"{idx}/[{i}]", f"{val}/{format_key(key, otype)}"
                self.emit("DKEY", indent, i, di, dv, lambda: detail_key(key, otype),
                          lambda: {"key_hex": key.hex()})
                if self.recursive:
                    self.children(3, d, di, dv, otype, indent + 1)
        elif depth == 3:
            for i, a in enumerate(handle.akeys()):
                key, kind = a.key, a.value_kind
                suffix = _KIND_SUFFIX.get(kind, "")
                ai, av = f"{idx}/[{i}]", f"{val}/{format_key(key, otype)}"
                self.emit("AKEY", indent, i, ai, av, lambda: detail_key(key, otype) + suffix,
                          lambda: {"key_hex": key.hex(), "kind": kind})
                if self.recursive:
                    self.values(a, kind, ai, av, indent + 1)
        else:
            self.values(handle, handle.value_kind, idx, val, indent)

    def values(self, akey, kind: str | None, idx: str, val: str, indent: int):
        if kind == "sv":
            for i, sv in enumerate(akey.single_values()):
                self.emit("AKEY", indent, i, idx, val, lambda: detail_sv(sv),
                          lambda: {"kind": "sv", "size": sv.size, "epoch": sv.epoch, "minor": sv.minor,
                           "dtx_lid": sv.dtx_lid, "punch": sv.is_punch})
        else:
            for i, e in enumerate(akey.extents()):
                self.emit("RECX", indent, i, f"{idx}/[{i}]", f"{val}/{{{e.lo}-{e.hi}}}",
                          lambda: detail_extent(e),
                          lambda: {"kind": "array", "lo": e.lo, "hi": e.hi, "records": e.nr,
                           "rsize": e.rsize, "epoch": e.epoch, "minor": e.minor,
                           "dtx_lid": e.dtx_lid, "punch": e.is_punch})


@command("ls", "List containers, objects, dkeys, akeys, and values",
         args_help={"path": "Optional, list contents of the provided path"})
@click.option("-r", "--recursive", is_flag=True, help="Recursively list the contents of the path")
@click.option("-d", "--details", is_flag=True, help="List more details of items in path")
@click.argument("path", required=False, default="")
def ls(s, recursive, details, path):
    r = resolve_or_fail(s, path)
    s.out.emit(f"Listing contents of '{r.printed}'", {"listing": r.printed})
    if r.depth == 5:
        return
    handle = [s.shard, r.container, r.obj, r.dkey, r.akey][r.depth]
    idx = "".join(f"/[{p.index}]" for p in r.parts)
    val = "/".join([""] + [format_value(i, p.value, r.otype) for i, p in enumerate(r.parts)])
    _Lister(s.out, details, recursive).children(r.depth, handle, idx, val, r.otype, 0)


@command("value_dump", "Dump a value",
         long="Dump a value to the screen or to a file.",
         args_help={"path": "VOS tree path to dump.", "dst": "File path to dump the value to."})
@click.argument("path")
@click.argument("dst", required=False, default="")
def value_dump(s, path, dst):
    s.require_open()
    if not path:
        raise DdbError(der("DER_INVAL"), stderr=["A VOS path to dump is required."])
    r = resolve_or_fail(s, path)
    s.out.text(r.printed)
    if not r.reaches_value:
        raise DdbError(f"Path [{path}] is incomplete: it must end at an extent, or at an akey "
                       "holding a single value")
    v = r.extent if r.extent is not None else r.akey.single_value()
    size = 0 if v is None else v.size if isinstance(v, SingleValue) else v.nbytes
    shard = s.shard
    if size == 0:
        s.out.emit(f"No value at: {r.printed}", {"path": r.printed, "size": 0})
        return
    if dst:
        if not s.dry_run_file(dst, size, {"path": r.printed, "size": size}):
            _dump_to_file(s, shard, v, size, dst, r.printed)
    else:
        head = next(shard.value_chunks(v, chunk=4096, path=r.printed), b"")
        s.out.emit(None, {"path": r.printed, "size": size, "epoch": v.epoch,
                          "hex": head.hex(), "truncated": size > len(head)})
        s.out.text(f"Value (size: {size}):")
        s.out.text(render_value(head[:256]))


def _dump_to_file(s, shard, v, size: int, dst: str, printed: str) -> None:
    """Stream a value to DST through safefs.OutputFile: a file is replaced only by a complete
    dump (a failed one leaves it as it was), a pipe or device is written in place and never
    removed, a symbolic link is refused."""
    out = open_output(dst)                  # a refused destination prints no "Dumping" line
    s.out.text(f"Dumping value (size: {size}) to: {dst}")
    s.out.flush()
    done = 0
    bar = progress_bar(size, "value_dump")
    try:
        with out:
            try:
                for chunk in shard.value_chunks(v, chunk=4 << 20, path=printed):
                    out.write(chunk)
                    done += len(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            except OSError as e:
                raise DdbError(f"cannot write '{dst}': {e.strerror}") from None
            if done != size:
                raise DdbError(f"value ended after {done} of {size} bytes; '{dst}' was not written")
    except OSError as e:
        raise DdbError(f"cannot write '{dst}': {e.strerror}") from None
    finally:
        if bar is not None:
            bar.render_finish()
    s.out.emit(None, {"path": printed, "size": size, "dst": dst})


def open_output(dst: str):
    """safefs.OutputFile for a user-named destination, with DAOS ddb's message when it cannot
    be opened (refusals of links and odd file types raise VosError: one clear line)."""
    from vosfmt.safefs import OutputFile
    try:
        return OutputFile(dst)
    except OSError as e:
        raise DdbError(der("DER_INVAL"), stderr=[f"Unable to open path '{dst}': {e.strerror}"]) from None


