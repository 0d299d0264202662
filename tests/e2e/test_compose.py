"""`pydocker compose` and Debian's docker-compose 1.29 on pydockerd: the project's test app both
ways, each client seeing the other's project, and compose's behaviour on recreate, profiles,
variables, bad files and unhealthy dependencies."""
from __future__ import annotations

import re
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
    # an `up` by the other client takes the project over (1.29 hashes its config differently: recreated)
    ok(app.py("up", "-d", "-t", "1", timeout=180))
    ps = ok(app.py("ps", "-a", "--format", "{{.Service}} {{.Name}}"))
    assert sorted(ps.stdout.splitlines()) == [f"{s} {app.name}-{s}-1" for s in ("client", "db", "web")]
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
    ok(app.dc("up", "-d", "-t", "1", timeout=180))
    ps = ok(app.py("ps", "-a", "--format", "{{.Service}} {{.Name}}"))
    assert sorted(ps.stdout.splitlines()) == [f"{s} {app.name}_{s}_1" for s in ("client", "db", "web")]
    ok(app.dc("down", "-v", "-t", "1"))
    assert app.leftovers() == []


# -- compose files, variables and profiles (no containers) -------------------------------------
def _project(stack, tmp_path: Path, files: dict[str, str], env: dict | None = None) -> Proj:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return Proj(stack, [tmp_path / n for n in files if n.endswith(".yml")], tmp_path, env)


def test_variables_env_files_and_profiles(stack, tmp_path):
    p = _project(stack, tmp_path, {
        "compose.yml": "services:\n  app:\n    image: ${IMAGE:-busybox:latest}\n"
                       "    environment:\n      FROM_DOTENV: ${FROM_DOTENV}\n      UNSET: ${NOT_SET_ANYWHERE}\n"
                       "  debug:\n    image: busybox:latest\n    profiles: [debug]\n",
        ".env": "FROM_DOTENV=dotenv-value\n",
        "other.env": "FROM_DOTENV=other-value\n"})
    cfg = ok(p.py("config", "--format", "json"))
    assert '"FROM_DOTENV": "dotenv-value"' in cfg.stdout
    assert 'The "NOT_SET_ANYWHERE" variable is not set. Defaulting to a blank string.' in cfg.stderr
    cfg = ok(p.py("--env-file", str(tmp_path / "other.env"), "config", "--format", "json"))
    assert '"FROM_DOTENV": "other-value"' in cfg.stdout
    missing = p.py("--env-file", str(tmp_path / "nope.env"), "config")
    assert missing.returncode == 1 and "couldn't find env file" in missing.stderr
    # services with profiles only when enabled (flag or COMPOSE_PROFILES)
    assert ok(p.py("config", "--services")).stdout.split() == ["app"]
    assert ok(p.py("--profile", "debug", "config", "--services")).stdout.split() == ["app", "debug"]
    assert ok(p.py("config", "--services", env={"COMPOSE_PROFILES": "debug"})).stdout.split() == ["app", "debug"]
    # ${VAR:?err}
    (tmp_path / "compose.yml").write_text("services:\n  app:\n    image: ${REQUIRED_IMAGE:?set REQUIRED_IMAGE}\n")
    req = p.py("up", "-d")
    assert req.returncode == 1
    assert "required variable REQUIRED_IMAGE is missing a value: set REQUIRED_IMAGE" in req.stderr
    assert "services.app.image" in req.stderr
    assert p.ids() == []


def test_invalid_compose_files_name_the_key_and_the_line(stack, tmp_path):
    p = _project(stack, tmp_path, {"compose.yml": "services:\n  web:\n    image: busybox:latest\n    imagee: busybox\n"})
    bad = p.py("up", "-d")
    assert bad.returncode == 1
    assert "services.web additional properties 'imagee' not allowed (line 4)" in bad.stderr, bad.stderr
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox:latest\n    ports: 8080\n")
    bad = p.py("config")
    assert bad.returncode == 1 and "services.web.ports" in bad.stderr and "(line 4)" in bad.stderr, bad.stderr
    (tmp_path / "compose.yml").write_text("services:\n  web:\n    image: busybox:latest\n  bogus: [1, 2\n")
    bad = p.py("config")
    assert bad.returncode == 1 and "line 4" in bad.stderr, bad.stderr
    assert p.ids() == []


