"""Networking through the real docker CLI 28: user-defined networks with DNS and isolation, published
ports, host/none/container modes, connect/disconnect, the /etc files, inspect, and bad input.

Uses the session `stack` (its own bridge and iptables chains). Traffic goes only to 127.0.0.1 and
to addresses on the networks these tests create. Every test removes what it made.
"""
from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest


def uname(prefix: str = "net") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def subnet24() -> str:
    return f"10.{random.randint(150, 250)}.{random.randint(0, 255)}.0/24"


@pytest.fixture
def made(stack):
    """Containers and networks to remove after the test, whatever happened."""
    objs: dict[str, list[str]] = {"containers": [], "networks": []}
    yield objs
    for c in objs["containers"]:
        stack.docker("rm", "-f", c)
    for n in objs["networks"]:
        stack.docker("network", "rm", n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> tuple[int, int]:
    """Two consecutive free TCP ports on 127.0.0.1 (for a -p range)."""
    for _ in range(50):
        lo = free_port()
        if lo >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", lo + 1))
            except OSError:
                continue
        return lo, lo + 1
    raise AssertionError("no two consecutive free ports")


def fetch(url: str) -> bytes:
    """GET from the host; the server in the container may still be starting."""
    last: Exception | None = None
    for _ in range(100):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError as e:
            last = e
            time.sleep(0.1)
    raise AssertionError(f"nothing on {url}: {last}")


def httpd(stack, made, name: str, *args: str, text: str = "hello") -> None:
    """A detached busybox httpd on port 80 serving ``text`` at /."""
    made["containers"].append(name)
    stack.docker("run", "-d", "--name", name, *args, "busybox", "sh", "-c",
                 f"mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www",
                 check=True)


def api(stack, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """A raw Engine API call (for the daemon's own checks, which the CLI may pre-empt)."""
    argv = ["curl", "-s", "-X", method, "-w", "\n%{http_code}", "--unix-socket", str(stack.sock)]
    if body is not None:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    cp = subprocess.run(argv + [f"http://docker/v1.50{path}"], capture_output=True, text=True, check=True)
    out, code = cp.stdout.rsplit("\n", 1)
    return int(code), (json.loads(out) if out.strip() else {})


def chain_prefix(stack) -> str:
    """The iptables chain prefix pydockerd derives from the stack's data-root (pydockerd.main)."""
    return stack.network_names()[1]


def default_bridge(stack) -> str:
    return json.loads(stack.docker("network", "inspect", "bridge", check=True).stdout)[0][
        "Options"]["com.docker.network.bridge.name"]


def host_netns_state(stack) -> dict[str, set[str]]:
    """This stack's networking state on the host: its namespaces, bridge ports and iptables rules
    (other stacks may run at the same time, so only what carries this stack's names)."""
    netns = {str(p) for p in stack.exec_root.glob("**/io.pydocker.networks/netns/*")}
    bridges = [default_bridge(stack)] + [
        "br-" + i for i in stack.docker("network", "ls", "-q", "--filter", "driver=bridge", check=True).stdout.split()]
    links = set()
    for br in bridges:
        out = subprocess.run(["ip", "-o", "link", "show", "master", br], capture_output=True, text=True).stdout
        links |= {f"{br}: " + ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ln.count(":") >= 2}
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    prefix = chain_prefix(stack)
    return {"netns": netns, "links": links,
            "rules": {ln for ln in rules.splitlines() if ln.startswith("-A") and prefix in ln}}


def test_guide_scenario_names_and_isolation(stack, made):
    """Three containers on custom-network-1 reach each other by name; none reaches those on
    custom-network-2 (by name or by address)."""
    n1, n2 = uname("custom-network-1"), uname("custom-network-2")
    made["networks"] += [n1, n2]
    stack.docker("network", "create", n1, check=True)
    stack.docker("network", "create", n2, check=True)
    a, b, c = uname("a"), uname("b"), uname("c")
    x = uname("x")
    for name in (a, b, c):
        made["containers"].append(name)
        stack.docker("run", "-d", "--name", name, "--network", n1, "busybox", "sleep", "300", check=True)
    made["containers"].append(x)
    stack.docker("run", "-d", "--name", x, "--network", n2, "busybox", "sleep", "300", check=True)
    x_ip = stack.docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{n2}").IPAddress}}}}', x,
                        check=True).stdout.strip()
    assert x_ip
    for src in (a, b, c):
        for dst in (a, b, c):
            if src != dst:
                stack.docker("exec", src, "ping", "-c", "1", "-W", "2", dst, check=True)
        cp = stack.docker("exec", src, "ping", "-c", "1", "-W", "2", x)
        assert cp.returncode != 0 and "bad address" in cp.stderr
        cp = stack.docker("exec", src, "ping", "-c", "1", "-W", "1", x_ip)
        assert cp.returncode != 0 and "0 packets received" in cp.stdout
    cp = stack.docker("exec", x, "ping", "-c", "1", "-W", "2", a)
    assert cp.returncode != 0


def test_published_port_fetched_from_host(stack, made):
    web = uname("web")
    port = free_port()
    httpd(stack, made, web, "-p", f"127.0.0.1:{port}:80", text="published")
    assert fetch(f"http://127.0.0.1:{port}/") == b"published\n"
    assert stack.docker("port", web, check=True).stdout == f"80/tcp -> 127.0.0.1:{port}\n"
    assert stack.docker("port", web, "80", check=True).stdout == f"127.0.0.1:{port}\n"
    cp = stack.docker("port", web, "81")
    assert cp.returncode == 1 and "No public port '81' published for" in cp.stderr
    ns = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings}}", web, check=True).stdout)
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    bridge = ns["Networks"]["bridge"]
    assert ns["IPAddress"] == bridge["IPAddress"] and ns["IPAddress"]
    assert ns["Gateway"] == bridge["Gateway"] and ns["Gateway"]
    assert ns["MacAddress"] == bridge["MacAddress"] and len(bridge["MacAddress"].split(":")) == 6
    assert ns["IPPrefixLen"] == bridge["IPPrefixLen"] > 0
    assert bridge["NetworkID"] and bridge["EndpointID"]
    # the container answers on its bridge address, from another container
    out = stack.docker("run", "--rm", "busybox", "wget", "-qO-", f"http://{ns['IPAddress']}/", check=True)
    assert out.stdout == "published\n"
    # and through the published port on the host's loopback from a host-network container
    out = stack.docker("run", "--rm", "--network", "host", "busybox", "wget", "-qO-",
                       f"http://127.0.0.1:{port}/", check=True)
    assert out.stdout == "published\n"
    assert f"127.0.0.1:{port}->80/tcp" in stack.docker("ps", "--filter", f"name={web}",
                                                       "--format", "{{.Ports}}", check=True).stdout
    # the network inspect lists the container
    net = json.loads(stack.docker("network", "inspect", "bridge", check=True).stdout)[0]
    cid = stack.docker("inspect", "-f", "{{.Id}}", web, check=True).stdout.strip()
    entry = net["Containers"][cid]
    assert entry["Name"] == web and entry["IPv4Address"] == f"{ns['IPAddress']}/{ns['IPPrefixLen']}"
    assert entry["MacAddress"] == ns["MacAddress"] and entry["EndpointID"] == bridge["EndpointID"]


