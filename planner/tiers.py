"""Service tiers and walking-speed profiles: the rules, kept as data.

Defaults follow ``shared/docs/standards.md``: the "一心 / 一站 / 一点" tiers of
the Shanghai community service system with 15 / 10 / 5 minute walking targets
(GB 50180-2018 and the Shanghai 2016 15-minute life-circle guide), an adult
speed of 4.5 km/h (the OSMnx example figure) and an elderly speed of 0.76 m/s
(mean gait speed of adults 65+ at risk of mobility disability). Every figure
can be overridden by a study area's TOML file or on the command line (see
:mod:`planner.area`, which reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import ConfigError

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_PROFILES",
    "DEFAULT_SERVICES",
    "DEFAULT_TIERS",
    "GROUP_NAMES",
    "RURAL_SERVICES",
    "RURAL_TIERS",
    "TDT_1062",
    "Rules",
    "ServiceRule",
    "SpeedProfile",
    "Tier",
]

#: The groups of residents a profile or a figure is for (the residents' columns of counts, and ``under60``:
#: population − elderly), by name: key -> (Chinese, English).
GROUP_NAMES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "population": ("全体居民", "all residents"),
        "under60": ("60 岁以下居民", "residents under 60"),
        "elderly": ("老年人", "the elderly"),
    }
)

#: Default isochrone bands in minutes.
DEFAULT_BANDS: tuple[float, ...] = (5.0, 10.0, 15.0)


@dataclass(frozen=True)
class Tier:
    """One level of the community service system.

    Parameters
    ----------
    key : str
        Identifier used in files and column names (``center``, ``station``, ``point``).
    minutes : float
        Walking target: a resident is covered when the nearest facility of
        this tier is at most this many minutes away.
    name_zh, name_en : str
        Display names.
    population_served : tuple of int, optional
        GB 50180-2018 population band one facility of this tier serves.
    aliases : tuple of str
        Other names facility lists use for it (``服务站`` for ``station``).
    source : str
        Where the tier and its walking target come from ("" for the urban defaults, whose sources are in the
        module docstring); ``[to confirm against …]`` marks a figure not yet checked against the standard.
    """

    key: str
    minutes: float
    name_zh: str
    name_en: str
    population_served: tuple[int, int] | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""

    @property
    def short_zh(self) -> str:
        """The short Chinese word numbering proposed sites of this tier (站1, 点1, 中心1): its shortest alias that
        ends its Chinese name, else the name's last two characters."""
        endings = [a for a in self.aliases if a and self.name_zh.endswith(a)]
        return min(endings, key=len) if endings else (self.name_zh[-2:] or self.key)

    def __post_init__(self) -> None:
        if not self.key.isidentifier():
            msg = f"tier key {self.key!r} must be a plain identifier (letters, digits, _)"
            raise ValueError(msg)
        if not 0 < self.minutes <= 240:
            msg = f"tier {self.key!r}: minutes must be in (0, 240], got {self.minutes}"
            raise ValueError(msg)


@dataclass(frozen=True)
class SpeedProfile:
    """A walking speed.

    Parameters
    ----------
    key : str
        Identifier (``adult``, ``elderly``).
    speed_mps : float
        Walking speed in metres per second.
    name_zh, name_en : str
        Display names.
    group : str, default "population"
        The residents this profile is measured for: ``population`` (everyone) or
        ``elderly`` (residents aged 60+), or another count column of the residents.
    """

    key: str
    speed_mps: float
    name_zh: str = ""
    name_en: str = ""
    group: str = "population"

    def __post_init__(self) -> None:
        if not 0.1 <= self.speed_mps <= 3.0:
            msg = (
                f"profile {self.key!r}: walking speed {self.speed_mps} m/s is outside "
                "0.1-3.0 m/s; give speed_kmh or speed_mps"
            )
            raise ValueError(msg)

    @property
    def metres_per_minute(self) -> float:
        """Distance walked in one minute."""
        return self.speed_mps * 60.0


DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier(
        "center",
        15.0,
        "社区服务中心",
        "Community service center",
        (50_000, 100_000),
        ("社区综合服务中心", "社区中心", "一心", "中心"),
    ),
    Tier(
        "station",
        10.0,
        "家门口服务站",
        "Neighbourhood service station",
        (15_000, 25_000),
        ("服务站", "好邻居服务站", "家门口服务站点", "一站", "站"),
    ),
    Tier(
        "point",
        5.0,
        "家门口服务点",
        "Neighbourhood service point",
        (5_000, 12_000),
        ("服务点", "睦邻点", "好邻居服务点", "一点", "点"),
    ),
)


