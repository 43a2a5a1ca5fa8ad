"""The report's static maps from the disk cache: a hit is the very picture a fresh drawing gives, and anything the
picture is drawn from, changed, draws it anew."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import shapely

import planner.figures as figures
from planner import columns as col


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_kept_map_is_the_fresh_drawing_and_a_changed_input_draws_anew(yangpu_plan, own_cache, monkeypatch):
    plan = yangpu_plan
    tier = plan.rules.tiers[1]
    fresh = figures.coverage_map(plan, tier, use_cache=False)
    assert not list(own_cache.glob("figure-*.png"))  # use_cache=False neither reads nor writes
    first = figures.coverage_map(plan, tier)
    assert first == fresh and len(list(own_cache.glob("figure-*.png"))) == 1
    drawn = []
    real = figures._draw_map
    monkeypatch.setattr(figures, "_draw_map", lambda *a: drawn.append(a[1].key) or real(*a))
    assert figures.coverage_map(plan, tier) == fresh and not drawn  # read, not drawn
    # one resident's minutes, another tier, English words, a facility moved: each is drawn anew
    residents = plan.residents.copy()
    minutes = col.minutes(tier.key, plan.rules.everyone.key)
    residents.loc[residents.index[0], minutes] = float(residents[minutes].iloc[0]) + 7.0
    facilities = plan.facilities.copy()
    at = np.flatnonzero((facilities["tier"] == tier.key).to_numpy())[0]
    point = facilities.geometry.iloc[at]
    facilities.loc[facilities.index[at], "geometry"] = shapely.Point(point.x + 1e-3, point.y)
    changed = [
        (dataclasses.replace(plan, residents=residents), tier, True),
        (plan, plan.rules.tiers[0], True),
        (plan, tier, False),
        (dataclasses.replace(plan, facilities=facilities), tier, True),
    ]
    for other, t, zh in changed:
        picture = figures.coverage_map(other, t, zh=zh)
        assert picture == figures.coverage_map(other, t, zh=zh, use_cache=False)
    assert len(drawn) == 2 * len(changed)  # each one drawn (and once more without the cache)
    assert len(list(own_cache.glob("figure-*.png"))) == 1 + len(changed)