def test_port_already_allocated(stack, made):
    port = free_port()
    first, second = uname("p1"), uname("p2")
    httpd(stack, made, first, "-p", f"127.0.0.1:{port}:80")
    before = host_netns_state(stack)
    made["containers"].append(second)
    cp = stack.docker("run", "-d", "--name", second, "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "30")
    assert cp.returncode == 125
    assert cp.stderr.startswith("docker: Error response from daemon: failed to set up "
                                "container networking: driver failed programming external connectivity on "
                                f"endpoint {second} ("), cp.stderr
    assert f"): Bind for 127.0.0.1:{port} failed: port is already allocated\n" in cp.stderr, cp.stderr
    # as Docker: the container stays created, not running; nothing of its networking remains
    assert stack.docker("inspect", "-f", "{{.State.Status}}", second, check=True).stdout.strip() == "created"
    after = host_netns_state(stack)
    assert after == before
    assert fetch(f"http://127.0.0.1:{port}/") == b"hello\n"
    # a port held by another program on the host (moby 28's words); the start is undone as well
    third = uname("p3")
    made["containers"].append(third)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        cp = stack.docker("run", "-d", "--name", third, "-p", f"127.0.0.1:{busy}:80", "busybox", "sleep", "30")
    assert cp.returncode == 125
    assert "failed to set up container networking: driver failed programming external connectivity" in cp.stderr
    assert re.search(rf"failed to bind host port for 127\.0\.0\.1:{busy}:[0-9.]+:80/tcp: address already in use",
                     cp.stderr), cp.stderr
    assert host_netns_state(stack) == before
    # once the port is free, the same container starts
    stack.docker("start", third, check=True)
    assert stack.docker("port", third, "80", check=True).stdout == f"127.0.0.1:{busy}\n"


def test_port_range_and_publish_all_with_expose(stack, made):
    lo, hi = free_port_pair()
    c = uname("range")
    made["containers"].append(c)
    stack.docker("run", "-d", "--name", c, "-p", f"127.0.0.1:{lo}-{hi}:8000-8001", "busybox", "sh", "-c",
                 "mkdir /w && echo r > /w/index.html && (httpd -p 8000 -h /w) && exec httpd -f -p 8001 -h /w",
                 check=True)
    out = stack.docker("port", c, check=True).stdout.splitlines()
    assert sorted(out) == [f"8000/tcp -> 127.0.0.1:{lo}", f"8001/tcp -> 127.0.0.1:{hi}"]
    assert fetch(f"http://127.0.0.1:{lo}/") == b"r\n"
    assert fetch(f"http://127.0.0.1:{hi}/") == b"r\n"

    # -P publishes the image's EXPOSE on ephemeral ports
    src, img, web = uname("src"), f"{uname('exposed')}:v1", uname("pall")
    made["containers"] += [src]
    stack.docker("create", "--name", src, "busybox", "true", check=True)
    stack.docker("commit", "--change", "EXPOSE 80", src, img, check=True)
    try:
        httpd(stack, made, web, "-P", text="all")  # busybox itself exposes nothing
        assert stack.docker("port", web).stdout == ""
        made["containers"].append(web + "2")
        stack.docker("run", "-d", "--name", web + "2", "-P", img, "sh", "-c",
                     "mkdir -p /www && echo all > /www/index.html && exec httpd -f -p 80 -h /www", check=True)
        lines = stack.docker("port", web + "2", "80/tcp", check=True).stdout.splitlines()
        v4 = [ln for ln in lines if ln.startswith("0.0.0.0:")]
        assert v4, lines
        hp = int(v4[0].split(":")[1])
        assert hp > 0
        assert fetch(f"http://127.0.0.1:{hp}/") == b"all\n"
        ports = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Ports}}", web + "2",
                                        check=True).stdout)
        assert ports["80/tcp"][0] == {"HostIp": "0.0.0.0", "HostPort": str(hp)}
        # published on all addresses: other containers reach it through the bridge's gateway
        gw = stack.docker("inspect", "-f", "{{.NetworkSettings.Gateway}}", web + "2", check=True).stdout.strip()
        out = stack.docker("run", "--rm", "busybox", "wget", "-qO-", f"http://{gw}:{hp}/", check=True).stdout
        assert out == "all\n"
    finally:
        for n in (web, web + "2"):
            stack.docker("rm", "-f", n)
        stack.docker("rmi", img)


