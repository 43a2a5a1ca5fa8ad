"""The walk network: street segments as arrays, built once and cached.

A :class:`WalkNetwork` holds every walkable street segment between two
consecutive OSM nodes as a straight edge in a metric CRS (the UTM zone of the
study area), walkable in both directions. Keeping segments unsimplified makes
snapping to edges and cutting isochrones at exact points simple and exact.
The adjacency is a symmetric :class:`scipy.sparse.csr_matrix` of metres.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from .cache import cache_dir, file_digest, read_cached, write_cached
from .coords import MetricFrame
from .errors import InputFileNotFound, NetworkError
from .osm import OsmExtract, cache_buildings, read_osm
from .segments import squared_distance
from .snapping import EdgeGrid, Snap, SnapEnds

if TYPE_CHECKING:
    from .edge_index import EdgeIndex

__all__ = ["Snap", "SnapEnds", "WalkNetwork", "load_network", "utm_crs"]

log = logging.getLogger(__name__)

_CACHE_VERSION = "walknet-3"


#: Above this many segments, a few points are snapped through :attr:`WalkNetwork.edge_index` instead of a shapely
#: tree over every segment (a city's network; the default area has some 25,000).
LARGE_NETWORK_EDGES = 200_000
#: ... when they are at most this many (each looks around itself in turn; more take the tree).
FEW_POINTS = 5_000


def utm_crs(lon: float, lat: float) -> str:
    """Return the EPSG code of the WGS-84 UTM zone containing a point, e.g. ``"EPSG:32651"``."""
    zone = int((lon + 180.0) // 6.0) + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


@dataclass
class WalkNetwork(MetricFrame):
    """Walkable street segments of one study area.

    Attributes
    ----------
    x, y : numpy.ndarray
        Node positions in ``crs`` (metres).
    lon, lat : numpy.ndarray
        Node positions in WGS-84.
    osmid : numpy.ndarray of int64
        OSM node ids.
    u, v : numpy.ndarray of int32
        Edge end nodes (each segment once; walkable both ways).
    length : numpy.ndarray of float64
        Edge lengths in metres.
    crs : str
        The metric CRS of ``x``/``y``.
    meta : dict
        Provenance and build report (source file, hash, dates, dropped counts).
    """

    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    osmid: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray
    crs: str
    meta: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_osm_file(
        cls,
        path: str | Path,
        *,
        clip_to_bounds: bool = True,
        min_component_km: float = 2.0,
        keep_fragments: bool = False,
        max_extent_km: float = 150.0,
        extract: OsmExtract | None = None,
    ) -> WalkNetwork:
        """Build the walk network of an OSM XML file (uncached; see :func:`load_network`).

        Parameters
        ----------
        path : str or pathlib.Path
            ``.osm``, ``.osm.bz2`` or ``.osm.gz`` file.
        clip_to_bounds : bool, default True
            Drop segments leaving the file's ``<bounds>`` box when it has one
            (API exports include whole ways that cross the box).
        min_component_km : float, default 2.0
            Connected parts with less street than this are fragments (a
            dangling piece of a clipped way, an isolated courtyard); larger
            parts, such as Pudong across the Huangpu, are kept and reported.
        keep_fragments : bool, default False
            Keep fragments too. Either way their count and size are logged.
        max_extent_km : float, default 150
            Refuse streets spanning more than this (a broken export, nodes at 0/0) before building arrays.
        extract : OsmExtract, optional
            The file as already read (:func:`planner.osm.read_osm`); read here when not given.

        Returns
        -------
        WalkNetwork
        """
        path = Path(path)
        extract = read_osm(path) if extract is None else extract
        net = cls.from_extract(
            extract,
            clip_to_bounds=clip_to_bounds,
            min_component_km=min_component_km,
            keep_fragments=keep_fragments,
            name=path.name,
            max_extent_km=max_extent_km,
        )
        net.meta.update({"source": str(path), "source_name": path.name, "sha256": file_digest(path)})
        return net

    @classmethod
    def from_extract(
        cls,
        extract: OsmExtract,
        *,
        clip_to_bounds: bool = True,
        min_component_km: float = 2.0,
        keep_fragments: bool = False,
        name: str = "OSM extract",
        max_extent_km: float = 150.0,
    ) -> WalkNetwork:
        """Build the walk network from a parsed :class:`~planner.osm.OsmExtract` (at most ``max_extent_km`` across)."""
        pos = extract.positions(extract.way_refs)
        n_ways = len(extract.way_ids)
        which = np.repeat(np.arange(n_ways), np.diff(extract.way_start))
        missing = pos < 0
        refs_missing = int(missing.sum())
        ways_missing = int(np.count_nonzero(np.bincount(which[missing], minlength=n_ways)))
        p, q = pos[:-1], pos[1:]
        pair = (which[:-1] == which[1:]) & (p >= 0) & (q >= 0) & (p != q)  # consecutive nodes of one way
        if ways_missing:
            log.warning(
                "%s: %d ways refer to %d nodes absent from the file (a clipped extract); "
                "their segments touching those nodes were dropped",
                name,
                ways_missing,
                refs_missing,
            )
        a, b = p[pair].astype(np.int64), q[pair].astype(np.int64)
        way = extract.way_ids[which[:-1][pair]].astype(np.int64)

        clipped = 0
        if clip_to_bounds and extract.bounds is not None:
            x0, y0, x1, y1 = extract.bounds
            inside = (extract.lon >= x0) & (extract.lon <= x1) & (extract.lat >= y0) & (extract.lat <= y1)
            keep = inside[a] & inside[b]
            clipped = int((~keep).sum())
            a, b, way = a[keep], b[keep], way[keep]
            if clipped:
                log.info("%s: %d segments outside <bounds> clipped away", name, clipped)
        if len(a) == 0:
            msg = f"{name}: no walkable street segments inside the extract"
            raise NetworkError(msg)
        used = np.unique(np.concatenate([a, b]))
        lon_span = float(extract.lon[used].max() - extract.lon[used].min())
        lat_span = float(extract.lat[used].max() - extract.lat[used].min())
        mid_lat = float(np.radians(extract.lat[used].mean()))
        span_km = float(np.hypot(lon_span * 111.32 * np.cos(mid_lat), lat_span * 110.57))
        if span_km > max_extent_km:  # refused before any large array is allocated
            far = used[
                np.argmax(
                    np.abs(extract.lat[used] - np.median(extract.lat[used]))
                    + np.abs(extract.lon[used] - np.median(extract.lon[used]))
                )
            ]
            msg = (
                f"{name}: the walkable streets span {span_km:,.0f} km, more than a study area can "
                f"({max_extent_km:g} km, [network] max_extent_km); node {int(extract.node_ids[far])} at "
                f"({extract.lon[far]:.5f}, {extract.lat[far]:.5f}) lies far from the others: check the export"
            )
            raise NetworkError(msg)

        # Undirected, de-duplicated segments.
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        n_file = np.int64(len(extract.node_ids))  # one int64 per segment, ordered as (lo, hi) pairs are
        keys, first = np.unique(lo * n_file + hi, return_index=True)
        pairs = np.stack([keys // n_file, keys % n_file], axis=1)
        way = way[first]
        used, inverse = np.unique(pairs.ravel(), return_inverse=True)
        u, v = inverse.reshape(-1, 2).T
        lon, lat = extract.lon[used], extract.lat[used]
        crs = utm_crs(float(np.mean(lon)), float(np.mean(lat)))
        x, y = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
        x, y = np.asarray(x), np.asarray(y)
        length = np.hypot(x[u] - x[v], y[u] - y[v])

        net = cls(
            x=x,
            y=y,
            lon=lon,
            lat=lat,
            osmid=extract.node_ids[used],
            u=u.astype(np.int32),
            v=v.astype(np.int32),
            length=length,
            crs=crs,
            meta={
                "osm_timestamp": extract.timestamp,
                "ways_dropped": dict(extract.dropped),
                "bounds": list(extract.bounds) if extract.bounds else None,
                "ways_with_missing_nodes": ways_missing,
                "segments_clipped": clipped,
                # street names by way id (JSON keys are text), to check facility addresses against
                "way_names": {str(k): v for k, v in extract.way_names.items()},
            },
        )
        net.meta["edge_way_id"] = way
        return net._drop_fragments(min_component_km=min_component_km, keep_fragments=keep_fragments, name=name)

    def _drop_fragments(self, *, min_component_km: float, keep_fragments: bool, name: str) -> WalkNetwork:
        n_comp, labels = csgraph.connected_components(self.csr, directed=False)
        comp_km = np.bincount(labels[self.u], weights=self.length, minlength=n_comp) / 1000.0
        big = comp_km >= min_component_km
        big[int(np.argmax(comp_km))] = True
        small_nodes = ~big[labels]
        small_edges = small_nodes[self.u]
        kept_km = sorted((round(float(k), 1) for k in comp_km[big]), reverse=True)
        report = {
            "components": int(n_comp),
            "kept_components": int(big.sum()) if not keep_fragments else int(n_comp),
            "kept_component_km": kept_km,
            "fragments": int((~big).sum()),
            "fragment_nodes": int(small_nodes.sum()),
            "fragment_edges": int(small_edges.sum()),
            "fragment_km": round(float(self.length[small_edges].sum()) / 1000, 3),
            "fragments_kept": keep_fragments,
            "min_component_km": min_component_km,
        }
        self.meta["components"] = report
        if big.sum() > 1:
            log.warning(
                "%s: the walk network has %d separate parts of at least %.1f km each (%s km); "
                "no walkable link joins them (e.g. a river without a foot bridge), so a facility "
                "serves only its own part",
                name,
                big.sum(),
                min_component_km,
                ", ".join(f"{k:g}" for k in kept_km),
            )
        if not (~big).any():
            return self
        if keep_fragments:
            log.warning(
                "%s: kept %d small street fragments (%d nodes, %.1f km) not connected to the rest",
                name,
                report["fragments"],
                report["fragment_nodes"],
                report["fragment_km"],
            )
            return self
        log.warning(
            "%s: dropped %d small street fragments under %.1f km each (%d nodes, %d segments, "
            "%.2f km of street in all)",
            name,
            report["fragments"],
            min_component_km,
            report["fragment_nodes"],
            report["fragment_edges"],
            report["fragment_km"],
        )
        return self.subset_nodes(~small_nodes)

    def subset_nodes(self, keep: np.ndarray) -> WalkNetwork:
        """Return the network restricted to nodes where ``keep`` is True (and edges between them)."""
        edge_keep = keep[self.u] & keep[self.v]
        new_index = np.cumsum(keep) - 1
        meta = dict(self.meta)
        if "edge_way_id" in meta:
            meta["edge_way_id"] = meta["edge_way_id"][edge_keep]
        return WalkNetwork(
            x=self.x[keep],
            y=self.y[keep],
            lon=self.lon[keep],
            lat=self.lat[keep],
            osmid=self.osmid[keep],
            u=new_index[self.u[edge_keep]].astype(np.int32),
            v=new_index[self.v[edge_keep]].astype(np.int32),
            length=self.length[edge_keep],
            crs=self.crs,
            meta=meta,
        )

    # ------------------------------------------------------------ properties
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.x)

    @property
    def n_edges(self) -> int:
        """Number of street segments."""
        return len(self.u)

    @property
    def total_km(self) -> float:
        """Total street length in kilometres."""
        return float(self.length.sum()) / 1000.0

    @cached_property
    def csr(self) -> sparse.csr_matrix:
        """Symmetric adjacency in metres (zero-length segments get 1 mm so the solver keeps them)."""
        w = np.maximum(self.length, 1e-3)
        n = self.n_nodes
        rows = np.concatenate([self.u, self.v])
        cols = np.concatenate([self.v, self.u])
        return sparse.csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))

    @cached_property
    def edge_lines(self) -> np.ndarray:
        """Edge geometries as shapely LineStrings in ``crs`` (kept; :meth:`lines` for a few without keeping)."""
        return self.lines()

    def lines(self, edges: np.ndarray | None = None) -> np.ndarray:
        """Shapely LineStrings in ``crs`` of some edges (default all), made anew."""
        u, v = (self.u, self.v) if edges is None else (self.u[edges], self.v[edges])
        return shapely.linestrings(
            np.stack([np.stack([self.x[u], self.y[u]], axis=1), np.stack([self.x[v], self.y[v]], axis=1)], axis=1)
        )

    @cached_property
    def _edge_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.edge_lines)

    @cached_property
    def edge_index(self) -> EdgeIndex:
        """The segments in square cells, from the arrays alone (:class:`planner.edge_index.EdgeIndex`; kept)."""
        from .edge_index import EdgeIndex

        return EdgeIndex(self)

    @cached_property
    def _edge_grid(self) -> EdgeGrid:
        return EdgeGrid(self.x, self.y, self.u, self.v, self.length)

    def bbox_wgs84(self) -> tuple[float, float, float, float]:
        """``(minlon, minlat, maxlon, maxlat)`` of the nodes."""
        return (float(self.lon.min()), float(self.lat.min()), float(self.lon.max()), float(self.lat.max()))

    def boundary_wgs84(self) -> shapely.Polygon:
        """The area the street data covers: the file's ``<bounds>`` box, else the nodes' convex hull.

        Outside it the network is not known (an extract cut by a box, a circle
        or a polygon), so residents there cannot be assessed.
        """
        bounds = self.meta.get("bounds")
        if bounds:
            return shapely.box(*bounds)
        return shapely.convex_hull(shapely.multipoints(np.stack([self.lon, self.lat], axis=1)))

    # --------------------------------------------------------------- snapping
    def snap(self, lon: np.ndarray, lat: np.ndarray, *, max_distance: float | None = None) -> Snap:
        """Snap WGS-84 points to their nearest street edge.

        The nearest edge is exact: where several are equally near, any one of them. A batch of at least two
        points per edge builds a grid of candidate edges kept with the network (about half a second for the
        default area, then a million points in a few tenths of a second); smaller batches, and points beyond
        the grid, use shapely's STRtree.

        Parameters
        ----------
        lon, lat : array-like
            WGS-84 degrees.
        max_distance : float, optional
            Points farther than this (metres) from every street get ``edge=-1``.

        Returns
        -------
        Snap
        """
        x, y = self.project(np.atleast_1d(lon), np.atleast_1d(lat))
        return self.snap_xy(x, y, max_distance=max_distance)

    def snap_xy(self, x: np.ndarray, y: np.ndarray, *, max_distance: float | None = None) -> Snap:
        """Snap points given in the network CRS to their nearest street edge (see :meth:`snap`)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        n = len(x)
        edge = np.full(n, -1, dtype=np.int64)
        finite = np.isfinite(x) & np.isfinite(y)
        if finite.any() and self.n_edges:
            rest = finite
            # The grid costs about as much to build as shapely takes for two points per edge: worth it for a
            # batch that large, and for any batch once built (kept with the network, like the CSR).
            if "_edge_grid" in self.__dict__ or finite.sum() >= 2 * self.n_edges:
                edge, rest = self._edge_grid.nearest(x, y, max_distance)
            few = rest.sum() <= FEW_POINTS
            if rest.any() and few and self.n_edges > LARGE_NETWORK_EDGES and "_edge_tree" not in self.__dict__:
                # a few points on a city's network: boxes widened around each (a shapely tree would hold an
                # object per segment; the grid's build is in proportion to the network)
                found = self.edge_index.nearest(x[rest], y[rest], max_distance)
                edge[np.flatnonzero(rest)] = found
                rest = np.zeros(n, dtype=bool)
            if rest.any():  # a small batch, or points beyond the grid: shapely's exact nearest
                at = np.flatnonzero(rest)
                edge[at] = self._nearest_by_tree(x[at], y[at], max_distance)
        t = np.full(n, np.nan)
        offset = np.full(n, np.nan)
        ok = edge >= 0
        e = edge[ok]
        ax, ay = self.x[self.u[e]], self.y[self.u[e]]
        dx, dy = self.x[self.v[e]] - ax, self.y[self.v[e]] - ay
        seg2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            tt = np.where(seg2 > 0, ((x[ok] - ax) * dx + (y[ok] - ay) * dy) / seg2, 0.0)
        tt = np.clip(tt, 0.0, 1.0)
        t[ok] = tt
        offset[ok] = np.hypot(x[ok] - (ax + tt * dx), y[ok] - (ay + tt * dy))
        return Snap(edge=edge, t=t, offset_m=offset, x=x, y=y)

    def _nearest_by_tree(self, x: np.ndarray, y: np.ndarray, max_distance: float | None) -> np.ndarray:
        """Nearest edge by shapely's tree, ranked as the other ways rank it: shapely's distance is rounded its own
        way, so every edge within a hair of it is measured with :func:`planner.segments.squared_distance` and the
        nearest taken, the lowest index among equal ones (a point's edge never depends on its batch, nor on which
        other edges the network holds: a tile's piece of it)."""
        pts = shapely.points(x, y)
        (found, _), dist = self._edge_tree.query_nearest(
            pts, max_distance=max_distance, all_matches=False, return_distance=True
        )
        out = np.full(len(x), -1, dtype=np.int64)
        if not len(found):
            return out
        which, cand = self._edge_tree.query(pts[found], predicate="dwithin", distance=dist * (1 + 1e-9) + 1e-6)
        point = found[which]
        a, b = self.u[cand], self.v[cand]
        d2 = squared_distance(x[point], y[point], self.x[a], self.y[a], self.x[b] - self.x[a], self.y[b] - self.y[a])
        order = np.lexsort((cand, d2, point))  # by point, then distance, then edge
        point, cand = point[order], cand[order]
        first = np.ones(len(point), dtype=bool)
        first[1:] = point[1:] != point[:-1]
        out[point[first]] = cand[first]
        return out

    # ------------------------------------------------------------ conversion
    def edges_named(self, name: str) -> np.ndarray:
        """Indices of the edges of walkable ways called ``name`` in OpenStreetMap (empty when none)."""
        names = self.meta.get("way_names") or {}
        ways = np.fromiter((int(k) for k, v in names.items() if v == name), dtype=np.int64)
        edge_way = self.meta.get("edge_way_id")
        if not len(ways) or edge_way is None or not len(edge_way):
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(np.isin(edge_way, ways))

    def to_networkx(self):
        """Return an undirected :class:`networkx.Graph` with ``length`` edge weights (for checks)."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n_nodes))
        g.add_weighted_edges_from(zip(self.u.tolist(), self.v.tolist(), self.length.tolist()), weight="length")
        return g

    # ----------------------------------------------------------------- cache
    def save(self, path: Path) -> None:
        """Write the arrays and metadata to an ``.npz`` file."""
        meta = {k: v for k, v in self.meta.items() if k != "edge_way_id"}
        np.savez(
            path,
            x=self.x,
            y=self.y,
            lon=self.lon,
            lat=self.lat,
            osmid=self.osmid,
            u=self.u,
            v=self.v,
            length=self.length,
            edge_way_id=self.meta.get("edge_way_id", np.zeros(0, np.int64)),
            crs=np.array(self.crs),
            meta=np.array(json.dumps(meta)),
        )

    @classmethod
    def load(cls, path: Path) -> WalkNetwork:
        """Read a network written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            meta["edge_way_id"] = z["edge_way_id"]
            return cls(
                x=z["x"],
                y=z["y"],
                lon=z["lon"],
                lat=z["lat"],
                osmid=z["osmid"],
                u=z["u"],
                v=z["v"],
                length=z["length"],
                crs=str(z["crs"]),
                meta=meta,
            )


