"""The community check report (社区体检报告): one self-contained HTML file, in Chinese or in English.

A builder at the edge of the planner: it reads a finished :class:`~planner.plan.Plan` and writes HTML; it
computes no access. Every sentence is in one language (``lang="zh"``, the default, or ``"en"``). Figures
measured on real lists are kept apart from figures measured on illustrative data, and a measure that was not
assessed says 未评估 / not assessed with its reason — never 0 % or 100 %. Charts and per-tier maps are PNG
images embedded as data URIs, so the file opens offline.
"""

from __future__ import annotations

import html
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from . import columns as col
from . import figures
from .coverage import NATIONAL_TARGET_SHARE, SHANGHAI_2035_TARGET_SHARE

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
text-align:right}th{background:#edf2f7}td:first-child,th:first-child{text-align:left}figure{background:#fff;
margin:16px 0;padding:8px}figure img{max-width:100%}figcaption{font-size:13px;color:#52606d}
@media print{body{background:#fff}main{max-width:none;padding:0}h2{break-after:avoid}table,figure{break-inside:avoid}}
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _n(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


class _Text:
    """Whole sentences in one language."""

    def __init__(self, lang: Lang, *, estimated: bool = False):
        self.zh = lang == "zh"
        self.estimated = estimated  # no street network: every walking figure is an estimate (估算)

    def __call__(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    def tag(self, illustrative: bool) -> str:
        if illustrative:
            out = f"<span class='tag ill'>{self('示意数据', 'illustrative')}</span>"
        else:
            out = f"<span class='tag real'>{self('真实清单', 'real list')}</span>"
        return out + self.est()

    def est(self) -> str:
        """The 估算 tag of every walking figure when there is no street network ("" otherwise)."""
        return f"<span class='tag ill'>{self('估算', 'estimate')}</span>" if self.estimated else ""

    def tier(self, tier: Any) -> str:
        return str(tier.name_zh if self.zh else tier.name_en)

    def prof(self, prof: Any) -> str:
        return str(prof.name_zh if self.zh else prof.name_en) or str(prof.key)

    def group(self, group: str) -> str:
        names = {"population": ("全体居民", "all residents"), "elderly": ("老年人", "the elderly")}
        zh, en = names.get(group, (group, group))
        return self(zh, en)


def _notices(plan: Plan, t: _Text) -> list[str]:
    area = plan.area
    out = []
    if plan.estimate is not None:
        how = plan.estimate.summary()
        f = how["detour_factor"]
        out.append(
            t(
                f"<b>估算</b>：本研究区没有道路网数据，步行距离按直线距离×绕行系数 {f:g} 估算"
                f"（{_e(how['source'])}）。所有步行时间、覆盖率和人数都是估算值，只能用于初步判断。",
                f"<b>Estimate</b>: this study area has no street network; walking distance is the straight line "
                f"x a detour factor of {f:g} ({_e(how['source_en'])}). Every walking time, share and count is an "
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
        out.append(t(f"人口为<b>估算</b>：{_e(pop.note)}", f"The population is an <b>estimate</b>: {_e(pop.note_en)}"))
    if pop is not None and pop.elderly_column is None:
        out.append(
            t(
                f"老年人数按 60 岁及以上占比 {_pct(pop.elderly_share)} 估算"
                f"（{_e(pop.elderly_share_source or '来源未说明')}）。",
                f"Elderly counts assume a {_pct(pop.elderly_share)} share aged 60+ "
                f"({_e(pop.elderly_share_source_en or 'source not stated in English')}).",
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


def _findings(plan: Plan, head: dict, t: _Text) -> list[str]:
    out = [
        t(
            f"研究区内约 <span class=big>{_n(head['population'])}</span> 名居民，其中 60 岁及以上老年人约 "
            f"<span class=big>{_n(head['elderly'])}</span> 人。",
            f"About <span class=big>{_n(head['population'])}</span> residents live in the study area, "
            f"<span class=big>{_n(head['elderly'])}</span> of them aged 60 or over.",
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
                f"（仅在清单完整的范围内评估，覆盖 {_pct(svc['assessed_share'])} 的居民；其余为未评估）",
                f" (assessed only where its list is complete: {_pct(svc['assessed_share'])} of residents; "
                "elsewhere not assessed)",
            )
        for prof_key, entry in svc["profiles"].items():
            prof = plan.rules.profile(prof_key)
            out.append(
                t(
                    f"{t.group(prof.group)}中有 <b>{_pct(entry['without_share'])}</b> 按{t.prof(prof)}步速 "
                    f"{rule.minutes:g} 分钟内走不到{_e(rule.name_zh)}服务{where}。{t.tag(False)}",
                    f"<b>{_pct(entry['without_share'])}</b> of {t.group(prof.group)} cannot walk to "
                    f"{_e(rule.name_en.lower())} within {rule.minutes:g} minutes at {t.prof(prof)} speed{where}."
                    f"{t.tag(False)}",
                )
            )
    everyone = plan.rules.everyone
    for tier in plan.rules.tiers:
        ref = head["tiers"][tier.key][everyone.key]
        out.append(
            t(
                f"<b>{_n(ref['people_without'])}</b> 名居民（其中老年人 <b>{_n(ref['elderly_without'])}</b> 人）"
                f"步行 {tier.minutes:g} 分钟内到不了{_e(tier.name_zh)}。{t.tag(plan.area.facilities_illustrative)}",
                f"<b>{_n(ref['people_without'])}</b> residents (<b>{_n(ref['elderly_without'])}</b> elderly) "
                f"cannot reach a {_e(tier.name_en.lower())} within {tier.minutes:g} minutes on foot."
                f"{t.tag(plan.area.facilities_illustrative)}",
            )
        )
    share = head["within_15min_all_tiers_share"]
    if share is None:  # no tier inventory: nothing to say about the tiers
        return out
    out.append(
        t(
            f"{_pct(share)} 的居民 15 分钟内可步行到达全部层级（国家目标 {_pct(NATIONAL_TARGET_SHARE)}，"
            f"上海 2035 目标 {_pct(SHANGHAI_2035_TARGET_SHARE)}）。{t.tag(plan.area.facilities_illustrative)}",
            f"{_pct(share)} of residents reach every tier within 15 minutes (national target "
            f"{_pct(NATIONAL_TARGET_SHARE)}, Shanghai 2035 target {_pct(SHANGHAI_2035_TARGET_SHARE)})."
            f"{t.tag(plan.area.facilities_illustrative)}",
        )
    )
    return out


def _services_table(plan: Plan, head: dict, t: _Text) -> list[str]:
    rows = [
        (
            f"<table><tr><th>{t('服务', 'Service')}</th><th>{t('依据', 'Basis')}</th><th>{t('目标', 'Target')}</th>"
            f"<th>{t('全体居民未覆盖', 'Residents without')}</th><th>{t('老年人未覆盖', 'Elderly without')}</th>"
            f"<th>{t('说明', 'Note')}</th></tr>"
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
                f"<td>{_pct(svc[name])}</td>"
                if group in svc["groups"]
                else f"<td class=na>{t('不适用', 'not for this group')}</td>"
                for name, group in (("people_without_share", "population"), ("elderly_without_share", "elderly"))
            )
            note = ""
            if "assessed_share" in svc:
                note = t(
                    f"仅评估清单完整范围内的 {_pct(svc['assessed_share'])} 居民，其余未评估",
                    f"assessed for the {_pct(svc['assessed_share'])} of residents where the list is complete; "
                    "elsewhere not assessed",
                )
        name = rule.name_zh if t.zh else rule.name_en
        rows.append(
            f"<tr><td>{_e(name)}</td><td>{t.tag(bool(basis.get('illustrative'))) if svc['assessed'] else '–'}</td>"
            f"<td>{rule.minutes:g} {t('分钟', 'min')}</td>{cells}<td>{_e(note)}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _tiers_table(plan: Plan, head: dict, t: _Text) -> list[str]:
    if not plan.rules.tiers:
        return [f"<p class=na>{t('未评估：没有层级设施清单。', 'Not assessed: no tier inventory.')}</p>"]
    rows = [
        (
            f"<table><tr><th>{t('层级', 'Tier')}</th><th>{t('步速', 'Speed')}</th><th>{t('人群', 'Group')}</th>"
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
                f"<tr><td>{_e(t.tier(tier))}{t('（', ' (')}{tier.minutes:g} {t('分钟', 'min')}{t('）', ')')}</td>"
                f"<td>{_e(t.prof(prof))} {prof.speed_mps:.2f} m/s</td><td>{_e(t.group(prof.group))}</td>"
                f"<td>{_pct(h['group_covered_share'])}</td><td>{_n(h['people_without'])}</td>"
                f"<td>{_n(h['elderly_without'])}</td><td>{median:.1f}</td><td>{per_tier[tier.key]}</td></tr>"
            )
    rows.append("</table>")
    return rows


def _units_table(plan: Plan, t: _Text) -> list[str]:
    units = plan.units
    if units is None:
        return []
    if not plan.rules.tiers:
        return [f"<p class=na>{t('层级覆盖未评估；各单元的服务缺口见下文各单元情况。', 'Tiers not assessed.')}</p>"]
    everyone = plan.rules.everyone.key
    rows = [
        f"<table><tr><th>{t('单元', 'Unit')}</th><th>{t('居民', 'Residents')}</th><th>{t('老年人', 'Elderly')}</th>"
        + "".join(f"<th>{_e(t.tier(tr))}{t('覆盖', ' covered')}</th>" for tr in plan.rules.tiers)
        + f"<th>{t('15 分钟全部可达', 'All tiers in 15 min')}</th></tr>"
    ]
    for _, row in units[units["population"] > 0].sort_values("within_15min_share").iterrows():
        rows.append(
            f"<tr><td>{_e(row['unit'])}</td><td>{_n(row['population'])}</td><td>{_n(row['elderly'])}</td>"
            + "".join(f"<td>{_pct(row[col.covered(tr.key, everyone)])}</td>" for tr in plan.rules.tiers)
            + f"<td>{_pct(row['within_15min_share'])}</td></tr>"
        )
    rows.append("</table>")
    return rows


def _unit_sections(plan: Plan, t: _Text) -> list[str]:
    """One section per unit (街道/居委), worst first: its people, coverage and largest gaps (from 需求清单)."""
    if plan.units is None or plan.lists is None or not t.zh:
        return []
    everyone = plan.rules.everyone.key
    needs = plan.lists.needs
    illustrative = {tr.name_zh for tr in plan.rules.tiers if plan.area.facilities_illustrative}
    illustrative |= {r.name_zh for r in plan.rules.services if plan.service_basis(r.key)["illustrative"]}
    parts = ["<h2 id=unit-sections>各单元情况</h2>"]
    for _, row in plan.units[plan.units["population"] > 0].sort_values("within_15min_share").iterrows():
        name = str(row["unit"])
        mine = needs[(needs["单元"] == name) & needs["未覆盖人数"].notna() & (needs["未覆盖人数"] > 0)]
        tiers = "，".join(f"{_e(tr.name_zh)} {_pct(row[col.covered(tr.key, everyone)])}" for tr in plan.rules.tiers)
        gaps = "；".join(
            f"{_e(g['名称'])}（{_e(g['人群'])}{'，示意' if g['名称'] in illustrative else ''}）{_n(g['未覆盖人数'])} 人"
            for _, g in mine.head(4).iterrows()
        )
        unassessed = needs[(needs["单元"] == name) & needs["未覆盖人数"].isna()]["名称"].unique()
        reach = f"步行可达覆盖率（成人步速）：{tiers}{t.tag(plan.area.facilities_illustrative)}。" if tiers else ""
        text = (
            f"居民约 {_n(row['population'])} 人，其中老年人约 {_n(row['elderly'])} 人。"
            + reach
            + (f"未覆盖人数最多的是：{gaps}{t.est()}。" if gaps else f"各项均已覆盖{t.est()}。")
            + (f"未评估：{_e('、'.join(map(str, unassessed)))}。" if len(unassessed) else "")
        )
        parts.append(f"<section class=unit><h3>{_e(name)}</h3><p>{text}</p></section>")
    return parts


def _sites(plan: Plan, t: _Text) -> list[str]:
    parts = []
    for p in plan.proposals:
        s = p.summary()
        tier = plan.rules.tier(p.tier)
        prefix = tier.short_zh
        parts.append(
            "<p>"
            + t(
                f"新增 <b>{s['sites']}</b> 处{_e(tier.name_zh)}，可使 <b>{_n(s['new_population'])}</b> 名居民"
                f"（其中老年人 <b>{_n(s['new_elderly'])}</b> 人）新进入步行范围，"
                f"覆盖率由 {_pct(s['covered_share_before'])} 升至 {_pct(s['covered_share_after'])}。",
                f"Adding these <b>{s['sites']}</b> {_e(tier.name_en.lower())}s brings "
                f"<b>{_n(s['new_population'])}</b> more "
                f"residents (<b>{_n(s['new_elderly'])}</b> elderly) within walking reach; coverage "
                f"{_pct(s['covered_share_before'])} → {_pct(s['covered_share_after'])}.",
            )
            + t.tag(plan.area.facilities_illustrative)
            + "</p>"
        )
        parts.append(
            f"<table><tr><th>{t('序号', 'No.')}</th><th>{t('位置', 'Where')}</th>"
            f"<th>{t('新增覆盖居民', 'New residents')}</th><th>{t('新增覆盖老年人', 'New elderly')}</th>"
            f"<th>{t('累计覆盖率', 'Cumulative coverage')}</th></tr>"
        )
        for _, r in p.sites.head(25).iterrows():
            where = r["place"] if r.get("place") else f"{r.geometry.x:.5f}, {r.geometry.y:.5f}"
            parts.append(
                f"<tr><td>{_e(prefix)}{r['rank']}</td><td>{_e(where)}</td><td>{_n(r['new_population'])}</td>"
                f"<td>{_n(r['new_elderly'])}</td><td>{_pct(r['covered_share'])}</td></tr>"
            )
        parts.append("</table>")
    return parts


def _frame_table(frame: Any, columns: list[str], limit: int) -> list[str]:
    rows = ["<table><tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>"]
    for _, r in frame.head(limit).iterrows():
        cells = []
        for c in columns:
            v = r[c]
            if c == "占比" or c.startswith("覆盖率"):
                cells.append(f"<td>{_pct(v if isinstance(v, float) else np.nan)}</td>")
            elif isinstance(v, float):
                cells.append(f"<td>{_n(v)}</td>")
            else:
                cells.append(f"<td>{_e('' if v is None else v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    return rows


def _three_lists(plan: Plan, t: _Text) -> list[str]:
    lists = plan.lists
    if lists is None:
        return []
    parts = [
        f"<h2 id=lists>{t('三清单', 'The three lists')}</h2><p>"
        + t(
            "需求清单、资源清单和服务清单的全文见同一文件夹中的 <a href='lists.xlsx'>lists.xlsx</a>"
            "（每张清单一个工作表），此处列出每张清单的前若干行。",
            "The full needs, resources and services lists are in <a href='lists.xlsx'>lists.xlsx</a> beside this "
            "report (one sheet each, in Chinese as the programme asks); their first rows follow.",
        )
        + "</p>"
    ]
    if not t.zh:  # the lists are the programme's Chinese tables: an English report links them
        return parts
    needs = lists.needs[lists.needs["未覆盖人数"].notna()]
    parts.append(f"<h3>{t('需求清单（未覆盖人数最多的 15 项）', 'Needs list (the 15 largest gaps)')}</h3>")
    parts += _frame_table(needs, ["单元", "类别", "名称", "人群", "步行目标（分钟）", "未覆盖人数", "占比", "说明"], 15)
    res = lists.resources
    flagged = res[res["位置存疑"].fillna("").astype(str) != ""]
    parts.append(
        f"<h3>{t('资源清单', 'Resources list')}</h3><p>"
        + t(
            f"共 {len(res)} 处设施，其中 {len(flagged)} 处位置存疑（保留并标注）。以下为位置存疑的设施。",
            f"{len(res)} facilities, {len(flagged)} of them with doubtful positions (kept and marked); those follow.",
        )
        + "</p>"
    )
    parts += _frame_table(flagged, ["名称", "层级", "服务", "地址", "位置存疑", "示意数据"], 20)
    if len(lists.services):
        parts.append(
            f"<h3>{t('服务清单（建议新增站点，按优先顺序）', 'Services list (proposed sites, in order)')}</h3>"
        )
        parts += _frame_table(
            lists.services, ["序号", "位置", "层级", "新增覆盖居民", "新增覆盖老年人", "覆盖率（累计）"], 30
        )
    return parts


def _population_check(plan: Plan, t: _Text) -> list[str]:
    check = plan.population_check
    if check is None:
        return []
    rho = "–" if not np.isfinite(check.rho) else f"{check.rho:.2f}"
    worst = t("、", ", ").join(
        t(
            f"{_e(d['unit'])}（估算排第 {d['estimate_rank']}，小区户数推算排第 {d['implied_rank']}）",
            f"{_e(d['unit'])} (estimate rank {d['estimate_rank']}, compound rank {d['implied_rank']})",
        )
        for d in check.disagree
    )
    text = t(
        f"将各单元的估算人口与研究区内 {check.compounds_used} 个有户数记录的小区推算人口（户数 × "
        f"{check.household_size:g} 人/户，{_e(check.household_size_source)}）比较：在 {check.units_compared} 个单元中，"
        f"两者排序的斯皮尔曼相关系数为 {rho}。差异最大的单元：{worst}。小区清单并不完整（缺少里弄和单位公房），"
        "因此只比较排序，不比较绝对人数；相关性弱说明人口估算在街道尺度上应谨慎使用。",
        f"The estimated residents per unit were compared with the people implied by the {check.compounds_used} "
        f"compounds with a household count inside the study area (households × {check.household_size:g} people, "
        f"{_e(check.household_size_source)}): over {check.units_compared} units the Spearman rank correlation is "
        f"{rho}. The units that disagree most: {worst}. The compound list is incomplete (lane housing and work-unit "
        "estates are missing), so only ranks are compared; a weak correlation means the estimate should be used "
        "with care at the level of a 街道.",
    )
    return [f"<h2 id=population>{t('人口估算检验', 'How good is the population estimate?')}</h2><p>{text}</p>"]


def _sources(plan: Plan, t: _Text) -> list[str]:
    s = plan.summary()
    net = s["network"]
    if net.get("mode") == "none":
        how = net.get("estimate") or {}
        items = [
            t(
                f"街道网络：无。步行距离按直线距离×绕行系数 {how.get('detour_factor', '–')} 估算"
                f"（{_e(how.get('source', ''))}）。",
                f"Street network: none. Walking distance is the straight line x a detour factor of "
                f"{how.get('detour_factor', '–')} ({_e(how.get('source_en', ''))}).",
            )
            + t.est()
        ]
    else:
        items = [
            t(
                f"街道网络：{_e(net['source'])}，OpenStreetMap 数据截至 {_e(net['osm_timestamp'])}，© OpenStreetMap "
                f"贡献者（ODbL 1.0）；{net['nodes']:,} 个节点，可步行道路 {net['km']:,} 公里。",
                f"Street network: {_e(net['source'])}, OpenStreetMap data as of {_e(net['osm_timestamp'])}, © "
                f"OpenStreetMap contributors (ODbL 1.0); {net['nodes']:,} nodes, {net['km']:,} km of walkable street.",
            )
        ]
    for name, info in s["facilities"].get("lists", {}).items():
        flagged = info.get("position_flagged", 0)
        items.append(
            t(
                f"设施清单 {_e(info['file'])}（{_e(name)}）：研究区内 {info['rows_in_area']} 处，研究区街道范围外 "
                f"{info['outside_area']} 处未计入，位置存疑 {flagged} 处。{_e(info.get('note', ''))}",
                f"Facility list {_e(info['file'])} ({_e(name)}): {info['rows_in_area']} in the study area, "
                f"{info['outside_area']} outside its streets left out, {flagged} with doubtful positions. "
                f"{_e(info.get('note_en', ''))}",
            )
            + t.tag(bool(info.get("illustrative")))
        )
    for info in s.get("context", {}).values():
        licence = info["licence"] if info["licence"] != "none stated" else t("未说明", "none stated")
        items.append(
            t(
                f"背景图层{_e(info['name_zh'])}：{info['points']} 处，来源 {_e(info['source'])}，许可：{_e(licence)}。",
                f"Context layer {_e(info['name_en'])}: {info['points']} points, from {_e(info['source'])}, "
                f"licence: {_e(licence)}.",
            )
        )
    head = s["residents"] or {}
    items.append(
        t(
            f"人口：{_e(Path(str(head.get('source'))).name)}；来源中 {_n(head.get('population_in_source'))} 人，"
            f"其中 {_n(head.get('population'))} 人位于研究区内。",
            f"Population: {_e(Path(str(head.get('source'))).name)}; {_n(head.get('population'))} of "
            f"{_n(head.get('population_in_source'))} people in the source live inside the study area.",
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


def render_report(plan: Plan, *, lang: Lang = "zh", map_href: str | None = "map.html") -> str:
    """The report as an HTML string.

    Parameters
    ----------
    plan : Plan
        A plan with residents; its units, equity table, proposals and context are shown.
    lang : {"zh", "en"}, default "zh"
        The language of every sentence.
    map_href : str or None, default "map.html"
        Link to the interactive map beside the report (None: no link).
    """
    if plan.residents is None or plan.units is None:
        msg = "the report needs residents: the study area has no [population] source"
        raise ValueError(msg)
    t = _Text(lang, estimated=plan.estimated)
    head = plan.summary()["residents"]
    area = plan.area
    title = area.title_zh if t.zh else area.title_en
    parts = [
        f"<!doctype html><html lang={'zh-CN' if t.zh else 'en'}><head><meta charset=utf-8>"
        f"<title>{t('社区体检报告', 'Community check report')} — {_e(title)}</title><style>{_CSS}</style></head>"
        f"<body><main><h1>{t('社区体检报告', 'Community check report')} · {_e(title)}</h1>"
        f"<div class=sub>{t('十五分钟社区生活圈', '15-minute community life circle')} · {date.today().isoformat()}"
        + (f" · <a href='{_e(map_href)}'>{t('打开交互地图', 'open the interactive map')}</a>" if map_href else "")
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
        parts.append(
            f"<figure><img src='{figures.coverage_map(plan, tier, zh=t.zh)}' alt='{_e(t.tier(tier))}'>"
            f"<figcaption>{_e(t.tier(tier))}{t.tag(area.facilities_illustrative)}</figcaption></figure>"
        )
    parts.append(f"<h2 id=units>{t('分单元统计', 'By unit')}</h2>")
    parts += _units_table(plan, t)
    if plan.proposals:
        parts.append(f"<h2 id=sites>{t('建议新增站点', 'Where to build next')}</h2>")
        parts += _sites(plan, t)
    if plan.rules.tiers:  # the charts are of the tiers' minutes
        parts.append(f"<h2>{t('图表', 'Charts')}</h2>")
        for src, cap in (
            (figures.minutes_chart(plan, zh=t.zh), t("步行时间分布", "Distribution of walking minutes")),
            (figures.units_chart(plan, zh=t.zh), t("各单元 15 分钟全部可达比例", "Share within 15 minutes, by unit")),
            (figures.lorenz_chart(plan, zh=t.zh), t("步行时间洛伦兹曲线", "Lorenz curves of walking minutes")),
        ):
            parts.append(
                f"<figure><img src='{src}' alt='{_e(cap)}'><figcaption>{_e(cap)}{t.est()}</figcaption></figure>"
            )
    parts += _unit_sections(plan, t)
    parts += _three_lists(plan, t)
    parts += _population_check(plan, t)
    parts.append(f"<h2>{t('数据来源与假设', 'Data sources and assumptions')}</h2>")
    parts += _sources(plan, t)
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, plan: Plan, *, lang: Lang = "zh") -> None:
    """Write :func:`render_report` to a UTF-8 file."""
    Path(path).write_text(render_report(plan, lang=lang), encoding="utf-8")
