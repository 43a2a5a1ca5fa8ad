"""The community check report (社区体检报告): one self-contained HTML file, in Chinese or in English.

A builder at the edge of the planner: it reads a finished :class:`~planner.plan.Plan` and writes HTML; it
computes no access. Every sentence is in one language (``lang="zh"``, the default, or ``"en"``). Figures
measured on real lists are kept apart from figures measured on illustrative data, and a measure that was not
assessed says 未评估 / not assessed with its reason — never 0 % or 100 %. Charts and per-tier maps are PNG
images embedded as data URIs, so the file opens offline.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import numpy as np

from . import columns as col
from . import figures
from .coverage import NATIONAL_TARGET_SHARE, SHANGHAI_2035_TARGET_SHARE
from .report_sections import (
    Text,
    availability_section,
    esc,
    num,
    pct,
    population_check_section,
    sites_section,
    three_lists_section,
    unit_sections,
)

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["render_report", "write_report"]

Lang = Literal["zh", "en"]

_CSS = """
body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei","PingFang SC",system-ui,sans-serif;
margin:0;color:#1d2733;background:#f6f7f9}main{max-width:1080px;margin:auto;padding:24px}h1{font-size:26px;
margin:0 0 4px}h2{border-bottom:2px solid #2b6cb0;padding-bottom:4px;margin-top:32px}.sub{color:#52606d}
.warn{background:#fff4e5;border-left:5px solid #dd6b20;padding:10px 14px;margin:10px 0}.tag{font-size:12px;
padding:1px 6px;border-radius:3px;margin-left:6px}.real{background:#e6f4ea;color:#1e6b34}.ill{background:#fff4e5;
color:#9c4a00}.na{color:#7b3294}.findings li{margin:6px 0}.big{font-size:20px;font-weight:600}table{border-collapse:
collapse;width:100%;background:#fff;font-size:14px;margin:8px 0}th,td{border:1px solid #d9dee5;padding:4px 8px;
text-align:right}th{background:#edf2f7}td:first-child,th:first-child,td.txt,th.txt{text-align:left}td:first-child{white-space:nowrap}td.mid,th.mid{text-align:center}figure{background:#fff;
margin:16px 0;padding:8px}figure img{max-width:100%}figcaption{font-size:13px;color:#52606d}
@media print{body{background:#fff}main{max-width:none;padding:0}h2{break-after:avoid}table,figure{break-inside:avoid}}
"""


def _without_label(note: str | None, label: str) -> str:
    """A note without its own leading label (``估算：…`` after "人口为估算：" would say it twice)."""
    text = (note or "").strip()
    for sep in ("：", ":"):
        if text.startswith(label + sep):
            return text[len(label) + len(sep) :].lstrip()
    return text


def _notices(plan: Plan, t: Text) -> list[str]:
    area = plan.area
    out = []
    if plan.estimate is not None:
        how = plan.estimate.summary()
        f = how["detour_factor"]
        out.append(
            t(
                f"<b>估算</b>：本研究区没有道路网数据，步行距离按直线距离×绕行系数 {f:g} 估算"
                f"（{esc(how['source'])}）。所有步行时间、覆盖率和人数都是估算值，只能用于初步判断。",
                f"<b>Estimate</b>: this study area has no street network; walking distance is the straight line "
                f"x a detour factor of {f:g} ({esc(how['source_en'])}). Every walking time, share and count is an "
                "estimate, for a first look only.",
            )
        )
    if not plan.rules.tiers:
        out.append(
            t(
                "层级设施（社区服务中心、服务站、服务点）<b>未评估</b>：研究区没有层级设施清单。",
                "The tiers (community service centers, stations, points) are <b>not assessed</b>: the study area "
                "has no tier inventory.",
            )
        )
    if area.facilities_illustrative:
        out.append(
            t(
                "注意：三级设施（社区服务中心、服务站、服务点）的分布为<b>示意数据</b>，不是真实位置；"
                "凡标注“示意数据”的数字都由它算出。",
                "Note: the tier inventory (community service centers, stations, points) is <b>illustrative"
                "</b>, not real positions; every figure tagged “illustrative” comes from it.",
            )
        )
    pop = area.settings.population
    if pop is not None and (pop.note or pop.note_en):
        out.append(
            t(
                f"人口为<b>估算</b>：{esc(_without_label(pop.note, '估算'))}",
                f"The population is an <b>estimate</b>: {esc(_without_label(pop.note_en, 'Estimate'))}",
            )
        )
    if pop is not None and pop.elderly_column is None:
        out.append(
            t(
                f"老年人数按 60 岁及以上占比 {pct(pop.elderly_share)} 估算"
                f"（{esc(pop.elderly_share_source or '来源未说明')}）。",
                f"Elderly counts assume a {pct(pop.elderly_share)} share aged 60+ "
                f"({esc(pop.elderly_share_source_en or 'source not stated in English')}).",
            )
        )
        bbox = plan.frame.bbox_wgs84()
        if (
            not (bbox[0] >= 120.8 and bbox[2] <= 122.2 and bbox[1] >= 30.6 and bbox[3] <= 31.9)
            and abs(pop.elderly_share - 0.234) < 1e-9
        ):
            out.append(
                t(
                    "警告：研究区不在上海，却使用了上海的老年人口占比。",
                    "Warning: the study area is not in Shanghai, yet Shanghai's elderly share is assumed.",
                )
            )
    return out


def _findings(plan: Plan, head: dict, t: Text) -> list[str]:
    out = [
        t(
            f"研究区内约 <span class=big>{num(head['population'])}</span> 名居民，其中 60 岁及以上老年人约 "
            f"<span class=big>{num(head['elderly'])}</span> 人。",
            f"About <span class=big>{num(head['population'])}</span> residents live in the study area, "
            f"<span class=big>{num(head['elderly'])}</span> of them aged 60 or over.",
        )
    ]
    for key, svc in head["services"].items():  # real lists first: they are the measured findings
        basis = svc.get("basis", {})
        if basis.get("illustrative") or not svc["assessed"]:
            continue
        rule = plan.rules.service(key)
        where = ""
        if "assessed_share" in svc:
            where = t(
                f"（仅在清单完整的范围内评估，覆盖 {pct(svc['assessed_share'])} 的居民；其余为未评估）",
                f" (assessed only where its list is complete: {pct(svc['assessed_share'])} of residents; "
                "elsewhere not assessed)",
            )
        for prof_key, entry in svc["profiles"].items():
            prof = plan.rules.profile(prof_key)
            out.append(
                t(
                    f"{t.group(prof.group)}中有 <b>{pct(entry['without_share'])}</b> 按{t.prof(prof)}步速 "
                    f"{rule.minutes:g} 分钟内走不到{esc(rule.name_zh)}服务{where}。{t.tag(False)}",
                    f"<b>{pct(entry['without_share'])}</b> of {t.group(prof.group)} cannot walk to "
                    f"{esc(rule.name_en.lower())} within {rule.minutes:g} minutes at {t.prof(prof)} speed{where}."
                    f"{t.tag(False)}",
                )
            )
    everyone = plan.rules.everyone
    for tier in plan.rules.tiers:
        ref = head["tiers"][tier.key][everyone.key]
        out.append(
            t(
                f"<b>{num(ref['people_without'])}</b> 名居民（其中老年人 <b>{num(ref['elderly_without'])}</b> 人）"
                f"步行 {tier.minutes:g} 分钟内到不了{esc(tier.name_zh)}。{t.tag(plan.area.facilities_illustrative)}",
                f"<b>{num(ref['people_without'])}</b> residents (<b>{num(ref['elderly_without'])}</b> elderly) "
                f"cannot reach a {esc(tier.name_en.lower())} within {tier.minutes:g} minutes on foot."
                f"{t.tag(plan.area.facilities_illustrative)}",
            )
        )
    share = head["within_15min_all_tiers_share"]
    if share is None:  # no tier inventory, or a tier with a longer target: not assessed / not applicable
        if plan.rules.tiers:
            out.append(
                t(
                    f"15 分钟全部层级可达：{esc(head.get('within_15min_note', ''))}。",
                    "Every tier within 15 minutes: not applicable (a tier has a longer walking target).",
                )
            )
        return out
    out.append(
        t(
            f"{pct(share)} 的居民 15 分钟内可步行到达全部层级（国家目标 {pct(NATIONAL_TARGET_SHARE)}，"
            f"上海 2035 目标 {pct(SHANGHAI_2035_TARGET_SHARE)}）。{t.tag(plan.area.facilities_illustrative)}",
            f"{pct(share)} of residents reach every tier within 15 minutes (national target "
            f"{pct(NATIONAL_TARGET_SHARE)}, Shanghai 2035 target {pct(SHANGHAI_2035_TARGET_SHARE)})."
            f"{t.tag(plan.area.facilities_illustrative)}",
        )
    )
    return out


def _services_table(plan: Plan, head: dict, t: Text) -> list[str]:
    rows = [
        (
            f"<table><tr><th>{t('服务', 'Service')}</th><th class=mid>{t('依据', 'Basis')}</th>"
            f"<th>{t('目标', 'Target')}</th>"
            f"<th>{t('全体居民未覆盖', 'Residents without')}</th><th>{t('老年人未覆盖', 'Elderly without')}</th>"
            f"<th class=txt>{t('说明', 'Note')}</th></tr>"
        )
    ]
    for key, svc in head["services"].items():
        rule = plan.rules.service(key)
        basis = svc.get("basis", {})
        if not svc["assessed"]:
            cells = f"<td colspan=2 class=na>{t('未评估', 'not assessed')}</td>"
            note = t(svc.get("reason_zh", ""), svc.get("reason", ""))
        else:
            cells = "".join(
                f"<td>{pct(svc[name])}</td>"
                if group in svc["groups"]
                else f"<td class=na>{t('不适用', 'not for this group')}</td>"
                for name, group in (("people_without_share", "population"), ("elderly_without_share", "elderly"))
            )
            note = ""
            if "assessed_share" in svc:
                note = t(
                    f"仅评估清单完整范围内的 {pct(svc['assessed_share'])} 居民，其余未评估",
                    f"assessed for the {pct(svc['assessed_share'])} of residents where the list is complete; "
                    "elsewhere not assessed",
                )
        name = rule.name_zh if t.zh else rule.name_en
        rows.append(
            f"<tr><td>{esc(name)}</td>"
            f"<td class=mid>{t.tag(bool(basis.get('illustrative'))) if svc['assessed'] else '–'}</td>"
            f"<td>{rule.minutes:g} {t('分钟', 'min')}</td>{cells}<td class=txt>{esc(note)}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _tiers_table(plan: Plan, head: dict, t: Text) -> list[str]:
    if not plan.rules.tiers:
        return [f"<p class=na>{t('未评估：没有层级设施清单。', 'Not assessed: no tier inventory.')}</p>"]
    rows = [
        (
            f"<table><tr><th>{t('层级', 'Tier')}</th><th class=txt>{t('步速', 'Speed')}</th>"
            f"<th class=txt>{t('人群', 'Group')}</th>"
            f"<th>{t('覆盖', 'Covered')}</th><th>{t('未覆盖居民', 'Residents without')}</th>"
            f"<th>{t('未覆盖老年人', 'Elderly without')}</th><th>{t('中位数（分钟）', 'Median (min)')}</th>"
            f"<th>{t('设施数', 'Facilities')}</th></tr>"
        )
    ]
    eq = plan.equity.set_index(["tier", "profile"]) if plan.equity is not None else None
    per_tier = plan.summary()["facilities"]["per_tier"]
    for tier in plan.rules.tiers:
        for prof in plan.rules.profiles:
            h = head["tiers"][tier.key][prof.key]
            median = float(cast(float, eq.at[(tier.key, prof.key), "median_min"])) if eq is not None else np.nan
            rows.append(
                f"<tr><td>{esc(t.tier(tier))}{t('（', ' (')}{tier.minutes:g} {t('分钟', 'min')}{t('）', ')')}</td>"
                f"<td class=txt>{esc(t.prof(prof))} {prof.speed_mps:.2f} m/s</td>"
                f"<td class=txt>{esc(t.group(prof.group))}</td>"
                f"<td>{pct(h['group_covered_share'])}</td><td>{num(h['people_without'])}</td>"
                f"<td>{num(h['elderly_without'])}</td><td>{median:.1f}</td><td>{per_tier[tier.key]}</td></tr>"
            )
    rows.append("</table>")
    return rows


def _units_table(plan: Plan, t: Text) -> list[str]:
    units = plan.units
    if units is None:
        return []
    if not plan.rules.tiers:
        return [f"<p class=na>{t('层级覆盖未评估；各单元的服务缺口见下文各单元情况。', 'Tiers not assessed.')}</p>"]
    everyone = plan.rules.everyone.key
    rows = [
        f"<table><tr><th>{t('单元', 'Unit')}</th><th>{t('居民', 'Residents')}</th><th>{t('老年人', 'Elderly')}</th>"
        + "".join(f"<th>{esc(t.tier(tr))}{t('覆盖', ' covered')}</th>" for tr in plan.rules.tiers)
        + f"<th>{t('15 分钟全部可达', 'All tiers in 15 min')}</th></tr>"
    ]
    for _, row in units[units["population"] > 0].sort_values("within_15min_share").iterrows():
        rows.append(
            f"<tr><td>{esc(row['unit'])}</td><td>{num(row['population'])}</td><td>{num(row['elderly'])}</td>"
            + "".join(f"<td>{pct(row[col.covered(tr.key, everyone)])}</td>" for tr in plan.rules.tiers)
            + f"<td>{pct(row['within_15min_share'])}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _sources(plan: Plan, t: Text) -> list[str]:
    s = plan.summary()
    net = s["network"]
    if net.get("mode") == "none":
        how = net.get("estimate") or {}
        items = [
            t(
                f"街道网络：无。步行距离按直线距离×绕行系数 {how.get('detour_factor', '–')} 估算"
                f"（{esc(how.get('source', ''))}）。",
                f"Street network: none. Walking distance is the straight line x a detour factor of "
                f"{how.get('detour_factor', '–')} ({esc(how.get('source_en', ''))}).",
            )
            + t.est()
        ]
    else:
        items = [
            t(
                f"街道网络：{esc(net['source'])}，OpenStreetMap 数据截至 {esc(net['osm_timestamp'])}，© OpenStreetMap "
                f"贡献者（ODbL 1.0）；{net['nodes']:,} 个节点，可步行道路 {net['km']:,} 公里。",
                f"Street network: {esc(net['source'])}, OpenStreetMap data as of {esc(net['osm_timestamp'])}, © "
                f"OpenStreetMap contributors (ODbL 1.0); {net['nodes']:,} nodes, {net['km']:,} km of walkable street.",
            )
        ]
    for name, info in s["facilities"].get("lists", {}).items():
        flagged = info.get("position_flagged", 0)
        items.append(
            t(
                f"设施清单 {esc(info['file'])}（{esc(name)}）：研究区内 {info['rows_in_area']} 处，研究区街道范围外 "
                f"{info['outside_area']} 处未计入，位置存疑 {flagged} 处。{esc(info.get('note', ''))}",
                f"Facility list {esc(info['file'])} ({esc(name)}): {info['rows_in_area']} in the study area, "
                f"{info['outside_area']} outside its streets left out, {flagged} with doubtful positions. "
                f"{esc(info.get('note_en', ''))}",
            )
            + t.tag(bool(info.get("illustrative")))
        )
    for info in s.get("context", {}).values():
        licence = info["licence"] if info["licence"] != "none stated" else t("未说明", "none stated")
        items.append(
            t(
                f"背景图层{esc(info['name_zh'])}：{info['points']} 处，来源 {esc(info['source'])}，"
                f"许可：{esc(licence)}。",
                f"Context layer {esc(info['name_en'])}: {info['points']} points, from {esc(info['source'])}, "
                f"licence: {esc(licence)}.",
            )
        )
    head = s["residents"] or {}
    items.append(
        t(
            f"人口：{esc(Path(str(head.get('source'))).name)}；来源中 {num(head.get('population_in_source'))} 人，"
            f"其中 {num(head.get('population'))} 人位于研究区内。",
            f"Population: {esc(Path(str(head.get('source'))).name)}; {num(head.get('population'))} of "
            f"{num(head.get('population_in_source'))} people in the source live inside the study area.",
        )
    )
    speeds = t("、", ", ").join(f"{t.prof(p)} {p.speed_mps:.2f} m/s" for p in plan.rules.profiles)
    if plan.estimated:
        walks = t(
            "没有道路网，步行距离为居民点到设施的直线距离乘以绕行系数（估算）；居民在每个人口网格内均匀分布。",
            "With no street network, a walk is the straight line from a resident point to a facility times the "
            "detour factor (an estimate); residents are spread evenly over each population cell.",
        )
    else:
        walks = t(
            "步行距离沿街道计算，从每位居民所在街道位置出发。",
            "Walks are measured along streets from each resident's street position.",
        )
    items.append(t(f"步速：{speeds}。", f"Walking speeds: {speeds}. ") + walks)
    return ["<ul>", *(f"<li>{i}</li>" for i in items), "</ul>"]


def render_report(plan: Plan, *, lang: Lang = "zh", map_href: str | None = "map.html", use_cache: bool = True) -> str:
    """The report as an HTML string.

    Parameters
    ----------
    plan : Plan
        A plan with residents; its units, equity table, proposals and context are shown.
    lang : {"zh", "en"}, default "zh"
        The language of every sentence.
    map_href : str or None, default "map.html"
        Link to the interactive map beside the report (None: no link).
    use_cache : bool, default True
        Take the tiers' static maps and the charts from the disk cache when the same ones were drawn before
        (:func:`planner.figures.coverage_map`).
    """
    if plan.residents is None or plan.units is None:
        msg = "the report needs residents: the study area has no [population] source"
        raise ValueError(msg)
    t = Text(lang, estimated=plan.estimated)
    head = plan.summary()["residents"]
    area = plan.area
    title = area.title_zh if t.zh else area.title_en
    parts = [
        f"<!doctype html><html lang={'zh-CN' if t.zh else 'en'}><head><meta charset=utf-8>"
        f"<title>{t('社区体检报告', 'Community check report')} — {esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{t('社区体检报告', 'Community check report')} · {esc(title)}</h1>"
        f"<div class=sub>{t('十五分钟社区生活圈', '15-minute community life circle')} · {date.today().isoformat()}"
        + (f" · <a href='{esc(map_href)}'>{t('打开交互地图', 'open the interactive map')}</a>" if map_href else "")
        + "</div>"
    ]
    parts += [f"<div class=warn>{w}</div>" for w in _notices(plan, t)]
    parts.append(f"<h2 id=findings>{t('主要发现', 'Key findings')}</h2><ul class=findings>")
    parts += [f"<li>{f}</li>" for f in _findings(plan, head, t)]
    parts.append("</ul>")
    parts.append(f"<h2 id=services>{t('服务覆盖', 'Services')}</h2>")
    parts += _services_table(plan, head, t)
    tier_tag = t.tag(area.facilities_illustrative) if plan.rules.tiers else ""
    parts.append(f"<h2 id=tiers>{t('分级覆盖', 'Coverage by tier')}{tier_tag}</h2>")
    parts += _tiers_table(plan, head, t)
    for tier in plan.rules.tiers:
        picture = figures.coverage_map(plan, tier, zh=t.zh, use_cache=use_cache)
        parts.append(
            f"<figure><img src='{picture}' alt='{esc(t.tier(tier))}'>"
            f"<figcaption>{esc(t.tier(tier))}{t.tag(area.facilities_illustrative)}</figcaption></figure>"
        )
    parts.append(f"<h2 id=units>{t('分单元统计', 'By unit')}</h2>")
    parts += _units_table(plan, t)
    if plan.proposals:
        parts.append(f"<h2 id=sites>{t('建议新增站点', 'Where to build next')}</h2>")
        parts += sites_section(plan, t)
    if plan.rules.tiers:  # the charts are of the tiers' minutes
        parts.append(f"<h2>{t('图表', 'Charts')}</h2>")
        charts = [
            (
                figures.minutes_chart(plan, zh=t.zh, use_cache=use_cache),
                t("步行时间分布", "Distribution of walking minutes"),
            )
        ]
        if plan.rules.fifteen_minute_measure:  # not applicable with a longer tier target (rural)
            charts.append(
                (
                    figures.units_chart(plan, zh=t.zh, use_cache=use_cache),
                    t("各单元 15 分钟全部可达比例", "Share within 15 minutes, by unit"),
                )
            )
        charts.append(
            (
                figures.lorenz_chart(plan, zh=t.zh, use_cache=use_cache),
                t("步行时间洛伦兹曲线", "Lorenz curves of walking minutes"),
            )
        )
        for src, cap in charts:
            parts.append(
                f"<figure><img src='{src}' alt='{esc(cap)}'><figcaption>{esc(cap)}{t.est()}</figcaption></figure>"
            )
    parts += unit_sections(plan, t)
    parts += three_lists_section(plan, t)
    parts += population_check_section(plan, t)
    parts += availability_section(plan, t)
    parts.append(f"<h2>{t('数据来源与假设', 'Data sources and assumptions')}</h2>")
    parts += _sources(plan, t)
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, plan: Plan, *, lang: Lang = "zh") -> None:
    """Write :func:`render_report` to a UTF-8 file."""
    Path(path).write_text(render_report(plan, lang=lang), encoding="utf-8")
