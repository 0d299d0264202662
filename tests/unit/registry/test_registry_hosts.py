from pycontainerd.registry.hosts import endpoints_for, is_insecure, is_loopback


def test_loopback_is_plain_http():
    for h in ["127.0.0.1:5000", "127.3.4.5", "localhost:8080", "[::1]:5000", "LOCALHOST"]:
        assert is_loopback(h)
        assert [e.scheme for e in endpoints_for(h)] == ["http"]


def test_remote_needs_verified_https():
    for h in ["registry-1.docker.io", "10.1.2.3:5000", "[2001:db8::1]:5000", "localhost.example.com"]:
        assert not is_loopback(h)
        eps = endpoints_for(h)
        assert [(e.scheme, e.verify_tls) for e in eps] == [("https", True)]


def test_insecure_list():
    insecure = ["10.0.0.0/8", "myreg.local:5000", "other.local", "fd00::/8"]
    assert is_insecure("10.1.2.3:5000", insecure)
    assert is_insecure("myreg.local:5000", insecure)
    assert not is_insecure("myreg.local:6000", insecure)
    assert is_insecure("other.local:443", insecure)
    assert is_insecure("[fd00::5]:5000", insecure)
    assert not is_insecure("11.0.0.1", insecure)
    eps = endpoints_for("10.1.2.3:5000", insecure)
    assert [(e.scheme, e.verify_tls) for e in eps] == [("https", False), ("http", False)]
