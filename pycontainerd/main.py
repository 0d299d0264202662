"""pycontainerd entry point: `pycontainerd --address SOCK --root DIR --state DIR --runtime BINARY`."""
from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import shutil
import signal
import sys

from . import heap
from .daemon import Config, Daemon, NetworksConfig

LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL, "panic": logging.CRITICAL}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="pycontainerd", description="containerd's gRPC API in Python")
    ap.add_argument("-a", "--address", default="/run/pycontainerd/pycontainerd.sock")
    ap.add_argument("--root", default="/var/lib/pycontainerd")
    ap.add_argument("--state", default="/run/pycontainerd")
    ap.add_argument("--runtime", default="pyrunc", help="OCI runtime binary (runc's CLI contract)")
    ap.add_argument("-l", "--log-level", default="info", choices=sorted(LEVELS))
    ap.add_argument("-c", "--config", help="accepted for containerd compatibility; ignored")
    ap.add_argument("--snapshotter", default="overlayfs", choices=["overlayfs", "native"],
                    help="default snapshotter: imports and pulls unpack into it (native: full copies, for "
                         "filesystems without overlay; chosen anyway when overlay mounts fail there)")
    net = ap.add_argument_group("networks (pycontainerd's own bridge networking; off unless --networks)")
    net.add_argument("--networks", action="store_true", help="serve pycontainerd.services.networks.v1.Networks")
    net.add_argument("--network-bridge", default="pyd0", help="device of the predefined bridge network")
    net.add_argument("--bip", default="", help="address/prefix of the predefined bridge (as dockerd --bip)")
    net.add_argument("--network-chain-prefix", default="PYDOCKER", help="prefix of our iptables chains")
    net.add_argument("--iptables", action=argparse.BooleanOptionalAction, default=True)
    net.add_argument("--userland-proxy", action=argparse.BooleanOptionalAction, default=True)
    net.add_argument("--default-address-pool", action="append", default=[], metavar="CIDR",
                     help="subnets to carve networks from (repeatable; replaces Docker's defaults)")
    net.add_argument("--network-remove-bridges-on-exit", action="store_true",
                     help="also delete our bridges on shutdown (isolated test stacks)")
    return ap.parse_args(argv)


def resolve_runtime(name: str) -> str:
    """A runtime path; the default `pyrunc` falls back to this checkout's bin/pyrunc when not on PATH."""
    if "/" in name:
        return name
    found = shutil.which(name)
    if found:
        return found
    local = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", name)
    return local if name == "pyrunc" and os.access(local, os.X_OK) else name


async def serve(args: argparse.Namespace) -> None:
    runtime = resolve_runtime(args.runtime)
    networks = None
    if args.networks:
        networks = NetworksConfig(args.network_bridge, args.bip, args.network_chain_prefix, args.iptables,
                                  args.userland_proxy, list(args.default_address_pool),
                                  args.network_remove_bridges_on_exit)
    d = Daemon(Config(args.address, args.root, args.state, runtime, networks, args.snapshotter))
    await d.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await d.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    heap.limit_arenas()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` dumps every thread's stack
    logging.basicConfig(level=LEVELS[args.log_level], stream=sys.stderr,
                        format="time=%(asctime)s level=%(levelname)s msg=%(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)  # grpc's own debug lines drown ours
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
