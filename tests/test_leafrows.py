"""vosfmt.leafrows: a leaf of key records with their one value, decoded a leaf at a time.

Rows must say exactly what the record decoders (and construct) say, for
every shape and mixture of shapes, and return None -- never raise, never a
wrong row -- for anything else, including malformed bytes.
"""
from __future__ import annotations

import construct as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vosfmt import layout as L
from vosfmt.btree import TreeReader
from vosfmt.constants import KrecFlags, Media, RootFlags, TreeClass
from vosfmt.keys import epoch_from_key, epoch_key
from vosfmt.leafrows import F, key_value_rows
from vosfmt.node import leaf_body
from vosfmt.records import ILOG_ENTRY, Ilog, IlogEntry, KeyRec, TreeRoot, dec_key, enc_key
from vosfmt.value_records import SingleValue, dec_sv, enc_sv

settings.register_profile("leafrows", max_examples=150, deadline=None)


@pytest.fixture(autouse=True)
def leaf_decoding_on(monkeypatch):
    """These tests are of the decoder itself: on even when DDB_LEAF_DECODE=0 runs the suite."""
    from vosfmt import leafrows
    monkeypatch.setattr(leafrows, "ENABLED", True)


def _akey(epoch: int, data: bytes, *, ilog=1, csum=b"\x01\x02\x03\x04", lid=0, aflags=0,
          media=Media.INLINE) -> bytes:
    """An akey record holding one embedded single value, as the writer stores it."""
    sv = SingleValue(epoch, len(data), minor=1, dtx_lid=lid, ver=3, media=media, aflags=aflags,
                     gsize=len(data), off=0 if media == Media.INLINE else 8192,
                     csum_type=1 if csum else 0, csum=csum, data=data if media == Media.INLINE else None)
    embed = leaf_body([epoch_key(epoch)], [enc_sv(sv)])
    root = TreeRoot(TreeClass.SINGV, 0, 0, 1, 0, RootFlags.EMBEDDED, embed)
    log = [IlogEntry(epoch + i, 0, 0, 1) for i in range(ilog)]
    return enc_key(KeyRec(KrecFlags.BTR, Ilog(log), root))


def _expect(key: bytes, value: bytes) -> tuple:
    """What the record decoders make of one entry, in row terms."""
    k = dec_key(value)
    (vk,), (vv,) = TreeReader.embedded_entries(k.child_root)
    sv = dec_sv(vv, epoch_from_key(vk))
    r = k.child_root
    return (key, k.flags, len(k.ilog.entries), [tuple(e) for e in k.ilog_tuples()], r.tclass,
            r.count, r.flags, vk, sv.minor, sv.csum_type, sv.dtx_lid, sv.ver, sv.media, sv.aflags,
            sv.size, sv.gsize, sv.off, sv.csum, sv.data)


def _row_view(row) -> tuple:
    return (row[F.key], row[F.flags], row[F.ilog_nr], list(ILOG_ENTRY.iter_unpack(row[F.ilog])),
            row[F.root_tclass], row[F.root_count], row[F.root_flags], row[F.vkey], row[F.sv_minor],
            row[F.sv_csum_type], row[F.sv_dtx_lid], row[F.sv_ver], row[F.sv_media],
            row[F.sv_aflags], row[F.sv_size], row[F.sv_gsize], row[F.sv_off], row[F.csum],
            row[F.data])


entries = st.lists(st.tuples(st.binary(min_size=1, max_size=12), st.integers(1, 2**62),
                             st.binary(min_size=1, max_size=40), st.integers(0, 3),
                             st.sampled_from([b"", b"\x01\x02\x03\x04"])),
                   min_size=1, max_size=30)


@settings(settings.get_profile("leafrows"))
@given(entries)
def test_rows_say_what_the_record_decoders_say(items):
    keys = sorted({k for k, *_ in items})
    vals = [_akey(e, d, ilog=n, csum=c) for (_k, e, d, n, c) in items[:len(keys)]]
    keys = keys[:len(vals)]
    body = leaf_body(keys, vals)
    rows = key_value_rows(body, 0, len(body), len(keys))
    assert rows is not None
    assert [_row_view(r) for r in rows] == [_expect(k, v) for k, v in zip(keys, vals)]


