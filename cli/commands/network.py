"""`docker network` commands: create, ls, inspect, rm, connect, disconnect, prune."""
from __future__ import annotations

import time

from cli import flags as F
from cli import formatter as fmt
from cli.commands.container import confirm, fetch_raw, filters_param, inspect_each
from cli.commands.volume import _kv, natural_key
from cli.errors import APIError, CLIError
from cli.units import parse_rfc3339

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context

S, L, B = F.STR, F.LIST, F.BOOL


def ipam_config(subnets: list[str], ranges: list[str], gateways: list[str], aux: list[str]) -> list[dict]:
    """Pair --ip-range/--gateway/--aux-address with the subnet containing them (consolidateIpam)."""
    import ipaddress
    if len(subnets) < len(ranges) or len(subnets) < len(gateways):
        raise CLIError("every ip-range or gateway must have a corresponding subnet")
    configs = [{"Subnet": s, "AuxiliaryAddresses": {}} for s in subnets]
    nets = []
    for s in subnets:
        try:
            nets.append(ipaddress.ip_network(s, strict=False))
        except ValueError as e:
            raise CLIError(f"invalid CIDR address: {s}") from e

    def owner(addr: str, what: str) -> dict:
        ip = ipaddress.ip_network(addr, strict=False) if "/" in addr else ipaddress.ip_address(addr)
        for cfg, net in zip(configs, nets):
            inside = ip.subnet_of(net) if isinstance(ip, (ipaddress.IPv4Network, ipaddress.IPv6Network)) \
                else ip in net
            if inside:
                return cfg
        raise CLIError(f"no matching subnet for {what} {addr}")

    for r in ranges:
        cfg = owner(r, "range")
        if "IPRange" in cfg:
            raise CLIError(f"cannot configure multiple ranges ({r}, {cfg['IPRange']}) on the same subnet ({cfg['Subnet']})")
        cfg["IPRange"] = r
    for g in gateways:
        cfg = owner(g, "gateway")
        if "Gateway" in cfg:
            raise CLIError(f"cannot configure multiple gateways ({g}, {cfg['Gateway']}) for the same subnet ({cfg['Subnet']})")
        cfg["Gateway"] = g
    for a in aux:
        k, _, v = a.partition("=")
        owner(v, "aux-address")["AuxiliaryAddresses"][k] = v
    return configs


def run_create(ctx: Context, opts: Any, args: list[str]) -> int:
    body: dict[str, Any] = {
        "Driver": opts.driver or "bridge", "Scope": opts.scope,
        "IPAM": {"Driver": opts.ipam_driver or "default", "Options": _kv(opts.ipam_opt),
                 "Config": ipam_config(opts.subnet or [], opts.ip_range or [], opts.gateway or [],
                                       opts.aux_address or [])},
        "Internal": bool(opts.internal), "Attachable": bool(opts.attachable), "Ingress": bool(opts.ingress),
        "ConfigOnly": bool(opts.config_only),
        "ConfigFrom": {"Network": opts.config_from} if opts.config_from else None,
        "Options": _kv(opts.opt), "Labels": _kv(opts.label), "Name": args[0],
    }
    if "ipv6" in opts.changed:
        body["EnableIPv6"] = bool(opts.ipv6)
    if "ipv4" in opts.changed:
        body["EnableIPv4"] = bool(opts.ipv4)
    if not ctx.client.api_at_least("1.44"):
        body["CheckDuplicate"] = True
    result = ctx.client.post_json("/networks/create", None, body) or {}
    if result.get("Warning"):
        ctx.err.write(f"WARNING: {result['Warning']}\n")
    ctx.line(result.get("Id", ""))
    return 0


