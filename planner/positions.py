"""Is a facility list in the coordinate system it claims? Evidence from the streets its rows name.

Lists copied from Gaode (GCJ-02) or Baidu (BD-09) and read as WGS-84 sit ~500 m off. The distance to the
*nearest* street hardly shows it in a dense street grid (on the real health-centre list: median 53 m as
WGS-84 against 68 m as GCJ-02); the distance to the street *named in each row's address* does (27 m against
336 m). :func:`crs_fit` measures both for every coordinate system; :func:`check_list_crs` stops a run when
another system fits clearly better than the declared one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .coords import CRS_NAMES, to_wgs84
from .errors import InputError
from .network import WalkNetwork

__all__ = ["POSITION_FLAGS", "CrsFit", "address_street", "check_list_crs", "crs_fit"]

#: ``position_flag`` values a list may carry (upstream geocoding checks) -> what they mean, in Chinese and English.
POSITION_FLAGS: dict[str, tuple[str, str]] = {
    "street_far": ("与地址所在道路相距超过500米", "more than 500 m from the street in its address"),
    "district_mismatch": ("所在区与清单不符", "its district differs from the list's"),
    "shared_point": ("与其他记录坐标相同", "same coordinates as another record"),
}

_PREFIX = re.compile(r"^(?:中国)?(?:上海市|上海|北京市|北京)?(?:[\u4e00-\u9fff]{1,6}?(?:新区|区|县))?")
_STREET = re.compile(r"([\u4e00-\u9fff]{1,12}?(?:大道|公路|路|街|巷))")
#: At least this many rows must name a street of the network for the address evidence to count.
MIN_ADDRESS_ROWS = 5


def address_street(address: object) -> str | None:
    """The first street name in a Chinese address (``上海市徐汇区太原路110号`` → ``太原路``); None if none."""
    text = _PREFIX.sub("", str(address or "").strip())
    match = _STREET.search(text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class CrsFit:
    """How well a list's raw coordinates fit the streets when read in one coordinate system.

    Attributes
    ----------
    crs : str
    nearest_m : float
        Median distance to the nearest walkable street.
    address_m : float
        Median distance to the street named in each row's address (NaN without enough such rows).
    address_rows : int
        Rows whose address names a street of the network.
    """

    crs: str
    nearest_m: float
    address_m: float
    address_rows: int

    @property
    def evidence(self) -> float:
        """The strongest available measure: the address distance when enough rows have one."""
        return self.address_m if self.address_rows >= MIN_ADDRESS_ROWS else self.nearest_m


def crs_fit(
    network: WalkNetwork, lon: np.ndarray, lat: np.ndarray, addresses: pd.Series | None = None
) -> dict[str, CrsFit]:
    """Read raw coordinates in each system and measure how well they sit on the streets.

    Parameters
    ----------
    network : WalkNetwork
    lon, lat : numpy.ndarray
        The list's numbers as written.
    addresses : pandas.Series, optional
        Each row's address.

    Returns
    -------
    dict of str to CrsFit
        Per coordinate system (``wgs84``, ``gcj02``, ``bd09``).
    """
    streets = [address_street(a) or "" for a in (addresses if addresses is not None else [None] * len(lon))]
    named = {s: network.edges_named(s) for s in set(streets) if s}
    rows = [i for i, s in enumerate(streets) if s and len(named[s])]
    lines = {s: network.lines(edges) for s, edges in named.items() if len(edges)}  # the named streets only
    out = {}
    for crs in CRS_NAMES:
        wlon, wlat = to_wgs84(lon, lat, crs)
        snap = network.snap(wlon, wlat)
        address_m = np.nan
        if rows:
            x, y = network.project(wlon[rows], wlat[rows])
            pts = shapely.points(x, y)
            dist = [shapely.distance(pts[j], shapely.multilinestrings(lines[streets[i]])) for j, i in enumerate(rows)]
            address_m = float(np.median(dist))
        out[crs] = CrsFit(crs, float(np.median(snap.offset_m)), address_m, len(rows))
    return out


def check_list_crs(
    network: WalkNetwork, lon: np.ndarray, lat: np.ndarray, addresses: pd.Series | None, declared: str, path: str | Path
) -> dict[str, CrsFit]:
    """Stop when a list sits clearly better in another coordinate system than the declared one.

    "Clearly": the other system's median distance (to the addressed street when enough rows name one, else to
    the nearest street) is less than half the declared one's, and the declared one's is over 100 m.

    Raises
    ------
    InputError
        Naming the system that fits, the two distances and what to write.
    """
    fits = crs_fit(network, lon, lat, addresses)
    mine = fits[declared]
    best = min(fits.values(), key=lambda f: f.evidence if np.isfinite(f.evidence) else np.inf)
    if best.crs != declared and mine.evidence > 100 and best.evidence < 0.5 * mine.evidence:
        what = (
            "to the street named in the address" if mine.address_rows >= MIN_ADDRESS_ROWS else "to the nearest street"
        )
        source = {"gcj02": "Gaode/Tencent", "bd09": "Baidu"}.get(best.crs, "GPS")
        msg = (
            f"{path}: read as {declared.upper()} the points lie a median {mine.evidence:,.0f} m {what} "
            f"({mine.address_rows} rows checked), but {best.evidence:,.0f} m read as {best.crs.upper()}: the list "
            f"looks copied from a {source}"
            f' map. Declare crs = "{best.crs}" (or --facilities-crs {best.crs}); if {declared.upper()} is '
            "really right, set trust_crs = true for this list"
        )
        raise InputError(msg, path=path, field="crs")
    return fits
