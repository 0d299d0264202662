"""Networking (issue 5): pydockerd vs Debian's dockerd, each with its own bridge and iptables rules.

  .venv/bin/python benchmarks/bench_network.py [--runs 20] [--mb 100] [--xfer-runs 5]

- cost of networking per container: `docker run --rm busybox true` on the default bridge minus the
  same with `--network none` (paired per run), target <= 50% of Docker's;
- a 100 MB transfer through a port published on 127.0.0.1 (the userland proxy path: pydocker's proxy
  vs docker-proxy): upload = the host client writes to busybox `nc -l -p 80 > /dev/null` and waits
  for the close; download = the host client GETs a 100 MB file from busybox `httpd`. Target >= 1.0x.

Each daemon gets a bridge on a 10.2xx.N.0/24 checked unused; traffic goes only to 127.0.0.1.
dockerd gets a bridge of its own name (`--bridge bdk…`, made here with the address, as dockerd
wants a non-default bridge), not docker0, which other benchmarks on this host may start and
remove meanwhile; with iptables on, as by default. Its rules and bridge are removed afterwards,
the DOCKER chains too unless another dockerd with iptables is running.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import alternate, arg, loadavg, table  # noqa: E402
from benchmarks.peers import (DOCKERD, OUR_NAMES, Daemon, _DOCKER_CHAIN, free_subnet,  # noqa: E402
                              host_state, remove_network_state, report_host_diff, start_dockerd,
                              start_pydocker, stop)


def make_bridge(cidr: str) -> str:
    """A bridge named bdk<hex> with ``cidr`` (gateway/prefix) on it, up."""
    name = "bdk" + secrets.token_hex(4)
    OUR_NAMES.add(name)
    subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", str(ipaddress.ip_interface(cidr)), "dev", name], check=True)
    subprocess.run(["ip", "link", "set", name, "up"], check=True)
    return name


def other_dockerd_with_iptables() -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if argv and argv[0] == DOCKERD and "--iptables=false" not in argv:
            return True
    return False


def start_dockerd_on(bridge: str) -> Daemon:
    # peers' "none" mode disables the bridge and iptables; the later flags turn them back on
    d = start_dockerd(bridge="none", extra=["--bridge", bridge, "--iptables=true", "--ip-masq=true"])
    opts = d.docker("network", "inspect", "-f", "{{json .Options}}", "bridge").stdout
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    if f'"{bridge}"' not in opts or f"-o {bridge} " not in rules:
        raise RuntimeError(f"dockerd is not on bridge {bridge} with iptables: {opts}")
    return d


def remove_dockerd_bridge(bridge: str) -> None:
    """The bridge, rules naming it and, if no other dockerd needs them, the DOCKER chains."""
    if other_dockerd_with_iptables():
        remove_network_state(bridge, lambda chain: False)
    else:
        remove_network_state(bridge, lambda chain: bool(_DOCKER_CHAIN.fullmatch(chain)))


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
    print(f"loadavg at the start: {loadavg()}")
    size = mb << 20
    before = host_state()
    daemons: list[Daemon] = []
    dk_bridge = ""
    try:
        py = start_pydocker(bridge=free_subnet(1))
        daemons.append(py)
        dk_bridge = make_bridge(free_subnet(2))
        dk = start_dockerd_on(dk_bridge)
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
        if dk_bridge:
            remove_dockerd_bridge(dk_bridge)
        print(f"loadavg at the end: {loadavg()}")
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
