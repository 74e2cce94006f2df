"""Every construct declaration round-trips, and the struct fast paths agree with it."""
from __future__ import annotations

import construct as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vosfmt import dtx_records as D
from vosfmt import layout as L
from vosfmt import records as R
from vosfmt import value_records as V
from vosfmt.blob import BlobHeader, decode_header, encode_header
from vosfmt.constants import AddrFlags, Media, TreeClass
from vosfmt.keys import Oid, Xid
from vosfmt.superblock import decode_superblock, encode_superblock

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
small_bytes = st.binary(max_size=40)


def roundtrip(con, data: bytes):
    """parse(data) then build gives data back, and sizeof agrees where fixed."""
    obj = con.parse(data)
    assert con.build(obj) == data
    try:
        assert con.sizeof() == len(data)
    except cs.SizeofError:
        pass
    return obj


# --- each declaration ---------------------------------------------------------

FIXED = [L.tree_root_fixed, L.ilog_entry, L.ilog_header, L.ext_bytes_fixed, L.unit_oid,
         L.node_header, L.freelist_header, L.free_extent, L.container_rec_fixed,
         L.object_rec_fixed, L.sv_rec_fixed, L.ext_rec_fixed, L.dtx_act_rec_fixed,
         L.dtx_cmt_rec, L.vea_rec, L.smd_device, L.smd_target, L.smd_pool, L.smd_version]


@pytest.mark.parametrize("con", FIXED, ids=lambda c: str(c.sizeof()))
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_fixed_declarations_roundtrip(con, data):
    raw = data.draw(st.binary(min_size=con.sizeof(), max_size=con.sizeof()))
    if isinstance(con.subcons[0].subcon, cs.Const):
        raw = con.subcons[0].subcon.build(None) + raw[4:]
    try:
        roundtrip(con, raw)
    except cs.ConstError:
        pytest.fail("const prefix should parse")


@given(st.lists(st.tuples(u64, u32, u16, u16), max_size=5), u8, u16)
def test_ilog_declaration_matches_fast_codec(entries, flags, mod):
    il = R.Ilog([R.IlogEntry(*e) for e in entries], flags, mod)
    raw = R.enc_ilog(il)
    assert L.ilog.build(dict(nr=len(entries), flags=flags, mod_count=mod, entries=[
        dict(epoch=a, tx_id=b, punch_minor=c, update_minor=d) for a, b, c, d in entries])) == raw
    assert R.dec_ilog(raw, 0) == (il, len(raw))
    roundtrip(L.ilog, raw)


roots = st.builds(R.TreeRoot, st.sampled_from(list(TreeClass)), u8, u64, u64, u8, u8, small_bytes)


@given(roots)
def test_tree_root(root):
    raw = R.enc_root(root)
    c = roundtrip(L.tree_root, raw)
    assert c.page == root.page and c.embed == root.embed
    assert R.dec_root(raw, 0) == (root, len(raw))


oids = st.builds(Oid, u64, u64, u32, u32)
ilogs = st.builds(R.Ilog, st.lists(st.builds(R.IlogEntry, u64, u32, u16, u16), max_size=3), u8, u16)


@given(st.binary(min_size=16, max_size=16), u64, u64, u64, u16, u32, roots, roots, roots)
def test_container_rec(uuid, hae, na, gse, ct, cz, r1, r2, r3):
    rec = R.ContainerRec(uuid, hae, na, gse, ct, cz, r1, r2, r3)
    raw = R.enc_container(rec)
    roundtrip(L.container_rec, raw)
    assert R.dec_container(raw) == rec


@given(oids, u64, u64, ilogs, roots)
def test_object_rec(oid, sync, maxw, il, root):
    rec = R.ObjectRec(oid, sync, maxw, il, root)
    raw = R.enc_object(rec)
    c = roundtrip(L.object_rec, raw)
    assert (c.hi, c.lo, c.shard, c.layout) == tuple(oid)
    assert R.dec_object(raw) == rec


@given(u8, ilogs, roots)
def test_key_rec(flags, il, root):
    rec = R.KeyRec(flags, il, root)
    raw = R.enc_key(rec)
    roundtrip(L.key_rec, raw)
    assert R.dec_key(raw) == rec


