"""One function per subcommand: check arguments, call the service layer, print results.

Heavy modules are imported inside each function, so ``start``/``kill``/``delete`` stay cheap.
"""
from __future__ import annotations

import sys

from .errors import RuncError


def _args(cmd: str, pos: list[str], n: int, exact: bool = True, maximum: int | None = None) -> None:
    prog = "runc"
    if exact and len(pos) != n:
        raise RuncError(f'{prog}: "{cmd}" requires exactly {n} argument(s)')
    if not exact and len(pos) < n:
        raise RuncError(f'{prog}: "{cmd}" requires a minimum of {n} argument(s)')
    if maximum is not None and len(pos) > maximum:
        raise RuncError(f'{prog}: "{cmd}" requires a maximum of {maximum} argument(s)')


def _load(opts: dict, cid: str):
    from .state import State
    return State.load(opts["root"], cid)


def go_duration(text: str) -> float:
    """Seconds in a Go duration string (``100ms``, ``1m30s``, ``5s``)."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i = 0.0, "", 0
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if text.startswith(u, i)),
                    None)
        if unit is None or not num:
            raise RuncError(f'time: invalid duration "{text}"')
        total += float(num) * units[unit]
        num, i = "", i + len(unit)
    if num:
        raise RuncError(f'time: missing unit in duration "{text}"')
    if total <= 0:
        raise RuncError("duration interval must be greater than 0")
    return total


def cmd_create(opts: dict, pos: list[str]) -> int:
    _args("create", pos, 1)
    from .container import create
    create(opts, pos[0])
    return 0


def cmd_start(opts: dict, pos: list[str]) -> int:
    _args("start", pos, 1)
    from .container import start
    start(_load(opts, pos[0]))
    return 0


def cmd_run(opts: dict, pos: list[str]) -> int:
    _args("run", pos, 1)
    from .runner import run
    return run(opts, pos[0])


def cmd_state(opts: dict, pos: list[str]) -> int:
    _args("state", pos, 1)
    from . import jsonlite as json
    st = _load(opts, pos[0])
    sys.stdout.write(json.dumps(st.oci_state(), indent=2))
    return 0


def cmd_kill(opts: dict, pos: list[str]) -> int:
    _args("kill", pos, 1, exact=False, maximum=2)
    from .container import kill, signal_number
    st = _load(opts, pos[0])  # runc looks the container up before it reads the signal
    sig = signal_number(pos[1] if len(pos) > 1 and pos[1] else "SIGTERM")  # "" = the default
    kill(st, sig, bool(opts.get("all")))
    return 0


def cmd_delete(opts: dict, pos: list[str]) -> int:
    _args("delete", pos, 1)
    from .container import delete
    delete(opts["root"], pos[0], bool(opts.get("force")))
    return 0


def cmd_pause(opts: dict, pos: list[str]) -> int:
    _args("pause", pos, 1)
    from .container import pause
    pause(_load(opts, pos[0]))
    return 0


def cmd_resume(opts: dict, pos: list[str]) -> int:
    _args("resume", pos, 1)
    from .container import resume
    resume(_load(opts, pos[0]))
    return 0


def cmd_list(opts: dict, pos: list[str]) -> int:
    _args("list", pos, 0)
    from . import jsonlite as json

    from .state import State, list_ids
    states = []
    for cid in list_ids(opts["root"]):
        try:
            states.append(State.load(opts["root"], cid))
        except RuncError:
            continue
    fmt = opts.get("format", "table")
    if opts.get("quiet"):
        for s in states:
            sys.stdout.write(s.id + "\n")
        return 0
    if fmt not in ("json", "table"):
        raise RuncError("invalid format option")
    items = []
    for s in states:
        o = s.oci_state()
        o["owner"] = _owner(opts["root"], s.id)
        items.append(o)
    if fmt == "json":
        # the same fields and order as `state`, compact like Go's json.Marshal
        sys.stdout.write(json.dumps(items if items else None, compact=True) + "\n")
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [(o["id"], str(o["pid"]), o["status"], o["bundle"], o["created"], o["owner"])
             for o in items]
    # Go's tabwriter as runc sets it up: cells padded by 3, at least 12 wide; the last
    # column is not tab-terminated, so not padded
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(5)]
    for r in rows:
        sys.stdout.write("".join(c.ljust(widths[i]) for i, c in enumerate(r[:5])) + r[5] + "\n")
    return 0


_OWNERS: dict[int, str] = {}  # uid → name, looked up once per list (the containers share one owner)


def _owner(root: str, cid: str) -> str:
    """runc's list: the name of the container state dir's owner (``#uid`` without one)."""
    import os
    try:
        uid = os.stat(os.path.join(root, cid)).st_uid
    except OSError:
        return ""
    if uid not in _OWNERS:
        import pwd
        try:
            _OWNERS[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _OWNERS[uid] = f"#{uid}"
    return _OWNERS[uid]


def cmd_ps(opts: dict, pos: list[str]) -> int:
    _args("ps", pos, 1, exact=False)
    from . import jsonlite as json

    from .container import _manager
    st = _load(opts, pos[0])
    mgr = _manager(st)
    pids = mgr.pids() if mgr is not None and mgr.exists() else []
    fmt = opts.get("format", "table")
    if fmt == "json":
        sys.stdout.write(json.dumps(pids, compact=True) + "\n")
        return 0
    if fmt != "table":
        raise RuncError("invalid format option")
    import subprocess
    ps_args = pos[1:] or ["-ef"]
    try:
        out = subprocess.run(["ps"] + ps_args, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuncError(f"ps: {e}") from None
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    try:
        col = header.index("PID")
    except ValueError:
        raise RuncError("couldn't find PID field in ps output") from None
    sys.stdout.write(lines[0] + "\n")
    wanted = set(pids)
    for ln in lines[1:]:
        fields = ln.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            sys.stdout.write(ln + "\n")
    return 0


def cmd_update(opts: dict, pos: list[str]) -> int:
    """runc update: ``-r FILE|-`` (then every other flag is ignored, as runc), or the flags."""
    from .updateargs import int_flag, ram_in_bytes, read_resources, strconv_int
    # the IntFlags fail while the flags are parsed, before the arguments are counted
    pids_limit, blkio_weight = int_flag(opts, "pids-limit"), int_flag(opts, "blkio-weight")
    _args("update", pos, 1)

    from .container import update
    st = _load(opts, pos[0])
    if opts.get("resources"):
        update(st, read_resources(opts["resources"], sys.stdin))
        return 0
    res: dict = {}
    if blkio_weight:
        res["blockIO"] = {"weight": blkio_weight & 0xFFFF}  # runc: uint16(val)
    cpu: dict = {}
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if opts.get(flag):
            cpu[key] = opts[flag]
    for flag, key, unsigned in (("cpu-period", "period", True),
                                ("cpu-rt-period", "realtimePeriod", True),
                                ("cpu-share", "shares", True), ("cpu-quota", "quota", False),
                                ("cpu-rt-runtime", "realtimeRuntime", False)):
        if opts.get(flag):
            cpu[key] = strconv_int(flag, opts[flag], unsigned)
    mem: dict = {}
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"),
                      ("memory-reservation", "reservation"), ("kernel-memory", "kernel"),
                      ("kernel-memory-tcp", "kernelTCP")):
        if opts.get(flag):
            mem[key] = ram_in_bytes(flag, opts[flag])
    if mem:
        res["memory"] = mem
    if cpu:
        res["cpu"] = cpu
    if pids_limit:  # 0 leaves the limit alone, as runc
        res["pids"] = {"limit": pids_limit}
    update(st, res)
    return 0


def cmd_exec(opts: dict, pos: list[str]) -> int:
    _args("exec", pos, 1, exact=False)
    from .execproc import exec_
    try:
        if not opts.get("process") and len(pos) < 2:
            raise RuncError("exec args cannot be empty")
        return exec_(opts, pos[0], pos[1:])
    except RuncError as e:
        raise RuncError(e.msg if e.msg.startswith("exec failed: ") else f"exec failed: {e.msg}",
                        255) from None


def cmd_spec(opts: dict, pos: list[str]) -> int:
    _args("spec", pos, 0)
    from .spec import write_spec
    write_spec(opts.get("bundle") or ".", bool(opts.get("rootless")))
    return 0


def cmd_features(opts: dict, pos: list[str]) -> int:
    _args("features", pos, 0)
    from . import jsonlite as json

    from .spec import features
    sys.stdout.write(json.dumps(features(), indent=4) + "\n")
    return 0


def cmd_checkpoint(opts: dict, pos: list[str]) -> int:
    """runc checkpoint needs CRIU, which pyrunc does not drive: say so (after runc's argument
    and container checks, so a missing container is still reported as such)."""
    _args("checkpoint", pos, 1)
    _load(opts, pos[0])
    raise RuncError("checkpoint is not supported by pyrunc (no CRIU support)")


def cmd_restore(opts: dict, pos: list[str]) -> int:
    _args("restore", pos, 1)
    raise RuncError("restore is not supported by pyrunc (no CRIU support)")


def cmd_serve(opts: dict, pos: list[str]) -> int:
    """pyrunc's own: serve the commands that start no process over the socket at --fd N
    (or, with --once, run the one command sent on the connected socket N: a standby)."""
    _args("serve", pos, 0)
    fd = opts.get("fd")
    if not fd or not fd.isdigit():
        raise RuncError("serve: --fd N (an inherited listening unix socket) is required")
    from .server import serve, serve_once
    return serve_once(int(fd)) if opts.get("once") else serve(int(fd))


def cmd_events(opts: dict, pos: list[str]) -> int:
    """runc events: stats every --interval, an {"type":"oom"} line whenever the container's
    memory cgroup reports an OOM; ends when the container stops (or its cgroup goes)."""
    _args("events", pos, 1)
    from . import jsonlite as json

    from .stats import stats
    st = _load(opts, pos[0])
    if st.status() == "stopped":
        raise RuncError(f"container with id {st.id} is not running")

    def emit(ev: dict) -> None:
        sys.stdout.write(json.dumps(ev, compact=True) + "\n")
        sys.stdout.flush()

    if opts.get("stats"):
        emit({"type": "stats", "id": st.id, "data": stats(st)})
        return 0
    import select
    import time

    from .cgroups.oom import notifier
    interval = go_duration(opts.get("interval") or "5s")
    try:
        oom = notifier(st.data.get("cgroup_paths") or {})
    except OSError:
        oom = None  # no OOM events then, as runc when the registration fails: stats still come
    poller = select.poll()
    if oom is not None:
        poller.register(oom.fileno(), select.POLLIN)
    # like runc's time.Tick, the first stats come one interval after the start; the state is
    # looked at every second at least, so a stopped container ends the stream promptly
    next_stats = time.monotonic() + interval
    try:
        while True:
            wait = min(max(next_stats - time.monotonic(), 0.0), 1.0)
            if poller.poll(wait * 1000) and oom is not None:
                for _ in range(oom.read()):
                    emit({"type": "oom", "id": st.id})
                if oom.done:
                    return 0
            if st.status() == "stopped":
                if oom is not None:
                    for _ in range(oom.read()):  # an OOM kill may be what stopped it
                        emit({"type": "oom", "id": st.id})
                return 0
            if time.monotonic() >= next_stats:
                emit({"type": "stats", "id": st.id, "data": stats(st)})
                next_stats += interval
    finally:
        if oom is not None:
            oom.close()
