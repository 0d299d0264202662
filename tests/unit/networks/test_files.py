from pycontainerd.networks import DNSConfig, files

HOST = "nameserver 127.0.0.53\nnameserver 10.0.0.53\nsearch corp lan\noptions edns0\n"


H = files.RESOLV_HEADER + "\n\n"


def test_resolv_conf_default_bridge():
    assert files.resolv_conf(HOST, DNSConfig(), embedded=False) == H + (
        "nameserver 10.0.0.53\nsearch corp lan\noptions edns0\n\n"
        "# Based on host file: '/etc/resolv.conf' (legacy)\n# Overrides: []\n")
    assert files.resolv_conf("nameserver 127.0.0.1\nnameserver ::2\nnameserver bad\n", DNSConfig(),
                             embedded=False) == H + (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n\n# Based on host file: '/etc/resolv.conf' (legacy)\n"
        "# Used default nameservers.\n# Invalid nameservers: [bad]\n# Overrides: []\n")
    dns = DNSConfig(servers=["1.1.1.1"], search=["x.example"], options=["ndots:2"])
    assert files.resolv_conf(HOST, dns, embedded=False, source="/run/x.conf") == H + (
        "nameserver 1.1.1.1\nsearch x.example\noptions ndots:2\n\n"
        "# Based on host file: '/run/x.conf' (legacy)\n# Overrides: [nameservers search options]\n"
        "# Option ndots from: override\n")


def test_resolv_conf_user_network():
    assert files.resolv_conf(HOST, DNSConfig(), embedded=True) == H + (
        "nameserver 127.0.0.11\nsearch corp lan\noptions edns0 ndots:0\n\n"
        "# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
        "# ExtServers: [host(127.0.0.53) host(10.0.0.53)]\n# Overrides: []\n# Option ndots from: internal\n")
    assert files.resolv_conf(HOST, DNSConfig(servers=["10.1.1.1"], options=["ndots:3"]), embedded=True) == H + (
        "nameserver 127.0.0.11\nsearch corp lan\noptions ndots:3\n\n"
        "# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
        "# ExtServers: [10.1.1.1]\n# Overrides: [nameservers options]\n# Option ndots from: override\n")
    assert files.upstream_nameservers(HOST, DNSConfig()) == ["127.0.0.53", "10.0.0.53"]


def test_resolv_conf_host_network():
    assert files.resolv_conf(HOST + "options ndots:1\n", DNSConfig(), embedded=False, host_network=True) == H + (
        "nameserver 127.0.0.53\nnameserver 10.0.0.53\nsearch corp lan\noptions edns0 ndots:1\n\n"
        "# Based on host file: '/etc/resolv.conf'\n# Overrides: []\n# Option ndots from: host\n")


def test_hosts():
    h = files.hosts_file("web", "example.com", "172.18.0.2", ["db:10.0.0.5", "gw:host-gateway"],
                         host_gateway="172.17.0.1")
    assert h == ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\n"
                 "ff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
                 "10.0.0.5\tdb\n172.17.0.1\tgw\n172.18.0.2\tweb.example.com web\n")
    assert files.hosts_file("web").endswith("ip6-allrouters\n")
    assert files.host_hosts_file("127.0.0.1 localhost", ["a:1.2.3.4"]) == "127.0.0.1 localhost\n1.2.3.4\ta\n"
    assert files.hostname_file("web") == "web\n"


def test_systemd_resolved_stub_is_looked_through():
    stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
    real = "nameserver 10.0.0.1\nsearch lan\n"
    assert files.effective_host_resolv(stub, real) == real
    assert files.effective_host_resolv(stub, None) == stub
    assert files.effective_host_resolv(HOST, real) == HOST   # not only the stub: as it is
