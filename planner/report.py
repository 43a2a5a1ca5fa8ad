"""The community check report (社区体检报告): one self-contained HTML file, Chinese with English.

A builder at the edge of the planner: it reads a finished :class:`~planner.plan.Plan`
and its statistics and writes HTML; nothing in the computation imports it. Charts are
PNG images embedded as data URIs, so the file opens offline.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # drawn without pyplot: no global backend switch, no GUI

from . import columns as col
from .coverage import lorenz_curve

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",system-ui,sans-serif;margin:0;color:#1d2733;
background:#f6f7f9}main{max-width:1080px;margin:auto;padding:24px}h1{font-size:26px;margin:0 0 4px}
h2{border-bottom:2px solid #2b6cb0;padding-bottom:4px;margin-top:32px}.en{color:#52606d}
.warn{background:#fff4e5;border-left:5px solid #dd6b20;padding:10px 14px;margin:10px 0}
.findings li{margin:6px 0}.big{font-size:20px;font-weight:600}table{border-collapse:collapse;width:100%;
background:#fff;font-size:14px}th,td{border:1px solid #d9dee5;padding:4px 8px;text-align:right}
th{background:#edf2f7}td:first-child,th:first-child{text-align:left}figure{background:#fff;margin:16px 0;
padding:8px}figure img{max-width:100%}figcaption{font-size:13px;color:#52606d}.kpis{display:flex;gap:12px;
flex-wrap:wrap}.kpi{background:#fff;border:1px solid #d9dee5;padding:10px 14px;min-width:180px}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _chart_minutes(residents: pd.DataFrame, plan) -> str:
    tiers = plan.rules.tiers
    fig = Figure(figsize=(4 * len(tiers), 3))
    axes = fig.subplots(1, len(tiers), sharey=True, squeeze=False)[0]
    for ax, tier in zip(axes, tiers):
        for prof in plan.rules.profiles:
            m = residents[col.minutes(tier.key, prof.key)].to_numpy(float)
            ok = np.isfinite(m)
            ax.hist(
                np.minimum(m[ok], 45),
                bins=np.arange(0, 46, 2.5),
                weights=residents[prof.group].to_numpy()[ok],
                density=True,
                alpha=0.55,
                label=f"{prof.group}, {prof.name_en or prof.key} speed",
            )
        ax.axvline(tier.minutes, color="k", ls="--", lw=1)
        ax.set_title(f"{tier.key} (target {tier.minutes:g} min)")
        ax.set_xlabel("walking minutes (45 = 45 or more)")
    axes[0].set_ylabel("share of people")
    axes[0].legend(fontsize=8)
    return _png(fig)


def _chart_units(units: pd.DataFrame, plan) -> str:
    u = units[units["population"] > 0].sort_values("within_15min_share")
    fig = Figure(figsize=(11, 3.2))
    ax = fig.subplots()
    ax.bar(np.arange(len(u)), u["within_15min_share"].fillna(0) * 100, color="#2b6cb0")
    ax.axhline(85, color="#dd6b20", ls="--", lw=1, label="national target 85%")
    ax.axhline(99, color="#c53030", ls=":", lw=1, label="Shanghai 2035 target 99%")
    ax.set_ylabel("% within 15 min of all tiers")
    ax.set_xlabel(f"{len(u)} units, sorted")
    ax.set_xticks([])
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def _chart_lorenz(residents: pd.DataFrame, plan) -> str:
    fig = Figure(figsize=(4.2, 4))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="#999", lw=1)
    for tier in plan.rules.tiers:
        pop, val = lorenz_curve(
            residents[col.minutes(tier.key, plan.rules.everyone.key)].to_numpy(float),
            residents["population"].to_numpy(float),
        )
        ax.plot(pop, val, label=tier.key)
    ax.set_xlabel("cumulative share of people (shortest walks first)")
    ax.set_ylabel("cumulative share of walking minutes")
    ax.legend(fontsize=8)
    return _png(fig)


def _findings(head: dict, plan) -> list[tuple[str, str]]:
    out = [
        (
            (
                f"研究区内约 <span class=big>{_n(head['population'])}</span> 名居民，其中 60 岁及以上老年人约 "
                f"<span class=big>{_n(head['elderly'])}</span> 人。"
            ),
            f"About {_n(head['population'])} residents live in the study area, {_n(head['elderly'])} of them elderly.",
        )
    ]
    everyone = plan.rules.everyone
    elderly = next((p for p in plan.rules.profiles if p.group == "elderly"), None)
    for tier in plan.rules.tiers:
        ref = head["tiers"][tier.key][everyone.key]
        zh = (
            f"<b>{_n(ref['people_without'])}</b> 名居民（其中老年人 <b>{_n(ref['elderly_without'])}</b> 人）"
            f"步行 {tier.minutes:g} 分钟内到不了{_esc(tier.name_zh)}。"
        )
        en = (
            f"{_n(ref['people_without'])} residents ({_n(ref['elderly_without'])} elderly) cannot reach a "
            f"{_esc(tier.name_en.lower())} within {tier.minutes:g} minutes on foot."
        )
        if elderly is not None:
            eld = head["tiers"][tier.key][elderly.key]
            share = 1 - (eld["elderly_covered_share"] or 0)
            zh += f" 按老年人步速（{elderly.speed_mps:g} 米/秒），{_pct(share)} 的老年人到不了。"
            en += f" At elderly walking speed ({elderly.speed_mps:g} m/s), {_pct(share)} of the elderly cannot."
        out.append((zh, en))
    measured = [kv for kv in head["services"].items() if kv[1]["elderly_without_share"] is not None]
    worst = sorted(measured, key=lambda kv: -kv[1]["elderly_without_share"])[:2]
    for _key, svc in worst:
        out.append(
            (
                (
                    f"{_pct(svc['elderly_without_share'])} 的老年人步行 {svc['minutes']:g} 分钟内"
                    f"没有{_esc(svc['name_zh'])}服务。"
                ),
                (
                    f"{_pct(svc['elderly_without_share'])} of the elderly have no {_esc(svc['name_en'].lower())} "
                    f"service within {svc['minutes']:g} minutes."
                ),
            )
        )
    share = head["within_15min_all_tiers_share"]
    out.append(
        (
            f"{_pct(share)} 的居民 15 分钟内可步行到达全部三级设施（国家目标 85%，上海 2035 目标 99%）。",
            (
                f"{_pct(share)} of residents reach all three tiers within 15 minutes (national target 85%, "
                "Shanghai 2035 target 99%)."
            ),
        )
    )
    return out


def _sites_section(proposals, plan) -> list[str]:
    parts = ["<h2 id=sites>建议新增站点 <span class=en>Where to build next</span></h2>"]
    for p in proposals:
        s = p.summary()
        tier = plan.rules.tier(p.tier)
        parts.append(
            f"<p>新增 <b>{s['sites']}</b> 处{_esc(tier.name_zh)}，可使 <b>{_n(s['new_population'])}</b> 名居民"
            f"（其中老年人 <b>{_n(s['new_elderly'])}</b> 人）新进入步行范围；覆盖率 {_pct(s['covered_share_before'])}"
            f" → {_pct(s['covered_share_after'])}。<br><span class=en>Adding these {s['sites']} {_esc(p.tier)}"
            f" sites covers {_n(s['new_population'])} more residents, {_n(s['new_elderly'])} of them elderly "
            f"(coverage {_pct(s['covered_share_before'])} → {_pct(s['covered_share_after'])}; {s['model']}, "
            f"{_esc(s['solver'])}, {_esc(s['status'])}, gap {100 * s['gap']:.2f}%"
            f"{'; the target was above what the candidates can reach' if s['target_capped'] else ''}).</span></p>"
        )
        parts.append(
            "<table><tr><th>rank 排序</th><th>site 站点</th><th>new residents 新覆盖人口</th>"
            "<th>new elderly 新覆盖老年人</th><th>coverage 覆盖率</th><th>lon, lat</th></tr>"
        )
        for _, r in p.sites.head(25).iterrows():
            parts.append(
                f"<tr><td>{r['rank']}</td><td>{_esc(r['candidate_id'])}</td><td>{_n(r['new_population'])}</td>"
                f"<td>{_n(r['new_elderly'])}</td><td>{_pct(r['covered_share'])}</td>"
                f"<td>{r.geometry.x:.5f}, {r.geometry.y:.5f}</td></tr>"
            )
        parts.append("</table>")
    return parts


def render_report(plan: Plan) -> str:
    """The report as an HTML string (it reads the plan's results and computes no access).

    Parameters
    ----------
    plan : planner.plan.Plan
        A plan with residents; its units, equity table and proposals are shown.
    """
    if plan.residents is None or plan.units is None or plan.equity is None:
        msg = "the report needs residents: the study area has no [population] source"
        raise ValueError(msg)
    units, equity, proposals = plan.units, plan.equity, plan.proposals
    summary = plan.summary()
    head = summary["residents"]
    res = plan.residents
    area = plan.area
    warnings = []
    if area.facilities_illustrative:
        warnings.append(
            "注意：本报告的设施分布为<b>示意数据</b>，不是上海社区服务设施的真实位置。"
            "<br><span class=en>Note: the facility inventory is <b>ILLUSTRATIVE</b>, not the real "
            "positions of Shanghai's community service facilities.</span>"
        )
    note = area.settings.population.note if area.settings.population else None
    if note:
        warnings.append(f"人口说明：{_esc(note)}<br><span class=en>About the population data: {_esc(note)}</span>")
    parts = [
        (
            f"<!doctype html><html lang=zh-CN><head><meta charset=utf-8><title>社区体检报告 Community check report — "
            f"{_esc(area.title_en)}</title><style>{_CSS}</style></head><body><main>"
        ),
        (
            f"<h1>社区体检报告 · {_esc(area.title_zh)}</h1><div class=en>Community check report · "
            f"{_esc(area.title_en)} · {date.today().isoformat()}</div>"
        ),
    ]
    parts += [f"<div class=warn>{w}</div>" for w in warnings]
    parts.append("<h2 id=findings>主要发现 <span class=en>Key findings</span></h2><ul class=findings>")
    parts += [f"<li>{zh}<br><span class=en>{en}</span></li>" for zh, en in _findings(head, plan)]
    parts.append("</ul>")

    parts.append(
        "<h2>分级覆盖 <span class=en>Coverage by tier</span></h2><table><tr><th>tier 层级</th>"
        "<th>target 目标</th><th>profile 步速</th><th>group 人群</th><th>covered 覆盖</th>"
        "<th>people without 未覆盖人口</th><th>elderly without 未覆盖老年人</th><th>mean 平均 (min)</th>"
        "<th>median 中位数</th><th>p90</th><th>Gini</th><th>facilities 设施数</th></tr>"
    )
    eq = equity.set_index(["tier", "profile"])
    for tier in plan.rules.tiers:
        for prof in plan.rules.profiles:
            h = head["tiers"][tier.key][prof.key]
            e = cast(pd.Series, eq.loc[(tier.key, prof.key)])  # a full (tier, profile) key: one row
            parts.append(
                f"<tr><td>{_esc(tier.name_zh)} {_esc(tier.key)}</td><td>{tier.minutes:g} min</td>"
                f"<td>{_esc(prof.name_zh)} {_esc(prof.key)} ({prof.speed_mps:.2f} m/s)</td>"
                f"<td>{_esc(prof.group)}</td><td>{_pct(h['group_covered_share'])}</td>"
                f"<td>{_n(h['people_without'])}</td><td>{_n(h['elderly_without'])}</td>"
                f"<td>{e.mean_min:.1f}</td><td>{e.median_min:.1f}</td><td>{e.p90_min:.1f}</td>"
                f"<td>{e.gini:.3f}</td><td>{summary['facilities']['per_tier'][tier.key]}</td></tr>"
            )
    parts.append("</table>")

    parts.append(
        "<h2>服务类别 <span class=en>Service categories</span></h2><table><tr><th>service 服务</th>"
        "<th>target 目标</th><th>people without 无服务人口占比</th><th>elderly without 无服务老年人占比"
        " (elderly speed)</th></tr>"
    )
    for key, svc in head["services"].items():
        if not svc["assessed"]:  # never 0% or 100%: say it was not measured, and why
            cells = (
                f"<td colspan=2>未评估：{_esc(svc.get('reason_zh', ''))}<br><span class=en>not assessed: "
                f"{_esc(svc.get('reason', ''))}</span></td>"
            )
        else:
            cells = "".join(
                f"<td>{_pct(svc[name])}</td>"
                if group in svc["groups"]
                else "<td>不适用<br><span class=en>not for this group</span></td>"
                for name, group in (("people_without_share", "population"), ("elderly_without_share", "elderly"))
            )
        parts.append(f"<tr><td>{_esc(svc['name_zh'])} {_esc(key)}</td><td>{svc['minutes']:g} min</td>{cells}</tr>")
    parts.append("</table>")

    if proposals:
        parts += _sites_section(proposals, plan)

    parts.append("<h2>图表 <span class=en>Charts</span></h2>")
    for src, zh, en in (
        (_chart_minutes(res, plan), "步行时间分布", "Distribution of walking minutes, by tier"),
        (_chart_units(units, plan), "各单元 15 分钟覆盖率", "Share within 15 minutes of all tiers, by unit"),
        (_chart_lorenz(res, plan), "洛伦兹曲线", "Lorenz curves of walking minutes"),
    ):
        parts.append(f"<figure><img src='{src}' alt='{zh} {en}'><figcaption>{zh} · {en}</figcaption></figure>")

    parts.append(
        "<h2>分单元统计 <span class=en>By unit</span></h2><table><tr><th>unit 单元</th><th>population 人口</th>"
        "<th>elderly 老年人</th>"
        + "".join(f"<th>{_esc(t.key)} covered</th>" for t in plan.rules.tiers)
        + "<th>within 15 min</th><th>facilities/km²</th></tr>"
    )
    for _, row in units[units["population"] > 0].sort_values("within_15min_share").iterrows():
        parts.append(
            f"<tr><td>{_esc(row['unit'])}</td><td>{_n(row['population'])}</td><td>{_n(row['elderly'])}</td>"
            + "".join(f"<td>{_pct(row[col.covered(t.key, plan.rules.everyone.key)])}</td>" for t in plan.rules.tiers)
            + f"<td>{_pct(row['within_15min_share'])}</td><td>{row['facilities_per_km2']:.1f}</td></tr>"
        )
    parts.append("</table>")

    net = summary["network"]
    rules = summary["rules"]
    parts.append("<h2>数据来源与假设 <span class=en>Data sources and assumptions</span></h2><ul>")
    parts.append(
        f"<li>街道网络 Street network: {_esc(net['source'])}, OpenStreetMap data as of {_esc(net['osm_timestamp'])}, "
        f"© OpenStreetMap contributors (ODbL 1.0). {net['nodes']:,} nodes, {net['km']:,} km of walkable street.</li>"
    )
    parts.append(
        f"<li>设施 Facilities: {_esc(Path(str(summary['facilities']['source'])).name)}"
        f"{' — ILLUSTRATIVE 示意' if area.facilities_illustrative else ''}.</li>"
    )
    parts.append(
        f"<li>人口 Population: {_esc(Path(str(head['source'])).name)}; {_n(head['population'])} of "
        f"{_n(head['population_in_source'])} people in the source lie inside the study area. "
        f"Elderly share assumed {_pct(head['elderly_share_assumed'])}"
        f"{' — ' + _esc(head['elderly_share_source']) if head.get('elderly_share_source') else ''}.</li>"
    )
    speeds = ", ".join(f"{k} {v['speed_kmh']:g} km/h" for k, v in rules["profiles"].items())
    parts.append(
        f"<li>步速 Walking speeds: {speeds}. Tier targets: "
        + ", ".join(f"{k} {v['minutes']:g} min" for k, v in rules["tiers"].items())
        + ". Walks are measured along streets, from each resident's street position.</li></ul>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, plan: Plan) -> None:
    """Write :func:`render_report` to a UTF-8 file."""
    Path(path).write_text(render_report(plan), encoding="utf-8")
