"""`docker create`/`run` flags and their translation into a container create request."""
from __future__ import annotations

import os

from cli import flags as F
from cli.errors import CLIError
from cli.units import parse_bytes, parse_go_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

S, L, B, I = F.STR, F.LIST, F.BOOL, F.INT


def _valid_env(value: str) -> None:
    if value.partition("=")[0] == "":
        raise ValueError(f"invalid environment variable: {value}")


def _valid_cpus(value: str) -> None:
    try:
        float(value)
    except ValueError:
        raise ValueError(f"failed to parse {value} as a rational number") from None


def _valid_bytes(value: str) -> None:
    parse_bytes(value)


def _valid_swap(value: str) -> None:
    if value != "-1":
        parse_bytes(value)


def _valid_duration(value: str) -> None:
    """time.ParseDuration's complaints."""
    if value != "0" and value.replace(".", "", 1).isdigit():
        raise ValueError(f'time: missing unit in duration "{value}"')
    try:
        parse_go_duration(value)
    except ValueError:
        raise ValueError(f'time: invalid duration "{value}"') from None


def _valid_mount(value: str) -> None:
    try:
        parse_mount(value)
    except CLIError as e:
        raise ValueError(e.message) from None

CREATE_FLAGS = [
    F.Flag("add-host", "", L, help="Add a custom host-to-IP mapping (host:ip)"),
    F.Flag("annotation", "", L, help="Add an annotation to the container (passed through to the OCI runtime)", type_name="map"),
    F.Flag("attach", "a", L, help="Attach to STDIN, STDOUT or STDERR"),
    F.Flag("cap-add", "", L, help="Add Linux capabilities"),
    F.Flag("cap-drop", "", L, help="Drop Linux capabilities"),
    F.Flag("cgroup-parent", "", S, "", "Optional parent cgroup for the container"),
    F.Flag("cgroupns", "", S, "", "Cgroup namespace to use (host|private)"),
    F.Flag("cidfile", "", S, "", "Write the container ID to the file"),
    F.Flag("cpu-period", "", I, 0, "Limit CPU CFS (Completely Fair Scheduler) period"),
    F.Flag("cpu-quota", "", I, 0, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    F.Flag("cpu-shares", "c", I, 0, "CPU shares (relative weight)"),
    F.Flag("cpus", "", S, "", "Number of CPUs", type_name="decimal", validate=_valid_cpus),
    F.Flag("cpuset-cpus", "", S, "", "CPUs in which to allow execution (0-3, 0,1)"),
    F.Flag("cpuset-mems", "", S, "", "MEMs in which to allow execution (0-3, 0,1)"),
    F.Flag("device", "", L, help="Add a host device to the container"),
    F.Flag("dns", "", L, help="Set custom DNS servers"),
    F.Flag("dns-option", "", L, help="Set DNS options"),
    F.Flag("dns-search", "", L, help="Set custom DNS search domains"),
    F.Flag("domainname", "", S, "", "Container NIS domain name"),
    F.Flag("entrypoint", "", S, "", "Overwrite the default ENTRYPOINT of the image"),
    F.Flag("env", "e", L, help="Set environment variables", validate=_valid_env),
    F.Flag("env-file", "", L, help="Read in a file of environment variables"),
    F.Flag("expose", "", L, help="Expose a port or a range of ports"),
    F.Flag("group-add", "", L, help="Add additional groups to join"),
    F.Flag("health-cmd", "", S, "", "Command to run to check health"),
    F.Flag("health-interval", "", S, "", "Time between running the check (ms|s|m|h) (default 0s)", type_name="duration",
           validate=_valid_duration),
    F.Flag("health-retries", "", I, 0, "Consecutive failures needed to report unhealthy"),
    F.Flag("health-start-period", "", S, "", "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)", type_name="duration",
           validate=_valid_duration),
    F.Flag("health-timeout", "", S, "", "Maximum time to allow one check to run (ms|s|m|h) (default 0s)", type_name="duration",
           validate=_valid_duration),
    F.Flag("hostname", "h", S, "", "Container host name"),
    F.Flag("init", "", B, False, "Run an init inside the container that forwards signals and reaps processes"),
    F.Flag("interactive", "i", B, False, "Keep STDIN open even if not attached"),
    F.Flag("ip", "", S, "", "IPv4 address (e.g., 172.30.100.104)"),
    F.Flag("ip6", "", S, "", "IPv6 address (e.g., 2001:db8::33)"),
    F.Flag("ipc", "", S, "", "IPC mode to use"),
    F.Flag("isolation", "", S, "", "Container isolation technology"),
    F.Flag("label", "l", L, help="Set meta data on a container"),
    F.Flag("label-file", "", L, help="Read in a line delimited file of labels"),
    F.Flag("link", "", L, help="Add link to another container"),
    F.Flag("log-driver", "", S, "", "Logging driver for the container"),
    F.Flag("log-opt", "", L, help="Log driver options"),
    F.Flag("mac-address", "", S, "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    F.Flag("memory", "m", S, "", "Memory limit", type_name="bytes", validate=_valid_bytes),
    F.Flag("memory-reservation", "", S, "", "Memory soft limit", type_name="bytes", validate=_valid_bytes),
    F.Flag("memory-swap", "", S, "", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
           type_name="bytes", validate=_valid_swap),
    F.Flag("mount", "", L, help="Attach a filesystem mount to the container", type_name="mount",
           validate=_valid_mount),
    F.Flag("name", "", S, "", "Assign a name to the container"),
    F.Flag("network", "", S, "", "Connect a container to a network", type_name="network"),
    F.Flag("net", "", S, "", "Connect a container to a network", hidden=True),
    F.Flag("network-alias", "", L, help="Add network-scoped alias for the container"),
    F.Flag("no-healthcheck", "", B, False, "Disable any container-specified HEALTHCHECK"),
    F.Flag("oom-kill-disable", "", B, False, "Disable OOM Killer"),
    F.Flag("oom-score-adj", "", I, 0, "Tune host's OOM preferences (-1000 to 1000)"),
    F.Flag("pid", "", S, "", "PID namespace to use"),
    F.Flag("pids-limit", "", I, 0, "Tune container pids limit (set -1 for unlimited)"),
    F.Flag("platform", "", S, "", "Set platform if server is multi-platform capable"),
    F.Flag("privileged", "", B, False, "Give extended privileges to this container"),
    F.Flag("publish", "p", L, help="Publish a container's port(s) to the host"),
    F.Flag("publish-all", "P", B, False, "Publish all exposed ports to random ports"),
    F.Flag("pull", "", S, "missing", 'Pull image before running ("always", "missing", "never")'),
    F.Flag("quiet", "q", B, False, "Suppress the pull output"),
    F.Flag("read-only", "", B, False, "Mount the container's root filesystem as read only"),
    F.Flag("restart", "", S, "", "Restart policy to apply when a container exits (default \"no\")"),
    F.Flag("rm", "", B, False, "Automatically remove the container and its associated anonymous volumes when it exits"),
    F.Flag("runtime", "", S, "", "Runtime to use for this container"),
    F.Flag("security-opt", "", L, help="Security Options"),
    F.Flag("shm-size", "", S, "", "Size of /dev/shm", type_name="bytes", validate=_valid_bytes),
    F.Flag("stop-signal", "", S, "", "Signal to stop the container"),
    F.Flag("stop-timeout", "", I, None, "Timeout (in seconds) to stop a container"),
    F.Flag("sysctl", "", L, help="Sysctl options", type_name="map"),
    F.Flag("tmpfs", "", L, help="Mount a tmpfs directory"),
    F.Flag("tty", "t", B, False, "Allocate a pseudo-TTY"),
    F.Flag("ulimit", "", L, help="Ulimit options", type_name="ulimit"),
    F.Flag("user", "u", S, "", "Username or UID (format: <name|uid>[:<group|gid>])"),
    F.Flag("userns", "", S, "", "User namespace to use"),
    F.Flag("uts", "", S, "", "UTS namespace to use"),
    F.Flag("volume", "v", L, help="Bind mount a volume"),
    F.Flag("volumes-from", "", L, help="Mount volumes from the specified container(s)"),
    F.Flag("workdir", "w", S, "", "Working directory inside the container"),
]
RUN_ONLY_FLAGS = [
    F.Flag("detach", "d", B, False, "Run container in background and print container ID"),
    F.Flag("detach-keys", "", S, "", "Override the key sequence for detaching a container"),
    F.Flag("sig-proxy", "", B, True, "Proxy received signals to the process (default true)"),
]

SIGNALS = {"ABRT": 6, "ALRM": 14, "BUS": 7, "CHLD": 17, "CONT": 18, "FPE": 8, "HUP": 1, "ILL": 4,
           "INT": 2, "IO": 29, "IOT": 6, "KILL": 9, "PIPE": 13, "POLL": 29, "PROF": 27, "PWR": 30,
           "QUIT": 3, "SEGV": 11, "STKFLT": 16, "STOP": 19, "SYS": 31, "TERM": 15, "TRAP": 5,
           "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "USR1": 10, "USR2": 12, "VTALRM": 26,
           "WINCH": 28, "XCPU": 24, "XFSZ": 25}


def _read_kv_file(path: str, resolve_env: bool) -> list[str]:
    """Lines of an --env-file/--label-file; `#` comments and blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise CLIError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    out = []
    for raw in lines:
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, eq, _ = line.partition("=")
        if not eq and resolve_env:
            if key.strip() in os.environ:
                out.append(f"{key.strip()}={os.environ[key.strip()]}")
            continue
        out.append(line)
    return out


def parse_env(opts: Any) -> list[str]:
    env: list[str] = []
    for path in opts.env_file or []:
        env += _read_kv_file(path, True)
    for item in opts.env or []:
        if "=" not in item:
            if item in os.environ:
                env.append(f"{item}={os.environ[item]}")
            continue
        env.append(item)
    return env


def parse_labels(items: list[str], files: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in [x for p in files for x in _read_kv_file(p, False)] + list(items):
        k, _, v = item.partition("=")
        labels[k] = v
    return labels


def _port_range(text: str, what: str = "containerPort") -> list[int]:
    lo, sep, hi = text.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise CLIError(f"invalid {what}: {text}") from None
    if b < a:
        raise CLIError(f"invalid range specified for port: {text}")
    return list(range(a, b + 1))


def parse_publish(specs: list[str]) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """nat.ParsePortSpecs: "[ip:][hostPort:]containerPort[/proto]" with ranges."""
    import ipaddress
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict]] = {}
    for spec in specs:
        raw, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = raw.split(":")
        cport = parts[-1]
        if len(parts) == 1:
            ip, host = "", ""
        elif len(parts) == 2:
            ip, host = "", parts[0]
        else:
            ip, host = ":".join(parts[:-2]), parts[-2]
        if ip.startswith("[") and ip.endswith("]"):
            ip = ip[1:-1]
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise CLIError(f"invalid IP address: {ip}") from None
        if not cport:
            raise CLIError(f"no port specified: {spec}<empty>")
        cports = _port_range(cport, "containerPort")
        hports = _port_range(host, "hostPort") if host else []
        if hports and len(hports) != len(cports) and len(hports) != 1:
            raise CLIError(f"invalid ranges specified for container and host Ports: {cport} and {host}")
        for i, p in enumerate(cports):
            key = f"{p}/{proto}"
            exposed[key] = {}
            if not hports:
                hp = ""
            elif len(hports) == 1 and len(cports) > 1:
                hp = f"{hports[0]}"
            else:
                hp = str(hports[i])
            bindings.setdefault(key, []).append({"HostIp": ip, "HostPort": hp})
    return exposed, bindings


def parse_mount(spec: str) -> dict[str, Any]:
    """--mount type=volume,source=v,target=/d,readonly,volume-opt=k=v,tmpfs-size=…"""
    m: dict[str, Any] = {"Type": "volume"}
    vol_opts: dict[str, Any] = {}
    for field in spec.split(","):
        key, eq, val = field.partition("=")
        key = key.strip().lower()
        if key in ("readonly", "ro"):
            m["ReadOnly"] = (val.lower() not in ("false", "0")) if eq else True
        elif key == "type":
            m["Type"] = val
        elif key in ("source", "src"):
            m["Source"] = val
        elif key in ("target", "destination", "dst"):
            m["Target"] = val
        elif key == "bind-propagation":
            m.setdefault("BindOptions", {})["Propagation"] = val
        elif key == "volume-nocopy":
            vol_opts["NoCopy"] = (val.lower() not in ("false", "0")) if eq else True
        elif key == "volume-driver":
            vol_opts.setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            vol_opts.setdefault("DriverConfig", {}).setdefault("Options", {})[k] = v
        elif key == "volume-label":
            k, _, v = val.partition("=")
            vol_opts.setdefault("Labels", {})[k] = v
        elif key == "tmpfs-size":
            m.setdefault("TmpfsOptions", {})["SizeBytes"] = parse_bytes(val)
        elif key == "tmpfs-mode":
            m.setdefault("TmpfsOptions", {})["Mode"] = int(val, 8)
        elif key == "consistency":
            m["Consistency"] = val
        else:
            raise CLIError(f"unexpected key '{key}' in '{field}'")
    if vol_opts:
        m["VolumeOptions"] = vol_opts
    if "Target" not in m:
        raise CLIError("target is required")
    return m


def parse_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict]]:
    """-v: binds (host path or named volume) and anonymous volumes (a single container path)."""
    binds, anon = [], {}
    for spec in specs:
        parts = spec.split(":")
        if len(parts) == 1:
            anon[spec] = {}
            continue
        src = parts[0]
        if src.startswith(".") or src.startswith("~"):
            src = os.path.abspath(os.path.expanduser(src))
        binds.append(":".join([src] + parts[1:]))
    return binds, anon


def normalize_caps(caps: list[str]) -> list[str] | None:
    if not caps:
        return None
    out = set()
    for c in caps:
        c = c.upper()
        out.add(c if c == "ALL" or c.startswith("CAP_") else "CAP_" + c)
    return sorted(out)


def _duration_ns(opts: Any, name: str) -> int:
    text = opts[name.replace("-", "_")]
    return int(parse_go_duration(text) * 1e9) if text else 0  # validated while parsing the flags


def _bytes_opt(opts: Any, name: str) -> int:
    text = opts[name.replace("-", "_")]
    if not text:
        return 0
    if text == "-1" and name == "memory-swap":
        return -1
    return parse_bytes(text)  # validated while parsing the flags


def parse_restart(text: str) -> dict[str, Any]:
    """opts.ParseRestartPolicy: only the shape is checked here; the daemon validates the name."""
    name, sep, count = text.partition(":")
    if sep and not name:
        raise CLIError("invalid restart policy format: no policy provided before colon")
    try:
        retries = int(count) if count else 0
    except ValueError:
        raise CLIError("invalid restart policy format: maximum retry count must be an integer") from None
    return {"Name": name or "no", "MaximumRetryCount": retries}


def parse_ulimits(items: list[str]) -> list[dict]:
    out = []
    for item in items:
        name, _, vals = item.partition("=")
        soft, _, hard = vals.partition(":")
        try:
            out.append({"Name": name, "Soft": int(soft), "Hard": int(hard or soft)})
        except ValueError:
            raise CLIError(f"invalid ulimit argument: {item}") from None
    return out


def parse_devices(items: list[str]) -> list[dict]:
    out = []
    for item in items:
        parts = item.split(":")
        host = parts[0]
        ctr = parts[1] if len(parts) > 1 and parts[1] else host
        perms = parts[2] if len(parts) > 2 else "rwm"
        out.append({"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms})
    return out


def build_create_request(opts: Any, image: str, cmd: list[str], detach: bool,
                         console_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Translate parsed flags into the POST /containers/create body (Config + HostConfig + NetworkingConfig)."""
    attach = [a.lower() for a in (opts.attach or [])]
    for a in attach:
        if a not in ("stdin", "stdout", "stderr"):
            raise CLIError(f"invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")
    if attach:
        a_in, a_out, a_err = "stdin" in attach, "stdout" in attach, "stderr" in attach
    elif detach:
        a_in = a_out = a_err = False
    else:
        a_in, a_out, a_err = bool(opts.interactive), True, True
    restart = parse_restart(opts.restart)
    if opts.rm and restart["Name"] not in ("no", ""):
        raise CLIError("conflicting options: cannot specify both --restart and --rm")

    exposed, bindings = parse_publish(opts.publish or [])
    for e in opts.expose or []:
        port, _, proto = e.partition("/")
        for p in _port_range(port):
            exposed[f"{p}/{proto or 'tcp'}"] = {}
    binds, anon = parse_volumes(opts.volume or [])
    entrypoint: list[str] | None = None
    if opts.entrypoint:
        entrypoint = [opts.entrypoint]
    elif "entrypoint" in opts.changed:
        entrypoint = [""]  # --entrypoint= resets the image's entrypoint
    health = None
    if opts.no_healthcheck:
        if opts.health_cmd:
            raise CLIError("--no-healthcheck conflicts with --health-* options")
        health = {"Test": ["NONE"]}
    elif any(k in opts.changed for k in ("health-cmd", "health-interval", "health-timeout",
                                         "health-start-period", "health-retries")):
        health = {"Test": ["CMD-SHELL", opts.health_cmd] if opts.health_cmd else None,
                  "Interval": _duration_ns(opts, "health-interval"),
                  "Timeout": _duration_ns(opts, "health-timeout"),
                  "StartPeriod": _duration_ns(opts, "health-start-period"),
                  "Retries": opts.health_retries}
    network = opts.network or opts.net or "default"
    tmpfs = {}
    for t in opts.tmpfs or []:
        path, _, o = t.partition(":")
        tmpfs[path] = o
    nano_cpus = 0
    if opts.cpus:
        nano_cpus = int(round(float(opts.cpus) * 1e9))  # validated while parsing the flags
    sysctls = {}
    for s in opts.sysctl or []:
        k, _, v = s.partition("=")
        sysctls[k] = v
    log_config = {"Type": opts.log_driver or "", "Config": {}}
    for o in opts.log_opt or []:
        k, _, v = o.partition("=")
        log_config["Config"][k] = v

    config: dict[str, Any] = {
        "Hostname": opts.hostname, "Domainname": opts.domainname, "User": opts.user,
        "AttachStdin": a_in, "AttachStdout": a_out, "AttachStderr": a_err,
        "ExposedPorts": exposed or None,
        "Tty": bool(opts.tty), "OpenStdin": bool(opts.interactive), "StdinOnce": bool(opts.interactive and a_in),
        "Env": parse_env(opts), "Cmd": cmd or None, "Healthcheck": health,
        "Image": image, "Volumes": anon or None, "WorkingDir": opts.workdir,
        "Entrypoint": entrypoint, "OnBuild": None,
        "Labels": parse_labels(opts.label or [], opts.label_file or []),
    }
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    if opts.mac_address:
        config["MacAddress"] = opts.mac_address
    host_config: dict[str, Any] = {
        "Binds": binds or None, "ContainerIDFile": opts.cidfile, "LogConfig": log_config,
        "NetworkMode": network, "PortBindings": bindings or {}, "RestartPolicy": restart,
        "AutoRemove": bool(opts.rm), "VolumeDriver": "", "VolumesFrom": opts.volumes_from or None,
        "ConsoleSize": list(console_size) if console_size else [0, 0],
        "Annotations": dict(a.partition("=")[::2] for a in opts.annotation) if opts.annotation else None,
        "CapAdd": normalize_caps(opts.cap_add or []), "CapDrop": normalize_caps(opts.cap_drop or []),
        "CgroupnsMode": opts.cgroupns, "Dns": opts.dns or [], "DnsOptions": opts.dns_option or [],
        "DnsSearch": opts.dns_search or [], "ExtraHosts": opts.add_host or None,
        "GroupAdd": opts.group_add or None, "IpcMode": opts.ipc, "Cgroup": "", "Links": opts.link or None,
        "OomScoreAdj": opts.oom_score_adj, "PidMode": opts.pid, "Privileged": bool(opts.privileged),
        "PublishAllPorts": bool(opts.publish_all), "ReadonlyRootfs": bool(opts.read_only),
        "SecurityOpt": opts.security_opt or None, "Tmpfs": tmpfs or None, "UTSMode": opts.uts,
        "UsernsMode": opts.userns, "ShmSize": _bytes_opt(opts, "shm-size"),
        "Sysctls": sysctls or None, "Runtime": opts.runtime, "Isolation": opts.isolation,
        "CpuShares": opts.cpu_shares, "Memory": _bytes_opt(opts, "memory"), "NanoCpus": nano_cpus,
        "CgroupParent": opts.cgroup_parent, "CpuPeriod": opts.cpu_period, "CpuQuota": opts.cpu_quota,
        "CpusetCpus": opts.cpuset_cpus, "CpusetMems": opts.cpuset_mems,
        "Devices": parse_devices(opts.device or []),
        "MemoryReservation": _bytes_opt(opts, "memory-reservation"),
        "MemorySwap": _bytes_opt(opts, "memory-swap"), "MemorySwappiness": None,
        "OomKillDisable": bool(opts.oom_kill_disable), "PidsLimit": opts.pids_limit or None,
        "Ulimits": parse_ulimits(opts.ulimit or []) or None,
        "Mounts": [parse_mount(m) for m in opts.mount] if opts.mount else None,
        "Init": True if opts.init else None,
    }
    endpoint: dict[str, Any] = {}
    if opts.ip or opts.ip6:
        endpoint["IPAMConfig"] = {"IPv4Address": opts.ip, "IPv6Address": opts.ip6}
    if opts.network_alias:
        endpoint["Aliases"] = list(opts.network_alias)
    networking = {"EndpointsConfig": {network: endpoint}} if endpoint or network == "default" else {"EndpointsConfig": {}}
    body = dict(config)
    body["HostConfig"] = host_config
    body["NetworkingConfig"] = networking
    return body