@dataclass(frozen=True)
class ServiceRule:
    """Within how many minutes a category of service should be reachable.

    Parameters
    ----------
    key : str
        Service key as facility files list it (e.g. ``elderly_care``).
    minutes : float
        Walking target for this service.
    name_zh, name_en : str
        Display names.
    groups : tuple of str
        The residents it is for (``population``, ``elderly``): it is measured on the walking profiles of
        these groups only (meals and elderly care for the elderly, childcare for all residents).
    aliases : tuple of str
        Other names lists use for it (``长者食堂`` for meals).
    source : str
        Where the walking target comes from ("" for the urban defaults, whose sources are in the comment above
        :data:`DEFAULT_SERVICES`).
    """

    key: str
    minutes: float
    name_zh: str = ""
    name_en: str = ""
    groups: tuple[str, ...] = ("population", "elderly")
    aliases: tuple[str, ...] = ()
    source: str = ""


#: The "1+6+X" functions (Licheng) with targets from the Shanghai 2016 guide where it names one:
#: elderly services in the 10-minute home-care circle, 0-3 childcare within 10 minutes; health,
#: culture/sport and government affairs at the 15-minute tier (GB 50180's 15-minute facilities);
#: meals within 10 minutes like the elderly services they mostly serve [check]. All configurable.
DEFAULT_SERVICES: tuple[ServiceRule, ...] = (
    # childcare is for households with children: measured for all residents (no age split of children in the data)
    ServiceRule("childcare", 10.0, "托育", "Childcare", ("population",), ("托幼", "托儿", "幼托")),
    ServiceRule("elderly_care", 10.0, "养老", "Elderly care", ("elderly",), ("为老服务", "养老服务", "日间照料")),
    ServiceRule("health", 15.0, "健康", "Health", ("population", "elderly"), ("医疗", "卫生", "社区卫生服务中心")),
    ServiceRule("meals", 10.0, "助餐", "Meals", ("elderly",), ("长者食堂", "老年助餐", "社区食堂")),
    ServiceRule("culture_sport", 15.0, "文体", "Culture and sport", ("population", "elderly"), ("文化", "体育")),
    ServiceRule(
        "government_affairs",
        15.0,
        "政务",
        "Government affairs",
        ("population", "elderly"),
        ("党群", "政务服务", "事务受理"),
    ),
)

#: The national guideline the rural tiers follow (Ministry of Natural Resources, 2021).
TDT_1062 = "TD/T 1062-2021《社区生活圈规划技术指南》"
_TO_CONFIRM = "[to confirm against TD/T 1062-2021]"

#: The rural tiers of TD/T 1062-2021: "urban areas use a 15-minute tier plus 5-10-minute tiers; rural areas use a
#: township tier and a village/group tier" (shared/docs/standards.md). The standards notes give no walking target
#: and no population band for either tier, so the minutes below are the planner's working figures, marked
#: ``[to confirm against TD/T 1062-2021]`` in each source, and no band is set (crowding then needs a 容量 column).
#: The Chinese words follow the notes: "镇级 社区服务中心" (the center row's seed term) and "村/居 服务站" (the
#: station row's); 乡集镇层级 and 村/组层级 are the guideline's names of the two levels [to confirm].
RURAL_TIERS: tuple[Tier, ...] = (
    Tier(
        "township",
        30.0,
        "乡镇级社区服务中心",
        "Township service center",
        None,
        ("乡集镇层级", "乡镇级", "镇级社区服务中心", "乡镇社区服务中心", "乡镇服务中心", "便民服务中心", "中心"),
        f"{TDT_1062}: 乡村地区的乡集镇层级 (standards.md: a township tier); 30-minute walk {_TO_CONFIRM}",
    ),
    Tier(
        "village",
        15.0,
        "村级服务站",
        "Village service station",
        None,
        ("村/组层级", "村/组级", "村级", "村服务站", "村/居服务站", "村便民服务站", "村党群服务站", "服务站", "站"),
        f"{TDT_1062}: 乡村地区的村/组层级 (standards.md: a village/group tier; 村/居 服务站 is the seeds' term); "
        f"15-minute walk {_TO_CONFIRM}",
    ),
)

