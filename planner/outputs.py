"""Writing a run's results: the GeoPackage layers and the JSON summary."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import geopandas as gpd

__all__ = ["OUTPUT_FILES", "prepare_output_dir", "write_geopackage", "write_summary"]

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


def write_geopackage(path: str | Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Write several GeoDataFrames as layers of one GeoPackage."""
    path = Path(path)
    for name, gdf in layers.items():
        _gpkg_ready(gdf).to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        log.info("wrote layer %s (%d features) to %s", name, len(gdf), path)


def write_summary(path: str | Path, summary: dict[str, Any]) -> None:
    """Write the run summary as pretty UTF-8 JSON."""
    Path(path).write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
