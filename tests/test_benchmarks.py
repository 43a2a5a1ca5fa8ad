"""The benchmark's sections run against today's code (a section that fails is recorded as failed, and the command
exits nonzero; this test keeps the cheap ones from failing unnoticed)."""

from __future__ import annotations

from benchmarks.measure import Report
from benchmarks.run import bench_coverage


def test_coverage_section_runs_and_its_snap_is_exact(yangpu_plan, capsys):
    rep = Report({"quick": True})
    bench_coverage(rep, yangpu_plan, quick=True)
    data = rep.sections["coverage"]
    assert data["status"] == "ok", data.get("reason")
    snap = data["checks"]["snap_exact"]
    assert snap["same_unsnapped"] is True
    assert snap["max_abs_diff_m"] == 0.0
    timed = data["measures"]
    for key in ("snap_grid", "snap_shapely", "query_cold", "query_warm", "resident_coverage"):
        assert timed[key]["n"] >= 3 and timed[key]["median_s"] > 0
    assert "100,000 raw lon/lat points" in capsys.readouterr().out
