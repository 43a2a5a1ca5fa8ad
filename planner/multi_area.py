"""Many study areas in one command: one plan per ``*/area.toml`` of a folder, each a Dask task.

Each area's results go to ``<out>/<its folder name>/`` (:func:`planner.outputs.write_outputs`, swapped in whole).
The combined ``summary.json`` lists every area with its headline figures or the error that stopped it, and
``index.html`` links each area's report and map, in Chinese first.

>>> from planner.multi_area import run_areas                 # doctest: +SKIP
>>> combined = run_areas(Path("districts"), Path("out/districts"), client=client)
"""

from __future__ import annotations

import html
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .area import StudyArea
from .atomic import atomic_file
from .errors import ConfigError, LifecircleError
from .outputs import prepare_output_dir, write_outputs
from .pipeline import RunOptions, run

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["find_areas", "local_client", "plan_area", "run_areas", "write_index"]

log = logging.getLogger(__name__)


def find_areas(folder: Path) -> list[Path]:
    """The ``area.toml`` of every sub-folder of ``folder``, by folder name.

    Raises
    ------
    ConfigError
        When ``folder`` holds no ``*/area.toml``.
    """
    found = sorted(Path(folder).glob("*/area.toml"))
    if not found:
        msg = f"--areas {folder}: no sub-folder holds an area.toml (expected {folder}/<name>/area.toml)"
        raise ConfigError(msg, path=Path(folder))
    return found


