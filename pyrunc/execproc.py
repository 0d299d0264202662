"""``pyrunc exec``: run another process in a running container's namespaces and cgroup."""
from __future__ import annotations

import copy
import os
import _signal as signal

from . import jsonlite as json
from . import runlog, sync
from .config import validate_process
from .container import _manager, _set_rlimits, write_pid_file
from .seccompprog import send_program
from .errors import RuncError
from .namespaces import ns_inode
from .state import State


def build_process(opts: dict, state: State, args: list[str]) -> dict:
    """The process spec: from --process FILE, or the init's process overridden by flags."""
    if opts.get("process"):
        try:
            with open(opts["process"]) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise RuncError(f"unable to read process spec {opts['process']}: {e}") from None
    proc = copy.deepcopy(state.config.get("process") or {})
    proc["args"] = args
    proc["terminal"] = bool(opts.get("tty"))
    proc.pop("consoleSize", None)
    env = proc.get("env") or []
    for e in opts.get("env") or []:
        key = e.partition("=")[0]
        env = [x for x in env if x.partition("=")[0] != key] + [e]
    proc["env"] = env
    if opts.get("cwd"):
        proc["cwd"] = opts["cwd"]
    user = proc.setdefault("user", {"uid": 0, "gid": 0})
    if opts.get("user"):
        uid, _, gid = opts["user"].partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise RuncError(f"parsing {opts['user']} as uid[:gid] failed") from None
    if opts.get("additional-gids"):
        user["additionalGids"] = [int(g) for g in opts["additional-gids"]]
    if opts.get("cap"):
        caps = proc.setdefault("capabilities", {})
        for s in ("bounding", "effective", "permitted", "ambient"):
            caps[s] = list(caps.get(s) or []) + [c for c in opts["cap"]
                                                 if c not in (caps.get(s) or [])]
    if opts.get("no-new-privs"):
        proc["noNewPrivileges"] = True
    return proc


def parse_cgroup_flags(values: list[str], controllers) -> dict[str, str]:
    """``--cgroup [ctl[,ctl]:]path`` flags to controller -> sub-path ("" = every controller)."""
    out: dict[str, str] = {}
    for v in values:
        ctls, colon, path = v.rpartition(":")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise RuncError(f"invalid --cgroup argument: {path} is not a sub cgroup path")
        norm = "/".join(parts)
        if not colon:
            out[""] = norm
            continue
        for c in ctls.split(","):
            if c not in controllers:
                raise RuncError(f"invalid --cgroup argument: unknown controller {c!r}")
            out[c] = norm
    return out


def cgroup_targets(mgr, subs: dict[str, str]) -> dict[str, str]:
    """controller -> the dir the process joins: the container's, or the requested sub-cgroup."""
    out = {}
    for ctl, path in mgr.paths.items():
        sub = subs.get(ctl, subs.get("", ""))
        out[ctl] = os.path.join(path, sub) if sub else path
    return out


def join_cgroups(targets: dict[str, str], pid: int) -> None:
    """Move ``pid`` into these cgroup dirs by cgroup.procs."""
    from .cgroups import write_file
    for target in targets.values():
        try:
            write_file(target, "cgroup.procs", pid)
        except RuncError as e:
            raise RuncError(f"error adding pid {pid} to cgroups: {e.msg}") from None


