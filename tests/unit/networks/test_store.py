from pycontainerd.networks import DNSConfig, Endpoint, IPAMConfig, Network, PortBinding, Sandbox
from pycontainerd.networks.store import Store


def test_roundtrip(tmp_path):
    s = Store(str(tmp_path))
    net = Network(id="a" * 64, name="n", driver="bridge", created="2026-01-01T00:00:00.000000000Z",
                  ipam=[IPAMConfig(subnet="10.0.0.0/24", gateway="10.0.0.1")])
    net.endpoints["e"] = Endpoint(id="e", network_id=net.id, container_id="c", name="web",
                                  ipv4="10.0.0.2", ports=[PortBinding(80, "tcp", "", 8080)])
    s.save_network(net)
    (tmp_path / "networks" / ".tmp-leftover").write_text("{torn")   # an interrupted write
    assert s.load_networks() == [net]
    sb = Sandbox(container_id="c", path="/x", dns=DNSConfig(servers=["1.1.1.1"]))
    s.save_sandbox(sb)
    assert s.load_sandboxes() == [sb]
    s.delete_network(net.id)
    s.delete_sandbox("c")
    assert s.load_networks() == [] and s.load_sandboxes() == []
    assert net.bridge == "br-" + "a" * 12
