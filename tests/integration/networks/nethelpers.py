"""Helpers for the networking tests, as root: a NetworkManager with unique names everywhere.

Every manager gets its own store, state dir, default-bridge name (``pdt<hex>``), iptables chain
prefix and address pools the test checked are unused on the host. 
"""
from __future__ import annotations

import asyncio
import ipaddress
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from pycontainerd.networks import ManagerConfig, NetworkManager, dnswire, ipam, netns
from pycontainerd.networks.iptables import Firewall


def host_state(tag: str = "", root: str = "", bridges: set[str] | frozenset[str] = frozenset()) -> dict[str, set[str]]:
    """Links, namespaces, iptables rules and mounts a networking test could leave behind.

    With ``tag``/``root`` only what can be ours counts: names with the tag, our ``bridges``,
    veths in them or in no bridge at all (a veth whose bridge is gone), rules naming the tag or
    our bridges, mounts under root. Other suites running at the same time on this host (their
    veths sit in their own bridges) do not make the comparison flaky.
    """
    def ours_rule(text: str) -> bool:
        return not tag or tag in text.lower() or any(b in text for b in bridges)

    def ours_link(name: str, master: str) -> bool:
        if not tag or tag in name.lower() or name in bridges:
            return True
        return name.startswith(("veth", "vt")) and (not master or master in bridges or tag in master.lower())

    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    rules = set()
    for table in ("filter", "nat"):
        out = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        rules |= {f"{table}: {ln.split(' [')[0]}" for ln in out.splitlines()
                  if ln.startswith(("-A", ":")) and ours_rule(ln)}
    with open("/proc/self/mountinfo") as f:
        mounts = {line.split()[4] for line in f if line.split()[4].startswith(root)}
    names = set()
    for ln in links.splitlines():
        name = ln.split(":")[1].strip().split("@")[0]
        words = ln.split()
        master = words[words.index("master") + 1] if "master" in words else ""
        if ours_link(name, master):
            names.add(name)
    return {"links": names, "netns": set(spaces.split()), "iptables": rules, "mounts": mounts}


def free_subnets(n: int, prefix: int = 24) -> list[str]:
    """``n`` random 10.x subnets that overlap nothing routed or addressed on this host."""
    used = ipam.host_routes()
    out: list[ipaddress.IPv4Network] = []
    while len(out) < n:
        cand = ipaddress.IPv4Network(f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/{prefix}",
                                     strict=False)
        if not any(cand.overlaps(u) for u in used + out):
            out.append(cand)
    return [str(s) for s in out]


