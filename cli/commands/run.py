"""`docker run` and `docker create`: create (pulling on 404), attach, wait, start."""
from __future__ import annotations

import os
import signal
import sys
import threading

from cli import flags as F
from cli import refs
from cli.containeropts import CREATE_FLAGS, RUN_ONLY_FLAGS, build_create_request
from cli.errors import APIError, CLIError
from cli.progress import display_stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.client import Client, Response
    from cli.context import Context

class RunError(CLIError):
    """An error from run/create, printed as `docker: <msg>` + the usage hint (toStatusError)."""

    def __init__(self, message: str, cmd: str = "run", status: int | None = None) -> None:
        if status is None:
            status = 125
            if any(s in message for s in ("executable file not found", "no such file or directory",
                                          "system cannot find the file specified")):
                status = 127
            elif "permission denied" in message or "is a directory" in message:
                status = 126
        super().__init__(f"docker: {message}\n\nRun 'docker {cmd} --help' for more information", status)


def pull_image(ctx: Context, image: str, quiet: bool, platform: str = "") -> None:
    """POST /images/create with progress on stderr, as `run`/`create` do before retrying."""
    from cli.auth import registry_auth_header
    ref = refs.parse(image)
    params = {"fromImage": ref.name, "tag": ref.digest or ref.tag}
    if platform:
        params["platform"] = platform
    resp = ctx.client.request("POST", "/images/create", params, body=b"",
                              headers=registry_auth_header(ref.domain))
    out = open(os.devnull, "w") if quiet else ctx.err
    try:
        display_stream(resp.iter_json(), out)
    finally:
        if quiet:
            out.close()


def create_container(ctx: Context, opts: Any, image: str, cmd: list[str], detach: bool,
                     console_size: tuple[int, int] | None, command: str) -> str:
    """Create the container, pulling the image when the daemon answers 404; return its ID.

    Flag-translation errors are RunErrors (exit 125 for run and create alike); reference and daemon
    errors are plain CLIErrors, which `run` wraps and `create` prints as they are (exit 1).
    """
    try:
        body = build_create_request(opts, image, cmd, detach, console_size)
    except CLIError as e:
        raise RunError(e.message, command) from None
    if opts.pull not in ("always", "missing", "never"):
        raise RunError(f'invalid pull option: \'{opts.pull}\': must be one of "always", "missing" or "never"', command)
    ref = None  # an image ID ("sha256:…") is never pulled
    if not (image.startswith("sha256:") and len(image) == 71):
        ref = refs.parse(image)
    params = {"name": opts.name or None, "platform": opts.platform or None}
    if opts.pull == "always":
        pull_image(ctx, image, opts.quiet, opts.platform)
    try:
        created = ctx.client.post_json("/containers/create", params, body)
    except APIError as e:
        if not e.not_found or opts.pull != "missing" or ref is None:
            raise
        if not opts.quiet:
            ctx.err.write(f"Unable to find image '{ref.familiar()}' locally\n")
            ctx.err.flush()
        pull_image(ctx, image, opts.quiet, opts.platform)
        created = ctx.client.post_json("/containers/create", params, body)
    for w in created.get("Warnings") or []:
        ctx.err.write(f"WARNING: {w}\n")
    cid = created["Id"]
    if opts.cidfile:
        try:
            with open(opts.cidfile, "x") as f:
                f.write(cid)
        except FileExistsError:
            raise CLIError(f"container ID file found, make sure the other container isn't running or delete {opts.cidfile}") from None
    return cid


def open_wait(client: Client, cid: str, removed: bool) -> Response:
    """POST /wait before start; returns once the headers arrived (the daemon flushes them at once)."""
    return client.request("POST", f"/containers/{cid}/wait",
                          {"condition": "removed" if removed else "next-exit"})


def wait_status(ctx: Context, resp: Response) -> int:
    """Read the wait body: the exit status, or 125 with the error printed."""
    try:
        result = resp.json() or {}
    except CLIError as e:
        ctx.err.write(f"Error waiting for container: {e.message}\n")
        return 125
    err = result.get("Error")
    if err and err.get("Message"):
        ctx.err.write(f"Error waiting for container: {err['Message']}\n")
        return 125
    return int(result.get("StatusCode", 0))


def forward_signals(client: Client, cid: str) -> None:
    """Proxy the usual terminal signals to the container as `POST /kill?signal=NAME`."""
    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name.removeprefix("SIG")
        try:
            client.request("POST", f"/containers/{cid}/kill", {"signal": name}).read()
        except CLIError:
            pass
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, handler)


