"""pycontainerd with --networks serves the Networks service (pycontainerd/networks) on its socket."""
from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import grpc
import pytest

from pcd_helpers import Daemon, cleanup_leftovers

networks_pb2 = pytest.importorskip("protos.pycontainerd.services.networks.v1.networks_pb2")
networks_pb2_grpc = pytest.importorskip("protos.pycontainerd.services.networks.v1.networks_pb2_grpc")


def _free_subnet() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    while True:
        net = f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0/24"
        if net.rsplit(".", 2)[0] not in routes:
            return net


def test_networks_service_is_opt_in_and_cleans_up():
    tag = uuid.uuid4().hex[:6]
    bridge, prefix, subnet = f"pcdb{tag}", f"PCD{tag.upper()}", _free_subnet()
    base = Path(tempfile.mkdtemp(prefix="pcd-net-", dir="/tmp"))
    d = Daemon(base, extra=["--networks", "--network-bridge", bridge, "--network-chain-prefix", prefix,
                            "--default-address-pool", subnet, "--no-userland-proxy",
                            "--network-remove-bridges-on-exit"])
    try:
        d.start()
        stub = networks_pb2_grpc.NetworksStub(d.channel)
        nets = stub.List(networks_pb2.ListNetworksRequest(), metadata=(("containerd-namespace", "moby"),)).networks
        assert "bridge" in [n.name for n in nets]
        assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0
    finally:
        d.stop()
        leaks = cleanup_leftovers(d)
        shutil.rmtree(base, ignore_errors=True)
    assert not leaks
    assert subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0
    assert prefix not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


def test_without_networks_flag_there_is_no_networks_service(daemon):
    stub = networks_pb2_grpc.NetworksStub(daemon.channel)
    with pytest.raises(grpc.RpcError) as e:
        stub.List(networks_pb2.ListNetworksRequest(), metadata=(("containerd-namespace", "moby"),))
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