CREATE = F.Command("create", "[OPTIONS] NETWORK", "Create a network", [
    F.Flag("attachable", "", B, False, "Enable manual container attachment"),
    F.Flag("aux-address", "", L, help="Auxiliary IPv4 or IPv6 addresses used by Network driver", type_name="map"),
    F.Flag("config-from", "", S, "", "The network from which to copy the configuration"),
    F.Flag("config-only", "", B, False, "Create a configuration only network"),
    F.Flag("driver", "d", S, "bridge", "Driver to manage the Network"),
    F.Flag("gateway", "", L, help="IPv4 or IPv6 Gateway for the master subnet", type_name="strings"),
    F.Flag("ingress", "", B, False, "Create swarm routing-mesh network"),
    F.Flag("internal", "", B, False, "Restrict external access to the network"),
    F.Flag("ip-range", "", L, help="Allocate container ip from a sub-range", type_name="strings"),
    F.Flag("ipam-driver", "", S, "default", "IP Address Management Driver"),
    F.Flag("ipam-opt", "", L, help="Set IPAM driver specific options", type_name="map"),
    F.Flag("ipv4", "", B, True, "Enable or disable IPv4 address assignment"),
    F.Flag("ipv6", "", B, False, "Enable or disable IPv6 address assignment"),
    F.Flag("label", "", L, help="Set metadata on a network"),
    F.Flag("opt", "o", L, help="Set driver specific options", type_name="map"),
    F.Flag("scope", "", S, "", "Control the network's scope"),
    F.Flag("subnet", "", L, help="Subnet in CIDR format that represents a network segment", type_name="strings"),
], min_args=1, max_args=1, run=run_create)

HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4",
           "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def _created_at(value: str) -> str:
    """time.Time.String() with nanoseconds: 2026-11-28 07:59:47.466716378 +0000 UTC."""
    t = parse_rfc3339(value or "")
    if t is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    frac = value.split(".", 1)[1].rstrip("Z").split("+")[0].split("-")[0] if "." in value else ""
    frac = frac.rstrip("0")
    lt = time.localtime(int(t))
    return (time.strftime("%Y-%m-%d %H:%M:%S", lt) + (f".{frac}" if frac else "")
            + time.strftime(" %z %Z", lt))


def network_row(n: dict, trunc: bool) -> fmt.Row:
    labels = n.get("Labels") or {}
    nid = n.get("Id", "")
    return fmt.Row(CreatedAt=_created_at(n.get("Created", "")), Driver=n.get("Driver", ""),
                   ID=nid[:12] if trunc else nid, IPv4="true" if n.get("EnableIPv4") else "false",
                   IPv6="true" if n.get("EnableIPv6") else "false",
                   Internal="true" if n.get("Internal") else "false",
                   Labels=",".join(f"{k}={labels[k]}" for k in sorted(labels)), Name=n.get("Name", ""),
                   Scope=n.get("Scope", ""))


def run_ls(ctx: Context, opts: Any, args: list[str]) -> int:
    nets = ctx.client.get_json("/networks", {"filters": filters_param(opts.filter)}) or []
    nets.sort(key=lambda n: natural_key(n.get("Name", "")))
    rows = [network_row(n, not opts.no_trunc) for n in nets]
    from cli.config import setting
    form = "{{.ID}}" if opts.quiet else (opts.format or setting("networksFormat"))
    if not form or form == "table":
        form = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    if form.strip() == "{{json .}}":
        ctx.write("".join(fmt.go_json(dict(sorted(r.items()))) + "\n" for r in rows))
        return 0
    ctx.write(fmt.render(form, rows, HEADERS, row_type="*formatter.networkContext"))
    return 0


LS = F.Command("ls", "[OPTIONS]", "List networks", [
    F.Flag("filter", "f", L, help="Provide filter values (e.g. \"driver=bridge\")", type_name="filter"),
    F.Flag("format", "", S, "", F.FORMAT_HELP),
    F.Flag("no-trunc", "", B, False, "Do not truncate the output"),
    F.Flag("quiet", "q", B, False, "Only display network IDs"),
], max_args=0, run=run_ls)


def run_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"verbose": "true" if opts.verbose else None}
    return inspect_each(ctx, args, lambda n: fetch_raw(ctx, f"/networks/{n}", params), opts.format)


