"""Networking (issue 5): pydockerd vs Debian's dockerd, each with its own bridge and iptables rules.

  .venv/bin/python benchmarks/bench_network.py [--runs 20] [--mb 100] [--xfer-runs 5]

- cost of networking per container: `docker run --rm busybox true` on the default bridge minus the
  same with `--network none` (paired per run), target <= 50% of Docker's;
- a 100 MB transfer through a port published on 127.0.0.1 (the userland proxy path: pydocker's proxy
  vs docker-proxy): upload = the host client writes to busybox `nc -l -p 80 > /dev/null` and waits
  for the close; download = the host client GETs a 100 MB file from busybox `httpd`. Target >= 1.0x.

Each daemon gets a bridge on a 10.2xx.N.0/24 checked unused; traffic goes only to 127.0.0.1.
dockerd's docker0 and DOCKER chains (which it keeps at exit) are removed afterwards.
"""
from __future__ import annotations

import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import alternate, table  # noqa: E402
from benchmarks.peers import (Daemon, free_subnet, host_state, report_host_diff,  # noqa: E402
                              start_dockerd, start_pydocker, stop)


def arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def run_true(d: Daemon, *net: str):
    def go():
        d.docker("run", "--rm", *net, "busybox", "true")
    return go


def host_port(d: Daemon, cid: str) -> int:
    out = d.docker("port", cid, "80/tcp").stdout.split()[0]
    return int(out.rsplit(":", 1)[1])


def wait_port(port: int, probe: bytes | None = None, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if probe is None:
                    return
                s.sendall(probe)
                if s.recv(16).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port} not answering")


def upload(port: int, size: int) -> float:
    """Send size bytes to nc in the container, half-close, wait for its close; MB/s."""
    chunk = b"\xa5" * (1 << 20)
    for attempt in range(50):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port)) as s:
            sent = 0
            try:
                while sent < size:
                    s.sendall(chunk)
                    sent += len(chunk)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except OSError:
                time.sleep(0.2)   # nc is restarting between connections
                continue
        return size / (1 << 20) / (time.perf_counter() - t0)
    raise RuntimeError("upload failed")


def download(port: int, size: int) -> float:
    buf = bytearray(1 << 20)
    t0 = time.perf_counter()
    got = 0
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"GET /f HTTP/1.0\r\nHost: x\r\n\r\n")
        while True:
            n = s.recv_into(buf)
            if not n:
                break
            got += n
    if got < size:
        raise RuntimeError(f"short download: {got}")
    return size / (1 << 20) / (time.perf_counter() - t0)


def main() -> None:
    runs, mb, xruns = arg("--runs", 20), arg("--mb", 100), arg("--xfer-runs", 5)
    size = mb << 20
    before = host_state()
    daemons: list[Daemon] = []
    try:
        py = start_pydocker(bridge=free_subnet(1))
        daemons.append(py)
        dk = start_dockerd(bridge=free_subnet(2))
        daemons.append(dk)
        res = alternate({"py bridge": run_true(py), "py none": run_true(py, "--network", "none"),
                         "dk bridge": run_true(dk), "dk none": run_true(dk, "--network", "none")}, runs)
        cost = {k: [b - n for b, n in zip(res[f"{k} bridge"], res[f"{k} none"])] for k in ("py", "dk")}
        print(table("docker run --rm busybox true: default bridge vs --network none", [
            ("run --rm true (bridge)", res["py bridge"], res["dk bridge"], "pydockerd", "dockerd"),
            ("run --rm true (--network none)", res["py none"], res["dk none"], "pydockerd", "dockerd"),
            ("networking cost (paired diff)", cost["py"], cost["dk"], "pydockerd", "dockerd"),
        ], target="networking cost <= 0.5x Docker's"), flush=True)

        up: dict[str, list[float]] = {}
        down: dict[str, list[float]] = {}
        for k, d in (("py", py), ("dk", dk)):
            nc = d.docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                          "while true; do nc -l -p 80 > /dev/null < /dev/null; done").stdout.strip()
            web = d.docker("run", "-d", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                           f"mkdir /www && dd if=/dev/zero of=/www/f bs=1M count={mb} 2>/dev/null && "
                           "exec httpd -f -p 80 -h /www").stdout.strip()
            d.nc_port, d.web_port = host_port(d, nc), host_port(d, web)  # type: ignore[attr-defined]
            wait_port(d.web_port, b"HEAD /f HTTP/1.0\r\n\r\n")  # type: ignore[attr-defined]
            upload(d.nc_port, 1 << 20)  # type: ignore[attr-defined]
            up[k], down[k] = [], []
        for _ in range(xruns):
            for k, d in (("py", py), ("dk", dk)):
                up[k].append(upload(d.nc_port, size))  # type: ignore[attr-defined]
                down[k].append(download(d.web_port, size))  # type: ignore[attr-defined]
        # table() is ratio of medians ours/peer; for throughput give seconds per 100 MB so lower is better
        sec = lambda xs: [mb / x * 1000 for x in xs]  # noqa: E731
        print(table(f"{mb} MB through a port published on 127.0.0.1 (userland proxy), ms per transfer", [
            (f"upload {mb} MB (host -> nc)", sec(up["py"]), sec(up["dk"]), "pydocker proxy", "docker-proxy"),
            (f"download {mb} MB (httpd -> host)", sec(down["py"]), sec(down["dk"]), "pydocker proxy",
             "docker-proxy"),
        ], target="throughput >= 1.0x Docker, i.e. ratio <= 1.0x"))
        for k, d in (("py", py), ("dk", dk)):
            print(f"  {d.name}: upload {statistics.median(up[k]):.0f} MB/s, "
                  f"download {statistics.median(down[k]):.0f} MB/s")
    finally:
        for d in daemons:
            leaks = stop(d)
            if leaks:
                print(f"{d.name} teardown leaks: {leaks}")
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
