"""Facility inventories: reading, validating and snapping to the walk network.

A facility file is a CSV, GeoJSON or GeoPackage with one row per facility and
at least a ``tier`` column. CSV files give coordinates in ``lon``/``lat``
columns (``lng``, ``longitude``, ``x`` / ``latitude``, ``y`` also work);
spatial files give point geometries. Coordinates may be WGS-84, GCJ-02 or
BD-09: a ``crs`` column (per row) or the ``crs`` option (whole file) says
which, and everything is converted to WGS-84.

Problems are collected for every row and reported together, by row number
(as a spreadsheet shows it: the header is row 1) and reason.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .area import StudyArea
from .coords import CRS_NAMES, normalise_crs_name, to_wgs84
from .errors import ConfigError, InputError, InputFileNotFound, Problem
from .network import WalkNetwork
from .tiers import Rules

__all__ = ["FacilityError", "Problem", "area_facilities", "load_facilities", "read_facility_table", "snap_facilities"]

log = logging.getLogger(__name__)

_LON_NAMES = ("lon", "lng", "longitude", "long", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")
_SERVICE_SPLIT = re.compile(r"[;；,，、|]\s*")


class FacilityError(InputError):
    """A facility file has problems; ``problems`` lists them all."""

    def __init__(self, path: str | Path, problems: list[Problem]):
        self.path = str(path)
        self.problems = problems
        shown = "\n  ".join(str(p) for p in problems[:25])
        more = f"\n  ... and {len(problems) - 25} more" if len(problems) > 25 else ""
        msg = (
            f"{self.path}: {len(problems)} problem(s) in the facility list:\n  {shown}{more}\n"
            "Fix the rows, or pass skip_invalid=True (--skip-invalid-facilities) to leave them out."
        )
        super().__init__(msg, path=path)


def _find_column(columns: Iterable[str], names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for name in names:
        if name in lower:
            return lower[name]
    return None


def read_facility_table(path: str | Path) -> tuple[pd.DataFrame, bool]:
    """Read a facility file into a table, without validation.

    Returns
    -------
    (pandas.DataFrame, bool)
        The rows, and whether coordinates came from geometries (in which case
        ``lon``/``lat`` columns were filled from them).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"facility file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt"}:
        try:
            df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            msg = f"{path}: not a readable UTF-8 CSV ({exc})"
            raise InputError(msg, path=path) from None
        return df, False
    if suffix in {".xlsx", ".xls"}:
        try:
            df = pd.read_excel(path, dtype=str).fillna("")
        except ImportError:
            msg = f"{path}: reading Excel needs openpyxl (pip install openpyxl), or save the sheet as CSV"
            raise InputError(msg, path=path) from None
        return df, False
    if suffix in {".geojson", ".json", ".gpkg", ".shp"}:
        try:
            gdf = gpd.read_file(path)
        except Exception as exc:  # noqa: BLE001 - pyogrio raises several error types for unreadable files
            msg = f"{path}: not a readable spatial file ({exc})"
            raise InputError(msg, path=path) from None
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326") and gdf.crs.is_projected:
            gdf = gdf.to_crs("EPSG:4326")
        geom = gdf.geometry
        is_point = geom.geom_type == "Point"
        df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        df["lon"] = np.where(is_point, shapely.get_x(geom.values), np.nan)
        df["lat"] = np.where(is_point, shapely.get_y(geom.values), np.nan)
        df["_geometry_type"] = geom.geom_type.fillna("missing").to_numpy()
        return df, True
    msg = f"{path}: unsupported facility file type {suffix!r}; use CSV, XLSX, GeoJSON or GeoPackage"
    raise InputError(msg, path=path)


