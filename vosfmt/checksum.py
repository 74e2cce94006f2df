"""Checksums: crc32c for metadata, a small algorithm table for value checksums."""
from __future__ import annotations

import functools
import struct
import zlib
from itertools import repeat

from .constants import CsumType


def _load_crc32c():
    """The crc32c C function, without running the package's __init__.

    ``import crc32c`` pulls in importlib.metadata just to read its own
    version (about 60 ms), which would dominate a one-shot ``ddb ls``; the
    extension module next to it has everything we need.
    """
    import importlib.machinery
    import importlib.util
    import os
    try:
        spec = importlib.util.find_spec("crc32c")
        base = list(spec.submodule_search_locations)[0]
        for name in os.listdir(base):
            if name.startswith("_crc32c.") and name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
                loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c",
                                                                 os.path.join(base, name))
                mod_spec = importlib.util.spec_from_loader("crc32c._crc32c", loader)
                mod = importlib.util.module_from_spec(mod_spec)
                loader.exec_module(mod)
                return mod.crc32c
    except (ImportError, AttributeError, TypeError, OSError):
        pass
    from crc32c import crc32c
    return crc32c


_crc32c = _load_crc32c()


def crc32c(data, value: int = 0) -> int:
    return _crc32c(data, value)


class _Crc:
    """Incremental CRC digest with hashlib's update/digest shape."""

    def __init__(self, fn, init: int, size: int, final_xor: int = 0):
        self._fn, self._value, self._size, self._xor = fn, init, size, final_xor

    def update(self, data) -> None:
        self._value = self._fn(data, self._value)

    def digest(self) -> bytes:
        return (self._value ^ self._xor).to_bytes(self._size, "little")


def _crc64_update(data, crc: int) -> int:
    """CRC-64/ECMA-182 (reflected), table driven; only for the rare crc64 container."""
    table = _crc64_table()
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


@functools.cache
def _crc64_table() -> list[int]:
    """Built on first use: 2,048 Python steps every start-up would otherwise pay."""
    poly = 0xC96C5795D7870F42
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_M64 = 0xFFFFFFFFFFFFFFFF


def _hashlib():
    import hashlib  # OpenSSL costs ~5 ms at start-up; only sha containers need it
    return hashlib


#: CRC-family types -> (update function, initial value, digest bytes, final xor)
_CRCS = {
    CsumType.CRC32: (zlib.crc32, 0, 4, 0),
    CsumType.CRC32C: (_crc32c, 0, 4, 0),
    CsumType.ADLER32: (zlib.adler32, 1, 4, 0),
    CsumType.CRC64: (_crc64_update, _M64, 8, _M64),
}

#: type -> (name, digest length, factory of an incremental hasher)
CSUM_ALGOS = {
    **{t: (name, _CRCS[t][2], lambda t=t: _Crc(*_CRCS[t]))
       for t, name in ((CsumType.CRC32, "crc32"), (CsumType.CRC32C, "crc32c"),
                       (CsumType.ADLER32, "adler32"), (CsumType.CRC64, "crc64"))},
    CsumType.SHA1: ("sha1", 20, lambda: _hashlib().sha1()),
    CsumType.SHA256: ("sha256", 32, lambda: _hashlib().sha256()),
}


def csum_name(ctype: int) -> str:
    if ctype == CsumType.OFF:
        return "off"
    algo = CSUM_ALGOS.get(ctype)
    return algo[0] if algo else f"unknown({ctype})"


def csum_len(ctype: int) -> int:
    algo = CSUM_ALGOS.get(ctype)
    return algo[1] if algo else 0


def hasher(ctype: int):
    """An incremental hasher for a value checksum, or None when checksums are off."""
    algo = CSUM_ALGOS.get(ctype)
    return algo[2]() if algo else None


def csum_of(ctype: int, data) -> bytes:
    """Digest of one chunk (or one whole single value); empty when checksums are off.

    CRCs are computed in one call, without a hasher object: the checker runs
    this once per small value.
    """
    crc = _CRCS.get(ctype)
    if crc is not None:
        fn, init, size, xor = crc
        return (fn(data, init) ^ xor).to_bytes(size, "little")
    h = hasher(ctype)
    if h is None:
        return b""
    h.update(data)
    return h.digest()


_FORMAT_OF_SIZE = {4: "I", 8: "Q"}


def csums_of(ctype: int, chunks: list) -> bytes:
    """The digests of many chunks, concatenated (``csum_of`` of each): a leaf's inline values
    are verified with one comparison. CRCs run in C loops (``map``) and are packed at once."""
    crc = _CRCS.get(ctype)
    if crc is None:
        return b"".join(csum_of(ctype, c) for c in chunks)
    fn, init, size, xor = crc
    crcs = map(fn, chunks, repeat(init))
    if xor:
        crcs = (c ^ xor for c in crcs)
    return struct.pack(f"<{len(chunks)}{_FORMAT_OF_SIZE[size]}", *crcs)


class ChunkSummer:
    """Incremental per-chunk checksums with chunks cut at absolute offsets.

    DAOS cuts array checksum chunks at absolute byte offsets of the array
    (``lo * rsize`` is where an extent starts), so an extent's first and
    last chunks may be partial.
    """

    def __init__(self, ctype: int, chunk_size: int, start_byte: int):
        self.ctype, self.chunk = ctype, chunk_size
        self.left = chunk_size - (start_byte % chunk_size)
        self.cur = hasher(ctype)
        self.out: list[bytes] = []
        self.pending = False

    def update(self, data) -> None:
        if self.cur is None:
            return
        view = memoryview(data)
        while view:
            n = min(self.left, len(view))
            self.cur.update(view[:n])
            self.pending = True
            view = view[n:]
            self.left -= n
            if self.left == 0:
                self.out.append(self.cur.digest())
                self.cur, self.left, self.pending = hasher(self.ctype), self.chunk, False

    def digest(self) -> bytes:
        tail = [self.cur.digest()] if self.cur is not None and self.pending else []
        return b"".join(self.out + tail)


def chunk_csums(ctype: int, chunk_size: int, start_byte: int, data) -> bytes:
    """Checksums of ``data`` cut at absolute chunk boundaries (see ChunkSummer)."""
    if ctype not in CSUM_ALGOS or not data:
        return b""
    s = ChunkSummer(ctype, chunk_size, start_byte)
    s.update(data)
    return s.digest()


def csum_type_by_name(name: str) -> CsumType:
    for ctype, (n, _, _) in CSUM_ALGOS.items():
        if n == name:
            return ctype
    if name == "off":
        return CsumType.OFF
    raise ValueError(f"unknown checksum type {name!r}")
