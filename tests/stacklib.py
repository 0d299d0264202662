"""The isolated pydockerd + pycontainerd stack used by the tests, and host-leak checks.

Importable by name from any test (`from stacklib import start_stack`): pytest puts tests/ on
sys.path because tests/conftest.py lives there.
"""
from __future__ import annotations

import ctypes
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
_libc = ctypes.CDLL(None)  # loaded here: a preexec_fn must not import in the forked child
DOCKER = "/usr/local/bin/docker"      # the real docker CLI 28
DOCKER20 = "/usr/bin/docker"          # Debian's docker CLI 20.10


def mounts_under(prefix: str) -> list[str]:
    """Mount points at or below ``prefix``, deepest first."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == prefix or mp.startswith(prefix.rstrip("/") + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


def cgroups_named(name: str) -> list[str]:
    """Cgroup directories called ``name`` directly under any hierarchy's root."""
    found = []
    base = Path("/sys/fs/cgroup")
    for hier in [base, *base.iterdir()] if base.exists() else []:
        p = hier / name.strip("/")
        if p.is_dir():
            found.append(str(p))
    return found


def remove_cgroup_tree(path: str) -> None:
    for root, dirs, _ in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def pids_with_cwd_or_exe_under(prefix: str) -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if prefix in cmd:
            pids.append(int(p.name))
    return pids



class UnixHTTP(http.client.HTTPConnection):
    """HTTP over an Engine API unix socket."""

    def __init__(self, sock: str) -> None:
        super().__init__("docker", timeout=60)
        self.path = sock

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(60)
        self.sock.connect(self.path)


def api_get(sock: str | Path, path: str) -> object:
    """GET `path` of the Engine API on unix socket `sock`: the decoded JSON of a 200 (else the test fails)."""
    conn = UnixHTTP(str(sock))
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, (path, resp.status, body)
        return json.loads(body)
    finally:
        conn.close()

def answers_ping(sock: Path | str) -> bool:
    """Whether an Engine API daemon (pydockerd, dockerd) answers GET /_ping on the unix socket `sock`."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@dataclass
class Stack:
    """An isolated pydockerd (with its own pycontainerd) for a test session."""

    root: Path
    cgroup_parent: str
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def sock(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def log(self) -> Path:
        return self.root / "pydockerd.log"

    def network_names(self) -> tuple[str, str]:
        """The bridge and iptables chain prefix pydockerd derives from this stack's data-root
        (pydockerd.main: an instance off the default data-root gets its own, removed at exit)."""
        h = hashlib.sha256(os.path.abspath(self.data_root).encode()).hexdigest()
        return f"pyd{h[:8]}", f"PYD{h[:6].upper()}"

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "pydockerd.main", "-H", self.host,
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.root / "pydockerd.pid"),
                "--cgroup-parent", self.cgroup_parent, "--debug", *self.extra_args]

    def start(self, timeout: float = 30) -> None:
        """Start pydockerd and wait until it answers /_ping."""
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv(), cwd=REPO, stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, env=self.env,
                                     start_new_session=True, preexec_fn=term_with_parent)
        logf.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pydockerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError(f"pydockerd did not answer within {timeout}s:\n{self.log_tail()}")

    def ping(self) -> bool:
        return answers_ping(self.sock)

    def stop(self, timeout: float = 30) -> int | None:
        """Stop pydockerd the way an operator would (SIGTERM) and wait for it."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise RuntimeError(f"pydockerd ignored SIGTERM for {timeout}s")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _run(self, argv: list[str], input: bytes | str | None, timeout: float,
             check: bool) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        cp = subprocess.run(argv, env=self.env, input=input, capture_output=True,
                            text=text, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"{argv} exited {cp.returncode}\nstdout: {cp.stdout}\n"
                                 f"stderr: {cp.stderr}\npydockerd log:\n{self.log_tail()}")
        return cp

    def docker(self, *args: str, input=None, timeout: float = 60,
               check: bool = False) -> subprocess.CompletedProcess:
        """Run the real docker CLI 28 against this stack."""
        return self._run([DOCKER, *args], input, timeout, check)

    def docker20(self, *args: str, input=None, timeout: float = 60,
                 check: bool = False) -> subprocess.CompletedProcess:
        """Run Debian's docker CLI 20.10 against this stack."""
        return self._run([DOCKER20, *args], input, timeout, check)

    def pydocker(self, *args: str, input=None, timeout: float = 60,
                 check: bool = False) -> subprocess.CompletedProcess:
        """Run the project's own CLI against this stack."""
        return self._run([sys.executable, "-m", "cli.main", *args], input, timeout, check)


def start_stack(base: Path, busybox_tar: Path | None = None, extra_args: list[str] | None = None) -> Stack:
    """Start a stack rooted at ``base`` (pydockerd flags in ``extra_args``), busybox imported if given."""
    tag = uuid.uuid4().hex[:8]
    stack = Stack(root=base, cgroup_parent=f"/pydocker-test-{tag}", extra_args=list(extra_args or []))
    base.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(DOCKER_HOST=stack.host, DOCKER_CONFIG=str(base / "dockercfg"),
               PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
               PYTHONPATH=str(REPO))
    env.pop("DOCKER_CONTEXT", None)
    stack.env = env
    stack.start()
    if busybox_tar is not None:
        stack.docker("import", str(busybox_tar), "busybox:latest", check=True, timeout=120)
    return stack