def load_facilities(
    path: str | Path,
    tiers: Iterable[str],
    *,
    crs: str | None = None,
    skip_invalid: bool = False,
    default_tier: str | None = None,
) -> gpd.GeoDataFrame:
    """Read and validate a facility inventory.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV, XLSX, GeoJSON or GeoPackage file.
    tiers : iterable of str
        Known tier keys.
    crs : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of the whole file; a ``crs`` column overrides it per
        row. Default WGS-84.
    skip_invalid : bool, default False
        Leave out bad rows (logging each) instead of raising.
    default_tier : str, optional
        Tier of every row when the file has no tier column (otherwise the column is required).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326 with ``facility_id``, ``name``, ``tier``, ``services``
        (list of str), ``source_crs``, ``source_row`` and any other columns.

    Raises
    ------
    FacilityError
        Listing every bad row, unless ``skip_invalid``.
    """
    path = Path(path)
    tiers = tuple(tiers)
    df, from_geometry = read_facility_table(path)
    problems: list[Problem] = []
    n = len(df)
    rows = np.arange(n) + 2  # spreadsheet row numbers: the header is row 1
    if n == 0:
        msg = f"{path}: the facility list has no rows"
        raise InputError(msg, path=path)

    tier_col = _find_column(df.columns, ("tier", "level", "层级"))
    if tier_col is None and default_tier is not None:
        df = df.assign(tier=default_tier)
        tier_col = "tier"
    if tier_col is None:
        msg = f"{path}: no 'tier' column (columns are: {', '.join(map(str, df.columns))})"
        raise InputError(msg, path=path)
    lon_col = "lon" if from_geometry else _find_column(df.columns, _LON_NAMES)
    lat_col = "lat" if from_geometry else _find_column(df.columns, _LAT_NAMES)
    if lon_col is None or lat_col is None:
        msg = (
            f"{path}: no longitude/latitude columns (looked for {', '.join(_LON_NAMES)} / "
            f"{', '.join(_LAT_NAMES)}; columns are: {', '.join(map(str, df.columns))})"
        )
        raise InputError(msg, path=path)

    tier = df[tier_col].astype(str).str.strip().str.lower()
    bad_tier = ~tier.isin(tiers)
    for r, value in zip(rows[bad_tier.to_numpy()], df.loc[bad_tier, tier_col]):
        shown = "missing" if str(value).strip() == "" else f"{value!r} is not a known tier"
        problems.append(Problem(int(r), "tier", f"{shown} (known: {', '.join(tiers)})"))

    lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
    for i in range(n):
        raw_lon, raw_lat = df[lon_col].iloc[i], df[lat_col].iloc[i]
        if from_geometry and df["_geometry_type"].iloc[i] != "Point":
            problems.append(
                Problem(
                    int(rows[i]), "geometry", f"{df['_geometry_type'].iloc[i]} geometry; a facility must be a point"
                )
            )
            continue
        if not np.isfinite(lon[i]):
            problems.append(
                Problem(
                    int(rows[i]),
                    lon_col,
                    "missing" if str(raw_lon).strip() in {"", "nan"} else f"{raw_lon!r} is not a number",
                )
            )
        if not np.isfinite(lat[i]):
            problems.append(
                Problem(
                    int(rows[i]),
                    lat_col,
                    "missing" if str(raw_lat).strip() in {"", "nan"} else f"{raw_lat!r} is not a number",
                )
            )
        if np.isfinite(lon[i]) and np.isfinite(lat[i]):
            if abs(lat[i]) > 90 and abs(lon[i]) <= 90:
                problems.append(
                    Problem(
                        int(rows[i]),
                        f"{lon_col}/{lat_col}",
                        f"lat {lat[i]:g} is outside -90..90 and lon {lon[i]:g} would fit: "
                        "longitude and latitude look swapped",
                    )
                )
            elif abs(lon[i]) > 180 or abs(lat[i]) > 90:
                problems.append(
                    Problem(
                        int(rows[i]),
                        f"{lon_col}/{lat_col}",
                        f"({lon[i]:g}, {lat[i]:g}) is outside the valid range of degrees",
                    )
                )

    crs_col = _find_column(df.columns, ("crs", "coord_system", "坐标系"))
    default_crs = normalise_crs_name(crs or "wgs84")
    source_crs = np.full(n, default_crs, dtype=object)
    if crs_col is not None:
        for i, value in enumerate(df[crs_col].astype(str)):
            if value.strip() in {"", "nan"}:
                continue
            try:
                source_crs[i] = normalise_crs_name(value)
            except ValueError:
                problems.append(
                    Problem(int(rows[i]), crs_col, f"{value!r} is not a coordinate system ({', '.join(CRS_NAMES)})")
                )

    id_col = _find_column(df.columns, ("facility_id", "id", "编号"))
    ids = (
        df[id_col].astype(str).str.strip()
        if id_col is not None
        else pd.Series([f"F{r - 1:05d}" for r in rows], index=df.index)
    )
    empty_id = ids.isin(["", "nan"])
    ids = ids.where(~empty_id, pd.Series([f"F{r - 1:05d}" for r in rows], index=df.index))
    dup = ids.duplicated(keep=False) & ~empty_id
    for r, value in zip(rows[dup.to_numpy()], ids[dup]):
        problems.append(Problem(int(r), id_col or "id", f"facility id {value!r} is used more than once"))

    if problems and not skip_invalid:
        raise FacilityError(path, problems)
    bad_rows = {p.row for p in problems}
    for p in problems:
        log.warning("%s: skipped %s", path.name, p)
    keep = np.array([r not in bad_rows for r in rows])

    wlon = lon.copy()
    wlat = lat.copy()
    for key in CRS_NAMES[1:]:
        sel = keep & (source_crs == key)
        if sel.any():
            wlon[sel], wlat[sel] = to_wgs84(lon[sel], lat[sel], key)

    name_col = _find_column(df.columns, ("name", "名称"))
    services_col = _find_column(df.columns, ("services", "service", "服务"))
    out = df.drop(columns=[c for c in ("_geometry_type",) if c in df.columns]).copy()
    out["facility_id"] = ids
    out["name"] = df[name_col].astype(str) if name_col is not None else ids
    out["tier"] = tier
    out["services"] = [
        [s.strip().lower() for s in _SERVICE_SPLIT.split(str(v)) if s.strip()] if services_col else []
        for v in (df[services_col] if services_col else [""] * n)
    ]
    out["source_crs"] = source_crs
    out["source_row"] = rows
    out = out[keep]
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(wlon[keep], wlat[keep]), crs="EPSG:4326")
    gdf.attrs["source"] = str(path)
    gdf.attrs["skipped_rows"] = sorted(bad_rows)
    lead = ["facility_id", "name", "tier", "services", "source_crs", "source_row"]
    return gdf[lead + [c for c in gdf.columns if c not in lead]].reset_index(drop=True)


