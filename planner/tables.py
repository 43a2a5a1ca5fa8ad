"""Reading the lists street offices keep: CSV in any common Chinese encoding, Excel sheets with title rows,
Chinese or English headers.

One documented alias table (:data:`COLUMN_ALIASES`) maps the headers people write (名称, 类型, 经度, 纬度, 地址 …)
onto the planner's column names. A header can also say its coordinate system (``lon_gcj02``, ``高德经度``,
``百度纬度``); :func:`crs_hint` reads that hint.

Encodings: UTF-8 (with or without BOM) first, then whatever ``charset-normalizer`` detects (GBK and GB2312 are
read as their superset GB18030). Excel: the chosen sheet (first by default); title rows above the header are
found and skipped, and row numbers in messages stay the ones Excel shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, InputFileNotFound

__all__ = ["COLUMN_ALIASES", "Table", "canonical_columns", "crs_hint", "find_column", "read_table"]

#: Planner column -> headers accepted for it (compared without case, spaces, brackets or underscores).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "facility_id": ("facility_id", "id", "编号", "序号", "设施编号", "代码"),
    "name": ("name", "名称", "设施名称", "机构名称", "站点名称", "场所名称", "单位名称", "服务站名称"),
    "tier": ("tier", "层级", "类型", "设施类型", "级别", "站点类型"),
    "lon": ("lon", "lng", "longitude", "long", "x", "经度", "东经"),
    "lat": ("lat", "latitude", "y", "纬度", "北纬"),
    "address": ("address", "addr", "地址", "详细地址", "所在地址", "位置"),
    "services": ("services", "service", "服务", "功能", "服务内容", "服务项目", "服务功能"),
    "opening_hours": ("opening_hours", "hours", "开放时间", "营业时间", "服务时间"),
    "floor_area_m2": ("floor_area_m2", "area_m2", "面积", "建筑面积", "使用面积", "面积（平方米）"),
    "capacity": ("capacity", "容量", "床位", "座位数", "床位数", "服务人数"),
    "district": ("district", "区", "所属区", "行政区"),
    "subdistrict": ("subdistrict", "街道", "街镇", "所属街道", "街道镇"),
    "crs": ("crs", "coord_system", "坐标系"),
}

# coordinate-system words that may decorate a longitude/latitude header
_CRS_WORDS: dict[str, tuple[str, ...]] = {
    "gcj02": ("gcj02", "gcj", "gaode", "amap", "高德", "火星", "腾讯"),
    "bd09": ("bd09", "bd09ll", "baidu", "百度"),
    "wgs84": ("wgs84", "wgs", "gps", "epsg4326"),
}
_NORMALISE = re.compile(r"[\s_\-()（）\[\]【】:：/]+")


def _norm(header: object) -> str:
    return _NORMALISE.sub("", str(header).strip().lower())


def crs_hint(header: object) -> str | None:
    """The coordinate system a header names, e.g. ``"gcj02"`` for ``lon_gcj02`` or ``高德经度``; None if none."""
    text = _norm(header)
    for crs, words in _CRS_WORDS.items():
        if any(w in text for w in words):
            return crs
    return None


def _strip_crs(header: object) -> str:
    text = _norm(header)
    for words in _CRS_WORDS.values():
        for w in sorted(words, key=len, reverse=True):
            text = text.replace(w, "")
    return text


def find_column(columns: list[str], key: str) -> str | None:
    """The first of ``columns`` that is an alias of the planner column ``key`` (coordinate-system words ignored)."""
    wanted = {_norm(a) for a in COLUMN_ALIASES[key]}
    for column in columns:
        if _norm(column) in wanted or (key in {"lon", "lat"} and _strip_crs(column) in wanted):
            return column
    return None


def canonical_columns(columns: list[str]) -> dict[str, str]:
    """Planner column -> the file's header, for every alias found."""
    out = {}
    for key in COLUMN_ALIASES:
        found = find_column(columns, key)
        if found is not None:
            out[key] = found
    return out


