"""Transactions: edits, space reuse, feature flags, errors that lose nothing."""
from __future__ import annotations

import io
import random
import struct

import pytest

from fixtures import build, export_image
from support import file_state
from vosfmt import DtxActive, FormatError, Oid, ReadOnlyError, SpaceError, TransactionError, Xid, open_shard
from vosfmt.ilog import ilog_abort_lid, ilog_commit_lid, ilog_persist, ilog_update
from vosfmt.image import list_shards
from vosfmt.records import IlogEntry
from vosfmt.txn import Transaction
from vosfmt.usage import space_usage

C = "11111111-2222-3333-4444-555555555555"
O = Oid(Oid.make_hi(0), 42)


@pytest.fixture
def img(tmp_path):
    root = str(tmp_path / "img")
    build({"nvme_size": 8 << 20, "containers": [{"uuid": C, "objects": []}]}, root)
    return root


def _open(root, write=True):
    return open_shard(list_shards(root)[0], write=write, db_root=root)


def test_abort_and_failed_edit_leave_files_identical(img):
    before = file_state(img)
    state = export_image(img)
    with _open(img) as sh:
        gen = sh.generation
        tx = Transaction(sh)
        tx.put_single_value(C, O, b"d", b"a", 5, b"x" * 3000)
        tx.abort()
        with pytest.raises(ValueError), Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"a", 5, b"y")
            raise ValueError("caller gave up")
    # appended pages were cut off again: every byte is as before
    assert {p: h for p, (h, _t) in file_state(img).items()} == {p: h for p, (h, _t) in before.items()}
    with _open(img, write=False) as sh:
        assert sh.generation == gen
    assert export_image(img) == state


def test_read_only_shard_refuses_transactions(img):
    with _open(img, write=False) as sh, pytest.raises(ReadOnlyError):
        Transaction(sh)


def test_one_transaction_at_a_time(img):
    with _open(img) as sh:
        tx = Transaction(sh)
        with pytest.raises(TransactionError, match="already open"):
            Transaction(sh)
        tx.abort()
        Transaction(sh).abort()


def test_values_replace_and_space_comes_back(img):
    with _open(img) as sh:
        with Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"scm", 5, b"a" * 3000)
            tx.put_single_value(C, O, b"d", b"nvme", 5, b"b" * 50000)
        free_blocks = sum(e.cnt for e in sh.vea_free_extents())
        with Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"nvme", 5, b"c" * 50000)     # replace in place
        assert sum(e.cnt for e in sh.vea_free_extents()) == free_blocks
        with Transaction(sh) as tx:
            tx.delete_key(C, O, b"d")
        assert len(sh.vea_free_extents()) == 1            # coalesced back to one extent
        u = space_usage(sh)
        assert not u.leaked_pages and not u.leaked_blocks and not u.free_and_used_blocks
        pages = sh.sb.total_pages
        with Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d2", b"scm", 6, b"z" * 3000)
        assert sh.sb.total_pages == pages                  # freed pages were reused


def test_streamed_values_round_trip(img):
    rng = random.Random(3)
    blob = rng.randbytes(3 << 20)
    scm = rng.randbytes(300000)
    with _open(img) as sh:
        with Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"big", 9, stream=io.BytesIO(blob), size=len(blob))
            tx.put_extent(C, O, b"d", b"arr", 10, 75000, 9, stream=io.BytesIO(scm), rsize=4)
        sh.sb.nvme_threshold  # noqa: B018
    with _open(img, write=False) as sh:
        d = next(sh.containers()).object(O).dkey(b"d")
        v = d.akey(b"big").single_value()
        assert v.media == 2 and b"".join(sh.value_chunks(v, chunk=1 << 16)) == blob
        (e,) = d.akey(b"arr").extents()
        assert (e.lo, e.hi, e.rsize) == (10, 75009, 4) and sh.read_value(e) == scm
        sh.verify_value(e)


def test_short_stream_is_refused_and_space_returned(img):
    with _open(img) as sh:
        with pytest.raises(TransactionError, match="ended after"), Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"a", 5, stream=io.BytesIO(b"x" * 10), size=5000)
        assert not space_usage(sh).leaked_pages


def test_mixing_single_values_and_arrays_is_refused(img):
    with _open(img) as sh, Transaction(sh) as tx:
        tx.put_single_value(C, O, b"d", b"a", 5, b"v")
        with pytest.raises(TransactionError, match="mixing"):
            tx.put_extent(C, O, b"d", b"a", 0, 1, 6, b"x")
        tx.abort()


def test_values_log_creates_like_vos(img):
    with _open(img) as sh:
        with Transaction(sh) as tx:
            tx.put_single_value(C, O, b"d", b"a", 5, b"v")
            tx.put_single_value(C, O, b"d", b"a", 7, b"w")
        o = next(sh.containers()).object(O)
        assert [e.epoch for e in o.ilog.entries] == [5]    # a committed create is not re-logged
        assert o.rec.max_write == 7
        a = o.dkey(b"d").akey(b"a")
        assert [v.epoch for v in a.single_values()] == [5, 7]
        assert a.single_value(6).epoch == 5


def test_dtx_links_and_unknown_lid(img):
    xid = Xid(b"\x01" * 16, 0xABC)
    with _open(img) as sh:
        with Transaction(sh) as tx:
            with pytest.raises(TransactionError, match="local id 9"):
                tx.put_single_value(C, O, b"d", b"a", 5, b"v", dtx_lid=9)
            tx.abort()
        with Transaction(sh) as tx:
            tx.put_dtx_active(C, DtxActive(xid, 5, 9))
            tx.put_single_value(C, O, b"d", b"a", 5, b"v", dtx_lid=9)
        c = next(sh.containers())
        (entry,) = c.dtx_active()
        refs = c.dtx_records(entry)
        assert {r.type for r in refs} == {1, 2}             # ilog entries and the value
        assert c.object(O).ilog.entries[0].tx_id == 9


