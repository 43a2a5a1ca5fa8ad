"""An illustrative facility inventory, for study areas without a real one.

OpenStreetMap records almost no community service centres or stations in
China, and no official list of their positions was available for the default
area. To exercise the planner we lay out an **illustrative** inventory by a
fixed, documented rule. It is not where Shanghai's facilities are.

Rule (per tier): put lattice points on a hexagonal grid of the tier's spacing
over the network's extent, move each to the nearest street node, drop lattice
points more than ``spacing / 3`` from any street (water, empty land), then
remove a fixed share at random (seeded) so that realistic gaps appear. Each
facility lists the "1+6+X" functions it offers: centres offer all six,
stations and points a seeded random subset.

Run ``python -m planner.illustrative STREETS.osm.bz2 OUT.csv`` to regenerate.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .network import WalkNetwork

__all__ = ["ILLUSTRATIVE_RULE", "SERVICES", "illustrative_facilities"]

log = logging.getLogger(__name__)

#: The "1+6+X" functions of Licheng's stations (standards.md), as service keys.
SERVICES: tuple[str, ...] = ("childcare", "elderly_care", "health", "meals", "culture_sport", "government_affairs")

#: spacing of the lattice (m), share removed to create gaps, how many services each offers (min, max)
ILLUSTRATIVE_RULE: dict[str, dict] = {
    "center": {"spacing_m": 2600.0, "drop_share": 0.15, "services": (6, 6)},
    "station": {"spacing_m": 1100.0, "drop_share": 0.25, "services": (3, 5)},
    "point": {"spacing_m": 650.0, "drop_share": 0.40, "services": (1, 2)},
}

_NAMES_ZH = {"center": "社区服务中心", "station": "家门口服务站", "point": "家门口服务点"}


def _hex_lattice(xmin: float, ymin: float, xmax: float, ymax: float, spacing: float) -> np.ndarray:
    dy = spacing * np.sqrt(3) / 2
    ys = np.arange(ymin + dy / 2, ymax, dy)
    pts = []
    for i, y in enumerate(ys):
        xs = np.arange(xmin + spacing / 4 + (spacing / 2) * (i % 2), xmax, spacing)
        pts.append(np.column_stack([xs, np.full(len(xs), y)]))
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def illustrative_facilities(
    network: WalkNetwork, *, rule: dict[str, dict] | None = None, seed: int = 2035
) -> pd.DataFrame:
    """Lay out an illustrative facility inventory by the rule in the module docstring.

    Parameters
    ----------
    network : WalkNetwork
    rule : dict, optional
        Per tier ``spacing_m``, ``drop_share`` and ``services`` (min, max);
        default :data:`ILLUSTRATIVE_RULE`.
    seed : int, default 2035
        Random seed (the Shanghai 2035 plan year), for reproducibility.

    Returns
    -------
    pandas.DataFrame
        ``facility_id, name, tier, lon, lat, crs, services, illustrative``.
    """
    rule = rule or ILLUSTRATIVE_RULE
    rng = np.random.default_rng(seed)
    tree = cKDTree(np.stack([network.x, network.y], axis=1))
    xmin, xmax = network.x.min(), network.x.max()
    ymin, ymax = network.y.min(), network.y.max()
    rows = []
    for tier, spec in rule.items():
        lattice = _hex_lattice(xmin, ymin, xmax, ymax, spec["spacing_m"])
        dist, node = tree.query(lattice)
        node = node[dist <= spec["spacing_m"] / 3]
        node = np.unique(node)
        keep = rng.random(len(node)) >= spec["drop_share"]
        lo, hi = spec["services"]
        for i, nd in enumerate(node[keep]):
            k = int(rng.integers(lo, hi + 1))
            services = SERVICES if k >= len(SERVICES) else tuple(sorted(rng.choice(SERVICES, k, replace=False)))
            rows.append(
                {
                    "facility_id": f"{tier[0].upper()}{i + 1:03d}",
                    "name": f"示意{_NAMES_ZH.get(tier, tier)} {i + 1} (illustrative {tier} {i + 1})",
                    "tier": tier,
                    "lon": round(float(network.lon[nd]), 6),
                    "lat": round(float(network.lat[nd]), 6),
                    "crs": "wgs84",
                    "services": ";".join(services),
                    "illustrative": True,
                }
            )
        log.info("illustrative %s: %d lattice points on streets, %d kept", tier, len(node), int(keep.sum()))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Regenerate an illustrative inventory: ``python -m planner.illustrative STREETS.osm.bz2 OUT.csv``."""
    from .network import load_network

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("osm", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=2035)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    df = illustrative_facilities(load_network(args.osm), seed=args.seed)
    df.to_csv(args.out, index=False)
    log.info("wrote %d illustrative facilities to %s", len(df), args.out)


if __name__ == "__main__":
    main()