# -- lifecycle ----------------------------------------------------------------------------------
SLEEPER = "services:\n  app:\n    image: busybox:latest\n    command: [sleep, '600']\n    stop_grace_period: 1s\n" \
          "    environment:\n      GEN: ${GEN:-1}\n"


@pytest.fixture
def proj(stack, tmp_path):
    made = []

    def make(files: dict[str, str], env: dict | None = None) -> Proj:
        p = _project(stack, tmp_path, files, env)
        made.append(p)
        return p
    yield make
    for p in made:
        p.files = [f for f in p.files if f.exists()]
        p.py("down", "-v", "--remove-orphans", "-t", "1", "--rmi", "local")
        assert p.leftovers() == []


def test_recreate_only_when_the_config_changed(proj):
    p = proj({"compose.yml": SLEEPER, "extra.yml": "services:\n  extra:\n    image: busybox:latest\n"
                                                      "    command: [sleep, '600']\n    stop_grace_period: 1s\n"})
    ok(p.py("up", "-d"))
    ids = p.ids()
    assert len(ids) == 2
    (app,) = p.ids("com.docker.compose.service=app")
    again = ok(p.py("up", "-d", "app"))
    assert f"Container {p.name}-app-1  Running" in again.stderr
    assert p.ids("com.docker.compose.service=app") == [app]
    changed = ok(p.py("up", "-d", "app", env={"GEN": "2"}))
    assert f"Container {p.name}-app-1  Recreate" in changed.stderr
    (app2,) = p.ids("com.docker.compose.service=app")
    assert app2 != app
    env = ok(p.pydocker("inspect", "--format", "{{json .Config.Env}}", app2)).stdout
    assert '"GEN=2"' in env
    forced = ok(p.py("up", "-d", "--force-recreate", "app", env={"GEN": "2"}))
    assert f"Container {p.name}-app-1  Recreate" in forced.stderr
    (app3,) = p.ids("com.docker.compose.service=app")
    assert app3 != app2
    # without the second file, `extra` is an orphan: removed only when asked
    p.files = [p.files[0]]
    warned = ok(p.py("up", "-d", env={"GEN": "2"}))
    assert f"Found orphan containers ([{p.name}-extra-1]) for this project." in warned.stderr
    assert len(p.ids("com.docker.compose.service=extra")) == 1
    orphans = ok(p.py("up", "-d", "--remove-orphans", env={"GEN": "2"}))
    assert f"Container {p.name}-extra-1  Removed" in orphans.stderr
    assert p.ids("com.docker.compose.service=extra") == []
    assert p.ids("com.docker.compose.service=app") == [app3]


def test_build_wait_and_down_rmi_local(proj, tmp_path):
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox:latest\nARG GREETING=none\n"
                                                 "RUN echo \"greeting=$GREETING\" | tee /greeting\n")
    p = proj({"compose.yml": "services:\n  built:\n    build:\n      context: ./ctx\n      args:\n        GREETING: hi\n"
                             "    command: [sh, -c, 'touch /tmp/ok; cat /greeting; exec sleep 600']\n"
                             "    stop_grace_period: 1s\n"
                             "    healthcheck:\n      test: [CMD, test, -f, /tmp/ok]\n      interval: 1s\n      retries: 20\n"})
    up = ok(p.py("up", "--wait", timeout=180))
    assert f"Container {p.name}-built-1  Healthy" in up.stderr
    # the build's own output (the RUN step's stdout) is shown
    assert re.search(r"^Step 3/\d+ : RUN .*\n(.*\n)*greeting=hi\n", up.stdout, re.M), up.stdout
    (cid,) = p.ids()
    assert ok(p.pydocker("inspect", "--format", "{{.State.Health.Status}}", cid)).stdout == "healthy\n"
    assert ok(p.pydocker("logs", cid)).stdout == "greeting=hi\n"
    image = f"{p.name}-built"
    assert ok(p.pydocker("images", "-q", image)).stdout.strip()
    down = ok(p.py("down", "--rmi", "local", "-t", "1"))
    assert f"Image {image}  Removed" in down.stderr
    assert ok(p.pydocker("images", "-q", image)).stdout == ""
    assert ok(p.pydocker("images", "-q", "busybox:latest")).stdout.strip()  # rmi local keeps pulled images


