"""Load test of a real ``lifecircle serve`` on 127.0.0.1: throughput and latency, bounded in time and requests.

    python -m benchmarks.api_load [--seconds 30] [--clients 50] [--burst 45] [--no-load]

Starts the server on a free loopback port, waits for /ready, then measures (1) single-point POST /coverage
with N concurrent clients for a fixed time and (2) 10,000-point batches, and stops the server.

``--burst N`` then sends N concurrent ``/isochrones`` at the documented limits (100 origins, 12 bands to
60 minutes) while probing ``/health`` every 0.1 s, and prints the answers' statuses, the slowest
``/health``, the server's RSS before, at its peak and after, and whether any worker process still
computes once every client has its answer (``--no-load`` skips (1) and (2)).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

# Central Shanghai, inside the default area's streets
LON0, LON1, LAT0, LAT1 = 121.43, 121.52, 31.19, 31.27
MAX_REQUESTS = 200_000  # hard bound whatever the duration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "lifecircle"
    proc = subprocess.Popen(
        [str(exe), "-q", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}/ready"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError("server did not become ready in 120 s")


async def single_point(base: str, clients: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    rng = random.Random(1)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < stop and len(latencies) + errors < MAX_REQUESTS:
            body = {"points": [{"lon": rng.uniform(LON0, LON1), "lat": rng.uniform(LAT0, LAT1)}]}
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{base}/coverage", json=body)
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        await asyncio.gather(*(worker(client) for _ in range(clients)))
    return latencies, errors, time.perf_counter() - t0


def batches(base: str, n: int, size: int) -> list[float]:
    rng = np.random.default_rng(2)
    times = []
    with httpx.Client(timeout=60) as client:
        for _ in range(n):
            pts = [
                {"lon": float(a), "lat": float(b)}
                for a, b in zip(rng.uniform(LON0, LON1, size), rng.uniform(LAT0, LAT1, size))
            ]
            t0 = time.perf_counter()
            r = client.post(f"{base}/coverage", json={"points": pts})
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200 and len(r.json()["results"]) == size
    return times


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pss_mb(pid: int) -> float:
    """Proportional set size of a process (MB): its pages shared with others counted in part."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (its worker processes), from /proc."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


async def burst(base: str, pid: int, n: int, origins: int = 100, bands: int = 12) -> None:
    rng = np.random.default_rng(4)
    lon, lat = rng.uniform(LON0, LON1, origins), rng.uniform(LAT0, LAT1, origins)
    body = {
        "origins": [{"lon": float(a), "lat": float(b)} for a, b in zip(lon, lat)],
        "bands": [5 * i for i in range(1, bands + 1)],
    }
    before = rss_mb(pid)
    peak = before
    health: list[float] = []
    t0 = time.perf_counter()
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=n + 5)) as client:
        tasks = [asyncio.create_task(client.post(f"{base}/isochrones", json=body)) for _ in range(n)]
        while not all(t.done() for t in tasks):
            h0 = time.perf_counter()
            r = await client.get(f"{base}/health")
            health.append(time.perf_counter() - h0)
            assert r.status_code == 200
            peak = max(peak, pss_mb(pid) + sum(pss_mb(c) for c in children(pid)))
            await asyncio.sleep(0.1)
        answers = [t.result() for t in tasks]
    wall = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in answers:
        why = r.json()["errors"][0]["reason"].split(" ", 3)[:3] if r.status_code >= 400 else []
        key = f"{r.status_code} {' '.join(why)}".strip()
        statuses[key] = statuses.get(key, 0) + 1
    left = children(pid)
    cpu0 = cpu_s(pid)
    time.sleep(2)
    print(
        f"  burst of {n} POST /isochrones ({origins} origins x {bands} bands to {5 * bands} min), {wall:.1f} s: "
        f"{statuses}, "
        f"Retry-After {sorted({r.headers.get('retry-after') for r in answers if r.status_code == 503})}; "
        f"/health while it ran: {len(health)} probes, max {1000 * max(health):.0f} ms, "
        f"median {1000 * float(np.median(health)):.1f} ms"
    )
    print(
        f"  server RSS: {before:.0f} MB before, {peak:.0f} MB at the peak (PSS, workers included), "
        f"{rss_mb(pid):.0f} MB 2 s after the last answer; worker processes left at the last answer: {len(left)}, "
        f"2 s later: {len(children(pid))}; server CPU in those 2 s: {cpu_s(pid) - cpu0:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--burst", type=int, default=0, help="concurrent /isochrones at the limits (0: none)")
    parser.add_argument("--origins", type=int, default=100, help="origins per burst request (at most 100)")
    parser.add_argument("--bands", type=int, default=12, help="bands per burst request: 5, 10, ... minutes")
    parser.add_argument("--no-load", action="store_true", help="only the burst")
    args = parser.parse_args()
    port = free_port()
    proc = start_server(port)
    base = f"http://127.0.0.1:{port}"
    try:
        print(f"lifecircle serve on 127.0.0.1:{port}, {os.cpu_count()} cores shared by server and load generator")
        if args.burst:
            asyncio.run(burst(base, proc.pid, args.burst, args.origins, args.bands))
        if args.no_load:
            return
        lat, errors, wall = asyncio.run(single_point(base, args.clients, args.seconds))
        ms = np.array(lat) * 1000
        print(
            f"  single-point POST /coverage, {args.clients} concurrent clients, {wall:.1f} s: {len(lat):,} ok, "
            f"{errors} errors, {len(lat) / wall:,.0f} req/s, p50 {np.percentile(ms, 50):.1f} ms, "
            f"p99 {np.percentile(ms, 99):.1f} ms (target p99 < 20 ms, 0 errors)"
        )
        wrk = shutil.which("wrk")
        if wrk:
            script = Path(__file__).with_name("coverage_point.lua")
            out = subprocess.run(
                [wrk, "-t1", f"-c{args.clients}", f"-d{int(args.seconds)}s", "--latency", "-s", str(script), base],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            pick = {k: re.search(rf"{k}%\s+(\S+)", out).group(1) for k in ("50", "99")}
            rps = re.search(r"Requests/sec:\s+(\S+)", out).group(1)
            non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            errors = re.search(r"Socket errors: (.*)", out)
            print(
                f"  same with wrk (C load generator), {args.clients} connections: {rps} req/s, p50 {pick['50']}, "
                f"p99 {pick['99']}, non-2xx {non2xx.group(1) if non2xx else 0}, "
                f"socket errors {errors.group(1) if errors else 'none'}"
            )
        else:
            print("  (install Debian's wrk for a second, lighter load generator)")
        t = np.array(batches(base, args.batches, 10_000))
        print(
            f"  10,000-point POST /coverage x {args.batches}: median {np.median(t):.3f} s, max {t.max():.3f} s "
            "(target < 0.5 s)"
        )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
