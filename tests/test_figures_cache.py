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


@pytest.mark.parametrize("chart", ["minutes_chart", "units_chart", "lorenz_chart"])
def test_a_kept_chart_is_the_fresh_drawing_and_changed_minutes_draw_it_anew(yangpu_plan, own_cache, chart):
    plan, draw = yangpu_plan, getattr(figures, chart)
    fresh = draw(plan, use_cache=False)
    assert draw(plan) == fresh and draw(plan) == fresh and len(list(own_cache.glob("figure-*.png"))) == 1
    assert draw(plan, zh=False) == draw(plan, zh=False, use_cache=False)  # English words: another picture
    assert len(list(own_cache.glob("figure-*.png"))) == 2
    # what the chart shows, changed: the minutes (and so the units' shares) of the first tier for everyone
    tier, everyone = plan.rules.tiers[0], plan.rules.everyone.key
    residents, units = plan.residents.copy(), plan.units.copy()
    minutes = col.minutes(tier.key, everyone)
    residents[minutes] = residents[minutes] + 3.0
    units["within_15min_share"] = units["within_15min_share"] * 0.5
    other = dataclasses.replace(plan, residents=residents, units=units)
    changed = draw(other)
    assert changed == draw(other, use_cache=False) and changed != fresh
    assert len(list(own_cache.glob("figure-*.png"))) == 3
