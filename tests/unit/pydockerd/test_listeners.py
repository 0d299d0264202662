"""dockerd's -H and --tls* rules: host normalisation, TLS defaulting, the plain-TCP check."""
from __future__ import annotations

import logging

import pytest

from pydockerd.listeners import (DEFAULT_TLS_HOST, ListenerError, TLSSettings, check_tcp_security,
                                 parse_daemon_host, resolve_hosts)
from pydockerd.main import parse_args


@pytest.mark.parametrize("given, want", [
    ("tcp://127.0.0.1:2376", "tcp://127.0.0.1:2376"),
    ("tcp://:2376", "tcp://localhost:2376"),
    ("tcp://0.0.0.0", "tcp://0.0.0.0:2375"),
    ("127.0.0.1:4243", "tcp://127.0.0.1:4243"),
    ("tcp://[::1]:2376", "tcp://[::1]:2376"),
    ("unix:///run/x.sock", "unix:///run/x.sock"),
    ("unix://", "unix:///run/pydocker.sock"),
])
def test_hosts_normalised_as_moby(given, want):
    assert parse_daemon_host(given) == want


@pytest.mark.parametrize("given, message", [
    ("udp://1.2.3.4:5", "invalid bind address (udp://1.2.3.4:5): unsupported proto 'udp'"),
    ("tcp://127.0.0.1:0", "invalid bind address (tcp://127.0.0.1:0): invalid port: 0"),
    ("tcp://127.0.0.1:2375/path", "should not contain a path element"),
    ("unix://tcp://x", "invalid unix address"),
])
def test_bad_hosts(given, message):
    with pytest.raises(ListenerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_daemon_host(given)


def test_resolve_hosts_defaults_sorts_and_dedupes():
    plain = TLSSettings()
    assert resolve_hosts([], plain) == ["unix:///run/pydocker.sock"]
    assert resolve_hosts([], TLSSettings(enabled=True, verify=True)) == [DEFAULT_TLS_HOST]
    assert resolve_hosts(["unix:///a.sock", "tcp://127.0.0.1:9", "127.0.0.1:9"], plain) == [
        "tcp://127.0.0.1:9", "unix:///a.sock"]


def settings(argv: list[str]) -> TLSSettings:
    a = parse_args(argv)
    return TLSSettings.resolve(a.tls, a.tlsverify, a.tlscacert, a.tlscert, a.tlskey)


def test_tls_flag_rules(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    s = settings([])
    assert (s.enabled, s.verify, s.explicit) == (False, False, False)
    s = settings(["--tlsverify"])
    assert (s.enabled, s.verify, s.explicit) == (True, True, True)
    assert s.ca_file == str(tmp_path / "ca.pem") and (s.cert_file, s.key_file) == ("", "")  # defaults missing
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    s = settings(["--tls"])  # --tls alone verifies clients, as dockerd
    assert (s.enabled, s.verify) == (True, True)
    assert (s.cert_file, s.key_file) == (str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    s = settings(["--tlsverify=false"])  # TLS without client verification
    assert (s.enabled, s.verify, s.explicit) == (True, False, True)
    s = settings(["--tls=false"])
    assert (s.enabled, s.verify, s.explicit) == (False, False, True)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert settings([]).verify is True


def test_plain_tcp_rules(caplog):
    caplog.set_level(logging.WARNING, "pydockerd.listeners")
    check_tcp_security("unix:///run/x.sock", TLSSettings())
    assert not caplog.records
    check_tcp_security("tcp://127.0.0.1:2375", TLSSettings())
    check_tcp_security("tcp://localhost:2375", TLSSettings())
    check_tcp_security("tcp://[::1]:2375", TLSSettings())
    assert "without --tlsverify is insecure" in caplog.records[0].getMessage()
    with pytest.raises(ListenerError, match="refusing to listen on tcp://0.0.0.0:2375 without --tlsverify"):
        check_tcp_security("tcp://0.0.0.0:2375", TLSSettings())
    check_tcp_security("tcp://0.0.0.0:2375", TLSSettings(explicit=True))  # --tls=false: the user's choice
    caplog.clear()
    check_tcp_security("tcp://0.0.0.0:2376", TLSSettings(enabled=True, verify=True))
    assert not caplog.records


def test_tls_context_errors(tmp_path):
    s = TLSSettings(enabled=True, verify=True, ca_file=str(tmp_path / "ca.pem"), cert_file="", key_file="")
    with pytest.raises(ListenerError, match=r'could not load X509 key pair \(cert: "", key: ""\)'):
        s.server_context()
    bad = tmp_path / "bad.pem"
    bad.write_text("not a pem\n")
    s = TLSSettings(enabled=True, verify=False, cert_file=str(bad), key_file=str(bad))
    with pytest.raises(ListenerError, match="error reading X509 key pair"):
        s.server_context()
