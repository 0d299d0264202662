"""Loading a compose project: file discovery, .env and ${VAR} interpolation, project name,
and the per-service container configuration Docker Compose would send."""
from __future__ import annotations

import os
import re

from cli import jsoncodec as json
from cli.compose.yamlparse import loads
from cli.errors import CLIError
from cli.units import parse_bytes, parse_go_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
LABEL = "com.docker.compose."
# com.docker.compose.version: the compose (v2) release whose behaviour this follows. It must be a dotted
# version: docker-compose 1.29 compares it with LooseVersion and crashes on a word ("pydocker").
VERSION = "2.29.0"
_VAR = re.compile(r"\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: Any, env: dict[str, str], where: str = "", missing: list[str] | None = None) -> Any:
    """Compose interpolation in every string value: $VAR, ${VAR}, ${VAR:-def}, ${VAR-def}, ${VAR:?err}, $$.
    Variables that are unset and have no default become "" and are appended to `missing`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}" if where else str(k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, where, missing) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group(2):
            return lookup(m.group(2))
        expr = m.group(1)
        for op in (":-", "-", ":?", "?", ":+", "+"):
            name, sep, arg = expr.partition(op)
            if sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                val = env.get(name)
                unset_or_empty = val is None or (op.startswith(":") and val == "")
                if op in (":-", "-"):
                    return interpolate(arg, env, where, missing) if unset_or_empty else val
                if op in (":?", "?"):
                    if unset_or_empty:
                        raise CLIError(f"error while interpolating {where}: required variable {name} is missing a value: {arg}")
                    return val
                return "" if unset_or_empty else interpolate(arg, env, where, missing)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr):
            raise CLIError(f"invalid interpolation format for {where}: \"{m.group(0)}\"; "
                           "you may need to escape any $ with another $")
        return lookup(expr)

    def lookup(name: str) -> str:
        if name not in env:
            if missing is not None and name not in missing:
                missing.append(name)
            return ""
        return env[name]

    return _VAR.sub(sub, value)


def read_env_file(path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return env
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, eq, val = line.partition("=")
        if not eq:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] and val[0] in "'\"":
            val = val[1:-1]
        env[key.strip()] = val
    return env


def normalize_project_name(name: str) -> str:
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return name.lstrip("_-")


class Service:
    """One service: its name and normalized configuration."""

    def __init__(self, name: str, config: dict, project: Project) -> None:
        self.name, self.config, self.project = name, config, project

    @property
    def image(self) -> str:
        return self.config.get("image") or f"{self.project.name}-{self.name}"

    @property
    def container_name(self) -> str:
        return self.config.get("container_name") or f"{self.project.name}-{self.name}-1"

    def depends_on(self) -> dict[str, dict]:
        deps = self.config.get("depends_on") or {}
        if isinstance(deps, list):
            return {d: {"condition": "service_started"} for d in deps}
        return {k: (v or {"condition": "service_started"}) for k, v in deps.items()}

    def networks(self) -> dict[str, dict]:
        nets = self.config.get("networks")
        if nets is None:
            return {"default": {}}
        if isinstance(nets, list):
            return {n: {} for n in nets}
        return {k: (v or {}) for k, v in nets.items()}

    def config_hash(self) -> str:
        import hashlib
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()

    def create_body(self) -> dict[str, Any]:
        """The /containers/create request for this service's (first) container."""
        c = self.config
        p = self.project
        labels = dict(_kv_list(c.get("labels")))
        labels.update({
            LABEL + "project": p.name, LABEL + "service": self.name, LABEL + "container-number": "1",
            LABEL + "oneoff": "False", LABEL + "config-hash": self.config_hash(),
            LABEL + "project.working_dir": p.working_dir,
            LABEL + "project.config_files": ",".join(p.config_files),
            LABEL + "depends_on": ",".join(f"{k}:{v.get('condition', 'service_started')}:false"
                                           for k, v in self.depends_on().items()),
            LABEL + "image": self.image, LABEL + "version": VERSION,
        })
        env = []
        for path in _as_list(c.get("env_file")):
            path = path if isinstance(path, str) else path.get("path", "")
            env += [f"{k}={v}" for k, v in read_env_file(os.path.join(p.working_dir, path)).items()]
        environment = c.get("environment") or {}
        if isinstance(environment, list):
            environment = dict(_kv_list(environment, keep_bare=True))
        for k, v in environment.items():
            if v is None:
                if k in p.env:
                    env.append(f"{k}={p.env[k]}")
                continue
            env.append(f"{k}={_scalar(v)}")

        from cli.containeropts import parse_publish
        specs = []
        for port in _as_list(c.get("ports")):
            if isinstance(port, dict):
                spec = f"{port.get('target')}/{port.get('protocol', 'tcp')}"
                published = str(port.get("published") or "")
                if published == "0":
                    published = ""  # any free port
                if port.get("host_ip"):
                    spec = f"{port['host_ip']}:{published}:{spec}"
                elif published:
                    spec = f"{published}:{spec}"
                specs.append(spec)
            else:
                specs.append(str(port))
        exposed, bindings = parse_publish(specs)
        for e in _as_list(c.get("expose")):
            exposed[str(e) if "/" in str(e) else f"{e}/tcp"] = {}

        mounts, binds, anon = [], [], {}
        for vol in _as_list(c.get("volumes")):
            m = self._mount(vol)
            if m["Type"] == "volume" and not m.get("Source"):
                anon[m["Target"]] = {}
            elif isinstance(vol, str):
                # short syntax travels as a bind string, which every daemon version understands
                binds.append(f"{m['Source']}:{m['Target']}" + (":ro" if m.get("ReadOnly") else ""))
            else:
                mounts.append(m)
        health = None
        hc = c.get("healthcheck")
        if hc:
            if hc.get("disable"):
                health = {"Test": ["NONE"]}
            else:
                test = hc.get("test")
                if isinstance(test, str):
                    test = ["CMD-SHELL", test]
                health = {"Test": test, "Interval": _ns(hc.get("interval")), "Timeout": _ns(hc.get("timeout")),
                          "StartPeriod": _ns(hc.get("start_period")), "Retries": hc.get("retries") or 0}
        restart = c.get("restart") or "no"
        name, _, count = str(restart).partition(":")
        limits = ((c.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        networks = self.networks()
        first_net = next(iter(networks))
        endpoints = {}
        for net, opts in networks.items():
            aliases = [self.name, self.container_name] + list(opts.get("aliases") or [])
            endpoints[p.network_name(net)] = {"Aliases": aliases,
                                              **({"IPAMConfig": {"IPv4Address": opts["ipv4_address"]}}
                                                 if opts.get("ipv4_address") else {})}
        body: dict[str, Any] = {
            "Image": self.image, "Cmd": _command(c.get("command")), "Entrypoint": _command(c.get("entrypoint")),
            "Env": env, "Labels": labels, "Hostname": c.get("hostname") or "", "Domainname": c.get("domainname") or "",
            "User": str(c.get("user") or ""), "WorkingDir": c.get("working_dir") or "",
            "Tty": bool(c.get("tty")), "OpenStdin": bool(c.get("stdin_open")), "ExposedPorts": exposed or None,
            "Volumes": anon or None, "Healthcheck": health, "StopSignal": c.get("stop_signal"),
            "AttachStdout": True, "AttachStderr": True,
            "HostConfig": {
                "Binds": binds or None, "Mounts": mounts or None, "PortBindings": bindings or {},
                "RestartPolicy": {"Name": name, "MaximumRetryCount": int(count or 0)},
                "NetworkMode": p.network_name(first_net), "Privileged": bool(c.get("privileged")),
                "CapAdd": c.get("cap_add"), "CapDrop": c.get("cap_drop"), "SecurityOpt": c.get("security_opt"),
                "NanoCpus": int(float(limits.get("cpus") or c.get("cpus") or 0) * 1e9),
                "ExtraHosts": _as_list(c.get("extra_hosts")) or None,
                "Dns": _as_list(c.get("dns")), "DnsSearch": _as_list(c.get("dns_search")),
                "ReadonlyRootfs": bool(c.get("read_only")), "Init": c.get("init"),
                "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in _as_list(c.get("tmpfs"))} or None,
                "ShmSize": _bytes(c.get("shm_size")), "Memory": _bytes(limits.get("memory") or c.get("mem_limit")),
                "LogConfig": {"Type": "", "Config": {}},
            },
            "NetworkingConfig": {"EndpointsConfig": {p.network_name(first_net): endpoints[p.network_name(first_net)]}},
        }
        if c.get("stop_grace_period"):
            body["StopTimeout"] = int(parse_go_duration(str(c["stop_grace_period"])))
        return body

    def _mount(self, vol: Any) -> dict:
        p = self.project
        if isinstance(vol, dict):
            kind = vol.get("type", "volume")
            src = vol.get("source") or ""
            target = vol.get("target") or ""
            ro = bool(vol.get("read_only"))
        else:
            parts = str(vol).split(":")
            if len(parts) == 1:
                return {"Type": "volume", "Target": parts[0]}
            src, target = parts[0], parts[1]
            mode = parts[2] if len(parts) > 2 else ""
            ro = "ro" in mode.split(",")
            kind = "bind" if src.startswith((".", "/", "~")) else "volume"
        if kind == "bind":
            src = os.path.normpath(os.path.join(p.working_dir, os.path.expanduser(src)))
            return {"Type": "bind", "Source": src, "Target": target, "ReadOnly": ro,
                    "BindOptions": {"CreateMountpoint": True}}
        if kind == "volume":
            if src and src not in p.volumes:
                raise CLIError(f'service "{self.name}" refers to undefined volume {src}: invalid compose project')
            return {"Type": "volume", "Source": p.volume_name(src) if src else "", "Target": target,
                    "ReadOnly": ro, "VolumeOptions": {}}
        if kind == "tmpfs":
            return {"Type": "tmpfs", "Target": target}
        raise CLIError(f"unsupported volume type {kind}")


class Project:
    """A loaded compose project."""

    def __init__(self, name: str, working_dir: str, config_files: list[str], data: dict, env: dict[str, str],
                 profiles: list[str] | None = None) -> None:
        self.name, self.working_dir, self.config_files, self.env = name, working_dir, config_files, env
        self.profiles = list(profiles or [])
        self.data = data
        self.volumes: dict[str, dict] = {k: (v or {}) for k, v in (data.get("volumes") or {}).items()}
        self.networks: dict[str, dict] = {k: (v or {}) for k, v in (data.get("networks") or {}).items()}
        self.networks.setdefault("default", {})
        every = {n: Service(n, cfg or {}, self) for n, cfg in (data.get("services") or {}).items()}
        enabled = "*" in self.profiles
        # services without profiles are always active; others only when one of their profiles is enabled
        self.services = {n: s for n, s in every.items()
                         if not s.config.get("profiles") or enabled
                         or set(_as_list(s.config.get("profiles"))) & set(self.profiles)}
        self.inactive = {n: s for n, s in every.items() if n not in self.services}

    def enable(self, names: list[str]) -> None:
        """Services named on the command line are enabled whatever their profiles (as compose does)."""
        for n in names:
            if n in self.inactive:
                self.services[n] = self.inactive.pop(n)

    def volume_name(self, key: str) -> str:
        v = self.volumes.get(key) or {}
        if v.get("name"):
            return v["name"]
        return key if v.get("external") else f"{self.name}_{key}"

    def network_name(self, key: str) -> str:
        n = self.networks.get(key) or {}
        if n.get("name"):
            return n["name"]
        return key if n.get("external") else f"{self.name}_{key}"

    def ordered(self, names: list[str] | None = None) -> list[Service]:
        """Services in dependency order (dependencies first), optionally limited to names and their deps."""
        wanted = names or list(self.services)
        self.enable(wanted)
        for n in wanted:
            if n not in self.services:
                raise CLIError(f"no such service: {n}")
        order: list[str] = []
        visiting: set[str] = set()

        def visit(n: str) -> None:
            if n in order:
                return
            if n in visiting:
                raise CLIError(f"dependency cycle detected: {n}")
            visiting.add(n)
            for dep in self.services[n].depends_on():
                self.enable([dep])
                if dep not in self.services:
                    raise CLIError(f'service "{n}" depends on undefined service "{dep}": invalid compose project')
                visit(dep)
            visiting.discard(n)
            order.append(n)
        for n in wanted:
            visit(n)
        return [self.services[n] for n in order]


def find_files(explicit: list[str]) -> list[str]:
    if explicit:
        files = [os.path.abspath(f) for f in explicit]
        for f in files:
            if not os.path.exists(f):
                raise CLIError(f"open {f}: no such file or directory")
        return files
    env_files = os.environ.get("COMPOSE_FILE")
    if env_files:
        return [os.path.abspath(f) for f in env_files.split(os.pathsep)]
    d = os.getcwd()
    while True:
        for name in DEFAULT_FILES:
            if os.path.exists(os.path.join(d, name)):
                return [os.path.join(d, name)]
        parent = os.path.dirname(d)
        if parent == d:
            raise CLIError("no configuration file provided: not found")
        d = parent


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


TOP_KEYS = {"version", "name", "services", "volumes", "networks", "configs", "secrets", "include"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup", "cgroup_parent", "command",
    "configs", "container_name", "cpu_count", "cpu_percent", "cpu_period", "cpu_quota", "cpu_rt_period",
    "cpu_rt_runtime", "cpu_shares", "cpus", "cpuset", "credential_spec", "depends_on", "deploy", "develop",
    "device_cgroup_rules", "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "group_add", "healthcheck", "hostname",
    "image", "init", "ipc", "isolation", "labels", "links", "logging", "mac_address", "mem_limit",
    "mem_reservation", "mem_swappiness", "memswap_limit", "network_mode", "networks", "oom_kill_disable",
    "oom_score_adj", "pid", "pids_limit", "platform", "ports", "privileged", "profiles", "pull_policy",
    "read_only", "restart", "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open",
    "stop_grace_period", "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode",
    "uts", "volumes", "volumes_from", "working_dir"}
LIST_KEYS = {"ports", "expose", "cap_add", "cap_drop", "security_opt", "profiles", "volumes", "tmpfs", "dns"}
MAP_OR_LIST_KEYS = {"environment", "labels", "depends_on", "networks", "extra_hosts"}


def _line_of(text: str, path: list[str]) -> int:
    """The 1-based line of the mapping key at `path` (e.g. services, web, ports) in a block YAML file, or 0."""
    lines = text.splitlines()
    start, indent = 0, -1
    for key in path:
        pat = re.compile(r"^(\s*)(?:" + re.escape(key) + r"|\"" + re.escape(key) + r"\"|'" + re.escape(key) + r"')\s*:")
        for i in range(start, len(lines)):
            m = pat.match(lines[i])
            if m and len(m.group(1)) > indent:
                start, indent = i + 1, len(m.group(1))
                break
        else:
            return 0
    return start


def validate(doc: dict, path: str, text: str) -> None:
    """Compose-schema checks that name the offending key and its line."""
    def fail(keys: list[str], msg: str, parent: bool = False) -> None:
        line = _line_of(text, keys)
        where = f" (line {line})" if line else ""
        subject = ".".join(keys[:-1] if parent else keys) or "(root)"
        raise CLIError(f"validating {path}: {subject} {msg}{where}")

    for key in doc:
        if key not in TOP_KEYS and not str(key).startswith("x-"):
            fail([str(key)], f"additional properties '{key}' not allowed", parent=True)
    services = doc.get("services")
    if services is not None and not isinstance(services, dict):
        fail(["services"], "must be a mapping")
    for name, cfg in (services or {}).items():
        if cfg is None:
            continue
        if not isinstance(cfg, dict):
            fail(["services", str(name)], "must be a mapping")
        for key, val in cfg.items():
            keys = ["services", str(name), str(key)]
            if key not in SERVICE_KEYS and not str(key).startswith("x-"):
                fail(keys, f"additional properties '{key}' not allowed", parent=True)
            if key in LIST_KEYS and val is not None and not isinstance(val, list):
                fail(keys, "must be a array")
            if key in MAP_OR_LIST_KEYS and val is not None and not isinstance(val, (list, dict)):
                fail(keys, "must be a mapping or a list")
    for section in ("volumes", "networks"):
        value = doc.get(section)
        if value is not None and not isinstance(value, dict):
            fail([section], "must be a mapping")


def load(files: list[str], project_name: str = "", project_dir: str = "", env_files: list[str] | None = None,
         profiles: list[str] | None = None, warn: Any = None) -> Project:
    """Read the compose files (later files override earlier ones) into a Project.

    env_files replace the project directory's .env (as --env-file does); services with `profiles` are
    active only when one of their profiles is enabled (--profile or COMPOSE_PROFILES)."""
    import sys
    warn = warn or sys.stderr
    paths = find_files(files)
    working_dir = os.path.abspath(project_dir) if project_dir else os.path.dirname(paths[0])
    env: dict[str, str] = {}
    if env_files:
        for f in env_files:
            f = os.path.abspath(f)
            if not os.path.isfile(f):
                raise CLIError(f"couldn't find env file: {f}")
            env.update(read_env_file(f))
    else:
        env = read_env_file(os.path.join(working_dir, ".env"))
    env.update(os.environ)
    data: dict = {}
    missing: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        doc = loads(text) or {}
        if not isinstance(doc, dict):
            raise CLIError(f"{path}: top-level object must be a mapping")
        validate(doc, path, text)
        data = _merge(data, interpolate(doc, env, missing=missing))
    for name in missing:
        warn.write(f'WARN[0000] The "{name}" variable is not set. Defaulting to a blank string. \n')
    if not data.get("services"):
        raise CLIError("no service selected")
    name = project_name or env.get("COMPOSE_PROJECT_NAME") or data.get("name") or os.path.basename(working_dir)
    name = normalize_project_name(name)
    if not name:
        raise CLIError("project name must not be empty")
    if profiles is None:
        profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    return Project(name, working_dir, paths, data, env, profiles)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _kv_list(value: Any, keep_bare: bool = False) -> list[tuple[str, Any]]:
    if not value:
        return []
    if isinstance(value, dict):
        return [(k, _scalar(v)) for k, v in value.items()]
    out = []
    for item in value:
        k, eq, v = str(item).partition("=")
        out.append((k, v if eq else (None if keep_bare else "")))
    return out


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)


def _command(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    import shlex
    return shlex.split(str(value))


def _ns(value: Any) -> int:
    return int(parse_go_duration(str(value)) * 1e9) if value else 0


def _bytes(value: Any) -> int:
    if not value:
        return 0
    return value if isinstance(value, int) else parse_bytes(str(value))