def test_invalid_port_specs(stack, made):
    c = uname("badp")
    cp = stack.docker("run", "--name", c, "-p", "abc", "busybox", "true")
    assert cp.returncode == 125 and "invalid containerPort: abc" in cp.stderr
    cp = stack.docker("run", "--name", c, "-p", "127.0.0.1:70000:80", "busybox", "true")
    assert cp.returncode == 125 and "invalid hostPort: 70000" in cp.stderr
    assert stack.docker("inspect", c).returncode == 1
    # through the API directly (the daemon's own check): 400, nothing created
    for key, hp in (("80/tcp", "x1"), ("80/tcp", "70000"), ("8o/tcp", "")):
        code, out = api(stack, "POST", f"/containers/create?name={c}", {
            "Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"PortBindings": {key: [{"HostIp": "", "HostPort": hp}]}}})
        assert (code, out["message"]) == (400, f'invalid port specification: "{hp or key[:2]}"')
        assert stack.docker("inspect", c).returncode == 1


def test_host_and_none_modes(stack, made):
    # host: the host's interfaces (this stack's bridge among them), its hostname, no namespace made
    br = default_bridge(stack)
    before = host_netns_state(stack)
    out = stack.docker("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev", check=True).stdout
    devs = {ln.split(":")[0].strip() for ln in out.splitlines() if ":" in ln}
    assert {"lo", br} <= devs, devs
    assert stack.docker("run", "--rm", "--network", "host", "busybox", "hostname",
                        check=True).stdout.strip() == socket.gethostname()
    c = uname("host")
    made["containers"].append(c)
    stack.docker("run", "-d", "--name", c, "--network", "host", "busybox", "sleep", "300", check=True)
    assert host_netns_state(stack) == before
    ns = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings}}", c, check=True).stdout)
    assert list(ns["Networks"]) == ["host"] and ns["IPAddress"] == ""
    net = json.loads(stack.docker("network", "inspect", "host", check=True).stdout)[0]
    assert net["Driver"] == "host"
    cp = stack.docker("network", "connect", "bridge", c)
    assert cp.returncode == 1 and ("container cannot be disconnected from host network or connected to host "
                                   "network") in cp.stderr, cp.stderr

    # none: only lo, up, with 127.0.0.1; no eth0
    out = stack.docker("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                       "cat /proc/net/dev; ip -o addr", check=True).stdout
    devs = {ln.split(":")[0].strip() for ln in out.splitlines() if ln.count(":") == 1 and "|" not in ln
            and not ln[0].isdigit()}
    assert devs == {"lo"}, out
    assert "inet 127.0.0.1/8" in out
    c2 = uname("none")
    made["containers"].append(c2)
    stack.docker("create", "--name", c2, "--network", "none", "busybox", "true", check=True)
    ns = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings}}", c2, check=True).stdout)
    assert list(ns["Networks"]) == ["none"] and ns["IPAddress"] == ""


