"""Small helpers shared by the benchmarks: timing, medians, side-by-side tables."""
from __future__ import annotations

import socket
import statistics
import sys
import time
from typing import Callable


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call in milliseconds."""
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def alternate(cases: dict[str, Callable[[], object]], runs: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run every case ``runs`` times, interleaved, so drift on the machine hits all alike."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(runs):
        for k, fn in cases.items():
            out[k].append(timed(fn))
    return out


def table(title: str, rows: list[tuple[str, list[float], list[float], str, str]], target: str = "") -> str:
    """Render rows of (what, ours, theirs, our name, their name) as medians and a ratio."""
    lines = [f"== {title}" + (f"  (target: {target})" if target else "")]
    lines.append(f"{'benchmark':34} {'ours ms':>9} {'peer ms':>9} {'ratio':>7}  (median of n, ours vs peer)")
    for what, ours, theirs, on, tn in rows:
        mo, mt = statistics.median(ours), statistics.median(theirs)
        lines.append(f"{what:34} {mo:9.1f} {mt:9.1f} {mo / mt:6.2f}x  (n={len(ours)}, {on} vs {tn})")
    return "\n".join(lines)


def arg(name: str, default: int) -> int:
    """The integer after ``name`` on the command line (``--runs 20``), else ``default``."""
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg(n: int = 3) -> str:
    """The first n load averages (1, 5, 15 min): every script prints them, the VM being shared."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:n])