def test_many_refs_spill_to_shard_pages(img):
    xid = Xid(b"\x02" * 16, 0x1)
    with _open(img) as sh:
        with Transaction(sh) as tx:
            tx.put_dtx_active(C, DtxActive(xid, 5, 2))
            for i in range(300):
                tx.put_single_value(C, O, b"d%d" % i, b"a", 5, b"v", dtx_lid=2)
        c = next(sh.containers())
        (entry,) = c.dtx_active()
        assert entry.records.media == 1 and len(c.dtx_records(entry)) == entry.rec_cnt >= 300


def test_unknown_feature_bits(img):
    with _open(img) as sh, Transaction(sh) as tx:
        tx.set_features(compat=0x103, ro_compat=0)
    with _open(img, write=False) as sh:
        assert sh.sb.compat == 0x103                       # unknown compat bits preserved
    with _open(img) as sh, Transaction(sh) as tx:
        tx.set_features(ro_compat=0x4)
    with pytest.raises(ReadOnlyError, match="read-only"):
        _open(img)
    with _open(img, write=False) as sh:
        assert sh.sb.ro_compat == 4
    _poke_superblocks(img, incompat=0x80)
    with pytest.raises(FormatError, match="incompatible"):
        _open(img, write=False)


def _poke_superblocks(root, incompat):
    from fixtures.inject_shard import edit_superblocks

    def poke(sb):
        sb.incompat |= incompat
    edit_superblocks(list_shards(root)[0], poke)


def test_full_shard_is_refused_and_state_kept(tmp_path):
    root = str(tmp_path / "img")
    build({"scm_size": 1 << 20, "containers": [{"uuid": C, "objects": []}]}, root)
    before = export_image(root)
    with _open(root) as sh:
        with pytest.raises(SpaceError, match="full"), Transaction(sh) as tx:
            for i in range(400):
                tx.put_single_value(C, O, b"d%d" % i, b"a", 5, b"x" * 3000)
    assert export_image(root) == before


def test_write_errors_mid_commit_keep_the_old_state(img):
    class DiskFull:
        def __init__(self):
            self.n = 0

        def on_write(self, f, off, data):
            self.n += 1
            if self.n == 3:
                raise SpaceError("simulated ENOSPC")

        def on_sync(self, f):
            pass

    before = export_image(img)
    sh = open_shard(list_shards(img)[0], write=True, db_root=img, hooks=DiskFull())
    with pytest.raises(SpaceError), Transaction(sh) as tx:
        for i in range(50):
            tx.put_single_value(C, O, b"d%d" % i, b"a", 5, b"x" * 100)
    sh.hooks = None
    sh.df.hooks = None
    assert export_image(img) == before
    with Transaction(sh) as tx:                                 # the shard object is still usable
        tx.put_single_value(C, O, b"ok", b"a", 5, b"fine")
    sh.close()
    assert export_image(img) != before


def test_vea_free_validation(img):
    with _open(img) as sh, Transaction(sh) as tx:
        with pytest.raises(TransactionError, match="outside the device"):
            tx.vea_free(0, 1)
        with pytest.raises(TransactionError, match="outside the device"):
            tx.vea_free(sh.sb.tot_blks, 5)
        tx.abort()


def test_ilog_rules():
    assert ilog_update([], 5, 0, 0, False) == [IlogEntry(5, 0, 0, 1)]
    log = [IlogEntry(5, 0, 0, 1)]
    assert ilog_update(log, 7, 0, 0, False) is None           # committed create visible
    log2 = ilog_update(log, 9, 0, 0, True)
    assert log2 == [IlogEntry(5, 0, 0, 1), IlogEntry(9, 0, 1, 0)] and log2[1].is_punch
    assert ilog_update(log2, 11, 0, 3, False)[-1] == IlogEntry(11, 3, 0, 1)
    with pytest.raises(TransactionError, match="another transaction"):
        ilog_update([IlogEntry(5, 4, 0, 1)], 5, 0, 3, False)
    merged = ilog_update([IlogEntry(5, 4, 0, 1)], 5, 2, 4, True)
    assert merged == [IlogEntry(5, 4, 2, 1)] and merged[0].is_punch
    with pytest.raises(TransactionError, match="epoch 0"):
        ilog_update([], 0, 0, 0, False)
    mixed = [IlogEntry(5, 4, 0, 1), IlogEntry(6, 0, 0, 1), IlogEntry(8, 4, 1, 0)]
    assert ilog_abort_lid(mixed, 4) == [IlogEntry(6, 0, 0, 1)]
    assert [e.tx_id for e in ilog_commit_lid(mixed, 4)] == [0, 0, 0]
    assert all(e.tx_id == 0 for e in ilog_persist(mixed))


def test_epochs_and_keys_are_validated(img):
    with _open(img) as sh, Transaction(sh) as tx:
        with pytest.raises(TransactionError, match="epoch"):
            tx.put_single_value(C, O, b"d", b"a", 0, b"v")
        with pytest.raises(TransactionError, match="empty"):
            tx.put_single_value(C, O, b"", b"a", 1, b"v")
        with pytest.raises(TransactionError, match="512-byte"):
            tx.put_single_value(C, O, b"k" * 600, b"a", 1, b"v")
        arr = Oid(Oid.make_hi(11), 1)
        with pytest.raises(TransactionError, match="8-byte"):
            tx.put_single_value(C, arr, b"abc", b"a", 1, b"v")
        tx.put_single_value(C, arr, struct.pack("<Q", 3), b"a", 1, b"v")
        tx.abort()
