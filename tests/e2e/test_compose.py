"""`pydocker compose` and Debian's docker-compose 1.29 on pydockerd: the project's test app both
ways, each client seeing the other's project, and compose's behaviour on recreate, profiles,
variables, bad files and unhealthy dependencies."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE129 = "/usr/bin/docker-compose"
APP = REPO / "docker-compose.test.yml"
EXPECTED = "<h1>hello from the pydocker compose test app</h1>\ndatabase appdb: tables users orders\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proj:
    """One compose project driven by either client against the session stack."""

    def __init__(self, stack, files: list[Path], cwd: Path, env: dict | None = None) -> None:
        self.stack = stack
        self.name = f"pydc{uuid.uuid4().hex[:8]}"
        self.files, self.cwd = files, cwd
        self.env = dict(stack.env, PYTHONPATH=str(REPO), WEB_PORT=str(_free_port()), **(env or {}))

    def _fargs(self) -> list[str]:
        return [a for f in self.files for a in ("-f", str(f))] + ["-p", self.name]

    def py(self, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", "compose", *self._fargs(), *args],
                              env=dict(self.env, **(env or {})), cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout)

    def dc(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([COMPOSE129, "--no-ansi", *self._fargs(), *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=timeout)

    def pydocker(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env, cwd=self.cwd,
                              capture_output=True, text=True, timeout=60)

    def ids(self, *filters: str) -> list[str]:
        argv = ["ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}"]
        for f in filters:
            argv += ["--filter", f"label={f}"]
        return ok(self.pydocker(*argv)).stdout.split()

    def leftovers(self) -> list[str]:
        out = self.ids()
        flt = f"label=com.docker.compose.project={self.name}"
        out += ok(self.pydocker("network", "ls", "-q", "--filter", flt)).stdout.split()
        out += ok(self.pydocker("volume", "ls", "-q", "--filter", flt)).stdout.split()
        out += [n for n in ok(self.pydocker("network", "ls", "--format", "{{.Name}}")).stdout.split()
                if n.startswith(self.name + "_")]
        out += [n for n in ok(self.pydocker("volume", "ls", "--format", "{{.Name}}")).stdout.split()
                if n.startswith(self.name + "_")]
        return out

    def client_log(self) -> str:
        ids = self.ids("com.docker.compose.service=client")
        assert len(ids) == 1, ids
        out = ""
        for _ in range(150):  # the client polls web by service name, then reads db
            out = ok(self.pydocker("logs", ids[0])).stdout
            if out == EXPECTED:
                break
            time.sleep(0.2)
        return out


def ok(cp: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    return cp


@pytest.fixture
def app(stack):
    p = Proj(stack, [APP], REPO)
    yield p
    p.py("down", "-v", "--remove-orphans", "-t", "1")
    assert p.leftovers() == []


def test_docker_compose_129_brings_the_test_app_up_and_pydocker_compose_takes_it_down(app):
    up = ok(app.dc("up", "-d", timeout=180))
    assert f"Creating {app.name}_client_1" in up.stderr
    assert app.client_log() == EXPECTED
    ps = ok(app.py("ps", "-a", "--format", "{{.Service}} {{.Name}}"))
    assert sorted(ps.stdout.splitlines()) == [f"{s} {app.name}_{s}_1" for s in ("client", "db", "web")]
    # 1.29's containers are this project's: an unchanged `up` of a service keeps running containers
    down = ok(app.py("down", "-v", "-t", "1"))
    assert f" Network {app.name}_default  Removed\n" in down.stderr
    assert f" Volume {app.name}_dbdata  Removed\n" in down.stderr
    assert f" Volume {app.name}_webdata  Removed\n" in down.stderr
    assert app.leftovers() == []


def test_pydocker_compose_brings_the_test_app_up_and_docker_compose_129_takes_it_down(app):
    ok(app.py("up", "-d", timeout=180))
    assert app.client_log() == EXPECTED
    ps = ok(app.dc("ps"))
    for s in ("client", "db", "web"):
        assert f"{app.name}-{s}-1" in ps.stdout
    ok(app.dc("down", "-v", "-t", "1"))
    assert app.leftovers() == []
