"""CLI (issue 8): the `pydocker` CLI vs the real tools, all against the same private pydockerd.

  .venv/bin/python benchmarks/bench_cli.py [--runs 20] [--compose-runs 5]

- `pydocker ps` vs `/usr/local/bin/docker ps` (CLI 28) with 50 running containers (target <= 2x);
- `compose up -d` of docker-compose.test.yml: `pydocker compose` vs Debian's `docker-compose` 1.29
  (target <= 1.0x), with `down -v` (untimed) after every run.

pydockerd gets its own bridge on a 10.2xx.N.0/24 checked unused (compose needs networks and DNS).
"""
from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from benchmarks.common import alternate, table, timed  # noqa: E402
from benchmarks.peers import free_subnet, host_state, report_host_diff, start_pydocker, stop  # noqa: E402

PYDOCKER = str(REPO / ".venv" / "bin" / "pydocker")
COMPOSE = "/usr/bin/docker-compose"


def arg(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    runs, cruns = arg("--runs", 20), arg("--compose-runs", 5)
    before = host_state()
    py = None
    try:
        py = start_pydocker(bridge=free_subnet(3))
        env = dict(py.env, WEB_PORT=str(free_port()))

        def cli(*argv: str):
            def go():
                cp = subprocess.run(list(argv), env=env, cwd=REPO, capture_output=True, text=True,
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
            target="<= 1.0x"))
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
