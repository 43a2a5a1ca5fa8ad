"""report.pdf: the community check report laid out on A4 by WeasyPrint, its Chinese font embedded.

The PDF is read back with tools that share no code with WeasyPrint: pypdf for the pages, fonts and text,
and poppler's pdftoppm for the pixels. Missing tools (WeasyPrint, Pango, a Chinese font, pypdf, pdftoppm)
skip these tests locally and fail them when ``CI`` is set, as the browser tests do.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from conftest import IN_CI
from planner.errors import OutputError
from planner.pdf import SHORT_TABLE_ROWS, print_html, write_report_pdf

A4_PT = (595.28, 841.89)
CJK_FONT_NAMES = ("WenQuanYi", "Noto", "CJK", "Source Han")


def _missing(what: str) -> None:
    """Skip locally; fail in CI (``CI`` set), where a PDF test that silently skips checks nothing."""
    hint = "pip install -e '.[dev]' and `make browser` (apt-installs Pango, fonts-wqy-zenhei and poppler-utils)"
    if IN_CI:
        pytest.fail(f"CI is set but {what}: {hint} before the tests", pytrace=False)
    pytest.skip(f"{what} ({hint}; in CI this fails)")


@pytest.fixture(scope="module")
def report_pdf(yangpu_plan, tmp_path_factory):
    """The test area's Chinese report as a PDF, and the seconds the PDF took."""
    from planner.report import render_report

    html = render_report(yangpu_plan)  # the test area planned without isochrones, once per session (conftest)
    path = tmp_path_factory.mktemp("pdf") / "report.pdf"
    t0 = time.perf_counter()
    try:
        assert write_report_pdf(html, path) == path
    except OutputError as exc:  # WeasyPrint, Pango or a Chinese font is missing: the message says which
        _missing(str(exc))
    return path, time.perf_counter() - t0


@pytest.fixture(scope="module")
def reader(report_pdf):
    try:
        from pypdf import PdfReader
    except ImportError:
        _missing("the Python package pypdf is not installed")
    return PdfReader(report_pdf[0])


@pytest.mark.slow  # the plan, then about a second for the PDF
def test_pdf_is_a4_with_numbered_pages(report_pdf, reader):
    path, seconds = report_pdf
    assert path.read_bytes()[:5] == b"%PDF-"
    assert len(reader.pages) >= 2
    for page in reader.pages:
        size = (float(page.mediabox.width), float(page.mediabox.height))
        assert size == pytest.approx(A4_PT, abs=1), size  # portrait A4
    n = len(reader.pages)
    assert f"1 / {n}" in reader.pages[0].extract_text()  # footer page numbers (CSS @page counters)
    assert f"{n} / {n}" in reader.pages[-1].extract_text()
    assert seconds < 30


@pytest.mark.slow
def test_pdf_embeds_a_chinese_font_and_its_text(reader):
    embedded = set()
    for page in reader.pages:
        for ref in page["/Resources"].get("/Font", {}).values():
            font = ref.get_object()
            descendants = font.get("/DescendantFonts")
            described = descendants[0].get_object() if descendants else font
            descriptor = described["/FontDescriptor"].get_object()
            if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                embedded.add(str(font["/BaseFont"]))
    assert any(name in font for font in embedded for name in CJK_FONT_NAMES), embedded
    first = reader.pages[0].extract_text()
    assert "社区体检报告" in first and "同济四平测试区" in first, first[:300]


@pytest.mark.slow
def test_pdf_first_page_is_drawn(report_pdf, tmp_path):
    from PIL import Image

    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        _missing("pdftoppm (Debian poppler-utils) is not on PATH")
    subprocess.run(
        [pdftoppm, "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile", str(report_pdf[0]), str(tmp_path / "p1")],
        check=True,
        timeout=60,
    )
    with Image.open(tmp_path / "p1.png") as image:
        assert image.size == pytest.approx((413, 585), abs=2)  # A4 at 50 dpi
        gray = np.asarray(image.convert("L"), dtype=float)
    assert gray.std() > 10  # text, tables and warning boxes (about 25); a blank page is 0
    assert (gray < 128).mean() > 0.003  # dark pixels: text (about 0.9 %)


def test_print_html_repeats_headers_and_keeps_short_tables_whole():
    short = "<table><tr><th>单元</th><th>居民</th></tr><tr><td>甲</td><td>1</td></tr></table>"
    rows = "".join(f"<tr><td>{i}</td><td>{i}</td></tr>" for i in range(SHORT_TABLE_ROWS + 1))
    long = f"<table><tr><th>Unit</th><th>Residents without</th></tr>{rows}</table>"
    row_headers = "<table><tr><th>a</th><td>1</td></tr></table>"  # a row header, not a header row
    out = print_html(f"<p>x</p>{short}<p>y</p>{long}{row_headers}")
    assert out.count("<thead>") == 2
    assert "<table data-pdf-short><thead><tr><th data-pdf-nowrap>单元</th>" in out
    assert "<table><thead><tr><th data-pdf-nowrap>Unit</th><th>Residents without</th></tr></thead>" in out
    assert "<table data-pdf-short><tr><th data-pdf-nowrap>a</th><td>1</td></tr></table>" in out
    assert out.startswith("<p>x</p>") and "<p>y</p>" in out


def test_missing_weasyprint_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import weasyprint raises ImportError
    with pytest.raises(OutputError, match=r"pip install 'lifecircle\[pdf\]'.*libpango") as info:
        write_report_pdf("<p>社区</p>", tmp_path / "report.pdf")
    assert "fonts-wqy-zenhei" in str(info.value)
    assert not (tmp_path / "report.pdf").exists()


def test_no_chinese_font_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "weasyprint", types.ModuleType("weasyprint"))  # never used: fails first
    monkeypatch.setattr("planner.pdf.cjk_font_families", lambda lang="zh-cn": [])
    with pytest.raises(OutputError, match=r"no installed font covers Chinese.*apt-get install.*fonts-wqy-zenhei"):
        write_report_pdf("<p>社区</p>", tmp_path / "report.pdf")
    assert not (tmp_path / "report.pdf").exists()


def test_the_same_report_gives_the_kept_pdf_and_another_one_is_laid_out(yangpu_plan, report_pdf, tmp_path, monkeypatch):
    """``use_cache``: the same HTML gives the very file laid out before without laying it out again; another
    report (one word changed) is laid out anew; without ``use_cache`` nothing is read or written."""
    import weasyprint

    from planner.report import render_report

    monkeypatch.setenv("LIFECIRCLE_CACHE_DIR", str(tmp_path / "cache"))
    html = render_report(yangpu_plan)
    first = write_report_pdf(html, tmp_path / "a.pdf", use_cache=True)
    assert len(list((tmp_path / "cache").glob("report-*.pdf"))) == 1
    laid_out = []
    real = weasyprint.HTML
    monkeypatch.setattr(weasyprint, "HTML", lambda *a, **k: laid_out.append(1) or real(*a, **k))
    again = write_report_pdf(html, tmp_path / "b.pdf", use_cache=True)
    assert not laid_out and again.read_bytes() == first.read_bytes()
    other = write_report_pdf(
        html.replace("社区体检报告", "社区体检报告（复核）", 1), tmp_path / "c.pdf", use_cache=True
    )
    assert laid_out == [1] and other.read_bytes() != first.read_bytes()
    write_report_pdf(html, tmp_path / "d.pdf")  # use_cache False (the default): laid out, nothing kept
    assert laid_out == [1, 1] and len(list((tmp_path / "cache").glob("report-*.pdf"))) == 2
