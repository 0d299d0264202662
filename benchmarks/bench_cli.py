"""CLI (issue 8): the `pydocker` CLI vs the real tools, all against the same private pydockerd.

  .venv/bin/python benchmarks/bench_cli.py [--runs 20] [--compose-runs 5] [--trace]

- `pydocker ps` vs `/usr/local/bin/docker ps` (CLI 28) with 50 running containers (target <= 2x);
- `compose up -d` of docker-compose.test.yml: `pydocker compose` vs Debian's `docker-compose` 1.29
  (target <= 1.0x), with `down -v` (untimed) after every run.

pydockerd gets its own bridge on a 10.2xx.N.0/24 checked unused (compose needs networks and DNS).
--trace: one more (untimed) `up -d` per client through a relay on the socket that times every request:
how many, on how many connections, how long the daemon was busy with at least one of them, and so how
much of the wall time is the client's own (start-up, sequential waits, polling gaps); --trace-all also
prints each request.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.common import alternate, arg, free_port, loadavg, table, timed  # noqa: E402
from benchmarks.peers import free_subnet, host_state, report_host_diff, start_pydocker, stop  # noqa: E402

PYDOCKER = str(REPO / ".venv" / "bin" / "pydocker")
COMPOSE = "/usr/bin/docker-compose"


class Relay:
    """A unix-socket relay in front of the daemon that notes when each request is sent and answered."""

    METHODS = (b"GET ", b"POST ", b"HEAD ", b"DELETE ", b"PUT ")

    def __init__(self, upstream: str, path: str) -> None:
        self.upstream, self.path = upstream, path
        self.lock = threading.Lock()
        self.reqs: list[dict] = []  # {conn, line, sent, first, last}
        self.open: dict[int, dict] = {}
        self.conns = 0
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.upstream)
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self._pump, args=(c, u, n, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, n, False), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket, n: int, upward: bool) -> None:
        while True:
            try:
                data = a.recv(65536)
            except OSError:
                data = b""
            t = time.monotonic()
            if not data:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            with self.lock:
                if upward and data.startswith(self.METHODS):
                    r = {"conn": n, "line": data.split(b" HTTP/", 1)[0].decode(errors="replace"),
                         "sent": t, "first": None, "last": None}
                    self.reqs.append(r)
                    self.open[n] = r
                elif not upward and n in self.open:
                    r = self.open[n]
                    r["first"] = r["first"] or t
                    r["last"] = t
            try:
                b.sendall(data)
            except OSError:
                return

    def take(self) -> tuple[list[dict], int]:
        with self.lock:
            reqs, conns = self.reqs, self.conns
            self.reqs, self.open, self.conns = [], {}, 0
        return reqs, conns

    def close(self) -> None:
        self.srv.close()
        os.unlink(self.path)


def busy_ms(reqs: list[dict]) -> float:
    """Time with at least one request in flight at the daemon (sent .. last response byte)."""
    spans = sorted((r["sent"], r["last"] or r["sent"]) for r in reqs)
    total, end = 0.0, float("-inf")
    for a, b in spans:
        if b > end:
            total += b - max(a, end)
            end = b
    return total * 1000


def trace_up(env: dict, ups: dict, downs: dict, relay_dir: str) -> None:
    relay = Relay(env["DOCKER_HOST"][len("unix://"):], os.path.join(relay_dir, "relay.sock"))
    tenv = dict(env, DOCKER_HOST=f"unix://{relay.path}")
    names = {"py": "pydocker compose", "dk": "docker-compose 1.29"}
    try:
        print("== compose up -d through a timing relay (one untimed run each)")
        print(f"{'client':22} {'wall ms':>8} {'requests':>9} {'conns':>6} {'daemon busy ms':>15} {'client ms':>10}")
        for k in ("py", "dk"):
            t0 = time.monotonic()
            ups[k](tenv)
            wall = (time.monotonic() - t0) * 1000
            reqs, conns = relay.take()
            downs[k](env)
            busy = busy_ms(reqs)
            print(f"{names[k]:22} {wall:8.0f} {len(reqs):9} {conns:6} {busy:15.0f} {wall - busy:10.0f}")
            if "--trace-all" in sys.argv:
                for r in reqs:
                    first = (r["first"] - r["sent"]) * 1000 if r["first"] else -1
                    last = (r["last"] - r["sent"]) * 1000 if r["last"] else -1
                    print(f"  {(r['sent'] - t0) * 1000:8.1f} c{r['conn']:<3} {first:7.1f} {last:7.1f}  {r['line'][:110]}")
    finally:
        relay.close()


def main() -> None:
    runs, cruns = arg("--runs", 20), arg("--compose-runs", 5)
    before = host_state()
    py = None
    try:
        py = start_pydocker(bridge=free_subnet(3))
        env = dict(py.env, WEB_PORT=str(free_port()))

        def cli(*argv: str):
            def go(run_env: dict | None = None):
                cp = subprocess.run(list(argv), env=run_env or env, cwd=REPO, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=300)
                if cp.returncode != 0:
                    raise RuntimeError(f"{argv} -> {cp.returncode}: {cp.stderr[-2000:]}")
                return cp
            return go

        with ThreadPoolExecutor(10) as ex:
            ids = list(ex.map(lambda _: py.docker("run", "-d", "--network", "none", "busybox", "sleep", "300")
                              .stdout.strip(), range(50)))
        n = len(cli(PYDOCKER, "ps", "-q")().stdout.split())
        res = alternate({"py": cli(PYDOCKER, "ps"), "dk": cli("/usr/local/bin/docker", "ps")}, runs)
        print(table(f"ps with {n} running containers (same pydockerd)", [
            ("ps", res["py"], res["dk"], "pydocker", "docker CLI 28")], target="<= 2x"), flush=True)
        py.docker("rm", "-f", *ids)

        f = ["-f", "docker-compose.test.yml", "-p", "benchcli"]
        ups = {"py": cli(PYDOCKER, "compose", *f, "up", "-d"), "dk": cli(COMPOSE, *f, "up", "-d")}
        downs = {"py": cli(PYDOCKER, "compose", *f, "down", "-v"), "dk": cli(COMPOSE, *f, "down", "-v")}
        up: dict[str, list[float]] = {"py": [], "dk": []}
        down_failures: list[str] = []
        for i in range(cruns + 1):
            for k in ("py", "dk"):
                t = timed(ups[k])
                for attempt in range(3):
                    try:
                        downs[k]()
                        break
                    except RuntimeError as e:  # a known race, reported; `down -v` again finishes the job
                        print(f"down -v failed (attempt {attempt + 1}): {str(e).splitlines()[-1]}", flush=True)
                        down_failures.append(str(e).splitlines()[-1])
                if i:  # first round is the warm-up
                    up[k].append(t)
        print(table("compose up -d of docker-compose.test.yml (down -v between)", [
            ("compose up -d", up["py"], up["dk"], "pydocker compose", "docker-compose 1.29")],
            target="<= 1.0x"), flush=True)
        # the machine is shared: every sample, and the best of each (what a quiet machine gives)
        print(f"  samples ms: ours {[round(t) for t in up['py']]}  peer {[round(t) for t in up['dk']]}  "
              f"best/best {min(up['py']) / min(up['dk']):.2f}x  load {loadavg(1)}",
              flush=True)
        if "--trace" in sys.argv or "--trace-all" in sys.argv:
            trace_up(env, ups, downs, str(py.base))
        left = py.docker("ps", "-aq").stdout.split()
        if left:
            print(f"LEAK: {len(left)} containers left")
    finally:
        if py is not None:
            leaks = stop(py)
            if leaks:
                print(f"pydocker teardown leaks: {leaks}")
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