def test_container_network_mode(stack, made):
    web, net = uname("shared"), uname("netc")
    made["networks"].append(net)
    stack.docker("network", "create", net, check=True)
    httpd(stack, made, web, "--network", net, text="shared")
    ip = stack.docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}', web,
                      check=True).stdout.strip()
    out = stack.docker("run", "--rm", "--network", f"container:{web}", "busybox", "sh", "-c",
                       "wget -qO- http://127.0.0.1/ && ip -o -4 addr show eth0", check=True).stdout
    assert out.startswith("shared\n") and f"inet {ip}/" in out
    stopped = uname("stopped")
    made["containers"].append(stopped)
    stack.docker("create", "--name", stopped, "busybox", "true", check=True)
    cp = stack.docker("run", "--rm", "--network", f"container:{stopped}", "busybox", "true")
    assert cp.returncode == 125 and "cannot join network namespace of a non running container" in cp.stderr
    joined = uname("joined")
    made["containers"].append(joined)
    stack.docker("run", "-d", "--name", joined, "--network", f"container:{web}", "busybox", "sleep", "300",
                 check=True)
    cp = stack.docker("network", "connect", net, joined)
    assert cp.returncode == 1 and ("container sharing network namespace with another container or host "
                                   "cannot be connected to any other network") in cp.stderr, cp.stderr
    assert stack.docker("inspect", "-f", "{{.HostConfig.NetworkMode}}", joined,
                        check=True).stdout.strip() == f"container:{web}"