def test_a_uniform_leaf_and_construct_agree_byte_for_byte():
    keys = [b"akey-%03d" % i for i in range(25)]
    vals = [_akey(1000 + i, bytes([i]) * 16) for i in range(25)]
    body = leaf_body(keys, vals)
    rows = key_value_rows(body, 0, len(body), 25)
    parsed = cs.GreedyRange(L.leaf_entry).parse(body)
    for row, entry in zip(rows, parsed):
        rec = L.key_rec.parse(entry.value)
        emb = L.leaf_entry.parse(rec.child_root.embed)
        sv = L.sv_rec.parse(emb.value)
        assert (row[F.klen], row[F.vlen], row[F.key]) == (entry.klen, entry.vlen, entry.key)
        assert (row[F.flags], row[F.ilog_nr], row[F.root_embed_len]) == \
            (rec.flags, rec.ilog.nr, rec.child_root.embed_len)
        assert (row[F.vkey], row[F.sv_size], row[F.csum], row[F.data]) == \
            (emb.key, sv.size, sv.csum, sv.data)


@pytest.mark.parametrize("why, value", [
    ("not inline", _akey(5, b"x" * 16, media=Media.SCM)),
    ("two values", None),
    ("a plain dkey record", enc_key(KeyRec(KrecFlags.DKEY))),
])
def test_entries_of_another_kind_are_left_to_the_record_decoders(why, value):
    if value is None:                   # an embedded tree of two values
        embed = leaf_body([epoch_key(1), epoch_key(2)],
                          [enc_sv(SingleValue(e, 1, minor=1, data=b"x")) for e in (1, 2)])
        value = enc_key(KeyRec(KrecFlags.BTR, None, TreeRoot(TreeClass.SINGV, 0, 0, 2, 0,
                                                                RootFlags.EMBEDDED, embed)))
    body = leaf_body([b"a", b"b"], [_akey(1, b"y" * 8), value])
    assert key_value_rows(body, 0, len(body), 2) is None


def test_entries_must_fill_the_used_area_exactly():
    body = leaf_body([b"a", b"b"], [_akey(1, b"y" * 8), _akey(2, b"z" * 8)])
    assert key_value_rows(body, 0, len(body), 2) is not None
    assert key_value_rows(body + b"\0", 0, len(body) + 1, 2) is None
    assert key_value_rows(body, 0, len(body), 1) is None
    assert key_value_rows(body, 0, len(body), 3) is None


@settings(settings.get_profile("leafrows"))
@given(st.data())
def test_malformed_leaves_give_none_or_rows_the_decoders_accept(data):
    n = data.draw(st.integers(1, 6))
    keys = [b"k%02d" % i for i in range(n)]
    vals = [_akey(10 + i, b"v" * data.draw(st.integers(1, 20))) for i in range(n)]
    body = bytearray(leaf_body(keys, vals))
    for _ in range(data.draw(st.integers(1, 4))):
        body[data.draw(st.integers(0, len(body) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(body)))
    buf = bytes(body[:cut])
    rows = key_value_rows(buf, 0, len(buf), n)
    if rows is None:
        return
    pos = 0
    for row in rows:                    # every row is exactly what the decoders read there
        key, value = buf[pos + 4:pos + 4 + row[F.klen]], buf[pos + 4 + row[F.klen]:pos + 4 +
                                                              row[F.klen] + row[F.vlen]]
        assert _row_view(row) == _expect(key, value)
        pos += 4 + row[F.klen] + row[F.vlen]
    assert pos == len(buf)


def _walk(root: str) -> list:
    """Every akey's record and values as the handles give them, field by field."""
    from vosfmt import open_shard
    from vosfmt.image import list_shards
    out = []
    for path in list_shards(root):
        with open_shard(path, db_root=root) as sh:
            for c in sh.containers():
                for o in c.objects():
                    for d in o.dkeys():
                        for a in d.akeys():
                            r = a.rec
                            vals = list(a.single_values()) + list(a.extents())
                            out.append((a.path, a.value_kind, r.flags, list(r.ilog_tuples()),
                                        [(e.epoch, e.tx_id) for e in r.ilog.entries],
                                        [getattr(r.child_root, n) for n in TreeRoot.__slots__],
                                        [[getattr(v, n) for n in type(v).__slots__] for v in vals]))
    return out


@pytest.mark.parametrize("preset, scale", [("small", 1.0), ("posix", 1.0), ("dtx", 1.0),
                                           ("large", 0.004)])
def test_handles_listed_a_leaf_at_a_time_are_the_same(built, preset, scale, monkeypatch):
    from vosfmt import leafrows
    fast = _walk(built(preset, scale))
    monkeypatch.setattr(leafrows, "ENABLED", False)
    assert fast == _walk(built(preset, scale)) and fast
