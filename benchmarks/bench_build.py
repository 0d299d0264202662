"""Builds (issue 7): pydockerd's classic builder vs Debian dockerd's legacy builder.

  .venv/bin/python benchmarks/bench_build.py [--runs 5]

The same context and Dockerfile (FROM busybox, 5 RUN and 3 COPY steps) with `DOCKER_BUILDKIT=0
docker build` (CLI 28) against each daemon: a cold build (`--no-cache`), then a fully cached rebuild;
the image is removed between runs. Target: <= 1.0x for both.
"""
from __future__ import annotations

import os
import sys
import tempfile
import shutil
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import arg, table, timed  # noqa: E402
from benchmarks.peers import Daemon, host_state, report_host_diff, start_dockerd, start_pydocker, stop  # noqa: E402

DOCKERFILE = """\
FROM busybox:latest
COPY a.txt /app/a.txt
RUN echo one > /app/1
COPY dir /app/dir
RUN for i in $(seq 1 100); do echo $i; done > /app/seq
RUN dd if=/dev/urandom of=/app/blob bs=1k count=1024 2>/dev/null
COPY b.bin /app/b.bin
RUN ls -la /app /app/dir > /app/ls
RUN cat /app/a.txt /app/1 /app/seq > /app/cat && wc -c /app/cat
"""


def make_context(base: Path) -> Path:
    ctx = base / "ctx"
    (ctx / "dir").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "a.txt").write_text("hello\n" * 100)
    for i in range(20):
        (ctx / "dir" / f"f{i}.txt").write_text(f"file {i}\n" * 50)
    (ctx / "b.bin").write_bytes(os.urandom(1 << 20))
    return ctx


def main() -> None:
    runs = arg("--runs", 5)
    before = host_state()
    base = Path(tempfile.mkdtemp(prefix="bbuild-"))
    ctx = make_context(base)
    daemons: list[Daemon] = []
    env = {"DOCKER_BUILDKIT": "0"}
    try:
        py = start_pydocker()
        daemons.append(py)
        dk = start_dockerd()
        daemons.append(dk)

        def build(d: Daemon, *extra: str):
            def go():
                return d.docker("build", *extra, "-t", "bench:build", str(ctx), env=env)
            return go

        cold: dict[str, list[float]] = {"py": [], "dk": []}
        warm: dict[str, list[float]] = {"py": [], "dk": []}
        # warm-up: one build and rebuild on each, to load the builder paths
        for d in (py, dk):
            build(d, "--no-cache")()
            hits = build(d)().stdout.count("Using cache")
            print(f"{d.name}: cached rebuild hit the cache on {hits}/8 steps", flush=True)
            d.docker("rmi", "-f", "bench:build")
        for _ in range(runs):
            for k, d in (("py", py), ("dk", dk)):
                cold[k].append(timed(build(d, "--no-cache")))
                warm[k].append(timed(build(d)))
                d.docker("rmi", "-f", "bench:build")
                d.docker("image", "prune", "-f", check=False)
        print(table("DOCKER_BUILDKIT=0 docker build (5 RUN + 3 COPY on busybox)", [
            ("cold build (--no-cache)", cold["py"], cold["dk"], "pydockerd", "dockerd"),
            ("fully cached rebuild", warm["py"], warm["dk"], "pydockerd", "dockerd"),
        ], target="<= 1.0x for both"))
    finally:
        for d in daemons:
            leaks = stop(d)
            if leaks:
                print(f"{d.name} teardown leaks: {leaks}")
        shutil.rmtree(base, ignore_errors=True)
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
