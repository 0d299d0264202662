"""pydockerd entry point: dockerd's flags, then the daemon until SIGTERM/SIGINT."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import ssl
import sys

from .daemon.containerd import ContainerdClient
from .daemon.daemon import Daemon, DaemonConfig
from .errors import DockerError
from .listeners import ListenerError, TLSSettings, check_tcp_security, resolve_hosts
from .server import APIServer, make_app
from .supervisor import ContainerdProcess

log = logging.getLogger("pydockerd")


def _bool(v: str) -> bool:
    """Go-style bool flag values (`--iptables=false`)."""
    low = v.lower()
    if low in ("1", "t", "true", "yes"):
        return True
    if low in ("0", "f", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {v!r}")


DEFAULT_DATA_ROOT = "/var/lib/pydocker"


def network_args(args: argparse.Namespace) -> list[str]:
    """pycontainerd flags for its Networks service, from dockerd's networking flags.

    Networking is on unless `--bridge none`. Without `--bridge`, the default daemon uses `pydocker0`
    and the `PYDOCKER` iptables chains; a daemon with another data-root (a second, isolated instance,
    e.g. a test stack) gets its own bridge and chain prefix derived from the data-root, removed again
    at shutdown, so instances never share or leave behind host networking state.
    """
    if args.bridge == "none":
        return []
    out = ["--networks"]
    remove = args.remove_bridges_on_exit
    if args.bridge:
        out += ["--network-bridge", args.bridge]
    elif os.path.abspath(args.data_root) == DEFAULT_DATA_ROOT:
        out += ["--network-bridge", "pydocker0"]
    else:
        import hashlib
        h = hashlib.sha256(os.path.abspath(args.data_root).encode()).hexdigest()
        out += ["--network-bridge", f"pyd{h[:8]}", "--network-chain-prefix", f"PYD{h[:6].upper()}"]
        remove = True
    if args.bip:
        out += ["--bip", args.bip]
    out.append("--iptables" if args.iptables else "--no-iptables")
    out.append("--userland-proxy" if args.userland_proxy else "--no-userland-proxy")
    if remove:
        out.append("--network-remove-bridges-on-exit")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="pydockerd", description="A self-sufficient runtime for containers (in Python).")
    p.add_argument("-H", "--host", action="append", default=[],
                   help="Daemon socket(s) to connect to (unix://PATH, tcp://[HOST]:PORT; repeatable)")
    p.add_argument("--tls", type=_bool, nargs="?", const=True, default=None, help="Use TLS; implied by --tlsverify")
    p.add_argument("--tlsverify", type=_bool, nargs="?", const=True, default=None,
                   help="Use TLS and verify the remote (default from DOCKER_TLS_VERIFY)")
    p.add_argument("--tlscacert", default=None, help="Trust certs signed only by this CA (default ~/.docker/ca.pem)")
    p.add_argument("--tlscert", default=None, help="Path to TLS certificate file (default ~/.docker/cert.pem)")
    p.add_argument("--tlskey", default=None, help="Path to TLS key file (default ~/.docker/key.pem)")
    p.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="Root directory of persistent state")
    p.add_argument("--exec-root", default="/run/pydocker", help="Root directory for execution state files")
    p.add_argument("-p", "--pidfile", default="/run/pydocker.pid", help="Path to use for daemon PID file")
    p.add_argument("--containerd", default="", help="containerd grpc address (default: start our own)")
    p.add_argument("-s", "--storage-driver", default="overlayfs", choices=["overlayfs", "native"],
                   help="snapshotter for images and containers (native where the filesystem has no overlay)")
    p.add_argument("--default-runtime", default="", help="Default OCI runtime for containers")
    p.add_argument("--add-runtime", action="append", default=[], metavar="NAME=PATH",
                   help="Register an additional OCI compatible runtime")
    p.add_argument("--cgroup-parent", default="/pydocker", help="Set parent cgroup for all containers")
    p.add_argument("-b", "--bridge", default="",
                   help="Attach containers to a network bridge (\"none\": no networking, private network "
                        "namespaces only; default pydocker0, or one derived from --data-root)")
    p.add_argument("--bip", default="", help="Specify network bridge IP (CIDR)")
    p.add_argument("--iptables", type=_bool, nargs="?", const=True, default=True,
                   help="Enable addition of iptables rules")
    p.add_argument("--userland-proxy", type=_bool, nargs="?", const=True, default=True,
                   help="Use userland proxy for loopback traffic")
    p.add_argument("--remove-bridges-on-exit", action="store_true",
                   help="Delete the bridges at shutdown (not dockerd's behaviour; for isolated test stacks)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
                   help="Enable insecure registry communication (loopback registries always are)")
    p.add_argument("-D", "--debug", action="store_true", help="Enable debug mode")
    p.add_argument("-l", "--log-level", default="info", choices=["debug", "info", "warn", "error", "fatal"])
    return p.parse_args(argv)


def find_pyrunc() -> str:
    """`pyrunc` next to the interpreter, then on PATH, then the project's bin/."""
    here = os.path.join(os.path.dirname(sys.executable), "pyrunc")
    if os.access(here, os.X_OK):
        return here
    found = shutil.which("pyrunc")
    if found:
        return found
    project = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "pyrunc")
    if os.access(project, os.X_OK):
        return project
    return ""


