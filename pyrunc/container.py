"""Container lifecycle on the runtime side: create, start, kill, delete, pause, resume, update.

Validates everything before touching the system; a failed create undoes what it did (init
process, cgroups, state dir) in reverse order.
"""
from __future__ import annotations

import os
import _signal as signal
import time

from . import runlog
from .errors import InitError, RuncError
from .state import FIFO, STATE_FILE, State, now_rfc3339nano, proc_stat, validate_id


def _hook_state(cid: str, status: str, pid: int, bundle: str, spec: dict) -> dict:
    st = {"ociVersion": spec.get("ociVersion", "1.0.2-dev"), "id": cid, "status": status,
          "pid": pid, "bundle": bundle}
    if spec.get("annotations"):
        st["annotations"] = spec["annotations"]
    return st


def _write_maps(pid: int, linux: dict) -> None:
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n"
                        for m in linux.get(key) or [])
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(lines)


def _set_rlimits(pid: int, rlimits: list[dict]) -> None:
    if not rlimits:
        return
    from . import config as cfg
    from .syscalls import prlimit
    for rl in rlimits:
        try:
            prlimit(pid, cfg.RLIMITS[rl["type"]], int(rl["soft"]), int(rl["hard"]))
        except OSError as e:
            raise RuncError(f"error setting rlimit type {cfg.RLIMITS[rl['type']]}: "
                            f"{os.strerror(e.errno)}".lower()) from None


def _wait_gone(pid: int, start: int | None, timeout: float) -> bool:
    """Poll until ``pid`` (with this start time) is dead or a zombie."""
    deadline = time.monotonic() + timeout
    while True:
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X") or (start is not None and st[1] != start):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def _reap_quietly(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def create(opts: dict, cid: str, for_run: bool = False) -> State:
    """Set up a container whose init waits on exec.fifo; return its State."""
    from .cgroups import device_rules, new_manager
    try:
        return _create(opts, cid, for_run, device_rules, new_manager)
    except RuncError as e:
        # runc's wording: every create error is prefixed, the init's ones once more
        what = "run" if for_run else "create"
        msg = f"unable to start container process: {e.msg}" if isinstance(e, InitError) \
            else e.msg
        raise RuncError(f"runc {what} failed: {msg}") from None


