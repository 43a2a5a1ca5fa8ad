"""GeoJSON answers: WGS-84 coordinates rounded to 6 decimals, NaN as null, lists as arrays, foreign members."""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
from fastapi.responses import Response

from .reach import round_geometries

MEDIA_TYPE = "application/geo+json"


def feature_collection(gdf: gpd.GeoDataFrame, **members: Any) -> Response:
    """``gdf`` (EPSG:4326) as a FeatureCollection, with ``members`` (e.g. ``total``) beside ``features``."""
    gdf = gdf.copy()
    gdf[gdf.geometry.name] = gpd.GeoSeries(round_geometries(gdf.geometry.to_numpy()), index=gdf.index, crs=gdf.crs)
    body = gdf.to_geo_dict(na="null", drop_id=True)
    body.update(members)
    return Response(json.dumps(body, ensure_ascii=False, allow_nan=False), media_type=MEDIA_TYPE)