def monitor_resize(client: Client, path: str, fd: int) -> None:
    """Send the terminal size now and on every SIGWINCH (retrying the first as the CLI does)."""
    from cli.tty import terminal_size

    def resize() -> bool:
        size = terminal_size(fd)
        if not size:
            return True
        try:
            client.request("POST", path, {"h": size[0], "w": size[1]}).read()
            return True
        except CLIError:
            return False

    def first() -> None:
        import time
        for i in range(10):
            if resize():
                return
            time.sleep(0.1 * (i + 1))
        sys.stderr.write("failed to resize tty, using default size\n")

    threading.Thread(target=first, daemon=True).start()
    signal.signal(signal.SIGWINCH, lambda *_: resize())


def attach_and_run(ctx: Context, cid: str, tty: bool, stdin: bool, auto_remove: bool,
                   sig_proxy: bool, detach_keys: str, command: str = "run",
                   attach_out: bool = True, attach_err: bool = True) -> int:
    """The attach → wait → start → stream → exit-status sequence shared by run and start -a."""
    from contextlib import nullcontext

    from cli.config import setting
    from cli.streams import DetachedError, pump
    from cli.tty import RawMode, parse_detach_keys
    from cli.tty import detach_keys as resolve_keys

    client = ctx.client
    keys = parse_detach_keys(resolve_keys(detach_keys))
    params = {"stream": 1, "stdin": 1 if stdin else None, "stdout": 1 if attach_out else None,
              "stderr": 1 if attach_err else None, "detachKeys": detach_keys or setting("detachKeys") or None}
    try:
        sock, fp = client.hijack(f"/containers/{cid}/attach", params)
        waiter = open_wait(client, cid, auto_remove)
    except CLIError as e:
        raise RunError(e.message, command) from None
    try:
        client.request("POST", f"/containers/{cid}/start").read()
    except CLIError as e:
        sock.close()
        if auto_remove:
            waiter.read()
        raise RunError(e.message, command) from None
    if sig_proxy and not tty:
        forward_signals(client, cid)
    stdin_fd = sys.stdin.fileno() if stdin else None
    raw_fd = stdin_fd if (tty and stdin_fd is not None and os.isatty(stdin_fd)) else None
    if tty and os.isatty(sys.stdout.fileno()):
        monitor_resize(client, f"/containers/{cid}/resize", sys.stdout.fileno())
    try:
        with RawMode(raw_fd) if raw_fd is not None else nullcontext():
            pump(sock, fp, tty, stdin_fd, keys if tty or stdin else b"")
    except DetachedError:
        waiter.close()
        return 0
    return wait_status(ctx, waiter)


def _console_size(tty: bool) -> tuple[int, int] | None:
    if not tty:
        return None
    from cli.tty import terminal_size
    return terminal_size(sys.stdout.fileno())


def run_run(ctx: Context, opts: Any, args: list[str]) -> int:
    image, cmd = args[0], args[1:]
    if opts.detach and opts.attach:
        raise CLIError("conflicting options: cannot specify both --attach and --detach")
    if opts.tty and opts.interactive and not os.isatty(sys.stdin.fileno()):
        raise CLIError("the input device is not a TTY")
    try:
        cid = create_container(ctx, opts, image, cmd, opts.detach, _console_size(opts.tty), "run")
    except CLIError as e:
        if isinstance(e, RunError):
            raise
        raise RunError(e.message, "run") from None
    attach = [a.lower() for a in (opts.attach or [])]
    a_out = not opts.detach and (not attach or "stdout" in attach)
    a_err = not opts.detach and (not attach or "stderr" in attach)
    a_in = not opts.detach and (("stdin" in attach) if attach else bool(opts.interactive))
    if not (a_out or a_err or a_in):
        waiter = open_wait(ctx.client, cid, bool(opts.rm))
        try:
            ctx.client.request("POST", f"/containers/{cid}/start").read()
        except CLIError as e:
            raise RunError(e.message, "run") from None
        finally:
            waiter.close()
        ctx.line(cid)
        return 0
    return attach_and_run(ctx, cid, bool(opts.tty), a_in, bool(opts.rm), opts.sig_proxy,
                          opts.detach_keys, "run", a_out, a_err)


def run_create(ctx: Context, opts: Any, args: list[str]) -> int:
    cid = create_container(ctx, opts, args[0], args[1:], False, _console_size(opts.tty), "create")
    ctx.line(cid)
    return 0


RUN = F.Command("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create and run a new container from an image",
                CREATE_FLAGS + RUN_ONLY_FLAGS, min_args=1, interspersed=False, run=run_run)
CREATE = F.Command("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
                   CREATE_FLAGS, min_args=1, interspersed=False, run=run_create)
