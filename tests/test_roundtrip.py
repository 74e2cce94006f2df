"""Build a spec, read it back: the image holds exactly what the spec says."""
from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures import build, export_image, preset
from fixtures.spec import normalize_image
from fixtures.spec_fields import SpecError
from support import file_state
from vosfmt import open_shard
from vosfmt.image import list_shards
from vosfmt.smd import SysDb


@pytest.mark.parametrize("name,scale", [("small", 1), ("unit", 1), ("posix", 1), ("dtx", 1),
                                        ("large", 0.004)])
def test_preset_round_trip(built, name, scale):
    root = built(name, scale)
    assert export_image(root) == normalize_image(preset(name, 0, scale), seed=0)


def test_unit_preset_shape(built):
    """10 x 10 x 10 x 10, half single values and half arrays, like DAOS ddb's test pool."""
    root = built("unit")
    with open_shard(list_shards(root)[0]) as sh:
        conts = list(sh.containers())
        assert [c.uuid for c in conts][:2] == ["12345678-1234-1234-1234-123456789001",
                                               "12345678-1234-1234-1234-123456789002"]
        assert len(conts) == 10
        obj = conts[0].object_at(0)
        assert str(obj.oid) == "281479271743488.4294967296.0.0"
        kinds = [a.value_kind for d in obj.dkeys() for a in d.akeys()]
        assert len(kinds) == 100 and kinds.count("sv") == 50 and kinds.count("array") == 50
        assert sum(c.object_count() for c in conts) == 100


def test_small_preset_covers_the_model(built):
    root = built("small")
    img = export_image(root)
    (pool,) = img["pools"]
    assert pool["nvme_size"] and pool["vea"][0][0][0] > 1      # something lives in the blob
    text = json.dumps(img)
    for needle in ('"punch": true', '"dtx":', '"array"', '"uint64"', '"bin"', "sha256"):
        assert needle in text


def test_large_preset_has_a_million_records():
    spec = preset("large", 0)
    n = sum(len(d["akeys"]) for c in spec["containers"] for o in c["objects"] for d in o["dkeys"])
    assert n >= 1_000_000


def _tree_digest(root: str) -> dict:
    return {os.path.relpath(p, root): h for p, (h, _mtime) in file_state(root).items()}


@pytest.mark.parametrize("name", ["small", "dtx"])
def test_same_seed_gives_identical_bytes(tmp_path, name):
    a, b, c = (str(tmp_path / x) for x in "abc")
    build(name, a, seed=7)
    build(name, b, seed=7)
    build(name, c, seed=8)
    assert _tree_digest(a) == _tree_digest(b)
    assert _tree_digest(a) != _tree_digest(c)


def test_smd_tables(built):
    root = built("posix")
    img = normalize_image(preset("posix", 0), seed=0)
    (pool,) = img["pools"]
    with SysDb(root) as db:
        assert db.version() == 1
        (dev,) = db.devices().values()
        assert dev.tgts == [0]
        assert {k: v for k, v in db.targets().items()} == {0: dev.uuid}
        (row,) = db.pools().values()
        assert row.blob_sz == pool["nvme_size"] and row.blobs == pool["blobs"]


# --- random specs ---------------------------------------------------------------

key_st = st.one_of(
    st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=12),
    st.builds(lambda n: {"uint32": n}, st.integers(0, 2**32 - 1)),
    st.builds(lambda b: {"bin": b.hex()}, st.binary(min_size=1, max_size=12)),
)
epoch_st = st.integers(1, 2**62)
data_st = st.one_of(st.builds(lambda b: {"hex": b.hex()}, st.binary(max_size=64)),
                    st.builds(lambda n: {"random": n}, st.sampled_from([0, 5, 1500, 5000])),
                    st.builds(lambda t: {"data": t}, st.text(max_size=20)))


@st.composite
def akey_st(draw, key):
    if draw(st.booleans()):
        epochs = draw(st.lists(epoch_st, min_size=1, max_size=3, unique=True))
        vals = [dict(draw(data_st), epoch=e) if not draw(st.booleans()) or i == 0
                else {"epoch": e, "punch": True} for i, e in enumerate(epochs)]
        return {"key": key, "sv": vals}
    vals = []
    for _ in range(draw(st.integers(1, 3))):
        lo = draw(st.integers(0, 10**6))
        n = draw(st.integers(1, 40))
        rsize = draw(st.sampled_from([1, 4, 100]))
        v = {"lo": lo, "hi": lo + n - 1, "rsize": rsize, "epoch": draw(epoch_st)}
        if draw(st.integers(0, 4)) == 0:
            v["punch"] = True
        vals.append(v)
    uniq = {(v["lo"], v["epoch"]): v for v in vals}
    return {"key": key, "array": list(uniq.values()), "punch": draw(st.booleans())}


@st.composite
def spec_st(draw):
    objects = []
    for _ in range(draw(st.integers(1, 3))):
        dkeys = []
        for dk in draw(st.lists(key_st, min_size=1, max_size=3, unique_by=json.dumps)):
            aks = draw(st.lists(key_st, min_size=1, max_size=3, unique_by=json.dumps))
            dkeys.append({"key": dk, "akeys": [draw(akey_st(a)) for a in aks]})
        objects.append({"type": draw(st.sampled_from(["MULTI_HASHED", "MULTI_LEXICAL"])),
                        "dkeys": dkeys})
    return {"nvme_size": draw(st.sampled_from([0, 1 << 20])),
            "containers": [{"csum": draw(st.sampled_from(["crc32c", "crc32", "sha1", "off"])),
                            "chunk_size": draw(st.sampled_from([8, 4096, 32768])),
                            "objects": objects}]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=spec_st(), seed=st.integers(0, 1000))
def test_random_specs_round_trip(tmp_path_factory, spec, seed):
    root = str(tmp_path_factory.mktemp("rnd"))
    try:
        expected = normalize_image(spec, seed=seed)
    except SpecError:
        return
    build(spec, root, seed=seed)
    assert export_image(root) == expected


@pytest.mark.parametrize("spec,message", [
    ({"containers": [{"objects": [{"oid": "1.2.3"}]}]}, "invalid oid"),
    ({"containers": [{"target": 3}]}, "target 3 does not exist"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "", "akeys": []}]}]}]}, "empty key"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "sv": [{"epoch": 1}]}]}]}]}]}, "needs data"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "sv": [{"epoch": 1, "data": ""}]}]}]}]}]}, "cannot be empty"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "sv": [{"epoch": 1, "data": "x"}], "array": []}]}]}]}]}, "not both"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "array": [{"lo": 0, "hi": 3, "hex": "00"}]}]}]}]}]}, "need 4 bytes"),
    ({"containers": [{"objects": [{"dkeys": [{"key": "d", "akeys": [
        {"key": "a", "sv": [{"epoch": 5, "data": "x", "dtx": "nonsense"}]}]}]}]}]}, "invalid dtx id"),
    ({"containers": [{"objects": [{"type": "ARRAY", "dkeys": [{"key": "notint", "akeys": []}]}]}]},
     "8-byte integer keys"),
    ({"containers": [{"csum": "md5"}]}, "unknown checksum"),
])
def test_bad_specs_are_named(tmp_path, spec, message):
    with pytest.raises(SpecError, match=message):
        build(spec, str(tmp_path / "img"))
