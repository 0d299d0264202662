"""`docker stats` on cgroup v2: pycontainerd reads a container's unified-hierarchy files into containerd's
io.containerd.cgroups.v2.Metrics, pydockerd maps that into the Engine API stats JSON as moby's statsV2.

This host is hybrid (v1 controllers; the unified hierarchy has none), so the v2 side reads a fake
cgroupfs tree with file contents as a kernel 6.1 writes them for a busybox container; the v1 side
reads the real hierarchy of this test process.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli.commands.container import stats_row
from pycontainerd import cgroupstats
from pydockerd.daemon import stats

CGROUP = "/system.slice/docker-0123abcd.scope"

# Real file contents of a v2 container cgroup (kernel 6.1): `sh -c 'sleep 300 & sleep 300 & wait'`
# after reading a few files, limited with --memory 64m --pids-limit 40 --cpus 0.5.
FILES = {
    "cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n",
    "memory.current": "6025216\n",
    "memory.max": "67108864\n",
    "memory.peak": "6451200\n",
    "memory.swap.current": "0\n",
    "memory.swap.max": "max\n",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n",
    "memory.stat": (
        "anon 1236992\nfile 4096000\nkernel 487424\nkernel_stack 32768\npagetables 65536\nsec_pagetables 0\n"
        "percpu 288\nsock 0\nvmalloc 0\nshmem 0\nzswap 0\nzswapped 0\nfile_mapped 2920448\nfile_dirty 0\n"
        "file_writeback 0\nswapcached 0\nanon_thp 0\nfile_thp 0\nshmem_thp 0\ninactive_anon 1220608\n"
        "active_anon 16384\ninactive_file 3768320\nactive_file 327680\nunevictable 0\n"
        "slab_reclaimable 239960\nslab_unreclaimable 126824\nslab 366784\nworkingset_refault_anon 0\n"
        "workingset_refault_file 0\nworkingset_activate_anon 0\nworkingset_activate_file 0\n"
        "workingset_restore_anon 0\nworkingset_restore_file 0\nworkingset_nodereclaim 0\npgscan 0\n"
        "pgsteal 0\npgscan_kswapd 0\npgscan_direct 0\npgsteal_kswapd 0\npgsteal_direct 0\npgfault 2254\n"
        "pgmajfault 14\npgrefill 0\npgactivate 80\npgdeactivate 0\npglazyfree 0\npglazyfreed 0\n"
        "thp_fault_alloc 0\nthp_collapse_alloc 0\n"),
    "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
    "cpu.stat": ("usage_usec 52183\nuser_usec 21005\nsystem_usec 31178\ncore_sched.force_idle_usec 0\n"
                 "nr_periods 12\nnr_throttled 2\nthrottled_usec 3071\nnr_bursts 0\nburst_usec 0\n"),
    "cpu.pressure": "some avg10=0.15 avg60=0.03 avg300=0.00 total=1375\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=912\n",
    "pids.current": "3\n",
    "pids.max": "40\n",
    "io.stat": ("8:0 rbytes=1458176 wbytes=4096 rios=38 wios=1 dbytes=0 dios=0\n"
                "253:0 rbytes=1458176 wbytes=4096 rios=38 wios=1 dbytes=0 dios=0\n"),
    "io.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=4021\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3990\n",
    "hugetlb.2MB.current": "0\n",
    "hugetlb.2MB.max": "max\n",
    "hugetlb.2MB.events": "max 0\n",
    "rdma.current": "",
    "rdma.max": "",
}


@pytest.fixture
def fake_v2(tmp_path, monkeypatch):
    """A pure-v2 host: cgroup2 mounted at the root, process 4242 in CGROUP (and nowhere in v1)."""
    root = tmp_path / "sys/fs/cgroup"
    d = root / CGROUP.lstrip("/")
    d.mkdir(parents=True)
    (root / "cgroup.controllers").write_text(FILES["cgroup.controllers"])
    for name, text in FILES.items():
        (d / name).write_text(text)
    proc = tmp_path / "proc/4242"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(f"0::{CGROUP}\n")
    monkeypatch.setattr(cgroupstats, "CGROUP_ROOT", str(root))
    monkeypatch.setattr(cgroupstats, "PROC_ROOT", str(tmp_path / "proc"))
    return d


def sample(pid: int) -> dict:
    """What pydockerd answers for one /stats sample of the task with init `pid` (via the Any that
    Tasks.Metrics carries), serialised as on the wire."""
    data = cgroupstats.metrics_any(pid)
    return json.loads(json.dumps(stats.build("c" * 64, "/web", data, pid, False, None)))


def test_v2_container_is_read_from_the_unified_hierarchy(fake_v2):
    assert cgroupstats.metrics_any(4242).type_url == "io.containerd.cgroups.v2.Metrics"
    kind, m = cgroupstats.task_metrics(4242)
    assert kind == cgroupstats.V2_TYPE
    assert m["pids"] == {"current": 3, "limit": 40}
    assert (m["cpu"]["usage_usec"], m["cpu"]["nr_throttled"], m["cpu"]["psi"]["some"]["total"]) == (52183, 2, 1375)
    assert (m["memory"]["usage"], m["memory"]["usage_limit"], m["memory"]["max_usage"]) == (6025216, 64 << 20, 6451200)
    assert m["memory"]["swap_limit"] == 2**64 - 1  # "max", as containerd reads it
    assert m["memory_events"]["oom_kill"] == 1
    assert m["io"]["usage"][0] == {"major": 8, "minor": 0, "rbytes": 1458176, "wbytes": 4096, "rios": 38, "wios": 1}
    assert m["hugetlb"] == [{"current": 0, "max": 2**64 - 1, "pagesize": "2MB", "failcnt": 0}]


def test_v2_engine_json_matches_dockerd(fake_v2):
    s = sample(4242)
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"] == {"total_usage": 52183000, "usage_in_kernelmode": 31178000,
                                "usage_in_usermode": 21005000}  # µs → ns, no percpu_usage on v2
    assert cpu["throttling_data"] == {"periods": 12, "throttled_periods": 2, "throttled_time": 3071000}
    assert cpu["system_cpu_usage"] > 0 and cpu["online_cpus"] >= 1
    mem = s["memory_stats"]
    assert mem["usage"] == 6025216 and mem["limit"] == 64 << 20
    assert "max_usage" not in mem  # dockerd leaves it out on v2
    assert mem["failcnt"] == 1  # memory.events oom
    assert mem["stats"]["inactive_file"] == 3768320 and mem["stats"]["anon"] == 1236992
    assert mem["stats"]["file_mapped"] == 2920448 and mem["stats"]["pgmajfault"] == 14
    assert len(mem["stats"]) == 31 and not any(k.startswith("total_") for k in mem["stats"])
    assert s["pids_stats"] == {"current": 3, "limit": 40}
    blk = s["blkio_stats"]
    assert blk["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 1458176}, {"major": 8, "minor": 0, "op": "write", "value": 4096},
        {"major": 253, "minor": 0, "op": "read", "value": 1458176},
        {"major": 253, "minor": 0, "op": "write", "value": 4096}]
    assert blk["io_serviced_recursive"] is None  # "Other fields are unsupported" on v2


def test_v2_figures_the_cli_shows(fake_v2):
    """The CLI's memory column on v2 is usage minus inactive_file; block I/O sums read/write entries."""
    row = stats_row(sample(4242), "web")
    assert row["MemUsage"] == "2.152MiB / 64MiB"  # (6025216 - 3768320) bytes
    assert row["MemPerc"] == "3.36%"
    assert row["BlockIO"] == "2.92MB / 8.19kB" and row["PIDs"] == "3"


