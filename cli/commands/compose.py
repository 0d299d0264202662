"""`docker compose`: up, down, ps, logs, config, exec, run, start, stop, restart, kill, rm, pull, push, build."""
from __future__ import annotations

import os
import sys

from cli import flags as F
from cli import formatter as fmt
from cli.errors import CLIError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from cli.compose.engine import Engine
    from cli.context import Context

S, L, B, I = F.STR, F.LIST, F.BOOL, F.INT


def _engine(ctx: Context, gopts: Any) -> Engine:
    from cli.compose.engine import Engine
    from cli.compose.model import load
    project = load(gopts.file or [], gopts.project_name or "", gopts.project_directory or "",
                   env_files=gopts.env_file or None, profiles=gopts.profile or None, warn=ctx.err)
    return Engine(ctx, project)


def _services(eng: Engine, names: list[str]) -> list:
    return eng.project.ordered(names or None)


# -- up / down ----------------------------------------------------------------------------------
def up(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    eng = _engine(ctx, gopts)
    eng.project.enable(args)
    services = [eng.project.services[n] for n in args] if (args and opts.no_deps) else _services(eng, args)
    eng.up(services, force=opts.force_recreate, build=opts.build,
           stop_timeout=opts.timeout if "timeout" in opts.changed else None, remove_orphans=opts.remove_orphans)
    if opts.detach or opts.wait:
        if opts.wait:
            eng.wait_healthy([s for s in services if s.config.get("healthcheck")], opts.wait_timeout or None)
        return 0
    return _attach_until_exit(eng, services)


def _attach_until_exit(eng: Engine, services: list) -> int:
    """Foreground `up`: stream every container's output until all have exited (Ctrl-C stops them)."""
    import threading
    conts = [c for c in eng.containers() if c.get("Labels", {}).get("com.docker.compose.service")
             in {s.name for s in services}]
    codes: dict[str, int] = {}
    eng.ctx.out.write("Attaching to " + ", ".join(c["Names"][0].lstrip("/") for c in conts) + "\n")
    eng.ctx.out.flush()

    def wait(c: dict) -> None:
        result = eng.client.request("POST", f"/containers/{c['Id']}/wait").json() or {}
        codes[c["Names"][0].lstrip("/")] = int(result.get("StatusCode") or 0)

    waiters = [threading.Thread(target=wait, args=(c,), daemon=True) for c in conts]
    for t in waiters:
        t.start()
    try:
        eng.follow_logs(conts, follow=True)
        for t in waiters:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        eng.ctx.err.write("Gracefully stopping... (press Ctrl+C again to force)\n")
        for c in reversed(conts):
            try:
                eng.event("Container", c["Names"][0].lstrip("/"), "Stopping")
                eng.client.request("POST", f"/containers/{c['Id']}/stop").read()
                eng.event("Container", c["Names"][0].lstrip("/"), "Stopped")
            except CLIError:
                pass
        return 130
    for name in sorted(codes):
        eng.ctx.out.write(f"{name} exited with code {codes[name]}\n")
    return 0


def down(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    from cli.compose.model import LABEL
    from cli.errors import APIError
    eng = _engine(ctx, gopts)
    if opts.rmi not in ("", "local", "all"):
        raise CLIError(f"invalid value for --rmi: {opts.rmi}")
    known = set(eng.project.services) | set(eng.project.inactive)
    order = [s.name for s in eng.project.ordered(sorted(known))][::-1]
    conts = eng.containers()
    conts.sort(key=lambda c: order.index(c["Labels"].get(LABEL + "service")) if c["Labels"].get(LABEL + "service") in known else -1)
    import threading
    timeout = opts.timeout if "timeout" in opts.changed else None
    # Stop in parallel, as compose does: each container may take its whole stop timeout.
    errors: list[str] = []

    def stop_remove(c: dict) -> None:
        try:
            eng.remove(c, timeout)
        except CLIError as e:
            errors.append(e.message)

    workers = [threading.Thread(target=stop_remove, args=(c,), daemon=True) for c in conts
               if c["Labels"].get(LABEL + "service") in known or opts.remove_orphans]
    for w in workers:
        w.start()
    for w in workers:
        while w.is_alive():
            w.join(0.2)
    if errors:
        raise CLIError("\n".join(errors))
    label = f'{{"label":{{"{LABEL}project={eng.project.name}":true}}}}'
    for net in ctx.client.get_json("/networks", {"filters": label}) or []:
        eng.event("Network", net["Name"], "Removing")
        try:
            ctx.client.request("DELETE", f"/networks/{net['Id']}").read()
            eng.event("Network", net["Name"], "Removed")
        except APIError as e:
            ctx.err.write(e.message + "\n")
    if opts.volumes:
        vols = (ctx.client.get_json("/volumes", {"filters": label}) or {}).get("Volumes") or []
        for v in vols:
            eng.event("Volume", v["Name"], "Removing")
            ctx.client.request("DELETE", f"/volumes/{v['Name']}").read()
            eng.event("Volume", v["Name"], "Removed")
    if opts.rmi:
        # local: only the images compose named itself (services with build and no image); all: every service image
        images = []
        for s in list(eng.project.services.values()) + list(eng.project.inactive.values()):
            if (opts.rmi == "all" or not s.config.get("image")) and s.image not in images:
                images.append(s.image)
        for image in images:
            if not eng.image_exists(image):
                continue
            eng.event("Image", image, "Removing")
            try:
                ctx.client.request("DELETE", f"/images/{image}").read()
                eng.event("Image", image, "Removed")
            except APIError as e:
                errors.append(e.message)
        if errors:
            raise CLIError("\n".join(errors))
    return 0


# -- ps / logs / config -------------------------------------------------------------------------
def ps(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    import time

    from cli.commands.container import PS_HEADERS, container_row
    eng = _engine(ctx, gopts)
    if opts.services:
        for s in eng.project.services:
            ctx.line(s)
        return 0
    conts = [c for c in eng.containers(all_=opts.all)
             if not args or c.get("Labels", {}).get("com.docker.compose.service") in args]
    if opts.quiet:
        for c in conts:
            ctx.line(c["Id"])
        return 0
    now = time.time()
    rows = []
    for c in conts:
        row = container_row(c, True, now)
        row["Name"] = c["Names"][0].lstrip("/")
        row["Service"] = c.get("Labels", {}).get("com.docker.compose.service", "")
        row["Project"] = eng.project.name
        rows.append(row)
    form = opts.format or "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
    ctx.write(fmt.render(form, rows, {**PS_HEADERS, "Name": "NAME", "Service": "SERVICE", "Project": "PROJECT"}))
    return 0


def logs(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    eng = _engine(ctx, gopts)
    conts = [c for c in eng.containers()
             if not args or c.get("Labels", {}).get("com.docker.compose.service") in args]
    try:
        eng.follow_logs(conts, follow=opts.follow, tail=opts.tail or "all", timestamps=opts.timestamps,
                        prefix=not opts.no_log_prefix)
    except KeyboardInterrupt:
        return 130
    return 0


def config(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    eng = _engine(ctx, gopts)
    if opts.services:
        for s in eng.project.services:
            ctx.line(s)
        return 0
    if opts.volumes:
        for v in eng.project.volumes:
            ctx.line(v)
        return 0
    data = {"name": eng.project.name, **{k: v for k, v in eng.project.data.items() if k != "name"}}
    eng.project.enable(args)
    data["services"] = {n: cfg for n, cfg in (data.get("services") or {}).items()
                        if n in eng.project.services and (not args or n in args)}
    if opts.quiet:
        return 0
    if opts.format == "json":
        from cli import jsoncodec as json
        ctx.line(json.dumps(data, indent=2))
        return 0
    from cli.compose.yamlparse import dumps
    ctx.write(dumps(data))
    return 0


# -- exec and simple lifecycle commands ---------------------------------------------------------
def exec_(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    from cli.commands.container import EXEC, run_exec
    eng = _engine(ctx, gopts)
    service = args[0]
    if service not in eng.project.services:
        raise CLIError(f"service \"{service}\" is not running")
    running = [c for c in eng.containers(all_=False, service=service)]
    if not running:
        raise CLIError(f"service \"{service}\" is not running")
    argv = ["-i"]
    if not opts["no_TTY"] and os.isatty(sys.stdin.fileno()):
        argv.append("-t")
    if opts.detach:
        argv.append("-d")
    for e in opts.env or []:
        argv += ["-e", e]
    if opts.user:
        argv += ["-u", opts.user]
    if opts.workdir:
        argv += ["-w", opts.workdir]
    if opts.privileged:
        argv.append("--privileged")
    exec_opts, _ = F.parse(EXEC.flags, argv)
    return run_exec(ctx, exec_opts, [running[0]["Id"]] + args[1:])


def run(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    """A one-off container for a service (dependencies brought up first), attached like `docker run`."""
    from cli.commands.run import attach_and_run
    from cli.compose.model import LABEL
    eng = _engine(ctx, gopts)
    name = args[0]
    if name not in eng.project.services:
        raise CLIError(f"no such service: {name}")
    service = eng.project.services[name]
    for key in service.networks():
        eng.ensure_network(key)
    for v in service.config.get("volumes") or []:
        src = v.get("source") if isinstance(v, dict) else (str(v).split(":")[0] if ":" in str(v) else "")
        if src in eng.project.volumes:
            eng.ensure_volume(src)
    if not opts.no_deps:
        for dep in eng.project.ordered([name])[:-1]:
            eng.up_service(dep)
        eng.wait_dependencies(service)
    eng.ensure_image(service)
    body = service.create_body()
    if len(args) > 1:
        body["Cmd"] = args[1:]
    if opts.entrypoint:
        import shlex
        body["Entrypoint"] = shlex.split(opts.entrypoint)
    tty = not opts.no_TTY and os.isatty(sys.stdin.fileno()) and not opts.detach
    interactive = not opts.detach
    body.update(Tty=tty, OpenStdin=interactive, StdinOnce=interactive, AttachStdin=interactive,
                AttachStdout=not opts.detach, AttachStderr=not opts.detach)
    body["Env"] = list(body["Env"]) + list(opts.env or [])
    if opts.user:
        body["User"] = opts.user
    if opts.workdir:
        body["WorkingDir"] = opts.workdir
    body["Labels"][LABEL + "oneoff"] = "True"
    body["HostConfig"]["AutoRemove"] = bool(opts.rm)
    body["HostConfig"]["RestartPolicy"] = {"Name": "no", "MaximumRetryCount": 0}
    if not opts.service_ports:
        body["HostConfig"]["PortBindings"] = {}
    cname = opts.name or f"{eng.project.name}-{name}-run-{os.urandom(6).hex()}"
    cid = ctx.client.post_json("/containers/create", {"name": cname}, body)["Id"]
    if opts.detach:
        ctx.client.request("POST", f"/containers/{cid}/start").read()
        ctx.line(cname)
        return 0
    return attach_and_run(ctx, cid, tty, True, bool(opts.rm), True, "", "compose run")


def _each_container(action: Callable[[Engine, dict], None]) -> Callable[..., int]:
    def run(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
        eng = _engine(ctx, gopts)
        for c in eng.containers():
            if not args or c.get("Labels", {}).get("com.docker.compose.service") in args:
                action(eng, c, opts)
        return 0
    return run


def _stop(eng: Engine, c: dict, opts: Any) -> None:
    if c.get("State") != "running":
        return
    name = c["Names"][0].lstrip("/")
    eng.event("Container", name, "Stopping")
    eng.client.request("POST", f"/containers/{c['Id']}/stop",
                       {"t": opts.timeout} if "timeout" in opts.changed else None).read()
    eng.event("Container", name, "Stopped")


def _start(eng: Engine, c: dict, opts: Any) -> None:
    if c.get("State") != "running":
        eng.start(c["Id"], c["Names"][0].lstrip("/"))


def _restart(eng: Engine, c: dict, opts: Any) -> None:
    name = c["Names"][0].lstrip("/")
    eng.event("Container", name, "Restarting")
    eng.client.request("POST", f"/containers/{c['Id']}/restart",
                       {"t": opts.timeout} if "timeout" in opts.changed else None).read()
    eng.event("Container", name, "Started")


def _kill(eng: Engine, c: dict, opts: Any) -> None:
    if c.get("State") == "running":
        name = c["Names"][0].lstrip("/")
        eng.event("Container", name, "Killing")
        eng.client.request("POST", f"/containers/{c['Id']}/kill", {"signal": opts.signal or None}).read()
        eng.event("Container", name, "Killed")


def _rm(eng: Engine, c: dict, opts: Any) -> None:
    if c.get("State") == "running" and not opts.stop:
        return
    eng.remove(c, volumes=opts.volumes)


def pull(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    eng = _engine(ctx, gopts)
    for s in _services(eng, args):
        if s.config.get("image"):
            eng.pull(s)
    return 0


def push(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    """Push the images of services that are built and name their image (as compose does)."""
    eng = _engine(ctx, gopts)
    for s in _services(eng, args):
        if not (s.config.get("build") and s.config.get("image")):
            continue
        try:
            eng.push(s, quiet=opts.quiet)
        except CLIError:
            if not opts.ignore_push_failures:
                raise
    return 0


def build(ctx: Context, gopts: Any, opts: Any, args: list[str]) -> int:
    eng = _engine(ctx, gopts)
    for s in _services(eng, args):
        if s.config.get("build"):
            eng.build(s)
    return 0


TIMEOUT = F.Flag("timeout", "t", I, 10, "Specify a shutdown timeout in seconds")
SUBCOMMANDS: dict[str, tuple[F.Command, Callable[..., int]]] = {
    "up": (F.Command("up", "[OPTIONS] [SERVICE...]", "Create and start containers", [
        F.Flag("build", "", B, False, "Build images before starting containers"),
        F.Flag("detach", "d", B, False, "Detached mode: Run containers in the background"),
        F.Flag("force-recreate", "", B, False, "Recreate containers even if their configuration and image haven't changed"),
        F.Flag("no-deps", "", B, False, "Don't start linked services"),
        F.Flag("remove-orphans", "", B, False, "Remove containers for services not defined in the Compose file"),
        F.Flag("timeout", "t", I, 0, "Use this timeout in seconds for container shutdown when attached or when containers are already running"),
        F.Flag("wait", "", B, False, "Wait for services to be running|healthy. Implies detached mode."),
        F.Flag("wait-timeout", "", I, 0, "Maximum duration in seconds to wait for the project to be running|healthy"),
    ]), up),
    "down": (F.Command("down", "[OPTIONS] [SERVICES]", "Stop and remove containers, networks", [
        F.Flag("remove-orphans", "", B, False, "Remove containers for services not defined in the Compose file"),
        F.Flag("rmi", "", S, "", "Remove images used by services. \"local\" remove only images that don't have a custom tag (\"local\"|\"all\")"),
        TIMEOUT,
        F.Flag("volumes", "v", B, False, "Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous volumes attached to containers"),
    ]), down),
    "ps": (F.Command("ps", "[OPTIONS] [SERVICE...]", "List containers", [
        F.Flag("all", "a", B, False, "Show all stopped containers (including those created by the run command)"),
        F.Flag("format", "", S, "", "Format output using a custom template"),
        F.Flag("quiet", "q", B, False, "Only display IDs"),
        F.Flag("services", "", B, False, "Display services"),
    ]), ps),
    "logs": (F.Command("logs", "[OPTIONS] [SERVICE...]", "View output from containers", [
        F.Flag("follow", "f", B, False, "Follow log output"),
        F.Flag("no-color", "", B, False, "Produce monochrome output"),
        F.Flag("no-log-prefix", "", B, False, "Don't print prefix in logs"),
        F.Flag("tail", "n", S, "all", "Number of lines to show from the end of the logs for each container"),
        F.Flag("timestamps", "t", B, False, "Show timestamps"),
    ]), logs),
    "config": (F.Command("config", "[OPTIONS] [SERVICE...]", "Parse, resolve and render compose file in canonical format", [
        F.Flag("format", "", S, "yaml", "Format the output. Values: [yaml | json]"),
        F.Flag("quiet", "q", B, False, "Only validate the configuration, don't print anything"),
        F.Flag("services", "", B, False, "Print the service names, one per line"),
        F.Flag("volumes", "", B, False, "Print the volume names, one per line"),
    ]), config),
    "exec": (F.Command("exec", "[OPTIONS] SERVICE COMMAND [ARGS...]", "Execute a command in a running container", [
        F.Flag("detach", "d", B, False, "Detached mode: Run command in the background"),
        F.Flag("env", "e", L, help="Set environment variables"),
        F.Flag("no-TTY", "T", B, False, "Disable pseudo-TTY allocation. By default `docker compose exec` allocates a TTY."),
        F.Flag("privileged", "", B, False, "Give extended privileges to the process"),
        F.Flag("user", "u", S, "", "Run the command as this user"),
        F.Flag("workdir", "w", S, "", "Path to workdir directory for this command"),
    ], min_args=2, interspersed=False), exec_),
    "run": (F.Command("run", "[OPTIONS] SERVICE [COMMAND] [ARGS...]", "Run a one-off command on a service", [
        F.Flag("detach", "d", B, False, "Run container in background and print container ID"),
        F.Flag("entrypoint", "", S, "", "Override the entrypoint of the image"),
        F.Flag("env", "e", L, help="Set environment variables"),
        F.Flag("name", "", S, "", "Assign a name to the container"),
        F.Flag("no-TTY", "T", B, False, "Disable pseudo-TTY allocation (default: auto-detected)"),
        F.Flag("no-deps", "", B, False, "Don't start linked services"),
        F.Flag("rm", "", B, False, "Automatically remove the container when it exits"),
        F.Flag("service-ports", "P", B, False, "Run command with all service's ports enabled and mapped to the host"),
        F.Flag("user", "u", S, "", "Run as specified username or uid"),
        F.Flag("workdir", "w", S, "", "Working directory inside the container"),
    ], min_args=1, interspersed=False), run),
    "start": (F.Command("start", "[SERVICE...]", "Start services", []), _each_container(_start)),
    "stop": (F.Command("stop", "[OPTIONS] [SERVICE...]", "Stop services", [TIMEOUT]), _each_container(_stop)),
    "restart": (F.Command("restart", "[OPTIONS] [SERVICE...]", "Restart service containers", [TIMEOUT]),
                _each_container(_restart)),
    "kill": (F.Command("kill", "[OPTIONS] [SERVICE...]", "Force stop service containers", [
        F.Flag("signal", "s", S, "SIGKILL", "SIGNAL to send to the container"),
    ]), _each_container(_kill)),
    "rm": (F.Command("rm", "[OPTIONS] [SERVICE...]", "Removes stopped service containers", [
        F.Flag("force", "f", B, False, "Don't ask to confirm removal"),
        F.Flag("stop", "s", B, False, "Stop the containers, if required, before removing"),
        F.Flag("volumes", "v", B, False, "Remove any anonymous volumes attached to containers"),
    ]), _each_container(_rm)),
    "pull": (F.Command("pull", "[OPTIONS] [SERVICE...]", "Pull service images", []), pull),
    "build": (F.Command("build", "[OPTIONS] [SERVICE...]", "Build or rebuild services", []), build),
    "push": (F.Command("push", "[OPTIONS] [SERVICE...]", "Push service images", [
        F.Flag("ignore-push-failures", "", B, False, "Push what it can and ignores images with push failures"),
        F.Flag("quiet", "q", B, False, "Push without printing progress information"),
    ]), push),
}


def compose_help() -> str:
    rows = "".join(f"  {n:<11} {cmd.desc}\n" for n, (cmd, _) in sorted(SUBCOMMANDS.items()))
    options = F.help_text("compose", COMPOSE).split("Options:\n", 1)[1]
    return ("Usage:  docker compose [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n\n"
            f"Options:\n{options}\nCommands:\n{rows}\n"
            "Run 'docker compose COMMAND --help' for more information on a command.\n")


def run_compose(ctx: Context, gopts: Any, args: list[str]) -> int:
    from cli.main import report_usage
    if not args:
        sys.stdout.write(compose_help())
        return 0
    entry = SUBCOMMANDS.get(args[0])
    if entry is None:
        raise CLIError(f"unknown docker command: \"compose {args[0]}\"")
    cmd, fn = entry
    path = f"compose {args[0]}"
    try:
        opts, pos = F.parse(cmd.flags, args[1:], cmd.interspersed)
        if opts.help:
            sys.stdout.write(F.help_text(path, cmd))
            return 0
        F.check_args(f"docker {path}", cmd, pos)
    except UsageError as e:
        return report_usage(e, path, f"docker {path} {cmd.usage}", sys.stderr)
    return fn(ctx, gopts, opts, pos)


COMPOSE = F.Command("compose", "[OPTIONS] COMMAND", "Docker Compose", [
    F.Flag("ansi", "", S, "auto", "Control when to print ANSI control characters (\"never\"|\"always\"|\"auto\")"),
    F.Flag("env-file", "", L, help="Specify an alternate environment file", type_name="stringArray"),
    F.Flag("file", "f", L, help="Compose configuration files", type_name="stringArray"),
    F.Flag("profile", "", L, help="Specify a profile to enable", type_name="stringArray"),
    F.Flag("progress", "", S, "auto", "Set type of progress output (auto, tty, plain, json, quiet)"),
    F.Flag("project-directory", "", S, "", "Specify an alternate working directory (default: the path of the, first specified, Compose file)"),
    F.Flag("project-name", "p", S, "", "Project name"),
], interspersed=False, run=lambda ctx, opts, args: run_compose(ctx, opts, args))