@given(u64, u16, u32, u32, st.sampled_from(list(Media)), st.sampled_from([0, 1, 2, 3]), u64, u64,
       u8, small_bytes, st.binary(max_size=64))
def test_sv_rec(epoch, minor, lid, ver, media, af, gsize, off, ct, csum, data):
    size = len(data) if media == Media.INLINE else gsize
    rec = V.SingleValue(epoch, size, minor, lid, ver, media, af, gsize, off, ct, csum,
                        data if media == Media.INLINE else None)
    raw = V.enc_sv(rec)
    c = roundtrip(L.sv_rec, raw)
    assert c.csum == csum
    assert V.dec_sv(raw, epoch) == rec


@given(u64, st.integers(1, 40), st.integers(1, 4), u32, u32, st.sampled_from(list(Media)),
       st.sampled_from([0, 1, 2, 3]), u64, u8, u8, u32, small_bytes, st.data())
def test_ext_rec(lo, nr, rsize, lid, ver, media, af, off, ct, cl, cz, csums, data):
    inline = media == Media.INLINE and not af & AddrFlags.HOLE
    payload = data.draw(st.binary(min_size=nr * rsize, max_size=nr * rsize)) if inline else None
    rec = V.Extent(lo, nr, 7, 1, rsize, lid, ver, media, af, off, ct, cl, cz,
                   R.ExtBytes(Media.INLINE, len(csums), 0, csums), payload)
    raw = V.enc_extent(rec)
    roundtrip(L.ext_rec, raw)
    assert V.dec_extent(raw, lo, 7, 1) == rec


refs = st.builds(D.DtxRecRef, st.sampled_from([1, 2, 4]), oids, small_bytes, small_bytes,
                 st.binary(max_size=18))


@given(u64, st.integers(2, 2**20), u32, u32, u32, u32, u32, oids, u64, st.lists(refs, max_size=4))
def test_dtx_records(epoch, lid, flags, mbsf, ver, tgt, grp, oid, dh, rs):
    raw_refs = D.enc_refs(rs)
    assert D.dec_refs(raw_refs, len(rs)) == rs
    assert cs.Array(len(rs), L.dtx_rec_ref).build([dict(
        type=r.type, oid=dict(hi=r.oid.hi, lo=r.oid.lo, shard=r.oid.shard, layout=r.oid.layout),
        dkey_len=len(r.dkey), dkey=r.dkey, akey_len=len(r.akey), akey=r.akey,
        vkey_len=len(r.vkey), vkey=r.vkey) for r in rs]) == raw_refs
    rec = D.DtxActive(Xid(b"u" * 16, 5), epoch, lid, flags, mbsf, ver, tgt, grp, oid, dh, len(rs),
                      R.ExtBytes(Media.INLINE, len(raw_refs), 0, raw_refs),
                      R.ExtBytes(Media.SCM, 4096, 8192, None))
    raw = D.enc_dtx_active(rec)
    roundtrip(L.dtx_act_rec, raw)
    assert D.dec_dtx_active(raw, rec.xid) == rec


@given(u64, u64)
def test_dtx_cmt_and_vea(epoch, t):
    rec = D.DtxCommitted(Xid(b"x" * 16, 1), epoch, t)
    raw = D.enc_dtx_committed(rec)
    roundtrip(L.dtx_cmt_rec, raw)
    assert D.dec_dtx_committed(raw, rec.xid) == rec
    raw = R.enc_vea(epoch & 0xFFFFFFFF, t & 0xFFFFFFFF)
    roundtrip(L.vea_rec, raw)


def test_superblock_roundtrip(built):
    from vosfmt import open_shard
    from vosfmt.image import list_shards
    root = built("small")
    with open_shard(list_shards(root)[0]) as sh:
        raw = encode_superblock(sh.sb)
        assert len(raw) == L.SUPERBLOCK_SIZE
        roundtrip(L.superblock, raw)
        again = decode_superblock(raw, sh.sb.slot, "x")
        assert again == sh.sb


def test_blob_header_roundtrip():
    h = BlobHeader(4096, 1, 3, 77, b"d" * 16, b"p" * 16)
    raw = encode_header(h)
    roundtrip(L.blob_header, raw)
    assert decode_header(raw, "x") == h


