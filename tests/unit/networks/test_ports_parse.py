import pytest

from pycontainerd.networks.ports import PortMapping, PortSpecError, format_binding, parse_port_spec


@pytest.mark.parametrize("spec,want", [
    ("80", [PortMapping(80, "tcp", "", 0)]),
    ("8080:80", [PortMapping(80, "tcp", "", 8080)]),
    ("127.0.0.1:8080:80/udp", [PortMapping(80, "udp", "127.0.0.1", 8080)]),
    ("127.0.0.1::80", [PortMapping(80, "tcp", "127.0.0.1", 0)]),
    ("[::1]:8080:80", [PortMapping(80, "tcp", "::1", 8080)]),
    ("8000-8001:80-81/tcp", [PortMapping(80, "tcp", "", 8000), PortMapping(81, "tcp", "", 8001)]),
    ("8000-8010:80", [PortMapping(80, "tcp", "", 8000, 8010)]),
    ("80-81", [PortMapping(80, "tcp", "", 0), PortMapping(81, "tcp", "", 0)]),
    ("53/UDP", [PortMapping(53, "udp", "", 0)]),
])
def test_parse(spec, want):
    assert parse_port_spec(spec) == want


@pytest.mark.parametrize("spec,msg", [
    ("80/icmp", "Invalid proto: icmp"),
    ("abc", "Invalid containerPort: abc"),
    ("x:80", "Invalid hostPort: x"),
    ("1.2.3:80:80", "Invalid ip address: 1.2.3"),
    ("8000-8002:80-81", "Invalid ranges specified for container and host Ports: 80-81 and 8000-8002"),
    ("70000", "Invalid containerPort: 70000"),
    ("8080:", "No port specified: 8080:<empty>"),
])
def test_errors(spec, msg):
    with pytest.raises(PortSpecError, match=f"^{msg}$".replace("(", r"\(").replace(")", r"\)")):
        parse_port_spec(spec)


def test_format():
    assert format_binding("", 8080, 80, "tcp") == "0.0.0.0:8080->80/tcp"
    assert format_binding("::1", 1, 2, "udp") == "[::1]:1->2/udp"