def test_connect_disconnect_running_container_and_aliases(stack, made):
    net = uname("cd")
    made["networks"].append(net)
    stack.docker("network", "create", "--subnet", subnet24(), net, check=True)
    web, client = uname("web"), uname("cli")
    httpd(stack, made, web, text="conn")
    made["containers"].append(client)
    stack.docker("run", "-d", "--name", client, "--network", net, "busybox", "sleep", "300", check=True)
    # (busybox wget crashes when given -T, so negative checks use ping and nslookup, which time out)
    cp = stack.docker("exec", client, "ping", "-c", "1", "-W", "1", web)
    assert cp.returncode != 0 and "bad address" in cp.stderr
    stack.docker("network", "connect", "--alias", "www", "--alias", "front", net, web, check=True)
    nets = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", web, check=True).stdout)
    assert set(nets) == {"bridge", net}
    assert {"www", "front"} <= set(nets[net]["Aliases"])
    ip = nets[net]["IPAddress"]
    for n in (web, "www", "front"):
        assert stack.docker("exec", client, "wget", "-qO-", f"http://{n}/", check=True).stdout == "conn\n"
    # the alias resolves to the new address; the container sees a second interface
    out = stack.docker("exec", client, "nslookup", "www", check=True).stdout
    assert f"Address: {ip}" in out or f"Address 1: {ip}" in out, out
    assert f"inet {ip}/" in stack.docker("exec", web, "ip", "-o", "-4", "addr", check=True).stdout
    cp = stack.docker("network", "connect", net, web)
    assert cp.returncode == 1 and f"endpoint with name {web} already exists in network {net}" in cp.stderr
    stack.docker("network", "disconnect", net, web, check=True)
    nets = json.loads(stack.docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", web, check=True).stdout)
    assert set(nets) == {"bridge"}
    assert f"inet {ip}/" not in stack.docker("exec", web, "ip", "-o", "-4", "addr", check=True).stdout
    cp = stack.docker("exec", client, "nslookup", "www")
    assert cp.returncode != 0 and "NXDOMAIN" in cp.stdout + cp.stderr
    cp = stack.docker("network", "disconnect", net, web)
    assert cp.returncode == 1 and f"container {stack.docker('inspect', '-f', '{{.Id}}', web).stdout.strip()} " \
        f"is not connected to network {net}" in cp.stderr, cp.stderr
    # alias at run, reverse lookup
    aliased = uname("al")
    made["containers"].append(aliased)
    stack.docker("run", "-d", "--name", aliased, "--network", net, "--network-alias", "db", "busybox",
                 "sleep", "300", check=True)
    aip = stack.docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}', aliased,
                       check=True).stdout.strip()
    out = stack.docker("exec", client, "nslookup", "db", check=True).stdout
    assert aip in out
    out = stack.docker("exec", client, "nslookup", aip, check=True).stdout
    assert f"name = {aliased}.{net}" in out, out
    # names of other networks' containers and unknown names do not resolve (NXDOMAIN, not a hang)
    cp = stack.docker("exec", client, "nslookup", uname("nosuchname"))
    assert cp.returncode != 0


