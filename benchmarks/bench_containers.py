"""Containers (issue 6): pydockerd vs Debian's dockerd, both driven by the real docker CLI 28.

  .venv/bin/python benchmarks/bench_containers.py [--runs 20] [--batch 50] [--batch-runs 3]

- `docker run --rm busybox true`, alternating, medians (target <= 0.5x Docker);
- 50 concurrent `docker run -d busybox sleep 300`, then one `docker rm -f` of all of them
  (throughput in containers/s, target >= 2x Docker), then a leak check (containers, shims, mounts);
- the CPU each phase of that batch costs per container, by process kind (benchmarks/cpuacct.py);
- idle RSS of pydockerd + pycontainerd vs dockerd + containerd, and memory per running container:
  the RSS/PSS of the processes a container adds (shim + container process), plus the daemons' growth,
  over 10 running containers. pycontainerd's shim zygote (the process shims are forked from) and its
  runtime server (`pyrunc serve`) count with the daemons: they are a fixed cost, and the pages the zygote
  shares with the shims are split by PSS.

Both daemons run privately under /tmp with `--bridge none` (networking is bench_network.py).
"""
from __future__ import annotations

import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import alternate, arg, table  # noqa: E402
from benchmarks.cpuacct import MACHINE, CpuGroups, per_container  # noqa: E402
from benchmarks.peers import (Daemon, all_procs, host_state, mounts_under, pss_kb,  # noqa: E402
                              report_host_diff, rss_kb, start_dockerd, start_pydocker, stop)


def run_true(d: Daemon):
    def go():
        d.docker("run", "--rm", "busybox", "true")
    return go


def batch(d: Daemon, n: int, cpu: dict[str, list[dict[str, float]]] | None = None) -> tuple[float, float, list[str]]:
    """n concurrent run -d, then rm -f of all; (start ms, rm ms, leaks). With `cpu`, the CPU per
    container by process kind of each phase is appended to cpu["run"] and cpu["rm"]."""
    groups = CpuGroups(d) if cpu is not None else None
    try:
        s0 = groups.snapshot() if groups and groups.usable else None
        t0 = time.perf_counter()
        with ThreadPoolExecutor(n) as ex:
            ids = list(ex.map(lambda _: d.docker("run", "-d", "busybox", "sleep", "300").stdout.strip(),
                              range(n)))
        t1 = time.perf_counter()
        s1 = groups.snapshot() if s0 is not None else None
        d.docker("rm", "-f", *ids)
        t2 = time.perf_counter()
        if s0 is not None:
            cpu["run"].append(per_container(s0, s1, n))
            cpu["rm"].append(per_container(s1, groups.snapshot(), n))
    finally:
        if groups is not None:
            groups.close()
    leaks = []
    left = d.docker("ps", "-aq").stdout.split()
    if left:
        leaks.append(f"{len(left)} containers left")
    time.sleep(0.5)
    shims = d.shim_pids()
    if shims:
        leaks.append(f"{len(shims)} shims left")
    mps = [m for m in mounts_under(str(d.root)) if any(i[:12] in m for i in ids) or "/rootfs" in m]
    if mps:
        leaks.append(f"{len(mps)} mounts left: {mps[:3]}")
    return (t1 - t0) * 1000, (t2 - t1) * 1000, leaks


def daemon_pids(d: Daemon) -> list[int]:
    """The engine, its containerd and (ours) the shim zygote and the runtime server pycontainerd keeps."""
    root, procs = str(d.root), all_procs()
    engine = d.daemon_pids()
    return engine + [pid for pid, (ppid, cmd) in procs.items()
                     if ("pycontainerd.zygote" in cmd and root in cmd)
                     or (ppid in engine and "pyrunc" in cmd and " serve " in cmd)]


def memory(d: Daemon, n: int = 10) -> dict[str, float]:
    time.sleep(1)
    dp = daemon_pids(d)
    idle_rss = sum(rss_kb(p) for p in dp)
    idle_pss = sum(pss_kb(p) for p in dp)
    ids = [d.docker("run", "-d", "busybox", "sleep", "300").stdout.strip() for _ in range(n)]
    time.sleep(1)
    procs = d.container_procs()
    c_rss = sum(rss_kb(p) for p in procs)
    c_pss = sum(pss_kb(p) for p in procs)
    busy_rss = sum(rss_kb(p) for p in dp)
    busy_pss = sum(pss_kb(p) for p in dp)
    d.docker("rm", "-f", *ids)
    return {"idle RSS MB": idle_rss / 1024, "idle PSS MB": idle_pss / 1024,
            "per container RSS MB (procs)": c_rss / n / 1024, "per container PSS MB (procs)": c_pss / n / 1024,
            "per container daemons' RSS growth MB": (busy_rss - idle_rss) / n / 1024,
            "per container total PSS MB": (c_pss + busy_pss - idle_pss) / n / 1024,
            "processes per container": len(procs) / n}


