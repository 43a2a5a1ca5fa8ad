"""Writing a run's results: the GeoPackage layers and the JSON summary."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import geopandas as gpd

from .atomic import FolderSwap, recover
from .errors import OutputError, OutputExistsError
from .forked import Claim, beside, ready

if TYPE_CHECKING:
    from .plan import Plan
    from .scenario import Scenario

__all__ = [
    "OUTPUT_FILES",
    "SCENARIO_FILES",
    "layer_descriptions",
    "plan_layers",
    "prepare_output_dir",
    "write_geopackage",
    "write_outputs",
    "write_scenario_outputs",
    "write_summary",
]

log = logging.getLogger(__name__)

#: Files a plan run writes into its output folder.
OUTPUT_FILES = ("plan.gpkg", "summary.json", "report.html", "map.html", "lists.xlsx", "report.pdf")


def prepare_output_dir(out: str | Path, *, force: bool = False, files: tuple[str, ...] | None = None) -> Path:
    """Check where a run's results will go, refusing to replace results unless ``force``. Nothing is deleted.

    The results are written beside the folder and swapped in only when complete (:func:`write_outputs`), so
    a failed or killed run leaves the previous results as they were. Files of the user's own in the folder are
    kept.

    Raises
    ------
    OutputExistsError
        When the folder already holds results and ``force`` is False, or ``out`` is a file.
    OutputError
        When the folder cannot be created or written (permissions, a path under a file).
    """
    out = Path(out)
    files = files or OUTPUT_FILES  # a plan's files, or a what-if's (SCENARIO_FILES)
    recover(out, files)  # finish or undo a replacement a kill interrupted
    if out.exists() and not out.is_dir():
        msg = f"output path {out} exists and is not a folder; choose another --out"
        raise OutputExistsError(msg)
    existing = [name for name in files if (out / name).exists()]
    if existing and not force:
        msg = (
            f"output folder {out} already holds {', '.join(existing)}; "
            "choose another --out or pass --force to replace them (they are replaced only when the new run is complete)"
        )
        raise OutputExistsError(msg)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        msg = f"cannot write results to {out}: {exc.strerror or exc}; choose another --out"
        raise OutputError(msg) from None
    return out


def _gpkg_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lists become ``;``-joined text, since GeoPackage columns hold scalars.

    Only ``object`` columns are looked at: a typed column (numbers, booleans, pandas strings) cannot hold a
    list, and mapping each of the residents' ~30 typed columns row by row cost ~0.4 s.
    """
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name or out[col].dtype != object:
            continue
        if out[col].map(lambda v: isinstance(v, (list, tuple))).any():
            out[col] = out[col].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
    return out


def layer_descriptions(summary: dict[str, Any], population_note: str | None = None) -> dict[str, str]:
    """Where each output layer comes from: sources, dates, licences, and whether it is illustrative or estimated.

    Parameters
    ----------
    summary : dict
        :meth:`planner.plan.Plan.summary`.
    population_note : str, optional
        The study area's note on its population source.
    """
    net = summary["network"]
    streets = (
        f"walking distances on OpenStreetMap streets ({net.get('source')}, data of "
        f"{net.get('osm_timestamp') or 'unknown date'}; {net.get('licence')})"
    )
    fac = summary["facilities"]
    fac_text = f"facilities from {Path(str(fac.get('source'))).name}" + (
        "; ILLUSTRATIVE: not real positions" if fac.get("illustrative") else ""
    )
    res = summary.get("residents") or {}
    note = population_note or ""
    estimate = note if "ESTIMATE" in note.upper() else ("ESTIMATE: " + note if note else "ESTIMATE")
    pop_text = (
        (
            f"population from {Path(str(res.get('source'))).name} ({estimate}); elderly share assumed "
            f"{res.get('elderly_share_assumed')}"
        )
        if res
        else "no population"
    )
    return {
        "facilities": fac_text,
        "isochrones": f"computed by lifecircle: {streets}; {fac_text}",
        "service_areas": f"computed by lifecircle: {streets}; {fac_text}",
        "residents": f"{pop_text}, placed on streets; {streets}; {fac_text}",
        "units": f"aggregated residents: {pop_text}; {fac_text}",
        "candidates": f"proposed sites computed by lifecircle (location-allocation): {streets}; {pop_text}",
    }


