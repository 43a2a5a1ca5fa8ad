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
from .positions import check_list_crs
from .settings import FacilitiesSettings, ServiceSettings
from .straight_line import StraightLine
from .tables import COLUMN_ALIASES, crs_hint, find_column, read_table
from .tiers import Rules

__all__ = [
    "FacilityError",
    "Problem",
    "area_context",
    "area_facilities",
    "load_facilities",
    "read_facility_table",
    "snap_facilities",
]

log = logging.getLogger(__name__)

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


def read_facility_table(path: str | Path, *, sheet: str | int | None = None) -> tuple[pd.DataFrame, list[int], bool]:
    """Read a facility file into a table, without validation.

    Returns
    -------
    (pandas.DataFrame, list of int, bool)
        The rows; each row's number as the file shows it; and whether coordinates came from
        geometries (then ``lon``/``lat`` columns were filled from them).
    """
    path = Path(path)
    if not path.is_file():
        msg = f"facility file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    suffix = path.suffix.lower()
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
        return df, list(range(2, len(df) + 2)), True
    if suffix in {".csv", ".txt", ".xlsx", ".xlsm"}:
        table = read_table(path, sheet=sheet)
        return table.frame, table.rows, False
    msg = f"{path}: unsupported facility file type {suffix!r}; use CSV, XLSX, GeoJSON or GeoPackage"
    raise InputError(msg, path=path)


def _coordinate_problems(
    df: pd.DataFrame,
    rows: np.ndarray,
    lon_col: str,
    lat_col: str,
    from_geometry: bool,
    lon: np.ndarray,
    lat: np.ndarray,
) -> list[Problem]:
    problems = []
    for i in range(len(df)):
        if from_geometry and df["_geometry_type"].iloc[i] != "Point":
            kind = df["_geometry_type"].iloc[i]
            problems.append(Problem(int(rows[i]), "geometry", f"{kind} geometry; a facility must be a point"))
            continue
        for values, raw_col, parsed in ((df[lon_col], lon_col, lon), (df[lat_col], lat_col, lat)):
            if not np.isfinite(parsed[i]):
                raw = values.iloc[i]
                reason = "missing" if str(raw).strip() in {"", "nan"} else f"{raw!r} is not a number"
                problems.append(Problem(int(rows[i]), raw_col, reason))
        if np.isfinite(lon[i]) and np.isfinite(lat[i]):
            where = f"{lon_col}/{lat_col}"
            if abs(lat[i]) > 90 and abs(lon[i]) <= 90:
                problems.append(
                    Problem(
                        int(rows[i]),
                        where,
                        f"lat {lat[i]:g} is outside -90..90 and lon {lon[i]:g} "
                        "would fit: longitude and latitude look swapped",
                    )
                )
            elif abs(lon[i]) > 180 or abs(lat[i]) > 90:
                problems.append(
                    Problem(int(rows[i]), where, f"({lon[i]:g}, {lat[i]:g}) is outside the valid range of degrees")
                )
    return problems


