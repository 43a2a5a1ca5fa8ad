"""Named presets of tiers and services: ``preset = "rural"`` at the top of ``area.toml``.

A preset chooses the *defaults* a study area starts from; its ``[tiers.x]``, ``[profiles.x]`` and
``[services.x]`` tables still update and extend them key by key (:func:`planner.area.rules_from_settings`).

- ``urban`` (the default): the Shanghai "一心 / 一站 / 一点" tiers with 15 / 10 / 5 minute walking targets
  (GB 50180-2018, the Shanghai 2016 guide) and the "1+6+X" services (:data:`planner.tiers.DEFAULT_TIERS`).
- ``rural``: the two rural levels of TD/T 1062-2021 (社区生活圈规划技术指南), a township tier
  (乡镇级社区服务中心, 30 minutes) and a village/group tier (村级服务站, 15 minutes), with each service measured
  against the tier that hosts it in a village (:data:`planner.tiers.RURAL_TIERS`). The walking targets are
  working figures marked ``[to confirm against TD/T 1062-2021]``: the standards notes the project rests on name the
  two levels but give no minutes. Villages of a few hundred people are the units a rural area reports by (a
  ``[units] file`` of village polygons), and sparse population is placed as village points.

Walking speeds do not change with the setting: both presets keep the adult (4.5 km/h) and elderly (0.76 m/s)
profiles.

>>> from planner.presets import preset
>>> [t.key for t in preset("rural").tiers]
['township', 'village']
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .errors import ConfigError
from .tiers import (
    DEFAULT_PROFILES,
    DEFAULT_SERVICES,
    DEFAULT_TIERS,
    RURAL_SERVICES,
    RURAL_TIERS,
    TDT_1062,
    ServiceRule,
    SpeedProfile,
    Tier,
)

__all__ = ["PRESETS", "Preset", "preset"]


@dataclass(frozen=True)
class Preset:
    """The defaults a study area starts from.

    Attributes
    ----------
    key : str
        The name in ``area.toml`` (``preset = "rural"``).
    tiers, profiles, services : tuple
        Default tiers, walking profiles and service targets.
    name_zh, name_en : str
        Display names.
    description : str
        What it is for and where its figures come from.
    source : str
        The standard it follows.
    """

    key: str
    tiers: tuple[Tier, ...]
    profiles: tuple[SpeedProfile, ...]
    services: tuple[ServiceRule, ...]
    name_zh: str
    name_en: str
    description: str
    source: str


#: Every preset by key; ``planner.settings.AreaSettings.preset`` accepts exactly these keys.
PRESETS: dict[str, Preset] = {
    "urban": Preset(
        "urban",
        DEFAULT_TIERS,
        DEFAULT_PROFILES,
        DEFAULT_SERVICES,
        "城镇社区生活圈",
        "Urban community life circle",
        "社区服务中心 / 家门口服务站 / 家门口服务点 at 15 / 10 / 5 minutes; the 1+6+X services",
        "GB 50180-2018; 上海市15分钟社区生活圈规划导则 (2016); shared/docs/standards.md",
    ),
    "rural": Preset(
        "rural",
        RURAL_TIERS,
        DEFAULT_PROFILES,
        RURAL_SERVICES,
        "乡村社区生活圈",
        "Rural community life circle",
        "乡镇级社区服务中心 (township, 30 min) and 村级服务站 (village/group, 15 min), services at the tier that "
        "hosts them in a village; walking targets [to confirm against TD/T 1062-2021]; villages as units",
        f"{TDT_1062} (rural: a township tier and a village/group tier, shared/docs/standards.md)",
    ),
}


def preset(key: str) -> Preset:
    """The preset with this key.

    Raises
    ------
    ConfigError
        For an unknown key, naming the known ones and the closest.
    """
    if key in PRESETS:
        return PRESETS[key]
    close = difflib.get_close_matches(key, list(PRESETS), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    msg = f"unknown preset {key!r}{hint} (known: {', '.join(PRESETS)})"
    raise ConfigError(msg, key="preset")
