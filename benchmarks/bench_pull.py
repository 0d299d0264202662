"""Pulls (issue 4): pydocker vs Debian's dockerd vs `ctr pull` into Debian's containerd, same registry.

  .venv/bin/python benchmarks/bench_pull.py [--runs 3] [--mb 200] [--layers 5]

A generated image (5 gzip layers of random data files, ~200 MB in all, schema2 manifest) is pushed
with our own code to a Debian `docker-registry` on 127.0.0.1 (temp storage, own config). Then, per
run, alternating: `docker pull` (CLI 28) against pydockerd and against dockerd, and `ctr images pull
--plain-http` into the containerd that dockerd started (namespace `bench`); the image is removed
between runs (`docker rmi`, `ctr images rm --sync`). Peak RSS (VmHWM, reset before each pull through
/proc/PID/clear_refs; and the RSS of the daemon plus its children, e.g. the unpacking child, sampled
every 50 ms) of pycontainerd and pydockerd vs dockerd and containerd during the pull.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import shutil
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.common import arg, free_port, loadavg, table, timed  # noqa: E402
from benchmarks.peers import Daemon, descendants, host_state, report_host_diff, rss_kb, start_dockerd, start_pydocker, stop  # noqa: E402

REGISTRY = "/usr/bin/docker-registry"
CTR = "/usr/bin/ctr"


def make_layer(i: int, mb: int, files: int = 4) -> tuple[bytes, str]:
    """A gzip'd tar of ``files`` random files totalling ``mb`` MB; (blob, diff_id)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo(f"data{i}")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 0
        tf.addfile(d)
        per = (mb << 20) // files
        for j in range(files):
            ti = tarfile.TarInfo(f"data{i}/f{j}.bin")
            ti.size, ti.mode, ti.mtime = per, 0o644, 0
            tf.addfile(ti, io.BytesIO(os.urandom(per)))
    tar = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    return gzip.compress(tar, compresslevel=1, mtime=0), diff_id