def write_geopackage(
    path: str | Path,
    layers: dict[str, gpd.GeoDataFrame],
    descriptions: dict[str, str] | None = None,
    *,
    use_arrow: bool | None = None,
) -> None:
    """Write several GeoDataFrames as layers of one GeoPackage.

    Each layer's description (shown by QGIS and in ``gpkg_contents``) says where it comes
    from, and a ``layer_sources`` table repeats them for tools that do not show descriptions.

    Parameters
    ----------
    path : str or pathlib.Path
    layers : dict of str to geopandas.GeoDataFrame
        Layer name to its rows, written in this order.
    descriptions : dict of str to str, optional
        Layer name to where it comes from.
    use_arrow : bool, optional
        Hand the columns to GDAL through Arrow (about half the time; the same layers, fields and types).
        By default, when pyarrow is installed (an extra, not a base dependency) and GDAL is 3.8 or later;
        otherwise row by row.
    """
    import importlib.util

    import pandas as pd
    import pyogrio

    if use_arrow is None:  # Arrow writes need pyogrio 0.8 and GDAL 3.8
        pyogrio_version = tuple(int(p) for p in pyogrio.__version__.split(".")[:2] if p.isdigit())
        use_arrow = (
            importlib.util.find_spec("pyarrow") is not None
            and pyogrio_version >= (0, 8)
            and pyogrio.__gdal_version__ >= (3, 8, 0)
        )
    arrow = {"use_arrow": True} if use_arrow else {}  # not passed otherwise: pyogrio 0.7 has no such argument
    path = Path(path)
    descriptions = descriptions or {}
    for name, gdf in layers.items():
        options = {"DESCRIPTION": descriptions[name]} if name in descriptions else None
        pyogrio.write_dataframe(_gpkg_ready(gdf), path, layer=name, driver="GPKG", layer_options=options, **arrow)
        log.info("wrote layer %s (%d features) to %s", name, len(gdf), path)
    if descriptions:
        table = pd.DataFrame({"layer": list(layers), "source": [descriptions.get(n, "") for n in layers]})
        pyogrio.write_dataframe(table, path, layer="layer_sources", driver="GPKG", **arrow)


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    """Write the run summary as pretty UTF-8 JSON."""
    Path(path).write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def plan_layers(plan: Plan) -> dict[str, gpd.GeoDataFrame]:
    """The GeoPackage layers of a plan, in order: facilities, isochrones, service areas, candidates,
    residents, units (those the run computed)."""
    import pandas as pd

    layers = {"facilities": plan.facilities.drop(columns=["edge", "t"])}
    if plan.isochrones is not None:
        layers["isochrones"] = plan.isochrones
    if plan.service_areas is not None:
        layers["service_areas"] = plan.service_areas
    if plan.proposals:
        layers["candidates"] = gpd.GeoDataFrame(
            pd.concat([p.sites for p in plan.proposals], ignore_index=True), crs="EPSG:4326"
        )
    if plan.residents is not None:
        layers["residents"] = plan.residents.drop(columns=["edge", "t"])
    if plan.units is not None:
        layers["units"] = plan.units
    return layers


def write_outputs(
    plan: Plan,
    out: Path,
    *,
    basemap: str = "streets",
    embed_assets: bool = True,
    lang: Literal["zh", "en"] = "zh",
    use_cache: bool = True,
) -> dict[str, Any]:
    """Write a plan's report, lists, map, GeoPackage and summary, replacing the folder's results only when all
    are complete (a failure or a kill leaves the previous results untouched).

    Parameters
    ----------
    plan : Plan
    out : pathlib.Path
        From :func:`prepare_output_dir`.
    basemap : str, default "streets"
        See :func:`planner.maps.plan_map`.
    embed_assets : bool, default True
        Inline the map's JavaScript and CSS so it opens offline.
    lang : {"zh", "en"}, default "zh"
        Language of the report.
    use_cache : bool, default True
        Take the report's maps and charts, and its PDF, from the disk cache when the same ones were made before.

    Returns
    -------
    dict
        The summary written to ``summary.json``, with the time each output took.
    """
    return _swapped(
        out,
        OUTPUT_FILES,
        lambda folder: _write_all(
            plan, folder, basemap=basemap, embed_assets=embed_assets, lang=lang, use_cache=use_cache
        ),
    )


def _swapped(out: Path, files: tuple[str, ...], write: Callable[[Path], Any]) -> Any:
    """Run ``write`` on a folder beside ``out`` and swap its ``files`` in only when it finished (an OS error, a
    failure or a kill leaves the previous results as they were)."""
    swap = FolderSwap(out, files)
    try:
        result = write(swap.folder)
        swap.commit()
    except OSError as exc:
        swap.abort()
        msg = f"cannot write results to {out}: {exc.strerror or exc}; the previous results (if any) are unchanged"
        raise OutputError(msg) from None
    except BaseException:
        swap.abort()
        raise
    return result


def _write_map_and_layers(plan: Plan, out: Path, basemap: str, embed_assets: bool, gpkg: Claim) -> dict[str, float]:
    """``map.html``, and ``plan.gpkg`` unless the report's side took it first; the seconds each took."""
    from .maps import plan_map, save_map

    t0 = time.perf_counter()
    save_map(plan_map(plan, basemap=basemap), out / "map.html", embed_assets=embed_assets)
    timings = {"map_s": time.perf_counter() - t0}
    if gpkg.take():
        timings["write_s"] = _write_layers(plan, out)
    return timings


def _write_layers(plan: Plan, out: Path) -> float:
    """``plan.gpkg``; the seconds it took."""
    t0 = time.perf_counter()
    pop = plan.area.settings.population
    write_geopackage(
        out / "plan.gpkg",
        plan_layers(plan),
        layer_descriptions(plan.summary(), (pop.note_en or pop.note) if pop else None),
    )
    return time.perf_counter() - t0


