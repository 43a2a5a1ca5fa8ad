"""The map's legend says what is illustrative: crowding measured on illustrative facilities is illustrative too."""

from __future__ import annotations

from planner.maps import plan_map


def test_crowded_rings_on_illustrative_facilities_say_so(default_plan):
    plan = default_plan  # the default area planned without isochrones, once per session (conftest); read only
    assert plan.area.facilities_illustrative
    crowded = int(plan.availability.facilities["crowded"].fillna(False).astype(bool).sum())
    assert crowded > 0
    html = plan_map(plan).get_root().render()
    assert f"深红外圈：拥挤（步行范围内人口超过可服务人数，{crowded} 处；示意设施的拥挤亦为示意）" in html
    assert "illustrative for illustrative facilities" in html
