"""The shim zygote: a process that has already imported the shim, and forks one shim per task.

An exec'd shim pays for an interpreter start and its imports on every task start (tens of ms, far more
under load) and keeps ~10 MB of private memory. Forked from here, a shim starts in about a millisecond
and shares the interpreter's pages with its siblings.

pycontainerd starts it as `python -S -m pycontainerd.zygote --fd N --state DIR` with one end of a
SOCK_SEQPACKET socketpair as fd N. Each message is a JSON list: the shim's arguments (`start --namespace
… --id …`), with one fd attached, the write end of a status pipe; the shim writes "ok" or why it failed
there, as an exec'd `python -m pycontainerd.shim start …` reports on its stderr.

Even a fork is slow on a busy machine, so it happens ahead of time: a spare child, forked while nothing
waits, reads the next request itself and becomes that shim (new session, command line rewritten to the
exec'd shim's); the zygote then forks the next spare. With `--standby RUNTIME` (a runtime that has
`serve`, see pycontainerd/runtimeserver.py) the spare also starts `RUNTIME serve --once` beside it, so
the shim's `create` (and `start`) find the runtime already started and imported. Shims are the zygote's
children only until it exits (they are auto-reaped meanwhile); it exits when pycontainerd's end of the
socket closes (the daemon stopped or died), and the shims live on. Standard library only.
"""
import gc

gc.disable()  # collections while importing would leave holes in pages the shims are meant to share

import ctypes  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from pycontainerd import shim  # noqa: E402

TOOK, PEER_GONE = b"T", b"E"  # what a spare tells the zygote
_TITLE = None  # the buffer /proc/self/cmdline points at after set_cmdline (must stay alive)


class _MmMap(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("start_code", "end_code", "start_data", "end_data", "start_brk",
                                               "brk", "start_stack", "arg_start", "arg_end", "env_start",
                                               "env_end", "auxv")] + [("auxv_size", ctypes.c_uint32),
                                                                      ("exe_fd", ctypes.c_uint32)]


def set_cmdline(argv: list[str]) -> None:
    """Point /proc/self/cmdline at `argv`, so a shim forked here shows (to ps, and to tools that find
    shims by their command line) the command line an exec'd shim has. prctl(PR_SET_MM_MAP) with only
    the argument area changed needs no capability (PR_SET_MM_ARG_START would need CAP_SYS_RESOURCE)."""
    global _TITLE
    raw = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    buf = ctypes.create_string_buffer(raw, len(raw))
    with open("/proc/self/stat", "rb") as f:
        st = f.read().rsplit(b")", 1)[1].split()
    field = lambda n: int(st[n - 3])  # noqa: E731  (proc(5) numbers the fields from 1; we split after comm)
    lc = shim.libc()
    lc.sbrk.restype, lc.sbrk.argtypes = ctypes.c_void_p, [ctypes.c_long]
    m = _MmMap(start_code=field(26), end_code=field(27), start_data=field(45), end_data=field(46),
               start_brk=field(47), brk=lc.sbrk(0), start_stack=field(28), arg_start=ctypes.addressof(buf),
               arg_end=ctypes.addressof(buf) + len(raw), env_start=field(50), env_end=field(51), auxv=0,
               auxv_size=0, exe_fd=0xFFFFFFFF)
    if lc.prctl(35, 14, ctypes.byref(m), ctypes.sizeof(m), 0) != 0:  # PR_SET_MM, PR_SET_MM_MAP
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MM_MAP)")
    _TITLE = buf


def _warm() -> None:
    """Do in the zygote what every shim would otherwise do (and keep private) on its own."""
    shim.libc()
    json.loads(json.dumps({"warm": [1, "x"]}))
    # A no-op rewrite proves prctl(PR_SET_MM_MAP) works here (a forked shim must show the shim's
    # command line); if it does not, the zygote fails to start and pycontainerd execs shims.
    with open("/proc/self/cmdline", "rb") as f:
        set_cmdline([os.fsdecode(a) for a in f.read().split(b"\0")[:-1]])


def _tell(fd: int, what: bytes) -> None:
    try:
        os.write(fd, what)
    except OSError:
        pass  # the zygote is gone (killed): the spare goes on alone
    os.close(fd)


def _spawn_standby(runtime: str) -> tuple[str, int, socket.socket] | None:
    """Start `runtime serve --once` on one end of a socketpair: the shim this spare becomes sends it its
    `create`, which then costs no interpreter start on the critical path (pyrunc/server.py)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        theirs.set_inheritable(True)
        # we ignore SIGCHLD (auto-reap); the runtime must not inherit that: it waits for its own children
        pid = os.posix_spawnp(runtime, [runtime, "serve", "--once", "--fd", str(theirs.fileno())], os.environ,
                             setsigdef=(signal.SIGCHLD,))
    except OSError:
        ours.close()
        return None
    finally:
        theirs.close()
    return runtime, pid, ours


def _spare(sock: socket.socket, took: int, standby_runtime: str = "") -> None:
    """A pre-forked child: take the next request and become its shim. Never returns."""
    standby = _spawn_standby(standby_runtime) if standby_runtime else None
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, 4)
            break
        except InterruptedError:
            continue
        except OSError:
            data, fds = b"", []
            break
    if not data and not fds:
        _tell(took, PEER_GONE)
        os._exit(0)  # the standby reads EOF and exits
    _tell(took, TOOK)
    sock.close()
    # The zygote ignores SIGCHLD (its children are reaped by the kernel); the shim reaps its own.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if not fds:
        os._exit(1)
    status = fds[0]
    for fd in fds[1:]:
        os.close(fd)
    try:
        args = shim.ShimArgs.parse(json.loads(data))
    except Exception as exc:  # malformed JSON, not a list, bad options
        os.write(status, f"shim start failed: {exc}\n".encode())
        os._exit(1)
    gc.enable()  # the shim collects its own garbage; what the zygote froze stays out of reach
    try:
        os.setsid()
        set_cmdline([sys.executable, "-m", "pycontainerd.shim", *args.argv()])
    except OSError as exc:
        os.write(status, f"shim start failed: {exc}\n".encode())
        os._exit(1)
    shim.become_shim(args, status, standby)  # the shim takes the standby if it runs the same runtime


def serve(sock: socket.socket, standby_runtime: str = "") -> None:
    """Keep one spare waiting for a request until the other end of `sock` closes."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # spares and shims are reaped by the kernel
    while True:
        r, w = os.pipe()
        gc.freeze()  # everything allocated so far is the shims' shared, never-collected baseline
        try:
            pid = os.fork()
        except OSError as exc:
            sys.stderr.write(f"pycontainerd shim zygote: fork: {exc}\n")
            os.close(r)
            os.close(w)
            time.sleep(0.1)
            continue
        if pid == 0:
            try:
                os.close(r)
                _spare(sock, w, standby_runtime)
            finally:
                os._exit(1)
        os.close(w)
        said = os.read(r, 1)
        os.close(r)
        if said == PEER_GONE:
            return
        if said != TOOK:
            time.sleep(0.1)  # the spare died waiting (killed?): fork another, without spinning


def main() -> int:
    argv = sys.argv[1:]
    if len(argv) < 2 or argv[0] != "--fd":
        sys.stderr.write("usage: python -m pycontainerd.zygote --fd N [--state DIR] [--standby RUNTIME]\n")
        return 2
    sock = socket.socket(fileno=int(argv[1]))
    standby = argv[argv.index("--standby") + 1] if "--standby" in argv[:-1] else ""
    _warm()
    serve(sock, standby)
    return 0


if __name__ == "__main__":
    sys.exit(main())
