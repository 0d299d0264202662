"""System commands: version, info, inspect, events, df, prune, login, logout."""
from __future__ import annotations

import sys
import time

from cli import flags as F
from cli import formatter as fmt
from cli import jsoncodec as json
from cli.commands.container import confirm, fetch_raw, filters_param, print_inspect
from cli.errors import APIError, CLIError
from cli.units import bytes_size, human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context

S, L, B, I = F.STR, F.LIST, F.BOOL, F.INT


# -- version ------------------------------------------------------------------------------------
def _client_version(ctx: Context) -> dict:
    import os

    from cli.client import MAX_API_VERSION
    from cli.main import CLIENT_VERSION
    try:
        api = ctx.client.negotiate()
    except CLIError:
        api = MAX_API_VERSION
    return {"Platform": {"Name": "pydocker"}, "Version": CLIENT_VERSION, "ApiVersion": api,
            "DefaultAPIVersion": MAX_API_VERSION, "GitCommit": "", "GoVersion": "python{}.{}.{}".format(*sys.version_info[:3]),
            "Os": "linux", "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
            "BuildTime": "", "Context": "default"}


def run_version(ctx: Context, opts: Any, args: list[str]) -> int:
    client = _client_version(ctx)
    server, err = None, None
    try:
        server = ctx.client.get_json("/version")
    except CLIError as e:
        err = e
    if opts.format:
        ctx.line(fmt.Template(fmt.prepare_format(opts.format)).render({"Client": client, "Server": server}))
        if err:
            raise err
        return 0
    api = client["ApiVersion"]
    lines = [f"Client: {client['Platform']['Name']}",
             f" Version:\t{client['Version']}",
             f" API version:\t{api}" + (f" (downgraded from {client['DefaultAPIVersion']})"
                                        if api != client["DefaultAPIVersion"] else ""),
             f" Python version:\t{client['GoVersion']}",
             f" OS/Arch:\t{client['Os']}/{client['Arch']}",
             f" Context:\t{client['Context']}"]
    if server is not None:
        name = (server.get("Platform") or {}).get("Name") or ""
        lines += ["", "Server:" + (f" {name}" if name else "")]
        components = server.get("Components") or [{
            "Name": "Engine", "Version": server.get("Version", ""),
            "Details": {k: str(server.get(k, "")) for k in ("ApiVersion", "MinAPIVersion", "GoVersion",
                                                             "GitCommit", "BuildTime", "Os", "Arch")}
            | {"Experimental": str(server.get("Experimental", False)).lower()}}]
        for comp in components:
            d = comp.get("Details") or {}
            lines.append(f" {comp.get('Name')}:")
            if comp.get("Name") == "Engine":
                lines += [f"  Version:\t{comp.get('Version', '')}",
                          f"  API version:\t{d.get('ApiVersion', '')} (minimum version {d.get('MinAPIVersion', '')})",
                          f"  Go version:\t{d.get('GoVersion', '')}",
                          f"  Git commit:\t{d.get('GitCommit', '')}",
                          f"  Built:\t{_ansic(d.get('BuildTime', ''))}",
                          f"  OS/Arch:\t{d.get('Os', '')}/{d.get('Arch', '')}",
                          f"  Experimental:\t{d.get('Experimental', '')}"]
            else:
                lines.append(f"  Version:\t{comp.get('Version', '')}")
                lines += [f"  {k}:\t{d[k]}" for k in sorted(d)]
    ctx.write(fmt.tabwrite("\n".join(lines) + "\n", minwidth=20, padding=1))
    if err:
        raise err
    return 0


def _ansic(value: str) -> str:
    """The CLI reprints an RFC3339 build time in time.ANSIC ("Thu May  7 21:09:36 2026")."""
    from cli.units import parse_rfc3339
    t = parse_rfc3339(value)
    return time.strftime("%a %b %e %H:%M:%S %Y", time.localtime(t)) if t is not None else value


VERSION = F.Command("version", "[OPTIONS]", "Show the Docker version information", [
    F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
], max_args=0, run=run_version)


# -- info ---------------------------------------------------------------------------------------
def _yes(v: Any) -> str:
    return "true" if v else "false"


