"""Opening hours per time window: hand-worked cases, facilities without hours, and bad strings named by file, row and
field."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from planner.errors import InputError
from planner.hours import (
    DEFAULT_WINDOWS,
    NO_HOURS_NOTE,
    HoursError,
    TimeWindow,
    open_mask,
    parse_hours,
    window_states,
)


def states(*hours, **kwargs) -> pd.DataFrame:
    frame = pd.DataFrame({"opening_hours": list(hours), "source_row": range(2, len(hours) + 2)})
    return window_states(frame, **kwargs)


def row(hours: str, **kwargs) -> dict[str, str]:
    out = states(hours, **kwargs)
    return {w.key: out[f"open_{w.key}"].iloc[0] for w in DEFAULT_WINDOWS}


def test_the_default_windows():
    day, evening, weekend = DEFAULT_WINDOWS
    assert (day.days, day.start, day.end) == ((0, 1, 2, 3, 4), "09:00", "17:00")
    assert (evening.days, evening.start, evening.end) == ((0, 1, 2, 3, 4), "18:00", "21:00")
    assert weekend.days == (5, 6) and evening.minutes == 5 * 180


def test_office_hours_serve_the_weekday_day_only():
    assert row("Mo-Fr 08:00-17:00") == {"weekday_day": "open", "weekday_evening": "closed", "weekend_day": "closed"}


@pytest.mark.parametrize("hours", ["Mo-Su 07:00-21:00", "24/7", "Mo-Su 00:00-24:00"])
def test_open_in_every_window(hours):
    assert set(row(hours).values()) == {"open"}


def test_shares_by_hand():
    out = states("Mo-Fr 09:00-12:00,14:00-17:00", "Sa 09:00-17:00", "Mo-Fr 08:30-18:30", "Mo,We 18:00-21:00")
    np.testing.assert_allclose(out["open_share_weekday_day"], [6 / 8, 0, 1, 0])
    np.testing.assert_allclose(out["open_share_weekend_day"], [0, 8 / 16, 0, 0])
    np.testing.assert_allclose(out["open_share_weekday_evening"], [0, 0, 0.5 / 3, 2 / 5])
    # the rule: open for at least half the window's minutes
    assert out["open_weekday_day"].tolist() == ["open", "closed", "open", "closed"]
    assert out["open_weekend_day"].tolist() == ["closed", "open", "closed", "closed"]
    assert out["open_weekday_evening"].tolist() == ["closed", "closed", "closed", "closed"]
    strict = states("Mo-Fr 09:00-12:00,14:00-17:00", "Sa 09:00-17:00", min_share=1.0)
    assert strict["open_weekday_day"].tolist() == ["closed", "closed"]


def test_unknown_and_off():
    assert row("Mo-Fr 09:00-21:00 unknown") == {
        "weekday_day": "unknown",
        "weekday_evening": "unknown",
        "weekend_day": "closed",
    }
    assert set(row("off").values()) == {"closed"}


def test_no_hours_count_as_open_with_a_note(caplog):
    frame = pd.DataFrame({"opening_hours": ["", None, np.nan, "Mo-Fr 08:00-17:00"], "source_row": [2, 3, 4, 5]})
    with caplog.at_level(logging.INFO, logger="planner.hours"):
        out = window_states(frame)
    assert out["open_weekday_evening"].tolist() == ["open", "open", "open", "closed"]
    assert out["hours_note"].tolist() == [NO_HOURS_NOTE] * 3 + [""]
    assert out["open_share_weekday_evening"].isna().tolist() == [True, True, True, False]
    assert "3 of 4 facilities list no opening hours" in caplog.text
    # a list without the column at all: every facility open, every one noted
    bare = window_states(pd.DataFrame({"name": ["a", "b"]}))
    assert (bare["open_weekend_day"] == "open").all() and (bare["hours_note"] == NO_HOURS_NOTE).all()


def test_an_invalid_string_names_file_row_and_field():
    frame = pd.DataFrame(
        {"opening_hours": ["24/7", "早上八点到晚上", "周一至周五 9:00-17:00", "Mo-Fr 25:00-26:00"]},
        index=[10, 11, 12, 13],
    )
    frame["source_row"] = [2, 3, 4, 5]
    frame = frame.rename(columns={"opening_hours": "开放时间"})  # a list keeps its own header
    with pytest.raises(InputError) as err:
        window_states(frame, path="data/stations.csv")
    exc = err.value
    assert isinstance(exc, HoursError) and isinstance(exc, ValueError)
    assert (exc.path, exc.row, exc.field) == ("data/stations.csv", 3, "开放时间")
    assert [p.row for p in exc.problems] == [3, 5]
    text = str(exc)
    assert text.startswith("data/stations.csv: 2 opening-hours value(s)")
    assert "row 3, 开放时间: '早上八点到晚上': not understood from character 1" in text
    assert "row 5, 开放时间: 'Mo-Fr 25:00-26:00': not understood from character 7" in text


def test_hours_under_any_alias_header_of_merged_lists():
    frame = pd.DataFrame(
        {
            "开放时间": ["Mo-Fr 08:00-17:00", None, ""],
            "服务时间": [None, "Mo-Su 07:00-21:00", "bogus"],
            "source_row": [2, 3, 4],
        }
    )
    with pytest.raises(HoursError) as err:
        window_states(frame)
    assert (err.value.row, err.value.field) == (4, "服务时间")
    out = window_states(frame.iloc[:2])
    assert out["opening_hours"].tolist() == ["Mo-Fr 08:00-17:00", "Mo-Su 07:00-21:00"]
    assert out["open_weekday_evening"].tolist() == ["closed", "open"]


def test_rows_without_source_row_count_from_the_header():
    with pytest.raises(HoursError) as err:
        window_states(pd.DataFrame({"opening_hours": ["24/7", "bogus hours"]}))
    assert err.value.row == 3 and err.value.field == "opening_hours"


def test_parse_hours_strips_and_reports():
    assert parse_hours("  24/7 ").is_open()
    with pytest.raises(ValueError, match="not understood"):
        parse_hours("9-5")


def test_custom_windows_and_open_mask():
    lunch = TimeWindow("lunch", (0, 1, 2, 3, 4, 5, 6), "11:00", "13:00", "午间", "Lunch")
    out = states("Mo-Fr 10:00-14:00", "", "Mo-Su 11:30-13:00", windows=[lunch])
    assert out["open_lunch"].tolist() == ["open", "open", "open"]  # 5/7 of the days; no hours; 3/4 of each day
    np.testing.assert_allclose(out["open_share_lunch"], [5 / 7, np.nan, 0.75])
    mixed = states("Mo-Fr 09:00-21:00 unknown", "Mo-Fr 08:00-17:00", "")
    assert open_mask(mixed, "weekday_day").tolist() == [False, True, True]
    assert open_mask(mixed, "weekday_day", unknown_as_open=True).tolist() == [True, True, True]
    with pytest.raises(KeyError, match="known windows: weekday_day, weekday_evening, weekend_day"):
        open_mask(mixed, "night")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad key", (0,), "09:00", "17:00"), "plain identifier"),
        (("w", (7,), "09:00", "17:00"), "days must be"),
        (("w", (0,), "21:00", "18:00"), "start before it ends"),
        (("w", (0,), "9h", "18:00"), "not a time"),
    ],
)
def test_bad_windows(args, message):
    with pytest.raises(ValueError, match=message):
        TimeWindow(*args)


@pytest.mark.parametrize(
    ("text", "osm"),
    [
        ("周一至周五 9:00-17:00", "Mo-Fr 09:00-17:00"),
        ("每天 8:00—20:00", "Mo-Su 08:00-20:00"),
        ("周六、周日 9:00-12:00", "Sa,Su 09:00-12:00"),
        ("全天", "24/7"),
        ("周一至周五 8:30-11:30，13:30-17:00", "Mo-Fr 08:30-11:30,13:30-17:00"),
        ("星期一到星期六 9:00~21:00", "Mo-Sa 09:00-21:00"),
        ("工作日 9:00-17:00；周末 10:00-16:00", "Mo-Fr 09:00-17:00; Sa,Su 10:00-16:00"),
        ("Mo-Fr 08:00-12:00,13:00-17:00; Sa 09:00-12:00", "Mo-Fr 08:00-12:00,13:00-17:00; Sa 09:00-12:00"),
    ],
)
def test_chinese_hours_as_lists_write_them(text, osm):
    from planner.hours import from_chinese

    assert from_chinese(text) == osm
    parse_hours(text)  # and the maintained parser reads them


def test_chinese_weekday_hours_are_closed_in_the_evening():
    states = window_states(pd.DataFrame({"开放时间": ["周一至周五 9:00-17:00", "每天 8:00-21:00"]}))
    assert states["open_weekday_day"].tolist() == ["open", "open"]
    assert states["open_weekday_evening"].tolist() == ["closed", "open"]
    assert states["open_weekend_day"].tolist() == ["closed", "open"]
