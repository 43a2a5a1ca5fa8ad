"""The community check report as a printable A4 PDF, with its Chinese font embedded.

:func:`write_report_pdf` lays out the HTML of :func:`planner.report.render_report` with WeasyPrint (which
draws text with Pango) on A4 portrait pages numbered in the footer, adding a print stylesheet on top of the
report's own. WeasyPrint is an optional dependency (``pip install 'lifecircle[pdf]'``) and needs Pango and a
font that covers Chinese from the system (on Debian: ``apt-get install libpango-1.0-0 libpangoft2-1.0-0
fonts-wqy-zenhei``); it is imported only when a PDF is written, so ``import planner`` stays light.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path

from .cache import cache_dir, content_key, read_cached, source_key, write_cached
from .errors import OutputError

__all__ = [
    "INSTALL_HINT",
    "PRINT_CSS",
    "SHORT_TABLE_ROWS",
    "cjk_font_families",
    "prepare_pdf",
    "print_html",
    "write_report_pdf",
]

log = logging.getLogger(__name__)

#: What to install for :func:`write_report_pdf`, in the error it raises when something is missing.
INSTALL_HINT = "pip install 'lifecircle[pdf]' and apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-wqy-zenhei"

#: The print stylesheet, given to WeasyPrint as a user stylesheet on top of the report's own styles (which
#: keep their ``@media print`` rules). A user stylesheet loses to the author's unless ``!important``, hence
#: the ``!important`` on every declaration that overrides the report. A4 portrait, the page number in the
#: footer, text sized for paper, figures no wider than the text and no taller than a page, tables allowed to
#: run over pages (a long table kept whole would leave a blank page before it) with rows kept whole and
#: the header row repeated (see :func:`print_html`), short tables kept whole, headings kept with what follows them.
PRINT_CSS = """
@page {
  size: A4 portrait;
  margin: 16mm 14mm 18mm 14mm;
  @bottom-center {
    content: counter(page) " / " counter(pages);
    font-family: "Noto Sans CJK SC", "WenQuanYi Zen Hei", sans-serif;
    font-size: 8.5pt;
    color: #52606d;
  }
}
body { background: #fff !important; font-size: 10pt !important; line-height: 1.45 !important; }
main { max-width: none !important; margin: 0 !important; padding: 0 !important; }
h1 { font-size: 18pt !important; }
h2 { font-size: 13pt !important; margin-top: 16pt !important; break-after: avoid !important; }
h3, h4 { break-after: avoid !important; }
h2 + p, h3 + p { break-after: avoid; }
p, li { orphans: 2; widows: 2; }
a { color: inherit !important; text-decoration: none !important; }
.warn, .findings li { break-inside: avoid !important; }
table { font-size: 8.5pt !important; width: 100% !important; break-inside: auto !important; }
table[data-pdf-short] { break-inside: avoid !important; }
th, td { padding: 2pt 4pt !important; overflow-wrap: break-word !important; }
th[data-pdf-nowrap] { white-space: nowrap !important; }
tr { break-inside: avoid !important; }
thead { display: table-header-group !important; }
figure { margin: 8pt 0 !important; padding: 0 !important; break-inside: avoid !important; }
figure img {
  display: block !important; margin: 0 auto !important;
  max-width: 100% !important; max-height: 150mm !important; width: auto !important; height: auto !important;
}
figcaption { font-size: 8.5pt !important; text-align: center !important; }
"""

#: A table of at most this many rows is kept on one page; a longer one runs over pages (its header repeated).
SHORT_TABLE_ROWS = 12

_TABLE = re.compile(r"<table\b[^>]*>.*?</table>", re.DOTALL | re.IGNORECASE)
# a table's first row when it holds only header cells: <table><tr><th>…</th>…</tr>
_HEADER_ROW = re.compile(
    r"^(<table\b[^>]*>\s*)(<tr>\s*(?:<th\b[^>]*>(?:(?!</th>).)*</th>\s*)+</tr>)", re.DOTALL | re.IGNORECASE
)
_ROW = re.compile(r"<tr\b", re.IGNORECASE)
# a header cell of one short word (层级, 服务, Tier): kept on one line, or a narrow column stacks it char by char
_SHORT_HEADER = re.compile(r"<th>([^\s<>]{1,6})</th>")


def _print_table(match: re.Match[str]) -> str:
    table = _HEADER_ROW.sub(r"\1<thead>\2</thead>", match.group(0), count=1)
    table = _SHORT_HEADER.sub(r"<th data-pdf-nowrap>\1</th>", table)
    if len(_ROW.findall(table)) <= SHORT_TABLE_ROWS:
        table = "<table data-pdf-short" + table[len("<table") :]
    return table


def print_html(html: str) -> str:
    """The report's HTML made ready for paged layout (the report's own markup is written for the screen).

    Each table's header row (a first row of ``<th>`` cells only) goes into ``<thead>``, so that a table
    running over pages repeats it; a table of at most :data:`SHORT_TABLE_ROWS` rows is marked
    ``data-pdf-short``, which :data:`PRINT_CSS` keeps on one page; a header cell of one short word is
    marked ``data-pdf-nowrap``, so that a narrow column does not stack it (and its cells) one character
    a line.
    """
    return _TABLE.sub(_print_table, html)


def _fontconfig_families(lang: str) -> list[str] | None:
    """Families fontconfig lists for ``lang`` through libfontconfig (None when the library cannot be loaded)."""
    name = ctypes.util.find_library("fontconfig") or "libfontconfig.so.1"
    try:
        fc = ctypes.CDLL(name)
    except OSError:
        return None

    class FcFontSet(ctypes.Structure):
        _fields_ = [("nfont", ctypes.c_int), ("sfont", ctypes.c_int), ("fonts", ctypes.POINTER(ctypes.c_void_p))]

    fc.FcNameParse.restype = ctypes.c_void_p
    fc.FcNameParse.argtypes = [ctypes.c_char_p]
    fc.FcObjectSetCreate.restype = ctypes.c_void_p
    fc.FcObjectSetAdd.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    fc.FcFontList.restype = ctypes.POINTER(FcFontSet)
    fc.FcFontList.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    fc.FcPatternGetString.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)]
    fc.FcPatternDestroy.argtypes = [ctypes.c_void_p]
    fc.FcObjectSetDestroy.argtypes = [ctypes.c_void_p]
    fc.FcFontSetDestroy.argtypes = [ctypes.POINTER(FcFontSet)]

    pattern = fc.FcNameParse(f":lang={lang}".encode())
    objects = fc.FcObjectSetCreate()
    fc.FcObjectSetAdd(objects, b"family")
    found = fc.FcFontList(None, pattern, objects)  # None: the default configuration, as Pango uses
    families: set[str] = set()
    try:
        if found:
            for i in range(found.contents.nfont):
                value = ctypes.c_char_p()
                if fc.FcPatternGetString(found.contents.fonts[i], b"family", 0, ctypes.byref(value)) == 0:
                    families.add((value.value or b"").decode("utf-8", "replace"))
    finally:
        if found:
            fc.FcFontSetDestroy(found)
        fc.FcObjectSetDestroy(objects)
        fc.FcPatternDestroy(pattern)
    return sorted(f for f in families if f)


def cjk_font_families(lang: str = "zh-cn") -> list[str] | None:
    """The installed font families that cover Simplified Chinese, as fontconfig (and so Pango) sees them.

    Parameters
    ----------
    lang : str, default "zh-cn"
        A fontconfig language tag.

    Returns
    -------
    list of str or None
        Family names, sorted (empty when no installed font covers the language); None when neither
        libfontconfig nor ``fc-list`` is there to ask.
    """
    families = _fontconfig_families(lang)
    if families is not None:
        return families
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    try:
        out = subprocess.run(
            [fc_list, f":lang={lang}", "family"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return sorted({line.split(",")[0].strip() for line in out.splitlines() if line.strip()})


def prepare_pdf() -> None:
    """Import WeasyPrint and ask fontconfig for the Chinese fonts ahead of :func:`write_report_pdf` (a second of
    a run, done in a child while the report is drawn); a failure here is left for :func:`write_report_pdf`."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(ImportError, OSError):
        import weasyprint  # type: ignore[import-untyped]  # noqa: F401 - imported to be ready
    cjk_font_families()