INSPECT = F.Command("inspect", "[OPTIONS] NETWORK [NETWORK...]",
                    "Display detailed information on one or more networks", [
                        F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
                        F.Flag("verbose", "v", B, False, "Verbose output for diagnostics"),
                    ], min_args=1, run=run_inspect)


def run_rm(ctx: Context, opts: Any, args: list[str]) -> int:
    failed = False
    for name in args:
        try:
            net = ctx.client.get_json(f"/networks/{name}")
            if net.get("Ingress") and not confirm(ctx, "WARNING! Before removing the routing-mesh network, "
                                                       "make sure all the nodes in your swarm run the same docker "
                                                       "engine version. Otherwise, removal may not be effective "
                                                       "and functionality of newly create ingress networks will "
                                                       "be impaired."):
                continue
            ctx.client.request("DELETE", f"/networks/{name}").read()
        except APIError as e:
            if opts.force and e.not_found:
                continue
            ctx.err.write(e.message + "\n")
            failed = True
            continue
        ctx.line(name)
    if failed:
        # CLI 28 returns a StatusError without text here, which prints as "exit status 1".
        raise CLIError("exit status 1", 1)
    return 0


RM = F.Command("rm", "NETWORK [NETWORK...]", "Remove one or more networks", [
    F.Flag("force", "f", B, False, "Do not error if the network does not exist"),
], min_args=1, run=run_rm)


def run_connect(ctx: Context, opts: Any, args: list[str]) -> int:
    endpoint: dict[str, Any] = {
        "IPAMConfig": {"IPv4Address": opts.ip, "IPv6Address": opts.ip6,
                       "LinkLocalIPs": opts.link_local_ip or None},
        "Links": opts.link or None, "Aliases": opts.alias or None, "DriverOpts": _kv(opts.driver_opt) or None,
    }
    ctx.client.request("POST", f"/networks/{args[0]}/connect",
                       json_body={"Container": args[1], "EndpointConfig": endpoint}).read()
    return 0


CONNECT = F.Command("connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network", [
    F.Flag("alias", "", L, help="Add network-scoped alias for the container", type_name="strings"),
    F.Flag("driver-opt", "", L, help="driver options for the network", type_name="strings"),
    F.Flag("ip", "", S, "", "IPv4 address (e.g., \"172.30.100.104\")"),
    F.Flag("ip6", "", S, "", "IPv6 address (e.g., \"2001:db8::33\")"),
    F.Flag("link", "", L, help="Add link to another container"),
    F.Flag("link-local-ip", "", L, help="Add a link-local address for the container", type_name="strings"),
], min_args=2, max_args=2, run=run_connect)


def run_disconnect(ctx: Context, opts: Any, args: list[str]) -> int:
    ctx.client.request("POST", f"/networks/{args[0]}/disconnect",
                       json_body={"Container": args[1], "Force": bool(opts.force)}).read()
    return 0


DISCONNECT = F.Command("disconnect", "[OPTIONS] NETWORK CONTAINER", "Disconnect a container from a network", [
    F.Flag("force", "f", B, False, "Force the container to disconnect from a network"),
], min_args=2, max_args=2, run=run_disconnect)


def run_prune(ctx: Context, opts: Any, args: list[str]) -> int:
    if not opts.force and not confirm(ctx, "WARNING! This will remove all custom networks not used by at least one container."):
        return 0
    report = ctx.client.request("POST", "/networks/prune", {"filters": filters_param(opts.filter)}).json() or {}
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.line("Deleted Networks:")
        for n in deleted:
            ctx.line(n)
    return 0


PRUNE = F.Command("prune", "[OPTIONS]", "Remove all unused networks", [
    F.Flag("filter", "", L, help="Provide filter values (e.g. \"until=<timestamp>\")", type_name="filter"),
    F.Flag("force", "f", B, False, "Do not prompt for confirmation"),
], max_args=0, run=run_prune)