def test_v2_without_limits(fake_v2):
    (fake_v2 / "memory.max").write_text("max\n")
    (fake_v2 / "pids.max").write_text("max\n")
    (fake_v2 / "memory.events").write_text("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
    s = sample(4242)
    assert s["memory_stats"]["limit"] == stats.machine_memory()  # "max" is bounded by the machine
    assert "failcnt" not in s["memory_stats"]  # omitempty, as dockerd
    assert s["pids_stats"] == {"current": 3, "limit": 2**64 - 1}  # dockerd passes containerd's "max" on


def test_v2_cgroup_gone(fake_v2):
    import shutil
    shutil.rmtree(fake_v2)
    with pytest.raises(cgroupstats.NotFound):
        cgroupstats.metrics_any(4242)


@pytest.fixture
def v1_task():
    """A real process in its own v1 memory/cpuacct/pids cgroups (64 MiB, 40 pids), removed afterwards."""
    import subprocess
    import time
    import uuid
    ctl = {"memory": "/sys/fs/cgroup/memory", "cpuacct": "/sys/fs/cgroup/cpuacct", "pids": "/sys/fs/cgroup/pids"}
    if not all(os.path.exists(f"{d}/cgroup.procs") for d in ctl.values()):
        pytest.skip("no cgroup v1 memory/cpuacct/pids hierarchies")
    name = f"pydocker-unit-{uuid.uuid4().hex[:8]}"
    dirs = [Path(d) / name for d in ctl.values()]
    proc = subprocess.Popen(["sh", "-c", "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 30"],
                            stdin=subprocess.PIPE)
    try:
        for d in dirs:
            d.mkdir()
            (d / "cgroup.procs").write_text(str(proc.pid))
        (dirs[0] / "memory.limit_in_bytes").write_text(str(64 << 20))
        (dirs[2] / "pids.max").write_text("40")
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        time.sleep(0.3)  # some CPU time and memory for the cgroup to account
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()
        for d in dirs:  # anything else that ended up in there
            for pid in (d / "cgroup.procs").read_text().split() if d.exists() else []:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
        for d in dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def test_v1_hybrid_host_still_reads_v1(v1_task):
    """On this hybrid host a process with v1 controllers is read from v1 (the real hierarchy)."""
    assert cgroupstats.metrics_any(v1_task).type_url == "io.containerd.cgroups.v1.Metrics"
    s = sample(v1_task)
    mem = s["memory_stats"]
    assert mem["limit"] == 64 << 20 and 0 < mem["usage"] <= 64 << 20
    assert "total_inactive_file" in mem["stats"] and "max_usage" in mem
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert len(s["cpu_stats"]["cpu_usage"]["percpu_usage"]) == os.cpu_count()
    assert s["pids_stats"] == {"current": 1, "limit": 40}


def test_v2_cgroup_paths_of_a_hybrid_process_are_v1(tmp_path, monkeypatch):
    """A hybrid host lists the unified entry too; v1 controllers win, as the container is accounted there."""
    proc = tmp_path / "4242"
    proc.mkdir()
    (proc / "cgroup").write_text("12:memory:/pyd/x\n11:cpu,cpuacct:/pyd/x\n1:name=systemd:/x\n0::/x\n")
    monkeypatch.setattr(cgroupstats, "PROC_ROOT", str(tmp_path))
    assert not cgroupstats.is_v2(cgroupstats.cgroup_paths(4242))
    (proc / "cgroup").write_text("1:name=systemd:/x\n0::/x\n")
    assert cgroupstats.is_v2(cgroupstats.cgroup_paths(4242))
    assert Path(cgroupstats.unified_root()) == Path("/sys/fs/cgroup/unified") or os.path.exists(
        "/sys/fs/cgroup/cgroup.controllers")


def test_v2_sample_as_the_real_docker_cli_shows_it(fake_v2, tmp_path):
    """The real docker CLI 28 renders our v2 sample: memory without inactive_file, I/O from io.stat.

    A minimal HTTP server on a unix socket answers the CLI's two requests (/_ping, then the stats)
    with what pydockerd's stats endpoint sends for this sample.
    """
    import http.server
    import socketserver
    import subprocess
    import threading

    body = json.dumps(sample(4242)).encode()
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.path)
            data, ctype = (b"OK", "text/plain") if self.path.endswith("/_ping") else (body, "application/json")
            if "/stats" not in self.path and not self.path.endswith("/_ping"):
                data, ctype = b'{"message":"page not found"}', "application/json"
                self.send_response(404)
            else:
                self.send_response(200)
            self.send_header("Api-Version", "1.50")
            self.send_header("Ostype", "linux")
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self):  # BaseHTTPRequestHandler wants a (host, port) client address
            conn, _ = self.socket.accept()
            return conn, ("local", 0)

    sock = str(tmp_path / "d.sock")
    srv = Server(sock, Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
               "DOCKER_CONFIG": str(tmp_path / "cfg")}
        cp = subprocess.run(["/usr/local/bin/docker", "-H", f"unix://{sock}", "stats", "--no-stream", "--format",
                             "{{.MemUsage}}|{{.MemPerc}}|{{.BlockIO}}|{{.PIDs}}", "web"],
                            env=env, capture_output=True, text=True, timeout=60)
    finally:
        srv.shutdown()
        srv.server_close()
    assert cp.returncode == 0, (cp.stderr, seen)
    assert cp.stdout.strip() == "2.152MiB / 64MiB|3.36%|2.92MB / 8.19kB|3"
    assert any("/containers/web/stats" in p for p in seen)