def exec_(opts: dict, cid: str, args: list[str]) -> int:
    from . import capabilities
    state = State.load(opts["root"], cid)
    status = state.status()
    if status == "stopped":
        raise RuncError("cannot exec in a stopped container")
    if status == "paused" and not opts.get("ignore-paused"):
        raise RuncError("cannot exec in a paused container (use --ignore-paused to override)")
    proc = build_process(opts, state, args)
    validate_process(proc)
    detach = bool(opts.get("detach"))
    if proc.get("terminal") and not opts.get("console-socket") and detach:
        raise RuncError("cannot allocate tty if runc will detach without setting console socket")
    init_pid = state.pid
    csock = ours = None
    if proc.get("terminal") and not opts.get("console-socket"):
        from .console import pair
        ours, csock = pair()  # foreground: we are the terminal's other end
    elif proc.get("terminal"):
        from .console import connect
        try:
            csock = connect(opts["console-socket"])
        except OSError as e:
            raise RuncError(f"dial unix {opts['console-socket']}: connect: "
                            f"{(e.strerror or str(e)).lower()}") from None
    ctx = {
        "process": proc, "init_pid": init_pid, "console_sock": csock,
        "preserve_fds": int(opts.get("preserve-fds") or 0),
        "caps": capabilities.resolve(proc.get("capabilities"), runlog.warn),
        "seccomp": (state.config.get("linux") or {}).get("seccomp"), "warn": runlog.warn,
        "chroot": f"/proc/{init_pid}/root" if ns_inode(init_pid, "mnt") == ns_inode("self", "mnt")
        else None,
    }
    mgr = _manager(state)
    subs = {}
    if opts.get("cgroup"):
        ctls = set()
        for name in (mgr.paths if mgr is not None else {}):
            ctls.update(name.split(","))
        subs = parse_cgroup_flags(opts["cgroup"], ctls)
    targets = cgroup_targets(mgr, subs) if mgr is not None and mgr.exists() else {}
    # stage 1 moves itself into the v1 dirs ("0" in tasks: no RCU wait, see V1Manager)
    ctx["seccomp_from_parent"] = True  # see seccompprog
    ctx["self_join"] = sorted({os.path.join(t, "tasks") for ctl, t in targets.items()
                               if ctl != "unified"})
    sock_p, sock_c = sync.pair()
    from .syscalls import PR_SET_CHILD_SUBREAPER, prctl
    if not detach:
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # the process is re-parented to us so we can wait
    from . import process  # before the fork: importing in the child costs more (COW)
    from .syscalls import fork_into
    stage1, _, born_in_cg = fork_into(targets.get("unified"))
    if stage1 == 0:
        sock_p.close()
        process.exec_stage1(sock_c, ctx)
        os._exit(1)
    sock_c.close()
    pid = 0
    try:
        if "unified" in targets and not born_in_cg:
            join_cgroups({"unified": targets["unified"]}, stage1)
        kind, payload = sync.recv(sock_p)
        if kind != "cg":
            raise RuncError(f"error adding pid {stage1} to cgroups: {payload}") \
                if kind == "cgerror" else RuncError(payload) if kind == "error" \
                else RuncError(f"unexpected sync message {kind!r}")
        sync.send(sock_p, "go")
        if ctx.get("seccomp"):
            # compiled here while stage 1 joins the namespaces; read by stage 2 before "run"
            send_program(sock_p, ctx["seccomp"], opts["root"])
        pid = int(sync.expect(sock_p, "pid"))
        os.waitpid(stage1, 0)
        _set_rlimits(pid, proc.get("rlimits"))
        sync.send(sock_p, "run")
        kind, payload = sync.recv(sock_p)
        if kind == "error":
            raise RuncError(payload)
    except BaseException as e:
        for p in (pid, stage1):
            if p:
                try:
                    os.kill(p, signal.SIGKILL)
                    os.waitpid(p, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        if ours is not None:
            ours.close()
        if isinstance(e, RuncError):
            raise RuncError(f"unable to start container process: {e.msg}", 255) from None
        raise
    finally:
        sock_p.close()
        if csock is not None:
            csock.close()
    if opts.get("pid-file"):
        write_pid_file(opts["pid-file"], pid)
    if detach:
        return 0
    from .runner import _NOT_FORWARDED, _forward, exit_code, proxy_and_wait
    from .sigs import forward_all
    forward_all(lambda signum, _f: _forward(pid, signum), _NOT_FORWARDED)
    if ours is not None:
        from .console import recv_master
        master = recv_master(ours)
        ours.close()
        return exit_code(proxy_and_wait(master, pid))
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return 255
        if got == pid:
            return exit_code(status)
