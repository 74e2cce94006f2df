"""Tab completion for the shell, as a pure function of the text before the cursor.

``suggest(text, ctx)`` returns Suggestions (text to insert, how many
characters before the cursor it replaces, and a label); the prompt_toolkit
Completer in ddb/shell.py only maps them. Candidates: command names, a
command's flags, file-system paths for file arguments and directory options
(shard files, vos-N and rdb-pool, for open/feature/rm_pool; a system image's
rank-<R> directories labelled with their rank), and VOS tree paths of the
open shard: containers, objects, keys (escaped so the completed text parses
back to the same bytes) and extents. Work per keystroke is bounded
(``SCAN_MAX`` children looked at, ``LIMIT`` suggestions), so a level with
100,000 entries stays responsive.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

import click

from vosfmt import VosError
from vosfmt.paths import is_shard_name
from vosfmt.system import RDB_FILE, rank_of

from .vospath import PathError, format_value, parse_path

LIMIT = 200
SCAN_MAX = 5000
BUILTINS = {"help": "use 'help [command]' for command help", "clear": "clear the screen",
            "exit": "exit the shell", "cd": "set the current VOS path", "pwd": "print the current VOS path"}
#: argument name -> what completes it, unless a command says otherwise
ARG_KINDS = {"path": "vos", "src": "file", "dst": "file", "db_path": "dir", "nvme_conf": "file"}
#: an option's parameter name -> what completes its value (options not named complete nothing)
OPTION_KINDS = {"sys_root": "dir"}
SHARD_PATH_COMMANDS = {"open", "feature", "rm_pool"}


@dataclass(frozen=True)
class Suggestion:
    text: str           # what replaces the current word
    start: int          # negative: characters before the cursor that it replaces
    display: str = ""
    meta: str = ""


@dataclass
class Context:
    table: dict
    shard: object = None          # the open Shard, if any
    cwd: str = ""                 # the shell's current VOS path


def _split(text: str) -> tuple[list[str], str, str]:
    """(complete words, current partial word as typed, its unquoted value)."""
    start, in_s, in_d, skip = None, False, False, False
    for idx, ch in enumerate(text):
        if skip:
            skip = False
            continue
        if start is None and not ch.isspace():
            start = idx
        if ch == "\\" and not in_s:
            skip = True
        elif ch == "'" and not in_d:
            in_s = not in_s
        elif ch == '"' and not in_s:
            in_d = not in_d
        elif ch.isspace() and not in_s and not in_d:
            start = None
    raw = "" if start is None else text[start:]
    head = text if start is None else text[:start]
    try:
        words = shlex.split(head)
    except ValueError:
        words = head.split()
    cur = ""
    if raw:
        for closing in ("", "'", '"'):
            try:
                got = shlex.split(raw + closing)
                cur = got[0] if got else ""
                break
            except ValueError:
                continue
    return words, raw, cur


def suggest(text: str, ctx: Context) -> list[Suggestion]:
    words, raw, cur = _split(text)
    if not words:
        names = sorted(set(ctx.table) | set(BUILTINS))
        return [Suggestion(n, -len(raw), n, _short(ctx, n)) for n in names if n.startswith(cur)][:LIMIT]
    name = words[0]
    if name == "help":
        return [Suggestion(n, -len(raw), n) for n in sorted(ctx.table) if n.startswith(cur)][:LIMIT]
    if name == "cd":
        return _vos(raw, cur, ctx)
    cmd = ctx.table.get(name)
    if cmd is None:
        return []
    return _for_command(name, click.Context(cmd, **cmd.context_settings), words[1:], raw, cur, ctx)


def _for_command(name: str, cctx, args: list[str], raw: str, cur: str, ctx: Context) -> list[Suggestion]:
    """What completes the word being typed after ``name args...`` (``cctx``: the click
    context of the command they are for): one of the command's own flags not given yet
    (DAOS ddb: only before its arguments), a subcommand of a group (``check``), or the
    argument due at this position."""
    cmd = cctx.command
    if isinstance(cmd, click.Group):
        first = next((i for i, w in enumerate(args) if not w.startswith("-")), None)
        if first is None:
            if cur.startswith("-"):
                return _flags(cctx, args, raw, cur)
            return [Suggestion(n, -len(raw), n, sub.get_short_help_str())
                    for n, sub in sorted(cmd.commands.items()) if n.startswith(cur)]
        sub = cmd.commands.get(args[first])
        if sub is None:
            return []
        sctx = click.Context(sub, parent=cctx, **sub.context_settings)
        return _for_command(name, sctx, args[first + 1:], raw, cur, ctx)
    params = [p for p in cmd.params if isinstance(p, click.Argument)]
    takes_value = {o: p for p in cmd.params if isinstance(p, click.Option) and not p.is_flag
                   for o in p.opts}
    n_pos, awaiting = 0, None           # awaiting: the option whose value comes next
    for w in args:
        if awaiting is not None:
            awaiting = None
        elif w in takes_value:
            awaiting = takes_value[w]
        elif not w.startswith("-"):
            n_pos += 1
    if awaiting is not None:
        kind = OPTION_KINDS.get(awaiting.name)
        return _files(raw, cur, kind) if kind else []
    if cur.startswith("-"):
        interspersed = cmd.context_settings.get("allow_interspersed_args", True)
        return _flags(cctx, args, raw, cur) if n_pos == 0 or interspersed else []
    if params and params[-1].nargs == -1:
        n_pos = min(n_pos, len(params) - 1)
    if n_pos >= len(params):
        return []
    arg = params[n_pos].name
    kind = ARG_KINDS.get(arg, "file")
    if name in SHARD_PATH_COMMANDS and arg == "path":
        kind = "shard"
    if name == "value_load" and arg == "dst":
        kind = "vos"
    if kind == "vos":
        return _vos(raw, cur, ctx)
    return _files(raw, cur, kind)


def _flags(cctx, args: list[str], raw: str, cur: str) -> list[Suggestion]:
    """The command's flags (its help flags included) that start with ``cur``, leaving out
    every name of a flag already given (``-r`` given: no ``--recursive``)."""
    given = {w.split("=", 1)[0] for w in args}
    out = []
    for p in cctx.command.get_params(cctx):
        if isinstance(p, click.Option) and not given & set(p.opts):
            out += [Suggestion(o, -len(raw), o) for o in p.opts if o.startswith(cur)]
    return out


def _short(ctx: Context, name: str) -> str:
    cmd = ctx.table.get(name)
    return cmd.short_help if cmd is not None else BUILTINS.get(name, "")


# --- file system ----------------------------------------------------------------

def _quote(word: str) -> str:
    return word if re.fullmatch(r"[\w@%+=:,./-]*", word) else shlex.quote(word)


def _files(raw: str, cur: str, kind: str) -> list[Suggestion]:
    base, prefix = os.path.split(cur)
    try:
        names = sorted(os.listdir(os.path.expanduser(base) or "."))
    except OSError:
        return []
    out = []
    for n in names:
        if not n.startswith(prefix) or (n.startswith(".") and not prefix.startswith(".")):
            continue
        full = os.path.join(base, n)
        isdir = os.path.isdir(os.path.expanduser(full))
        if not isdir and kind == "dir":
            continue
        if not isdir and kind == "shard" and not is_shard_name(n):
            continue
        word = full + ("/" if isdir else "")
        out.append(Suggestion(_quote(word), -len(raw), n + ("/" if isdir else ""), _what(n, isdir)))
        if len(out) >= LIMIT:
            break
    return out


def _what(name: str, isdir: bool) -> str:
    """What a file name is in a system image, shown beside it: an engine's ``rank-<R>``
    directory, a pool's ``rdb-pool`` (its PS replica) or ``vos-<N>`` shard."""
    if isdir:
        rank = rank_of(name)
        return "" if rank is None else f"engine rank {rank}"
    if name == RDB_FILE:
        return "pool service replica"
    return f"target {name[len('vos-'):]}" if is_shard_name(name) else ""


