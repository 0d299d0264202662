"""Private daemons for the side-by-side benchmarks: a pydockerd (tests/stacklib) and Debian's dockerd.

Each daemon lives under its own temporary directory (socket, data-root, exec-root, pidfile,
cgroup parent) and is torn down with everything it made: processes, mounts, cgroups, the
bridge and (for dockerd) its iptables chains and rules.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from scripts.busybox_rootfs import write_rootfs_tar  # noqa: E402
from stacklib import (answers_ping, term_with_parent, cgroups_named, host_snapshot, mounts_under,  # noqa: E402
                      pids_with_cwd_or_exe_under, remove_cgroup_tree, remove_network_state, start_stack,
                      teardown_stack)

DOCKER = "/usr/local/bin/docker"   # the real docker CLI 28, used against both daemons
DOCKERD = "/usr/sbin/dockerd"


def used_subnets() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    nets = [ipaddress.ip_interface(m).network for m in re.findall(r"inet (\S+)", out)]
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for line in routes.splitlines():
        first = line.split()[0]
        if first != "default":
            try:
                nets.append(ipaddress.ip_network(first, strict=False))
            except ValueError:
                pass
    return nets


def free_subnet(start: int = 0) -> str:
    """A 10.2xx.N.0/24 that no interface or route on the host uses (checked now)."""
    used = used_subnets()
    import random
    rnd = random.Random(os.getpid() + start)
    for _ in range(500):
        net = ipaddress.ip_network(f"10.{rnd.randint(200, 250)}.{rnd.randint(0, 255)}.0/24")
        if not any(net.overlaps(u) for u in used):
            return f"{net.network_address + 1}/24"
    raise RuntimeError("no free 10.x subnet")


def busybox_tar(base: Path) -> Path:
    p = base / "busybox.tar"
    if not p.exists():
        write_rootfs_tar(str(p))
    return p


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def all_procs() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, cmdline) for every process."""
    out = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            stat = (p / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
        out[int(p.name)] = (ppid, cmd)
    return out


def descendants(roots: set[int], procs: dict[int, tuple[int, str]] | None = None) -> set[int]:
    procs = procs if procs is not None else all_procs()
    found = set(r for r in roots if r in procs)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in procs.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    return found


@dataclass
class Daemon:
    """What the benchmarks need from either daemon."""

    name: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    stack: object | None = None

    @property
    def sock(self) -> Path:
        return self.root / ("docker.sock" if self.stack is not None else "d.sock")

    def docker(self, *args: str, check: bool = True, timeout: float = 300,
               input=None, env: dict | None = None, cli: str = DOCKER) -> subprocess.CompletedProcess:
        e = dict(self.env)
        if env:
            e.update(env)
        cp = subprocess.run([cli, *args], env=e, capture_output=True, text=input is None or isinstance(input, str),
                            timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and cp.returncode != 0:
            raise RuntimeError(f"[{self.name}] docker {' '.join(args)} -> {cp.returncode}: {cp.stderr}")
        return cp

    def daemon_pids(self) -> list[int]:
        """The engine and its containerd (not shims or containers)."""
        procs = all_procs()
        prefix = str(self.root)
        pids = []
        for pid, (_, cmd) in procs.items():
            if prefix not in cmd:
                continue
            if ("pydockerd.main" in cmd or "pycontainerd.main" in cmd or cmd.startswith(DOCKERD)
                    or cmd.startswith("containerd ") or cmd.startswith("/usr/sbin/containerd ")
                    or cmd.startswith("/usr/bin/containerd ")):
                pids.append(pid)
        return pids

    def shim_pids(self) -> list[int]:
        procs = all_procs()
        prefix = str(self.root)
        return [pid for pid, (_, cmd) in procs.items()
                if prefix in cmd and ("shim" in cmd.split()[0] or "pycontainerd.shim" in cmd)]

    def container_procs(self) -> set[int]:
        """Shims and everything under them (the container processes, docker-proxy is separate)."""
        return descendants(set(self.shim_pids()))

    def proxy_pids(self) -> list[int]:
        procs = all_procs()
        dpids = set(self.daemon_pids())
        return [pid for pid, (ppid, cmd) in procs.items()
                if ppid in dpids and ("docker-proxy" in cmd or "proxy" in cmd.split()[0])]


def start_pydocker(extra: list[str] | None = None, bridge: str | None = "none") -> Daemon:
    base = Path(tempfile.mkdtemp(prefix="bpy-", dir="/tmp"))
    args = list(extra or [])
    if bridge == "none":
        args += ["--bridge", "none"]
    elif bridge:  # a --bip CIDR
        args += ["--bip", bridge, "--remove-bridges-on-exit"]
    OUR_BASES.add(str(base))
    stack = start_stack(base / "s", busybox_tar(base), args)
    d = Daemon("pydocker", base / "s", env=stack.env, stack=stack)
    d.base = base  # type: ignore[attr-defined]
    if bridge != "none":
        OUR_NAMES.update(stack.network_names())  # its bridge and iptables chain prefix
    return d


def start_dockerd(bridge: str | None = "none", extra: list[str] | None = None) -> Daemon:
    """Debian's dockerd with its own containerd, bridge `none` or docker0 on the --bip given."""
    base = Path(tempfile.mkdtemp(prefix="bdk-", dir="/tmp"))
    OUR_BASES.add(str(base))
    root = base / "s"
    root.mkdir()
    tag = uuid.uuid4().hex[:8]
    (root / "daemon.json").write_text("{}")
    argv = [DOCKERD, "-H", f"unix://{root}/d.sock", "--data-root", f"{root}/data", "--exec-root", f"{root}/exec",
            "--pidfile", f"{root}/d.pid", "--config-file", f"{root}/daemon.json",
            "--cgroup-parent", f"/bench-docker-{tag}"]
    if bridge == "none":
        argv += ["--bridge", "none", "--iptables=false", "--ip-masq=false"]
    else:
        if Path("/sys/class/net/docker0").exists():
            raise RuntimeError("docker0 exists already: another dockerd owns it")
        argv += ["--bip", bridge]
    argv += list(extra or [])
    env = dict(os.environ)
    env.update(DOCKER_HOST=f"unix://{root}/d.sock", DOCKER_CONFIG=str(root / "dockercfg"))
    env.pop("DOCKER_CONTEXT", None)
    logf = open(root / "dockerd.log", "ab")
    proc = subprocess.Popen(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=term_with_parent)
    logf.close()
    d = Daemon("dockerd", root, env=env, proc=proc)
    d.base = base  # type: ignore[attr-defined]
    d.tag = tag  # type: ignore[attr-defined]
    d.bridge = bridge  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while not answers_ping(root / "d.sock"):
        if proc.poll() is not None or time.monotonic() > deadline:
            log = (root / "dockerd.log").read_text(errors="replace")[-3000:]
            stop(d)
            raise RuntimeError(f"dockerd did not start:\n{log}")
        time.sleep(0.1)
    d.docker("import", str(busybox_tar(base)), "busybox:latest")
    return d


OUR_NAMES: set[str] = {"docker0"}  # bridges (and chain prefixes) our daemons made
OUR_BASES: set[str] = set()  # temp dirs of our daemons (other runs of these scripts may share the host)

_DOCKER_CHAIN = re.compile(r"(?<![A-Za-z0-9_-])DOCKER(-[A-Z0-9-]+)?(?![A-Za-z0-9_])")


def remove_docker_iptables() -> list[str]:
    """Delete dockerd's docker0, its own chains and its rules in the built-in chains (not PYDOCKER ones)."""
    return remove_network_state("docker0", lambda chain: bool(_DOCKER_CHAIN.fullmatch(chain)))


def stop(d: Daemon) -> list[str]:
    """Stop a daemon and remove what it left; return leaks found (beyond what dockerd is known to keep)."""
    leaks: list[str] = []
    base: Path = d.base  # type: ignore[attr-defined]
    if d.stack is not None:
        leaks += teardown_stack(d.stack)
        shutil.rmtree(base, ignore_errors=True)
        return leaks
    try:
        r = d.docker("ps", "-aq", check=False, timeout=30).stdout.split()
        if r:
            d.docker("rm", "-f", *r, check=False, timeout=120)
    except Exception:
        pass
    if d.proc and d.proc.poll() is None:
        d.proc.send_signal(signal.SIGTERM)
        try:
            d.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(d.proc.pid, signal.SIGKILL)
            d.proc.wait()
            leaks.append("dockerd ignored SIGTERM")
    time.sleep(0.3)
    for pid in pids_with_cwd_or_exe_under(str(d.root)):
        if pid != os.getpid():
            leaks.append(f"process {pid} left")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for mp in mounts_under(str(base)):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    for cg in cgroups_named(f"/bench-docker-{d.tag}"):  # type: ignore[attr-defined]
        remove_cgroup_tree(cg)
    if d.bridge != "none":  # type: ignore[attr-defined]
        # dockerd keeps docker0 and its iptables chains at exit, by design; remove them here
        remove_docker_iptables()
    shutil.rmtree(base, ignore_errors=True)
    return leaks


def host_state() -> dict[str, set[str]]:
    """Mounts, links and iptables rules, to compare before and after a benchmark."""
    snap = host_snapshot()
    return {k: snap[k] for k in ("mounts", "links", "iptables")}


def report_host_diff(before: dict[str, set[str]], after: dict[str, set[str]]) -> None:
    """Print what our daemons left on the host (other test stacks' bridges and chains come and go: ignored)."""
    def ours(x: str) -> bool:
        if x.startswith("/"):
            return any(x.startswith(b + "/") for b in OUR_BASES)
        return (bool(_DOCKER_CHAIN.search(x))
                or any(re.search(rf"(?<![A-Za-z0-9]){re.escape(n)}(?![A-Za-z0-9])", x) for n in OUR_NAMES))
    bad = False
    for k in before:
        new = sorted(x for x in after[k] - before[k] if ours(x))
        if new:
            bad = True
            print(f"LEFT BEHIND ({k}): {new}")
    if not bad:
        print("host check: no mounts, links or iptables rules left behind")


def json_out(cp: subprocess.CompletedProcess):
    return json.loads(cp.stdout)