def test_node_pages_parse_with_construct(built):
    """Every node page of a real image parses with the construct declarations too."""
    from vosfmt import open_shard
    from vosfmt.btree import TreeReader
    from vosfmt.image import list_shards
    from vosfmt.usage import space_usage
    root = built("small")
    with open_shard(list_shards(root)[0], db_root=root) as sh:
        u = space_usage(sh)
        nodes = [p for p, owner in u.pages.items() if owner.endswith("tree node")]
        assert nodes
        for p in nodes:
            raw = sh.df.read(p * 4096, 4096)
            hdr = L.node_header.parse(raw)
            con = L.leaf_node if hdr.flags & 1 else L.branch_node
            c = con.parse(raw)
            assert con.build(c) == raw[:32 + hdr.used]
            node = TreeReader.node(sh.reader, p, hdr.tclass)
            assert [bytes(e.key) for e in c.entries] == node.keys
            if hdr.flags & 1:
                assert [bytes(e.value) for e in c.entries] == node.vals
            else:
                assert [e.child for e in c.entries] == node.kids


def test_freelist_pages_parse_with_construct(built):
    from vosfmt import open_shard
    from vosfmt.image import list_shards
    root = built("small")             # its build rewrites the VEA: a page is left free
    with open_shard(list_shards(root)[0], db_root=root) as sh:
        pages = list(sh.freelist_pages())
        assert pages
        for page, extents in pages:
            raw = sh.df.read(page * 4096, 4096)
            c = L.freelist_page.parse(raw)
            assert [(e.start, e.count) for e in c.extents] == extents
            assert L.freelist_page.build(c) == raw[:L.freelist_header.sizeof() + 16 * len(extents)]


def _crc_without_field(page: bytes, con) -> int:
    """crc32c of a page with the crc field its construct declaration names left out."""
    from vosfmt.checksum import crc32c
    from vosfmt.codec import field_offset
    at = field_offset(con, "crc")
    return crc32c(page[:at] + page[at + con.crc.sizeof():])


def test_page_fast_paths_follow_the_declarations():
    """Node entries, page checksums and free-list pages built by the struct fast paths parse
    with construct, the crc where both headers declare it."""
    from vosfmt import node
    from vosfmt.space import build_freelist_page
    body = node.leaf_body([b"k1", b"key2"], [b"value", b""])
    assert [(e.key, e.value) for e in cs.GreedyRange(L.leaf_entry).parse(body)] == \
        [(b"k1", b"value"), (b"key2", b"")]
    body = node.branch_body([b"", b"key"], [7, 8], [9, 2**40])
    assert [(e.key, e.child, e.count) for e in cs.GreedyRange(L.branch_entry).parse(body)] == \
        [(b"", 7, 9), (b"key", 8, 2**40)]
    page = node.build_page(4096, 5, 3, 1, 0, 77, 2, body)
    hdr = L.node_header.parse(page)
    assert (hdr.page, hdr.tclass, hdr.level, hdr.nkeys, hdr.used, hdr.generation) == \
        (5, 3, 1, 2, len(body), 77)
    assert hdr.crc == _crc_without_field(page, L.node_header)
    page = build_freelist_page(4096, 9, 4, 0, [(10, 3)])
    assert L.freelist_header.parse(page).crc == _crc_without_field(page, L.freelist_header)


