"""The report reads as one text: a note's own label is not said twice, and text columns are not right-aligned like
the figures beside them."""

from __future__ import annotations

import re

import pytest

from planner.report import _without_label


@pytest.mark.parametrize(
    ("note", "label", "expected"),
    [
        ("估算：来自网格人口。", "估算", "来自网格人口。"),
        ("估算:来自网格人口", "估算", "来自网格人口"),
        ("来自网格人口，估算：2020 年", "估算", "来自网格人口，估算：2020 年"),  # only a leading label
        ("Estimate: a 1 km grid", "Estimate", "a 1 km grid"),
        (None, "估算", ""),
    ],
)
def test_a_notes_own_label_is_dropped_only_at_its_start(note, label, expected):
    assert _without_label(note, label) == expected


def test_the_default_report_says_estimate_once_and_left_aligns_text_columns(default_report):
    # render_report of the default area planned without isochrones: rendered once per session (conftest)
    html = default_report
    assert "人口为<b>估算</b>：来自" in html and "估算：估算" not in html and "估算</b>：估算" not in html
    assert re.search(r"<td class=txt>仅评估清单完整范围内", html)  # the services table's note
    assert "td.txt,th.txt{text-align:left}" in html.replace("td:first-child,th:first-child,", "")
