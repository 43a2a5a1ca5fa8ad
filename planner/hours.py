"""Opening hours: is a facility open in a named time window (weekday daytime, weekday evening, weekend daytime)?

Working residents cannot use a station that closes when they finish work ("我上班你也上班，我下班你也下班"), so
coverage is also measured per time window on the facilities open in it. Hours are read from a list's
开放时间/``opening_hours`` column in OpenStreetMap's ``opening_hours`` syntax (``Mo-Fr 08:30-17:00; Sa 09:00-12:00``)
with ``opening-hours-py``, a maintained parser (Rust, with wheels); nothing here parses the syntax itself.

The rule for a window: the expression is evaluated over one reference week (:data:`REFERENCE_MONDAY`, a week with
no public holiday in China; without a country the parser applies no ``PH`` rule, and ``sunrise``/``sunset`` take
its fixed 07:00/19:00). The minutes the facility is open inside the window, summed over the window's days, divided
by the window's minutes, are its **open share**. The window is

- ``open`` when the open share is at least ``min_share`` (default :data:`DEFAULT_MIN_SHARE`, one half: a station open
  09:00-12:00 and 14:00-17:00 serves weekday daytime, one open on Saturdays only serves the weekend, one closing at
  18:30 does not serve the 18:00-21:00 evening);
- ``closed`` when even counting the minutes the expression marks ``unknown`` as open, the share stays below it;
- ``unknown`` otherwise.

A facility with no hours listed counts as ``open`` in every window, with a note saying so (``hours_note``), and the
count is logged: never silently. A string the parser rejects is an :class:`~planner.errors.InputError` naming the
file, the row and the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from opening_hours import OpeningHours, State

from .errors import InputError, Problem
from .tables import find_column

__all__ = [
    "DEFAULT_MIN_SHARE",
    "DEFAULT_WINDOWS",
    "REFERENCE_MONDAY",
    "HoursError",
    "TimeWindow",
    "open_mask",
    "parse_hours",
    "window_states",
]

log = logging.getLogger(__name__)

#: The Monday of the reference week the hours are evaluated on (10-16 March 2025: no public holiday in China).
REFERENCE_MONDAY = date(2025, 3, 10)

#: Share of a window's minutes a facility must be open for the window to count as open.
DEFAULT_MIN_SHARE = 0.5

NO_HOURS_NOTE = "no opening hours listed: counted as open in every window"
NO_HOURS_NOTE_ZH = "未列开放时间：各时段均按开放计"

_DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_KEY = "opening_hours"  # the planner column (tables.COLUMN_ALIASES) the hours are read from


@dataclass(frozen=True)
class TimeWindow:
    """A named time of the week in which residents look for a service.

    Parameters
    ----------
    key : str
        Identifier used in column names (``weekday_evening``).
    days : tuple of int
        Days of the week, 0 = Monday .. 6 = Sunday.
    start, end : str
        ``HH:MM``, the same day; ``end`` after ``start`` (``24:00`` allowed).
    name_zh, name_en : str
        Display names.
    """

    key: str
    days: tuple[int, ...]
    start: str
    end: str
    name_zh: str = ""
    name_en: str = ""

    def __post_init__(self) -> None:
        if not self.key.isidentifier():
            msg = f"time window key {self.key!r} must be a plain identifier (letters, digits, _)"
            raise ValueError(msg)
        if not self.days or any(d not in range(7) for d in self.days):
            msg = f"time window {self.key!r}: days must be 0 (Monday) .. 6 (Sunday), got {self.days}"
            raise ValueError(msg)
        if not 0 <= self.start_min < self.end_min <= 24 * 60:
            msg = f"time window {self.key!r}: {self.start}-{self.end} must start before it ends, within one day"
            raise ValueError(msg)

    @property
    def start_min(self) -> int:
        """Minutes after midnight the window starts."""
        return _minutes(self.start, self.key)

    @property
    def end_min(self) -> int:
        """Minutes after midnight the window ends."""
        return _minutes(self.end, self.key)

    @property
    def minutes(self) -> int:
        """Length of the window over all its days."""
        return (self.end_min - self.start_min) * len(self.days)

    def __str__(self) -> str:
        days = ",".join(_DAY_NAMES[d] for d in self.days)
        return f"{self.key} ({days} {self.start}-{self.end})"


def _minutes(text: str, key: str) -> int:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match[2]) >= 60:
        msg = f"time window {key!r}: {text!r} is not a time HH:MM"
        raise ValueError(msg)
    return int(match[1]) * 60 + int(match[2])


#: Weekday daytime 09:00-17:00 (office hours), weekday evening 18:00-21:00 (after work, issue 18) and weekend
#: daytime 09:00-17:00: the 错时/延时 (staggered and extended) hours of the seeds are about the last two.
DEFAULT_WINDOWS: tuple[TimeWindow, ...] = (
    TimeWindow("weekday_day", (0, 1, 2, 3, 4), "09:00", "17:00", "工作日白天", "Weekday daytime"),
    TimeWindow("weekday_evening", (0, 1, 2, 3, 4), "18:00", "21:00", "工作日晚间", "Weekday evening"),
    TimeWindow("weekend_day", (5, 6), "09:00", "17:00", "周末白天", "Weekend daytime"),
)


class HoursError(InputError):
    """Opening hours the parser rejects; ``problems`` lists every row (``row`` and ``field`` are the first's)."""

    def __init__(self, path: str | Path | None, problems: list[Problem]):
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        where = f"{path}: " if path is not None else ""
        msg = (
            f"{where}{len(problems)} opening-hours value(s) are not in OpenStreetMap opening_hours syntax "
            f"(e.g. 'Mo-Fr 08:30-17:00; Sa 09:00-12:00'):\n  {shown}{more}"
        )
        super().__init__(msg, path=path, row=problems[0].row, field=problems[0].field)


#: Chinese day names as lists write them (周一, 星期一, 礼拜一) and their OSM two-letter codes.
_DAYS_ZH = {"一": "Mo", "二": "Tu", "三": "We", "四": "Th", "五": "Fr", "六": "Sa", "日": "Su", "天": "Su", "七": "Su"}
_DAY_ZH = r"(?:周|星期|礼拜)([一二三四五六日天七])"


def from_chinese(text: str) -> str:
    """Chinese opening hours as lists write them, in OSM ``opening_hours`` syntax (other text is left as it is).

    ``周一至周五 9:00-17:00`` → ``Mo-Fr 09:00-17:00``; ``每天 8:00—20:00`` → ``Mo-Su 08:00-20:00``;
    ``周六、周日 9:00-12:00`` → ``Sa,Su 09:00-12:00``; ``全天``/``24小时`` → ``24/7``; ``；`` and ``，`` between rules
    → ``; ``. The result is parsed by the maintained parser (:func:`parse_hours`), which still judges it.
    """
    out = text.strip()
    if re.fullmatch(r"(全天|24\s*小时(营业|开放)?|全天候)", out):
        return "24/7"
    out = re.sub(r"[—–~～至到]", "-", out)  # ranges of days and times
    out = re.sub(r"[：]", ":", out)
    out = re.sub(r"(每天|每日|天天)", "Mo-Su", out)
    out = re.sub(r"(工作日)", "Mo-Fr", out)
    out = re.sub(r"(周末|双休日)", "Sa,Su", out)
    out = re.sub(_DAY_ZH, lambda m: _DAYS_ZH[m[1]], out)
    days = r"(?<=Mo|Tu|We|Th|Fr|Sa|Su)\s*[、，,]\s*(?=(?:Mo|Tu|We|Th|Fr|Sa|Su)\b)"
    out = re.sub(days, "\x00", out)  # day lists: Sa,Su
    out = re.sub(r"(?<=\d)\s*[、，,]\s*(?=\d)", "\x01", out)  # time lists: 08:30-11:30,13:30-17:00
    out = re.sub(r"\s*[；;，,、]\s*", "; ", out)  # what is left separates rules
    out = out.replace("\x00", ",").replace("\x01", ",")
    out = re.sub(r"(?<![\d:])(\d):(\d\d)", r"0\1:\2", out)  # 9:00 -> 09:00
    out = re.sub(r"\s*-\s*", "-", out)
    out = re.sub(r"((?:Mo|Tu|We|Th|Fr|Sa|Su)[-,A-Za-z]*)\s*(?=\d)", r"\1 ", out)
    return re.sub(r"\s+", " ", out).strip()


def parse_hours(text: str) -> OpeningHours:
    """Parse one ``opening_hours`` expression (Chinese wording first put in OSM syntax by :func:`from_chinese`).

    Raises
    ------
    ValueError
        With the parser's reason on one line.
    """
    try:
        return OpeningHours(from_chinese(text))
    except Exception as exc:  # noqa: BLE001 - the parser raises its own ParserError (an Exception) and others
        text_of = str(exc)
        where = re.search(r"-->\s*\d+:(\d+)", text_of)
        expected = re.search(r"=\s*(.+)$", text_of.strip())
        reason = f"not understood from character {where[1]}" if where else "not understood"
        msg = f"{text!r}: {reason}" + (f" ({expected[1].strip()})" if expected else "")
        raise ValueError(msg) from None


def _week_shares(oh: OpeningHours, windows: Sequence[TimeWindow], monday: date) -> np.ndarray:
    """Per window, the open and the unknown share of its minutes (shape ``(len(windows), 2)``)."""
    start = datetime.combine(monday, datetime.min.time())
    open_iv, unknown_iv = [], []
    for lo, hi, state, _comment in oh.intervals(start, start + timedelta(days=7)):
        span = ((lo - start).total_seconds() / 60.0, (hi - start).total_seconds() / 60.0)
        if state == State.OPEN:
            open_iv.append(span)
        elif state == State.UNKNOWN:
            unknown_iv.append(span)
    out = np.zeros((len(windows), 2))
    for w, window in enumerate(windows):
        for day in window.days:
            a, b = day * 1440 + window.start_min, day * 1440 + window.end_min
            out[w, 0] += sum(max(0.0, min(b, hi) - max(a, lo)) for lo, hi in open_iv)
            out[w, 1] += sum(max(0.0, min(b, hi) - max(a, lo)) for lo, hi in unknown_iv)
        out[w] /= window.minutes
    return out


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() in {"", "nan"}


def window_states(
    facilities: pd.DataFrame,
    windows: Sequence[TimeWindow] = DEFAULT_WINDOWS,
    *,
    min_share: float = DEFAULT_MIN_SHARE,
    column: str | None = None,
    path: str | Path | Sequence[str | Path | None] | None = None,
    monday: date = REFERENCE_MONDAY,
) -> pd.DataFrame:
    """Open, closed or unknown in each time window, for every facility.

    Parameters
    ----------
    facilities : pandas.DataFrame
        The facility table; ``column`` holds the hours (blank or absent: no hours), ``source_row`` the row number
        of each facility in its file (else the table's position + 2, the header being row 1).
    windows : sequence of TimeWindow, default :data:`DEFAULT_WINDOWS`
    min_share : float, default 0.5
        Share of a window's minutes a facility must be open in (see the module's rule).
    column : str, optional
        The column of hours. Default: every column whose header :data:`planner.tables.COLUMN_ALIASES` reads as
        ``opening_hours`` (开放时间, 营业时间, 服务时间 …; lists merged from several files keep each file's header),
        the first non-blank of them per row.
    path : str or pathlib.Path, or one per row, optional
        The file each row came from, for the error.
    monday : datetime.date, default :data:`REFERENCE_MONDAY`
        The reference week.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``facilities``: ``opening_hours`` (the expression, "" when none), per window ``open_<key>``
        (``open``, ``closed`` or ``unknown``) and ``open_share_<key>`` (NaN without hours), and ``hours_note``.

    Raises
    ------
    HoursError
        An :class:`~planner.errors.InputError` naming the file, every bad row and the field.
    """
    if not 0 < min_share <= 1:
        msg = f"min_share must be in (0, 1], got {min_share}"
        raise ValueError(msg)
    n = len(facilities)
    columns = [column] if column is not None else [c for c in facilities.columns if find_column([str(c)], _KEY)]
    texts, fields = [""] * n, [column or _KEY] * n
    for col in (c for c in columns if c in facilities):
        for i, value in enumerate(facilities[col].tolist()):
            if not texts[i] and not _blank(value):
                texts[i], fields[i] = str(value).strip(), str(col)
    rows = facilities["source_row"].tolist() if "source_row" in facilities else list(range(2, n + 2))
    paths = [path] * n if path is None or isinstance(path, str | Path) else list(path)
    shares = np.full((n, len(windows), 2), np.nan)
    parsed: dict[str, np.ndarray | str] = {}
    bad: dict[str | Path | None, list[Problem]] = {}
    for i, text in enumerate(texts):
        if not text:
            continue
        if text not in parsed:
            try:
                parsed[text] = _week_shares(parse_hours(text), windows, monday)
            except ValueError as exc:
                parsed[text] = str(exc)
        got = parsed[text]
        if isinstance(got, str):
            bad.setdefault(paths[i], []).append(Problem(int(rows[i]), fields[i], got))
        else:
            shares[i] = got
    if bad:
        where, problems = next(iter(bad.items()))
        raise HoursError(where, problems)
    out = pd.DataFrame({"opening_hours": texts}, index=facilities.index)
    has = np.array([bool(t) for t in texts], dtype=bool)
    for w, window in enumerate(windows):
        open_share, unknown_share = shares[:, w, 0], shares[:, w, 1]
        state = np.where(
            ~has | (open_share >= min_share),
            "open",
            np.where(open_share + unknown_share < min_share, "closed", "unknown"),
        )
        out[f"open_{window.key}"] = state
        out[f"open_share_{window.key}"] = open_share
    out["hours_note"] = np.where(has, "", NO_HOURS_NOTE)
    if (~has).any():
        log.info("%d of %d facilities list no opening hours: counted as open in every window", (~has).sum(), n)
    return out


def open_mask(states: pd.DataFrame, window: str, *, unknown_as_open: bool = False) -> np.ndarray:
    """Which facilities serve a window: ``open`` (facilities with no hours among them), and ``unknown`` if asked.

    Parameters
    ----------
    states : pandas.DataFrame
        From :func:`window_states`.
    window : str
        A window key.
    unknown_as_open : bool, default False

    Returns
    -------
    numpy.ndarray of bool
    """
    col = f"open_{window}"
    if col not in states:
        known = [c.removeprefix("open_") for c in states.columns if c.startswith("open_") and "share" not in c]
        msg = f"unknown time window {window!r}; known windows: {', '.join(known)}"
        raise KeyError(msg)
    ok = {"open", "unknown"} if unknown_as_open else {"open"}
    return states[col].isin(ok).to_numpy(bool)
