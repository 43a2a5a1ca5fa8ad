"""Street edits for a what-if: add walking links (a gate, a footbridge, a new path) and close streets.

:func:`apply_edits` returns a new :class:`~planner.network.WalkNetwork`; the network it starts from is never
changed. The edited network keeps every node of the base network at the same index and appends new ones:

* **Closing** removes edges: the nearest edge of a point ``(lon, lat)`` (within ``close_snap_m``), or every
  edge of an OSM way.
* **Adding** a link joins each of its two ends to the nearest street that stays open (within
  ``link_snap_m``). The street is **split at the snap point** (a new node there, the two pieces keep the
  street's length exactly), so walks to either end of the street stay exact; only where the snap point is
  within 1 cm of a node does the link join that node, adding those centimetres to the link. The link's length
  is its own (given, or measured along its geometry in metres) plus the straight walks from its two ends onto
  the streets (the snap offsets). It is two edges of half that length through a node of its own in the middle,
  so that it never doubles an edge between the same two nodes (a sparse matrix would add the two up). Added
  links get negative way ids (-1, -2 …) and their new nodes negative OSM node ids.

Residents and facilities sit on edges by index (``edge``, ``t``, ``offset_m``). :meth:`EditedNetwork.remap`
moves them onto the edited network: on a kept edge they keep their place (new index); on a split edge they go
to the piece holding them with ``t`` rescaled, so their walks are unchanged; on a closed edge they move to the
nearest street that stays open (never onto an added link: nobody lives on a footbridge), measured from their
own point.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np
import shapely

from .errors import ConfigError
from .network import WalkNetwork

__all__ = ["AddLink", "CloseLink", "EditedNetwork", "StreetEdits", "apply_edits"]

log = logging.getLogger(__name__)

#: A link end this close to a node (metres along the street) joins the node instead of splitting the street.
JOIN_NODE_M = 0.01


@dataclass(frozen=True)
class AddLink:
    """A new walking link. ``line`` is a LineString in WGS-84 (lon, lat); ``length_m`` its walking length in
    metres when given (else measured along ``line``), not counting the walks from its ends onto the streets."""

    line: shapely.LineString
    length_m: float | None = None
    name: str = ""


@dataclass(frozen=True)
class CloseLink:
    """A street to close: the nearest edge of ``point`` (lon, lat), or every edge of OSM way ``way_id``."""

    point: tuple[float, float] | None = None
    way_id: int | None = None


@dataclass(frozen=True)
class StreetEdits:
    """Links to add and streets to close, as a what-if asks for them."""

    add_links: tuple[AddLink, ...] = ()
    close_links: tuple[CloseLink, ...] = ()

    @classmethod
    def parse(cls, add_links: Iterable[Any] = (), close_links: Iterable[Any] = ()) -> StreetEdits:
        """Edits from what a caller gives.

        Parameters
        ----------
        add_links : iterable
            Each a :class:`AddLink`, a shapely LineString (WGS-84), a ``(LineString, length_m)`` pair, a sequence
            of ``(lon, lat)`` pairs, or a mapping ``{"from": {"lon", "lat"}, "to": {...}, "length_m": …}`` (the
            API's form; ``"geometry"`` may stand for ``from``/``to``).
        close_links : iterable
            Each a :class:`CloseLink`, an OSM way id (int, ``"123"`` or ``"way/123"``), a point (shapely Point,
            ``(lon, lat)`` or ``{"lon", "lat"}``), or ``{"way_id": …}``.

        Raises
        ------
        planner.errors.ConfigError
            For an item that is none of these.
        """
        links = tuple(_parse_link(item, f"add_links[{i}]") for i, item in enumerate(add_links))
        closes = tuple(_parse_close(item, f"close_links[{i}]") for i, item in enumerate(close_links))
        return cls(links, closes)

    def __len__(self) -> int:
        return len(self.add_links) + len(self.close_links)

    def labels(self) -> list[str]:
        """One label per edit, in order (links first): ``add_links[0]``, ``close_links[1] (way 123)`` …"""
        out = [f"add_links[{i}]" + (f" ({k.name})" if k.name else "") for i, k in enumerate(self.add_links)]
        for i, c in enumerate(self.close_links):
            lon, lat = c.point if c.point is not None else (math.nan, math.nan)
            where = f"way {c.way_id}" if c.way_id is not None else f"{lon:.6f}, {lat:.6f}"
            out.append(f"close_links[{i}] ({where})")
        return out

    def without(self, index: int) -> StreetEdits:
        """The same edits but the ``index``-th (numbered as in :meth:`labels`)."""
        n = len(self.add_links)
        if index < n:
            return StreetEdits(self.add_links[:index] + self.add_links[index + 1 :], self.close_links)
        j = index - n
        return StreetEdits(self.add_links, self.close_links[:j] + self.close_links[j + 1 :])


def _lonlat(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, Mapping):
        value = (value.get("lon"), value.get("lat"))
    elif isinstance(value, shapely.Point):
        value = (value.x, value.y)
    try:
        lon, lat = (float(c) for c in value)
    except (TypeError, ValueError):
        msg = f"{where}: expected a point (lon, lat) in WGS-84 degrees, got {value!r}"
        raise ConfigError(msg, key=where) from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        msg = f"{where}: ({lon}, {lat}) is not a WGS-84 longitude and latitude"
        raise ConfigError(msg, key=where)
    return lon, lat


def _parse_link(item: Any, where: str) -> AddLink:
    if isinstance(item, AddLink):
        link = item
    elif isinstance(item, shapely.LineString):
        link = AddLink(item)
    elif isinstance(item, Mapping):
        if "geometry" in item or item.get("type") == "LineString":  # a GeoJSON feature or geometry
            geom = item.get("geometry", item)
            line = geom if isinstance(geom, shapely.LineString) else shapely.geometry.shape(geom)
        else:
            line = shapely.LineString(
                [_lonlat(item.get("from"), f"{where}.from"), _lonlat(item.get("to"), f"{where}.to")]
            )
        length = item.get("length_m")
        link = AddLink(line, None if length is None else float(length), str(item.get("name") or ""))
    elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], shapely.LineString):
        link = AddLink(item[0], float(item[1]))
    else:
        try:
            link = AddLink(shapely.LineString([_lonlat(p, where) for p in item]))
        except (TypeError, ValueError, shapely.errors.GEOSException):
            msg = f"{where}: expected a LineString in WGS-84 or {{'from': {{lon, lat}}, 'to': {{…}}}}, got {item!r}"
            raise ConfigError(msg, key=where) from None
    if not isinstance(link.line, shapely.LineString) or len(link.line.coords) < 2:
        msg = f"{where}: a link needs a LineString of at least two points"
        raise ConfigError(msg, key=where)
    for p in link.line.coords:
        _lonlat(p[:2], where)
    if link.length_m is not None and not (math.isfinite(link.length_m) and link.length_m >= 0):
        msg = f"{where}: length_m must be a length in metres, not {link.length_m!r}"
        raise ConfigError(msg, key=f"{where}.length_m")
    return link


def _parse_close(item: Any, where: str) -> CloseLink:
    if isinstance(item, CloseLink):
        return item
    if isinstance(item, Integral) and not isinstance(item, bool):
        return CloseLink(way_id=int(item))
    if isinstance(item, str):
        text = item.strip().removeprefix("way/")
        if text.isdigit():
            return CloseLink(way_id=int(text))
        msg = f"{where}: {item!r} is not an OSM way id (e.g. 123456 or 'way/123456') nor a point"
        raise ConfigError(msg, key=where)
    if isinstance(item, Mapping) and ("way_id" in item or "way" in item):
        return _parse_close(item.get("way_id", item.get("way")), where)
    if isinstance(item, Real):
        msg = f"{where}: {item!r} is neither an OSM way id nor a point (lon, lat)"
        raise ConfigError(msg, key=where)
    return CloseLink(point=_lonlat(item, where))


@dataclass(frozen=True)
class EditedNetwork:
    """A network with street edits applied, and how to move positions from the base network onto it.

    Attributes
    ----------
    base, network : WalkNetwork
        The network edited (unchanged) and the new one. Nodes ``0 .. base.n_nodes - 1`` are the same in both.
    edits : StreetEdits
    edge_index : numpy.ndarray of int64
        Per base edge: its index in ``network``, ``-1`` where closed or split.
    splits : dict of int to (numpy.ndarray, numpy.ndarray)
        Per split base edge: the fractions where its pieces start (``0`` first) and the pieces' new indices.
    closed : numpy.ndarray of bool
        Per base edge: closed.
    link_edges : numpy.ndarray of int64, shape (links, 2)
        The added links' edges in ``network``: each link is two halves joined at a node of its own in the middle,
        so that a link never doubles an edge between the same two nodes (a sparse matrix would add the two).
    link_ends : numpy.ndarray of int64, shape (links, 2)
        The nodes each link joins.
    link_length_m : numpy.ndarray of float
        Each link's whole walking length (its own plus the walks onto the streets at its ends).
    closed_by : tuple of numpy.ndarray
        Base edges closed by each of :attr:`StreetEdits.close_links`.
    """

    base: WalkNetwork
    network: WalkNetwork
    edits: StreetEdits
    edge_index: np.ndarray
    splits: dict[int, tuple[np.ndarray, np.ndarray]]
    closed: np.ndarray
    link_edges: np.ndarray
    link_ends: np.ndarray
    link_length_m: np.ndarray
    closed_by: tuple[np.ndarray, ...] = field(default=())

    def remap(
        self, edge: np.ndarray, t: np.ndarray, offset_m: np.ndarray, lon: np.ndarray, lat: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Positions on the base network (``edge``, ``t``, ``offset_m``; ``lon``/``lat`` the points themselves)
        as positions on the edited network (see the module docstring). ``edge = -1`` stays -1.
        """
        edge = np.asarray(edge, dtype=np.int64).copy()
        t = np.asarray(t, dtype=float).copy()
        off = np.asarray(offset_m, dtype=float).copy()
        ok = edge >= 0
        moved = np.flatnonzero(ok & self.closed[np.where(ok, edge, 0)])
        if len(moved):
            x, y = self.base.project(np.asarray(lon, float)[moved], np.asarray(lat, float)[moved])
            e, tt, d = nearest_open(self.base, x, y, self.closed)
            edge[moved], t[moved], off[moved] = e, tt, d
        return (*self._to_new(edge, t), off)

    def _to_new(self, edge: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base (edge, t) on open base edges to (edge, t) on the edited network."""
        ok = edge >= 0
        new_edge = np.where(ok, self.edge_index[np.where(ok, edge, 0)], -1)
        new_t = t.copy()
        for e, (starts, pieces) in self.splits.items():
            at = np.flatnonzero(edge == e)
            if not len(at):
                continue
            k = np.clip(np.searchsorted(starts, t[at], side="right") - 1, 0, len(pieces) - 1)
            ends = np.append(starts[1:], 1.0)
            new_edge[at] = pieces[k]
            new_t[at] = np.clip((t[at] - starts[k]) / (ends[k] - starts[k]), 0.0, 1.0)
        return new_edge, new_t


def nearest_open(
    network: WalkNetwork, x: np.ndarray, y: np.ndarray, closed: np.ndarray, max_m: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact nearest edge not ``closed`` of points in the network CRS: edge (``-1`` beyond ``max_m``), t, metres.

    Candidates come from the network's STRtree within a radius that doubles until every point has an open edge
    (or passes ``max_m``); the nearest is then measured exactly.
    """
    n = len(x)
    edge, t, dist = np.full(n, -1, np.int64), np.full(n, np.nan), np.full(n, np.nan)
    todo = np.arange(n)
    span = float(np.hypot(np.ptp(network.x), np.ptp(network.y))) + 1.0
    radius = 50.0 if max_m is None else min(50.0, max_m)
    tree = network._edge_tree  # the network's own cached tree (built once, shared with snapping)
    while len(todo):
        pts, cand = tree.query(shapely.points(x[todo], y[todo]), predicate="dwithin", distance=radius)
        keep = ~closed[cand]
        pts, cand = pts[keep], cand[keep]
        if len(pts):
            px, py = x[todo][pts], y[todo][pts]
            ax, ay = network.x[network.u[cand]], network.y[network.u[cand]]
            dx, dy = network.x[network.v[cand]] - ax, network.y[network.v[cand]] - ay
            seg2 = dx * dx + dy * dy
            with np.errstate(invalid="ignore", divide="ignore"):
                tt = np.clip(np.where(seg2 > 0, ((px - ax) * dx + (py - ay) * dy) / seg2, 0.0), 0.0, 1.0)
            d = np.hypot(px - (ax + tt * dx), py - (ay + tt * dy))
            order = np.lexsort((cand, d, pts))  # per point the nearest first (ties: the lowest edge index)
            first = order[np.r_[True, pts[order][1:] != pts[order][:-1]]]
            found = todo[pts[first]]
            good = d[first] <= radius  # a nearer open edge can lie only within the radius
            edge[found[good]], t[found[good]], dist[found[good]] = cand[first][good], tt[first][good], d[first][good]
        todo = todo[edge[todo] < 0]
        limit = span if max_m is None else max_m
        if radius >= limit:
            break
        radius = min(2 * radius, limit)
    return edge, t, dist


def apply_edits(
    network: WalkNetwork, edits: StreetEdits, *, link_snap_m: float = 100.0, close_snap_m: float = 30.0
) -> EditedNetwork:
    """A new network with ``edits`` applied (``network`` is not changed).

    Parameters
    ----------
    network : WalkNetwork
    edits : StreetEdits
    link_snap_m : float, default 100
        A link's end must lie within this many metres of a street that stays open.
    close_snap_m : float, default 30
        A point closing a street must lie within this many metres of it.

    Returns
    -------
    EditedNetwork

    Raises
    ------
    planner.errors.ConfigError
        A point too far from every street, an OSM way with no street here, a link whose ends join the
        street at one point.
    """
    closed = np.zeros(network.n_edges, dtype=bool)
    closed_by = []
    way_ids = network.meta.get("edge_way_id")
    for i, c in enumerate(edits.close_links):
        where = f"close_links[{i}]"
        if c.way_id is not None:
            hit = np.zeros(0, np.int64) if way_ids is None else np.flatnonzero(np.asarray(way_ids) == c.way_id)
            if not len(hit):
                msg = f"{where}: OSM way {c.way_id} has no walkable street segment in this network"
                raise ConfigError(msg, key=where)
        else:
            lon, lat = c.point if c.point is not None else (math.nan, math.nan)
            snap = network.snap(np.array([lon]), np.array([lat]), max_distance=close_snap_m)
            if snap.edge[0] < 0:
                msg = f"{where}: no street within {close_snap_m:g} m of ({lon:.6f}, {lat:.6f}) to close"
                raise ConfigError(msg, key=where)
            hit = snap.edge[:1].astype(np.int64)
        closed[hit] = True
        closed_by.append(hit)

    # where each link's ends join the open streets
    n0 = network.n_nodes
    ends_xy = [network.project(*np.asarray(k.line.coords)[[0, -1], :2].T) for k in edits.add_links]
    lengths = []
    joins: list[tuple[int, float, float]] = []  # per link end: base edge, t, metres to add to the link
    for i, (link, (ex, ey)) in enumerate(zip(edits.add_links, ends_xy)):
        end_e, end_t, end_d = nearest_open(network, ex, ey, closed, max_m=link_snap_m)
        for j in range(2):
            if end_e[j] < 0:
                which = "start" if j == 0 else "end"
                msg = f"add_links[{i}]: its {which} is more than {link_snap_m:g} m from every open street"
                raise ConfigError(msg, key=f"add_links[{i}]")
            joins.append((int(end_e[j]), float(end_t[j]), float(end_d[j])))
        if link.length_m is not None:
            lengths.append(link.length_m)
        else:
            lx, ly = network.project(*np.asarray(link.line.coords)[:, :2].T)
            lengths.append(float(np.hypot(np.diff(lx), np.diff(ly)).sum()))

    # split the streets at the join points (new nodes appended after the base nodes)
    cut_at: dict[int, set[float]] = {}
    end_node: list[tuple[int, float, float]] = []  # (base edge or -1 for a node, t or node, extra metres)
    for je, jt, jd in joins:
        along = jt * float(network.length[je])
        if along < JOIN_NODE_M:
            end_node.append((-1, float(network.u[je]), jd + along))
        elif float(network.length[je]) - along < JOIN_NODE_M:
            end_node.append((-1, float(network.v[je]), jd + float(network.length[je]) - along))
        else:
            cut_at.setdefault(je, set()).add(jt)
            end_node.append((je, jt, jd))
    node_of: dict[tuple[int, float], int] = {}
    new_x: list[float] = []
    new_y: list[float] = []
    for ce in sorted(cut_at):
        for ct in sorted(cut_at[ce]):
            node_of[(ce, ct)] = n0 + len(new_x)
            a, b = network.u[ce], network.v[ce]
            new_x.append(float(network.x[a] + ct * (network.x[b] - network.x[a])))
            new_y.append(float(network.y[a] + ct * (network.y[b] - network.y[a])))

    split = np.zeros(network.n_edges, dtype=bool)
    split[list(cut_at)] = True
    keep = ~closed & ~split
    edge_index = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64)
    us, vs, ls, ws = [network.u[keep]], [network.v[keep]], [network.length[keep]], []
    way = np.asarray(way_ids) if way_ids is not None and len(way_ids) == network.n_edges else None
    if way is not None:
        ws.append(way[keep])
    next_edge = int(keep.sum())
    splits: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ce in sorted(cut_at):
        ts = sorted(cut_at[ce])
        nodes = [int(network.u[ce]), *(node_of[(ce, ct)] for ct in ts), int(network.v[ce])]
        breaks = np.array([0.0, *ts, 1.0])
        k = len(nodes) - 1
        us.append(np.array(nodes[:-1]))
        vs.append(np.array(nodes[1:]))
        ls.append(np.diff(breaks) * network.length[ce])
        if way is not None:
            ws.append(np.full(k, way[ce]))
        splits[ce] = (breaks[:-1], np.arange(next_edge, next_edge + k))
        next_edge += k
    link_nodes = [int(ref) if le < 0 else node_of[(le, ref)] for le, ref, _ in end_node]  # two per link: start, end
    link_u, link_v = np.array(link_nodes[0::2], dtype=np.int64), np.array(link_nodes[1::2], dtype=np.int64)
    extra = np.array([x for _, _, x in end_node]).reshape(-1, 2).sum(axis=1) if end_node else np.zeros(0)
    for bad in np.flatnonzero(link_u == link_v):
        msg = f"add_links[{bad}]: both ends join the street at the same point; draw the link between two streets"
        raise ConfigError(msg, key=f"add_links[{bad}]")
    mid = n0 + len(new_x) + np.arange(len(link_u), dtype=np.int64)  # each link's middle node
    all_x, all_y = np.concatenate([network.x, new_x]), np.concatenate([network.y, new_y])
    new_x += ((all_x[link_u] + all_x[link_v]) / 2).tolist()
    new_y += ((all_y[link_u] + all_y[link_v]) / 2).tolist()
    link_length = np.asarray(lengths, dtype=float) + extra
    us += [link_u, mid]
    vs += [mid, link_v]
    ls += [link_length / 2, link_length / 2]
    link_edges = next_edge + np.stack([np.arange(len(link_u)), len(link_u) + np.arange(len(link_u))], axis=1)
    if way is not None:  # added links get way ids below every id in the network (-1, -2 … the first time)
        first = min(int(way.min()) if len(way) else 0, 0) - 1
        ws += [first - np.arange(len(link_u), dtype=np.int64)] * 2

    nx_, ny_ = np.asarray(new_x, dtype=float), np.asarray(new_y, dtype=float)
    lon_new, lat_new = network.unproject(nx_, ny_) if len(nx_) else (np.zeros(0), np.zeros(0))
    meta = dict(network.meta)
    if way is not None:
        meta["edge_way_id"] = np.concatenate(ws).astype(np.int64)
    meta["street_edits"] = {"links_added": len(link_u), "edges_closed": int(closed.sum()), "labels": edits.labels()}
    osmid_floor = min(int(network.osmid.min()) if network.n_nodes else 0, 0)
    edited = WalkNetwork(
        x=np.concatenate([network.x, nx_]),
        y=np.concatenate([network.y, ny_]),
        lon=np.concatenate([network.lon, lon_new]),
        lat=np.concatenate([network.lat, lat_new]),
        osmid=np.concatenate([network.osmid, osmid_floor - 1 - np.arange(len(nx_), dtype=network.osmid.dtype)]),
        u=np.concatenate(us).astype(np.int32),
        v=np.concatenate(vs).astype(np.int32),
        length=np.concatenate(ls).astype(float),
        crs=network.crs,
        meta=meta,
    )
    log.info("street edits: %d link(s) added, %d segment(s) closed, %d split", len(link_u), closed.sum(), split.sum())
    ends = np.stack([link_u, link_v], axis=1)
    parts = (edge_index, splits, closed, link_edges.astype(np.int64), ends, link_length, tuple(closed_by))
    return EditedNetwork(network, edited, edits, *parts)