def test_dependency_that_never_becomes_healthy(proj):
    p = proj({"compose.yml": "services:\n  db:\n    image: busybox:latest\n    command: [sleep, '600']\n"
                             "    stop_grace_period: 1s\n"
                             "    healthcheck:\n      test: [CMD, 'false']\n      interval: 1s\n      retries: 1\n"
                             "  app:\n    image: busybox:latest\n    command: [sleep, '600']\n"
                             "    depends_on:\n      db:\n        condition: service_healthy\n"})
    up = p.py("up", "-d", timeout=120)
    assert up.returncode == 1
    assert f"dependency failed to start: container {p.name}-db-1 is unhealthy" in up.stderr
    # as compose v2: the dependent was created alongside, is never started, and stays for `ps -a`
    (app,) = p.ids("com.docker.compose.service=app")
    assert ok(p.pydocker("inspect", "--format", "{{.State.Status}}", app)).stdout == "created\n"


def test_wait_is_bounded_for_a_health_that_never_settles(proj):
    # a long start period keeps the health "starting": --wait gives up after --wait-timeout
    p = proj({"compose.yml": "services:\n  slow:\n    image: busybox:latest\n    command: [sleep, '600']\n"
                             "    stop_grace_period: 1s\n"
                             "    healthcheck:\n      test: [CMD, 'false']\n      interval: 1s\n"
                             "      start_period: 10m\n"})
    up = p.py("up", "--wait", "--wait-timeout", "2", timeout=120)
    assert up.returncode == 1
    assert f"dependency failed to start: container {p.name}-slow-1 did not become healthy within 2s" in up.stderr


def test_service_options_reach_the_container(proj):
    """The compose file's service keys as the daemon sees them (docker inspect)."""
    import json
    import random
    net = f"10.{random.randint(100, 250)}.{random.randint(0, 250)}"
    p = proj({"compose.yml": f"""
services:
  once:
    image: busybox:latest
    command: [sh, -c, 'echo seeded > /seed/done']
    volumes: [{{type: volume, source: seed, target: /seed}}]
  full:
    image: busybox:latest
    container_name: PLACEHOLDER-full
    entrypoint: [sh, -c]
    command: ['cat /seed/done; exec sleep 600']
    depends_on:
      once: {{condition: service_completed_successfully}}
    environment: [A=1, B]
    env_file: [vars.env]
    labels: {{tier: test}}
    ports:
      - {{target: 80, published: 0, host_ip: 127.0.0.1, protocol: tcp}}
    expose: ["9000"]
    volumes:
      - type: volume
        source: seed
        target: /seed
        read_only: true
      - type: tmpfs
        target: /scratch
    tmpfs: [/run/t]
    networks:
      back:
        aliases: [backend]
        ipv4_address: {net}.10
    restart: on-failure:3
    user: "1000:1000"
    working_dir: /tmp
    read_only: true
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    security_opt: [no-new-privileges:true]
    init: true
    stop_grace_period: 2s
    deploy: {{resources: {{limits: {{cpus: "0.5", memory: 64M}}}}}}
volumes:
  seed:
    name: PLACEHOLDER-seed
networks:
  back:
    internal: true
    ipam:
      config: [{{subnet: {net}.0/24}}]
""", "vars.env": "FROM_FILE=yes\n"}, env={"B": "from-shell"})
    text = (p.cwd / "compose.yml").read_text().replace("PLACEHOLDER", p.name)
    (p.cwd / "compose.yml").write_text(text)
    up = ok(p.py("up", "-d", timeout=120))
    assert up.stderr.index(f"{p.name}-once-1  Exited") < up.stderr.index(f"{p.name}-full  Started"), up.stderr
    info = json.loads(ok(p.pydocker("inspect", f"{p.name}-full")).stdout)[0]
    cfg, hc = info["Config"], info["HostConfig"]
    assert cfg["Entrypoint"] == ["sh", "-c"] and cfg["Cmd"] == ["cat /seed/done; exec sleep 600"]
    assert {"A=1", "B=from-shell", "FROM_FILE=yes"} <= set(cfg["Env"])
    assert cfg["Labels"]["tier"] == "test" and cfg["Labels"]["com.docker.compose.service"] == "full"
    assert cfg["User"] == "1000:1000" and cfg["WorkingDir"] == "/tmp" and "9000/tcp" in cfg["ExposedPorts"]
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["ReadonlyRootfs"] is True and hc["Init"] is True
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"]
    assert hc["SecurityOpt"] == ["no-new-privileges:true"]
    assert hc["NanoCpus"] == 500_000_000 and hc["Memory"] == 64 * 1024 * 1024
    assert hc["Tmpfs"] == {"/run/t": ""}
    assert hc["PortBindings"]["80/tcp"][0]["HostIp"] == "127.0.0.1"
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/seed"]["Name"] == f"{p.name}-seed" and mounts["/seed"]["RW"] is False
    assert cfg.get("StopTimeout") == 2
    ep = info["NetworkSettings"]["Networks"][f"{p.name}_back"]
    assert ep["IPAddress"] == f"{net}.10" and "backend" in ep["Aliases"]
    netinfo = json.loads(ok(p.pydocker("network", "inspect", f"{p.name}_back")).stdout)[0]
    assert netinfo["Internal"] is True and netinfo["IPAM"]["Config"][0]["Subnet"] == f"{net}.0/24"
    (cid,) = p.ids("com.docker.compose.service=full")
    assert ok(p.pydocker("logs", cid)).stdout == "seeded\n"
    mnt = ok(p.pydocker("exec", cid, "sh", "-c", "grep -E ' /(scratch|run/t) ' /proc/mounts | cut -d' ' -f2,3"))
    assert sorted(mnt.stdout.split("\n")[:-1]) == ["/run/t tmpfs", "/scratch tmpfs"]


