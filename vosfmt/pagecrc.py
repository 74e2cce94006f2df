"""The checksum every metadata page carries: crc32c of the page, its own crc field left out.

Tree node pages and free-page list pages both start with magic then crc; the
field's place and width come from ``layout.node_header`` (tests/test_layout.py
checks the free-list header puts it in the same place), so the code that seals
a page and the code that verifies it cannot disagree with the declaration.
"""
from __future__ import annotations

from . import layout as L
from .checksum import crc32c
from .codec import field_struct

_CRC_AT, _CRC = field_struct(L.node_header, "crc")
_CRC_END = _CRC_AT + _CRC.size


def page_crc(buf) -> int:
    """crc32c of a page with its crc field taken as absent."""
    mv = memoryview(buf)
    return crc32c(mv[_CRC_END:], crc32c(mv[:_CRC_AT]))


def seal_page(buf: bytearray) -> None:
    """Write a built page's crc into its header."""
    _CRC.pack_into(buf, _CRC_AT, page_crc(buf))
