"""``pyrunc run``: create + start, then (unless --detach) forward signals, wait, and delete."""
from __future__ import annotations

import os
import _signal as signal

from .container import create, destroy, release_fifo
from .errors import RuncError

_NOT_FORWARDED = {signal.SIGCHLD, signal.SIGKILL, signal.SIGSTOP, signal.SIGURG,
                  signal.SIGWINCH}


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _wants_own_tty(opts: dict) -> bool:
    if opts.get("detach") or opts.get("console-socket"):
        return False
    from .config import load_spec
    bundle = os.path.abspath(opts.get("bundle") or os.getcwd())
    try:
        spec = load_spec(bundle)
    except RuncError:
        return False  # create reports it
    opts["_spec"] = spec  # parsed once: create takes it from here
    return bool((spec.get("process") or {}).get("terminal"))


def run(opts: dict, cid: str) -> int:
    ours = None
    if _wants_own_tty(opts):
        from .console import pair
        ours, opts["_console"] = pair()
    try:
        state = create(opts, cid, for_run=True)
    except BaseException:
        if ours is not None:
            ours.close()
        raise
    master = None
    try:
        if ours is not None:
            from .console import recv_master
            master = recv_master(ours)
            ours.close()
        if not opts.get("_released"):  # create released it already (see _create)
            release_fifo(state)
    except BaseException:
        _cleanup(state)
        raise
    if opts.get("detach"):
        return 0
    init = state.pid
    if master is not None:
        from .sigs import forward_all
        forward_all(lambda signum, _f: _forward(init, signum), _NOT_FORWARDED)
        code = exit_code(proxy_and_wait(master, init))
        if not opts.get("keep"):
            destroy(state)
        return code
    from .sigs import forward_all
    forward_all(lambda signum, _f: _forward(init, signum), _NOT_FORWARDED)
    code = 255
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid == init:
            code = exit_code(status)
            break
    # reap orphans re-parented to us (we are their subreaper) without blocking
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    if not opts.get("keep"):
        destroy(state)
    return code


def proxy_and_wait(master: int, pid: int) -> int:
    from .console import proxy
    status = proxy(master, pid)
    # reap orphans re-parented to us (we are their subreaper)
    while True:
        try:
            got, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if got == 0:
            break
    return status


def _forward(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _cleanup(state) -> None:
    try:
        os.kill(state.pid, signal.SIGKILL)
        os.waitpid(state.pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    try:
        destroy(state)
    except RuncError:
        pass