@dataclass(frozen=True)
class Table:
    """A list read from a file.

    Attributes
    ----------
    frame : pandas.DataFrame
        Every cell as text; the file's own headers.
    rows : list of int
        The row number of each record as the file shows it (header row counted, title rows too).
    encoding : str or None
        The text encoding a CSV was read with.
    sheet : str or None
        The Excel sheet read.
    """

    frame: pd.DataFrame
    rows: list[int]
    encoding: str | None = None
    sheet: str | None = None


def _decode(path: Path, raw: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig",):
        try:
            return raw.decode(encoding), "utf-8"
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    encoding = (best.encoding if best is not None else "gb18030").lower()
    if encoding in {"gbk", "gb2312", "cp936", "hz"}:
        encoding = "gb18030"
    try:
        return raw.decode(encoding), encoding
    except (UnicodeDecodeError, LookupError):
        msg = f"{path}: cannot tell the text encoding (tried UTF-8 and {encoding}); save the file as UTF-8 CSV"
        raise InputError(msg, path=path) from None


def _header_row(cells: pd.DataFrame, limit: int = 10) -> int:
    """Index of the first row that looks like a header: it names at least two known columns."""
    for i in range(min(limit, len(cells))):
        values = [v for v in cells.iloc[i].tolist() if str(v).strip() not in {"", "nan", "None"}]
        if len(canonical_columns([str(v) for v in values])) >= 2:
            return i
    return 0


def read_table(path: str | Path, *, sheet: str | int | None = None) -> Table:
    """Read a CSV or Excel list: encodings detected, title rows above the header skipped.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv``/``.txt`` or ``.xlsx``/``.xlsm``.
    sheet : str or int, optional
        Excel sheet name or 0-based position (default: the first).

    Returns
    -------
    Table

    Raises
    ------
    InputFileNotFound, InputError
        Missing, empty or unreadable file, or no such sheet (the message lists the sheets).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    suffix = path.suffix.lower()
    encoding = sheet_name = None
    if suffix in {".csv", ".txt"}:
        raw = path.read_bytes()
        if not raw.strip():
            msg = f"{path}: the file is empty; it needs a header row and one row per record"
            raise InputError(msg, path=path)
        text, encoding = _decode(path, raw)
        import io

        try:
            cells = pd.read_csv(
                io.StringIO(text), dtype=str, keep_default_na=False, header=None, skip_blank_lines=False
            )
        except pd.errors.ParserError as exc:
            msg = f"{path}: not a readable CSV ({exc}); check the separators and quotes"
            raise InputError(msg, path=path) from None
    elif suffix in {".xlsx", ".xlsm"}:
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for damaged files
            msg = f"{path}: not a readable Excel workbook ({exc})"
            raise InputError(msg, path=path) from None
        names = book.sheetnames
        if sheet is None:
            sheet_name = names[0]
        elif isinstance(sheet, int) and 0 <= sheet < len(names):
            sheet_name = names[sheet]
        elif isinstance(sheet, str) and sheet in names:
            sheet_name = sheet
        else:
            msg = f"{path}: no sheet {sheet!r}; the workbook has {', '.join(names)}"
            raise InputError(msg, path=path)
        values = list(book[sheet_name].iter_rows(values_only=True))
        book.close()
        cells = pd.DataFrame([["" if v is None else str(v) for v in row] for row in values], dtype=str)
    else:
        msg = f"{path}: unsupported list type {suffix!r}; use CSV or XLSX"
        raise InputError(msg, path=path)
    if cells.empty:
        msg = f"{path}: no rows"
        raise InputError(msg, path=path)
    head = _header_row(cells)
    header = [str(h).strip() or f"column{j + 1}" for j, h in enumerate(cells.iloc[head].tolist())]
    body = cells.iloc[head + 1 :].copy()
    body.columns = header
    blank = np.array(
        [all(str(v).strip() in {"", "nan"} for v in row) for row in body.itertuples(index=False)], dtype=bool
    )
    rows = [int(i) + 1 for i in body.index[~blank]]  # 1-based line/row numbers as the file shows them
    frame = body[~blank].reset_index(drop=True)
    return Table(frame=frame, rows=rows, encoding=encoding, sheet=sheet_name)
