"""The VOS tree path grammar: parse and print, as pure functions.

    path   := ["/"] [cont ["/" obj ["/" dkey ["/" akey ["/" extent]]]]] ["/"]
    cont   := UUID | [i]          obj := hi.lo.shard.layout | [i]
    key    := string (\\-escapes, optional {N} size suffix) | {uint8..64:V} | {bin:0x..} | [i]
    extent := {lo-hi} | [i]

Printed keys always parse back to the same bytes (``parse_key(format_key(k)) == k``).
DAOS ddb differences we make on purpose (listed in the README): ``\\\\`` is one
backslash (upstream drops it), one space after a typed key's colon is accepted,
indexes must be plain ``[digits]``, and keys that text form cannot carry
losslessly are printed in ``{bin(n):0x..}`` form.
"""
from __future__ import annotations

import re
import uuid as _uuid

from vosfmt.constants import MAX_KEY
from vosfmt.keys import Oid
from vosfmt.keytext import format_key
from vosfmt.recordtype import Record

LEVELS = ("CONT", "OBJ", "DKEY", "AKEY", "RECX")
LEVEL_ERRORS = ("Container is invalid", "Object is invalid", "DKEY is invalid",
                "AKEY is invalid", "RECX is invalid")


class PathError(ValueError):
    """A path part is malformed or does not exist; ``level`` is 0..4 or None (whole path)."""

    def __init__(self, level: int | None, detail: str):
        self.level = level
        self.detail = detail
        super().__init__(LEVEL_ERRORS[level] if level is not None else detail)

    @property
    def message(self) -> str:
        return LEVEL_ERRORS[self.level] if self.level is not None else self.detail


class Part(Record):
    """One level of a path: an index, a value, or (once verified) both."""
    __slots__ = ("index", "value")     # value: uuid bytes | Oid | key bytes | (lo, hi)
    DEFAULTS = dict(index=None, value=None)

    @property
    def complete(self) -> bool:
        return self.index is not None and self.value is not None


# --- splitting -------------------------------------------------------------------

def split_parts(text: str) -> list[str]:
    """Cut at unescaped '/', keeping escapes for the part parsers."""
    if text.startswith("/"):
        text = text[1:]
    parts, cur, i = [], [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if c == "/":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()          # one trailing '/' is allowed...
        if parts and _is_extent_text(parts[-1]) and len(parts) == 5:
            raise PathError(4, "an extent must end the path (no trailing '/')")
    if parts == [""]:
        return []
    return parts


def _is_extent_text(s: str) -> bool:
    return s.startswith("{") and not s.startswith("{uint") and not s.startswith("{bin")


def _shown(s: str) -> str:
    """A path part quoted in a message, cut short: a message never echoes a megabyte."""
    return repr(s if len(s) <= 64 else s[:61] + "...")


#: the most significant digits an unsigned 64-bit number has, per base
_U64_DIGITS = {10: 20, 16: 16, 8: 22}


def _number(digits: str, base: int, level: int, what: str, bits: int = 64) -> int:
    """An unsigned number of at most ``bits`` bits. Its length is checked before int()
    converts it, so a part of a million digits costs nothing (and never meets
    Python's limit on decimal conversions)."""
    sig = digits.lstrip("0") or "0"
    if len(sig) > _U64_DIGITS[base] or int(sig, base) >> bits:
        raise PathError(level, f"{what} is out of range (at most {bits} bits)")
    return int(sig, base)


def _key_size(n: int, level: int) -> None:
    """Refuse a key longer than any tree can hold before building its bytes."""
    if n > MAX_KEY:
        raise PathError(level, f"key of {n} bytes exceeds the {MAX_KEY}-byte limit")


_INDEX = re.compile(r"\[(\d+)\]")


def _index(s: str, level: int) -> int | None:
    if not s.startswith("["):
        return None
    m = _INDEX.fullmatch(s)
    if not m:
        raise PathError(level, f"invalid index {_shown(s)} (expected [N])")
    return _number(m.group(1), 10, level, f"index {_shown(s)}")


# --- part parsers ----------------------------------------------------------------

def parse_uuid(s: str) -> bytes:
    if len(s) != 36 or not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", s):
        raise PathError(0, f"invalid container uuid {_shown(s)}")
    b = _uuid.UUID(s).bytes
    if b == bytes(16):
        raise PathError(0, "the nil uuid is not a container")
    return b


def parse_oid(s: str) -> Oid:
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)\.(\d+)", s)
    if not m:
        raise PathError(1, f"invalid object id {_shown(s)} (expected hi.lo.shard.layout)")
    what = f"object id {_shown(s)}"
    return Oid(*(_number(g, 10, 1, what, bits) for g, bits in zip(m.groups(), (64, 64, 32, 32))))