def plan_area(
    toml: Path,
    out: Path,
    options: RunOptions,
    prepare: Callable[[StudyArea], StudyArea] | None = None,
    write: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one area and write its outputs (one Dask task); an input error is reported, not raised.

    Parameters
    ----------
    toml : pathlib.Path
        The area's ``area.toml``.
    out : pathlib.Path
        Its output folder (from :func:`~planner.outputs.prepare_output_dir`).
    options : RunOptions
    prepare : callable, optional
        Applied to the study area before the run (e.g. the command line's overrides).
    write : dict, optional
        Keyword arguments of :func:`~planner.outputs.write_outputs` (``basemap``, ``lang`` …).

    Returns
    -------
    dict
        ``folder``, ``status`` (``"ok"`` or ``"failed"``), and the area's summary or the error.
    """
    entry: dict[str, Any] = {"folder": out.name, "area_toml": str(toml)}
    if multiprocessing.current_process().daemon:  # a Dask worker: it may not fork the outputs' writer beside it
        os.environ.setdefault("LIFECIRCLE_NO_FORK", "1")
    try:
        area = StudyArea.from_toml(toml)
        area = prepare(area) if prepare is not None else area
        summary = write_outputs(run(area, options), out, **(write or {}))
    except LifecircleError as exc:
        log.error("%s: %s", toml, exc)
        return entry | {"status": "failed", "error": str(exc)}
    return entry | {"status": "ok", "summary": summary}


def run_areas(
    folder: Path,
    out: Path,
    *,
    options: RunOptions | None = None,
    client: Client | None = None,
    force: bool = False,
    prepare: Callable[[StudyArea], StudyArea] | None = None,
    write: dict[str, Any] | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """One plan per ``*/area.toml`` of ``folder``, each a task on ``client`` (or one after another here).

    Parameters
    ----------
    folder : pathlib.Path
        Holds one sub-folder per area, each with its ``area.toml``.
    out : pathlib.Path
        Results go to ``out/<sub-folder>/``; ``out/summary.json`` and ``out/index.html`` list them all.
    options : RunOptions, optional
    client : distributed.Client, optional
    force : bool, default False
        Replace results already in the areas' output folders.
    prepare : callable, optional
        Applied to each study area before its run (pickled to the workers).
    write : dict, optional
        Keyword arguments of :func:`~planner.outputs.write_outputs`.
    progress : bool, optional
        Show Dask's progress bar (default: when standard error is a terminal).

    Returns
    -------
    dict
        The combined summary written to ``summary.json``.
    """
    options = options or RunOptions()
    tomls = find_areas(folder)
    outs = [prepare_output_dir(Path(out) / toml.parent.name, force=force) for toml in tomls]
    log.info("%d areas in %s", len(tomls), folder)
    if client is None:
        entries = [plan_area(t, o, options, prepare, write) for t, o in zip(tomls, outs)]
    else:
        futures = [
            client.submit(plan_area, t, o, options, prepare, write, key=f"plan-{o.name}", pure=False)
            for t, o in zip(tomls, outs)
        ]
        if progress if progress is not None else sys.stderr.isatty():
            from distributed import progress as show_progress

            show_progress(futures)
        entries = client.gather(futures)
    combined = {
        "areas": entries,
        "ok": sum(e["status"] == "ok" for e in entries),
        "failed": sum(e["status"] != "ok" for e in entries),
    }
    with atomic_file(Path(out) / "summary.json") as tmp:
        tmp.write_text(json.dumps(combined, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    write_index(Path(out) / "index.html", entries)
    return combined


def _headline(summary: dict[str, Any]) -> str:
    """Coverage per tier for everyone, e.g. ``中心 center 95.1% · 服务站 station 80.0%`` (未评估 without tiers)."""
    residents = summary.get("residents") or {}
    tiers = residents.get("tiers") or {}
    profiles = summary.get("rules", {}).get("profiles", {})
    everyone = next((k for k, p in profiles.items() if p.get("group") == "population"), None)
    parts = []
    for key, per_profile in tiers.items():
        figures = per_profile.get(everyone) if everyone else None
        if isinstance(figures, dict) and figures.get("covered_share") is not None:
            parts.append(f"{key} {100 * figures['covered_share']:.1f}%")
    return " · ".join(parts) if parts else "未评估 not assessed"


def write_index(path: Path, entries: list[dict[str, Any]]) -> None:
    """``index.html``: one row per area, linking its report and map (Chinese first, English after)."""
    rows = []
    for e in entries:
        folder = html.escape(e["folder"])
        if e["status"] != "ok":
            rows.append(
                f"<tr><td>{folder}</td><td>失败 failed</td><td colspan='3'>{html.escape(e.get('error', ''))}</td></tr>"
            )
            continue
        summary = e["summary"]
        area = summary.get("area", {})
        title = f"{html.escape(area.get('title_zh') or '')}<br><small>{html.escape(area.get('title_en') or '')}</small>"
        outputs = summary.get("outputs", {})
        report = f"<a href='{folder}/report.html'>报告 Report</a>" if outputs.get("report.html") else "—"
        rows.append(
            f"<tr><td>{title}</td><td>完成 ok</td><td>{html.escape(_headline(summary))}</td>"
            f"<td>{report}</td><td><a href='{folder}/map.html'>地图 Map</a></td></tr>"
        )
    page = (
        "<!DOCTYPE html>\n<html lang='zh'><head><meta charset='utf-8'>"
        "<title>十五分钟社区生活圈 · 多区域汇总 | 15-minute life circle: all areas</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em .8em;text-align:left}</style></head><body>"
        "<h1>十五分钟社区生活圈 · 多区域汇总</h1><p>15-minute community life circle: all areas</p>"
        "<table><tr><th>区域 Area</th><th>状态 Status</th><th>步行可达覆盖率 Covered (everyone)</th>"
        "<th>报告 Report</th><th>地图 Map</th></tr>\n" + "\n".join(rows) + "\n</table></body></html>\n"
    )
    with atomic_file(path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def local_client(workers: int | None = None, scheduler: str | None = None, **kwargs: Any) -> Client:
    """A Dask client: on ``scheduler`` (``tcp://host:8786``) when given, else on a new local cluster.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the local cluster (one thread each; default: Dask's choice).
    scheduler : str, optional
        Address of a running scheduler.
    **kwargs
        More options of :class:`distributed.LocalCluster`.

    Returns
    -------
    distributed.Client
        Closing it closes the local cluster it started.
    """
    try:
        from distributed import Client
    except ImportError as exc:  # an optional extra
        msg = "running on Dask needs the dask extra: pip install 'lifecircle[dask]'"
        raise ImportError(msg) from exc
    if scheduler:
        return Client(scheduler)
    opts: dict[str, Any] = {"threads_per_worker": 1, "dashboard_address": ":0", "processes": True}
    if workers is not None:
        opts["n_workers"] = workers
    client = Client(**(opts | kwargs))  # the client starts the cluster and closes it with itself
    log.info(
        "Dask local cluster: %d workers; dashboard %s", len(client.scheduler_info()["workers"]), client.dashboard_link
    )
    return client