def test_default_bridge_has_no_name_resolution(stack, made):
    a, b = uname("da"), uname("db")
    for n in (a, b):
        made["containers"].append(n)
        stack.docker("run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    cp = stack.docker("exec", a, "ping", "-c", "1", "-W", "1", b)
    assert cp.returncode != 0 and "bad address" in cp.stderr
    ip = stack.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", b, check=True).stdout.strip()
    stack.docker("exec", a, "ping", "-c", "1", "-W", "2", ip, check=True)


def test_etc_files_hostname_add_host_dns(stack, made):
    net = uname("dnsn")
    made["networks"].append(net)
    stack.docker("network", "create", net, check=True)
    c = uname("files")
    made["containers"].append(c)
    stack.docker("run", "-d", "--name", c, "--hostname", "myhost", "--add-host", "db.example:10.9.8.7",
                 "--dns", "10.1.2.3", "--dns-search", "example.org", "--dns-option", "timeout:2",
                 "busybox", "sleep", "300", check=True)
    ip = stack.docker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", c, check=True).stdout.strip()
    hosts = stack.docker("exec", c, "cat", "/etc/hosts", check=True).stdout
    assert hosts == ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\n"
                     "ff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
                     f"10.9.8.7\tdb.example\n{ip}\tmyhost\n")
    assert stack.docker("exec", c, "cat", "/etc/hostname", check=True).stdout == "myhost\n"
    assert stack.docker("exec", c, "hostname", check=True).stdout == "myhost\n"
    resolv = stack.docker("exec", c, "cat", "/etc/resolv.conf", check=True).stdout
    header = ("# Generated by Docker Engine.\n# This file can be edited; Docker Engine will not make further "
              "changes once it\n# has been modified.\n\n")
    assert resolv == header + ("nameserver 10.1.2.3\nsearch example.org\noptions timeout:2\n\n"
                               "# Based on host file: '/etc/resolv.conf' (legacy)\n"
                               "# Overrides: [nameservers search options]\n"), resolv
    mounts = stack.docker("exec", c, "cat", "/proc/mounts", check=True).stdout
    for f in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf"):
        assert f" {f} " in mounts
    # on a user-defined network: the embedded server, ndots:0, the --dns server kept as upstream
    u = uname("ufiles")
    made["containers"].append(u)
    stack.docker("run", "-d", "--name", u, "--network", net, "--dns", "10.1.2.3", "--add-host",
                 "h1:10.0.0.1", "busybox", "sleep", "300", check=True)
    resolv = stack.docker("exec", u, "cat", "/etc/resolv.conf", check=True).stdout
    host_opts = " ".join(o for ln in open("/etc/resolv.conf").read().splitlines() if ln.startswith("options ")
                         for o in ln.split()[1:] if not o.startswith("ndots"))
    assert resolv.startswith(header + "nameserver 127.0.0.11\n"), resolv
    assert f"options {host_opts + ' ' if host_opts else ''}ndots:0\n" in resolv, resolv
    assert resolv.endswith("\n# Based on host file: '/etc/resolv.conf' (internal resolver)\n"
                           "# ExtServers: [10.1.2.3]\n# Overrides: [nameservers]\n"
                           "# Option ndots from: internal\n"), resolv
    uid = stack.docker("inspect", "-f", "{{.Id}}", u, check=True).stdout.strip()
    hosts = stack.docker("exec", u, "cat", "/etc/hosts", check=True).stdout.splitlines()
    uip = stack.docker("inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{net}").IPAddress}}}}', u,
                       check=True).stdout.strip()
    assert hosts[-2:] == ["10.0.0.1\th1", f"{uip}\t{uid[:12]}"]
    # --add-host names resolve through the hosts file
    assert "10.0.0.1" in stack.docker("exec", u, "ping", "-c", "1", "-W", "1", "h1").stdout