def teardown_stack(stack: Stack) -> list[str]:
    """Stop the stack and remove what it left; return a description of every leak found."""
    leaks: list[str] = []
    try:
        stack.stop()
    except RuntimeError as e:
        leaks.append(str(e))
    time.sleep(0.2)
    prefix = str(stack.root)
    for pid in pids_with_cwd_or_exe_under(prefix):
        if pid == os.getpid():
            continue
        leaks.append(f"process {pid} still running")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    mps = mounts_under(prefix)
    if mps:
        leaks.append(f"mounts left: {mps}")
        for mp in mps:
            subprocess.run(["umount", "-l", mp], capture_output=True)
    for cg in cgroups_named(stack.cgroup_parent):
        leaks.append(f"cgroup left: {cg}")
        remove_cgroup_tree(cg)
    bridge, prefix = stack.network_names()
    leaks += remove_network_state(bridge, lambda chain: chain.startswith(prefix))
    shutil.rmtree(stack.root, ignore_errors=True)
    return leaks


def stack_session(prefix: str, busybox_tar: Path | None = None, extra_args: list[str] | None = None,
                  env: dict[str, str] | None = None):
    """Generator for a pytest fixture: a stack in a fresh /tmp/<prefix>* dir (extra environment for its
    clients in ``env``), torn down afterwards; the fixture fails if the stack left anything behind."""
    import pytest
    import tempfile
    base = Path(tempfile.mkdtemp(prefix=prefix))
    st = None
    try:
        st = start_stack(base, busybox_tar, extra_args)
        st.env.update(env or {})
        yield st
    finally:
        leaks = teardown_stack(st) if st else []
        if st is None:
            shutil.rmtree(base, ignore_errors=True)
        if leaks:
            pytest.fail(f"the stack in {base} left things behind: " + "; ".join(leaks), pytrace=False)


def term_with_parent() -> None:
    """In the daemon's child before exec: SIGTERM it when the test process dies.

    The daemons run in their own session (so a test's Ctrl-C does not hit them first), which also
    means a test runner killed outright (a CI timeout, SIGKILL) would orphan them: a daemon later
    killed by someone else never removes its bridge and iptables chains. SIGTERM is its clean stop.
    """
    _libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def remove_network_state(bridge: str, ours: Callable[[str], bool]) -> list[str]:
    """Delete a daemon's bridge and iptables chains (``ours`` tells its chain names) if they outlived
    it, with the rules it put in other chains (jumps into ours, rules on its bridge); describe them."""
    leaks = []
    if os.path.exists(f"/sys/class/net/{bridge}"):
        leaks.append(f"bridge left: {bridge}")
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True, text=True).stdout.splitlines()
        chains = [r.split()[1] for r in rules if r.startswith("-N ") and ours(r.split()[1])]
        foreign = [r.split() for r in rules if r.startswith("-A ") and not ours(r.split()[1])
                   and (any(c in r.split() for c in chains) or bridge in r.split())]
        if chains or foreign:
            leaks.append(f"iptables {table} left: chains {chains}, {len(foreign)} rules elsewhere")
        for words in foreign:
            subprocess.run(["iptables", "-t", table, "-D", *words[1:]], capture_output=True)
        for flag in ("-F", "-X"):
            for chain in chains:
                subprocess.run(["iptables", "-t", table, flag, chain], capture_output=True)
    return leaks


def host_snapshot() -> dict[str, set[str]]:
    """What a test run must not change on the host: mounts, links, iptables rules, cgroups."""
    snap: dict[str, set[str]] = {}
    with open("/proc/self/mountinfo") as f:
        snap["mounts"] = {line.split()[4] for line in f}
    ip = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True)
    snap["links"] = {line.split(":")[1].strip().split("@")[0] for line in ip.stdout.splitlines()
                     if line.count(":") >= 2}
    rules = set()
    for table in ("filter", "nat"):
        cp = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True)
        rules |= {f"{table}: {ln}" for ln in cp.stdout.splitlines()
                  if ln.startswith(("-A", ":")) }
    snap["iptables"] = {r.split(" [")[0] for r in rules}
    cg = set()
    base = Path("/sys/fs/cgroup")
    for hier in [base, *base.iterdir()] if base.exists() else []:
        try:
            cg |= {f"{hier.name}/{d.name}" for d in hier.iterdir() if d.is_dir()}
        except OSError:
            pass
    snap["cgroups"] = cg
    procs = set()
    for p in Path("/proc").iterdir():
        if not p.name.isdigit() or int(p.name) == os.getpid():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(w in cmd for w in ("pydockerd", "pycontainerd", "pyrunc", "docker-registry",
                                  "containerd --", "dockerd -H")):
            procs.add(f"{p.name} {cmd.strip()}")
    snap["processes"] = procs
    return snap


def unique(prefix: str = "t") -> str:
    """A unique, Docker-valid name for a test object."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def inspect(stack: Stack, obj: str) -> dict:
    cp = stack.docker("inspect", obj, check=True)
    return json.loads(cp.stdout)[0]
