"""The pydocker CLI end to end: against the session `stack` (pydockerd), or against any daemon.

Set PYDOCKER_TEST_DOCKER_HOST=unix:///path/docker.sock to run these against another daemon (e.g. a
real dockerd with busybox:latest loaded); the real docker CLI runs against the same daemon for the
side-by-side output checks.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/local/bin/docker"


class Target:
    """Runs pydocker and the real docker CLI against one daemon."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def _run(self, argv: list[str], input, timeout: float) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        return subprocess.run(argv, env=self.env, input=input, capture_output=True, text=text,
                              timeout=timeout, cwd=REPO)

    def pydocker(self, *args: str, input=None, timeout: float = 60) -> subprocess.CompletedProcess:
        return self._run([sys.executable, "-m", "cli.main", *args], input, timeout)

    def docker(self, *args: str, input=None, timeout: float = 60) -> subprocess.CompletedProcess:
        return self._run([DOCKER, *args], input, timeout)


@pytest.fixture(scope="module")
def target(request, tmp_path_factory) -> Target:
    host = os.environ.get("PYDOCKER_TEST_DOCKER_HOST")
    if host:
        env = dict(os.environ, DOCKER_HOST=host, PYTHONPATH=str(REPO),
                   DOCKER_CONFIG=str(tmp_path_factory.mktemp("dockercfg")))
        env.pop("DOCKER_CONTEXT", None)
        return Target(env)
    stack = request.getfixturevalue("stack")
    return Target(dict(stack.env, PYTHONPATH=str(REPO)))


@pytest.fixture
def cname(target):
    """A unique container name, force-removed after the test."""
    n = f"pydcli-{uuid.uuid4().hex[:10]}"
    yield n
    target.pydocker("rm", "-f", n)


