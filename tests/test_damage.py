"""The damage campaign, short: every case must end ok-* or undetectable by design.

CI runs DDB_DAMAGE_CASES cases per preset (default 3, under a minute in all),
each case a different damage kind (cycling through the kinds the preset has),
so a few cases still cover page, field, file, blob and SMD damage. The long
run and its figures are in the README (``python tests/damage_campaign.py
--seeds 0-499``). A failing case prints its reproducer: build, ``python -m
fixtures damage IMAGE --seed N --kind K``, then the command that fails.
"""
from __future__ import annotations

import os

import pytest

from damage_campaign import Pristine, is_ok, reproducer_for, run_case
from fixtures.damage import WEIGHTS, applicable

pytestmark = pytest.mark.slow            # builds and damages every preset

CASES = int(os.environ.get("DDB_DAMAGE_CASES", "3"))
PRESETS = ("small", "unit", "posix", "dtx")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    cache = {}

    def get(preset):
        if preset not in cache:
            cache[preset] = Pristine(preset, str(tmp_path_factory.mktemp(f"dmg-{preset}")))
        return cache[preset]
    return get


def _kind(p: Pristine, preset: str, seed: int) -> str:
    """The seed-th kind of this preset's, offset per preset so the presets share them out."""
    kinds = sorted(applicable(p.root), key=lambda k: (-WEIGHTS[k], k))
    return kinds[(seed * len(PRESETS) + PRESETS.index(preset)) % len(kinds)]


@pytest.mark.parametrize("seed", range(CASES))
@pytest.mark.parametrize("preset", PRESETS)
def test_damage_case(pristine, preset, seed):
    p = pristine(preset)
    res = run_case(p, seed, _kind(p, preset, seed))
    assert is_ok(res), (f"{res['outcome']}: {res['damage'].get('what')} @ "
                        f"{res['damage'].get('owner', res['damage'].get('file'))}\n"
                        f"{res['problems']}\nreproduce: {reproducer_for(res)}")


def test_an_unknown_incompat_feature_is_refused_untouched(pristine):
    """ddb cannot tell a newer writer's feature from damage: refusing, writing nothing, is
    the accepted outcome (and only that: any write or another exit fails the case)."""
    res = run_case(pristine("posix"), 36, "field")
    assert res["damage"]["field"] == "incompat", res["damage"]
    assert res["outcome"] == "ok-refused", (res["outcome"], res["problems"])


def test_the_length_of_a_hole_is_its_content(pristine):
    """A punched extent's nr is repeated nowhere (no data, no checksums, the key holds only
    its start): a consistent rewrite of it is undetectable by design, not a miss."""
    res = run_case(pristine("dtx"), 85, "flip_crc")
    assert res["damage"]["field"].endswith(".nr"), res["damage"]
    assert res["outcome"] == "undetectable: consistent rewrite (nr of a hole)", \
        (res["outcome"], res["problems"])


def test_the_record_size_of_a_hole_is_its_content(pristine):
    """A punched extent's rsize is repeated nowhere either (no data, no checksums, and our
    format keeps it per extent): its consistent rewrite is undetectable by design."""
    res = run_case(pristine("dtx"), 128, "field")
    assert res["damage"]["field"].endswith(".rsize"), res["damage"]
    assert res["outcome"] == "undetectable: consistent rewrite (rsize of a hole)", \
        (res["outcome"], res["problems"])