# --- VOS paths ------------------------------------------------------------------

def _vos(raw: str, cur: str, ctx: Context) -> list[Suggestion]:
    shard = ctx.shard
    if shard is None:
        return []
    lead = "/" if cur.startswith("/") else ""
    body = cur[len(lead):]
    cut = _last_separator(body)
    parent_text, partial = (body[:cut], body[cut + 1:]) if cut >= 0 else ("", body)
    try:
        parts = parse_path(parent_text)
    except PathError:
        return []
    if len(parts) >= 5:
        return []
    from .resolve import resolve_parts
    try:
        r = resolve_parts(shard, parts, parent_text)
    except (PathError, VosError):           # nothing below a part that does not resolve
        return []
    level = len(parts)
    prefix = lead + (parent_text + "/" if parent_text else "")
    out = []
    for value_text, label in _children(r, level, partial):
        deeper = level < 3 or (level == 3 and label == "array")
        word = prefix + value_text + ("/" if deeper and not value_text.startswith("[") else "")
        out.append(Suggestion(_shell_word(word), -len(raw), label))
        if len(out) >= LIMIT:
            break
    return out


def _last_separator(body: str) -> int:
    """Index of the last '/' that is not escaped by a backslash (-1 if none)."""
    i, last = 0, -1
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == "/":
            last = i
        i += 1
    return last


