"""Static figures for the report: charts and a coverage map per tier, drawn offline with matplotlib.

Figures are drawn with :class:`matplotlib.figure.Figure` (no pyplot, no backend switch) and returned as PNG
data URIs. Labels are Chinese when a CJK font is installed (WenQuanYi, Noto CJK, Source Han, SimHei …), and
English otherwise, so a chart never shows empty boxes. Figures read a plan's results and compute no access.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

import geopandas as gpd
import matplotlib
import numpy as np
import shapely
from matplotlib import font_manager
from matplotlib.colors import to_rgba_array

from . import columns as col
from .cache import cache_dir, content_key, read_cached, source_key, write_cached
from .coverage import lorenz_curve

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .plan import Plan
    from .tiers import Tier

__all__ = ["cjk_font", "coverage_map", "lorenz_chart", "minutes_chart", "units_chart"]

log = logging.getLogger(__name__)


def _settings() -> str:
    """matplotlib's settings as text, but its backend: reading ``rcParams["backend"]`` makes matplotlib pick one,
    which imports pyplot (half a second), and the figures are drawn with Agg whatever it is."""
    return repr(sorted((k, repr(v)) for k, v in dict.items(matplotlib.rcParams) if k != "backend"))


def _figure(figsize: tuple[float, float]) -> Figure:
    """A new :class:`matplotlib.figure.Figure`: imported on the first drawing (a quarter second), not by a report
    whose pictures all come from the cache."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


_CJK_NAMES = (
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)


@cache
def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in _CJK_NAMES if name in installed), None)
    if found is None:
        log.info("no Chinese font installed (e.g. Debian fonts-wqy-zenhei): chart labels are in English")
    return found


@contextmanager
def _fonts(zh: bool) -> Iterator[bool]:
    """Within: text uses the CJK font when Chinese is asked for and one is installed; yields whether it is."""
    font = cjk_font() if zh else None
    if font is None:
        yield False
        return
    quiet = logging.getLogger("matplotlib.font_manager")  # "findfont: … weight" notes for fonts with one weight
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with matplotlib.rc_context({"font.sans-serif": [font, "DejaVu Sans"], "axes.unicode_minus": False}):
            yield True
    finally:
        quiet.setLevel(level)


_PNG_URI = "data:image/png;base64,"


