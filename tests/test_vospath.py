"""The VOS path grammar: DAOS ddb's test vectors, our deviations, print/parse round trips."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddb.vospath import Part, PathError, format_key, format_path, format_values, parse_key, parse_path
from vosfmt.constants import ObjType
from vosfmt.keys import Oid

U = "12345678-1234-1234-1234-123456789012"
UB = bytes.fromhex(U.replace("-", ""))
INT, TEXT = ObjType.ARRAY_BYTE, ObjType.MULTI_HASHED


@pytest.mark.parametrize("text", [None, "", "/", "/[0]", "/[0]/", "/[0]/[0]", "/[0]/[0]/",
                                  "/[0]/[0]/[0]", "/[0]/[0]/[0]/", "/[0]/[0]/[0]/[0]",
                                  "/[0]/[0]/[0]/[0]/", "/[0]/[0]/[0]/[0]/[0]",
                                  "/[0]/[0]/[0]/[0]/[0]/", "[3]/[4]"])
def test_valid_index_paths(text):
    parts = parse_path(text)
    assert all(p.index is not None for p in parts)


@pytest.mark.parametrize("text,level", [
    ("/[0]/[0]/[0]/[0]/[0]/[0]", None),
    ("12345678", 0),
    ("/12345678-1234-1234-1234-12345678900", 0),
    ("/00000000-0000-0000-0000-000000000000", 0),
    (f"/{U}/4321.1234.0", 1), (f"/{U}/4321.1234.0.", 1), (f"/{U}/4321.1234.0./dkey", 1),
    (f"/{U}/4321.1234.0../", 1), (f"/{U}/4321.1234.0.0.0.0/", 1), (f"/{U}/9999.99999/", 1),
    (f"/{U}/4321.1234.0.0/dkey/akey/invalid", 4), (f"/{U}/4321.1234.0.0/dkey/akey/{{-1}}", 4),
    (f"/{U}/4321.1234.0.0/dkey/akey/(0-1)", 4), (f"/{U}/4321.1234.0.0/dkey/akey/{{0-1-2}}", 4),
    (f"/{U}/4321.1234.0.0/dkey/akey/{{0 1}}", 4), (f"/{U}/4321.1234.0.0/dkey/akey/{{0->1}}", 4),
    (f"/{U}/4321.1234.0.0/dkey/akey/{{0-9}}/", 4), (f"/{U}/4321.1234.0.0/dkey/akey/{{5-4}}", 4),
    ("/[0]/[0]//", 2), ("/[0]/[0]/[0]//", 3), ("/[0]/[]", 1), ("/[0]/[5", 1), ("/[x]", 0),
    (f"/{U}/1.2.3.4/dkey\\", 2),
])
def test_invalid_paths(text, level):
    with pytest.raises(PathError) as ei:
        parse_path(text)
    assert ei.value.level == level


@pytest.mark.parametrize("text,printed", [
    ("", "/"), (f"/{U}/", f"/{U}"), (f"/{U}/1.2.3.4/", f"/{U}/1.2.3.4"),
    (f"/{U}/1.2.3.4/key/", f"/{U}/1.2.3.4/key"), (f"/{U}/1.2.3.4/key{{64}}/", f"/{U}/1.2.3.4/key{{64}}"),
    (f"/{U}/1.2.3.4/\\/", f"/{U}/1.2.3.4/\\/"),
    (f"/{U}/1.2.3.4/a\\\\b", f"/{U}/1.2.3.4/a\\\\b"),     # deviation: \\ is one backslash
])
def test_parse_then_print(text, printed):
    assert format_values(parse_path(text), TEXT) == printed


@pytest.mark.parametrize("text", ["", "{}", "{", "}", "string_key{{64}", "string_key{1{64}",
                                  "string_key{64}}", "string_key{64", "string_key}64", "{64}",
                                  "string_key{a}", "string_key{5}more", "string_key{0}",
                                  "string_key{3}", "{uint:3}", "{bin:0x1}", "{bin:12}",
                                  "{uint8:0x}", "{uint8:09}", "{uint32:  5}"])
def test_invalid_keys(text):
    with pytest.raises(PathError):
        parse_key(text)


@pytest.mark.parametrize("text,key", [
    ("string_key", b"string_key"),
    ("string_key{64}", b"string_key" + bytes(54)),
    ("string_\\{key{64}", b"string_{key" + bytes(53)),
    ("string_\\{key", b"string_{key"),
    ("\\{\\{\\{\\{{64}", b"{{{{" + bytes(60)),
    ("\\{\\{\\{\\{", b"{{{{"), ("\\}\\}\\}\\}", b"}}}}"),
    ("string_value\\{24\\}", b"string_value{24}"),
    ("{uint8:9}", b"\x09"), ("{uint16:17}", (17).to_bytes(2, "little")),
    ("{uint32:33}", (33).to_bytes(4, "little")), ("{uint64:99999999}", (99999999).to_bytes(8, "little")),
    ("{uint64:0x12345678}", (0x12345678).to_bytes(8, "little")),
    ("{bin:0xABABABABABABABABABAB}", b"\xab" * 10), ("{bin(5):0xABABABABABABABABABAB}", b"\xab" * 10),
    ("{uint8:3000000000}", (3000000000 & 0xFF).to_bytes(1, "little")),
    ("{uint32:010}", (8).to_bytes(4, "little")),             # C strtoul: leading 0 is octal
    ("{uint64:}", bytes(8)),
    ("{uint32: 123456}", (123456).to_bytes(4, "little")),    # the upstream README's spacing
    ("{bin: 0x1a2b}", b"\x1a\x2b"),
    ("a\\\\b", b"a\\b"),
])
def test_valid_keys(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("text,otype,printed", [
    ("akey", TEXT, "akey"), ("akey{4}", TEXT, "akey"), ("akey{64}", TEXT, "akey{64}"),
    ("{bin:0xabcdef1234}", TEXT, "{bin(5):0xabcdef1234}"),
    ("{bin(5):0xabcdef1234}", TEXT, "{bin(5):0xabcdef1234}"),
    ("{uint64:10}", INT, "{uint64:0xa}"), ("{uint64:0xABCDEF1234}", INT, "{uint64:0xabcdef1234}"),
    ("{uint32:0x12345678}", INT, "{uint32:0x12345678}"), ("{uint16:0x1234}", INT, "{uint16:0x1234}"),
    ("{uint16:0x12}", INT, "{uint16:0x0012}"),
    ("{uint8:0xAF}", INT, "{uint8:0xaf}"), ("{uint8:0xFFFAAA}", INT, "{uint8:0xaa}"),
    ("\\/", TEXT, "\\/"), ("/{/}\\", TEXT, None), ("0", INT, "{uint8:0x30}"),
    ("abc", INT, "{bin(3):0x616263}"),                         # deviation: no bare {abc}
    ("{bin:0x00}", TEXT, "{bin(1):0x00}"), ("{bin:0x410042}", TEXT, "{bin(3):0x410042}"),
])
def test_key_printing(text, otype, printed):
    try:
        key = parse_key(text)
    except PathError:
        key = text.encode()
    out = format_key(key, otype)
    if printed is not None:
        assert out == printed
    assert parse_key(out) == key


@given(st.binary(min_size=1, max_size=80), st.sampled_from(list(ObjType)))
def test_every_key_prints_back_to_its_bytes(key, otype):
    assert parse_key(format_key(key, otype)) == key


@given(st.text(min_size=1, max_size=30))
def test_typed_text_keys_round_trip(text):
    try:
        key = parse_key(text)
    except PathError:
        return
    assert parse_key(format_key(key, TEXT)) == key


def test_printed_path_forms():
    parts = [Part(1, UB), Part(2, Oid(281479271743488, 4294967296)), Part(3, b"dkey-1"),
             Part(4, b"akey-1"), Part(5, (9, 18))]
    for n, expected in enumerate([
        f"CONT: (/[1]) /{U}",
        f"OBJ: (/[1]/[2]) /{U}/281479271743488.4294967296.0.0",
        f"DKEY: (/[1]/[2]/[3]) /{U}/281479271743488.4294967296.0.0/dkey-1",
        f"AKEY: (/[1]/[2]/[3]/[4]) /{U}/281479271743488.4294967296.0.0/dkey-1/akey-1",
        f"RECX: (/[1]/[2]/[3]/[4]/[5]) /{U}/281479271743488.4294967296.0.0/dkey-1/akey-1/{{9-18}}",
    ], start=1):
        assert format_path(parts[:n]) == expected
        again = parse_path(format_values(parts[:n]))
        assert [p.value for p in again] == [p.value for p in parts[:n]]
    assert format_path([]) == "/"
    assert format_path([Part(1, UB), Part(value=b"x")]) == "INVALID PATH"


def test_mixed_indexes_and_values():
    parts = parse_path("/[0]/939000573846355970.0.13.1/[2]/akey{5}/{0-1023}")
    assert parts[0].index == 0 and parts[1].value == Oid(939000573846355970, 0, 13, 1)
    assert parts[2].index == 2 and parts[3].value == b"akey\0" and parts[4].value == (0, 1023)
