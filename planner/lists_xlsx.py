"""The three lists as one Excel workbook (``lists.xlsx``): 需求清单, 资源清单, 服务清单 and 说明.

Chinese headers in a bold frozen first row, filters, column widths that count Chinese characters double, people
as whole numbers and shares as percentages (the cells keep the exact values); figures not assessed stay empty.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import OutputError
from .lists import SHEETS, ThreeLists

__all__ = ["write_lists_xlsx"]

log = logging.getLogger(__name__)

_COUNT_COLUMNS = {
    "人群人数",
    "评估人数",
    "未覆盖人数",
    "服务人口",
    "新增覆盖居民",
    "新增覆盖老年人",
    "容量",
    "面积（平方米）",
    "步行范围内人口",
    "可服务人数",
}
_SHARE_COLUMNS = {"占比", "覆盖率（累计）", "负荷率"}


def _width(value: Any) -> int:
    """Display width of a cell's text: CJK and full-width characters count twice."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _format_sheet(sheet: Any, frame: pd.DataFrame) -> None:
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet.freeze_panes = "A2"
    for j, name in enumerate(frame.columns, start=1):
        letter = get_column_letter(j)
        header = sheet.cell(row=1, column=j)
        header.font = Font(bold=True)
        header.alignment = Alignment(horizontal="center", vertical="center")
        fmt = "#,##0" if name in _COUNT_COLUMNS else "0.0%" if name in _SHARE_COLUMNS else None
        if fmt:
            for row in range(2, len(frame) + 2):
                sheet.cell(row=row, column=j).number_format = fmt
        sample = frame[name].head(500)
        widest = max([_width(name), *(_width(v) for v in sample if not (isinstance(v, float) and np.isnan(v)))])
        if fmt:
            widest = max(_width(name), 10)
        sheet.column_dimensions[letter].width = min(max(widest + 2, 6), 60)
    if len(frame.columns):
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"


def write_lists_xlsx(lists: ThreeLists, path: str | Path) -> Path:
    """Write the three lists to one Excel workbook: 需求清单, 资源清单, 服务清单 and 说明.

    Each list sheet has its Chinese headers in a bold frozen first row, a filter, column widths fitted to the
    text (Chinese characters count double), people as whole numbers and shares as percentages (the cells keep
    the exact values). Not assessed figures are empty cells. The 说明 sheet lists the notes.

    Parameters
    ----------
    lists : ThreeLists
    path : str or pathlib.Path
        The ``.xlsx`` file (replaced if it exists).

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    planner.errors.OutputError
        The file cannot be written (no permission, open in Excel, a folder in the way).
    """
    from openpyxl.styles import Alignment, Font

    path = Path(path)
    notes = pd.DataFrame({"说明": list(lists.notes) or ["（无）"]})
    try:
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for name, frame in zip(SHEETS, (lists.needs, lists.resources, lists.services, notes)):
                frame.to_excel(writer, sheet_name=name, index=False, na_rep="")
                _format_sheet(writer.sheets[name], frame)
            sheet = writer.sheets["说明"]
            sheet.column_dimensions["A"].width = 100
            sheet["A1"].font = Font(bold=True)
            for row in range(2, len(notes) + 2):
                sheet.cell(row=row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    except OSError as exc:
        msg = f"cannot write the lists workbook {path}: {exc.strerror or exc}"
        raise OutputError(msg) from exc
    log.info("wrote the three lists to %s", path)
    return path
