"""How the benchmarks measure: timing, memory, contention from other processes, results as JSON.

- **Time**: every alternative in one comparison runs ``n`` times, interleaved round by round (A B C, A B C, ...)
  so that a burst of load from another process hits them alike; the statistic is the median, printed with ``N``.
- **Memory**: per section, the peak resident memory above the section's start. The kernel's high-water mark
  (``VmHWM``) is reset at the start of each section (``/proc/self/clear_refs``), so nothing carries over from an
  earlier section; where that reset is refused, the peak of a 50 ms RSS sampler is used (and said so).
  Child processes (``lifecircle plan``) report their own peak.
- **Contention**: CPU time used by other processes, sampled every 0.2 s from ``/proc/stat`` minus this process
  and its children (psutil), in cores, with the 1-minute load average.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # pragma: no cover - psutil comes with the dev extra
    psutil = None

ROOT = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1
_HZ = os.sysconf("SC_CLK_TCK")


class NotRun(Exception):
    """A section or measurement that cannot run here (the reason is its result)."""


def _status_kb(field: str) -> float:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return float(row.split()[1])
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _busy_ticks() -> float:
    parts = [float(p) for p in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(parts) - parts[3] - parts[4]  # all but idle and iowait


def _own_cpu_s() -> float:
    """CPU seconds of this process and its children (running ones too, when psutil is there)."""
    if psutil is None:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system
    me = psutil.Process()
    t = me.cpu_times()
    total = t.user + t.system + t.children_user + t.children_system
    for child in me.children(recursive=True):
        try:
            c = child.cpu_times()
        except psutil.Error:
            continue
        # a running child's own time, and that of the children it has reaped (a plan command's forked map
        # child): without the latter, our time would drop when a grandchild exits and show up as "others"
        total += c.user + c.system + c.children_user + c.children_system
    return total


class Monitor(threading.Thread):
    """Samples other processes' CPU use (cores) and this process's RSS while a section runs."""

    def __init__(self, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.others: list[float] = []
        self.rss_kb = _status_kb("VmRSS")
        self._halt = threading.Event()

    def run(self) -> None:
        busy, own, wall = _busy_ticks(), _own_cpu_s(), time.monotonic()
        while not self._halt.wait(0.05):
            self.rss_kb = max(self.rss_kb, _status_kb("VmRSS"))
            now = time.monotonic()
            if now - wall < self.every:
                continue
            b, o = _busy_ticks(), max(own, _own_cpu_s())  # ours never runs backwards (a child that exits unreaped)
            self.others.append(min(float(CORES), max(0.0, (b - busy) / _HZ - (o - own)) / (now - wall)))
            busy, own, wall = b, o, now

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fmt_s(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


class Section:
    """One numbered part of the run: its measurements, checks, memory and contention (see the module text)."""

    def __init__(self, report: Report, key: str, title: str) -> None:
        self.report, self.key, self.title = report, key, title
        self.data: dict[str, Any] = {"title": title, "status": "ok", "measures": {}, "checks": {}, "notes": []}

    def __enter__(self) -> Section:
        print(f"\n{self.title}", flush=True)
        gc.collect()
        self._exact_peak = _reset_peak()
        self._rss0 = _status_kb("VmRSS")
        self._load0 = os.getloadavg()[0]
        self._t0 = time.perf_counter()
        self._monitor = Monitor()
        self._monitor.start()
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        self._monitor.stop()
        peak = _status_kb("VmHWM") if self._exact_peak else self._monitor.rss_kb
        others = self._monitor.others
        self.data["wall_s"] = round(time.perf_counter() - self._t0, 2)
        self.data["memory"] = {
            "peak_above_start_mb": round(max(peak - self._rss0, 0.0) / 1024, 1),
            "start_rss_mb": round(self._rss0 / 1024, 1),
            "method": "VmHWM reset per section" if self._exact_peak else "RSS sampled every 50 ms",
        }
        self.data["contention"] = {
            "other_cores_mean": round(statistics.fmean(others), 2) if others else None,
            "other_cores_max": round(max(others), 2) if others else None,
            "samples": len(others),
            "load1_start": round(self._load0, 2),
            "load1_end": round(os.getloadavg()[0], 2),
            "cores": CORES,
        }
        if isinstance(exc, NotRun):
            self.data["status"] = "not run"
            self.data["reason"] = str(exc)
            print(f"   NOT RUN: {exc}")
        elif exc is not None and isinstance(exc, Exception):
            self.data["status"] = "failed"
            self.data["reason"] = f"{type(exc).__name__}: {exc}"
            print(f"   FAILED: {self.data['reason']}")
        mem, con = self.data["memory"], self.data["contention"]
        busy = (
            ""
            if con["other_cores_mean"] is None
            else (
                f"other processes {con['other_cores_mean']:.2f} cores mean, "
                f"{con['other_cores_max']:.2f} max (of {CORES}); "
            )
        )
        print(
            f"   memory: peak {mem['peak_above_start_mb']:,.0f} MB above the section's start ({mem['method']}); "
            f"{busy}load {con['load1_start']:.2f} -> {con['load1_end']:.2f}; section {self.data['wall_s']:.0f} s",
            flush=True,
        )
        self.report.sections[self.key] = self.data
        return exc is None or isinstance(exc, Exception)  # a failed section is recorded; the run goes on

    # ------------------------------------------------------------------ recording
    def compare(self, heading: str, alternatives: dict[str, tuple[str, Callable[[], Any]]], n: int) -> dict[str, float]:
        """Time alternatives ``n`` rounds, interleaved; print and keep each median. Returns medians by key."""
        samples: dict[str, list[float]] = {k: [] for k in alternatives}
        for _ in range(n):
            for key, (_, fn) in alternatives.items():
                samples[key].append(_once(fn))
        print(f"   {heading}  (median of N={n})")
        out = {}
        for key, (label, _) in alternatives.items():
            out[key] = self.measure(key, label, samples[key], show=True)
        return out

    def measure(self, key: str, label: str, samples: list[float], *, show: bool = True, note: str = "") -> float:
        med = statistics.median(samples)
        self.data["measures"][key] = {
            "label": label,
            "n": len(samples),
            "median_s": med,
            "samples_s": [round(s, 6) for s in samples],
            **({"note": note} if note else {}),
        }
        if show:
            print(f"     {label:<74} {fmt_s(med):>10}{('  ' + note) if note else ''}", flush=True)
        return med

    def not_run(self, key: str, label: str, reason: str) -> None:
        self.data["measures"][key] = {"label": label, "status": "not run", "reason": reason}
        print(f"     {label:<74} NOT RUN: {reason}", flush=True)

    def ratio(self, key: str, text: str, value: float) -> None:
        self.data.setdefault("ratios", {})[key] = round(value, 3)
        print(f"     {text}", flush=True)

    def check(self, key: str, text: str, value: Any) -> None:
        self.data["checks"][key] = value
        print(f"     check: {text}", flush=True)

    def note(self, text: str) -> None:
        self.data["notes"].append(text)
        print(f"   {text}", flush=True)


class Report:
    """Everything measured in one run, written as JSON at the end (and after every section)."""

    def __init__(self, args: dict[str, Any]) -> None:
        import numpy
        import scipy

        self.sections: dict[str, dict[str, Any]] = {}
        self.meta = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "args": args,
            "cores": CORES,
            "python": sys.version.split()[0],
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "git": _git(),
            "psutil": psutil is not None,
            "statistic": "median of N; alternatives interleaved round by round",
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"meta": self.meta, "sections": self.sections}, indent=1, ensure_ascii=False))
        tmp.replace(path)


def _git() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "-uno"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" (+ local changes)" if dirty.stdout.strip() else "")


def compare_files(old: Path, new: Path) -> None:
    """Print every median measured in both runs, old -> new, with the ratio."""
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (old, new))
    print(
        f"{old} ({a['meta']['git']}, {a['meta']['started']})\n  -> {new} ({b['meta']['git']}, {b['meta']['started']})"
    )
    print("medians old -> new, and old / new (above 1: faster now)")
    for key, sec in b["sections"].items():
        before = a["sections"].get(key, {}).get("measures", {})
        rows = [
            (k, m) for k, m in sec.get("measures", {}).items() if "median_s" in m and "median_s" in before.get(k, {})
        ]
        if not rows:
            continue
        print(f"\n{sec['title']}")
        for k, m in rows:
            o, n = before[k]["median_s"], m["median_s"]
            print(f"  {m['label']:<74} {fmt_s(o):>10} -> {fmt_s(n):>10}  x{o / n:,.2f}")