def format_info(info: dict) -> tuple[list[str], list[str]]:
    """prettyPrintServerInfo: the `Server:` section lines, and warnings for stderr."""
    o: list[str] = []
    add = o.append
    add(f" Containers: {info.get('Containers', 0)}")
    add(f"  Running: {info.get('ContainersRunning', 0)}")
    add(f"  Paused: {info.get('ContainersPaused', 0)}")
    add(f"  Stopped: {info.get('ContainersStopped', 0)}")
    add(f" Images: {info.get('Images', 0)}")
    add(f" Server Version: {info.get('ServerVersion', '')}")
    add(f" Storage Driver: {info.get('Driver', '')}")
    for pair in info.get("DriverStatus") or []:
        if len(pair) == 2:
            add(f"  {pair[0]}: {pair[1]}")
    add(f" Logging Driver: {info.get('LoggingDriver', '')}")
    add(f" Cgroup Driver: {info.get('CgroupDriver', '')}")
    add(f" Cgroup Version: {info.get('CgroupVersion', '')}")
    plugins = info.get("Plugins") or {}
    add(" Plugins:")
    add(f"  Volume: {' '.join(plugins.get('Volume') or [])}")
    add(f"  Network: {' '.join(plugins.get('Network') or [])}")
    if plugins.get("Authorization"):
        add(f"  Authorization: {' '.join(plugins['Authorization'])}")
    add(f"  Log: {' '.join(plugins.get('Log') or [])}")
    swarm = info.get("Swarm") or {}
    add(f" Swarm: {swarm.get('LocalNodeState', 'inactive')}")
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        add(f" Runtimes: {' '.join(sorted(runtimes))}")
        add(f" Default Runtime: {info.get('DefaultRuntime', '')}")
    if info.get("OSType") == "linux":
        add(f" Init Binary: {info.get('InitBinary', '')}")
        for label, key in (("containerd version", "ContainerdCommit"), ("runc version", "RuncCommit"),
                           ("init version", "InitCommit")):
            add(f" {label}: {(info.get(key) or {}).get('ID', '')}")
        sec = info.get("SecurityOptions") or []
        if sec:
            add(" Security Options:")
            for opt in sec:
                for kv in opt.split(","):
                    k, eq, v = kv.partition("=")
                    if not eq:
                        add(f"  {k}")
                    elif k == "name":
                        add(f"  {v}")
                    else:
                        add(f"   {k[:1].upper() + k[1:]}: {v}")
        add(f" Kernel Version: {info.get('KernelVersion', '')}")
    add(f" Operating System: {info.get('OperatingSystem', '')}")
    add(f" OSType: {info.get('OSType', '')}")
    add(f" Architecture: {info.get('Architecture', '')}")
    add(f" CPUs: {info.get('NCPU', 0)}")
    add(f" Total Memory: {bytes_size(info.get('MemTotal') or 0)}")
    add(f" Name: {info.get('Name', '')}")
    add(f" ID: {info.get('ID', '')}")
    add(f" Docker Root Dir: {info.get('DockerRootDir', '')}")
    add(f" Debug Mode: {_yes(info.get('Debug'))}")
    for label, key in (("HTTP Proxy", "HttpProxy"), ("HTTPS Proxy", "HttpsProxy"), ("No Proxy", "NoProxy")):
        if info.get(key):
            add(f" {label}: {info[key]}")
    if info.get("Username"):
        add(f" Username: {info['Username']}")
    if info.get("Labels"):
        add(" Labels:")
        o.extend(f"  {lbl}" for lbl in info["Labels"])
    add(f" Experimental: {_yes(info.get('ExperimentalBuild'))}")
    reg = info.get("RegistryConfig") or {}
    insecure = list(reg.get("InsecureRegistryCIDRs") or [])
    insecure += [n for n, c in (reg.get("IndexConfigs") or {}).items() if not c.get("Secure", True)]
    if insecure:
        add(" Insecure Registries:")
        o.extend(f"  {r}" for r in insecure)
    if reg.get("Mirrors"):
        add(" Registry Mirrors:")
        o.extend(f"  {m}" for m in reg["Mirrors"])
    add(f" Live Restore Enabled: {_yes(info.get('LiveRestoreEnabled'))}")
    return o, list(info.get("Warnings") or [])