def snap_facilities(
    facilities: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    max_snap_m: float = 300.0,
    skip_invalid: bool = False,
) -> gpd.GeoDataFrame:
    """Attach each facility to its nearest street edge, rejecting ones far from any street.

    Parameters
    ----------
    facilities : geopandas.GeoDataFrame
        From :func:`load_facilities`.
    network : WalkNetwork
    max_snap_m : float, default 300
        A facility farther than this from every walkable street is a problem
        (a wrong coordinate system, a point outside the study area).
    skip_invalid : bool, default False
        Leave such facilities out (logged) instead of raising.

    Returns
    -------
    geopandas.GeoDataFrame
        With ``edge``, ``t`` and ``snap_m`` columns.
    """
    snap = network.snap(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
    far = snap.offset_m > max_snap_m
    problems = [
        Problem(
            int(r),
            "location",
            f"({x:.6f}, {y:.6f}) is {d:,.0f} m from the nearest walkable street "
            f"(limit {max_snap_m:g} m): outside the study area, or in another coordinate system?",
        )
        for r, x, y, d in zip(
            facilities["source_row"][far], facilities.geometry.x[far], facilities.geometry.y[far], snap.offset_m[far]
        )
    ]
    if problems and not skip_invalid:
        raise FacilityError(facilities.attrs.get("source", "facilities"), problems)
    for p in problems:
        log.warning("skipped facility %s", p)
    out = facilities.copy()
    out["edge"] = snap.edge
    out["t"] = snap.t
    out["snap_m"] = snap.offset_m
    out = out[~far].reset_index(drop=True)
    out.attrs = dict(facilities.attrs)
    return out


def area_facilities(
    area: StudyArea, network: WalkNetwork, rules: Rules, *, skip_invalid: bool = False
) -> gpd.GeoDataFrame:
    """The study area's facility list, validated and snapped to its walk network.

    Parameters
    ----------
    area : StudyArea
    network : WalkNetwork
    rules : Rules
        The tiers a row may name.
    skip_invalid : bool, default False
        Leave out bad rows (logged) instead of raising :class:`FacilityError`.

    Returns
    -------
    geopandas.GeoDataFrame
        See :func:`snap_facilities`; with ``illustrative`` from the area's settings.
    """
    cfg = area.settings.facilities
    if cfg is None:
        msg = f"{area.file}: [facilities] file is not set"
        raise ConfigError(msg, path=area.file, key="facilities.file")
    facilities = load_facilities(
        area.path(cfg.file), [t.key for t in rules.tiers], crs=cfg.crs, skip_invalid=skip_invalid
    )
    facilities = snap_facilities(facilities, network, max_snap_m=cfg.max_snap_m, skip_invalid=skip_invalid)
    facilities["illustrative"] = cfg.illustrative
    return facilities
