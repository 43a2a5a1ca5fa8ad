"""Zone populations spread onto the buildings, or else the streets, inside each zone.

The two steps of :func:`planner.residents.residents_from_zones`, apart, so that a city can be placed a few zones at
a time (:mod:`planner.city_store`) and give the very residents the whole run gives:

- :func:`zone_people`: each zone's part inside the study area and its people there (all zones at once: a city's
  population grid is a few thousand cells);
- :func:`place_zone_people`: the resident points of some zones, on any piece of the network that holds the streets
  in and near them. Every figure is worked out per zone from that zone's own buildings and streets, a point on a
  border goes to the zone first in the source, and a point snaps to the lower edge index among equidistant ones;
  so a piece of the network that holds a zone's streets and every street nearer its buildings than anything outside
  the piece places that zone exactly as the whole network does. Each resident carries its place in the whole run's
  order (``rank``, ``item``, ``piece``).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .network import WalkNetwork
from .population import PopulationError, elderly_counts

__all__ = ["ORDER", "ZonePeople", "place_zone_people", "street_samples", "zone_people"]

#: The columns that order residents as the whole run lists them: buildings (by footprint), then street points (by
#: edge and place along it), then zones placed at one point (by zone).
ORDER = ("rank", "item", "piece")
_BUILDING, _STREET, _ZONE_POINT = 0, 1, 2


@dataclass(frozen=True)
class ZonePeople:
    """Each zone's part inside the study area and its people there.

    Attributes
    ----------
    inside : numpy.ndarray of shapely geometries
        The zone within the study area, in the network CRS.
    population, elderly : numpy.ndarray of float
        People of the zone inside the study area (people assumed evenly spread over the zone).
    zone_id : numpy.ndarray
        The zones' ``cell_id`` when the source has one, else their row numbers.
    row : numpy.ndarray of int
        Each zone's row in the source (the same after :meth:`take`).
    """

    inside: np.ndarray
    population: np.ndarray
    elderly: np.ndarray
    zone_id: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.population)

    def take(self, rows: np.ndarray) -> ZonePeople:
        """Some of the zones (give them in source order: a border point goes to the first)."""
        return ZonePeople(
            self.inside[rows],
            self.population[rows],
            self.elderly[rows],
            self.zone_id[rows],
            self.row[rows],
        )


def zone_people(
    zones: gpd.GeoDataFrame,
    boundary: shapely.Geometry,
    crs: str,
    *,
    population_col: str = "population",
    elderly_col: str | None = None,
    elderly_share: float,
) -> ZonePeople:
    """The part of each zone inside ``boundary`` (WGS-84) and its people; refused when no one lives inside."""
    source = zones.attrs.get("source", "population")
    # The share of each zone inside the area is taken in degrees, where grid cells and extract boxes are
    # aligned (over a zone of a few km the ratio differs from the metric one by far less than rounding).
    zones = zones.to_crs("EPSG:4326")
    inside_deg = shapely.intersection(zones.geometry.values, boundary)
    area = shapely.area(zones.geometry.values)
    frac = np.divide(shapely.area(inside_deg), area, out=np.zeros(len(zones)), where=area > 0)
    inside = gpd.GeoSeries(inside_deg, crs="EPSG:4326").to_crs(crs).values
    total = zones[population_col].to_numpy(dtype=float)
    pop = total * frac
    eld = elderly_counts(zones, total, elderly_col, elderly_share) * frac
    if pop.sum() <= 0:
        msg = (
            f"{source}: no residents inside the study area: the population zones "
            f"{tuple(round(v, 4) for v in zones.total_bounds)} do not overlap the street data "
            f"{tuple(round(v, 4) for v in boundary.bounds)} (another city, or another coordinate system?)"
        )
        raise PopulationError(msg)
    zone_id = zones["cell_id"].to_numpy() if "cell_id" in zones.columns else np.arange(len(zones))
    return ZonePeople(np.asarray(inside), pop, eld, zone_id, np.arange(len(zones)))


def street_samples(network: WalkNetwork, spacing_m: float) -> tuple[np.ndarray, ...]:
    """Points every ``spacing_m`` along every edge: (edge, t, x, y, metres represented, place along the edge)."""
    n_per = np.maximum(1, np.ceil(network.length / spacing_m).astype(np.int64))
    edge = np.repeat(np.arange(network.n_edges), n_per)
    start = np.cumsum(n_per) - n_per
    j = np.arange(len(edge)) - np.repeat(start, n_per)
    t = (j + 0.5) / n_per[edge]
    u, v = network.u[edge], network.v[edge]
    x = network.x[u] + (network.x[v] - network.x[u]) * t
    y = network.y[u] + (network.y[v] - network.y[u]) * t
    return edge, t, x, y, network.length[edge] / n_per[edge], j


def _first_zone(point: np.ndarray, zone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's first zone: pairs ordered by point, then zone, one per point. A point on a shared border goes
    to the zone that comes first in the source, whatever the tree's order and whichever other zones are loaded."""
    order = np.lexsort((zone, point))
    point, zone = point[order], zone[order]
    first = np.ones(len(point), dtype=bool)
    first[1:] = point[1:] != point[:-1]
    return point[first], zone[first]


