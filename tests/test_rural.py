"""The rural preset (TD/T 1062-2021's township and village/group tiers) and its illustrative example area."""

from __future__ import annotations

import importlib.util
import json
import typing

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest

from planner import columns as col
from planner.area import StudyArea
from planner.errors import ConfigError
from planner.presets import PRESETS, preset
from planner.settings import AreaSettings
from planner.tiers import DEFAULT_SERVICES, DEFAULT_TIERS
from tests.conftest import ROOT

RURAL = ROOT / "data" / "examples" / "rural" / "area.toml"
TO_CONFIRM = "[to confirm against TD/T 1062-2021]"


def _raw(**extra) -> dict:
    return {"network": {"mode": "none"}, "population": {"points": "hamlets_illustrative.csv"}, **extra}


def test_rural_preset_has_the_two_rural_tiers_with_sources():
    rural = preset("rural")
    assert [(t.key, t.minutes, t.name_zh) for t in rural.tiers] == [
        ("township", 30.0, "乡镇级社区服务中心"),
        ("village", 15.0, "村级服务站"),
    ]
    # no number is presented as the standard's own: each minute figure says it is to be confirmed
    assert all("TD/T 1062-2021" in t.source and TO_CONFIRM in t.source for t in rural.tiers)
    assert all(t.population_served is None for t in rural.tiers)  # no band in the standards notes
    assert all(TO_CONFIRM in s.source for s in rural.services)
    assert {s.key for s in rural.services} == {s.key for s in DEFAULT_SERVICES}
    assert rural.profiles == preset("urban").profiles  # walking speeds do not change with the setting
    # the tiers' words a village list may use
    rules = StudyArea.from_dict(_raw(preset="rural", facilities={"file": "facilities_illustrative.csv"}), RURAL).rules
    assert rules.tier_named("村级服务站") == "village" and rules.tier_named("村/组层级") == "village"
    assert rules.tier_named("乡镇级社区服务中心") == "township" and rules.tier_named("乡集镇层级") == "township"
    assert rules.tier("village").short_zh == "站" and rules.tier("township").short_zh == "中心"


def test_preset_is_a_setting_and_tables_still_apply():
    literal = typing.get_args(AreaSettings.model_fields["preset"].annotation)
    assert set(literal) == set(PRESETS)
    assert "TD/T 1062-2021" in (AreaSettings.model_fields["preset"].description or "")
    fac = {"file": "facilities_illustrative.csv"}
    urban = StudyArea.from_dict(_raw(facilities=fac), RURAL)
    assert urban.settings.preset == "urban" and urban.rules.tiers == DEFAULT_TIERS  # the default is unchanged
    area = StudyArea.from_dict(
        _raw(preset="rural", facilities=fac, tiers={"village": {"minutes": 20}}, services={"meals": {"minutes": 10}}),
        RURAL,
    )
    assert area.preset.key == "rural"
    assert area.rules.tier("village").minutes == 20 and area.rules.tier("village").name_zh == "村级服务站"
    assert area.rules.service("meals").minutes == 10 and area.rules.service("health").minutes == 15
    # overrides keep the preset
    assert area.with_overrides(tiers={"township": {"minutes": 40}}).rules.tier("township").minutes == 40
    with pytest.raises(ConfigError, match="preset"):
        StudyArea.from_dict(_raw(preset="rual"), RURAL)
    with pytest.raises(ConfigError, match="did you mean 'rural'"):
        preset("rual")


def test_generate_reproduces_the_example_files():
    spec = importlib.util.spec_from_file_location("rural_generate", RURAL.parent / "generate.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    villages, hamlets, facilities = gen.generate()
    here = RURAL.parent
    assert json.dumps(villages, ensure_ascii=False, indent=1) + "\n" == (
        here / "villages_illustrative.geojson"
    ).read_text(encoding="utf-8")
    assert hamlets.to_csv(index=False) == (here / "hamlets_illustrative.csv").read_text(encoding="utf-8")
    assert facilities.to_csv(index=False) == (here / "facilities_illustrative.csv").read_text(encoding="utf-8")
    # villages of a few hundred people; every facility marked illustrative
    per_village = hamlets[hamlets["village"] != "示意集镇"].groupby("village")["population"].sum()
    assert per_village.between(150, 1000).all()
    assert facilities["illustrative"].all() and set(facilities["tier"]) == {"township", "village"}


def _utm(lon, lat):
    """An independent projection (UTM 51N), not through the planner."""
    return pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32651", always_xy=True).transform(lon, lat)


def test_rural_example_runs_from_the_command_line(rural_run):
    # `lifecircle -q plan --area <RURAL> --out <out> --no-progress --sites village=2`, run beside the tests as the
    # session starts (conftest CLI_RUNS)
    assert rural_run.returncode == 0, rural_run.stderr
    out = rural_run.out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    tiers = summary["rules"]["tiers"]
    assert {k: v["minutes"] for k, v in tiers.items()} == {"township": 30.0, "village": 15.0}
    assert summary["network"]["mode"] == "none" and summary["facilities"]["illustrative"] is True
    hamlets = pd.read_csv(RURAL.parent / "hamlets_illustrative.csv")
    assert summary["residents"]["population"] == hamlets["population"].sum()
    # township coverage by hand: 30 min at 4.5 km/h walked = 2,250 m, straight line x 1.25
    fac = pd.read_csv(RURAL.parent / "facilities_illustrative.csv")
    centre = fac[fac["tier"] == "township"].iloc[0]
    hx, hy = _utm(hamlets["lon"].to_numpy(), hamlets["lat"].to_numpy())
    cx, cy = _utm(centre["lon"], centre["lat"])
    near = np.hypot(hx - cx, hy - cy) * 1.25 <= 30 * 60 * 4.5 / 3.6
    share = hamlets["population"][near].sum() / hamlets["population"].sum()
    got = summary["residents"]["tiers"]["township"]["adult"]["covered_share"]
    assert got == pytest.approx(share, abs=5e-5) and 0 < got < 1
    # the proposals are village stations, and the report says 示意 and 估算
    assert summary["sites"][0]["tier"] == "village" and summary["sites"][0]["sites"] == 2
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "村级服务站" in report and "乡镇级社区服务中心" in report
    assert "示意" in report and "估算" in report
    # villages are the units: each of a few hundred people, with its village-tier coverage
    units = gpd.read_file(out / "plan.gpkg", layer="units")
    villages = units[units["unit"].str.startswith("示意村")]
    assert len(villages) == 27 and villages["population"].between(150, 1000).all()
    assert units["population"].sum() == pytest.approx(hamlets["population"].sum())
    assert col.covered("village", "adult") in units.columns
    # "every tier within 15 minutes" does not apply with a 30-minute tier: not applicable, never 0 %
    assert summary["residents"]["within_15min_all_tiers_share"] is None
    assert summary["residents"]["within_15min_note"].startswith("不适用")
    assert units["within_15min_share"].isna().all()
    assert "15 分钟全部层级可达：不适用" in report
    assert summary["rules"]["preset"] == "rural" and "TD/T 1062" in tiers["township"]["source"]
