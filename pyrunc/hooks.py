"""OCI hooks: run with the state JSON on stdin, an optional timeout, runc's error texts."""
from __future__ import annotations

import os
import select
import _signal as signal
import time

from . import jsonlite as json
from .errors import RuncError
from .sigs import describe


def run_one(hook: dict, state: dict, index: int) -> None:
    path = hook.get("path")
    args = hook.get("args") or [path]
    env = hook.get("env") or []
    timeout = hook.get("timeout")
    data = json.dumps(state).encode()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(in_r, 0)
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            from .sigs import reset_all
            reset_all()
            os.execve(path, args, dict(e.split("=", 1) for e in env if "=" in e))
        except BaseException as e:  # noqa: BLE001 - the child must never return
            os.write(2, f"{e}".encode())
        os._exit(127)
    os.close(in_r)
    os.close(out_w)
    try:
        try:
            os.write(in_w, data)
        except BrokenPipeError:
            pass
        os.close(in_w)
        deadline = time.monotonic() + timeout if timeout else None
        output = b""
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([out_r], [], [], wait)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise RuncError(f"error running hook #{index}: timeout after {timeout} seconds")
            chunk = os.read(out_r, 65536)
            if not chunk:
                break
            output += chunk
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(out_r)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        reason = f"exit status {code}" if code > 0 else f"signal: {describe(-code)}"
        raise RuncError(f"error running hook #{index}: {reason}, stdout: "
                        f"{output.decode(errors='replace')}, stderr: ")


def run(hooks: dict | None, kind: str, state: dict) -> None:
    for i, h in enumerate((hooks or {}).get(kind) or []):
        run_one(h, state, i)
