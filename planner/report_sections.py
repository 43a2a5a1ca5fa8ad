"""Parts of the community check report: whole sentences in one language (:class:`Text`), number formats, and
the sections read from the lists and the later stages (units, proposed sites, the three lists, the population
check, crowding and opening hours). :mod:`planner.report` puts them together; nothing here computes access."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from . import columns as col
from .tiers import GROUP_NAMES

if TYPE_CHECKING:
    from .plan import Plan

Lang = Literal["zh", "en"]

__all__ = [
    "Text",
    "availability_section",
    "esc",
    "frame_table",
    "num",
    "pct",
    "population_check_section",
    "sites_section",
    "three_lists_section",
    "unit_sections",
]


def esc(value: Any) -> str:
    return html.escape(str(value))


def num(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:,.0f}"


def pct(value: float | None) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.1f}%"


class Text:
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
        zh, en = GROUP_NAMES.get(group, (group, group))
        return self(zh, en)


def unit_sections(plan: Plan, t: Text) -> list[str]:
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
        tiers = "，".join(f"{esc(tr.name_zh)} {pct(row[col.covered(tr.key, everyone)])}" for tr in plan.rules.tiers)
        gaps = "；".join(
            f"{esc(g['名称'])}（{esc(g['人群'])}{'，示意' if g['名称'] in illustrative else ''}）"
            f"{num(g['未覆盖人数'])} 人"
            for _, g in mine.head(4).iterrows()
        )
        unassessed = needs[(needs["单元"] == name) & needs["未覆盖人数"].isna()]["名称"].unique()
        reach = f"步行可达覆盖率（成人步速）：{tiers}{t.tag(plan.area.facilities_illustrative)}。" if tiers else ""
        text = (
            f"居民约 {num(row['population'])} 人，其中老年人约 {num(row['elderly'])} 人。"
            + reach
            + (f"未覆盖人数最多的是：{gaps}{t.est()}。" if gaps else f"各项均已覆盖{t.est()}。")
            + (f"未评估：{esc('、'.join(map(str, unassessed)))}。" if len(unassessed) else "")
        )
        parts.append(f"<section class=unit><h3>{esc(name)}</h3><p>{text}</p></section>")
    return parts


def sites_section(plan: Plan, t: Text) -> list[str]:
    parts = []
    for p in plan.proposals:
        s = p.summary()
        tier = plan.rules.tier(p.tier)
        prefix = tier.short_zh
        parts.append(
            "<p>"
            + t(
                f"新增 <b>{s['sites']}</b> 处{esc(tier.name_zh)}，可使 <b>{num(s['new_population'])}</b> 名居民"
                f"（其中老年人 <b>{num(s['new_elderly'])}</b> 人）新进入步行范围，"
                f"覆盖率由 {pct(s['covered_share_before'])} 升至 {pct(s['covered_share_after'])}。",
                f"Adding these <b>{s['sites']}</b> {esc(tier.name_en.lower())}s brings "
                f"<b>{num(s['new_population'])}</b> more "
                f"residents (<b>{num(s['new_elderly'])}</b> elderly) within walking reach; coverage "
                f"{pct(s['covered_share_before'])} → {pct(s['covered_share_after'])}.",
            )
            + t.tag(plan.area.facilities_illustrative)
            + "</p>"
        )
        parts.append(
            f"<table><tr><th>{t('序号', 'No.')}</th><th class=txt>{t('位置', 'Where')}</th>"
            f"<th>{t('新增覆盖居民', 'New residents')}</th><th>{t('新增覆盖老年人', 'New elderly')}</th>"
            f"<th>{t('累计覆盖率', 'Cumulative coverage')}</th></tr>"
        )
        for _, r in p.sites.head(25).iterrows():
            where = r["place"] if r.get("place") else f"{r.geometry.x:.5f}, {r.geometry.y:.5f}"
            parts.append(
                f"<tr><td>{esc(prefix)}{r['rank']}</td><td class=txt>{esc(where)}</td>"
                f"<td>{num(r['new_population'])}</td><td>{num(r['new_elderly'])}</td><td>{pct(r['covered_share'])}</td></tr>"
            )
        parts.append("</table>")
    return parts


def frame_table(frame: Any, columns: list[str], limit: int) -> list[str]:
    head = frame.head(limit)
    text = {c for c in columns if len(head) and head[c].map(lambda v: isinstance(v, str)).any()}  # left-aligned
    rows = ["<table><tr>" + "".join(f"<th{' class=txt' if c in text else ''}>{esc(c)}</th>" for c in columns) + "</tr>"]
    for _, r in head.iterrows():
        cells = []
        for c in columns:
            v = r[c]
            if c == "占比" or c.startswith("覆盖率"):
                cells.append(f"<td>{pct(v if isinstance(v, float) else np.nan)}</td>")
            elif isinstance(v, float):
                cells.append(f"<td>{num(v)}</td>")
            else:
                cells.append(f"<td{' class=txt' if c in text else ''}>{esc('' if v is None else v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    rows.append("</table>")
    return rows


def three_lists_section(plan: Plan, t: Text) -> list[str]:
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
    parts += frame_table(needs, ["单元", "类别", "名称", "人群", "步行目标（分钟）", "未覆盖人数", "占比", "说明"], 15)
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
    parts += frame_table(flagged, ["名称", "层级", "服务", "地址", "位置存疑", "示意数据"], 20)
    if len(lists.services):
        parts.append(
            f"<h3>{t('服务清单（建议新增站点，按优先顺序）', 'Services list (proposed sites, in order)')}</h3>"
        )
        parts += frame_table(
            lists.services, ["序号", "位置", "层级", "新增覆盖居民", "新增覆盖老年人", "覆盖率（累计）"], 30
        )
    return parts


def population_check_section(plan: Plan, t: Text) -> list[str]:
    check = plan.population_check
    if check is None:
        return []
    rho = "–" if not np.isfinite(check.rho) else f"{check.rho:.2f}"
    worst = t("、", ", ").join(
        t(
            f"{esc(d['unit'])}（估算排第 {d['estimate_rank']}，小区户数推算排第 {d['implied_rank']}）",
            f"{esc(d['unit'])} (estimate rank {d['estimate_rank']}, compound rank {d['implied_rank']})",
        )
        for d in check.disagree
    )
    text = t(
        f"将各单元的估算人口与研究区内 {check.compounds_used} 个有户数记录的小区推算人口（户数 × "
        f"{check.household_size:g} 人/户，{esc(check.household_size_source)}）比较："
        f"在 {check.units_compared} 个单元中，"
        f"两者排序的斯皮尔曼相关系数为 {rho}。差异最大的单元：{worst}。小区清单并不完整（缺少里弄和单位公房），"
        "因此只比较排序，不比较绝对人数；相关性弱说明人口估算在街道尺度上应谨慎使用。",
        f"The estimated residents per unit were compared with the people implied by the {check.compounds_used} "
        f"compounds with a household count inside the study area (households × {check.household_size:g} people, "
        f"{esc(check.household_size_source)}): over {check.units_compared} units the Spearman rank correlation is "
        f"{rho}. The units that disagree most: {worst}. The compound list is incomplete (lane housing and work-unit "
        "estates are missing), so only ranks are compared; a weak correlation means the estimate should be used "
        "with care at the level of a 街道.",
    )
    return [f"<h2 id=population>{t('人口估算检验', 'How good is the population estimate?')}</h2><p>{text}</p>"]


def availability_section(plan: Plan, t: Text) -> list[str]:
    """Crowding per tier (and service with a capacity) and coverage in each time window, or why not assessed."""
    av = plan.availability
    if av is None:
        return []
    parts = [f"<h2 id=availability>{t('设施负荷与开放时间', 'Crowding and opening hours')}</h2>"]
    summary = av.summary()
    names = {tr.key: (tr.name_zh, tr.name_en) for tr in plan.rules.tiers}
    names |= {r.key: (r.name_zh, r.name_en) for r in plan.rules.services}
    illustrative = plan.area.facilities_illustrative
    if av.crowding_note:
        parts.append(f"<p class=na>{t('拥挤度' + av.crowding_note, 'Crowding not assessed.')}</p>")
    items = []
    for key, c in summary["crowding"].items():
        zh, en = names.get(key, (key, key))
        tier_like = key in {tr.key for tr in plan.rules.tiers}
        items.append(
            t(
                f"{esc(zh)}：{c['facilities']} 处中有 <b>{c['crowded']}</b> 处拥挤（步行范围内人口超过可服务人数）。",
                f"{esc(en)}: <b>{c['crowded']}</b> of {c['facilities']} crowded (more people within reach than "
                "it can serve).",
            )
            + t.tag(illustrative if tier_like else bool(plan.service_basis(key)["illustrative"]))
        )
    if items:
        parts += ["<ul>", *(f"<li>{i}</li>" for i in items), "</ul>"]
        parts.append(
            "<p>"
            + t(
                "可服务人数取清单的容量，否则按面积折算，否则取 GB 50180-2018 该层级服务人口规模的上限；"
                "步行范围按层级的步行目标和成人步速计。各设施的数字见资源清单。",
                "Capacity is the list's own, else scaled from floor area, else the upper end of the tier's "
                "GB 50180-2018 population band; reach is the tier's walking target at adult pace. Per facility: "
                "the resources list.",
            )
            + "</p>"
        )
    if av.windows_note:
        parts.append(
            f"<p class=na>{t('分时段覆盖' + av.windows_note, 'Time windows not assessed: no hours listed.')}</p>"
        )
        return parts
    cov = av.coverage
    head = "".join(f"<th>{esc(t(*GROUP_NAMES[g]))}</th>" for g in ("population", "under60", "elderly"))
    rows = [f"<table><tr><th>{t('时段', 'Window')}</th><th>{t('层级/服务', 'Tier/service')}</th>{head}</tr>"]
    for w in av.windows:
        for key in dict.fromkeys(cov.loc[cov["window"] == w.key, "key"]):
            mine = cov[(cov["window"] == w.key) & (cov["key"] == key)].set_index("group")
            cells = "".join(
                f"<td>{pct(mine.at[g, 'covered_share'])}</td>" if g in mine.index else "<td class=na>–</td>"
                for g in ("population", "under60", "elderly")
            )
            zh, en = names.get(key, (key, key))
            when = f"{esc(w.name_zh if t.zh else w.name_en)} {w.start}–{w.end}"
            rows.append(f"<tr><td>{when}</td><td>{esc(t(zh, en))}</td>{cells}</tr>")
    rows.append("</table>")
    parts.append(
        "<p>"
        + t(
            f"各时段内在步行目标内能到达<b>开放中</b>设施的居民比例（{av.hours_listed} 处设施列有开放时间，"
            "其余按开放计）。",
            f"Share of residents who can walk to an <b>open</b> facility within the target in each window "
            f"({av.hours_listed} facilities list their hours; the others count as open).",
        )
        + t.est()
        + "</p>"
    )
    return parts + rows