def test_network_ls_inspect_rm_prune(stack, made):
    lbl = uname("lbl")
    n1, n2, n3 = uname("ls1"), uname("ls2"), uname("ls3")
    made["networks"] += [n1, n2, n3]
    sub = subnet24()
    gw = sub.replace(".0/24", ".254")
    rng = sub.replace(".0/24", ".128/25")
    id1 = stack.docker("network", "create", "--label", f"{lbl}=a", "--subnet", sub, "--gateway", gw,
                       "--ip-range", rng, "--internal", "-o", "com.docker.network.driver.mtu=1400",
                       n1, check=True).stdout.strip()
    stack.docker("network", "create", "--label", f"{lbl}=b", n2, check=True)
    stack.docker("network", "create", n3, check=True)
    ls = lambda *f: stack.docker("network", "ls", "--format", "{{.Name}}", *f, check=True).stdout.split()  # noqa
    assert set(ls("--filter", f"label={lbl}")) == {n1, n2}
    assert ls("--filter", f"label={lbl}=a") == [n1]
    assert ls("--filter", f"name={n3}") == [n3]
    assert ls("--filter", f"id={id1[:12]}") == [n1]
    assert {"bridge", "host", "none"} <= set(ls("--filter", "type=builtin"))
    custom = set(ls("--filter", "type=custom"))
    assert {n1, n2, n3} <= custom and not custom & {"bridge", "host", "none"}
    assert n1 in ls("--filter", "driver=bridge")
    assert stack.docker("network", "ls", "-q", "--filter", f"name={n1}", check=True).stdout.strip() == id1[:12]
    cp = stack.docker("network", "ls", "--filter", "bogus=1")
    assert cp.returncode == 1 and "invalid filter 'bogus'" in cp.stderr

    info = json.loads(stack.docker("network", "inspect", n1, check=True).stdout)[0]
    assert info["Id"] == id1 and info["Driver"] == "bridge" and info["Internal"] is True
    assert info["IPAM"]["Config"] == [{"Subnet": sub, "Gateway": gw, "IPRange": rng}]
    assert info["Labels"] == {lbl: "a"} and info["Options"]["com.docker.network.driver.mtu"] == "1400"
    c = uname("in1")
    made["containers"].append(c)
    stack.docker("run", "-d", "--name", c, "--network", n1, "--ip", sub.replace(".0/24", ".200"),
                 "busybox", "sleep", "300", check=True)
    info = json.loads(stack.docker("network", "inspect", n1, check=True).stdout)[0]
    (cid, entry), = info["Containers"].items()
    assert entry["Name"] == c and entry["IPv4Address"] == sub.replace(".0/24", ".200/24")
    out = stack.docker("exec", c, "ip", "-o", "link", "show", "eth0", check=True).stdout
    assert "mtu 1400" in out
    # internal: no default route
    assert "default" not in stack.docker("exec", c, "ip", "route", check=True).stdout

    cp = stack.docker("network", "rm", n1)
    assert cp.returncode == 1
    ep12 = entry["EndpointID"][:12]
    assert (f'Error response from daemon: error while removing network: network {n1} has active endpoints '
            f'(name:"{c}" id:"{ep12}")') in cp.stderr, cp.stderr
    assert stack.docker("network", "inspect", n1).returncode == 0
    cp = stack.docker("network", "rm", "bridge")
    assert cp.returncode == 1 and "bridge is a pre-defined network and cannot be removed" in cp.stderr

    # prune removes unused custom networks only (n1 is in use), honouring label filters
    out = stack.docker("network", "prune", "-f", "--filter", f"label={lbl}", check=True).stdout
    assert n2 in out and n1 not in out and n3 not in out
    assert stack.docker("network", "inspect", n2).returncode == 1
    stack.docker("rm", "-f", c, check=True)
    assert stack.docker("network", "rm", n1, n3, check=True).stdout.split() == [n1, n3]
    cp = stack.docker("network", "inspect", n1)
    assert cp.returncode == 1 and f"network {n1} not found" in cp.stderr


