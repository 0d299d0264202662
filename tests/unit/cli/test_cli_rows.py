"""Row builders for ps, images, stats, networks and volumes."""
import time

from cli.commands.container import container_row, display_ports, stats_row, time_param
from cli.commands.image import image_rows
from cli.commands.network import ipam_config, network_row
from cli.commands.volume import natural_key, volume_row
from cli.errors import CLIError

import pytest


def test_display_ports_groups_and_mappings():
    ports = [{"PrivatePort": 80, "PublicPort": 8080, "IP": "0.0.0.0", "Type": "tcp"},
             {"PrivatePort": 80, "PublicPort": 8080, "IP": "::", "Type": "tcp"},
             {"PrivatePort": 443, "Type": "tcp"}, {"PrivatePort": 444, "Type": "tcp"},
             {"PrivatePort": 53, "PublicPort": 53, "IP": "127.0.0.1", "Type": "udp"}]
    assert display_ports(ports) == ("127.0.0.1:53->53/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, "
                                    "[::]:8080->80/tcp")
    assert display_ports([]) == ""


def test_container_row():
    now = 1_000_000
    c = {"Id": "a" * 64, "Names": ["/web", "/other/link"], "Image": "sha256:" + "b" * 64,
         "Command": "sh -c 'echo a very long command line'", "Created": now - 120, "State": "running",
         "Status": "Up 2 minutes", "Labels": {"z": "1", "a": "2"}, "SizeRw": 0, "SizeRootFs": 1990000,
         "Mounts": [{"Name": "v" * 20, "Driver": "local"}], "NetworkSettings": {"Networks": {"n2": {}, "bridge": {}}}}
    r = container_row(c, True, now)
    assert r["ID"] == "a" * 12 and r["Names"] == "web" and r["Image"] == "b" * 12
    assert r["Command"] == '"sh -c \'echo a very …"' and r["RunningFor"] == "2 minutes ago"
    assert r["Labels"] == "a=2,z=1" and r["Networks"] == "bridge,n2" and r["Mounts"] == "v" * 14 + "…"
    assert r["Size"] == "0B (virtual 1.99MB)" and r["LocalVolumes"] == "1"
    full = container_row(c, False, now)
    assert full["Names"] == "web,other/link" and full["ID"] == "a" * 64


def test_image_rows_expand_tags_and_digests():
    img = {"Id": "sha256:" + "c" * 64, "Created": 100, "Size": 1990000, "SharedSize": -1, "Containers": -1,
           "RepoTags": ["docker.io/library/busybox:latest", "busybox:1", "reg:5000/x:t"],
           "RepoDigests": ["busybox@sha256:" + "d" * 64, "other@sha256:" + "e" * 64]}
    rows = image_rows([img], True, False, 200)
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == [
        ("busybox", "latest", "<none>"), ("busybox", "1", "<none>"), ("reg:5000/x", "t", "<none>"),
        ("other", "<none>", "<none>")]
    assert rows[0]["ID"] == "c" * 12 and rows[0]["Size"] == "1.99MB" and rows[0]["Containers"] == "N/A"
    with_digests = image_rows([img], True, True, 200)
    assert ("busybox", "latest", "sha256:" + "d" * 64) in [(r["Repository"], r["Tag"], r["Digest"]) for r in with_digests]
    dangling = image_rows([{"Id": "sha256:" + "f" * 64, "RepoTags": ["<none>:<none>"], "RepoDigests": []}], False, False, 0)
    assert [(r["Repository"], r["Tag"], r["ID"]) for r in dangling] == [("<none>", "<none>", "sha256:" + "f" * 64)]


def test_stats_row_v1_memory_and_cpu():
    s = {"id": "a" * 64, "name": "/web",
         "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 20_000_000_000, "online_cpus": 2},
         "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000}, "system_cpu_usage": 10_000_000_000},
         "memory_stats": {"usage": 3 << 20, "limit": 1 << 30, "stats": {"total_inactive_file": 1 << 20}},
         "networks": {"eth0": {"rx_bytes": 1000, "tx_bytes": 2000}},
         "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
         "pids_stats": {"current": 3}}
    r = stats_row(s, "web")
    assert r["CPUPerc"] == "20.00%" and r["MemUsage"] == "2MiB / 1GiB" and r["MemPerc"] == "0.20%"
    assert r["NetIO"] == "1kB / 2kB" and r["BlockIO"] == "4.1kB / 0B" and r["PIDs"] == "3" and r["Name"] == "web"


def test_time_param():
    assert time_param("10m", now=1000.0) == "400.000000000"
    assert time_param("1700000000") == "1700000000"
    assert time_param("1970-01-01T00:00:10Z") == "10.000000000"
    with pytest.raises(CLIError):
        time_param("yesterday")


def test_network_and_volume_rows():
    n = network_row({"Id": "f" * 64, "Name": "n", "Driver": "bridge", "Scope": "local",
                     "Created": "2026-11-28T07:59:47.4667163Z", "Labels": {"b": "2", "a": "1"}}, True)
    assert n["ID"] == "f" * 12 and n["Labels"] == "a=1,b=2" and n["IPv6"] == "false"
    assert n["CreatedAt"].startswith("2026-11-28 07:59:47.4667163 ")
    v = volume_row({"Name": "v", "Driver": "local", "Labels": None, "UsageData": {"Size": 2000, "RefCount": 1}})
    assert (v["Size"], v["Links"], v["Labels"]) == ("2kB", "1", "")
    assert sorted(["v10", "v9", "a"], key=natural_key) == ["a", "v9", "v10"]


def test_ipam_config_pairs_gateways_with_subnets():
    cfg = ipam_config(["10.1.0.0/24", "10.2.0.0/24"], ["10.2.0.128/25"], ["10.1.0.1"], ["host=10.1.0.5"])
    assert cfg == [{"Subnet": "10.1.0.0/24", "AuxiliaryAddresses": {"host": "10.1.0.5"}, "Gateway": "10.1.0.1"},
                   {"Subnet": "10.2.0.0/24", "AuxiliaryAddresses": {}, "IPRange": "10.2.0.128/25"}]
    with pytest.raises(CLIError, match="no matching subnet for gateway 10.9.0.1"):
        ipam_config(["10.1.0.0/24"], [], ["10.9.0.1"], [])