def test_superblock_slots_are_judged_one_by_one(built, tmp_path):
    """Each copy gets a verdict of its own (no offsets or magic numbers needed by callers)."""
    import shutil

    from vosfmt import open_shard
    from vosfmt.image import list_shards
    from vosfmt.pagefile import DataFile
    from vosfmt.superblock import NO_MAGIC, TRUNCATED, judge_slots, read_slot
    path = str(tmp_path / "vos-0")
    shutil.copy(list_shards(built("small"))[0], path)
    with open_shard(path) as sh:
        slots = sh.superblock_slots()
        assert [r.fault for r in slots] == [None, None] and all(r.magic for r in slots)
        used = sh.sb.slot
    other = 1 - used
    with open(path, "r+b") as f:
        f.seek(other * 4096 + L.SUPERBLOCK_SIZE - 1)        # inside the checksum
        f.write(b"\xff")
    with DataFile(path) as df:
        bad = read_slot(df, other, path)
        assert bad.sb is None and bad.magic and "checksum" in bad.fault
        assert judge_slots(df, path)[used].fault is None
    with open(path, "r+b") as f:
        f.seek(other * 4096)
        f.write(bytes(4))
    with DataFile(path) as df:
        assert read_slot(df, other, path).fault == NO_MAGIC
    with open(path, "r+b") as f:
        f.truncate(4096 + 100)
    with DataFile(path) as df:
        assert read_slot(df, 1, path).fault == TRUNCATED
        assert read_slot(df, 1, path).problem == "slot 1 is truncated"


def test_records_compare_copy_and_print_by_field():
    """Records are plain slotted classes (cheap to import); they keep dataclass manners."""
    a = V.SingleValue(5, 3, data=b"abc")
    b = V.SingleValue(5, 3, data=b"abc")
    assert a == b and a is not b and a != V.SingleValue(5, 3, data=b"abd")
    assert a != V.Extent(5, 3, 1)
    c = a.replace(epoch=6)
    assert (c.epoch, c.data, a.epoch) == (6, b"abc", 5)
    with pytest.raises(TypeError, match="no field"):
        a.replace(colour=1)
    assert repr(R.IlogEntry(7)) == "IlogEntry(epoch=7, tx_id=0, punch_minor=0, update_minor=1)"
    with pytest.raises(TypeError):
        hash(a)
    # a key record read back shows its decoded log, whether or not it was looked at yet
    k = R.KeyRec(4, R.Ilog([R.IlogEntry(9, 3)], 1, 2))
    raw = R.dec_key(R.enc_key(k))
    assert "IlogEntry(epoch=9, tx_id=3" in repr(raw) and raw == k


def test_generic_record_init_takes_fields_in_order_with_defaults():
    from ddb.resolve import Resolved
    from vosfmt.blob import BLOB_HDR_VERSION, BlobHeader
    h = BlobHeader(4096, 1, 3, 77, dev_uuid=b"d" * 16, pool_uuid=b"p" * 16)
    assert (h.blob_id, h.pool_uuid, h.version) == (77, b"p" * 16, BLOB_HDR_VERSION)
    with pytest.raises(TypeError, match="needs field 'pool_uuid'"):
        BlobHeader(4096, 1, 3, 77, b"d" * 16)
    with pytest.raises(TypeError, match="no field"):
        BlobHeader(4096, 1, 3, 77, b"d" * 16, b"p" * 16, colour=2)
    a, b = Resolved([]), Resolved([])
    a.handles.append(1)
    assert b.handles == []              # list defaults are not shared


@given(st.binary(max_size=300), st.integers(0, 300))
def test_one_call_checksums_equal_the_incremental_ones(data, cut):
    """csum_of's one-call CRCs (the checker's fast path) agree with the hashers, for every type."""
    import zlib

    from vosfmt.checksum import CSUM_ALGOS, crc32c, csum_of, hasher
    from vosfmt.constants import CsumType
    for ctype in CSUM_ALGOS:
        h = hasher(ctype)
        h.update(data[:cut])
        h.update(data[cut:])
        assert csum_of(ctype, data) == h.digest(), ctype
    assert csum_of(CsumType.CRC32C, data) == crc32c(data).to_bytes(4, "little")
    assert csum_of(CsumType.ADLER32, data) == zlib.adler32(data).to_bytes(4, "little")
    assert csum_of(CsumType.OFF, data) == b""


@given(st.lists(st.binary(max_size=40), max_size=30))
def test_a_leaf_of_checksums_at_once_equals_one_by_one(chunks):
    """csums_of (the leaf check's one comparison) is csum_of of each chunk, concatenated."""
    from vosfmt.checksum import CSUM_ALGOS, csum_of, csums_of
    from vosfmt.constants import CsumType
    for ctype in (*CSUM_ALGOS, CsumType.OFF):
        assert csums_of(ctype, chunks) == b"".join(csum_of(ctype, c) for c in chunks), ctype