def test_network_create_bad_input(stack, made):
    before = host_netns_state(stack)
    sub = subnet24()
    n1, bad = uname("ok"), uname("bad")
    made["networks"] += [n1, bad]
    stack.docker("network", "create", "--subnet", sub, n1, check=True)
    wider = sub.rsplit(".", 2)[0] + ".0.0/16"
    cp = stack.docker("network", "create", "--subnet", wider, bad)
    assert cp.returncode == 1
    assert ("Error response from daemon: invalid pool request: Pool overlaps with other one on this address "
            "space") in cp.stderr, cp.stderr
    cp = stack.docker("network", "create", n1)
    assert cp.returncode == 1 and f"network with name {n1} already exists" in cp.stderr
    cp = stack.docker("network", "create", "--subnet", "10.300.0.0/24", bad)
    assert cp.returncode == 1 and ("invalid network config:\ninvalid subnet 10.300.0.0/24: invalid CIDR block "
                                   "notation") in cp.stderr, cp.stderr
    cp = stack.docker("network", "create", "--subnet", "10.77.1.0/24", "--gateway", "10.78.0.1", bad)
    assert cp.returncode == 1 and "no matching subnet for gateway 10.78.0.1" in cp.stderr  # the CLI's own check
    code, out = api(stack, "POST", "/networks/create", {"Name": bad, "IPAM": {"Config": [
        {"Subnet": "10.77.1.0/24", "Gateway": "10.78.0.1"}]}})
    assert (code, out["message"]) == (400, "invalid network config:\ninvalid gateway 10.78.0.1: parent subnet "
                                           "10.77.1.0/24 doesn't contain this address")
    code, out = api(stack, "POST", "/networks/create", {"Name": bad, "IPAM": {"Config": [
        {"Subnet": "10.77.1.5/24", "IPRange": "10.77.2.0/25"}]}})
    assert (code, out["message"]) == (400, "invalid network config:\n* invalid subnet 10.77.1.5/24: it should be "
                                           "10.77.1.0/24\n* invalid ip-range 10.77.2.0/25: parent subnet "
                                           "10.77.1.0/24 doesn't contain ip-range")
    code, out = api(stack, "POST", "/networks/create", {"Name": bad, "IPAM": {"Config": [{"Subnet": wider}]}})
    assert code == 403
    cp = stack.docker("network", "create", "-d", "nosuchdriver", bad)
    assert cp.returncode == 1 and 'plugin "nosuchdriver" not found' in cp.stderr, cp.stderr
    assert stack.docker("network", "inspect", bad).returncode == 1
    # unknown network at run: 125, the container is not left behind
    c = uname("nonet")
    missing = uname("missing")
    cp = stack.docker("run", "--rm", "--name", c, "--network", missing, "busybox", "true")
    assert cp.returncode == 125 and f"network {missing} not found" in cp.stderr, cp.stderr
    assert stack.docker("inspect", c).returncode == 1
    # --ip outside the subnet, and on the default bridge
    cp = stack.docker("run", "--rm", "--network", n1, "--ip", "192.0.2.9", "busybox", "true")
    assert cp.returncode == 125
    assert "no configured subnet or ip-range contain the IP address 192.0.2.9" in cp.stderr, cp.stderr
    cp = stack.docker("run", "--rm", "--ip", "172.17.99.9", "busybox", "true")
    assert cp.returncode == 125
    assert "user specified IP address is supported on user defined networks only" in cp.stderr, cp.stderr
    # without --rm the container stays, created, as with Docker
    made["containers"].append(c)
    cp = stack.docker("run", "--name", c, "--network", missing, "busybox", "true")
    assert cp.returncode == 125
    assert (f"docker: Error response from daemon: failed to set up container networking: network {missing} "
            "not found") in cp.stderr, cp.stderr
    assert stack.docker("inspect", "-f", "{{.State.Status}}", c, check=True).stdout.strip() == "created"
    stack.docker("network", "rm", n1, check=True)
    after = host_netns_state(stack)
    assert after == before


def test_nothing_left_after_removal(stack):
    """Networks, endpoints with published ports and DNS, then everything removed: the stack's
    namespaces, bridge ports, bridges and iptables rules are as before."""
    before = host_netns_state(stack)
    net = uname("gone")
    nid = stack.docker("network", "create", "--subnet", subnet24(), net, check=True).stdout.strip()
    bridge = f"br-{nid[:12]}"
    a, b = uname("ga"), uname("gb")
    try:
        stack.docker("run", "-d", "--name", a, "--network", net, "-p", f"127.0.0.1:{free_port()}:80",
                     "busybox", "sleep", "300", check=True)
        stack.docker("run", "-d", "--name", b, "-p", "127.0.0.1::81/udp", "busybox", "sleep", "300", check=True)
        stack.docker("network", "connect", net, b, check=True)
        stack.docker("exec", b, "ping", "-c", "1", "-W", "2", a, check=True)
        during = host_netns_state(stack)
        assert len(during["netns"]) == len(before["netns"]) + 2
        assert len(during["links"]) == len(before["links"]) + 3  # a on net; b on bridge and net
        assert any(bridge in r for r in during["rules"])
    finally:
        stack.docker("rm", "-f", a, b)
        stack.docker("network", "rm", net)
    assert host_netns_state(stack) == before
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert f" {bridge}:" not in out
