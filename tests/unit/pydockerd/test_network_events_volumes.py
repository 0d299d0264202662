import pytest

from pydockerd.daemon import network
from pydockerd.daemon.events import Event, EventBus, matches
from pydockerd.daemon.health import probe_argv
from pydockerd.daemon.volumes import VolumeStore, parse_binds
from pydockerd.errors import Conflict, InvalidParameter, NotFound


def test_port_bindings():
    hc = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                           "53/udp": [{"HostIp": "", "HostPort": ""}],
                           "443/tcp": [{"HostIp": "", "HostPort": "9000-9010"}]},
          "PublishAllPorts": True}
    got = network.port_bindings(hc, {"ExposedPorts": {"80/tcp": {}, "22/tcp": {}}})
    assert {"container_port": 80, "proto": "tcp", "host_ip": "127.0.0.1", "host_port": 8080, "host_port_end": 0} in got
    assert {"container_port": 53, "proto": "udp", "host_ip": "", "host_port": 0, "host_port_end": 0} in got
    assert {"container_port": 443, "proto": "tcp", "host_ip": "", "host_port": 9000, "host_port_end": 9010} in got
    assert {"container_port": 22, "proto": "tcp", "host_ip": "", "host_port": 0, "host_port_end": 0} in got
    assert len(got) == 4  # 80/tcp is not published twice by PublishAllPorts
    with pytest.raises(InvalidParameter):
        network.port_bindings({"PortBindings": {"x/tcp": []}}, {})


def test_networks_to_join_and_aliases():
    assert network.networks_to_join({"NetworkMode": "default"}, {}) == ["bridge"]
    assert network.networks_to_join({"NetworkMode": "app_default"}, {"app_default": {}, "other": {}}) == \
        ["app_default", "other"]
    assert network.networks_to_join({"NetworkMode": "host"}, {}) == []
    assert network.networks_to_join({"NetworkMode": "container:x"}, {}) == []
    assert network.aliases_for("app_default", "a" * 64, {"Aliases": ["web"]}) == ["web", "a" * 12]
    assert network.aliases_for("bridge", "a" * 64, {}) == []


def test_ports_views():
    ep = network.EndpointInfo("bridge", "n", "e", "10.0.0.2", 24, "10.0.0.1", "02:42", [],
                              [{"container_port": 80, "proto": "tcp", "host_ip": "", "host_port": 8080}])
    cfg = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    assert network.ports_map(cfg, [ep]) == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], "53/udp": None}
    assert network.summary_ports(cfg, [ep]) == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}]


def test_event_json_and_filters():
    ev = Event("container", "die", "c" * 64, {"image": "busybox", "name": "web", "exitCode": "3", "app": "x"}, 1_700_000_000_123)
    j = ev.to_json()
    assert (j["status"], j["id"], j["from"], j["Type"], j["time"], j["timeNano"]) == (
        "die", "c" * 64, "busybox", "container", 1700, 1_700_000_000_123)
    assert matches(ev, {"type": ["container"], "event": ["die"], "container": ["web"], "label": ["app=x"]})
    assert not matches(ev, {"label": ["app=y"]})
    assert not matches(ev, {"type": ["image"]})
    assert matches(Event("container", "exec_start: sh -c true", "c"), {"event": ["exec_start"]})
    bus = EventBus()
    bus.publish("image", "tag", "sha256:x", {"name": "a:b"})
    history, q = bus.subscribe()
    bus.publish("image", "untag", "sha256:x")
    assert [e.action for e in history] == ["tag"] and q.get_nowait().action == "untag"
    assert "from" not in history[0].to_json()


def test_volumes(tmp_path):
    store = VolumeStore(str(tmp_path))
    vol, new = store.create("data", {"k": "v"})
    assert new and store.create("data")[1] is False
    anon, _ = store.create("")
    assert anon.Anonymous and len(anon.Name) == 64
    j = store.to_json(vol)
    assert (j["Name"], j["Driver"], j["Labels"], j["Scope"]) == ("data", "local", {"k": "v"}, "local")
    assert j["Mountpoint"].endswith("/data/_data")
    with pytest.raises(Conflict, match=r"remove data: volume is in use - \[c1\]"):
        store.remove("data", ["c1"])
    store.remove("data", [])
    with pytest.raises(NotFound, match="get data: no such volume"):
        store.get("data")
    with pytest.raises(InvalidParameter, match="includes invalid characters"):
        store.create("bad/name")
    assert parse_binds(["/h:/c:ro", "vol:/d", "v2:/e:ro"]) == (["/h:/c:ro"], [("vol", "/d", True, "z"), ("v2", "/e", False, "ro")])
    with pytest.raises(InvalidParameter):
        parse_binds(["vol:relative"])


def test_probe_argv():
    assert probe_argv(["CMD", "test", "-f", "/x"]) == ["test", "-f", "/x"]
    assert probe_argv(["CMD-SHELL", "curl -f localhost"]) == ["/bin/sh", "-c", "curl -f localhost"]
    assert probe_argv(["NONE"]) is None and probe_argv([]) is None
