"""Keys as text: the one printable form of a dkey or akey.

ddb's path grammar, vosfmt's error messages and the checker's reports all name
keys; they share this form so that every key a message prints can be pasted back
into a path (``ddb.vospath.parse_key(format_key(k, t)) == k``).
"""
from __future__ import annotations

import re

from .constants import ObjType

#: object types whose dkeys/akeys are little-endian integers, printed ``{uintN:0x..}``
INT_KEYED_TYPES = frozenset({ObjType.ARRAY_BYTE, ObjType.ARRAY, ObjType.ARRAY_ATTR,
                             ObjType.MULTI_UINT64, ObjType.DKEY_UINT64, ObjType.KV_UINT64,
                             ObjType.AKEY_UINT64})
_INT_NAMES = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}


def key_text(key: bytes) -> tuple[str, bool] | None:
    """(text, padded) when the key is printable ASCII optionally followed by NULs."""
    text, _, pad = key.partition(b"\0")
    if not text or not text.isascii() or pad.strip(b"\0"):
        return None
    s = text.decode("ascii")
    if not s.isprintable():
        return None
    return s, len(text) != len(key)


_ESCAPES = str.maketrans({c: "\\" + c for c in "/{}\\"})


def escape(text: str) -> str:
    return text.translate(_ESCAPES)


def int_key_text(key: bytes, otype: int) -> str | None:
    """``{uintN:0x..}`` for a 1/2/4/8-byte key of an integer-keyed object type, else None."""
    if otype not in INT_KEYED_TYPES or len(key) not in _INT_NAMES:
        return None
    n = int.from_bytes(key, "little")
    digits = f"{n:04x}" if len(key) == 2 else f"{n:x}"
    return f"{{{_INT_NAMES[len(key)]}:0x{digits}}}"


_PLAIN_KEY = re.compile(rb"[\x20-\x2e\x30-\x5b\x5d-\x7a\x7c\x7e]+")   # printable, nothing to escape


def format_key(key: bytes, otype: int = 0) -> str:
    """A key as a path part that parses back to the same bytes."""
    if otype not in INT_KEYED_TYPES and _PLAIN_KEY.fullmatch(key):
        return key.decode("ascii")
    typed = int_key_text(key, otype)
    if typed is not None:
        return typed
    t = key_text(key) if otype not in INT_KEYED_TYPES else None
    if t is None:
        return f"{{bin({len(key)}):0x{key.hex()}}}"
    text, padded = t
    return escape(text) + (f"{{{len(key)}}}" if padded else "")