def run_info(ctx: Context, opts: Any, args: list[str]) -> int:
    if opts.format:
        info = ctx.client.get_json("/info")
        form = "{{json .}}" if opts.format == "json" else opts.format
        ctx.line(fmt.Template(fmt.prepare_format(form)).render(info))
        return 0
    ctx.line("Client:")
    from cli.main import CLIENT_VERSION
    ctx.line(f" Version:    {CLIENT_VERSION}")
    ctx.line(" Context:    default")
    ctx.line(f" Debug Mode: {_yes(ctx.debug)}")
    ctx.line()
    ctx.line("Server:")
    try:
        info = ctx.client.get_json("/info")
    except CLIError as e:
        ctx.out.flush()
        raise CLIError(e.message, 1) from None
    lines, warnings = format_info(info)
    ctx.write("\n".join(lines) + "\n\n")
    ctx.out.flush()
    for w in warnings:
        ctx.err.write(w + "\n")
    return 0


INFO = F.Command("info", "[OPTIONS]", "Display system-wide information", [
    F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
], max_args=0, run=run_info)


# -- inspect (any object) -----------------------------------------------------------------------
_INSPECT_PATHS = {"container": "/containers/{}/json", "image": "/images/{}/json",
                  "network": "/networks/{}", "volume": "/volumes/{}"}


def run_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    kinds = [opts.type] if opts.type else ["container", "image", "network", "volume"]
    if opts.type and opts.type not in _INSPECT_PATHS:
        raise CLIError(f'"{opts.type}" is not a valid value for --type')
    items, raws, errors = [], [], []
    for name in args:
        for kind in kinds:
            params = {"size": 1} if kind == "container" and opts.size else None
            try:
                item, text = fetch_raw(ctx, _INSPECT_PATHS[kind].format(name), params)
            except APIError as e:
                if not opts.type and (e.not_found or "not supported" in e.explanation
                                      or "invalid reference format" in e.explanation):
                    continue
                errors.append(e.message)
                break
            items.append(item)
            raws.append(text)
            break
        else:
            errors.append(f"Error: No such object: {name}")
    print_inspect(ctx, items, opts.format, raws)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


INSPECT = F.Command("inspect", "[OPTIONS] NAME|ID [NAME|ID...]", "Return low-level information on Docker objects", [
    F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
    F.Flag("size", "s", B, False, "Display total file sizes if the type is container"),
    F.Flag("type", "", S, "", "Only inspect objects of the given type"),
], min_args=1, run=run_inspect)


# -- events -------------------------------------------------------------------------------------
def format_event(ev: dict) -> str:
    """prettyPrintEvent: `<RFC3339Nano> <type> <action> <id> (k=v, …)`."""
    ns = ev.get("timeNano") or (ev.get("time") or 0) * 1_000_000_000
    secs, nanos = divmod(int(ns), 1_000_000_000)
    t = time.localtime(secs)
    off = time.strftime("%z", t)
    tz = "Z" if off in ("+0000", "-0000") else f"{off[:3]}:{off[3:]}"
    out = f"{time.strftime('%Y-%m-%dT%H:%M:%S', t)}.{nanos:09d}{tz} " if ns else ""
    actor = ev.get("Actor") or {}
    out += f"{ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        out += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return out