def place_zone_people(
    network: WalkNetwork,
    people: ZonePeople,
    *,
    spacing_m: float,
    buildings: gpd.GeoDataFrame | None = None,
    placed: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Resident points of the zones (see the module's note); ``placed`` limits them to some zones.

    Parameters
    ----------
    network : WalkNetwork
        The network, or a piece of it holding the placed zones' streets and the streets nearest their buildings.
    people : ZonePeople
        The zones: those placed and every zone that shares a border with one (a point on it goes to the first).
    spacing_m : float
        Street length each resident point stands for (at most).
    buildings : geopandas.GeoDataFrame, optional
        Footprints with ``levels`` (EPSG:4326): every one whose point lies in a placed zone. Column ``order``, when
        present, is each footprint's number in the whole list (else its row).
    placed : numpy.ndarray of bool, optional
        The zones to place (default all).

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray of bool)
        ``zone`` (the zone's row in the source), ``zone_id``, ``population``, ``elderly``, ``placement``,
        ``edge`` (in ``network``), ``t``, ``offset_m``, ``x``, ``y`` and the :data:`ORDER` columns, in that order;
        and which zones were placed by their buildings.
    """
    n = len(people)
    placed = np.ones(n, dtype=bool) if placed is None else placed
    pop, eld = people.population, people.elderly
    tree = shapely.STRtree(people.inside)
    parts = []
    by_building = np.zeros(n, dtype=bool)
    if buildings is not None and len(buildings):
        bm = buildings.to_crs(network.crs)
        floor = shapely.area(bm.geometry.values) * bm["levels"].to_numpy(float)
        spot = shapely.point_on_surface(bm.geometry.values)
        b_idx, z_idx = _first_zone(*tree.query(spot, predicate="intersects"))
        b_total = np.bincount(z_idx, weights=floor[b_idx], minlength=n)
        by_building = (b_total > 0) & (pop > 0)
        keep = by_building[z_idx] & (floor[b_idx] > 0) & placed[z_idx]
        b_idx, z_idx = b_idx[keep], z_idx[keep]
        share = floor[b_idx] / b_total[z_idx]
        snap = network.snap_xy(shapely.get_x(spot[b_idx]), shapely.get_y(spot[b_idx]))
        order = buildings["order"].to_numpy(np.int64) if "order" in buildings.columns else np.arange(len(buildings))
        parts.append(
            pd.DataFrame(
                {
                    "zone": z_idx,
                    "population": pop[z_idx] * share,
                    "elderly": eld[z_idx] * share,
                    "placement": "building",
                    "edge": snap.edge,
                    "t": snap.t,
                    "offset_m": snap.offset_m,
                    "x": snap.x,
                    "y": snap.y,
                    "rank": _BUILDING,
                    "item": order[b_idx],
                    "piece": 0,
                }
            )
        )

    edge, t, x, y, weight, j = street_samples(network, spacing_m)
    if not placed.all():  # only the samples within the placed zones' box can be theirs
        x0, y0, _, _ = np.nanmin(shapely.bounds(people.inside[placed]), axis=0)
        _, _, x1, y1 = np.nanmax(shapely.bounds(people.inside[placed]), axis=0)
        box = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
    else:
        box = np.arange(len(x))
    pt_idx, zone_idx = tree.query(shapely.points(x[box], y[box]), predicate="intersects")
    pt_idx, zone_idx = _first_zone(box[pt_idx], zone_idx)
    on_street = ~by_building[zone_idx]
    pt_idx, zone_idx = pt_idx[on_street], zone_idx[on_street]
    total = np.bincount(zone_idx, weights=weight[pt_idx], minlength=n)
    mine = placed[zone_idx]
    pt_idx, zone_idx = pt_idx[mine], zone_idx[mine]
    share = weight[pt_idx] / total[zone_idx]
    street = pd.DataFrame(
        {
            "zone": zone_idx,
            "population": pop[zone_idx] * share,
            "elderly": eld[zone_idx] * share,
            "placement": "street",
            "edge": edge[pt_idx],
            "t": t[pt_idx],
            "offset_m": 0.0,
            "x": x[pt_idx],
            "y": y[pt_idx],
            "rank": _STREET,
            "item": edge[pt_idx],
            "piece": j[pt_idx],
        }
    )
    parts.append(street[street.population > 0])
    empty = np.flatnonzero((total == 0) & (pop > 0) & ~by_building & placed)
    if len(empty):
        rep = shapely.point_on_surface(people.inside[empty])
        snap = network.snap_xy(shapely.get_x(rep), shapely.get_y(rep))
        parts.append(
            pd.DataFrame(
                {
                    "zone": empty,
                    "population": pop[empty],
                    "elderly": eld[empty],
                    "placement": "zone_point",
                    "edge": snap.edge,
                    "t": snap.t,
                    "offset_m": snap.offset_m,
                    "x": snap.x,
                    "y": snap.y,
                    "rank": _ZONE_POINT,
                    "item": empty,
                    "piece": 0,
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    local = out["zone"].to_numpy()
    out["zone"] = people.row[local]
    out.insert(1, "zone_id", people.zone_id[local])
    zone_point = out["rank"].to_numpy() == _ZONE_POINT
    out.loc[zone_point, "item"] = people.row[local[zone_point]]
    return out, by_building