def _write_report_and_lists(
    plan: Plan, out: Path, lang: Literal["zh", "en"], use_cache: bool
) -> tuple[float, str | bool]:
    """``report.html``, ``report.pdf`` and ``lists.xlsx``; the seconds they took and what became of the PDF."""
    from .lists_xlsx import write_lists_xlsx
    from .pdf import prepare_pdf, write_report_pdf
    from .report import render_report

    t0 = time.perf_counter()
    pdf: str | bool = False
    printing = None
    if plan.residents is not None:
        # the printable A4 copy (fonts embedded; WeasyPrint and a Chinese font): its child imports WeasyPrint while
        # the report is drawn here, and lays the report out beside the lists
        printing = ready(prepare_pdf, partial(write_report_pdf, use_cache=use_cache))
        try:
            html = render_report(plan, lang=lang, use_cache=use_cache)
            (out / "report.html").write_text(html, encoding="utf-8")
        except BaseException:
            printing.cancel()
            raise
        printing.give(html, out / "report.pdf")
    try:
        if plan.lists is not None:
            write_lists_xlsx(plan.lists, out / "lists.xlsx")
    except BaseException:
        if printing is not None:
            printing.cancel()
        raise
    if printing is not None:
        try:
            printing.result()
            pdf = True
        except OutputError as exc:  # a missing library or font: the run goes on, and says so
            log.warning("report.pdf not written: %s", exc)
            pdf = f"not written: {exc}"
    return time.perf_counter() - t0, pdf


def _write_all(
    plan: Plan, out: Path, *, basemap: str, embed_assets: bool, lang: Literal["zh", "en"], use_cache: bool
) -> dict[str, Any]:
    timings = dict(plan.timings)
    # the map is written in a forked child while this process writes the report, its PDF and the lists: both cores
    # at work (forked.py; in this process where forking is unavailable). The GeoPackage goes to whichever is free
    # first: the child on a cold run, whose report draws its pictures; this process when they come from the cache.
    gpkg = Claim()
    child = beside(_write_map_and_layers, plan, out, basemap, embed_assets, gpkg)
    try:
        timings["report_s"], pdf = _write_report_and_lists(plan, out, lang, use_cache)
        if gpkg.take():
            timings["write_s"] = _write_layers(plan, out)
    except BaseException:
        child.cancel()
        raise
    timings.update(child.result())
    layers = plan_layers(plan)
    summary = plan.summary()
    summary["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    summary["outputs"] = {
        "plan.gpkg": list(layers),
        "isochrones": 0 if plan.isochrones is None else len(plan.isochrones),
        "service_areas": 0 if plan.service_areas is None else len(plan.service_areas),
        "report.html": plan.residents is not None,
        "report.pdf": pdf,
        "lists.xlsx": plan.lists is not None,
        "map.html": {
            "basemap": basemap,
            "assets_embedded": embed_assets,
            "mb": round((out / "map.html").stat().st_size / 1e6, 2),
        },
    }
    write_summary(out / "summary.json", summary)
    return summary


#: What a what-if run writes (and what ``--force`` may replace).
SCENARIO_FILES = ("scenario.json", "changed_minutes.geojson", "lists.xlsx")


def write_scenario_outputs(scenario: Scenario, out: Path, *, title: str = "") -> dict[str, Any]:
    """Write a what-if's answer: ``scenario.json`` (gains and losses per tier, service, profile and unit, each
    street edit's effect, notes), ``changed_minutes.geojson`` (residents whose minutes changed, before and after)
    and the variant's three lists (``lists.xlsx``). Swapped in whole, like :func:`write_outputs`.

    Returns
    -------
    dict
        What ``scenario.json`` holds.
    """
    from .lists_xlsx import write_lists_xlsx

    units = scenario.unit_change
    names = dict(zip(scenario.base.facilities["facility_id"], scenario.base.facilities["name"].astype(str)))
    data: dict[str, Any] = {
        "title": title,
        "area": scenario.base.area.name,
        "estimate": scenario.plan.estimated,
        "closed": [{"id": i, "name": names.get(i, "")} for i in scenario.closed],
        "opened": [
            {"id": str(r["facility_id"]), "name": str(r.get("name", "")), "tier": str(r["tier"])}
            for _, r in scenario.opened.iterrows()
        ],
        "street_edits": [
            {"edit": e.label, "kind": e.kind, "residents": e.residents, "people": e.people, "elderly": e.elderly}
            for e in scenario.edit_effects
        ],
        "tiers": scenario.change,
        "services": scenario.service_change,
        "units": [] if units is None else units.to_dict(orient="records"),
        "residents_with_changed_minutes": scenario.minutes_changed,
        "notes": list(scenario.notes),
        "notes_en": list(scenario.notes_en),
    }

    def write(folder: Path) -> None:
        write_summary(folder / "scenario.json", data)
        scenario.changed_minutes().to_file(folder / "changed_minutes.geojson", driver="GeoJSON")
        if scenario.lists is not None:
            write_lists_xlsx(scenario.lists, folder / "lists.xlsx")

    _swapped(out, SCENARIO_FILES, write)
    return data