def _png(fig: Figure, *, tight: bool = True) -> str:
    """The figure as a PNG data URI; ``tight`` trims the margins (one more drawing pass: the maps set theirs)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight" if tight else None)
    return _PNG_URI + base64.b64encode(buf.getvalue()).decode("ascii")


def minutes_chart(plan: Plan, *, zh: bool = True, use_cache: bool = True) -> str:
    """Histogram of walking minutes per tier, one series per profile (weighted by its group); kept in the disk
    cache with ``use_cache`` (as :func:`coverage_map`)."""
    residents = plan.residents
    assert residents is not None
    tiers, profiles = plan.rules.tiers, plan.rules.profiles
    parts = (
        *((t.key, t.minutes, t.name_zh, t.name_en) for t in tiers),
        *((p.key, p.name_zh, p.name_en, p.group, residents[p.group].to_numpy(float)) for p in profiles),
        *(residents[col.minutes(t.key, p.key)].to_numpy(float) for t in tiers for p in profiles),
    )
    with _fonts(zh) as cn:
        return _kept("minutes-chart-1", parts, cn, use_cache, lambda: _draw_minutes(plan, cn))


def _draw_minutes(plan: Plan, cn: bool) -> str:
    residents = plan.residents
    assert residents is not None
    tiers = plan.rules.tiers
    fig = _figure(figsize=(4 * len(tiers), 3))
    axes = fig.subplots(1, len(tiers), sharey=True, squeeze=False)[0]
    for ax, tier in zip(axes, tiers):
        for prof in plan.rules.profiles:
            m = residents[col.minutes(tier.key, prof.key)].to_numpy(float)
            ok = np.isfinite(m)
            label = f"{prof.name_zh or prof.key}步速" if cn else f"{prof.name_en or prof.key} speed"
            ax.hist(
                np.minimum(m[ok], 45),
                bins=np.arange(0, 46, 2.5),
                weights=residents[prof.group].to_numpy()[ok],
                density=True,
                alpha=0.55,
                label=label,
            )
        ax.axvline(tier.minutes, color="k", ls="--", lw=1)
        # two lines: a tier's English name is wider than its third of the figure
        title_zh = f"{tier.name_zh}\n（目标 {tier.minutes:g} 分钟）"
        ax.set_title(title_zh if cn else f"{tier.name_en}\n(target {tier.minutes:g} min)", fontsize=10)
        ax.set_xlabel("步行分钟（45 表示 45 及以上）" if cn else "walking minutes (45 = 45 or more)")
    axes[0].set_ylabel("人口占比" if cn else "share of people")
    axes[0].legend(fontsize=8)
    return _png(fig)


def units_chart(plan: Plan, *, zh: bool = True, use_cache: bool = True) -> str:
    """Share of each unit's residents within 15 minutes of every tier, sorted, against the targets; kept in the
    disk cache with ``use_cache`` (as :func:`coverage_map`)."""
    assert plan.units is not None
    u = plan.units[plan.units["population"] > 0].sort_values("within_15min_share")
    with _fonts(zh) as cn:
        parts = (u["within_15min_share"].to_numpy(float),)
        return _kept("units-chart-1", parts, cn, use_cache, lambda: _draw_units(u, cn))


def _draw_units(u: gpd.GeoDataFrame, cn: bool) -> str:
    fig = _figure(figsize=(11, 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(len(u)), u["within_15min_share"].fillna(0) * 100, color="#2b6cb0")
    ax.axhline(85, color="#dd6b20", ls="--", lw=1, label="国家目标 85%" if cn else "national target 85%")
    ax.axhline(99, color="#c53030", ls=":", lw=1, label="上海 2035 目标 99%" if cn else "Shanghai 2035 target 99%")
    ax.set_ylabel("15 分钟内可达全部层级（%）" if cn else "% within 15 min of all tiers")
    ax.set_xlabel(f"{len(u)} 个单元，按比例排序" if cn else f"{len(u)} units, sorted")
    ax.set_xticks([])
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def lorenz_chart(plan: Plan, *, zh: bool = True, use_cache: bool = True) -> str:
    """Lorenz curves of walking minutes per tier (everyone's profile); kept in the disk cache with ``use_cache``
    (as :func:`coverage_map`)."""
    residents = plan.residents
    assert residents is not None
    everyone = plan.rules.everyone.key
    parts = (
        residents["population"].to_numpy(float),
        *(
            (t.key, t.name_zh, t.name_en, residents[col.minutes(t.key, everyone)].to_numpy(float))
            for t in plan.rules.tiers
        ),
    )
    with _fonts(zh) as cn:
        return _kept("lorenz-chart-1", parts, cn, use_cache, lambda: _draw_lorenz(plan, cn))


def _draw_lorenz(plan: Plan, cn: bool) -> str:
    residents = plan.residents
    assert residents is not None
    fig = _figure(figsize=(4.2, 4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999", lw=1)
    for tier in plan.rules.tiers:
        pop, val = lorenz_curve(
            residents[col.minutes(tier.key, plan.rules.everyone.key)].to_numpy(float),
            residents["population"].to_numpy(float),
        )
        ax.plot(pop, val, label=tier.name_zh if cn else (tier.name_en or tier.key))
    ax.set_xlabel("人口累计占比（步行时间由短到长）" if cn else "cumulative share of people (shortest walks first)")
    ax.set_ylabel("步行时间累计占比" if cn else "cumulative share of walking minutes")
    ax.legend(fontsize=8)
    return _png(fig)


@dataclass(frozen=True)
class _Background:
    """What the coverage maps of one plan share, in its metric CRS: streets, residents, unit outlines, extent."""

    streets: list[np.ndarray]
    residents_xy: np.ndarray
    unit_outlines: gpd.GeoSeries | None
    extent: tuple[float, float, float, float]

    @classmethod
    def of(cls, plan: Plan) -> _Background:
        """Project and line-merge once per plan (not once per tier's map)."""
        residents = plan.residents
        assert residents is not None
        crs = plan.frame.crs
        net = plan.network
        streets: list[np.ndarray] = []
        if net is not None:  # no streets drawn for an estimate
            # the ~23k segments merged into ~6k paths: the same lines, a quarter of the artists' work
            paths = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(net.edge_lines)))
            xy, index = shapely.get_coordinates(paths, return_index=True)
            streets = np.split(xy, np.flatnonzero(np.diff(index)) + 1)
            # the streets' extent (the outline without streets): units reaching beyond it are cut at the frame
            x0, x1, y0, y1 = net.x.min(), net.x.max(), net.y.min(), net.y.max()
        else:
            x0, y0, x1, y1 = gpd.GeoSeries([plan.frame.boundary_wgs84()], crs="EPSG:4326").to_crs(crs).total_bounds
        outlines = plan.units.to_crs(crs).boundary if plan.units is not None else None
        return cls(
            streets=streets,
            residents_xy=shapely.get_coordinates(residents.to_crs(crs).geometry.values),
            unit_outlines=outlines,
            extent=(float(x0), float(x1), float(y0), float(y1)),
        )


#: id(plan) -> (a weak reference to it, its background); an entry goes when its plan does
_backgrounds: dict[int, tuple[weakref.ref, _Background]] = {}
_backgrounds_lock = threading.Lock()


def _background(plan: Plan) -> _Background:
    """The plan's :class:`_Background`, made on its first coverage map and kept while the plan lives."""
    key = id(plan)
    with _backgrounds_lock:
        hit = _backgrounds.get(key)
        if hit is not None and hit[0]() is plan:
            return hit[1]
        background = _Background.of(plan)
        _backgrounds[key] = (weakref.ref(plan), background)
        weakref.finalize(plan, _backgrounds.pop, key, None)
        return background


