"""Remote access as dockerd offers it: `-H tcp://…` next to the unix socket, mutual TLS with
`--tlsverify`, plain TCP on loopback only, driven by the real docker CLIs and docker-py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from stacklib import DOCKER, DOCKER20, REPO, stack_session
from tls_test_certs import PKI, make_pki


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pki() -> PKI:
    d = Path(tempfile.mkdtemp(prefix="pydocker-pki-"))
    try:
        yield make_pki(d)
    finally:
        import shutil
        shutil.rmtree(d, ignore_errors=True)


def _stack(extra: list[str], busybox_tar: Path | None):
    yield from stack_session("pydocker-test-", busybox_tar, extra)


@pytest.fixture(scope="module")
def tls_stack(pki, busybox_rootfs_tar):
    """A stack on its unix socket and on tcp://127.0.0.1:PORT with --tlsverify."""
    port = free_port()
    gen = _stack(["-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(pki.ca),
                  "--tlscert", str(pki.server_cert), "--tlskey", str(pki.server_key)], busybox_rootfs_tar)
    st = next(gen)
    st.tcp = f"tcp://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield st
    next(gen, None)


def remote(st, *args: str, cli: str = DOCKER, certs: Path | None = None, tls: tuple[str, ...] = (),
           input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI against the TCP address only (no DOCKER_HOST), with `certs` as DOCKER_CERT_PATH."""
    env = {k: v for k, v in st.env.items() if k not in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")}
    flags: list[str] = list(tls)
    if certs is not None:
        flags = ["--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "cert.pem"),
                 "--tlskey", str(certs / "key.pem"), *flags]
    return subprocess.run([cli, *flags, "-H", st.tcp, *args], env=env, input=input, capture_output=True,
                          text=True, timeout=timeout)


def test_cli_over_mutual_tls(tls_stack, pki):
    st = tls_stack
    cp = remote(st, "version", "--format", "{{.Server.Version}} {{.Server.APIVersion}}", certs=pki.client_dir)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.split()[1] == "1.50"
    cp = remote(st, "run", "--rm", "busybox", "echo", "hi", certs=pki.client_dir)
    assert (cp.returncode, cp.stdout) == (0, "hi\n"), cp.stderr
    # the unix socket keeps working next to TCP
    assert st.docker("ps", "-q", check=True).returncode == 0
    # the CLI's environment variables, as a remote user would set them
    env = {k: v for k, v in st.env.items() if k != "DOCKER_HOST"}
    env.update(DOCKER_HOST=st.tcp, DOCKER_TLS_VERIFY="1", DOCKER_CERT_PATH=str(pki.client_dir))
    cp = subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"], env=env, capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0 and cp.stdout.strip(), cp.stderr
    cp = remote(st, "run", "--rm", "busybox", "echo", "from-20.10", cli=DOCKER20, certs=pki.client_dir)
    assert (cp.returncode, cp.stdout) == (0, "from-20.10\n"), cp.stderr


def test_hijacked_streams_over_tls(tls_stack, pki):
    """attach/exec upgrade the connection: stdin in, output after the CLI half-closed its side."""
    st = tls_stack
    cp = remote(st, "run", "-i", "--rm", "busybox", "sh", "-c", "read x; echo got:$x; echo err >&2",
                certs=pki.client_dir, input="hello\n")
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "got:hello\n", "err\n")
    # output that comes after the CLI closed its write side (no -i: it half-closes at once)
    cp = remote(st, "run", "--rm", "busybox", "sh", "-c", "sleep 1; echo late; exit 3", certs=pki.client_dir)
    assert (cp.returncode, cp.stdout) == (3, "late\n")
    name = "tls-" + uuid.uuid4().hex[:8]
    try:
        remote(st, "run", "-d", "--name", name, "busybox", "sleep", "300", certs=pki.client_dir)
        cp = remote(st, "exec", "-i", name, "sh", "-c", "cat; echo done", certs=pki.client_dir, input="a\nb\n")
        assert (cp.returncode, cp.stdout) == (0, "a\nb\ndone\n"), cp.stderr
        cp = remote(st, "exec", name, "sh", "-c", "exit 7", certs=pki.client_dir)
        assert cp.returncode == 7
    finally:
        st.docker("rm", "-f", name)


def test_clients_without_a_trusted_cert_are_refused(tls_stack, pki):
    st = tls_stack
    # TLS, server verified, but no client certificate
    cp = remote(st, "version", tls=("--tls", "--tlscacert", str(pki.ca)))
    assert cp.returncode == 1 and "certificate required" in cp.stderr, cp.stderr
    # a client certificate from another CA
    cp = remote(st, "ps", certs=pki.rogue_client_dir)
    assert cp.returncode == 1 and "unknown certificate authority" in cp.stderr, cp.stderr
    # plain HTTP to the TLS port: Go's answer
    cp = remote(st, "ps")
    assert cp.returncode == 1 and "Client sent an HTTP request to an HTTPS server." in cp.stderr, cp.stderr
    # the server is who the CA says: a client trusting another CA refuses it
    cp = remote(st, "ps", tls=("--tlsverify", "--tlscacert", str(pki.dir / "rogue-ca.pem")))
    assert cp.returncode == 1 and "certificate signed by unknown authority" in cp.stderr, cp.stderr


def test_docker_py_over_tls(tls_stack, pki, monkeypatch):
    import docker as docker_py
    from docker.tls import TLSConfig

    # requests lets these override the session's CA (requests#3829): the host sets them to its bundle
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)

    port = tls_stack.tcp.rsplit(":", 1)[1]
    cert = (str(pki.client_dir / "cert.pem"), str(pki.client_dir / "key.pem"))
    client = docker_py.DockerClient(base_url=f"https://127.0.0.1:{port}", version="1.45",
                                    tls=TLSConfig(client_cert=cert, ca_cert=str(pki.ca), verify=True))
    try:
        assert client.ping() is True
        assert client.containers.run("busybox", ["echo", "py"], remove=True) == b"py\n"
        c = client.containers.run("busybox", ["sleep", "300"], detach=True)
        try:
            code, out = c.exec_run(["sh", "-c", "echo $((6*7))"])
            assert (code, out) == (0, b"42\n")
            sock = c.attach_socket(params={"stdout": 1, "stream": 1, "logs": 1})
            sock.close()
        finally:
            c.remove(force=True)
    finally:
        client.close()
    untrusted = docker_py.DockerClient(base_url=f"https://127.0.0.1:{port}", version="1.45",
                                       tls=TLSConfig(ca_cert=str(pki.ca), verify=True))
    try:
        import requests
        with pytest.raises(requests.exceptions.SSLError, match="certificate required"):
            untrusted.ping()
    finally:
        untrusted.close()


def test_plain_tcp_on_loopback(tmp_path_factory):
    port = free_port()
    gen = _stack(["-H", f"tcp://127.0.0.1:{port}"], None)
    st = next(gen)
    try:
        env = {k: v for k, v in st.env.items() if k != "DOCKER_HOST"}
        cp = subprocess.run([DOCKER, "-H", f"tcp://127.0.0.1:{port}", "ps"], env=env, capture_output=True,
                            text=True, timeout=60)
        assert cp.returncode == 0 and cp.stdout.startswith("CONTAINER ID"), cp.stderr
        log = st.log.read_text()
        assert "Binding to IP address without --tlsverify is insecure" in log
        assert f"API listen on 127.0.0.1:{port}" in log
    finally:
        next(gen, None)


def pydockerd(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    """pydockerd with settings it must refuse before starting anything."""
    env = dict(os.environ, PYTHONPATH=str(REPO), HOME=str(tmp))
    env.pop("DOCKER_TLS_VERIFY", None)
    env.pop("DOCKER_CERT_PATH", None)
    env.pop("DOCKER_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "pydockerd.main", "--data-root", str(tmp / "data"),
                           "--exec-root", str(tmp / "exec"), "--pidfile", str(tmp / "pid"), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_refused_settings(tmp_path, pki):
    port = free_port()
    cp = pydockerd(tmp_path, "-H", f"tcp://0.0.0.0:{port}")
    assert cp.returncode != 0 and f"refusing to listen on tcp://0.0.0.0:{port} without --tlsverify" in cp.stderr
    cp = pydockerd(tmp_path, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify")  # no ~/.docker/{cert,key}.pem
    assert cp.returncode != 0 and 'could not load X509 key pair (cert: "", key: "")' in cp.stderr, cp.stderr
    cp = pydockerd(tmp_path, "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscert", str(pki.server_cert),
                   "--tlskey", str(pki.server_key))  # the CA defaults to ~/.docker/ca.pem, which is missing
    assert cp.returncode != 0 and f'could not read CA certificate "{tmp_path}/.docker/ca.pem"' in cp.stderr
    cp = pydockerd(tmp_path, "-H", "udp://127.0.0.1:2375")
    assert cp.returncode != 0 and "invalid bind address (udp://127.0.0.1:2375): unsupported proto 'udp'" in cp.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "pid").exists()  # nothing was started