def _shell_word(word: str) -> str:
    """Quote a VOS path for the shell's word splitting when it needs it."""
    return word if re.fullmatch(r"[\w@%+=:,./\[\]{}-]*", word) else "'" + word.replace("'", "'\\''") + "'"


def _children(r, level: int, partial: str):
    """(text, label) of children of a resolved path whose text starts with ``partial``."""
    if partial.startswith("["):
        count = _count(r, level)
        for i in range(min(count, LIMIT)):
            t = f"[{i}]"
            if t.startswith(partial):
                yield t, t
        return
    otype = r.otype if level >= 2 else 0
    seek = None
    if level in (2, 3) and partial and "{" not in partial:
        seek = _unescape(partial)
    for n, (value, label) in enumerate(_iter_level(r, level, seek)):
        if n >= SCAN_MAX:
            return
        t = format_value(level, value, otype)
        if t.startswith(partial):
            yield t, label
        elif seek is not None and not t.startswith(partial[:1]):
            return                          # seeking in key order: past the matches


def _unescape(partial: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(partial):
        if partial[i] == "\\" and i + 1 < len(partial):
            i += 1
        out += partial[i].encode()
        i += 1
    return bytes(out)


def _count(r, level: int) -> int:
    if level == 0:
        return r.shard.container_count()
    h = [r.container, r.obj, r.dkey, r.akey][level - 1]
    return getattr(h, ["object_count", "dkey_count", "akey_count", "value_count"][level - 1])()


def _iter_level(r, level: int, seek: bytes | None):
    if level == 0:
        for c in r.shard.containers():
            yield c.rec.uuid, c.uuid
    elif level == 1:
        for o in r.container.objects():
            yield o.oid, f"{o.oid} {o.oid.otype_name}"
    elif level == 2:
        for d in r.obj.dkeys(start=seek):
            yield d.key, ""
    elif level == 3:
        for a in r.dkey.akeys(start=seek):
            yield a.key, a.value_kind or ""
    elif level == 4 and r.akey.value_kind == "array":
        for e in r.akey.extents():
            yield (e.lo, e.hi), f"{e.nr} x {e.rsize} B @ {e.epoch}"


__all__ = ["Context", "Suggestion", "suggest"]