def ok(cp: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    return cp


# -- run ------------------------------------------------------------------------------------------
def test_run_prints_output_and_removes_the_container(target, cname):
    cp = ok(target.pydocker("run", "--rm", "--name", cname, "busybox", "echo", "hello world"))
    assert cp.stdout == "hello world\n"
    assert target.pydocker("inspect", cname).returncode == 1  # --rm removed it


def test_run_exit_status_and_separate_streams(target):
    cp = target.pydocker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert cp.returncode == 3
    assert cp.stdout == "out\n" and cp.stderr == "err\n"


def test_run_stdin(target):
    cp = ok(target.pydocker("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input="abc\ndef\n"))
    assert cp.stdout == "ABC\nDEF\n"


def test_run_env_and_workdir(target):
    cp = ok(target.pydocker("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "busybox", "sh", "-c", "echo $FOO; pwd"))
    assert cp.stdout == "bar\n/tmp\n"


@pytest.mark.parametrize("cmd,code", [("nonexistent-binary", 127), ("/etc", 126)])
def test_run_start_failures_exit_like_docker(target, cmd, code):
    cp = target.pydocker("run", "--rm", "busybox", cmd)
    assert cp.returncode == code
    assert cp.stderr.startswith("docker: Error response from daemon: ")
    assert cp.stderr.endswith("\n\nRun 'docker run --help' for more information\n")


def test_run_usage_errors(target):
    cp = target.pydocker("run", "--bogus", "busybox")
    assert cp.returncode == 125
    assert cp.stderr == ("unknown flag: --bogus\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
                         "Run 'docker run --help' for more information\n")
    cp = target.pydocker("run")
    assert cp.returncode == 1 and "'docker run' requires at least 1 argument" in cp.stderr


def test_run_missing_image_tries_to_pull(target):
    cp = target.pydocker("run", "--rm", "127.0.0.1:1/pydocker-none/x:1", "true", timeout=120)
    assert cp.returncode == 125
    assert cp.stderr.startswith("Unable to find image '127.0.0.1:1/pydocker-none/x:1' locally\n")
    assert "docker: " in cp.stderr


def test_run_invalid_reference(target):
    cp = target.pydocker("run", "--rm", "BusyBox", "true")
    assert cp.returncode == 125
    assert cp.stderr.startswith("docker: invalid reference format: repository name (library/BusyBox) "
                                "must be lowercase\n")


# -- a detached container's life cycle ----------------------------------------------------------
def test_detached_lifecycle(target, cname):
    cp = ok(target.pydocker("run", "-d", "--name", cname, "busybox", "sh", "-c",
                            "echo started; echo warn >&2; exec sleep 600"))
    cid = cp.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)

    ps = ok(target.pydocker("ps"))
    header = ps.stdout.splitlines()[0]
    assert re.match(r"CONTAINER ID   IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$", header)
    assert any(line.startswith(cid[:12]) and line.endswith(cname) for line in ps.stdout.splitlines())
    assert cid[:12] in ok(target.pydocker("ps", "-q")).stdout.split()
    assert cid in ok(target.pydocker("ps", "--no-trunc", "-q")).stdout.split()
    names = ok(target.pydocker("ps", "--filter", f"name={cname}", "--format", "{{.Names}} {{.State}}")).stdout
    assert names == f"{cname} running\n"
    row = json.loads(ok(target.pydocker("ps", "--filter", f"id={cid}", "--format", "{{json .}}")).stdout)
    assert row["ID"] == cid[:12] and row["Names"] == cname and row["Command"].startswith('"sh -c')

    status = ok(target.pydocker("inspect", "--format", "{{.State.Status}} {{.Name}}", cname)).stdout
    assert status == f"running /{cname}\n"
    info = json.loads(ok(target.pydocker("container", "inspect", cname)).stdout)
    assert info[0]["Id"] == cid

    # logs: both streams, demultiplexed, eventually present
    import time
    for _ in range(50):
        logs = target.pydocker("logs", cname)
        if "started" in logs.stdout and "warn" in logs.stderr:
            break
        time.sleep(0.1)
    assert logs.stdout == "started\n" and logs.stderr == "warn\n"
    ts = ok(target.pydocker("logs", "-t", cname)).stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z started\n", ts)
    tail = ok(target.pydocker("logs", "--tail", "1", cname))
    assert tail.stdout + tail.stderr in ("started\n", "warn\n")  # the streams race; one line either way

    ex = target.pydocker("exec", cname, "sh", "-c", "echo in-exec; exit 4")
    assert ex.returncode == 4 and ex.stdout == "in-exec\n"
    ex = target.pydocker("exec", "-i", cname, "cat", input="piped\n")
    assert ex.returncode == 0 and ex.stdout == "piped\n"

    assert ok(target.pydocker("stop", "-t", "1", cname)).stdout == f"{cname}\n"
    assert ok(target.pydocker("wait", cname)).stdout.strip() in ("137", "143")
    exited = ok(target.pydocker("ps", "-a", "--filter", f"name={cname}", "--format", "{{.Status}}")).stdout
    assert exited.startswith("Exited (")
    assert ok(target.pydocker("start", cname)).stdout == f"{cname}\n"
    assert ok(target.pydocker("kill", cname)).stdout == f"{cname}\n"
    assert ok(target.pydocker("rm", cname)).stdout == f"{cname}\n"


def test_errors_for_missing_containers(target):
    n = f"pydcli-missing-{uuid.uuid4().hex[:6]}"
    cp = target.pydocker("stop", n)
    assert cp.returncode == 1 and cp.stderr == f"Error response from daemon: No such container: {n}\n"
    cp = target.pydocker("rm", n)
    assert cp.returncode == 1 and cp.stderr == f"Error response from daemon: No such container: {n}\n"
    assert target.pydocker("rm", "-f", n).returncode == 0
    cp = target.pydocker("inspect", n)
    assert cp.returncode == 1 and cp.stdout == "[]\n" and cp.stderr == f"Error: No such object: {n}\n"
    cp = target.pydocker("logs", n)
    assert cp.returncode == 1 and cp.stderr == f"Error response from daemon: No such container: {n}\n"


def test_create_then_start_attached(target, cname):
    cid = ok(target.pydocker("create", "--name", cname, "busybox", "sh", "-c", "echo attached; exit 2")).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    cp = target.pydocker("start", "-a", cname)
    assert cp.returncode == 2 and cp.stdout == "attached\n"


# -- images ---------------------------------------------------------------------------------------
def test_images_lists_busybox(target):
    out = ok(target.pydocker("images")).stdout.splitlines()
    assert re.match(r"REPOSITORY +TAG +IMAGE ID +CREATED +SIZE$", out[0])
    assert any(re.match(r"busybox +latest +[0-9a-f]{12} ", line) for line in out[1:])
    ids = ok(target.pydocker("images", "-q", "busybox")).stdout.split()
    assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{12}", ids[0])
    full = ok(target.pydocker("image", "inspect", "--format", "{{.Id}}", "busybox")).stdout.strip()
    assert full.startswith("sha256:" + ids[0])


def test_import_tag_save_load_rmi(target, busybox_rootfs_tar, tmp_path):
    repo = f"pydcli-imp-{uuid.uuid4().hex[:8]}"
    cp = ok(target.pydocker("import", str(busybox_rootfs_tar), f"{repo}:1"))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", cp.stdout)
    try:
        ok(target.pydocker("tag", f"{repo}:1", f"{repo}:2"))
        assert ok(target.pydocker("run", "--rm", f"{repo}:2", "echo", "imported")).stdout == "imported\n"
        archive = tmp_path / "img.tar"
        ok(target.pydocker("save", "-o", str(archive), f"{repo}:1"))
        with tarfile.open(archive) as tf:
            assert "manifest.json" in tf.getnames()
        rmi = ok(target.pydocker("rmi", f"{repo}:1"))
        assert rmi.stdout == f"Untagged: {repo}:1\n"
        load = ok(target.pydocker("load", "-i", str(archive)))
        assert f"Loaded image: {repo}:1" in load.stdout
    finally:
        target.pydocker("rmi", "-f", f"{repo}:1", f"{repo}:2")
    cp = target.pydocker("rmi", f"{repo}:1")
    assert cp.returncode == 1 and cp.stderr.startswith("Error response from daemon: ")


def test_build_classic(target, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nCOPY msg.txt /msg.txt\nCMD [\"cat\", \"/msg.txt\"]\n")
    (tmp_path / "msg.txt").write_text("built by pydocker\n")
    (tmp_path / "secret.txt").write_text("never sent\n")
    (tmp_path / ".dockerignore").write_text("secret.txt\n")
    tag = f"pydcli-build-{uuid.uuid4().hex[:8]}:1"
    iid = tmp_path / "iid"
    try:
        cp = ok(target.pydocker("build", "-t", tag, "--iidfile", str(iid), str(tmp_path), timeout=180))
        assert cp.stdout.startswith("Sending build context to Docker daemon ")
        assert "Successfully tagged" in cp.stdout
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", iid.read_text())
        assert ok(target.pydocker("run", "--rm", tag)).stdout == "built by pydocker\n"
        assert target.pydocker("run", "--rm", tag, "ls", "/secret.txt").returncode != 0
    finally:
        target.pydocker("rmi", "-f", tag)


# -- cp, volumes, networks ------------------------------------------------------------------------
def test_cp_both_ways(target, cname, tmp_path):
    ok(target.pydocker("run", "-d", "--name", cname, "busybox", "sleep", "600"))
    src = tmp_path / "in.txt"
    src.write_text("to the container\n")
    ok(target.pydocker("cp", str(src), f"{cname}:/tmp/copied.txt"))
    assert ok(target.pydocker("exec", cname, "cat", "/tmp/copied.txt")).stdout == "to the container\n"
    ok(target.pydocker("cp", f"{cname}:/tmp/copied.txt", str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_text() == "to the container\n"
    ok(target.pydocker("cp", f"{cname}:/etc", str(tmp_path / "etc")))
    assert (tmp_path / "etc" / "passwd").is_file()
    cp = target.pydocker("cp", "a", "b")
    assert cp.returncode == 1 and cp.stderr == "must specify at least one container source\n"


def test_volume_commands(target):
    vol = f"pydcli-vol-{uuid.uuid4().hex[:8]}"
    assert ok(target.pydocker("volume", "create", vol)).stdout == f"{vol}\n"
    try:
        ls = ok(target.pydocker("volume", "ls")).stdout.splitlines()
        assert ls[0] == "DRIVER    VOLUME NAME" and f"local     {vol}" in ls
        assert ok(target.pydocker("volume", "inspect", "--format", "{{.Name}} {{.Driver}}", vol)).stdout == f"{vol} local\n"
    finally:
        assert ok(target.pydocker("volume", "rm", vol)).stdout == f"{vol}\n"
    assert target.pydocker("volume", "rm", vol).returncode == 1


def test_network_commands(target):
    net = f"pydcli-net-{uuid.uuid4().hex[:8]}"
    nid = ok(target.pydocker("network", "create", net)).stdout.strip()
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", nid)
        ls = ok(target.pydocker("network", "ls")).stdout.splitlines()
        assert re.match(r"NETWORK ID +NAME +DRIVER +SCOPE$", ls[0])
        assert any(line.startswith(nid[:12]) and f" {net} " in line for line in ls)
    finally:
        assert ok(target.pydocker("network", "rm", net)).stdout == f"{net}\n"


# -- system -------------------------------------------------------------------------------------
def test_version_and_info(target):
    v = ok(target.pydocker("version")).stdout
    assert v.startswith("Client: pydocker\n Version:") and "\nServer:" in v and " Engine:\n" in v
    info = ok(target.pydocker("info")).stdout
    assert info.startswith("Client:\n") and "\nServer:\n Containers: " in info and " Images: " in info
    assert ok(target.pydocker("info", "--format", "{{.OSType}}")).stdout == "linux\n"


def test_same_output_as_the_docker_cli(target, cname):
    """Side by side with /usr/local/bin/docker on the same daemon (time-independent columns)."""
    ok(target.pydocker("create", "--name", cname, "busybox", "echo", "x"))
    for args in (["ps", "-a", "--filter", f"name={cname}", "--format", "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.Names}}"],
                 ["images", "--format", "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}", "busybox"],
                 ["inspect", "--format", "{{.Config.Cmd}} {{json .Config.Cmd}}", cname],
                 ["run", "--bogus"], ["ps", "extra"], ["logs"]):
        mine, theirs = target.pydocker(*args), target.docker(*args)
        assert (mine.returncode, mine.stdout, mine.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr), args


# -- terminals ----------------------------------------------------------------------------------
def _pty_session(target: Target, args: list[str], steps: list[tuple], timeout: float = 20):
    """Run pydocker on a pseudo-terminal; for each (send, expect[, repeat]) write send, read until expect.

    Returns (transcript, exit status).
    """
    import pty
    import select
    import time
    pid, fd = pty.fork()
    if pid == 0:  # child: become pydocker on the terminal
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "cli.main", *args], target.env)
    transcript = b""
    try:
        for step in steps:
            send, expect = step[0], step[1]
            repeat = len(step) > 2 and step[2]  # keep sending until expect shows up (e.g. poke a shell)
            if send:
                os.write(fd, send)
            deadline = time.monotonic() + timeout
            last_send = time.monotonic()
            while expect not in transcript and time.monotonic() < deadline:
                if repeat and time.monotonic() - last_send > 0.5:
                    os.write(fd, send)
                    last_send = time.monotonic()
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(fd, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    transcript += chunk
            assert expect in transcript, transcript
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return transcript, os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    transcript += os.read(fd, 4096)
                except OSError:
                    pass
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError(f"pydocker did not exit: {transcript!r}")
    finally:
        os.close(fd)


def test_run_interactive_tty(target, cname):
    out, code = _pty_session(target, ["run", "-it", "--rm", "--name", cname, "busybox", "sh"],
                             [(b"", b"# "), (b"echo tty-$((40+2)); tty\r", b"tty-42"), (b"exit 7\r", b"exit 7")])
    assert code == 7
    assert b"tty-42\r\n" in out  # the pty in the container turns \n into \r\n: raw mode on our side


def test_detach_keys_leave_the_container_running(target, cname):
    _, code = _pty_session(target, ["run", "-it", "--name", cname, "busybox", "sh"],
                           [(b"", b"# "), (b"\x10\x11", b"")])
    assert code == 0
    assert ok(target.pydocker("inspect", "--format", "{{.State.Running}}", cname)).stdout == "true\n"
    # Until our side is in raw mode the local terminal would echo and buffer; a prompt proves the
    # keystrokes reach the container's shell.
    out, code = _pty_session(target, ["attach", cname], [(b"\r", b"# ", True), (b"echo back-$((1+1))\r", b"back-2"),
                                                         (b"exit 3\r", b"")])
    assert code == 3


# -- registry -----------------------------------------------------------------------------------
@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on a free 127.0.0.1 port (loopback registries are insecure by default)."""
    sys.path.insert(0, str(REPO / "tests" / "integration" / "registry"))
    from registry_helpers import start_registry
    reg = start_registry(tmp_path / "reg")
    try:
        yield reg.host
    finally:
        reg.stop()


def test_push_and_pull(target, registry):
    ref = f"{registry}/pydcli/bb:1"
    ok(target.pydocker("tag", "busybox", ref))
    try:
        push = ok(target.pydocker("push", ref, timeout=120))
        assert push.stdout.startswith(f"The push refers to repository [{registry}/pydcli/bb]\n")
        assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", push.stdout, re.M)
        ok(target.pydocker("rmi", ref))
        pull = ok(target.pydocker("pull", ref, timeout=120))
        assert pull.stdout.startswith("1: Pulling from pydcli/bb\n") and pull.stdout.endswith(f"\n{ref}\n")
        assert f"Status: Downloaded newer image for {ref}\n" in pull.stdout
        assert ok(target.pydocker("run", "--rm", ref, "echo", "pulled")).stdout == "pulled\n"
        missing = target.pydocker("pull", f"{registry}/pydcli/bb:nosuch", timeout=120)
        assert missing.returncode == 1 and missing.stderr.startswith("Error response from daemon: ")
        quiet = ok(target.pydocker("pull", "-q", ref, timeout=120))
        assert quiet.stdout == f"{ref}\n"
    finally:
        target.pydocker("rmi", "-f", ref)


# -- compose ------------------------------------------------------------------------------------
def test_compose_test_app(target):
    """The project's docker-compose.test.yml: named volumes, a bind, healthcheck-gated dependency,
    service names resolvable on the project network, and a published port."""
    import socket
    import time
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = f"pydcli{uuid.uuid4().hex[:8]}"
    env = dict(target.env, WEB_PORT=str(port))
    base = ["compose", "-f", str(REPO / "docker-compose.test.yml"), "-p", project]

    def compose(*args, timeout=180):
        return subprocess.run([sys.executable, "-m", "cli.main", *base, *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        assert f" Container {project}-db-1  Healthy\n" in up.stderr
        assert up.stderr.index(f"{project}-db-1  Healthy") < up.stderr.index(f"{project}-client-1  Started")
        ps = compose("ps", "-a", "--format", "{{.Service}}")
        assert sorted(ps.stdout.split()) == ["client", "db", "web"]
        expected = "<h1>hello from the pydocker compose test app</h1>\ndatabase appdb: tables users orders\n"
        for _ in range(150):  # the client polls the web service by name, then reads the db service
            out = compose("logs", "--no-log-prefix", "client").stdout
            if out == expected:
                break
            time.sleep(0.2)
        assert out == expected
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
            assert b"hello from the pydocker compose test app" in r.read()
        ex = compose("exec", "-T", "db", "cat", "/var/lib/db/www/tables")
        assert ex.returncode == 0 and ex.stdout == "database appdb: tables users orders\n"
        one_off = compose("run", "--rm", "-T", "--no-deps", "client", "wget", "-q", "-O", "-", "http://web/index.html")
        assert one_off.returncode == 0, one_off.stderr
        assert one_off.stdout == "<h1>hello from the pydocker compose test app</h1>\n"
        again = compose("up", "-d")
        assert f" Container {project}-web-1  Running\n" in again.stderr  # unchanged config: left alone
    finally:
        down = compose("down", "-v", "-t", "1")
    assert down.returncode == 0, down.stderr
    assert f" Network {project}_default  Removed\n" in down.stderr
    assert f" Volume {project}_dbdata  Removed\n" in down.stderr
    left = ok(target.pydocker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"))
    assert left.stdout == ""


def test_exec_interactive_tty(target, cname):
    ok(target.pydocker("run", "-d", "--name", cname, "busybox", "sleep", "600"))
    out, code = _pty_session(target, ["exec", "-it", cname, "sh"],
                             [(b"", b"# "), (b"echo exec-$((6*7)); exit 5\r", b"exec-42")])
    assert code == 5 and b"exec-42\r\n" in out


# -- the guide's command table: ids from -q feed other commands, endpoints, usage errors ---------
def test_quiet_ids_feed_other_commands(target):
    """`docker rm -f $(docker ps -aq --filter ...)` and `docker stop $(docker ps -q ...)` as people write them."""
    label = f"pydcli.q={uuid.uuid4().hex[:8]}"
    ids = [ok(target.pydocker("run", "-d", "--label", label, "busybox", "sleep", "600")).stdout.strip()
           for _ in range(3)]
    ok(target.pydocker("create", "--label", label, "busybox", "true"))
    sh = f"P='{sys.executable} -m cli.main'; "
    try:
        stopped = subprocess.run(["sh", "-c", sh + f"$P stop -t 1 $($P ps -q --filter label={label})"],
                                 env=target.env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert sorted(stopped.stdout.split()) == sorted(i[:12] for i in ids)
        assert ok(target.pydocker("ps", "-q", "--filter", f"label={label}")).stdout == ""
        removed = subprocess.run(["sh", "-c", sh + f"$P rm $($P ps -aq --filter label={label})"],
                                 env=target.env, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert removed.returncode == 0, removed.stderr
        assert len(removed.stdout.split()) == 4
        assert ok(target.pydocker("ps", "-aq", "--filter", f"label={label}")).stdout == ""
    finally:
        left = target.pydocker("ps", "-aq", "--filter", f"label={label}").stdout.split()
        if left:
            target.pydocker("rm", "-f", *left)


def test_docker_host_and_H(target, tmp_path):
    host = target.env["DOCKER_HOST"]
    bare = {k: v for k, v in target.env.items() if k != "DOCKER_HOST"}
    bare["DOCKER_CONFIG"] = str(tmp_path)  # no current context

    def py(env, *args):
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    assert ok(py(bare, "-H", host, "version", "--format", "{{.Server.Os}}")).stdout == "linux\n"
    assert ok(py(bare, "--host", host, "ps", "-q")).returncode == 0
    bogus = "unix:///nonexistent/pydocker.sock"
    # -H wins over DOCKER_HOST
    assert ok(py(dict(bare, DOCKER_HOST=bogus), "-H", host, "info", "--format", "{{.OSType}}")).stdout == "linux\n"
    assert ok(py(dict(bare, DOCKER_HOST=host), "info", "--format", "{{.OSType}}")).stdout == "linux\n"
    for env, args in ((dict(bare, DOCKER_HOST=bogus), ["ps"]), (bare, ["-H", bogus, "ps"])):
        cp = py(env, *args)
        real = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=60)
        assert (cp.returncode, cp.stderr) == (real.returncode, real.stderr) == (
            1, f"Cannot connect to the Docker daemon at {bogus}. Is the docker daemon running?\n")


@pytest.mark.parametrize("args", [["bogus"], ["ps", "--bogus"], ["run", "--bogus", "busybox"], ["images", "-Z"],
                                  ["network", "bogus"], ["volume", "ls", "--nope"]])
def test_usage_errors_as_the_docker_cli(target, args):
    cp = target.pydocker(*args)
    real = target.docker(*args)
    assert (cp.returncode, cp.stdout, cp.stderr) == (real.returncode, real.stdout, real.stderr)
    assert cp.returncode != 0


def test_tty_size_and_resize(target, cname):
    """-it sets the container's terminal to ours and follows SIGWINCH (the kernel sends it on TIOCSWINSZ)."""
    import fcntl
    import pty
    import select
    import struct
    import termios
    import time
    pid, fd = pty.fork()
    if pid == 0:  # child: size the terminal, then become pydocker (never return into pytest)
        try:
            os.chdir(REPO)
            os.execve("/bin/sh", ["sh", "-c", 'stty rows 31 cols 101 && exec "$@"', "sh", sys.executable, "-m",
                                  "cli.main", "run", "-it", "--rm", "--name", cname, "busybox", "sh"], target.env)
        finally:
            os._exit(127)
    transcript = b""

    def expect(what: bytes, send: bytes = b"", every: float = 0) -> None:
        nonlocal transcript
        deadline, last = time.monotonic() + 20, 0.0
        while what not in transcript:
            assert time.monotonic() < deadline, transcript
            if send and (not last or (every and time.monotonic() - last > every)):
                os.write(fd, send)
                last = time.monotonic()
            if select.select([fd], [], [], 0.2)[0]:
                transcript += os.read(fd, 4096)
    try:
        expect(b"# ", b"\r", every=0.5)
        expect(b"size=31x101", b"echo size=$(stty size | tr ' ' x)\r")
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 42, 123, 0, 0))
        # the resize reaches the container asynchronously: ask until it shows
        expect(b"size=42x123", b"echo size=$(stty size | tr ' ' x)\r", every=0.5)
        os.write(fd, b"exit 4\r")
        deadline = time.monotonic() + 20
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            assert time.monotonic() < deadline, transcript
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    transcript += os.read(fd, 4096)
                except OSError:
                    pass
        assert os.waitstatus_to_exitcode(status) == 4
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_credentials_from_config_json_and_layer_progress(target, tmp_path):
    """push/pull send the credentials stored in $DOCKER_CONFIG/config.json; without them the registry refuses."""
    import base64
    sys.path.insert(0, str(REPO / "tests" / "integration" / "registry"))
    from registry_helpers import PASSWORD, USER, start_registry
    reg = start_registry(tmp_path / "reg", htpasswd=True)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    env = dict(target.env, DOCKER_CONFIG=str(cfg))
    ref = f"{reg.host}/pydcli/authed:1"

    def py(*args):
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=120)
    try:
        # a one-layer image of its own, so the pull really fetches its layer
        layer = tmp_path / "layer.tar"
        with tarfile.open(layer, "w") as tf:
            data = uuid.uuid4().hex.encode()
            info = tarfile.TarInfo("unique")
            info.size = len(data)
            import io
            tf.addfile(info, io.BytesIO(data))
        ok(py("import", str(layer), ref))
        refused = py("push", ref)
        assert refused.returncode == 1 and "no basic auth credentials" in refused.stderr, refused.stderr
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        (cfg / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": token}}}))
        push = ok(py("push", ref))
        layers = re.findall(r"^([0-9a-f]{12}): Pushed$", push.stdout, re.M)
        assert layers, push.stdout  # one line per layer
        ok(py("rmi", ref))
        pull = ok(py("pull", ref))
        assert f"Status: Downloaded newer image for {ref}\n" in pull.stdout
        # the same daemon stream as the Go CLI renders it (which reads the same config.json)
        ok(py("rmi", ref))
        real = subprocess.run([DOCKER, "pull", ref], env=env, capture_output=True, text=True, timeout=120)
        assert (real.returncode, real.stdout) == (0, pull.stdout)
    finally:
        py("rmi", "-f", ref)
        reg.stop()


def test_load_on_a_terminal_and_a_pipe(target, tmp_path):
    """Load asks for progress only on a terminal (quiet=1 on a pipe). pydockerd's /images/load sends no
    per-layer "Loading layer" messages yet, so only the result line can be checked here; the bars
    themselves are rendered by cli/progress.py (tests/unit/cli/test_cli_progress.py)."""
    import io
    layer, tar = tmp_path / "layer.tar", tmp_path / "img.tar"
    with tarfile.open(layer, "w") as tf:
        data = os.urandom(64 * 1024)
        info = tarfile.TarInfo("unique")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    ref = f"pydcli-load-{uuid.uuid4().hex[:8]}:1"
    ok(target.pydocker("import", str(layer), ref))
    try:
        ok(target.pydocker("save", "-o", str(tar), ref))
        ok(target.pydocker("rmi", ref))
        plain = ok(target.pydocker("load", "-i", str(tar)))
        assert plain.stdout == f"Loaded image: {ref}\n"  # not a terminal: no bars
        ok(target.pydocker("rmi", ref))
        out, code = _pty_session(target, ["load", "-i", str(tar)], [(b"", f"Loaded image: {ref}".encode())])
        assert code == 0, out
        assert b"Loaded image: " + ref.encode() in out
    finally:
        target.pydocker("rmi", "-f", ref)


def test_fast_launcher(target):
    """bin/pydocker (python3 -IS, what `pydocker` on PATH is) runs the same CLI as `python -m cli.main`."""
    env = {k: v for k, v in target.env.items() if k != "PYTHONPATH"}
    fast = subprocess.run([str(REPO / "bin" / "pydocker"), "images", "--format", "{{.Repository}}:{{.Tag}}"],
                          env=env, cwd="/", capture_output=True, text=True, timeout=60)
    assert fast.returncode == 0, fast.stderr
    assert fast.stdout == ok(target.pydocker("images", "--format", "{{.Repository}}:{{.Tag}}")).stdout
    assert "busybox:latest" in fast.stdout.split()