def _create(opts: dict, cid: str, for_run: bool, device_rules, new_manager) -> State:
    # imported here: start/kill/delete/state, the shim's other calls, do not need them
    from . import capabilities, namespaces, sync
    from . import config as cfg
    from . import syscalls as sc
    root = opts["root"]
    bundle = os.path.abspath(opts.get("bundle") or os.getcwd())
    spec = opts.get("_spec") or cfg.load_spec(bundle)
    rootfs = cfg.validate(spec, bundle)
    validate_id(cid)
    linux = spec.get("linux") or {}
    proc = spec["process"]
    if proc.get("terminal") and not opts.get("console-socket") and not opts.get("_console"):
        raise RuncError("cannot allocate tty if runc will detach without setting console socket")
    if not proc.get("terminal") and opts.get("console-socket"):
        raise RuncError("cannot use console socket if runc will not detach or allocate tty")
    preserve = int(opts.get("preserve-fds") or 0)
    spec_ns = cfg.namespaces(spec)
    kinds = {ns["type"]: ns.get("path") for ns in spec_ns}
    caps = capabilities.resolve(proc.get("capabilities"), runlog.warn)

    os.makedirs(root, 0o711, exist_ok=True)
    sdir = os.path.join(root, cid)
    try:
        os.mkdir(sdir, 0o711)
    except FileExistsError:
        raise RuncError("container with given ID already exists") from None
    undo: list = [lambda: _rmtree(sdir)]
    init_pid = 0
    mgr = None
    sock_p = sock_c = csock = None
    try:
        fifo = os.path.join(sdir, FIFO)
        old = os.umask(0)
        try:
            os.mkfifo(fifo, 0o622)
        finally:
            os.umask(old)
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        undo.append(lambda: os.close(fifo_fd))
        if opts.get("_console") is not None:
            csock = opts["_console"]  # our own end: `run` in the foreground with a terminal
        elif opts.get("console-socket"):
            from .console import connect
            try:
                csock = connect(opts["console-socket"])
            except OSError as e:
                raise RuncError(f"dial unix {opts['console-socket']}: connect: "
                                f"{(e.strerror or str(e)).lower()}") from None
        mgr = new_manager(linux.get("cgroupsPath"), cid, opts.get("systemd-cgroup", False))
        state = State(root, cid, {
            "id": cid, "ociVersion": spec.get("ociVersion", "1.0.2-dev"), "bundle": bundle,
            "rootfs": rootfs, "created": now_rfc3339nano(), "owner": "",
            "init_process_pid": 0, "init_process_start": 0, "config": spec,
            "cgroup_paths": mgr.paths, "cgroup_created": mgr.created,
            "namespace_paths": {}, "new_pidns": "pid" in kinds and not kinds["pid"],
        })
        hook_state = _hook_state(cid, "creating", 0, bundle, spec)
        ctx = {
            "spec": spec, "rootfs": rootfs, "bundle": bundle, "namespaces": spec_ns,
            "new_user": "user" in kinds and not kinds["user"], "in_userns": "user" in kinds,
            "new_net": "network" in kinds and not kinds["network"],
            "new_mount": "mount" in kinds, "new_ipc": "ipc" in kinds and not kinds["ipc"],
            "new_cgroupns": "cgroup" in kinds and not kinds["cgroup"],
            "cgroup_paths": mgr.paths, "self_join": mgr.self_join_files(), "fifo_fd": fifo_fd, "console_sock": csock,
            "preserve_fds": preserve, "no_pivot": opts.get("no-pivot"),
            "no_new_keyring": opts.get("no-new-keyring"), "caps": caps, "warn": runlog.warn,
            "hook_state": hook_state,
            # a new cgroup namespace is rooted at the cgroup of whoever unshares it, so stage 1
            # must be in the container's cgroups first; otherwise the rest (unified) is added
            # while the init builds its rootfs (that attach can wait ~10 ms for RCU)
            "wait_go": "cgroup" in kinds and not kinds["cgroup"],
        }
        undo.append(mgr.destroy)
        early = ctx["wait_go"]
        rest = mgr.rest()
        # on a hybrid host only the unified dir must exist before the fork (the child is born
        # in it): the v1 dirs are made while the child sets up its keyring and lo, and it
        # waits for "dirs" before joining them; a v2 host has just the one dir
        later = rest == ["unified"] and len(mgr.paths) > 1
        if later:
            _make_dirs(mgr, mgr.paths["unified"])
        else:
            mgr.create()
        sock_p, sock_c = sync.pair()
        from .syscalls import PR_SET_CHILD_SUBREAPER, prctl
        # the init gets reparented to us when stage 1 exits, so a failed create can reap it
        prctl(PR_SET_CHILD_SUBREAPER, 1)
        # no namespace to join and no user namespace to map: clone the init straight into
        # its namespaces (and v2 cgroup), without stage 1 in between
        direct = "user" not in kinds and not any(kinds.values())
        # what the child runs is imported here, before the fork: importing it in the child
        # costs ~250 more page faults (copy-on-write of the import machinery's objects)
        # (without libseccomp: the direct init gets the program from us, compiled or cached, and
        # stage 1 loads it itself)
        from . import process
        process.preload(False, bool(spec["process"].get("terminal")), bool(spec.get("hooks")))
        # the init itself when it can be cloned into its namespaces (direct), else stage 1
        child, direct, born_in_cg = sc.fork_into(mgr.paths["unified"] if rest == ["unified"] else None,
                                                 namespaces.unshare_flags(spec_ns) & ~sc.CLONE_NEWCGROUP
                                                 if direct else -1)
        if child == 0:
            sock_p.close()
            # "go" before anything else when the parent still has to add us by pid and a
            # cgroup namespace will be rooted where we are, or when our mounts may propagate
            ctx["go_early"] = (early and not born_in_cg) or "shared" in \
                str(linux.get("rootfsPropagation") or "")
            (process.direct_init if direct else process.stage1)(sock_c, ctx)
            os._exit(1)
        if born_in_cg:
            rest = []  # nothing left to add by pid
        sock_c.close()
        sock_c = None
        undo.append(lambda: _kill_reap(child))
        if later:
            mgr.create()  # the dirs exist before the init can bind them at /sys/fs/cgroup
        if mgr.frozen():
            # the init would freeze on entry and create would hang: refuse, as runc does
            raise RuncError("container's cgroup unexpectedly frozen")
        # a cgroup made just now is empty: only one that existed may hold processes
        if any(p not in mgr.created for p in mgr.paths.values()) and set(mgr.pids()) - {child}:
            runlog.warn("container's cgroup is not empty: other processes share it")
        sync.send(sock_p, "dirs")
        resources = linux.get("resources") or {}
        mgr.set(resources, device_rules(resources, linux.get("devices") or []))
        # "go" as soon as the resources are set, not after the child's "cg": the child
        # reads it only after joining its cgroups anyway, and need not wait for us to wake up.
        # Stage 1 forks the init only after "go" (until then a failure here has only stage 1
        # to kill); the direct init builds its mounts meanwhile and waits for "go" before its
        # device nodes (see process._await_go), or before anything (go_early)
        if early and rest:
            mgr.add(child, only=rest)
            rest = []
        sync.send(sock_p, "go")
        if rest and not direct:
            # the first cgroup.procs write waits for an RCU grace period: pay it now, while
            # stage 1 goes on; the init (forked meanwhile or not) is added below
            try:
                mgr.add(child, only=rest)
            except RuncError:
                pass
        if direct and linux.get("seccomp"):
            from .seccompprog import send_program
            send_program(sock_p, linux["seccomp"], root)  # while the init builds its rootfs
        # the child has moved itself into the v1 hierarchies (see V1Manager.self_join_files)
        kind, payload = sync.recv(sock_p)
        if kind != "cg":
            raise RuncError(payload) if kind == "cgerror" else InitError(payload) \
                if kind == "error" else RuncError(f"unexpected sync message {kind!r}")
        if direct:
            init_pid = child
        else:
            while True:
                kind, payload = sync.recv(sock_p)
                if kind == "userns":
                    _write_maps(child, linux)
                    sync.send(sock_p, "mapped")
                elif kind == "pid":
                    init_pid = int(payload)
                    break
                elif kind == "error":
                    raise InitError(payload)
                else:
                    raise RuncError(f"unexpected sync message {kind!r} from stage 1")
            _reap_quietly(child)
            undo.append(lambda: _kill_reap(init_pid))
        if rest:
            mgr.add(init_pid, only=rest)
        if proc.get("oomScoreAdj") is not None:
            with open(f"/proc/{init_pid}/oom_score_adj", "w") as f:
                f.write(str(proc["oomScoreAdj"]))
        st = proc_stat(init_pid)
        state.data["init_process_pid"] = init_pid
        state.data["init_process_start"] = st[1] if st else 0
        state.data["namespace_paths"] = namespaces.ns_paths_of(init_pid)
        hook_state["pid"] = init_pid
        _set_rlimits(init_pid, proc.get("rlimits"))
        hooks = spec.get("hooks") or {}
        if hooks:
            from . import hooks as hk
        # run (create + start) opens exec.fifo for reading as soon as state.json is stored:
        # the init then goes from the fifo to exec without waiting for us to wake up and
        # return (runc run writes the pid file after start too); poststart hooks keep the
        # order create, poststart, start
        early_release = for_run and not hooks.get("poststart")
        reader = None
        while True:
            kind, payload = sync.recv(sock_p)
            if kind == "hooks":
                hk.run(hooks, "prestart", hook_state)
                hk.run(hooks, "createRuntime", hook_state)
                sync.send(sock_p, "resume", str(init_pid))  # our pid as the hooks see it
            elif kind == "ready":
                # stored before the init is released so that delete can always clean up
                state.save()
                if early_release:
                    reader = _open_fifo(state)
                    undo.append(lambda: reader is not None and os.close(reader))
            elif kind == "eof":
                break
            elif kind == "error":
                raise InitError(payload)
        if reader is not None:
            # the init got past exec.fifo (or died): it may have run and exited already
            fd, reader = reader, None  # _read_fifo closes it
            if not _read_fifo(state, fd):
                raise InitError("container init exited prematurely")
            opts["_released"] = True
        elif not state.init_alive():
            raise InitError("container init exited prematurely")
        if hooks.get("poststart"):
            hk.run(hooks, "poststart", _hook_state(cid, "created", init_pid, bundle, spec))
        if opts.get("pid-file"):
            write_pid_file(opts["pid-file"], init_pid)
        if not for_run:
            prctl(PR_SET_CHILD_SUBREAPER, 0)
        os.close(fifo_fd)
        return state
    except BaseException:
        for fn in reversed(undo):
            try:
                fn()
            except Exception:  # noqa: BLE001 - best effort, report the original error
                pass
        raise
    finally:
        for s in (sock_p, sock_c, csock):
            if s is not None:
                s.close()