def test_build_push_and_down_rmi_all(proj, tmp_path):
    import json
    import urllib.request
    sys.path.insert(0, str(REPO / "tests" / "integration" / "registry"))
    from registry_helpers import start_registry
    reg = start_registry(tmp_path / "reg")
    try:
        (tmp_path / "ctx").mkdir()
        (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox:latest\nLABEL pushed=yes\n")
        image = f"{reg.host}/pydc/app:1"
        p = proj({"compose.yml": f"services:\n  app:\n    build: ./ctx\n    image: {image}\n"
                                 "  plain:\n    image: busybox:latest\n"})
        ok(p.py("build", timeout=120))
        pushed = ok(p.py("push", timeout=120))
        assert " app Pushed \n" in pushed.stderr and "plain" not in pushed.stderr  # only built services
        assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", pushed.stdout, re.M), pushed.stdout
        with urllib.request.urlopen(f"http://{reg.host}/v2/pydc/app/tags/list", timeout=10) as r:
            assert json.loads(r.read())["tags"] == ["1"]
        # --rmi all removes every service's image: only the built one here besides busybox, so keep busybox
        p.files[0].write_text(f"services:\n  app:\n    build: ./ctx\n    image: {image}\n")
        down = ok(p.py("down", "--rmi", "all"))
        assert f"Image {image}  Removed" in down.stderr
        assert ok(p.pydocker("images", "-q", image)).stdout == ""
    finally:
        reg.stop()


def test_run_brings_up_its_dependencies_and_waits_for_their_health(proj):
    """`compose run` starts what the service depends on and waits for its depends_on condition first: db
    marks itself ready a second after it starts, and the one-off container checks the mark as it runs."""
    p = proj({"compose.yml": "services:\n  db:\n    image: busybox:latest\n"
                             "    command: [sh, -c, 'sleep 1; touch /shared/ready; exec sleep 600']\n"
                             "    volumes: [shared:/shared]\n    stop_grace_period: 1s\n"
                             "    healthcheck:\n      test: [CMD, test, -e, /shared/ready]\n      interval: 1s\n"
                             "      retries: 30\n"
                             "  app:\n    image: busybox:latest\n    volumes: [shared:/shared]\n"
                             "    depends_on:\n      db:\n        condition: service_healthy\n"
                             "volumes:\n  shared: {}\n"})
    cp = p.py("run", "--rm", "-T", "app", "sh", "-c", "test -e /shared/ready && echo ran-after-db", timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert cp.stdout.splitlines()[-1] == "ran-after-db"
    (db,) = p.ids("com.docker.compose.service=db")
    assert ok(p.pydocker("inspect", "--format", "{{.State.Health.Status}}", db)).stdout == "healthy\n"
    assert p.ids("com.docker.compose.service=app") == []  # --rm: the one-off container is gone