def load_facilities(
    path: str | Path,
    tiers: Iterable[str] | Rules,
    *,
    crs: str | None = None,
    skip_invalid: bool = False,
    default_tier: str | None = None,
    service: str | None = None,
    sheet: str | int | None = None,
    log_skipped: bool = True,
) -> gpd.GeoDataFrame:
    """Read and validate a facility list: Chinese or English headers, any common encoding, Excel title rows.

    Parameters
    ----------
    path : str or pathlib.Path
        CSV, XLSX, GeoJSON or GeoPackage file (headers: see :data:`planner.tables.COLUMN_ALIASES`).
    tiers : Rules or iterable of str
        The tiers a row may name. With :class:`~planner.tiers.Rules`, tier cells may also use the tiers'
        Chinese names and aliases (服务站, 服务点, 社区服务中心 …) and service cells the services' names.
    crs : {"wgs84", "gcj02", "bd09"}, optional
        Coordinate system of the whole file; a ``crs`` column overrides it per row. When not given, a
        coordinate header that names its system (``lon_gcj02``, ``高德经度``) decides, else WGS-84. A header
        naming another system than ``crs`` is an error.
    skip_invalid : bool, default False
        Leave out bad rows instead of raising (each is logged once when ``log_skipped``).
    default_tier : str, optional
        Tier of every row when the file has no tier column.
    service : str, optional
        The list is of one service with no tier (e.g. 社区卫生服务中心 for ``health``): rows get an empty tier
        and this service.
    sheet : str or int, optional
        Excel sheet (default: the first).
    log_skipped : bool, default True
        Log each skipped row (``area init`` reports them itself).

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4326 with ``facility_id``, ``name``, ``tier``, ``services`` (list of str), ``address``,
        ``source_crs``, ``source_row`` and the file's other columns; ``attrs["problems"]`` lists skipped rows.

    Raises
    ------
    FacilityError
        Listing every bad row once, unless ``skip_invalid``.
    """
    path = Path(path)
    rules = tiers if isinstance(tiers, Rules) else None
    tier_keys = tuple(t.key for t in tiers.tiers) if isinstance(tiers, Rules) else tuple(tiers)
    df, row_numbers, from_geometry = read_facility_table(path, sheet=sheet)
    n = len(df)
    rows = np.asarray(row_numbers, dtype=np.int64)
    if n == 0:
        msg = f"{path}: the facility list has no rows"
        raise InputError(msg, path=path)
    columns = [str(c) for c in df.columns]
    problems: list[Problem] = []

    tier_col = find_column(columns, "tier")
    if service is not None:
        tier = pd.Series([""] * n, index=df.index)
    else:
        if tier_col is None and default_tier is not None:
            df = df.assign(tier=default_tier)
            tier_col = "tier"
        if tier_col is None:
            msg = (
                f"{path}: no tier column (looked for {', '.join(COLUMN_ALIASES['tier'])}; columns are: "
                f"{', '.join(columns)}); a list of one service without tiers goes in [services.<key>] file"
            )
            raise InputError(msg, path=path, field="tier")
        cells = df[tier_col].astype(str).str.strip()
        keys = cells.map(
            lambda v: (
                (rules.tier_named(v) if rules else None)
                or (v.lower() if v.lower() in tier_keys or v.lower() == "any" else None)
            )
        )
        tier = keys.fillna("")
        for bad in np.flatnonzero(keys.isna().to_numpy()):
            value = cells.iloc[bad]
            shown = "missing" if value == "" else f"{value!r} is not a known tier"
            problems.append(Problem(int(rows[bad]), tier_col, f"{shown} (known: {', '.join(tier_keys)})"))

    lon_col = "lon" if from_geometry else find_column(columns, "lon")
    lat_col = "lat" if from_geometry else find_column(columns, "lat")
    if lon_col is None or lat_col is None:
        msg = (
            f"{path}: no longitude/latitude columns (looked for {', '.join(COLUMN_ALIASES['lon'])} / "
            f"{', '.join(COLUMN_ALIASES['lat'])}; columns are: {', '.join(columns)})"
        )
        raise InputError(msg, path=path, field="lon/lat")
    hint = None if from_geometry else (crs_hint(lon_col) or crs_hint(lat_col))
    if hint and crs and normalise_crs_name(crs) != hint:
        msg = (
            f"{path}: the coordinate columns {lon_col!r}/{lat_col!r} say {hint.upper()}, but the list is "
            f'declared {normalise_crs_name(crs).upper()}; fix the declaration (crs = "{hint}") or the headers'
        )
        raise InputError(msg, path=path, field=lon_col)
    lon = pd.to_numeric(df[lon_col], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df[lat_col], errors="coerce").to_numpy(dtype=float)
    problems += _coordinate_problems(df, rows, lon_col, lat_col, from_geometry, lon, lat)

    crs_col = find_column(columns, "crs")
    source_crs = np.full(n, normalise_crs_name(crs or hint or "wgs84"), dtype=object)
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

    id_col = find_column(columns, "facility_id")
    fallback = pd.Series([f"F{r - 1:05d}" for r in rows], index=df.index)
    ids = df[id_col].astype(str).str.strip() if id_col is not None else fallback
    empty_id = ids.isin(["", "nan"])
    ids = ids.where(~empty_id, fallback)
    dup = ids.duplicated(keep=False) & ~empty_id
    for r, value in zip(rows[dup.to_numpy()], ids[dup]):
        problems.append(Problem(int(r), id_col or "id", f"facility id {value!r} is used more than once"))

    if problems and not skip_invalid:
        raise FacilityError(path, problems)
    bad_rows = {p.row for p in problems}
    if log_skipped:
        for p in problems:
            log.warning("%s: skipped %s", path.name, p)
    keep = np.array([r not in bad_rows for r in rows], dtype=bool)

    wlon, wlat = lon.copy(), lat.copy()
    for key in CRS_NAMES[1:]:
        sel = keep & (source_crs == key)
        if sel.any():
            wlon[sel], wlat[sel] = to_wgs84(lon[sel], lat[sel], key)

    name_col = find_column(columns, "name")
    services_col = find_column(columns, "services")
    address_col = find_column(columns, "address")
    out = df.drop(columns=[c for c in ("_geometry_type",) if c in df.columns]).copy()
    out["facility_id"] = ids
    out["name"] = df[name_col].astype(str) if name_col is not None else ids
    out["tier"] = tier.to_numpy()
    out["address"] = df[address_col].astype(str) if address_col is not None else ""
    listed = [
        [s.strip() for s in _SERVICE_SPLIT.split(str(v)) if s.strip()] if services_col else []
        for v in (df[services_col] if services_col else [""] * n)
    ]
    out["services"] = [
        list(
            dict.fromkeys(
                [
                    *(((rules.service_named(s) if rules else None) or s.lower()) for s in items),
                    *([service] if service else []),
                ]
            )
        )
        for items in listed
    ]
    out["source_crs"] = source_crs
    out["source_lon"], out["source_lat"] = lon, lat
    out["source_row"] = rows
    out = out[keep]
    gdf = gpd.GeoDataFrame(out, geometry=gpd.points_from_xy(wlon[keep], wlat[keep]), crs="EPSG:4326")
    gdf.attrs["source"] = str(path)
    gdf.attrs["skipped_rows"] = sorted(bad_rows)
    gdf.attrs["problems"] = [str(p) for p in problems]
    lead = ["facility_id", "name", "tier", "services", "address", "source_crs", "source_row"]
    return gdf[lead + [c for c in gdf.columns if c not in lead]].reset_index(drop=True)