def write_report_pdf(
    html: str, path: str | Path, *, base_url: str | Path | None = None, use_cache: bool = False
) -> Path:
    """Write the report as a printable A4 PDF with its Chinese font embedded.

    Parameters
    ----------
    html : str
        The report, from :func:`planner.report.render_report` (self-contained: styles inline, images as
        data URIs).
    path : str or pathlib.Path
        The PDF file to write (replaced when it exists).
    base_url : str or pathlib.Path, optional
        Where relative links and images in ``html`` resolve. By default they are left relative: the
        report's images are data URIs, and its link to ``map.html`` then opens the map beside the PDF
        wherever the folder is moved (an absolute base would write this machine's path into the PDF).
    use_cache : bool, default False
        Keep the PDF in the disk cache (:func:`planner.cache.cache_dir`), keyed by everything it is made from:
        the report's HTML (its date included), the print styles, the base URL, this module's code, WeasyPrint's
        version and the Chinese fonts found. The same report gives the same file without laying it out again.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    planner.errors.OutputError
        When WeasyPrint or Pango cannot be loaded, when no installed font covers Chinese, or when the
        file cannot be written; the message says what to install.
    """
    path = Path(path)
    said = io.StringIO()  # WeasyPrint prints its own advice when Pango is missing; the error below says it
    try:
        with contextlib.redirect_stdout(said):
            import weasyprint  # no type information: see prepare_pdf
    except (ImportError, OSError) as exc:  # OSError: the Python package is there but Pango is not
        log.debug("importing weasyprint: %s %s", exc, said.getvalue().strip())
        msg = f"cannot write the PDF report {path}: WeasyPrint or Pango is missing ({exc}); {INSTALL_HINT}"
        raise OutputError(msg) from exc
    families = cjk_font_families()
    if families is not None and not families:
        msg = f"cannot write the PDF report {path}: no installed font covers Chinese; {INSTALL_HINT}"
        raise OutputError(msg)
    if families is None:
        log.warning("fontconfig cannot be asked for a Chinese font; the PDF's Chinese text may not show")
    else:
        log.debug("fonts covering Chinese: %s", ", ".join(families))

    t0 = time.perf_counter()
    base = None if base_url is None else str(base_url)
    printed = print_html(html)
    kept = None
    if use_cache:
        key = content_key(
            "report-pdf-1", source_key(__name__), printed, PRINT_CSS, base, weasyprint.__version__, families
        )
        kept = cache_dir() / f"report-{key}.pdf"
        if read_cached(kept, lambda f: f.stat().st_size > 0 or None):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(kept, path)
            except OSError as exc:
                msg = f"cannot write the PDF report {path}: {exc}"
                raise OutputError(msg) from exc
            log.info("wrote %s from the cache %s (the same report)", path, kept)
            return path
    document = weasyprint.HTML(string=printed, base_url=base).render(stylesheets=[weasyprint.CSS(string=PRINT_CSS)])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        document.write_pdf(path)
    except OSError as exc:
        msg = f"cannot write the PDF report {path}: {exc}"
        raise OutputError(msg) from exc
    if kept is not None:
        write_cached(kept, lambda tmp: shutil.copyfile(path, tmp))
    log.info(
        "wrote %s: %d A4 pages, %.1f MB in %.1f s",
        path,
        len(document.pages),
        path.stat().st_size / 1e6,
        time.perf_counter() - t0,
    )
    return path
