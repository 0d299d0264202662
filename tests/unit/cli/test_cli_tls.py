"""TCP + mutual TLS to the daemon (--tlsverify with CA, client certificate and key)."""
import shutil
import ssl
import subprocess

import pytest

from cli.client import Client, TLSConfig
from cli.errors import CLIError
from cli.main import main
from cli_fakedaemon import FakeDaemon, response

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=test-ca", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


@pytest.fixture
def tls_daemon(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server-key.pem")
    ctx.load_verify_locations(certs / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the client must present its certificate
    d = FakeDaemon(tls=ctx)
    d.routes[("HEAD", "/_ping")] = lambda r: response(200, headers={"Api-Version": "1.50"})
    d.routes[("GET", "/containers/json")] = lambda r: response(200, [])
    yield d
    d.close()


def test_mutual_tls_request(tls_daemon, certs):
    tls = TLSConfig(True, str(certs / "ca.pem"), str(certs / "client.pem"), str(certs / "client-key.pem"))
    assert Client(tls_daemon.host, tls=tls).get_json("/containers/json") == []
    assert tls_daemon.requests[-1].target == "/v1.50/containers/json"


def test_untrusted_server_is_refused(tls_daemon, certs, tmp_path):
    other = tmp_path / "other-ca.pem"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "k.pem"), "-out",
             str(other), "-days", "1", "-subj", "/CN=other", cwd=tmp_path)
    tls = TLSConfig(True, str(other), str(certs / "client.pem"), str(certs / "client-key.pem"))
    with pytest.raises(CLIError, match="error during connect: .*CERTIFICATE_VERIFY_FAILED"):
        Client(tls_daemon.host, tls=tls).get_json("/containers/json")


def test_cli_flags_and_cert_path_env(tls_daemon, certs, monkeypatch, capsys):
    envdir = certs / "envdir"  # DOCKER_CERT_PATH uses the CLI's fixed file names
    envdir.mkdir(exist_ok=True)
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        shutil.copy(certs / src, envdir / dst)
    monkeypatch.setenv("DOCKER_CERT_PATH", str(envdir))
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert main(["-H", tls_daemon.host, "ps", "-q"]) == 0
    monkeypatch.delenv("DOCKER_TLS_VERIFY")
    monkeypatch.delenv("DOCKER_CERT_PATH")
    assert main(["-H", tls_daemon.host, "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
                 "--tlscert", str(certs / "client.pem"), "--tlskey", str(certs / "client-key.pem"), "ps"]) == 0
    assert capsys.readouterr().out.startswith("CONTAINER ID")