def snap_facilities(
    facilities: gpd.GeoDataFrame,
    network: WalkNetwork,
    *,
    max_snap_m: float = 300.0,
    skip_invalid: bool = False,
    skip_outside: bool = False,
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
    skip_outside : bool, default False
        Leave out, and count, facilities far from every street that lie outside the network's outline (a
        district's list reaching beyond the street extract) instead of treating them as problems.

    Returns
    -------
    geopandas.GeoDataFrame
        With ``edge``, ``t`` and ``snap_m`` columns. Facilities far from every street *and* outside the
        network's outline are left out with ``skip_outside`` (``attrs["outside_area"]`` names them).
    """
    x, y = facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy()
    snap = network.snap(x, y)
    # a district's list often reaches beyond the street extract: those rows are left out and counted, not errors
    outside = (snap.offset_m > max_snap_m) & ~shapely.contains_xy(network.boundary_wgs84(), x, y) & skip_outside
    if outside.any():
        log.info(
            "%s: %d of %d facilities lie outside the study area's streets and are left out",
            Path(str(facilities.attrs.get("source", "facilities"))).name,
            int(outside.sum()),
            len(facilities),
        )
    far = (snap.offset_m > max_snap_m) & ~outside
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
    out = out[~far & ~outside].reset_index(drop=True)
    out.attrs = dict(facilities.attrs)
    out.attrs["outside_area"] = facilities.loc[outside, "name"].astype(str).tolist()
    return out


def place_without_streets(
    facilities: gpd.GeoDataFrame, model: StraightLine, *, max_snap_m: float = 300.0, skip_outside: bool = False
) -> gpd.GeoDataFrame:
    """Keep facilities where no street network is known: those within ``max_snap_m`` of the area's outline.

    The counterpart of :func:`snap_facilities` for a straight-line estimate: a facility farther than
    ``max_snap_m`` from the outline is outside the area (left out and counted with ``skip_outside``, else a
    problem). ``edge`` is -1 (no street), ``t`` NaN and ``snap_m`` the metres to the outline (0 inside).
    """
    x, y = model.project(facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
    outline = gpd.GeoSeries([model.boundary_wgs84()], crs="EPSG:4326").to_crs(model.crs).iloc[0]
    away = shapely.distance(outline, shapely.points(x, y))
    far = away > max_snap_m
    outside = far & skip_outside
    if far.any() and not skip_outside:
        problems = [
            Problem(int(r), "location", f"{d:,.0f} m outside the study area (limit {max_snap_m:g} m)")
            for r, d in zip(facilities["source_row"][far], away[far])
        ]
        raise FacilityError(facilities.attrs.get("source", "facilities"), problems)
    out = facilities.copy()
    out["edge"], out["t"], out["snap_m"] = -1, np.nan, away
    out = out[~outside].reset_index(drop=True)
    out.attrs = dict(facilities.attrs)
    out.attrs["outside_area"] = facilities.loc[outside, "name"].astype(str).tolist()
    return out


def area_facilities(
    area: StudyArea, network: WalkNetwork | StraightLine, rules: Rules, *, skip_invalid: bool = False
) -> gpd.GeoDataFrame:
    """Every facility list of a study area, validated, position-checked and snapped to its walk network.

    The lists are ``[facilities] file`` (facilities by tier) and each ``[services.<key>] file`` (facilities of
    one service with no tier, e.g. the district's 社区卫生服务中心). Before snapping, each list's coordinate
    system is checked against the streets its rows name (:func:`planner.positions.check_list_crs`).

    Parameters
    ----------
    area : StudyArea
    network : WalkNetwork or StraightLine
        The walk network; or, for a straight-line estimate, its frame (then no list's coordinate system can be
        checked against streets: each list's ``crs`` is taken as given, and said so).
    rules : Rules
        The tiers and services a row may name.
    skip_invalid : bool, default False
        Leave out bad rows (logged) instead of raising :class:`FacilityError`.

    Returns
    -------
    geopandas.GeoDataFrame
        See :func:`snap_facilities`; with ``list`` (``facilities`` or ``services.<key>``) and ``illustrative``.
    """
    lists: list[tuple[str, FacilitiesSettings | ServiceSettings, str | None]] = []
    if area.settings.facilities is not None:
        lists.append(("facilities", area.settings.facilities, None))
    lists += [(f"services.{key}", spec, key) for key, spec in area.settings.services.items() if spec.file is not None]
    if not lists:
        msg = f"{area.file}: no facility list: set [facilities] file, or a [services.<key>] file"
        raise ConfigError(msg, path=area.file, key="facilities.file")
    parts = []
    for name, spec, service in lists:
        assert spec.file is not None
        path = area.path(spec.file)
        fac = load_facilities(path, rules, crs=spec.crs, skip_invalid=skip_invalid, service=service, sheet=spec.sheet)
        kinds = set(fac["source_crs"])
        if isinstance(network, StraightLine):
            log.warning("%s: no street network, so its coordinate system (%s) is taken as given", path.name, kinds)
            fac = place_without_streets(
                fac, network, max_snap_m=spec.max_snap_m, skip_outside=spec.outside_area == "skip"
            )
        elif len(fac) and len(kinds) == 1 and not spec.trust_crs:
            check_list_crs(
                network,
                fac["source_lon"].to_numpy(float),
                fac["source_lat"].to_numpy(float),
                fac["address"],
                kinds.pop(),
                path,
            )
        if isinstance(network, WalkNetwork):
            fac = snap_facilities(
                fac,
                network,
                max_snap_m=spec.max_snap_m,
                skip_invalid=skip_invalid,
                skip_outside=spec.outside_area == "skip",
            )
        fac["list"] = name
        # where upstream geocoding looks wrong (street_far, district_mismatch, shared_point); "" when not flagged
        flags = fac["position_flag"] if "position_flag" in fac.columns else pd.Series("", index=fac.index)
        fac["position_flag"] = flags.fillna("").astype(str).replace("nan", "")
        fac["illustrative"] = spec.illustrative
        parts.append(fac)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326")
    out.attrs = {
        "source": str(area.path(lists[0][1].file or "")),
        "sources": {name: str(area.path(spec.file or "")) for name, spec, _ in lists},
        "skipped_rows": [r for part in parts for r in part.attrs.get("skipped_rows", [])],
        # per list: rows read, rows outside the study area's streets, flagged positions, note, illustrative
        "lists": {
            name: {
                "file": Path(str(spec.file)).name,
                "rows_in_area": len(part),
                "outside_area": len(part.attrs.get("outside_area", [])),
                "position_flagged": int((part["position_flag"] != "").sum()),
                "illustrative": bool(spec.illustrative),
                "crs_checked": isinstance(network, WalkNetwork) and not spec.trust_crs,
                "note": spec.note,
                "note_en": spec.note_en,
            }
            for (name, spec, _), part in zip(lists, parts)
        },
    }
    return out


def area_context(area: StudyArea) -> dict[str, gpd.GeoDataFrame]:
    """The area's ``[context.<key>]`` layers (hospitals, 120 stations): read and converted to WGS-84, not snapped.

    Rows with bad coordinates are left out (logged); each layer's ``attrs`` hold its names, source and licence.
    """
    out = {}
    for key, spec in area.settings.context.items():
        layer = load_facilities(
            area.path(spec.file), ["context"], crs=spec.crs, default_tier="context", skip_invalid=True
        )
        if "position_flag" in layer.columns:
            layer["position_flag"] = layer["position_flag"].fillna("").astype(str).replace("nan", "")
        layer.attrs.update(
            {
                "name_zh": spec.name_zh or key,
                "name_en": spec.name_en or key,
                "source": spec.source or str(spec.file),
                "licence": spec.licence,
            }
        )
        out[key] = layer.drop(columns=["tier", "services"])
    return out