#: Services in the rural preset: the same "1+6+X" categories, each measured against the tier that hosts it in a
#: village. The seeds extend government services to villages (Songjiang's 190+ services, standards.md) and a
#: village station hosts elderly care, meals, the clinic (村卫生室) and a culture/sport room, so these take the
#: village tier's 15 minutes; childcare (托育) is a township facility, 30 minutes. Every figure [to confirm].
RURAL_SERVICES: tuple[ServiceRule, ...] = (
    ServiceRule(
        "childcare",
        30.0,
        "托育",
        "Childcare",
        ("population",),
        ("托幼", "托儿", "幼托"),
        f"at the township tier's walking target {_TO_CONFIRM}",
    ),
    ServiceRule(
        "elderly_care",
        15.0,
        "养老",
        "Elderly care",
        ("elderly",),
        ("为老服务", "养老服务", "日间照料", "农村互助养老", "睦邻点"),
        f"at the village tier's walking target {_TO_CONFIRM}",
    ),
    ServiceRule(
        "health",
        15.0,
        "健康",
        "Health",
        ("population", "elderly"),
        ("医疗", "卫生", "村卫生室", "社区卫生服务站"),
        f"at the village tier's walking target (村卫生室) {_TO_CONFIRM}",
    ),
    ServiceRule(
        "meals",
        15.0,
        "助餐",
        "Meals",
        ("elderly",),
        ("长者食堂", "老年助餐", "社区食堂", "助餐点"),
        f"at the village tier's walking target {_TO_CONFIRM}",
    ),
    ServiceRule(
        "culture_sport",
        15.0,
        "文体",
        "Culture and sport",
        ("population", "elderly"),
        ("文化", "体育", "农家书屋", "文化活动室"),
        f"at the village tier's walking target {_TO_CONFIRM}",
    ),
    ServiceRule(
        "government_affairs",
        15.0,
        "政务",
        "Government affairs",
        ("population", "elderly"),
        ("党群", "政务服务", "事务受理", "便民服务"),
        f"government services extended to villages (standards.md, seed 000); village tier {_TO_CONFIRM}",
    ),
)

DEFAULT_PROFILES: tuple[SpeedProfile, ...] = (
    SpeedProfile("adult", 4.5 / 3.6, "成人", "Adult"),
    SpeedProfile("elderly", 0.76, "老年人", "Elderly", group="elderly"),
)


@dataclass(frozen=True)
class Rules:
    """Tiers, walking profiles, isochrone bands and service targets of one study area, looked up by key.

    Every profile is measured for its own group of residents (:attr:`SpeedProfile.group`); no
    profile is special by its position.
    """

    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    profiles: tuple[SpeedProfile, ...] = DEFAULT_PROFILES
    bands: tuple[float, ...] = DEFAULT_BANDS
    services: tuple[ServiceRule, ...] = DEFAULT_SERVICES

    def tier(self, key: str) -> Tier:
        """Return the tier with this key, or raise a KeyError naming the known ones."""
        for t in self.tiers:
            if t.key == key:
                return t
        msg = f"unknown tier {key!r}; known tiers: {', '.join(t.key for t in self.tiers)}"
        raise ConfigError(msg, key=key)

    def profile(self, key: str) -> SpeedProfile:
        """Return the profile with this key, or raise a KeyError naming the known ones."""
        for p in self.profiles:
            if p.key == key:
                return p
        msg = f"unknown profile {key!r}; known profiles: {', '.join(p.key for p in self.profiles)}"
        raise ConfigError(msg, key=key)

    def service(self, key: str) -> ServiceRule:
        """Return the service rule with this key, or raise a ConfigError naming the known ones."""
        for s in self.services:
            if s.key == key:
                return s
        msg = f"unknown service {key!r}; known services: {', '.join(s.key for s in self.services)}"
        raise ConfigError(msg, key=key)

    @property
    def fifteen_minute_measure(self) -> bool:
        """Whether "every tier within 15 minutes" (the national life circle) can be measured: there are tiers and
        none has a longer target (a rural township tier of 30 minutes makes it not applicable)."""
        return bool(self.tiers) and max(t.minutes for t in self.tiers) <= 15.0

    @property
    def everyone(self) -> SpeedProfile:
        """The profile measured for all residents (group ``population``); the first profile if none is."""
        return next((p for p in self.profiles if p.group == "population"), self.profiles[0])

    def tier_named(self, text: str) -> str | None:
        """The key of the tier a list's cell names (key, Chinese or English name, or alias); None if none."""
        wanted = text.strip().lower()
        for t in self.tiers:
            if wanted in {t.key, t.name_zh.lower(), t.name_en.lower(), *(a.lower() for a in t.aliases)}:
                return t.key
        return None

    def service_named(self, text: str) -> str | None:
        """The key of the service a list's cell names (key, Chinese or English name, or alias); None if none."""
        wanted = text.strip().lower()
        for r in self.services:
            if wanted in {r.key, r.name_zh.lower(), r.name_en.lower(), *(a.lower() for a in r.aliases)}:
                return r.key
        return None

    def service_profiles(self, service: str) -> tuple[SpeedProfile, ...]:
        """The walking profiles a service is measured on: those whose group the service is for."""
        rule = self.service(service)
        return tuple(p for p in self.profiles if p.group in rule.groups)
