"""Container commands: ps, logs, stop, start, restart, kill, rm, exec, attach, inspect, top, port, …"""
from __future__ import annotations

import sys
import time

from cli import flags as F
from cli import formatter as fmt
from cli import jsoncodec as json
from cli.errors import APIError, CLIError
from cli.units import go_time_string, human_size, parse_go_duration, parse_rfc3339, since

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from cli.context import Context

S, L, B, I = F.STR, F.LIST, F.BOOL, F.INT


def filters_param(items: list[str] | None) -> str | None:
    """-f key=value … → the JSON map form the Go client sends: {"key":{"value":true}}."""
    if not items:
        return None
    out: dict[str, dict[str, bool]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise CLIError(f"bad format of filter (expected name=value)")
        out.setdefault(key.strip().lower(), {})[value] = True
    return json.dumps(out, separators=(",", ":"))


def for_each(ctx: Context, names: list[str], action: Callable[[str], Any], echo: bool = True,
             ignore: Callable[[APIError], bool] | None = None, summary: str | None = None) -> int:
    """Apply action to each name, printing it on success; report all errors at the end (exit 1)."""
    errors: list[str] = []
    failed: list[str] = []
    for name in names:
        try:
            action(name)
        except APIError as e:
            if ignore and ignore(e):
                ctx.err.write(e.message + "\n")  # reported, but not a failure (rm -f of a missing one)
                continue
            errors.append(e.message)
            failed.append(name)
            continue
        except CLIError as e:
            errors.append(e.message)
            failed.append(name)
            continue
        if echo:
            ctx.line(name)
    if errors:
        ctx.out.flush()
        text = "\n".join(errors)
        if summary:
            text += f"\nError: {summary}: {', '.join(failed)}"
        raise CLIError(text, 1)
    return 0


# -- ps -----------------------------------------------------------------------------------------
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
              "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
              "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
              "Label": "LABEL"}
PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def _join_host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def display_ports(ports: list[dict]) -> str:
    """DisplayablePorts: group consecutive ports, e.g. 0.0.0.0:8080->80/tcp, 443/tcp."""
    ports = sorted(ports or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""),
                                               p.get("PublicPort", 0), p.get("Type", "")))
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            group = f"{ip}:{group}->{group}"
        return f"{group}/{kind}"

    for p in ports:
        cur, key = p.get("PrivatePort", 0), p.get("Type", "tcp")
        if p.get("IP"):
            if p.get("PublicPort") != cur:
                mappings.append(f"{_join_host_port(p['IP'], p.get('PublicPort', 0))}->{cur}/{p.get('Type', 'tcp')}")
                continue
            key = f"{p['IP']}/{key}"
        g = groups.get(key)
        if g is None:
            groups[key] = [cur, cur]
            order.append(key)
            continue
        if cur == g[1] + 1:
            g[1] = cur
            continue
        result.append(form(key, g[0], g[1]))
        groups[key] = [cur, cur]
    result += [form(k, *groups[k]) for k in order]
    return ", ".join(result + mappings)


def container_row(c: dict, trunc: bool, now: float) -> fmt.Row:
    """The values of one `docker ps` row, keyed by the --format field names."""
    names = [n[1:] if n.startswith("/") else n for n in c.get("Names") or []]
    if trunc:
        for n in names:
            if "/" not in n:
                names = [n]
                break
    command = c.get("Command") or ""
    image = c.get("Image") or ""
    if trunc:
        command = fmt.ellipsis(command, 20)
        if image.startswith("sha256:"):
            image = image[7:19]
        else:
            image = image.split("@", 1)[0] if "@sha256:" in image and ":" in image.split("@")[0].split("/")[-1] else image
    cid = c.get("Id", "")
    labels = c.get("Labels") or {}
    mounts = []
    for m in c.get("Mounts") or []:
        name = m.get("Name") or m.get("Source") or ""
        mounts.append(fmt.ellipsis(name, 15) if trunc else name)
    nets = sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys())
    size_rw, size_root = c.get("SizeRw") or 0, c.get("SizeRootFs") or 0
    size = human_size(size_rw)
    if size_root > 0:
        size = f"{size} (virtual {human_size(size_root)})"
    created = c.get("Created") or 0
    row = fmt.Row(
        Command=fmt.go_quote(command), CreatedAt=go_time_string(created),
        ID=cid[:12] if trunc else cid, Image=image,
        Labels=",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        LocalVolumes=str(sum(1 for m in c.get("Mounts") or [] if m.get("Driver") == "local")),
        Mounts=",".join(mounts), Names=",".join(names), Networks=",".join(nets),
        Platform=None, Ports=display_ports(c.get("Ports") or []),
        RunningFor=since(created, now), Size=size, State=c.get("State", ""), Status=c.get("Status", ""),
    )
    row.methods = {"Label": lambda name: labels.get(name, "")}
    return row