def push_image(port: int, repo: str, mb: int, layers: int) -> int:
    """Upload the blobs and a schema2 manifest through the registry's HTTP API; total bytes."""
    def req(method: str, path: str, body: bytes = b"", headers: dict | None = None):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path} -> {r.status} {data[:300]!r}")
        return r

    def blob(data: bytes) -> str:
        dg = "sha256:" + hashlib.sha256(data).hexdigest()
        loc = req("POST", f"/v2/{repo}/blobs/uploads/").getheader("Location")
        path = loc.split(f"127.0.0.1:{port}", 1)[-1]
        sep = "&" if "?" in path else "?"
        req("PUT", f"{path}{sep}digest={dg}", data, {"Content-Type": "application/octet-stream"})
        return dg

    descs, diff_ids, total = [], [], 0
    for i in range(layers):
        data, diff_id = make_layer(i, mb // layers)
        descs.append({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                      "size": len(data), "digest": blob(data)})
        diff_ids.append(diff_id)
        total += len(data)
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                         "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"}
                                     for i in range(layers)]}).encode()
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                      "size": len(config), "digest": blob(config)},
                           "layers": descs}).encode()
    req("PUT", f"/v2/{repo}/manifests/latest", manifest,
        {"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    return total


class PeakRSS:
    """Reset the peak RSS (clear_refs 5) of some pids, then read VmHWM; also sample RSS every 50 ms (with children)."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.samples = 0
        self._stop = threading.Event()

    def __enter__(self):
        for p in self.pids:
            try:
                Path(f"/proc/{p}/clear_refs").write_text("5")
            except OSError:
                pass
        self.start_rss = sum(rss_kb(p) for p in self.pids)
        self.t = threading.Thread(target=self._sample, daemon=True)
        self.t.start()
        return self

    def _sample(self):
        # the process and its children (the unpack runs in a chrooted child for all three)
        while not self._stop.wait(0.05):
            self.samples = max(self.samples, sum(rss_kb(p) for p in descendants(set(self.pids))))

    def __exit__(self, *a):
        self._stop.set()
        self.t.join()
        self.hwm = 0
        for p in self.pids:
            try:
                for ln in Path(f"/proc/{p}/status").read_text().splitlines():
                    if ln.startswith("VmHWM:"):
                        self.hwm += int(ln.split()[1])
            except OSError:
                pass


def main() -> None:
    runs, mb, layers = arg("--runs", 3), arg("--mb", 200), arg("--layers", 5)
    before = host_state()
    base = Path(tempfile.mkdtemp(prefix="bpl-"))
    port = free_port()
    reg_addr = f"127.0.0.1:{port}"
    ref = f"{reg_addr}/bench/big:latest"
    (base / "registry.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {base}/registry\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {reg_addr}\n")
    reg = subprocess.Popen([REGISTRY, "serve", str(base / "registry.yml")], stdout=subprocess.DEVNULL,
                           stderr=open(base / "registry.log", "wb"), start_new_session=True)
    daemons: list[Daemon] = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        total = push_image(port, "bench/big", mb, layers)
        print(f"image pushed: {layers} layers, {total / 1e6:.0f} MB compressed, to {reg_addr}", flush=True)
        py = start_pydocker(["--insecure-registry", reg_addr])
        daemons.append(py)
        dk = start_dockerd(extra=["--insecure-registry", reg_addr])
        daemons.append(dk)
        ctr_sock = str(dk.root / "exec" / "containerd" / "containerd.sock")
        ctr = [CTR, "-a", ctr_sock, "-n", "bench"]

        def pull_py():
            py.docker("pull", "-q", ref)

        def pull_dk():
            dk.docker("pull", "-q", ref)

        def pull_ctr():
            cp = subprocess.run([*ctr, "images", "pull", "--plain-http", ref], capture_output=True, text=True)
            if cp.returncode:
                raise RuntimeError(cp.stderr)

        pyctr = [CTR, "-a", str(py.root / "exec" / "containerd" / "containerd.sock"), "-n", "moby"]

        def ls(kind: str) -> list[str]:
            out = subprocess.run([*pyctr, kind, "ls"], capture_output=True, text=True).stdout.splitlines()[1:]
            return [ln.split()[0] for ln in out if ln.strip()]

        base_content, base_snaps = set(ls("content")), set(ls("snapshots"))
        kept: list[int] = []

        def rm_py():
            py.docker("rmi", ref)
            # pycontainerd's GC keeps blobs and snapshots younger than 60 s (gc.GRACE) and runs only on a
            # delete, so an image removed right after its pull stays on disk; remove it here, as
            # containerd's GC would, so that every pull really downloads and unpacks.
            extra = set(ls("content")) - base_content
            kept.append(len(extra))
            if extra:
                subprocess.run([*pyctr, "content", "rm", *extra], capture_output=True)
            for _ in range(layers + 1):
                snaps = set(ls("snapshots")) - base_snaps
                if not snaps:
                    break
                for sn in snaps:
                    subprocess.run([*pyctr, "snapshots", "rm", sn], capture_output=True)

        def rm_dk():
            dk.docker("rmi", ref)

        def rm_ctr():
            subprocess.run([*ctr, "images", "rm", "--sync", ref], capture_output=True, check=True)

        from benchmarks.peers import all_procs
        procs = all_procs()
        dpy = {("pycontainerd" if "pycontainerd.main" in procs[p][1] else "pydockerd"): p for p in py.daemon_pids()}
        ddk = {("dockerd" if procs[p][1].startswith("/usr/sbin/dockerd") else "containerd"): p
               for p in dk.daemon_pids()}
        res = {"py": [], "dk": [], "ctr": []}
        peaks: dict[str, list[tuple[int, int, int]]] = {"pycontainerd": [], "pydockerd": [], "dockerd": [],
                                                        "containerd (ctr pull)": []}
        cases = [("py", pull_py, rm_py, [("pycontainerd", dpy["pycontainerd"]), ("pydockerd", dpy["pydockerd"])]),
                 ("dk", pull_dk, rm_dk, [("dockerd", ddk["dockerd"])]),
                 ("ctr", pull_ctr, rm_ctr, [("containerd (ctr pull)", ddk["containerd"])])]
        load_before = loadavg()
        for i in range(runs + 1):
            for k, pull, rm, watch in cases:
                mons = [(name, PeakRSS([pid])) for name, pid in watch]
                for _, m in mons:
                    m.__enter__()
                t = timed(pull)
                for name, m in mons:
                    m.__exit__()
                    if i:
                        peaks[name].append((m.start_rss, m.hwm, m.samples))
                rm()
                if i:  # the first round is a warm-up
                    res[k].append(t)
        print(f"load average (1/5/15 min) before the runs: {load_before}, after: {loadavg()}")
        print(table(f"pull + unpack of a {total / 1e6:.0f} MB, {layers}-layer image from a local registry", [
            ("pull (vs dockerd)", res["py"], res["dk"], "pydocker", "dockerd"),
            ("pull (vs ctr pull)", res["py"], res["ctr"], "pydocker", "ctr/containerd"),
        ], target="<= 1.0x"))
        print("== peak RSS during the pull, MB: before -> peak VmHWM of the daemon "
              "(max RSS of it + its children, sampled every 50 ms)")
        for name, xs in peaks.items():
            print(f"  {name:24} " + "; ".join(f"{a / 1024:.0f} -> {b / 1024:.0f} ({c / 1024:.0f})" for a, b, c in xs))
        print(f"  pycontainerd blobs left by each docker rmi (removed by the benchmark): {kept}")
    finally:
        for d in daemons:
            leaks = stop(d)
            if leaks:
                print(f"{d.name} teardown leaks: {leaks}")
        reg.terminate()
        reg.wait(10)
        shutil.rmtree(base, ignore_errors=True)
        report_host_diff(before, host_state())


if __name__ == "__main__":
    main()
