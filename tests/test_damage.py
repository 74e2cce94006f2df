"""The damage campaign, short: every case must end ok-* or undetectable by design.

CI runs DDB_DAMAGE_CASES cases per preset (default 3, about a minute in all);
the long run and its figures are in the README (``python
tests/damage_campaign.py --seeds 0-499``). A failing case prints its
reproducer: build, ``python -m fixtures damage IMAGE --seed N --kind K``, check.
"""
from __future__ import annotations

import os

import pytest

from damage_campaign import Pristine, is_ok, run_case

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


@pytest.mark.parametrize("seed", range(CASES))
@pytest.mark.parametrize("preset", PRESETS)
def test_damage_case(pristine, preset, seed):
    res = run_case(pristine(preset), seed)
    assert is_ok(res), (f"{res['outcome']}: {res['damage'].get('what')} @ "
                        f"{res['damage'].get('owner', res['damage'].get('file'))}\n"
                        f"{res['problems']}\nreproduce: {res['reproduce']}")