def _make_dirs(mgr, path: str) -> None:
    """mkdir -p ``path``, recording what was made in ``mgr.created`` (as mgr.create() does,
    which then finds it there): destroy removes exactly the dirs create made."""
    from .cgroups import make_dirs
    try:
        make_dirs(path, mgr.created)
    except OSError as e:
        raise RuncError(f"mkdir {e.filename}: {(e.strerror or str(e)).lower()}") from None


def _kill_reap(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        _wait_gone(pid, None, 5)


def _rmtree(path: str) -> None:
    # the usual state dir holds state.json (exec.fifo is gone once started): two syscalls
    for name in (STATE_FILE, FIFO):
        try:
            os.unlink(os.path.join(path, name))
        except OSError:
            pass
    try:
        os.rmdir(path)
        return
    except FileNotFoundError:
        return
    except OSError:
        pass  # something else in there (or a dir): walk it
    # not shutil: it imports bz2/lzma/fnmatch (~3 ms) for this one call
    for dirpath, dirs, files in os.walk(path, topdown=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            try:
                os.unlink(os.path.join(dirpath, name))
            except OSError:
                pass
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def write_pid_file(path: str, pid: int) -> None:
    """Atomic: write ``.<name>`` next to it, then rename (as runc does)."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.rename(tmp, path)


def start(state: State) -> None:
    status = state.status()
    if status == "stopped":
        raise RuncError("cannot start a container that has stopped")
    if status == "paused":
        raise RuncError("cannot start a container in the paused state")
    if status != "created":
        raise RuncError("cannot start an already running container")
    release_fifo(state)


def release_fifo(state: State) -> None:
    """Open exec.fifo for reading (which unblocks the init), read its byte, remove the fifo."""
    if not _read_fifo(state, _open_fifo(state)):
        raise RuncError("cannot start an already running container")


def _open_fifo(state: State) -> int:
    try:
        return os.open(state.fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RuncError("cannot start an already running container") from None


def _read_fifo(state: State, fd: int) -> bool:
    """Wait for the init's byte on the opened exec.fifo (False if the init died first);
    close it, and remove the fifo once read."""
    import select
    try:
        data = b""
        while True:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                data = os.read(fd, 16)
                break
            if not state.init_alive():
                break
    finally:
        os.close(fd)
    if not data:
        return False
    try:
        os.unlink(state.fifo)
    except FileNotFoundError:
        pass
    return True


def signal_number(sig: str) -> int:
    s = sig.strip().upper()
    if s.isdigit():
        return int(s)  # as runc: any number goes to kill(2), which judges it
    if not s.startswith("SIG"):
        s = "SIG" + s
    from .sigs import NUMBERS
    if s in NUMBERS:
        return NUMBERS[s]
    if s in ("SIGRTMIN", "SIGRTMAX"):
        return signal.SIGRTMIN if s == "SIGRTMIN" else signal.SIGRTMAX
    if (s.startswith("SIGRTMIN+") or s.startswith("SIGRTMAX-")) and s[9:].isdigit():
        n = signal.SIGRTMIN + int(s[9:]) if "MIN" in s else signal.SIGRTMAX - int(s[9:])
        if signal.SIGRTMIN <= n <= signal.SIGRTMAX:
            return n
    raise RuncError(f'unknown signal "{sig}"')


def _manager(state: State):
    from .cgroups import from_state
    return from_state(state.data.get("cgroup_paths") or {}, state.data.get("cgroup_created"))


def signal_all(state: State, sig: int) -> None:
    """runc kill --all: freeze, signal every process in the cgroup, thaw."""
    mgr = _manager(state)
    if mgr is None or not mgr.exists():
        return
    can_freeze = "freezer" in mgr.paths or (set(mgr.paths) == {"unified"})
    was_frozen = mgr.frozen() if can_freeze else False
    if can_freeze and not was_frozen:
        mgr.freeze()
    try:
        for pid in mgr.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        if can_freeze and (not was_frozen or sig == signal.SIGKILL):
            mgr.thaw()


def kill(state: State, sig: int, all_: bool) -> None:
    status = state.status()
    if all_:
        if status == "stopped" and not (_manager(state) and _manager(state).exists()):
            return
        signal_all(state, sig)
        return
    if status == "stopped":
        raise RuncError("container not running")
    try:
        os.kill(state.pid, sig)
    except ProcessLookupError:
        raise RuncError("container not running") from None
    except OSError as e:
        from .errors import oserror_text
        raise RuncError(f"unable to signal init: {oserror_text(e)}") from None
    if status == "paused" and sig == signal.SIGKILL:
        mgr = _manager(state)
        if mgr is not None and "freezer" in mgr.paths:
            mgr.thaw()


def destroy(state: State) -> None:
    """Kill what is left (no private pid namespace), remove cgroups and the state dir, then
    run poststop hooks."""
    mgr = _manager(state)
    if mgr is not None and mgr.exists():
        if not state.data.get("new_pidns"):
            signal_all(state, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while mgr.pids() and time.monotonic() < deadline:
            time.sleep(0.005)
        try:
            mgr.destroy()
        except RuncError as e:
            # e.g. another container shares the cgroup: the container itself is gone
            runlog.warn(f"failed to remove cgroup (will be left behind): {e.msg}")
    _rmtree(state.dir)
    spec = state.config
    hooks = spec.get("hooks") or {}
    if hooks.get("poststop"):
        from . import hooks as hk
        try:
            hk.run(hooks, "poststop", _hook_state(state.id, "stopped", 0,
                                                  state.data.get("bundle", ""), spec))
        except RuncError as e:
            # runc 1.1.5 logs it (logrus.Error) and the delete still succeeds: the container
            # is gone by now; the hooks after the failing one do not run
            runlog.error_logged(e.msg)


def delete(root: str, cid: str, force: bool) -> None:
    validate_id(cid)
    try:
        state = State.load(root, cid)
    except RuncError:
        sdir = os.path.join(root, cid)
        if force:
            _rmtree(sdir)
            return
        if os.path.isdir(sdir) and os.path.exists(os.path.join(sdir, FIFO)):
            # a create that died before writing state.json: nothing else to undo
            _rmtree(sdir)
            return
        raise
    status = state.status()
    if status in ("running", "paused"):
        if not force:
            raise RuncError(f"cannot delete container {cid} that is not stopped: {status}")
        kill(state, signal.SIGKILL, False)
        if not _wait_gone(state.pid, state.data.get("init_process_start"), 10):
            raise RuncError("container init still running")
    elif status == "created":
        try:
            os.kill(state.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _wait_gone(state.pid, state.data.get("init_process_start"), 10)
    destroy(state)


def pause(state: State) -> None:
    status = state.status()
    if status not in ("running", "created"):  # paused included, as runc
        raise RuncError("container not running")
    mgr = _manager(state)
    if mgr is None:
        raise RuncError("container not running")
    mgr.freeze()


def resume(state: State) -> None:
    if state.status() != "paused":
        raise RuncError("container not paused")
    _manager(state).thaw()


def update(state: State, resources: dict) -> None:
    if state.status() == "stopped":
        raise RuncError("container not running")
    mgr = _manager(state)
    if mgr is None:
        raise RuncError("container has no cgroup")
    mgr.set(resources, None)
    linux = state.config.setdefault("linux", {})
    merged = linux.setdefault("resources", {})
    for key, val in resources.items():
        if isinstance(val, dict) and isinstance(merged.get(key), dict):
            merged[key].update(val)
        else:
            merged[key] = val
    state.save()
