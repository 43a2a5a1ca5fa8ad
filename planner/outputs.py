"""Writing a run's results: the GeoPackage layers and the JSON summary."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd

__all__ = ["OUTPUT_FILES", "layer_descriptions", "prepare_output_dir", "write_geopackage", "write_summary"]

log = logging.getLogger(__name__)

#: Files a plan run writes into its output folder.
OUTPUT_FILES = ("plan.gpkg", "summary.json", "report.html", "map.html")


def prepare_output_dir(out: str | Path, *, force: bool = False) -> Path:
    """Create the output folder, refusing to overwrite a run's results unless ``force``.

    Only the files a run writes (:data:`OUTPUT_FILES`) are replaced with
    ``force``; anything else in the folder is left alone.

    Raises
    ------
    FileExistsError
        When the folder already holds results and ``force`` is False.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        msg = f"output path {out} exists and is not a folder"
        raise FileExistsError(msg)
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not force:
        msg = (f"output folder {out} already holds {', '.join(existing)}; "
               "choose another --out or pass --force to replace them")
        raise FileExistsError(msg)
    out.mkdir(parents=True, exist_ok=True)
    for name in existing:
        (out / name).unlink()
    return out


def _gpkg_ready(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lists become ``;``-joined text, since GeoPackage columns hold scalars."""
    out = gdf.copy()
    for col in out.columns:
        if col != out.geometry.name and out[col].map(lambda v: isinstance(v, (list, tuple))).any():
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
    streets = (f"walking distances on OpenStreetMap streets ({net.get('source')}, data of "
               f"{net.get('osm_timestamp') or 'unknown date'}; {net.get('licence')})")
    fac = summary["facilities"]
    fac_text = (f"facilities from {Path(str(fac.get('source'))).name}"
                + ("; ILLUSTRATIVE: not real positions" if fac.get("illustrative") else ""))
    res = summary.get("residents") or {}
    note = population_note or ""
    estimate = note if "ESTIMATE" in note.upper() else ("ESTIMATE: " + note if note else "ESTIMATE")
    pop_text = (f"population from {Path(str(res.get('source'))).name} ({estimate}); elderly share assumed "
                f"{res.get('elderly_share_assumed')}") if res else "no population"
    return {
        "facilities": fac_text,
        "isochrones": f"computed by lifecircle: {streets}; {fac_text}",
        "service_areas": f"computed by lifecircle: {streets}; {fac_text}",
        "residents": f"{pop_text}, placed on streets; {streets}; {fac_text}",
        "units": f"aggregated residents: {pop_text}; {fac_text}",
        "candidates": f"proposed sites computed by lifecircle (location-allocation): {streets}; {pop_text}",
    }


def write_geopackage(path: str | Path, layers: dict[str, gpd.GeoDataFrame],
                     descriptions: dict[str, str] | None = None) -> None:
    """Write several GeoDataFrames as layers of one GeoPackage.

    Each layer's description (shown by QGIS and in ``gpkg_contents``) says where it comes
    from, and a ``layer_sources`` table repeats them for tools that do not show descriptions.
    """
    import pandas as pd
    import pyogrio

    path = Path(path)
    descriptions = descriptions or {}
    for name, gdf in layers.items():
        options = {"DESCRIPTION": descriptions[name]} if name in descriptions else None
        pyogrio.write_dataframe(_gpkg_ready(gdf), path, layer=name, driver="GPKG", layer_options=options)
        log.info("wrote layer %s (%d features) to %s", name, len(gdf), path)
    if descriptions:
        table = pd.DataFrame({"layer": list(layers), "source": [descriptions.get(n, "") for n in layers]})
        pyogrio.write_dataframe(table, path, layer="layer_sources", driver="GPKG")


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    """Write the run summary as pretty UTF-8 JSON."""
    Path(path).write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
