"""pycontainerd entry point: `pycontainerd --address SOCK --root DIR --state DIR --runtime BINARY`."""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys

from .daemon import Config, Daemon

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
    d = Daemon(Config(args.address, args.root, args.state, runtime))
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
    logging.basicConfig(level=LEVELS[args.log_level], stream=sys.stderr,
                        format="time=%(asctime)s level=%(levelname)s msg=%(message)s")
    logging.getLogger("grpc").setLevel(logging.WARNING)  # grpc's own debug lines drown ours
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
