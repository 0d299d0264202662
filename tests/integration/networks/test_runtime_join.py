"""The sandbox contract with the runtime: runc joins the namespace by path from the OCI spec."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess

import pytest

from pycontainerd.networks import IPAMConfig

from nethelpers import free_subnets

RUNC = shutil.which("runc")


@pytest.mark.skipif(RUNC is None, reason="runc is not installed")
async def test_runc_container_in_sandbox(env, busybox_rootfs, tmp_path):
    m = await env.manager()
    (sub,) = free_subnets(1)
    net = await m.create_network(f"pdtj{env.tag}", ipam_configs=[IPAMConfig(subnet=sub)])
    peer = await m.create_sandbox(f"jp{env.tag}")
    sb = await m.create_sandbox(f"jc{env.tag}", hostname="joined")
    peer_ep = await m.connect(net.id, peer.container_id, name="peer")
    ep = await m.connect(net.id, sb.container_id, name="joined")

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["root"] = {"path": str(busybox_rootfs), "readonly": True}
    spec["process"]["terminal"] = False
    for kind in ("bounding", "effective", "permitted"):   # Docker grants NET_RAW (ping) too
        spec["process"]["capabilities"][kind].append("CAP_NET_RAW")
    spec["process"]["args"] = ["sh", "-c", "ip -4 -o addr show eth0; ip -4 route; "
                                           "nslookup peer 127.0.0.11; ping -c1 -W2 " + peer_ep.ipv4]
    spec["linux"]["namespaces"] = [ns if ns["type"] != "network" else {"type": "network", "path": sb.path}
                                   for ns in spec["linux"]["namespaces"]]
    (bundle / "config.json").write_text(json.dumps(spec))
    p = await asyncio.create_subprocess_exec(
        RUNC, "--root", str(tmp_path / "state"), "run", "--bundle", str(bundle), f"pdtj{env.tag}",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out = (await asyncio.wait_for(p.communicate(), 60))[0].decode()
    assert p.returncode == 0, out
    assert f"inet {ep.ipv4}/24" in out
    assert f"default via {ep.gateway} dev eth0" in out
    assert f"Address: {peer_ep.ipv4}" in out     # the embedded DNS answers inside the container
    assert "1 packets received" in out