def run_events(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli.commands.container import time_param
    params = {"since": time_param(opts.since) or None, "until": time_param(opts.until) or None,
              "filters": filters_param(opts.filter)}
    resp = ctx.client.request("GET", "/events", params)
    tmpl = None
    if opts.format:
        tmpl = fmt.Template(fmt.prepare_format("{{json .}}" if opts.format == "json" else opts.format))
    try:
        for ev in resp.iter_json():
            ctx.line(tmpl.render(ev) if tmpl else format_event(ev))
            ctx.out.flush()
    except KeyboardInterrupt:
        return 0
    return 0


EVENTS = F.Command("events", "[OPTIONS]", "Get real time events from the server", [
    F.Flag("filter", "f", L, help="Filter output based on conditions provided", type_name="filter"),
    F.Flag("format", "", S, "", F.INSPECT_FORMAT_HELP),
    F.Flag("since", "", S, "", "Show all events created since timestamp"),
    F.Flag("until", "", S, "", "Stream events until this timestamp"),
], max_args=0, run=run_events)


# -- df / prune ---------------------------------------------------------------------------------
def run_df(ctx: Context, opts: Any, args: list[str]) -> int:
    du = ctx.client.get_json("/system/df") or {}
    images = du.get("Images") or []
    containers = du.get("Containers") or []
    volumes = du.get("Volumes") or []
    cache = du.get("BuildCache") or []

    def hs(n: float) -> str:
        return human_size(n, 4)  # units.HumanSize: four significant digits here

    def pct(part: float, total: float) -> str:
        return f" ({int(part * 100 / total)}%)" if total else ""

    # as the docker CLI: the images' size is LayersSize (a shared layer once); what is reclaimable is that
    # minus what the images in use hold alone (Size - SharedSize, unknown ones left out)
    img_size = du.get("LayersSize") or 0
    img_active = sum(1 for i in images if (i.get("Containers") or 0) > 0)
    img_recl = img_size - sum(i.get("Size", 0) - i.get("SharedSize", 0) for i in images
                              if (i.get("Containers") or 0) != 0 and i.get("Size", 0) != -1
                              and i.get("SharedSize", 0) != -1)
    c_size = sum(c.get("SizeRw", 0) or 0 for c in containers)
    c_active = sum(1 for c in containers if c.get("State") in ("running", "paused", "restarting"))
    c_recl = sum(c.get("SizeRw", 0) or 0 for c in containers if c.get("State") not in ("running", "paused", "restarting"))
    v_size = sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes)
    v_active = sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0)
    v_recl = sum(max((v.get("UsageData") or {}).get("Size", 0), 0) for v in volumes
                 if (v.get("UsageData") or {}).get("RefCount", 0) <= 0)
    b_size = sum(b.get("Size", 0) for b in cache)
    b_recl = sum(b.get("Size", 0) for b in cache if not b.get("InUse") and not b.get("Shared"))
    rows = [
        fmt.Row(Type="Images", TotalCount=str(len(images)), Active=str(img_active), Size=hs(img_size),
                Reclaimable=hs(img_recl) + pct(img_recl, img_size)),
        fmt.Row(Type="Containers", TotalCount=str(len(containers)), Active=str(c_active), Size=hs(c_size),
                Reclaimable=hs(c_recl) + pct(c_recl, c_size)),
        fmt.Row(Type="Local Volumes", TotalCount=str(len(volumes)), Active=str(v_active), Size=hs(v_size),
                Reclaimable=hs(v_recl) + pct(v_recl, v_size)),
        fmt.Row(Type="Build Cache", TotalCount=str(len(cache)), Active=str(sum(1 for b in cache if b.get("InUse"))),
                Size=hs(b_size), Reclaimable=hs(b_recl)),
    ]
    if opts.verbose and not opts.format:
        _df_verbose(ctx, du)
        return 0
    form = opts.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    ctx.write(fmt.render(form, rows, {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE",
                                      "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}))
    return 0


def _df_verbose(ctx: Context, du: dict) -> None:
    """`system df -v`: the docker CLI's four sections, each object a row (its verbose table formats)."""
    from cli.commands.container import PS_HEADERS, container_row
    from cli.commands.image import IMAGES_HEADERS, image_row, split_tag
    from cli.commands.volume import HEADERS as VOLUME_HEADERS, volume_row
    now = time.time()
    images = []
    for img in du.get("Images") or []:
        tags = img.get("RepoTags") or []
        repo, tag = (tags and split_tag(tags[0])) or ("<none>", "<none>")  # the first tag only
        images.append(image_row(img, repo, tag, "<none>", True, now))
    ctx.write("Images space usage:\n\n")
    ctx.write(fmt.render("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
                         "\t{{.UniqueSize}}\t{{.Containers}}", images, IMAGES_HEADERS))
    # the CLI's verbose table leaves the virtual size out
    containers = [container_row(dict(c, SizeRootFs=0), True, now) for c in du.get("Containers") or []]
    ctx.write("\nContainers space usage:\n\n")
    ctx.write(fmt.render("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}"
                         "\t{{.Status}}\t{{.Names}}", containers, PS_HEADERS))
    ctx.write("\nLocal Volumes space usage:\n\n")
    ctx.write(fmt.render("table {{.Name}}\t{{.Links}}\t{{.Size}}", [volume_row(v) for v in du.get("Volumes") or []],
                         VOLUME_HEADERS))
    ctx.write(f"\nBuild cache usage: {human_size(du.get('BuilderSize') or 0, 4)}\n\n")
    ctx.write(fmt.render("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}"
                         "\t{{.UsageCount}}\t{{.Shared}}", [],
                         {"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED",
                          "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}))


DF = F.Command("df", "[OPTIONS]", "Show docker disk usage", [
    F.Flag("format", "", S, "", "Format output using a custom template"),
    F.Flag("verbose", "v", B, False, "Show detailed information on space usage"),
], max_args=0, run=run_df)


def run_system_prune(ctx: Context, opts: Any, args: list[str]) -> int:
    warning = ("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n"
               + ("  - all anonymous volumes not used by at least one container\n" if opts.volumes else "")
               + ("  - all images without at least one container associated to them\n" if opts.all
                  else "  - all dangling images\n")
               + ("  - all build cache\n" if opts.all else "  - unused build cache\n"))
    if not opts.force and not confirm(ctx, warning):
        return 0
    filters = filters_param(opts.filter)
    total = 0
    report = ctx.client.request("POST", "/containers/prune", {"filters": filters}).json() or {}
    if report.get("ContainersDeleted"):
        ctx.line("Deleted Containers:")
        for c in report["ContainersDeleted"]:
            ctx.line(c)
        ctx.line()
    total += report.get("SpaceReclaimed") or 0
    report = ctx.client.request("POST", "/networks/prune", {"filters": filters}).json() or {}
    if report.get("NetworksDeleted"):
        ctx.line("Deleted Networks:")
        for n in report["NetworksDeleted"]:
            ctx.line(n)
        ctx.line()
    if opts.volumes:
        report = ctx.client.request("POST", "/volumes/prune", {"filters": filters}).json() or {}
        if report.get("VolumesDeleted"):
            ctx.line("Deleted Volumes:")
            for v in report["VolumesDeleted"]:
                ctx.line(v)
            ctx.line()
        total += report.get("SpaceReclaimed") or 0
    img_filters = json.loads(filters) if filters else {}
    img_filters["dangling"] = {"false" if opts.all else "true": True}
    report = ctx.client.request("POST", "/images/prune", {"filters": json.dumps(img_filters)}).json() or {}
    if report.get("ImagesDeleted"):
        ctx.line("Deleted Images:")
        for d in report["ImagesDeleted"]:
            for k in ("Untagged", "Deleted"):
                if d.get(k):
                    ctx.line(f"{k.lower()}: {d[k]}")
        ctx.line()
    total += report.get("SpaceReclaimed") or 0
    ctx.line(f"Total reclaimed space: {human_size(total)}")
    return 0


PRUNE = F.Command("prune", "[OPTIONS]", "Remove unused data", [
    F.Flag("all", "a", B, False, "Remove all unused images not just dangling ones"),
    F.Flag("filter", "", L, help="Provide filter values (e.g. \"label=<key>=<value>\")", type_name="filter"),
    F.Flag("force", "f", B, False, "Do not prompt for confirmation"),
    F.Flag("volumes", "", B, False, "Prune anonymous volumes"),
], max_args=0, run=run_system_prune)


# -- login / logout -----------------------------------------------------------------------------
def run_login(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli import auth
    server = args[0] if args else ""
    username, password = opts.username, opts.password
    if password and opts.password_stdin:
        raise CLIError("--password and --password-stdin are mutually exclusive")
    if opts.password_stdin:
        if not username:
            raise CLIError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        ctx.err.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username:
        ctx.out.write("Username: ")
        ctx.out.flush()
        username = sys.stdin.readline().strip()
    if not username:
        raise CLIError("Error: Non-null Username Required")
    if not password:
        import getpass
        password = getpass.getpass("Password: ")
    if not password:
        raise CLIError("Error: Password Required")
    body = {"username": username, "password": password,
            "serveraddress": auth.server_key(server)}
    result = ctx.client.post_json("/auth", None, body) or {}
    auth.store_auth(server, username, password)
    ctx.line(result.get("Status") or "Login Succeeded")
    return 0


LOGIN = F.Command("login", "[OPTIONS] [SERVER]", "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.", [
    F.Flag("password", "p", S, "", "Password or Personal Access Token (PAT)"),
    F.Flag("password-stdin", "", B, False, "Take the Password or Personal Access Token (PAT) from stdin"),
    F.Flag("username", "u", S, "", "Username"),
], max_args=1, run=run_login)


def run_logout(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli import auth
    server = args[0] if args else ""
    key = auth.server_key(server)
    if not auth.remove_auth(server):
        ctx.line(f"Not logged in to {key}")
        return 0
    ctx.line(f"Removing login credentials for {key}")
    return 0


LOGOUT = F.Command("logout", "[SERVER]", "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.", [],
                   max_args=1, run=run_logout)