def run_ps(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli.config import setting
    form = opts.format or ("" if opts.quiet else setting("psFormat"))
    if opts.quiet and not form:
        form = "{{.ID}}"
    if not form or form == "table":
        form = PS_DEFAULT + ("\t{{.Size}}" if opts.size else "")
    params: dict[str, Any] = {"all": 1 if opts.all else None}
    limit = 1 if opts.latest else opts.last
    if limit and limit > 0:
        params["limit"] = limit
    if opts.format:
        # Like the CLI, run the template once on an empty row: it validates the format and tells
        # whether .Size is used (only then is the expensive size computation requested).
        try:
            probe = fmt.Template(fmt.prepare_format(form), row_type="*formatter.ContainerContext")
        except fmt.TemplateError as e:
            raise CLIError(f"failed to parse template: {e.message}") from None
        used = _FieldSpy()
        try:
            probe.render(used)
        except fmt.TemplateError as e:
            raise CLIError(f"failed to execute template: {e.message}") from None
        if "Size" in used.seen:
            params["size"] = 1
    if opts.size:
        params["size"] = 1
    params["filters"] = filters_param(opts.filter)
    containers = ctx.client.get_json("/containers/json", params) or []
    now = time.time()
    rows = [container_row(c, not opts.no_trunc, now) for c in containers]
    if form.strip() == "{{json .}}":
        ctx.write("".join(fmt.go_json(dict(sorted(r.items()))) + "\n" for r in rows))
        return 0
    ctx.write(fmt.render(form, rows, PS_HEADERS, row_type="*formatter.ContainerContext"))
    return 0


class _FieldSpy(fmt.Row):
    """A ps row that records which fields a template reads."""

    def __init__(self) -> None:
        row = container_row({}, True, time.time())
        super().__init__(row)
        self.methods = row.methods
        self.seen: set[str] = set()

    def field(self, name: str) -> Any:
        self.seen.add(name)
        return super().field(name)


PS = F.Command("ps", "[OPTIONS]", "List containers", [
    F.Flag("all", "a", B, False, "Show all containers (default shows just running)"),
    F.Flag("filter", "f", L, help="Filter output based on conditions provided", type_name="filter"),
    F.Flag("format", "", S, "", F.FORMAT_HELP),
    F.Flag("last", "n", I, -1, "Show n last created containers (includes all states)"),
    F.Flag("latest", "l", B, False, "Show the latest created container (includes all states)"),
    F.Flag("no-trunc", "", B, False, "Don't truncate output"),
    F.Flag("quiet", "q", B, False, "Only display container IDs"),
    F.Flag("size", "s", B, False, "Display total file sizes"),
], max_args=0, run=run_ps)


# -- logs ---------------------------------------------------------------------------------------
def time_param(value: str, now: float | None = None) -> str:
    """GetTimestamp: RFC3339 / date / unix / relative duration ("10m") → "sec.nanos"."""
    if not value:
        return value
    now = time.time() if now is None else now
    try:
        d = parse_go_duration(value)
        if not value.replace(".", "", 1).isdigit():
            t = now - d
            return f"{int(t)}.{int((t % 1) * 1e9):09d}"
    except ValueError:
        pass
    if value.replace(".", "", 1).isdigit():
        return value
    t = parse_rfc3339(value if "T" in value else value + "T00:00:00Z")
    if t is None:
        raise CLIError(f'failed to parse value as time or duration: "{value}"')
    return f"{int(t)}.{int(round((t % 1) * 1e9)):09d}"


def run_logs(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli.streams import copy_raw, demux
    info = ctx.client.get_json(f"/containers/{args[0]}/json")
    params = {"stdout": 1, "stderr": 1, "since": time_param(opts.since) or None,
              "until": time_param(opts.until) or None, "timestamps": 1 if opts.timestamps else None,
              "follow": 1 if opts.follow else None, "tail": opts.tail or "all",
              "details": 1 if opts.details else None}
    resp = ctx.client.request("GET", f"/containers/{info['Id']}/logs", params)
    read = resp.read_chunk
    if (info.get("Config") or {}).get("Tty"):
        copy_raw(read, sys.stdout.buffer)
    else:
        demux(read, sys.stdout.buffer, sys.stderr.buffer)
    resp.close()
    return 0


LOGS = F.Command("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container", [
    F.Flag("details", "", B, False, "Show extra details provided to logs"),
    F.Flag("follow", "f", B, False, "Follow log output"),
    F.Flag("since", "", S, "", "Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
    F.Flag("tail", "n", S, "all", "Number of lines to show from the end of the logs"),
    F.Flag("timestamps", "t", B, False, "Show timestamps"),
    F.Flag("until", "", S, "", "Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)"),
], min_args=1, max_args=1, run=run_logs)


# -- lifecycle ----------------------------------------------------------------------------------
def _post(ctx: Context, path: str, params: Any = None) -> None:
    ctx.client.request("POST", path, params).read()


def run_stop(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"t": opts.time if "time" in opts.changed else (opts.timeout if "timeout" in opts.changed else None),
              "signal": opts.signal or None}
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/stop", params))


_STOP_FLAGS = [
    F.Flag("signal", "s", S, "", "Signal to send to the container"),
    F.Flag("timeout", "t", I, 0, "Seconds to wait before killing the container"),
    F.Flag("time", "", I, 0, "Seconds to wait before killing the container (deprecated: use --timeout)", hidden=True),
]
STOP = F.Command("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
                 _STOP_FLAGS, min_args=1, run=run_stop)


def run_restart(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"t": opts.timeout if "timeout" in opts.changed else None, "signal": opts.signal or None}
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/restart", params))


RESTART = F.Command("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
                    _STOP_FLAGS, min_args=1, run=run_restart)


def run_kill(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"signal": opts.signal or None}
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/kill", params))


KILL = F.Command("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers", [
    F.Flag("signal", "s", S, "", "Signal to send to the container"),
], min_args=1, run=run_kill)


def run_pause(ctx: Context, opts: Any, args: list[str]) -> int:
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/pause"))


def run_unpause(ctx: Context, opts: Any, args: list[str]) -> int:
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/unpause"))


PAUSE = F.Command("pause", "CONTAINER [CONTAINER...]", "Pause all processes within one or more containers",
                  [], min_args=1, run=run_pause)
UNPAUSE = F.Command("unpause", "CONTAINER [CONTAINER...]",
                    "Unpause all processes within one or more containers", [], min_args=1, run=run_unpause)


def run_rm(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"force": 1 if opts.force else None, "v": 1 if opts.volumes else None,
              "link": 1 if opts.link else None}
    return for_each(ctx, args,
                    lambda n: ctx.client.request("DELETE", f"/containers/{n.strip('/')}", params).read(),
                    ignore=lambda e: e.not_found and opts.force)


RM = F.Command("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", [
    F.Flag("force", "f", B, False, "Force the removal of a running container (uses SIGKILL)"),
    F.Flag("link", "l", B, False, "Remove the specified link"),
    F.Flag("volumes", "v", B, False, "Remove anonymous volumes associated with the container"),
], min_args=1, run=run_rm)


def run_start(ctx: Context, opts: Any, args: list[str]) -> int:
    if opts.attach or opts.interactive:
        if len(args) > 1:
            raise CLIError("you cannot start and attach multiple containers at once")
        from cli.commands.run import RunError, attach_and_run
        info = ctx.client.get_json(f"/containers/{args[0]}/json")
        config = info.get("Config") or {}
        stdin = bool(opts.interactive and config.get("OpenStdin"))
        try:
            return attach_and_run(ctx, info["Id"], bool(config.get("Tty")), stdin,
                                  bool((info.get("HostConfig") or {}).get("AutoRemove")),
                                  True, opts.detach_keys, "start")
        except RunError as e:
            raise CLIError(e.message.removeprefix("docker: ").split("\n\nRun '")[0], 1) from None
    return for_each(ctx, args, lambda n: _post(ctx, f"/containers/{n}/start"),
                    summary="failed to start containers")


START = F.Command("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers", [
    F.Flag("attach", "a", B, False, "Attach STDOUT/STDERR and forward signals"),
    F.Flag("detach-keys", "", S, "", "Override the key sequence for detaching a container"),
    F.Flag("interactive", "i", B, False, "Attach container's STDIN"),
], min_args=1, run=run_start)


def run_wait(ctx: Context, opts: Any, args: list[str]) -> int:
    def wait(name: str) -> None:
        result = ctx.client.request("POST", f"/containers/{name}/wait").json() or {}
        err = result.get("Error")
        if err and err.get("Message"):
            raise CLIError(err["Message"])
        ctx.line(str(result.get("StatusCode", 0)))
    return for_each(ctx, args, wait, echo=False)


WAIT = F.Command("wait", "CONTAINER [CONTAINER...]",
                 "Block until one or more containers stop, then print their exit codes", [],
                 min_args=1, run=run_wait)


def run_rename(ctx: Context, opts: Any, args: list[str]) -> int:
    old, new = args[0].strip(), args[1].strip()
    if not old or not new:
        raise CLIError("Error: Neither old nor new names may be empty")
    try:
        _post(ctx, f"/containers/{old}/rename", {"name": new})
    except CLIError as e:
        raise CLIError(f"{e.message}\nError: failed to rename container named {old}") from None
    return 0


RENAME = F.Command("rename", "CONTAINER NEW_NAME", "Rename a container", [], min_args=2, max_args=2,
                   run=run_rename)


# -- exec / attach ------------------------------------------------------------------------------
def run_exec(ctx: Context, opts: Any, args: list[str]) -> int:
    import os
    from cli.containeropts import parse_env
    from cli.streams import DetachedError, pump
    from cli.tty import RawMode, parse_detach_keys, terminal_size
    from cli.tty import detach_keys as resolve_keys

    name, cmd = args[0], args[1:]
    client = ctx.client
    if opts.tty and opts.interactive and not os.isatty(sys.stdin.fileno()):
        raise CLIError("the input device is not a TTY")
    info = client.get_json(f"/containers/{name}/json")
    size = terminal_size(sys.stdout.fileno()) if opts.tty else None
    body = {"User": opts.user, "Privileged": bool(opts.privileged), "Tty": bool(opts.tty),
            "ConsoleSize": list(size) if size else None,
            "AttachStdin": bool(opts.interactive) and not opts.detach,
            "AttachStderr": not opts.detach, "AttachStdout": not opts.detach,
            "DetachKeys": opts.detach_keys, "Env": parse_env(opts) or None,
            "WorkingDir": opts.workdir, "Cmd": cmd}
    created = client.post_json(f"/containers/{info['Id']}/exec", None, body)
    eid = created["Id"]
    if opts.detach:
        client.request("POST", f"/exec/{eid}/start", json_body={"Detach": True, "Tty": bool(opts.tty),
                                                                  "ConsoleSize": body["ConsoleSize"]}).read()
        return 0
    sock, fp = client.hijack(f"/exec/{eid}/start", None,
                             {"Detach": False, "Tty": bool(opts.tty), "ConsoleSize": body["ConsoleSize"]})
    stdin_fd = sys.stdin.fileno() if opts.interactive else None
    if opts.tty and stdin_fd is not None and os.isatty(stdin_fd):
        from cli.commands.run import monitor_resize
        monitor_resize(client, f"/exec/{eid}/resize", sys.stdout.fileno())
    raw = RawMode(stdin_fd) if (opts.tty and stdin_fd is not None) else None
    keys = parse_detach_keys(resolve_keys(opts.detach_keys))
    try:
        if raw:
            with raw:
                pump(sock, fp, True, stdin_fd, keys)
        else:
            pump(sock, fp, bool(opts.tty), stdin_fd, keys if stdin_fd is not None and opts.tty else b"")
    except DetachedError:
        return 0
    result = client.get_json(f"/exec/{eid}/json")
    return int(result.get("ExitCode") or 0)


EXEC = F.Command("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]", "Execute a command in a running container", [
    F.Flag("detach", "d", B, False, "Detached mode: run command in the background"),
    F.Flag("detach-keys", "", S, "", "Override the key sequence for detaching a container"),
    F.Flag("env", "e", L, help="Set environment variables"),
    F.Flag("env-file", "", L, help="Read in a file of environment variables"),
    F.Flag("interactive", "i", B, False, "Keep STDIN open even if not attached"),
    F.Flag("privileged", "", B, False, "Give extended privileges to the command"),
    F.Flag("tty", "t", B, False, "Allocate a pseudo-TTY"),
    F.Flag("user", "u", S, "", "Username or UID (format: \"<name|uid>[:<group|gid>]\")"),
    F.Flag("workdir", "w", S, "", "Working directory inside the container"),
], min_args=2, interspersed=False, run=run_exec)


def run_attach(ctx: Context, opts: Any, args: list[str]) -> int:
    import os
    from cli.streams import DetachedError, pump
    from cli.tty import RawMode, parse_detach_keys
    from cli.tty import detach_keys as resolve_keys

    client = ctx.client
    info = client.get_json(f"/containers/{args[0]}/json")
    state = info.get("State") or {}
    if not state.get("Running"):
        raise CLIError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CLIError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CLIError("You cannot attach to a restarting container, wait until it is running")
    config = info.get("Config") or {}
    tty = bool(config.get("Tty"))
    stdin = bool(config.get("OpenStdin")) and not opts.no_stdin
    if tty and stdin and not os.isatty(sys.stdin.fileno()):
        raise CLIError("the input device is not a TTY")
    cid = info["Id"]
    sock, fp = client.hijack(f"/containers/{cid}/attach",
                             {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1, "stderr": 1,
                              "detachKeys": opts.detach_keys or None})
    if opts.sig_proxy and not tty:
        from cli.commands.run import forward_signals
        forward_signals(client, cid)
    stdin_fd = sys.stdin.fileno() if stdin else None
    if tty and os.isatty(sys.stdout.fileno()):
        from cli.commands.run import monitor_resize
        monitor_resize(client, f"/containers/{cid}/resize", sys.stdout.fileno())
    keys = parse_detach_keys(resolve_keys(opts.detach_keys))
    try:
        if tty and stdin_fd is not None:
            with RawMode(stdin_fd):
                pump(sock, fp, tty, stdin_fd, keys)
        else:
            pump(sock, fp, tty, stdin_fd, keys if stdin_fd is not None else b"")
    except DetachedError:
        return 0
    result = client.request("POST", f"/containers/{cid}/wait").json() or {}
    return int(result.get("StatusCode") or 0)


ATTACH = F.Command("attach", "[OPTIONS] CONTAINER",
                   "Attach local standard input, output, and error streams to a running container", [
                       F.Flag("detach-keys", "", S, "", "Override the key sequence for detaching a container"),
                       F.Flag("no-stdin", "", B, False, "Do not attach STDIN"),
                       F.Flag("sig-proxy", "", B, True, "Proxy all received signals to the process"),
                   ], min_args=1, max_args=1, run=run_attach)


# -- inspection ---------------------------------------------------------------------------------
def print_inspect(ctx: Context, items: list[Any], form: str, raw: list[str] | None = None) -> None:
    """Raw JSON list (4-space indent, server key order) or one template rendering per item.

    As the CLI's inspectors flush: an empty template result prints one newline, no items "[]".
    """
    if form:
        if form == "json":
            form = "{{json .}}"
        try:
            tmpl = fmt.Template(fmt.prepare_format(form), strict=True)
        except fmt.TemplateError as e:
            raise CLIError(f"template parsing error: {e.message}", 64) from None
        text = ""
        try:
            for item in items:
                text += tmpl.render(item) + "\n"
        except fmt.TemplateError as e:
            ctx.write(text or "\n")
            raise CLIError(f"template parsing error: {e.message}") from None
        ctx.write(text or "\n")
        return
    if raw is not None:
        # As the CLI: the daemon's own bytes, joined into a list and re-indented (json.Indent).
        ctx.line(fmt.go_indent("[" + ",".join(raw) + "]") if raw else "[]")
        return
    ctx.line(json.dumps(items, indent=4, ensure_ascii=False) if items else "[]")


def fetch_raw(ctx: Context, path: str, params: Any = None) -> tuple[Any, str]:
    """GET an object: (decoded JSON, the response text as sent)."""
    text = ctx.client.request("GET", path, params).read().decode()
    return json.loads(text), text


def inspect_each(ctx: Context, names: list[str], fetch: Callable[[str], tuple[Any, str]], form: str) -> int:
    items, raws, errors = [], [], []
    for n in names:
        try:
            item, text = fetch(n)
        except APIError as e:
            errors.append(e.message)
            continue
        items.append(item)
        raws.append(text)
    print_inspect(ctx, items, form, raws)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


def run_container_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"size": 1 if opts.size else None}
    return inspect_each(ctx, args, lambda n: fetch_raw(ctx, f"/containers/{n}/json", params), opts.format)


INSPECT_FLAGS = [F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP)]
INSPECT = F.Command("inspect", "[OPTIONS] CONTAINER [CONTAINER...]",
                    "Display detailed information on one or more containers",
                    INSPECT_FLAGS + [F.Flag("size", "s", B, False, "Display total file sizes")],
                    min_args=1, run=run_container_inspect)


def run_top(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"ps_args": " ".join(args[1:])} if len(args) > 1 else None
    top = ctx.client.get_json(f"/containers/{args[0]}/top", params) or {}
    lines = ["\t".join(top.get("Titles") or [])]
    lines += ["\t".join(p) for p in top.get("Processes") or []]
    ctx.write(fmt.tabwrite("\n".join(lines) + "\n", minwidth=20, padding=3))
    return 0


TOP = F.Command("top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container", [],
                min_args=1, interspersed=False, run=run_top)


def run_port(ctx: Context, opts: Any, args: list[str]) -> int:
    info = ctx.client.get_json(f"/containers/{args[0]}/json")
    ports = ((info.get("NetworkSettings") or {}).get("Ports") or {})
    if len(args) > 1:
        port, _, proto = args[1].partition("/")
        key = f"{port}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if not bindings:
            raise CLIError(f"Error: No public port '{args[1]}' published for {args[0]}")
        for b in bindings:
            ctx.line(_join_host_port(b.get("HostIp") or "0.0.0.0", int(b.get("HostPort") or 0)))
        return 0
    out = []
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k.split("/")[-1])):
        for b in ports[key] or []:
            out.append(f"{key} -> {_join_host_port(b.get('HostIp') or '0.0.0.0', int(b.get('HostPort') or 0))}")
    for line in out:
        ctx.line(line)
    return 0


