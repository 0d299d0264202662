"""The project's own iptables chains: forwarding, isolation between bridges, masquerade, DNAT.

Layout (``P`` is the configurable chain prefix, default ``PYDOCKER``)::

    filter FORWARD      -j P-FORWARD                    (inserted first)
    filter P-FORWARD    -j P-USER, -j P-ISOLATION-STAGE-1, then per bridge:
                        -o br conntrack RELATED,ESTABLISHED ACCEPT; -o br -j P;
                        -i br ! -o br ACCEPT (not internal); -i br -o br ACCEPT
    filter P-ISOLATION-STAGE-1  -i br ! -o br -j STAGE-2    (internal: drop all off-subnet)
    filter P-ISOLATION-STAGE-2  -o br -j DROP               (so bridge A never reaches bridge B)
    filter P            per published port: ACCEPT to the container port
    nat PREROUTING      -m addrtype --dst-type LOCAL -j P
    nat OUTPUT          ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j P
    nat P               -i br -j RETURN; per published port DNAT
    nat POSTROUTING     -j P-POSTROUTING
    nat P-POSTROUTING   -s subnet ! -o br MASQUERADE (not internal); hairpin MASQUERADE per port

Docker's layout, in chains of our own so a real dockerd on the same host is untouched.
The ``iptables`` binary is Debian's (nft backend by default).
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

log = logging.getLogger(__name__)

Rule = tuple[str, str, tuple[str, ...]]   # (table, chain, match/target args)


class IptablesError(RuntimeError):
    pass


@dataclass
class Chains:
    prefix: str = "PYDOCKER"

    @property
    def forward(self) -> str:
        return f"{self.prefix}-FORWARD"

    @property
    def user(self) -> str:
        return f"{self.prefix}-USER"

    @property
    def stage1(self) -> str:
        return f"{self.prefix}-ISOLATION-STAGE-1"

    @property
    def stage2(self) -> str:
        return f"{self.prefix}-ISOLATION-STAGE-2"

    @property
    def ports(self) -> str:
        return self.prefix

    @property
    def postrouting(self) -> str:
        return f"{self.prefix}-POSTROUTING"


class Firewall:
    def __init__(self, prefix: str = "PYDOCKER", binary: str = "iptables") -> None:
        if len(prefix) + len("-ISOLATION-STAGE-1") > 28:
            raise ValueError(f"chain prefix {prefix!r} is too long for iptables")
        self.c = Chains(prefix)
        self.binary = binary

    # -- plumbing --------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cp = subprocess.run([self.binary, "-w", *args], capture_output=True, text=True)
        if check and cp.returncode != 0:
            raise IptablesError(f"iptables {' '.join(args)}: {cp.stderr.strip()}")
        return cp

    def exists(self, rule: Rule) -> bool:
        table, chain, spec = rule
        return self._run("-t", table, "-C", chain, *spec, check=False).returncode == 0

    def add(self, rule: Rule, insert: bool = False) -> None:
        if self.exists(rule):
            return
        table, chain, spec = rule
        self._run("-t", table, "-I" if insert else "-A", chain, *spec)

    def delete(self, rule: Rule) -> None:
        table, chain, spec = rule
        # Delete every copy; a rule that is not there is not an error (teardown must converge).
        while self._run("-t", table, "-D", chain, *spec, check=False).returncode == 0:
            pass

    def add_all(self, rules: list[Rule]) -> None:
        """Add rules in order; on failure remove the ones this call added."""
        done: list[Rule] = []
        try:
            for r in rules:
                if not self.exists(r):
                    self.add(r)
                    done.append(r)
        except BaseException:
            for r in reversed(done):
                self.delete(r)
            raise

    def delete_all(self, rules: list[Rule]) -> None:
        for r in reversed(rules):
            self.delete(r)

    def _restore(self, op: str, rules: list[Rule]) -> bool:
        """``op`` (-A/-D) for every rule in one ``iptables-restore --noflush``, one commit per
        table; False when it failed (then a table may have been applied, the other not)."""
        if any(not a or any(c.isspace() or c in "\"'" for c in a) for _, _, spec in rules for a in spec):
            return False   # would need quoting: let the one-by-one path do it
        tables: dict[str, list[str]] = {}
        for table, chain, spec in rules:
            tables.setdefault(table, []).append(f"{op} {chain} {' '.join(spec)}\n")
        text = "".join(f"*{t}\n{''.join(lines)}COMMIT\n" for t, lines in tables.items())
        cp = subprocess.run([f"{self.binary}-restore", "-w", "--noflush"], input=text, capture_output=True,
                            text=True)
        if cp.returncode != 0:
            log.debug("%s-restore %s: %s", self.binary, op, cp.stderr.strip())
        return cp.returncode == 0

    def add_new(self, rules: list[Rule]) -> None:
        """Add rules that are not there yet (a new endpoint's) in one exec; on failure the
        one-by-one path, which skips present rules, reports the error and undoes its own."""
        if rules and not self._restore("-A", rules):
            self.delete_all(rules)
            self.add_all(rules)

    def delete_present(self, rules: list[Rule]) -> None:
        """Delete rules in one exec when they are all there; else one by one (missing ones are
        fine, duplicates all go)."""
        if rules and not self._restore("-D", list(reversed(rules))):
            self.delete_all(rules)

    def _chain_exists(self, table: str, chain: str) -> bool:
        return self._run("-t", table, "-n", "-L", chain, check=False).returncode == 0

    # -- base chains -----------------------------------------------------------------------
    def _own_chains(self) -> list[tuple[str, str]]:
        c = self.c
        return [("filter", c.forward), ("filter", c.user), ("filter", c.stage1),
                ("filter", c.stage2), ("filter", c.ports), ("nat", c.ports), ("nat", c.postrouting)]

    def _jumps(self) -> list[Rule]:
        c = self.c
        return [("filter", "FORWARD", ("-j", c.forward)),
                ("nat", "PREROUTING", ("-m", "addrtype", "--dst-type", "LOCAL", "-j", c.ports)),
                ("nat", "OUTPUT", ("!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL",
                                   "-j", c.ports)),
                ("nat", "POSTROUTING", ("-j", c.postrouting))]

    def setup(self) -> None:
        """Create (or reset to empty) our chains and hook them into the built-in ones."""
        c = self.c
        for table, chain in self._own_chains():
            if self._chain_exists(table, chain):
                self._run("-t", table, "-F", chain)
            else:
                self._run("-t", table, "-N", chain)
        self.add(("filter", c.user, ("-j", "RETURN")))
        self.add(("filter", c.forward, ("-j", c.user)))
        self.add(("filter", c.forward, ("-j", c.stage1)))
        self.add(("filter", c.stage1, ("-j", "RETURN")))
        self.add(("filter", c.stage2, ("-j", "RETURN")))
        for j in self._jumps():
            self.add(j, insert=True)

    def teardown(self) -> None:
        """Remove every rule and chain of ours (clean shutdown)."""
        for j in self._jumps():
            self.delete(j)
        for table, chain in self._own_chains():
            if self._chain_exists(table, chain):
                self._run("-t", table, "-F", chain, check=False)
        for table, chain in self._own_chains():
            if self._chain_exists(table, chain):
                self._run("-t", table, "-X", chain, check=False)

    # -- per network ------------------------------------------------------------------------
    def network_rules(self, bridge: str, subnets: list[str], internal: bool) -> list[Rule]:
        """The rules a bridge network needs (stage rules are inserted before the RETURN)."""
        c = self.c
        rules: list[Rule] = [
            ("filter", c.forward, ("-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
                                   "-j", "ACCEPT")),
            ("filter", c.forward, ("-o", bridge, "-j", c.ports)),
        ]
        if not internal:
            rules.append(("filter", c.forward, ("-i", bridge, "!", "-o", bridge, "-j", "ACCEPT")))
        rules.append(("filter", c.forward, ("-i", bridge, "-o", bridge, "-j", "ACCEPT")))
        rules.append(("nat", c.ports, ("-i", bridge, "-j", "RETURN")))
        if not internal:
            for s in subnets:
                rules.append(("nat", c.postrouting, ("-s", s, "!", "-o", bridge, "-j", "MASQUERADE")))
        return rules

    def isolation_rules(self, bridge: str, subnets: list[str], internal: bool) -> list[Rule]:
        c = self.c
        if internal:
            rules: list[Rule] = []
            for s in subnets:
                rules.append(("filter", c.stage1, ("!", "-s", s, "-o", bridge, "-j", "DROP")))
                rules.append(("filter", c.stage1, ("!", "-d", s, "-i", bridge, "-j", "DROP")))
        else:
            rules = [("filter", c.stage1, ("-i", bridge, "!", "-o", bridge, "-j", c.stage2))]
        rules.append(("filter", c.stage2, ("-o", bridge, "-j", "DROP")))
        return rules

    def add_network(self, bridge: str, subnets: list[str], internal: bool) -> None:
        iso = self.isolation_rules(bridge, subnets, internal)
        done: list[Rule] = []
        try:
            for r in iso:
                if not self.exists(r):
                    self.add(r, insert=True)   # before the chain's final RETURN
                    done.append(r)
            self.add_all(self.network_rules(bridge, subnets, internal))
        except BaseException:
            self.delete_all(done)
            raise

    def remove_network(self, bridge: str, subnets: list[str], internal: bool) -> None:
        self.delete_all(self.network_rules(bridge, subnets, internal))
        self.delete_all(self.isolation_rules(bridge, subnets, internal))

    # -- per published port --------------------------------------------------------------------
    def port_rules(self, bridge: str, proto: str, host_ip: str, host_port: int,
                   container_ip: str, container_port: int) -> list[Rule]:
        c = self.c
        dnat: tuple[str, ...] = ("-p", proto)
        if host_ip and host_ip not in ("0.0.0.0", "::"):
            dnat += ("-d", f"{host_ip}/32")
        dnat += ("!", "-i", bridge, "-m", proto, "--dport", str(host_port),
                 "-j", "DNAT", "--to-destination", f"{container_ip}:{container_port}")
        return [
            ("filter", c.ports, ("-d", f"{container_ip}/32", "!", "-i", bridge, "-o", bridge, "-p", proto,
                                 "-m", proto, "--dport", str(container_port), "-j", "ACCEPT")),
            ("nat", c.postrouting, ("-s", f"{container_ip}/32", "-d", f"{container_ip}/32", "-p", proto,
                                    "-m", proto, "--dport", str(container_port), "-j", "MASQUERADE")),
            ("nat", c.ports, dnat),
        ]


def ensure_ip_forward() -> bool:
    """Turn on IPv4 forwarding if it is off (Docker does the same and leaves it on).

    Returns True when this call changed it.
    """
    path = "/proc/sys/net/ipv4/ip_forward"
    with open(path) as f:
        if f.read().strip() == "1":
            return False
    with open(path, "w") as f:
        f.write("1")
    log.info("enabled net.ipv4.ip_forward")
    return True