def runtimes_from_args(args: argparse.Namespace) -> tuple[dict[str, str], str]:
    runtimes: dict[str, str] = {}
    pyrunc = find_pyrunc()
    if pyrunc:
        runtimes["pyrunc"] = pyrunc
    runc = shutil.which("runc")
    if runc:
        runtimes["runc"] = runc
    for spec in args.add_runtime:
        name, eq, path = spec.partition("=")
        if not eq or not name or not path:
            raise SystemExit(f"pydockerd: invalid runtime {spec!r}: expected NAME=PATH")
        runtimes[name] = path if os.sep in path else (shutil.which(path) or path)
    default = args.default_runtime or ("pyrunc" if "pyrunc" in runtimes else "runc")
    if default not in runtimes:
        raise SystemExit(f"pydockerd: default runtime {default!r} is not registered "
                         f"(known: {', '.join(sorted(runtimes)) or 'none'})")
    return runtimes, default


def api_listeners(args: argparse.Namespace) -> tuple[list[str], ssl.SSLContext | None]:
    """The hosts to serve and the TLS context for the TCP ones, checked before anything starts."""
    try:
        tls = TLSSettings.resolve(args.tls, args.tlsverify, args.tlscacert, args.tlscert, args.tlskey)
        hosts = resolve_hosts(args.host, tls)
        for host in hosts:
            check_tcp_security(host, tls)
        return hosts, tls.server_context()
    except ListenerError as exc:
        raise SystemExit(f"pydockerd: {exc}") from None


def write_pidfile(path: str) -> None:
    if os.path.exists(path):
        try:
            with open(path) as f:
                old = int(f.read().strip() or 0)
            if old and old != os.getpid() and os.path.exists(f"/proc/{old}"):
                raise SystemExit(f"pydockerd: pid file found, ensure pydockerd is not running or delete {path}")
        except ValueError:
            pass
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        f.write(str(os.getpid()))


async def run(args: argparse.Namespace) -> int:
    hosts, ssl_context = api_listeners(args)
    runtimes, default_runtime = runtimes_from_args(args)
    for d in (args.data_root, args.exec_root):
        os.makedirs(d, mode=0o711, exist_ok=True)
    write_pidfile(args.pidfile)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    supervisor: ContainerdProcess | None = None
    server: APIServer | None = None
    client: ContainerdClient | None = None
    daemon: Daemon | None = None
    try:
        address = args.containerd
        if not address:
            supervisor = ContainerdProcess(
                address=os.path.join(args.exec_root, "containerd", "containerd.sock"),
                root=os.path.join(args.data_root, "containerd", "daemon"),
                state=os.path.join(args.exec_root, "containerd", "daemon"),
                runtime=runtimes[default_runtime], debug=args.debug,
                extra_args=network_args(args) + ["--snapshotter", args.storage_driver])
            await supervisor.start()
            address = supervisor.address
        client = ContainerdClient(address)
        await client.wait_ready(timeout=30)
        if await client.resolve_snapshotter(args.storage_driver) != args.storage_driver:
            log.warning("storage driver %s is not available: using %s", args.storage_driver, client.snapshotter)
        daemon = Daemon(DaemonConfig(data_root=args.data_root, exec_root=args.exec_root,
                                     cgroup_parent=args.cgroup_parent, default_runtime=default_runtime,
                                     runtimes=runtimes, debug=args.debug,
                                     insecure_registries=list(args.insecure_registry)), client)
        await daemon.init()
        server = APIServer(make_app(daemon), *hosts, ssl_context=ssl_context)
        try:
            await server.start()
        except OSError as exc:  # a host we cannot bind (in use, not ours)
            log.error("failed to load listeners: %s", exc.strerror or exc)
            return 1
        for address in server.addresses:
            log.info("API listen on %s", address.split("://", 1)[1])
        await stop.wait()
        log.info("processing signal: shutting down")
        return 0
    except DockerError as exc:
        log.error("%s", exc.message)
        return 1
    finally:
        if daemon is not None:
            await daemon.shutdown()
        if server is not None:
            await server.stop()
        if client is not None:
            await client.close()
        if supervisor is not None:
            await supervisor.stop()
        try:
            os.unlink(args.pidfile)
        except FileNotFoundError:
            pass


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    level = logging.DEBUG if args.debug or args.log_level == "debug" else getattr(
        logging, {"warn": "WARNING", "fatal": "CRITICAL"}.get(args.log_level, args.log_level.upper()))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncio", "grpc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
