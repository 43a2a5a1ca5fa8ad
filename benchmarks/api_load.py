"""Load test of a real ``lifecircle serve`` on 127.0.0.1: latency, batches and memory, bounded in time.

    python -m benchmarks.api_load [--workers 1,2] [--connections 1,10,50] [--seconds 5] [--rounds 3]
                                  [--batches 10] [--million] [--burst 0]

For each worker count (``lifecircle serve --workers N``; N > 1 pre-forks workers that share one built area)
it starts the server on a free loopback port, waits for /ready, and measures in the same run:

1. single-point ``POST /coverage`` at 1, 10 and 50 concurrent connections, each for ``--seconds``, repeated
   ``--rounds`` times: the median over the rounds of p50 and p99 (N rounds and the requests counted are
   printed), first alone, then while one client loops ``POST /what-if`` (open one station) all along;
   closed loop: each connection sends its next request when the previous one is answered, so p50 at C
   connections is about C / throughput (a p50 under 5 ms at 50 connections needs 10,000 requests a
   second). Then the same 50 connections paced (``--paced``, default 500 requests a second in all, each
   connection waiting a random time between requests): the latency of 50 clients at a steady load below
   saturation. Load generators, each one thread, each row from both: ``wrk`` (C) when installed (Debian:
   ``apt-get install wrk``), and this script's asyncio client on raw sockets. Their medians agree; on a
   busy 2-core machine wrk's p99 has shown 4-10x the asyncio client's against the same server (the first
   requests of its 50 new connections, and wrk's own thread descheduled, count in its tail), so both print;
2. ``--batches`` 10,000-point ``/coverage`` requests, one at a time: the median time;
3. with ``--million``, 1,000,000 points as 100 requests of 10,000 (the per-request limit) on 2 connections,
   for the last worker count only;
4. memory: RSS and PSS (pages shared between processes counted in part, from /proc) of the server and of
   each worker, after /ready and after the load.

It prints the machine's load average (1 min) before and after: the 2 cores are shared with the load
generator, and with anything else running.

``--burst N`` (after the above, one worker count) sends N concurrent ``/isochrones`` at the documented limits
(100 origins, 12 bands to 60 minutes) while probing ``/health`` every 0.1 s, and prints the answers'
statuses, the slowest ``/health`` and whether any heavy worker process still computes once every client has
its answer.
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
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

# Central Shanghai, inside the default area's streets
LON0, LON1, LAT0, LAT1 = 121.43, 121.52, 31.19, 31.27
MAX_REQUESTS = 200_000  # hard bound whatever the duration
WHAT_IF = {"open": [{"tier": "station", "lon": 121.47, "lat": 31.23}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, workers: int = 1) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "lifecircle"
    proc = subprocess.Popen(
        [str(exe), "-q", "serve", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}/ready"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        time.sleep(0.25)
    proc.kill()
    raise RuntimeError("server did not become ready in 180 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_1min() -> float:
    return os.getloadavg()[0]


# --- memory, from /proc -------------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return float("nan")


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB)."""
    return _status_kb(pid, "VmRSS:") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size of a process (MB): its pages shared with others counted in part."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds a process has used (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Child processes of ``pid`` (its worker processes)."""
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def memory(pid: int) -> str:
    """RSS and PSS of the server process and of each worker (MB), and PSS in all."""
    kids = children(pid)
    parts = [f"server RSS {rss_mb(pid):.0f} PSS {pss_mb(pid):.0f}"]
    parts += [f"worker {i + 1} RSS {rss_mb(k):.0f} PSS {pss_mb(k):.0f}" for i, k in enumerate(kids)]
    total = pss_mb(pid) + sum(pss_mb(k) for k in kids)
    return f"{'; '.join(parts)}; PSS in all {total:.0f} MB"


# --- load generators ----------------------------------------------------------------------------------


