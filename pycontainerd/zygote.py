"""The shim zygote: a process that has already imported the shim, and forks one shim per task.

An exec'd shim pays for an interpreter start and its imports on every task start (tens of ms, far more
under load) and keeps ~10 MB of private memory. Forked from here, a shim starts in a few ms and shares
the interpreter's pages with its siblings.

pycontainerd starts it as `python -S -m pycontainerd.zygote --fd N --state DIR` with one end of a
SOCK_SEQPACKET socketpair as fd N. Each message is a JSON list: the shim's arguments (`start --namespace
… --id …`), with one fd attached, the write end of a status pipe. The zygote forks; the child
double-forks into the shim exactly as an exec'd `python -m pycontainerd.shim start …` does (new
session, reparented away from us, command line rewritten to that one), and the shim writes "ok" or why
it failed to the status pipe. The zygote exits when pycontainerd's end closes: it stopped or died; the
shims it forked live on. Standard library only.
"""
import gc

gc.disable()  # collections while importing would leave holes in pages the shims are meant to share

import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

from pycontainerd import shim  # noqa: E402


def _warm() -> None:
    """Do in the zygote what every shim would otherwise do (and keep private) on its own."""
    shim.libc()
    json.loads(json.dumps({"warm": [1, "x"]}))
    # A no-op rewrite proves prctl(PR_SET_MM_MAP) works here; pycontainerd falls back to exec otherwise
    # (a forked shim must show the shim's command line).
    with open("/proc/self/cmdline", "rb") as f:
        shim.set_cmdline([os.fsdecode(a) for a in f.read().split(b"\0")[:-1]])


def _spawn(argv: list[str], status_fd: int) -> None:
    """In the zygote's child: become the shim (via daemonize, which never returns)."""
    try:
        args = shim.ShimArgs.parse(argv)
    except ValueError as exc:
        os.write(status_fd, f"shim start failed: {exc}\n".encode())
        os._exit(1)
    gc.enable()  # the shim collects its own garbage; what the zygote froze stays out of reach
    shim.daemonize(args, status_fd, title=[sys.executable, "-m", "pycontainerd.shim", *args.argv()])


def serve(sock: socket.socket) -> None:
    """Fork a shim per request until the other end closes."""
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
        except InterruptedError:
            continue
        except ConnectionResetError:
            return
        if not data and not fds:
            return  # pycontainerd is gone
        if not fds:
            continue
        status, extra = fds[0], fds[1:]
        for fd in extra:
            os.close(fd)
        try:
            argv = json.loads(data)
        except ValueError:
            os.write(status, b"shim start failed: malformed zygote request\n")
            os.close(status)
            continue
        gc.freeze()  # everything allocated so far is the shims' shared, never-collected baseline
        try:
            pid = os.fork()
        except OSError as exc:
            os.write(status, f"shim start failed: fork: {exc}\n".encode())
            os.close(status)
            continue
        if pid == 0:
            try:
                sock.close()
                _spawn(argv, status)
            finally:
                os._exit(1)
        os.close(status)
        while True:  # the child only forks the shim and exits
            try:
                os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                break


def main() -> int:
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--fd":
        sys.stderr.write("usage: python -m pycontainerd.zygote --fd N [--state DIR]\n")
        return 2
    sock = socket.socket(fileno=int(argv[1]))
    _warm()
    gc.freeze()
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