def print_cpu(cpu: dict[str, dict[str, list[dict[str, float]]]]) -> None:
    """Median CPU ms per container by process kind, per phase (where a throughput gap comes from)."""
    if not cpu["py"]["run"] or not cpu["dk"]["run"]:
        print("(no CPU breakdown: no cgroup v1 cpuacct hierarchy)")
        return
    for phase in ("run", "rm"):
        print(f"== CPU per container, {'50x run -d' if phase == 'run' else 'rm -f'} phase "
              f"(ms, median over batches; cpuacct groups)")
        kinds = sorted({k for e in ("py", "dk") for snap in cpu[e][phase] for k in snap} - {MACHINE})
        print(f"{'process kind':44} {'pydocker':>9} {'docker':>9}")
        for kind in kinds + [MACHINE]:
            vals = [statistics.median(s.get(kind, 0.0) for s in cpu[e][phase]) for e in ("py", "dk")]
            ratio = f"   ratio {vals[0] / vals[1]:.2f}x" if kind == MACHINE and vals[1] else ""
            print(f"{kind:44} {vals[0]:9.1f} {vals[1]:9.1f}{ratio}")


def main() -> None:
    runs, n, batch_runs = arg("--runs", 20), arg("--batch", 50), arg("--batch-runs", 3)
    before = host_state()
    daemons: list[Daemon] = []
    try:
        py = start_pydocker()
        daemons.append(py)
        dk = start_dockerd()
        daemons.append(dk)
        res = alternate({"py": run_true(py), "dk": run_true(dk)}, runs)
        print(table("docker run --rm busybox true (docker CLI 28)", [
            ("run --rm true", res["py"], res["dk"], "pydockerd", "dockerd")], target="<= 0.5x"), flush=True)

        bres: dict[str, list[tuple[float, float]]] = {"py": [], "dk": []}
        cpu: dict[str, dict[str, list[dict[str, float]]]] = {"py": {"run": [], "rm": []},
                                                            "dk": {"run": [], "rm": []}}
        for i in range(batch_runs):
            for k, d in (("py", py), ("dk", dk)):
                s, r, leaks = batch(d, n, cpu[k])
                bres[k].append((s, r))
                if leaks:
                    print(f"LEAK after batch {i} on {d.name}: {leaks}", flush=True)
        rows = [(f"{n}x run -d (concurrent)", [x[0] for x in bres["py"]], [x[0] for x in bres["dk"]],
                 "pydockerd", "dockerd"),
                (f"rm -f of {n}", [x[1] for x in bres["py"]], [x[1] for x in bres["dk"]], "pydockerd", "dockerd"),
                (f"{n}x run -d + rm -f", [sum(x) for x in bres["py"]], [sum(x) for x in bres["dk"]],
                 "pydockerd", "dockerd")]
        print(table(f"{n} concurrent run -d sleep 300, then rm -f", rows,
                    target="throughput >= 2x Docker, i.e. ratio <= 0.5x"))
        for k, d in (("py", py), ("dk", dk)):
            tot = statistics.median(sum(x) for x in bres[k]) / 1000
            print(f"  {d.name}: {n / tot:.1f} containers/s (start+remove), "
                  f"{n / (statistics.median(x[0] for x in bres[k]) / 1000):.1f} starts/s")

        print_cpu(cpu)

        mem = {"py": memory(py), "dk": memory(dk)}
        print("== memory (10 running busybox sleep containers)")
        print(f"{'measure':40} {'pydocker':>10} {'docker':>10} {'ratio':>7}")
        for key in mem["py"]:
            a, b = mem["py"][key], mem["dk"][key]
            print(f"{key:40} {a:10.2f} {b:10.2f} {a / b if b else float('nan'):6.2f}x")
    finally:
        for d in daemons:
            leaks = stop(d)
            if leaks:
                print(f"{d.name} teardown leaks: {leaks}")
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