_TYPED = re.compile(r"\{(uint8|uint16|uint32|uint64|bin)(?:\((\d+)\))?: ?([^{}]*)\}")
_WIDTH = {"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8}


def _strtoul(v: str, level: int) -> int | None:
    """C strtoul(base 0) over the whole string: 0x hex, leading 0 octal, else decimal;
    beyond 64 bits is out of range (strtoul's ERANGE)."""
    if v == "":
        return 0
    what = f"integer {_shown(v)}"
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", v):
        return _number(v[2:], 16, level, what)
    if re.fullmatch(r"0[0-7]*", v):
        return _number(v, 8, level, what)
    if re.fullmatch(r"[1-9][0-9]*", v):
        return _number(v, 10, level, what)
    return None


def parse_key(s: str, level: int = 2) -> bytes:
    """A dkey/akey part (not an index) as bytes."""
    if not s:
        raise PathError(level, "empty key")
    if s[0] == "{":
        m = _TYPED.fullmatch(s)
        if not m:
            raise PathError(level, f"invalid typed key {_shown(s)}")
        kind, _size, val = m.groups()
        if kind == "bin":
            if not re.fullmatch(r"0[xX]([0-9a-fA-F]{2})+", val):
                raise PathError(level, f"invalid binary key {_shown(s)} (0x and pairs of hex digits)")
            _key_size(len(val) // 2 - 1, level)
            return bytes.fromhex(val[2:])
        n = _strtoul(val, level)
        if n is None:
            raise PathError(level, f"invalid integer in key {_shown(s)}")
        w = _WIDTH[kind]
        return (n & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
    if s[0] == "}":
        raise PathError(level, f"invalid key {_shown(s)}")
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s):
                raise PathError(level, "a key cannot end with a lone '\\'")
            out += s[i + 1].encode()
            i += 2
            continue
        if c == "{":
            m = re.fullmatch(r"\{(\d+)\}", s[i:])
            if not m:
                raise PathError(level, f"invalid size suffix in key {_shown(s)}")
            n = _number(m.group(1), 10, level, f"key size in {_shown(s)}")
            _key_size(n, level)
            if n == 0 or n < len(out):
                raise PathError(level, f"size {n} is smaller than the key {_shown(s)}")
            out += bytes(n - len(out))
            break
        if c == "}":
            raise PathError(level, f"unescaped '}}' in key {_shown(s)}")
        out += c.encode()
        i += 1
    if not out:
        raise PathError(level, "empty key")
    _key_size(len(out), level)
    return bytes(out)


def parse_extent(s: str) -> tuple[int, int]:
    m = re.fullmatch(r"\{(\d+)-(\d+)\}", s)
    if not m:
        raise PathError(4, f"invalid extent {_shown(s)} (expected {{lo-hi}})")
    lo, hi = (_number(g, 10, 4, f"extent {_shown(s)}") for g in m.groups())
    if hi < lo:
        raise PathError(4, f"invalid extent {_shown(s)}: hi must be >= lo")
    return lo, hi


_PARSERS = (parse_uuid, parse_oid, lambda s: parse_key(s, 2), lambda s: parse_key(s, 3),
            parse_extent)


def parse_path(text: str) -> list[Part]:
    """Parse a VOS path into up to five parts (index or value each)."""
    raw = split_parts(text or "")
    if len(raw) > 5:
        raise PathError(None, f"too many parts in path {_shown(text)} (at most cont/obj/dkey/akey/extent)")
    parts = []
    for level, s in enumerate(raw):
        if s == "":
            raise PathError(level, "empty path part")
        idx = _index(s, level)
        parts.append(Part(index=idx) if idx is not None else Part(value=_PARSERS[level](s)))
    return parts


# --- printing -----------------------------------------------------------------

def format_value(level: int, value, otype: int = 0) -> str:
    if level == 0:
        return str(_uuid.UUID(bytes=value))
    if level == 1:
        return str(value)
    if level in (2, 3):
        return format_key(value, otype)
    lo, hi = value
    return f"{{{lo}-{hi}}}"


def format_path(parts: list[Part], otype: int = 0) -> str:
    """The printed path ``LEVEL: (/[i]/...) /v/...``; ``/`` for none, else INVALID PATH."""
    if not parts:
        return "/"
    if not all(p.complete for p in parts):
        return "INVALID PATH"
    idx = "".join(f"/[{p.index}]" for p in parts)
    vals = "".join("/" + format_value(i, p.value, otype) for i, p in enumerate(parts))
    return f"{LEVELS[len(parts) - 1]}: ({idx}) {vals}"


def format_values(parts: list[Part], otype: int = 0) -> str:
    """Just the value form (what parses back), ``/`` for the root."""
    return "/" + "/".join(format_value(i, p.value, otype) for i, p in enumerate(parts))