def wrk_run(base: str, connections: int, seconds: float, rate: float = 0) -> tuple[float, float, float, int, int]:
    """p50 and p99 (ms), requests per second, non-2xx and socket errors, and requests of one wrk run.

    ``rate`` > 0 paces the connections: each waits a random (exponential) time before its next request, so
    that all together send about ``rate`` requests a second (wrk then times each request from its sending).
    """
    script = Path(__file__).with_name("coverage_point.lua")
    cmd = [shutil.which("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency"]
    with tempfile.TemporaryDirectory() as tmp:
        if rate > 0:
            mean_ms = 1000 * connections / rate
            paced = Path(tmp) / "paced.lua"
            paced.write_text(
                script.read_text()
                + f"\ndelay = function()\n  return math.floor(-math.log(1 - math.random()) * {mean_ms:.3f})\nend\n"
            )
            script = paced
        out = subprocess.run([*cmd, "-s", str(script), base], capture_output=True, text=True, check=True).stdout
    p50, p99 = (_wrk_ms(re.search(rf"\s{k}%\s+(\S+)", out).group(1)) for k in ("50", "99"))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(g) for g in errors.groups()) if errors else 0)
    count = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return p50, p99, rps, bad, count


def _wrk_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def python_run(base: str, connections: int, seconds: float, rate: float = 0) -> tuple[float, float, float, int, int]:
    """The same as :func:`wrk_run` from asyncio: keep-alive HTTP/1.1 written and read on raw streams (no
    client library: the generator's own CPU per request stays small beside the server's)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    errors = 0
    rng = random.Random(1)

    def request() -> bytes:
        body = f'{{"points":[{{"lon":{rng.uniform(LON0, LON1):.6f},"lat":{rng.uniform(LAT0, LAT1):.6f}}}]}}'.encode()
        head = f"POST /coverage HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    async def run() -> float:
        nonlocal errors
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal errors
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                while time.perf_counter() < stop and len(latencies) + errors < MAX_REQUESTS:
                    if rate > 0:
                        await asyncio.sleep(rng.expovariate(rate / connections))
                    t0 = time.perf_counter()
                    writer.write(request())
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                    await reader.readexactly(int(length.group(1)) if length else 0)
                    if head.startswith(b"HTTP/1.1 200"):
                        latencies.append(time.perf_counter() - t0)
                    else:
                        errors += 1
            finally:
                writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - t0

    wall = asyncio.run(run())
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(latencies) / wall, errors, len(latencies)


class WhatIfLoop:
    """One client posting ``/what-if`` in a loop, in a thread, until stopped."""

    def __init__(self, base: str):
        self.base = base
        self.times: list[float] = []
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=120) as client:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                status = client.post(f"{self.base}/what-if", json=WHAT_IF).status_code
                self.times.append(time.perf_counter() - t0)
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> WhatIfLoop:
        self._thread.start()
        time.sleep(0.5)  # the first one under way
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(180)


def server_cpu_s(pid: int) -> float:
    """CPU seconds of the server and its workers so far (a worker's own children not included)."""
    total = 0.0
    for p in [pid, *children(pid)]:
        with contextlib.suppress(OSError):
            total += cpu_s(p)
    return total


def latency_table(
    base: str, pid: int, connections: list[int], seconds: float, rounds: int, tools: list[str], paced: float
) -> None:
    runners = {"wrk": wrk_run, "python": python_run}
    for tool in tools:
        runners[tool](base, max(connections), 1.0)  # warm-up, not counted
    for what_if in (False, True):
        with WhatIfLoop(base) if what_if else contextlib.nullcontext() as loop:
            runs = [(c, 0.0) for c in connections] + ([(max(connections), paced)] if paced > 0 else [])
            for (c, rate), tool in ((r, t) for r in runs for t in tools):
                run = runners[tool]
                cpu0 = server_cpu_s(pid)
                res = [run(base, c, seconds, rate) for _ in range(rounds)]
                cpu = server_cpu_s(pid) - cpu0
                p50, p99, rps = (float(np.median([r[i] for r in res])) for i in range(3))
                total = sum(r[4] for r in res)
                how = f"{c:>3} conn{f' at ~{rate:g}/s' if rate else ''}{' + what-if loop' if what_if else ''}"
                print(
                    f"    {tool:6} {how:31}: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                    f"{rps:6.0f} req/s  (median of N={rounds} rounds of {seconds:g} s, {total:,} requests, "
                    f"{1000 * cpu / max(total, 1):.2f} ms server CPU each, errors/non-2xx {sum(r[3] for r in res)})",
                    flush=True,
                )
            if loop is not None:
                t = np.array(loop.times or [np.nan])
                print(
                    f"    what-if loop meanwhile: N={len(loop.times)} answers {loop.statuses}, "
                    f"median {np.median(t):.2f} s",
                    flush=True,
                )


def batches(base: str, n: int, size: int = 10_000) -> list[float]:
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


def million(base: str, requests: int = 100, size: int = 10_000, connections: int = 2) -> float:
    """Seconds to answer ``requests`` x ``size`` points on ``connections`` connections."""
    rng = np.random.default_rng(3)
    bodies = [
        {
            "points": [
                {"lon": float(a), "lat": float(b)}
                for a, b in zip(rng.uniform(LON0, LON1, size), rng.uniform(LAT0, LAT1, size))
            ]
        }
        for _ in range(requests)
    ]

    async def run() -> float:
        queue = list(bodies)
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def worker() -> None:
                while queue:
                    r = await client.post(f"{base}/coverage", json=queue.pop())
                    assert r.status_code == 200, r.status_code

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return time.perf_counter() - t0

    return asyncio.run(run())


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
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--connections", default="1,10,50", help="concurrent connections, comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument(
        "--paced",
        type=float,
        default=500.0,
        help="also the most connections paced to this many requests a second in all (0: not)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (the median is printed)")
    parser.add_argument("--batches", type=int, default=10, help="10,000-point requests timed")
    parser.add_argument("--million", action=argparse.BooleanOptionalAction, default=True, help="the 1M figure")
    parser.add_argument(
        "--tool",
        choices=["auto", "wrk", "python", "both"],
        default="auto",
        help="load generator: auto = both when wrk is installed, else python",
    )
    parser.add_argument("--burst", type=int, default=0, help="concurrent /isochrones at the limits (0: none)")
    parser.add_argument("--origins", type=int, default=100, help="origins per burst request (at most 100)")
    parser.add_argument("--bands", type=int, default=12, help="bands per burst request: 5, 10, ... minutes")
    args = parser.parse_args()
    tool = ("both" if shutil.which("wrk") else "python") if args.tool == "auto" else args.tool
    tools = ["wrk", "python"] if tool == "both" else [tool]
    connections = [int(c) for c in args.connections.split(",")]
    print(
        f"lifecircle serve on 127.0.0.1, {os.cpu_count()} cores shared by the server, the load generator "
        f"({' and '.join(tools)}: each one thread) and anything else; load average (1 min) {load_1min():.2f}",
        flush=True,
    )
    counts = [int(w) for w in args.workers.split(",")]
    for workers in counts:
        port = free_port()
        t0 = time.perf_counter()
        proc = start_server(port, workers)
        base = f"http://127.0.0.1:{port}"
        try:
            print(f"  --workers {workers}: ready in {time.perf_counter() - t0:.1f} s", flush=True)
            print(f"    memory after /ready (MB): {memory(proc.pid)}", flush=True)
            latency_table(base, proc.pid, connections, args.seconds, args.rounds, tools, args.paced)
            t = np.array(batches(base, args.batches))
            print(
                f"    10,000-point POST /coverage, one at a time: median {np.median(t):.3f} s of N={len(t)}, "
                f"max {t.max():.3f} s (target < 0.2 s)",
                flush=True,
            )
            if args.million and workers == counts[-1]:
                s = million(base)
                print(
                    f"    1,000,000 points as 100 x 10,000 on 2 connections: {s:.1f} s ({1e6 / s:,.0f} points/s)",
                    flush=True,
                )
            print(f"    memory after the load (MB): {memory(proc.pid)}", flush=True)
            if args.burst:
                asyncio.run(burst(base, proc.pid, args.burst, args.origins, args.bands))
        finally:
            stop_server(proc)
    print(f"load average (1 min) at the end: {load_1min():.2f}")


if __name__ == "__main__":
    main()
