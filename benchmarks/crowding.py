"""2SFCA against the access step itself, on the default area (issue 18, part 4).

    python -m benchmarks.crowding [--n 7] [--residents M] [--facilities F]

Same work on both sides, per tier: the tier's facilities, the residents, and a catchment of the tier's target
minutes at the adult speed.

- **access step**: :func:`planner.access.nearest_facility` (one multi-source Dijkstra cut off at the target) and
  :func:`planner.access.point_distances` for every resident: what ``run()`` does per tier.
- **2SFCA**: :func:`planner.catchment_sums.catchment_sums` with the E2SFCA bands (``R_j`` and ``A_i``): one bounded
  Dijkstra per facility and the sums by street edge, without the residents x facilities matrix (what the plan runs),
  by the compiled loops when they are installed (the line says which form ran).
- **2SFCA, NumPy form** (``--numpy``): the same function's NumPy form, checked equal (relative 1e-9).
- **2SFCA by matrix** (``--matrix``): :func:`planner.crowding.catchment_minutes` (the residents x facilities
  minutes) and :func:`planner.crowding.floating_catchment`, the form PySAL ``access`` takes; its result is checked
  equal to the first (relative 1e-9).

The sides run interleaved round by round (A B, A B, ...), ``n`` rounds; the median of each is reported with ``N`` and
the ratio. Work done once per set of residents (sorting them along their streets, for both sides; the people along
them) is done before the rounds and timed apart (:func:`planner.catchment_sums.prepare`). By default the default
area's own residents and facilities; ``--residents`` and ``--facilities`` put that many random residents and
facilities per tier on the same streets (the issue's 1,000,000 x 1,000 per tier).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time

import numpy as np

import planner.catchment_sums as sums
from planner import RunOptions, run
from planner.access import nearest_facility, point_distances
from planner.catchment_sums import catchment_sums, prepare
from planner.crowding import DEFAULT_DECAY, catchment_minutes, floating_catchment
from planner.network import Snap, WalkNetwork

log = logging.getLogger("benchmarks.crowding")


def _random_snap(net: WalkNetwork, k: int, rng: np.random.Generator) -> Snap:
    """``k`` points on random edges (weighted by length), up to 30 m off the street."""
    edge = rng.choice(net.n_edges, k, p=net.length / net.length.sum())
    return Snap(edge.astype(np.int64), rng.random(k), rng.random(k) * 30.0, np.empty(0), np.empty(0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=7, help="rounds (median of N)")
    parser.add_argument("--residents", type=int, default=0, help="random residents instead of the area's")
    parser.add_argument("--facilities", type=int, default=0, help="random facilities per tier instead of the area's")
    parser.add_argument("--chunk", type=int, default=32, help="facilities per Dijkstra call")
    parser.add_argument("--matrix", action="store_true", help="also time the matrix form (slow at 1M x 1,000)")
    parser.add_argument("--numpy", action="store_true", help="also time catchment_sums' NumPy form")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("planner").setLevel(logging.WARNING)

    plan = run(options=RunOptions(isochrones="none"))
    net, rules = plan.network, plan.rules
    rng = np.random.default_rng(18)
    if args.residents:
        people = _random_snap(net, args.residents, rng)
        demand = rng.integers(0, 200, args.residents).astype(float)
    else:
        res = plan.residents
        people = Snap(
            res["edge"].to_numpy(np.int64),
            res["t"].to_numpy(float),
            res["offset_m"].to_numpy(float),
            np.empty(0),
            np.empty(0),
        )
        demand = res["population"].to_numpy(float)
    mpm = rules.everyone.metres_per_minute
    jobs = []
    for tier in rules.tiers:
        if args.facilities:
            fac = _random_snap(net, args.facilities, rng)
            e, t, o = fac.edge, fac.t, fac.offset_m
        else:
            sel = (plan.facilities["tier"] == tier.key).to_numpy()
            e, t, o = (plan.facilities[c].to_numpy()[sel] for c in ("edge", "t", "snap_m"))
        supply = np.full(len(e), float(tier.population_served[1]) if tier.population_served else 1.0)
        jobs.append((tier.key, e, t, o, tier.minutes, supply))

    def access_step() -> None:
        for _, e, t, o, minutes, _ in jobs:
            point_distances(net, nearest_facility(net, e, t, o, horizon_m=minutes * mpm), people)

    results: list = []

    def two_step() -> None:
        results.clear()
        for _, e, t, o, minutes, supply in jobs:
            results.append(
                catchment_sums(
                    net,
                    e,
                    t,
                    o,
                    people,
                    demand,
                    supply,
                    minutes,
                    mpm,
                    max_minutes=minutes,
                    bands=DEFAULT_DECAY,
                    chunk=args.chunk,
                )
            )

    def numpy_form() -> None:
        for (_, e, t, o, minutes, supply), ours in zip(jobs, results):
            ref = catchment_sums(
                net, e, t, o, people, demand, supply, minutes, mpm, max_minutes=minutes, bands=DEFAULT_DECAY,
                chunk=args.chunk, compiled=False,
            )  # fmt: skip
            for name in ("people", "demand", "ratio", "access"):
                np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12)

    pairs: list[int] = []

    def matrix() -> None:
        pairs.clear()
        for (_, e, t, o, minutes, supply), ours in zip(jobs, results):
            cost = catchment_minutes(net, e, t, o, people, minutes, mpm, chunk=args.chunk)
            ref = floating_catchment(cost, demand, supply, max_minutes=minutes, bands=DEFAULT_DECAY)
            for name in ("people", "demand", "ratio", "access"):
                np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-9, atol=1e-12)
            pairs.append(cost.nnz)

    t0 = time.perf_counter()
    prepare(net, people, demand)  # the residents' walks to their streets' ends, sorted along each street
    once = time.perf_counter() - t0
    access_step(), two_step()  # warm: the network's CSR, the search room
    sides = [("access", access_step), ("2sfca", two_step)]
    sides += [("numpy", numpy_form)] if args.numpy else []
    sides += [("matrix", matrix)] if args.matrix else []
    times: dict[str, list[float]] = {k: [] for k, _ in sides}
    for _ in range(args.n):
        for key, fn in sides:
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.n
    log.info(
        "default area: %d nodes, %d residents, facilities per tier %s, load average %.1f",
        net.n_nodes,
        len(people),
        {k: len(e) for k, e, *_ in jobs},
        os.getloadavg()[0],
    )
    log.info("once per set of residents (their ends, edge orders and people along them): %.3f s", once)
    log.info("access step (nearest_facility + point_distances, all tiers): median %.3f s of N=%d", med["access"], n)
    form = "compiled loops" if sums._kernel is not None else "NumPy form: the compiled loops are not installed"
    log.info("2SFCA (catchment_sums, E2SFCA, all tiers, %s): median %.3f s of N=%d", form, med["2sfca"], n)
    log.info("ratio 2SFCA / access step: %.2fx (issue 18 asks for at most 2x)", med["2sfca"] / med["access"])
    if args.numpy:
        log.info(
            "2SFCA, NumPy form (catchment_sums(compiled=False)): median %.3f s of N=%d, %.2fx the access step; equal",
            med["numpy"],
            n,
            med["numpy"] / med["access"],
        )
    if args.matrix:
        log.info(
            "2SFCA by matrix (catchment_minutes + floating_catchment): median %.3f s of N=%d, %.2fx the access step;"
            " catchment pairs per tier %s; equal to catchment_sums",
            med["matrix"],
            n,
            med["matrix"] / med["access"],
            dict(zip((k for k, *_ in jobs), pairs)),
        )


if __name__ == "__main__":
    main()