def load_network(
    path: str | Path,
    *,
    clip_to_bounds: bool = True,
    min_component_km: float = 2.0,
    keep_fragments: bool = False,
    use_cache: bool = True,
    max_extent_km: float = 150.0,
) -> WalkNetwork:
    """Load the walk network of an OSM file, from the on-disk cache when possible.

    The cache key is the SHA-256 of the file's bytes plus the build options and
    the builder's version, so an edited file or a changed rule rebuilds.

    Parameters
    ----------
    path : str or pathlib.Path
        OSM XML file.
    clip_to_bounds, min_component_km, keep_fragments
        See :meth:`WalkNetwork.from_osm_file`.
    use_cache : bool, default True
        Read and write the cache in :func:`cache_dir`.

    Returns
    -------
    WalkNetwork
    """
    path = Path(path)
    if not path.is_file():
        msg = f"OSM file not found: {path}"
        raise InputFileNotFound(msg, path=path)
    digest = file_digest(path)
    key = hashlib.sha256(
        f"{_CACHE_VERSION}|{digest}|{clip_to_bounds}|{min_component_km}|{keep_fragments}".encode()
    ).hexdigest()[:24]
    cached = cache_dir() / f"{key}.npz"
    net = read_cached(cached, WalkNetwork.load) if use_cache else None
    if net is not None:
        net.meta["cache"] = "hit"
        log.info("walk network of %s loaded from cache %s", path.name, cached)
        return net
    extract = read_osm(path)
    net = WalkNetwork.from_osm_file(
        path,
        clip_to_bounds=clip_to_bounds,
        min_component_km=min_component_km,
        keep_fragments=keep_fragments,
        max_extent_km=max_extent_km,
        extract=extract,
    )
    net.meta["cache"] = "miss"
    if use_cache:
        write_cached(cached, net.save)
        cache_buildings(path, extract)  # the residents' placement reads them next: no second reading of the file
    return net
