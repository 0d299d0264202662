"""`pydocker` entry point: global flags, command lookup, and error/exit-code handling.

Command modules are imported only when their command runs, to keep start-up fast.
"""
from __future__ import annotations

import os
import sys

from cli import flags as F
from cli.errors import CLIError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Sequence

CLIENT_VERSION = "0.1.0"

# name -> (module, attribute, description). Order is the help order.
COMMON = {
    "run": ("run", "RUN", "Create and run a new container from an image"),
    "exec": ("container", "EXEC", "Execute a command in a running container"),
    "ps": ("container", "PS", "List containers"),
    "build": ("build", "BUILD", "Build an image from a Dockerfile"),
    "pull": ("image", "PULL", "Download an image from a registry"),
    "push": ("image", "PUSH", "Upload an image to a registry"),
    "images": ("image", "IMAGES", "List images"),
    "login": ("system", "LOGIN", "Authenticate to a registry"),
    "logout": ("system", "LOGOUT", "Log out from a registry"),
    "version": ("system", "VERSION", "Show the Docker version information"),
    "info": ("system", "INFO", "Display system-wide information"),
}
OTHER = {
    "attach": ("container", "ATTACH", "Attach local standard input, output, and error streams to a running container"),
    "commit": ("container", "COMMIT", "Create a new image from a container's changes"),
    "compose": ("compose", "COMPOSE", "Docker Compose"),
    "cp": ("cp", "CP", "Copy files/folders between a container and the local filesystem"),
    "create": ("run", "CREATE", "Create a new container"),
    "diff": ("container", "DIFF", "Inspect changes to files or directories on a container's filesystem"),
    "events": ("system", "EVENTS", "Get real time events from the server"),
    "export": ("container", "EXPORT", "Export a container's filesystem as a tar archive"),
    "history": ("image", "HISTORY", "Show the history of an image"),
    "import": ("image", "IMPORT", "Import the contents from a tarball to create a filesystem image"),
    "inspect": ("system", "INSPECT", "Return low-level information on Docker objects"),
    "kill": ("container", "KILL", "Kill one or more running containers"),
    "load": ("image", "LOAD", "Load an image from a tar archive or STDIN"),
    "logs": ("container", "LOGS", "Fetch the logs of a container"),
    "pause": ("container", "PAUSE", "Pause all processes within one or more containers"),
    "port": ("container", "PORT", "List port mappings or a specific mapping for the container"),
    "rename": ("container", "RENAME", "Rename a container"),
    "restart": ("container", "RESTART", "Restart one or more containers"),
    "rm": ("container", "RM", "Remove one or more containers"),
    "rmi": ("image", "RMI", "Remove one or more images"),
    "save": ("image", "SAVE", "Save one or more images to a tar archive (streamed to STDOUT by default)"),
    "start": ("container", "START", "Start one or more stopped containers"),
    "stats": ("container", "STATS", "Display a live stream of container(s) resource usage statistics"),
    "stop": ("container", "STOP", "Stop one or more running containers"),
    "tag": ("image", "TAG", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "top": ("container", "TOP", "Display the running processes of a container"),
    "unpause": ("container", "UNPAUSE", "Unpause all processes within one or more containers"),
    "update": ("container", "UPDATE", "Update configuration of one or more containers"),
    "wait": ("container", "WAIT", "Block until one or more containers stop, then print their exit codes"),
}
GROUPS = {
    "container": ("Manage containers", {
        "attach": OTHER["attach"], "commit": OTHER["commit"], "cp": OTHER["cp"], "create": OTHER["create"],
        "diff": OTHER["diff"], "exec": COMMON["exec"],
        "export": OTHER["export"],
        "inspect": ("container", "INSPECT", "Display detailed information on one or more containers"),
        "kill": OTHER["kill"], "logs": OTHER["logs"], "ls": ("container", "PS", "List containers"),
        "pause": OTHER["pause"], "port": OTHER["port"],
        "prune": ("container", "PRUNE", "Remove all stopped containers"),
        "rename": OTHER["rename"], "restart": OTHER["restart"], "rm": OTHER["rm"], "run": COMMON["run"],
        "start": OTHER["start"], "stats": OTHER["stats"], "stop": OTHER["stop"], "top": OTHER["top"],
        "unpause": OTHER["unpause"], "update": OTHER["update"], "wait": OTHER["wait"],
    }),
    "context": ("Manage contexts", {
        "create": ("context", "CREATE", "Create a context"),
        "inspect": ("context", "INSPECT", "Display detailed information on one or more contexts"),
        "ls": ("context", "LS", "List contexts"),
        "rm": ("context", "RM", "Remove one or more contexts"),
        "show": ("context", "SHOW", "Print the name of the current context"),
        "use": ("context", "USE", "Set the current docker context"),
    }),
    "image": ("Manage images", {
        "build": COMMON["build"], "history": OTHER["history"], "import": OTHER["import"],
        "inspect": ("image", "INSPECT", "Display detailed information on one or more images"),
        "load": OTHER["load"], "ls": ("image", "IMAGES", "List images"),
        "prune": ("image", "PRUNE", "Remove unused images"),
        "pull": COMMON["pull"], "push": COMMON["push"], "rm": OTHER["rmi"], "save": OTHER["save"],
        "tag": OTHER["tag"],
    }),
    "network": ("Manage networks", {
        "connect": ("network", "CONNECT", "Connect a container to a network"),
        "create": ("network", "CREATE", "Create a network"),
        "disconnect": ("network", "DISCONNECT", "Disconnect a container from a network"),
        "inspect": ("network", "INSPECT", "Display detailed information on one or more networks"),
        "ls": ("network", "LS", "List networks"),
        "prune": ("network", "PRUNE", "Remove all unused networks"),
        "rm": ("network", "RM", "Remove one or more networks"),
    }),
    "volume": ("Manage volumes", {
        "create": ("volume", "CREATE", "Create a volume"),
        "inspect": ("volume", "INSPECT", "Display detailed information on one or more volumes"),
        "ls": ("volume", "LS", "List volumes"),
        "prune": ("volume", "PRUNE", "Remove unused local volumes"),
        "rm": ("volume", "RM", "Remove one or more volumes"),
    }),
    "system": ("Manage Docker", {
        "df": ("system", "DF", "Show docker disk usage"),
        "events": OTHER["events"],
        "info": COMMON["info"],
        "prune": ("system", "PRUNE", "Remove unused data"),
    }),
}
ALIASES = {("context", "list"): "ls", ("context", "remove"): "rm", ("container", "list"): "ls", ("container", "ps"): "ls", ("container", "remove"): "rm",
           ("image", "list"): "ls", ("image", "remove"): "rm", ("image", "rmi"): "rm",
           ("network", "list"): "ls", ("network", "remove"): "rm", ("volume", "list"): "ls",
           ("volume", "remove"): "rm"}

GLOBAL_FLAGS = [
    F.Flag("config", "", F.STR, "", "Location of client config files"),
    F.Flag("context", "c", F.STR, "", "Name of the context to use to connect to the daemon"),
    F.Flag("debug", "D", F.BOOL, False, "Enable debug mode"),
    F.Flag("host", "H", F.LIST, None, "Daemon socket to connect to"),
    F.Flag("log-level", "l", F.STR, "info", "Set the logging level"),
    F.Flag("tls", "", F.BOOL, False, "Use TLS; implied by --tlsverify"),
    F.Flag("tlscacert", "", F.STR, "", "Trust certs signed only by this CA"),
    F.Flag("tlscert", "", F.STR, "", "Path to TLS certificate file"),
    F.Flag("tlskey", "", F.STR, "", "Path to TLS key file"),
    F.Flag("tlsverify", "", F.BOOL, False, "Use TLS and verify the remote"),
    F.Flag("version", "v", F.BOOL, False, "Print version information and quit"),
]


def _section(title: str, table: dict) -> str:
    return title + ":\n" + "".join(f"  {n:<11} {d[2]}\n" for n, d in table.items())


def main_help() -> str:
    groups = {k: (None, None, v[0]) for k, v in GROUPS.items()}
    return ("\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n\n"
            + _section("Common Commands", COMMON) + "\n" + _section("Management Commands", groups) + "\n"
            + _section("Commands", OTHER) + "\nGlobal Options:\n"
            + F.help_text("", F.Command("", "", "", GLOBAL_FLAGS)).split("Options:\n", 1)[1]
            + "\nRun 'docker COMMAND --help' for more information on a command.\n")


def group_help(name: str) -> str:
    desc, table = GROUPS[name]
    return (f"Usage:  docker {name} COMMAND\n\n{desc}\n\n" + _section("Commands", table)
            + f"\nRun 'docker {name} COMMAND --help' for more information on a command.\n")


def aliases_for(entry: tuple[str, str, str]) -> list[str]:
    """Every way to invoke a command, in the order `docker X --help` lists them."""
    out = []
    for group, (_, table) in GROUPS.items():
        for sub, e in table.items():
            if e[:2] == entry[:2]:
                out.append(f"docker {group} {sub}")
                out += [f"docker {group} {a}" for (g, a), target in ALIASES.items() if g == group and target == sub]
    out += [f"docker {n}" for n, e in {**COMMON, **OTHER}.items() if e[:2] == entry[:2]]
    return out if len(out) > 1 else []


def _usage_line(path: str, cmd: F.Command) -> str:
    return f"docker {path} {cmd.usage}".rstrip()


def report_usage(err: UsageError, path: str, usage: str, stream) -> int:
    """Print a flag/arity error the way the Go CLI does and return its exit status."""
    hint = "See" if err.see else "Run"
    target = f"docker {path}".rstrip()
    prefix = "docker: " if err.arity else ""
    stream.write(f"{prefix}{err.message}\n\nUsage:  {usage}\n\n{hint} '{target} --help' for more information\n")
    return err.status


def tls_config(gopts: F.Options):
    """--tls/--tlsverify (or DOCKER_TLS_VERIFY) with certificates from --tls* or DOCKER_CERT_PATH."""
    verify = gopts.tlsverify or bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not (gopts.tls or verify):
        return None
    from cli.config import config_dir
    from cli.client import TLSConfig
    base = os.environ.get("DOCKER_CERT_PATH") or config_dir()
    return TLSConfig(verify, gopts.tlscacert or os.path.join(base, "ca.pem"),
                     gopts.tlscert or os.path.join(base, "cert.pem"), gopts.tlskey or os.path.join(base, "key.pem"))


def load_command(module: str, attr: str) -> F.Command:
    import importlib
    return getattr(importlib.import_module(f"cli.commands.{module}"), attr)


def find_command(args: Sequence[str]) -> tuple[str, tuple[str, str, str], list[str]] | int:
    """(invoked path, table entry, remaining args), or an exit status after printing help/errors."""
    name, rest = args[0], list(args[1:])
    if name in GROUPS:
        if not rest or rest[0] in ("--help", "-h"):
            sys.stdout.write(group_help(name))
            return 0
        sub = ALIASES.get((name, rest[0]), rest[0])
        table = GROUPS[name][1]
        if sub not in table:
            sys.stderr.write(f"docker: unknown command: docker {name} {rest[0]}\n\nUsage:  docker {name}\n\n"
                             f"Run 'docker {name} --help' for more information\n")
            return 1
        return f"{name} {rest[0]}", table[sub], rest[1:]
    entry = COMMON.get(name) or OTHER.get(name)
    if entry is None:
        sys.stderr.write(f"docker: unknown command: docker {name}\n\n"
                         "Run 'docker --help' for more information\n")
        return 1
    return name, entry, rest


def resolve_endpoint(gopts: F.Options) -> tuple[str | None, object]:
    """The daemon address and TLS settings from -H, DOCKER_HOST, --context/DOCKER_CONTEXT or config."""
    hosts = gopts.host or []
    if len(hosts) > 1:
        raise CLIError("Failed to initialize: unable to resolve docker endpoint: Specify only one -H")
    host = hosts[0] if hosts else None
    if host and "://" not in host:
        host = ("unix://" + host) if host.startswith("/") else ("tcp://" + host)
    tls = tls_config(gopts)
    if gopts.context or os.environ.get("DOCKER_CONTEXT") or not (hosts or os.environ.get("DOCKER_HOST")):
        from cli import contexts
        name = contexts.context_name(gopts.context, hosts)
        if name != "default":
            host, ctx_tls = contexts.resolve(name)
            tls = tls or ctx_tls
    return host, tls


def run_command(argv: Sequence[str]) -> int:
    from cli.context import Context

    try:
        gopts, args = F.parse(GLOBAL_FLAGS, argv, interspersed=False)
    except UsageError as e:
        return report_usage(e, "", "docker [OPTIONS] COMMAND [ARG...]", sys.stderr)
    if gopts.version:
        sys.stdout.write(f"Docker version {CLIENT_VERSION}, build pydocker\n")
        return 0
    if gopts.help or not args:
        sys.stdout.write(main_help())
        return 0
    found = find_command(args)
    if isinstance(found, int):
        return found
    path, entry, rest = found
    cmd = load_command(entry[0], entry[1])
    try:
        opts, pos = F.parse(cmd.flags, rest, cmd.interspersed)
        if opts.help:
            sys.stdout.write(F.help_text(path, cmd, aliases_for(entry)))
            return 0
        F.check_args(f"docker {path}", cmd, pos)
    except UsageError as e:
        return report_usage(e, path, _usage_line(path, cmd), sys.stderr)
    try:
        host, tls = resolve_endpoint(gopts)
    except CLIError as e:
        sys.stderr.write(e.message + "\n")
        return 1
    ctx = Context(host=host, debug=gopts.debug, tls=tls)
    ctx.cmd_path = path
    try:
        rc = cmd.run(ctx, opts, pos)
    except UsageError as e:
        return report_usage(e, path, _usage_line(path, cmd), sys.stderr)
    except CLIError as e:
        if e.message:
            sys.stderr.write(e.message.rstrip("\n") + "\n")
        return e.status
    return rc or 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        rc = run_command(argv)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); exit quietly as Go programs do on EPIPE.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return rc


if __name__ == "__main__":
    sys.exit(main())