def _kept(kind: str, parts: tuple[object, ...], cn: bool, use_cache: bool, draw: Callable[[], str]) -> str:
    """``draw()`` (a PNG data URI), or the same picture from the disk cache (:func:`planner.cache.cache_dir`) when
    one was drawn from the same ``parts`` (everything the picture shows) by the same code, libraries and
    matplotlib settings, in the same font (``cn``); a hit is the drawing byte for byte."""
    if not use_cache:
        return draw()
    key = content_key(
        kind,
        source_key(__name__),
        _library_versions(),
        _settings(),
        cn,
        *parts,
    )
    path = cache_dir() / f"figure-{key}.png"
    kept = read_cached(path, lambda f: f.read_bytes())
    if kept is not None:
        return _PNG_URI + base64.b64encode(kept).decode("ascii")
    uri = draw()
    write_cached(path, lambda f: f.write_bytes(base64.b64decode(uri[len(_PNG_URI) :])))
    return uri


def coverage_map(plan: Plan, tier: Tier, *, zh: bool = True, use_cache: bool = True) -> str:
    """A static map of one tier: residents coloured by walking minutes (everyone's profile), facilities, units.

    With ``use_cache``, the PNG is kept in the disk cache (:func:`planner.cache.cache_dir`), keyed by everything
    it is drawn from (:func:`_map_key`): a plan whose residents' minutes, streets, units and facilities of the tier
    are the same as an earlier one's gets the same picture without drawing it again.
    """
    residents = plan.residents
    assert residents is not None
    minutes = residents[col.minutes(tier.key, plan.rules.everyone.key)].to_numpy(float)
    fac = plan.facilities[plan.facilities["tier"] == tier.key]
    with _fonts(zh) as cn:
        parts = _map_parts(plan, tier, minutes, fac) if use_cache else ()
        return _kept("coverage-map-1", parts, cn, use_cache, lambda: _draw_map(plan, tier, minutes, fac, cn))


def _map_parts(plan: Plan, tier: Tier, minutes: np.ndarray, fac: gpd.GeoDataFrame) -> tuple[object, ...]:
    """Everything a coverage map shows: the tier's words and target, the residents' points and minutes, the streets
    or the outline, the units and the tier's facilities."""
    residents, net, units = plan.residents, plan.network, plan.units
    assert residents is not None
    return (
        tier.key,
        tier.minutes,
        tier.name_zh,
        tier.name_en,
        plan.estimated,
        plan.frame.crs,
        minutes,
        shapely.get_coordinates(residents.geometry.values),
        *((net.x, net.y, net.u, net.v) if net is not None else (shapely.to_wkb(plan.frame.boundary_wgs84()),)),
        shapely.to_wkb(np.asarray(units.geometry.values)) if units is not None else None,
        shapely.get_coordinates(np.asarray(fac.geometry.values)),
    )


@cache
def _library_versions() -> tuple[str, ...]:
    """The versions of what turns the data into pixels and the pixels into a PNG."""
    import PIL
    import pyproj

    return (matplotlib.__version__, PIL.__version__, pyproj.__version__, shapely.__version__, gpd.__version__)


def _draw_map(plan: Plan, tier: Tier, minutes: np.ndarray, fac: gpd.GeoDataFrame, cn: bool) -> str:
    residents = plan.residents
    assert residents is not None
    crs = plan.frame.crs
    background = _background(plan)
    pts = background.residents_xy
    # one RGBA row per class, picked by index (matplotlib parses 30,000 colour names 20 times slower)
    palette = to_rgba_array(["#1a9850", "#fee08b", "#d73027", "#7b3294"])
    colours = palette[
        np.select([minutes <= tier.minutes, minutes <= 2 * tier.minutes, np.isfinite(minutes)], [0, 1, 2], 3)
    ]
    fig = _figure(figsize=(7, 6))
    ax = fig.subplots()
    ax.set_axis_off()
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(background.streets, colors="#cccccc", linewidths=0.3))
    if background.unit_outlines is not None:
        background.unit_outlines.plot(ax=ax, color="#555555", linewidth=0.4)
    ax.scatter(pts[:, 0], pts[:, 1], s=1.2, c=colours, linewidths=0)
    if len(fac):
        f = gpd.GeoSeries(fac.geometry, crs="EPSG:4326").to_crs(crs)
        ax.scatter(f.x, f.y, s=14, c="#2b2b2b", marker="^", linewidths=0)
    title = (
        f"{tier.name_zh}：{tier.minutes:g} 分钟内（绿）、{2 * tier.minutes:g} 分钟内（黄）、更远（红）、不可达（紫）"
        if cn
        else f"{tier.name_en}: within {tier.minutes:g} min (green), {2 * tier.minutes:g} (yellow), "
        "farther (red), unreachable (purple)"
    )
    if plan.estimated:
        title += "（估算：直线距离×绕行系数）" if cn else " (estimate: straight line x detour factor)"
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    x0, x1, y0, y1 = background.extent
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.94)
    return _png(fig, tight=False)