class Env:
    """A tmp root plus a factory of managers on it (a second one simulates a restart)."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.dir = Path(tempfile.mkdtemp(prefix="pdt-net-"))
        self.bridge = f"pdt{self.tag}"
        self.prefix = f"PDT{self.tag}".upper()
        self.pools = free_subnets(4)
        self.managers: list[NetworkManager] = []
        self.bridges: set[str] = {self.bridge}   # every bridge our managers had (for host_state)

    def config(self) -> ManagerConfig:
        return ManagerConfig(root=str(self.dir / "root"), state=str(self.dir / "state"),
                             default_bridge=self.bridge, chain_prefix=self.prefix,
                             subnet_pools=self.pools, host_resolv_conf=str(self.dir / "resolv.conf"),
                             systemd_resolv_conf=str(self.dir / "systemd-resolv.conf"))

    async def manager(self) -> NetworkManager:
        (self.dir / "resolv.conf").write_text("nameserver 127.0.0.1\n")   # no real upstream in tests
        m = NetworkManager(self.config())
        await m.start()
        self.managers.append(m)
        return m

    @staticmethod
    async def _abandon(managers: list[NetworkManager]) -> None:
        """Close the sockets of managers a test left running or "crashed" (host state stays)."""
        for other in managers:
            for eps in other.proxies.values():
                for p in eps:
                    await p.stop()
            other.proxies.clear()
            for socks in other.reserved.values():
                for sock in socks:
                    sock.close()
            other.reserved.clear()
            for r in other.resolvers.values():
                await r.stop()
            other.resolvers.clear()
            other.started = False

    def note_bridges(self) -> set[str]:
        for other in self.managers:
            self.bridges |= {n.bridge for n in other.networks.values() if n.driver == "bridge"}
        return self.bridges

    def state(self) -> dict[str, set[str]]:
        """host_state for what this env can have made so far."""
        return host_state(self.tag, str(self.dir), self.note_bridges())

    async def cleanup(self) -> None:
        self.note_bridges()
        m = self.managers[-1] if self.managers else None
        if m is not None and not m.started:
            # The test failed with its manager "crashed": a fresh one reconciles, then cleans.
            await self._abandon(self.managers)
            m = await self.manager()
        if m is not None and m.started:
            for cid in list(m.sandboxes):
                await m.delete_sandbox(cid)
            for net in list(m.networks.values()):
                if not net.predefined:
                    for ep in list(net.endpoints.values()):
                        await m.disconnect(net.id, ep.container_id, force=True)
                    await m.delete_network(net.id)
            await m.close(remove_rules=True, remove_bridges=True)
        await self._abandon(self.managers[:-1])
        # Interfaces a test made by hand (names carry the tag), whatever a failure left.
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for ln in out.splitlines():
            name = ln.split(":")[1].strip().split("@")[0]
            if self.tag in name:
                subprocess.run(["ip", "link", "del", name], capture_output=True)
        Firewall(self.prefix).teardown()
        # Belt and braces: whatever a failed test left.
        state = self.dir / "state" / "netns"
        if state.exists():
            for f in state.iterdir():
                netns.delete(str(f))
        shutil.rmtree(self.dir, ignore_errors=True)


async def run(*argv: str, timeout: float = 20) -> tuple[int, str]:
    """Run a command without blocking the loop (the embedded DNS is served from it)."""
    p = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()
        await p.wait()
        raise
    return p.returncode, out.decode(errors="replace")


async def in_ns(path: str, *argv: str, timeout: float = 20) -> tuple[int, str]:
    return await run("nsenter", f"--net={path}", *argv, timeout=timeout)


REPO = str(Path(__file__).resolve().parents[3])

# Asks 127.0.0.11 over UDP or TCP from inside a namespace; prints "rcode ip ip..." or "refused".
QUERY = """
import socket, struct, sys
sys.path.insert(0, %r)
from pycontainerd.networks import dnswire
name, qtype, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
q = dnswire.build_query(4242, name, qtype)
try:
    if mode == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
        s.connect(("127.0.0.11", 53)); s.send(q); r = s.recv(4096)
    else:
        s = socket.create_connection(("127.0.0.11", 53), timeout=5)
        s.sendall(struct.pack("!H", len(q)) + q)
        n = struct.unpack("!H", s.recv(2))[0]; r = b""
        while len(r) < n: r += s.recv(n - len(r))
except ConnectionRefusedError:
    print("refused"); sys.exit(0)
rcode, answers = dnswire.parse_answers(r)
print(rcode, *[str(v) for _, v in answers])
""" % REPO


async def ask(ns: str, name: str, qtype: int = dnswire.TYPE_A, mode: str = "udp") -> str:
    rc, out = await in_ns(ns, sys.executable, "-c", QUERY, name, str(qtype), mode)
    assert rc == 0, out
    return out.strip()


async def start_in_ns(ns: str, *argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec("nsenter", f"--net={ns}", *argv,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


async def stop(p: asyncio.subprocess.Process) -> None:
    if p.returncode is None:
        p.kill()
        await p.wait()


async def http_get(port: int) -> bytes:
    for _ in range(50):   # httpd may still be starting: retry until it answers
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            w.write(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
            await w.drain()
            data = await asyncio.wait_for(r.read(), 10)
        except ConnectionError:   # the proxy accepted, then the container refused: not up yet
            data = b""
        w.close()
        if data:
            return data
        await asyncio.sleep(0.1)
    raise AssertionError("no answer on the published port")