PORT = F.Command("port", "CONTAINER [PRIVATE_PORT[/PROTO]]",
                 "List port mappings or a specific mapping for the container", [],
                 min_args=1, max_args=2, run=run_port)


def run_export(ctx: Context, opts: Any, args: list[str]) -> int:
    import os
    if not opts.output and os.isatty(sys.stdout.fileno()):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = ctx.client.request("GET", f"/containers/{args[0]}/export")
    write_stream(resp, opts.output)
    return 0


def write_stream(resp: Any, path: str) -> None:
    """Copy a response body to a file (written atomically via a temp name) or stdout."""
    import os
    if not path:
        out = sys.stdout.buffer
        for chunk in resp:
            out.write(chunk)
        out.flush()
        return
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            for chunk in resp:
                f.write(chunk)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise CLIError(f"failed to save: {e}") from None


EXPORT = F.Command("export", "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", [
    F.Flag("output", "o", S, "", "Write to a file, instead of STDOUT"),
], min_args=1, max_args=1, run=run_export)


def confirm(ctx: Context, warning: str) -> bool:
    """Docker's prune prompt; anything but y/Y declines."""
    ctx.out.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    ctx.out.flush()
    answer = sys.stdin.readline().strip()
    return answer.lower() in ("y", "yes")


def run_prune(ctx: Context, opts: Any, args: list[str]) -> int:
    if not opts.force and not confirm(ctx, "WARNING! This will remove all stopped containers."):
        return 0
    report = ctx.client.request("POST", "/containers/prune", {"filters": filters_param(opts.filter)}).json() or {}
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        ctx.line("Deleted Containers:")
        for d in deleted:
            ctx.line(d)
        ctx.line()
    ctx.line(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")
    return 0


PRUNE = F.Command("prune", "[OPTIONS]", "Remove all stopped containers", [
    F.Flag("filter", "", L, help="Provide filter values (e.g. \"until=<timestamp>\")", type_name="filter"),
    F.Flag("force", "f", B, False, "Do not prompt for confirmation"),
], max_args=0, run=run_prune)


# -- stats --------------------------------------------------------------------------------------
STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O",
                 "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}
STATS_DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
                 "{{.BlockIO}}\t{{.PIDs}}")


