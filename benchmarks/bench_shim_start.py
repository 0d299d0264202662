"""How pycontainerd can start a task's shim, side by side (no runtime is run: the shim only starts).

  .venv/bin/python benchmarks/bench_shim_start.py [--runs 20] [--keep 10]

- exec, as pycontainerd did first: `python -m pycontainerd.shim start …` (site, editable-install finder);
- lean exec, the fallback now: `python -S -m pycontainerd.shim start …`;
- zygote, the default now: a spare child of pycontainerd/zygote.py takes the request.

Per way: the start latency (request sent → shim listening, median of --runs) and the memory of --keep
idle shims kept at once (PSS per shim; the zygote and its spare are reported apart, as a fixed cost).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(REPO))
sys.path.insert(0, str(REPO))
from benchmarks.common import arg, loadavg  # noqa: E402


def pss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:"))


def shim_args(bundle: str, i: int) -> list[str]:
    return ["start", "--namespace", "bench", "--id", f"s{i}", "--bundle", bundle, "--runtime", "/bin/false",
            "--runtime-root", bundle]


def shutdown(bundle: str) -> None:
    pid = int(Path(bundle, "shim.pid").read_text())
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(os.path.join(bundle, "shim.sock"))
        s.sendall(b'{"op": "shutdown"}\n')
        s.recv(100)
    while os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.005)


class Exec:
    def __init__(self, lean: bool) -> None:
        self.flags = ["-S"] if lean else []

    def start(self, bundle: str, i: int) -> None:
        subprocess.run([sys.executable, *self.flags, "-m", "pycontainerd.shim", *shim_args(bundle, i)],
                       env=ENV, check=True, stdin=subprocess.DEVNULL)

    def fixed(self) -> list[int]:
        return []

    def close(self) -> None:
        pass


class Zygote:
    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen([sys.executable, "-S", "-m", "pycontainerd.zygote", "--fd",
                                      str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=ENV)
        theirs.close()
        self.sock = ours
        self.start(tempfile.mkdtemp(prefix="bshim-warm-"), -1, keep=False)  # wait until it serves

    def start(self, bundle: str, i: int, keep: bool = True) -> None:
        r, w = os.pipe()
        socket.send_fds(self.sock, [json.dumps(shim_args(bundle, i)).encode()], [w])
        os.close(w)
        status = b""
        while chunk := os.read(r, 100):
            status += chunk
        os.close(r)
        assert status == b"ok\n", status
        if not keep:
            shutdown(bundle)
            shutil.rmtree(bundle)

    def fixed(self) -> list[int]:
        kids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == self.proc.pid]
        spares = [p for p in kids if b"pycontainerd.zygote" in open(f"/proc/{p}/cmdline", "rb").read()]
        return [self.proc.pid, *spares]

    def close(self) -> None:
        self.sock.close()
        self.proc.wait(5)


def _ppid(pid: int) -> int:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        return 0


def measure(name: str, way, runs: int, keep: int) -> None:
    lat = []
    for i in range(runs):
        b = tempfile.mkdtemp(prefix="bshim-")
        t = time.perf_counter()
        way.start(b, i)
        lat.append((time.perf_counter() - t) * 1000)
        shutdown(b)
        shutil.rmtree(b)
    bundles = [tempfile.mkdtemp(prefix="bshim-") for _ in range(keep)]
    try:
        for i, b in enumerate(bundles):
            way.start(b, 1000 + i)
        time.sleep(0.5)
        pids = [int(Path(b, "shim.pid").read_text()) for b in bundles]
        per = statistics.mean(pss_kb(p) for p in pids) / 1024
        fixed = sum(pss_kb(p) for p in way.fixed()) / 1024
    finally:
        for b in bundles:
            if os.path.exists(os.path.join(b, "shim.sock")):
                shutdown(b)
            shutil.rmtree(b, ignore_errors=True)
    print(f"{name:12} start median {statistics.median(lat):6.1f} ms  (min {min(lat):5.1f}, max {max(lat):6.1f})"
          f"   PSS per idle shim {per:5.2f} MB  (+ fixed {fixed:5.2f} MB)", flush=True)


def main() -> None:
    runs, keep = arg("--runs", 20), arg("--keep", 10)
    print(f"load: {loadavg()}")
    for name, make in (("exec", lambda: Exec(lean=False)), ("lean exec", lambda: Exec(lean=True)),
                       ("zygote", Zygote)):
        way = make()
        try:
            measure(name, way, runs, keep)
        finally:
            way.close()
    print(f"load: {loadavg()}")


if __name__ == "__main__":
    main()