def stats_row(s: dict, name_hint: str) -> fmt.Row:
    """Compute the CLI's stats columns from one /stats sample (cgroup v1 and v2 memory accounting)."""
    from cli.units import bytes_size
    cpu, pre = s.get("cpu_stats") or {}, s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get("total_usage", 0)
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    stats = mem.get("stats") or {}
    usage = mem.get("usage") or 0
    if "total_inactive_file" in stats and stats["total_inactive_file"] < usage:
        usage -= stats["total_inactive_file"]
    elif "inactive_file" in stats and stats["inactive_file"] < usage:
        usage -= stats["inactive_file"]
    limit = mem.get("limit") or 0
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rx = tx = 0
    for n in (s.get("networks") or {}).values():
        rx += n.get("rx_bytes", 0)
        tx += n.get("tx_bytes", 0)
    blk_r = blk_w = 0
    for e in ((s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []):
        op = (e.get("op") or "").lower()
        if op == "read":
            blk_r += e.get("value", 0)
        elif op == "write":
            blk_w += e.get("value", 0)
    name = (s.get("name") or name_hint).lstrip("/")
    cid = s.get("id") or ""
    return fmt.Row(Container=name_hint, ID=cid[:12], Name=name, CPUPerc=f"{cpu_pct:.2f}%",
                   MemUsage=f"{bytes_size(usage)} / {bytes_size(limit)}", MemPerc=f"{mem_pct:.2f}%",
                   NetIO=f"{human_size(rx)} / {human_size(tx)}", BlockIO=f"{human_size(blk_r)} / {human_size(blk_w)}",
                   PIDs=str((s.get("pids_stats") or {}).get("current", 0)))


def run_stats(ctx: Context, opts: Any, args: list[str]) -> int:
    names = args or [c["Id"][:12] for c in ctx.client.get_json("/containers/json", {"all": 1 if opts.all else None}) or []]
    from cli.config import setting
    form = opts.format or setting("statsFormat") or STATS_DEFAULT
    if form == "table":
        form = STATS_DEFAULT

    def sample() -> list[fmt.Row]:
        rows = []
        for n in names:
            s = ctx.client.get_json(f"/containers/{n}/stats", {"stream": 0})
            rows.append(stats_row(s, n))
        return rows

    if opts.no_stream:
        ctx.write(fmt.render(form, sample(), STATS_HEADERS))
        return 0
    try:
        while True:
            text = fmt.render(form, sample(), STATS_HEADERS)
            ctx.write("\x1b[2J\x1b[H" + text)
            ctx.out.flush()
            time.sleep(1)
    except KeyboardInterrupt:
        return 0


STATS = F.Command("stats", "[OPTIONS] [CONTAINER...]",
                  "Display a live stream of container(s) resource usage statistics", [
                      F.Flag("all", "a", B, False, "Show all containers (default shows just running)"),
                      F.Flag("format", "", S, "", "Format output using a custom template"),
                      F.Flag("no-stream", "", B, False, "Disable streaming stats and only pull the first result"),
                      F.Flag("no-trunc", "", B, False, "Do not truncate output"),
                  ], run=run_stats)


# -- commit / diff / update ---------------------------------------------------------------------
def run_commit(ctx: Context, opts: Any, args: list[str]) -> int:
    params: list[tuple[str, Any]] = [("container", args[0])]
    if len(args) > 1:
        from cli import refs
        ref = refs.parse(args[1], default_tag=False)
        if ref.digest:
            raise CLIError("refusing to create a tag with a digest reference")
        params += [("repo", ref.name), ("tag", ref.tag or "")]
    params += [("comment", opts.message or None), ("author", opts.author or None),
               ("pause", "1" if opts.pause else "0")]
    params += [("changes", c) for c in opts.change or []]
    result = ctx.client.request("POST", "/commit", params, json_body={}).json() or {}
    ctx.line(result.get("Id", ""))
    return 0


COMMIT = F.Command("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", [
    F.Flag("author", "a", S, "", "Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")"),
    F.Flag("change", "c", L, help="Apply Dockerfile instruction to the created image"),
    F.Flag("message", "m", S, "", "Commit message"),
    F.Flag("pause", "p", B, True, "Pause container during commit"),
], min_args=1, max_args=2, run=run_commit)


def run_diff(ctx: Context, opts: Any, args: list[str]) -> int:
    changes = ctx.client.get_json(f"/containers/{args[0]}/changes") or []
    kinds = {0: "C", 1: "A", 2: "D"}
    for c in changes:
        ctx.line(f"{kinds.get(c.get('Kind'), '?')} {c.get('Path', '')}")
    return 0


DIFF = F.Command("diff", "CONTAINER", "Inspect changes to files or directories on a container's filesystem",
                 [], min_args=1, max_args=1, run=run_diff)


def run_update(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli.containeropts import parse_restart
    from cli.units import parse_bytes
    if not opts.changed:
        raise CLIError("you must provide one or more flags when using this command")
    body: dict[str, Any] = {}

    def size(flag: str) -> int:
        text = opts[flag.replace("-", "_")]
        if text == "-1":
            return -1
        try:
            return parse_bytes(text)
        except ValueError:
            raise CLIError(f'invalid argument "{text}" for "--{flag}" flag: invalid size: \'{text}\'') from None

    for flag, key in (("memory", "Memory"), ("memory-swap", "MemorySwap"), ("memory-reservation", "MemoryReservation")):
        if flag in opts.changed:
            body[key] = size(flag)
    for flag, key in (("cpu-shares", "CpuShares"), ("cpu-period", "CpuPeriod"), ("cpu-quota", "CpuQuota"),
                      ("pids-limit", "PidsLimit"), ("blkio-weight", "BlkioWeight")):
        if flag in opts.changed:
            body[key] = opts[flag.replace("-", "_")]
    for flag, key in (("cpuset-cpus", "CpusetCpus"), ("cpuset-mems", "CpusetMems")):
        if flag in opts.changed:
            body[key] = opts[flag.replace("-", "_")]
    if "cpus" in opts.changed:
        try:
            body["NanoCpus"] = int(round(float(opts.cpus) * 1e9))
        except ValueError:
            raise CLIError(f'invalid argument "{opts.cpus}" for "--cpus" flag: failed to parse {opts.cpus} as a rational number') from None
    if "restart" in opts.changed:
        body["RestartPolicy"] = parse_restart(opts.restart)

    def update(name: str) -> None:
        result = ctx.client.post_json(f"/containers/{name}/update", None, body) or {}
        for w in result.get("Warnings") or []:
            ctx.err.write(f"{w}\n")
    return for_each(ctx, args, update)


UPDATE = F.Command("update", "[OPTIONS] CONTAINER [CONTAINER...]", "Update configuration of one or more containers", [
    F.Flag("blkio-weight", "", I, 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)", type_name="uint16"),
    F.Flag("cpu-period", "", I, 0, "Limit CPU CFS (Completely Fair Scheduler) period"),
    F.Flag("cpu-quota", "", I, 0, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    F.Flag("cpu-shares", "c", I, 0, "CPU shares (relative weight)"),
    F.Flag("cpus", "", S, "", "Number of CPUs", type_name="decimal"),
    F.Flag("cpuset-cpus", "", S, "", "CPUs in which to allow execution (0-3, 0,1)"),
    F.Flag("cpuset-mems", "", S, "", "MEMs in which to allow execution (0-3, 0,1)"),
    F.Flag("memory", "m", S, "", "Memory limit", type_name="bytes"),
    F.Flag("memory-reservation", "", S, "", "Memory soft limit", type_name="bytes"),
    F.Flag("memory-swap", "", S, "", "Swap limit equal to memory plus swap: -1 to enable unlimited swap", type_name="bytes"),
    F.Flag("pids-limit", "", I, 0, "Tune container pids limit (set -1 for unlimited)"),
    F.Flag("restart", "", S, "", "Restart policy to apply when a container exits"),
], min_args=1, run=run_update)
