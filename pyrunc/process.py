"""What runs inside the new container: the nsexec-like stages and the final exec.

Parent (``pyrunc create``/``exec``) -> stage 1 (joins/creates namespaces, forks again so the pid
namespace applies) -> stage 2 (the container's init, or the exec'd process). Every stage reports
failures to the parent over the sync socket and ``_exit``s: a child never returns into main().
"""
from __future__ import annotations

import os

from . import namespaces, sync
from . import syscalls as sc
from .errors import RuncError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def errtext(e: BaseException) -> str:
    if isinstance(e, RuncError):
        return e.msg
    if isinstance(e, OSError):
        text = e.strerror or str(e)
        text = text[:1].lower() + text[1:]
        return f"{text}: {e.filename}" if e.filename else text
    return f"{type(e).__name__}: {e}"


def _mkdir_error(path: str, e: OSError) -> str:
    """Go's MkdirAll error: it names the deepest existing component when that is not a directory."""
    import errno
    if e.errno in (errno.ENOTDIR, errno.EEXIST):
        at = path
        while at not in ("/", "") and not os.path.exists(at):
            at = os.path.dirname(at)
        if not os.path.isdir(at):
            return f"mkdir {at}: not a directory"
    return f"mkdir {e.filename or path}: {errtext(OSError(e.errno, e.strerror))}"


def _fail(sock, msg: str) -> None:
    if os.environ.get("PYRUNC_TRACEBACK"):
        try:
            import traceback
            traceback.print_exc()
        except ImportError:
            pass
    try:
        sync.send(sock, "error", msg)
    except OSError:
        try:
            os.write(2, (msg + "\n").encode())
        except OSError:
            pass
    os._exit(1)


def preload(need_seccomp: bool, need_console: bool = True, need_hooks: bool = True,
            need_rootfs: bool = True) -> None:
    """Import (and dlopen) everything the later stages use while the host's filesystem is still
    visible: after setns(mnt)/pivot_root the package and libseccomp are out of reach."""
    import stat  # noqa: F401

    from . import capabilities, sigs  # noqa: F401
    if need_rootfs:
        from . import devices, mounts  # noqa: F401
    if need_console:
        from . import console  # noqa: F401
    if need_hooks:
        from . import hooks  # noqa: F401
    if need_seccomp:
        from . import seccomp
        seccomp._libseccomp()


# --- helpers used right before exec -------------------------------------------------------------

def reset_signals() -> None:
    """CPython ignores SIGPIPE/SIGXFSZ; ignored dispositions survive execve, so reset them all."""
    from .sigs import reset_all
    reset_all()


def close_fds_from(first: int, keep: set[int]) -> None:
    """Mark every fd >= ``first`` close-on-exec (runc's CloseExecFrom), except ``keep``."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first and fd not in keep:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def lookpath(cmd: str, env: dict[str, str]) -> str:
    """Go's exec.LookPath with the container's PATH, with its error texts."""
    import stat
    if "/" in cmd:
        try:
            st = os.stat(cmd)
        except OSError as e:
            raise RuncError(f'exec: "{cmd}": stat {cmd}: {errtext(OSError(e.errno, e.strerror))}')
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise RuncError(f'exec: "{cmd}": permission denied')
        return cmd
    for d in env.get("PATH", "").split(":"):
        p = os.path.join(d or ".", cmd)
        try:
            st = os.stat(p)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
            return p
    raise RuncError(f'exec: "{cmd}": executable file not found in $PATH')


def env_dict(env: list[str]) -> dict[str, str]:
    """process.env as runc 1.1's populateProcessEnvironment takes it: every entry NAME=VALUE."""
    out: dict[str, str] = {}
    for e in env or []:
        k, eq, v = e.partition("=")
        if not eq or not k or "\0" in e:
            raise RuncError(_env_error(e, k, eq))
        out[k] = v
    return out


def _env_error(e: str, k: str, eq: str) -> str:
    from .runlog import go_quote
    quoted = go_quote(e)
    if not eq:
        return f"invalid environment variable: {quoted}"
    if not k:
        return f"environment variable name can't be empty: {quoted}"
    return f"environment variable {'name' if chr(0) in k else 'value'} can't contain null(\\x00): {quoted}"


def _passwd_entry(uid: int) -> tuple[str, str] | None:
    try:
        with open("/etc/passwd") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) >= 6 and parts[2] == str(uid):
                    return parts[0], parts[5]
    except OSError:
        pass
    return None


def setup_user_env(proc: dict) -> tuple[int, int, list[int], dict[str, str]]:
    """(uid, gid, supplementary groups, env) as runc computes them from /etc/passwd|group."""
    user = proc.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    env = env_dict(proc.get("env") or [])
    entry = _passwd_entry(uid)
    # runc passes "uid:gid", and with an explicit group the group file adds no supplementary
    # groups: only additionalGids
    groups: list[int] = []
    for g in user.get("additionalGids") or []:
        if int(g) not in groups:
            groups.append(int(g))
    if "HOME" not in env:
        env["HOME"] = entry[1] if entry and entry[1] else "/"
    return uid, gid, groups, env


def fix_stdio_permissions(uid: int, own_tty: bool) -> None:
    """Give the user its stdio, keeping the group, as runc does: otherwise a non-root process
    cannot reopen /dev/stdout or its tty. Only pipes, sockets and the pty we made are touched:
    with `run` in the foreground fds 0-2 are the caller's own (runc copies through pipes
    there), and chowning the caller's terminal or files would be a surprise."""
    import stat
    for fd in (0, 1, 2):
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        mine = stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode) or \
            (own_tty and stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in range(136, 144))
        if not mine or st.st_uid == uid:
            continue
        try:
            os.fchown(fd, uid, st.st_gid)
        except OSError as e:
            if e.errno not in (1, 22):  # EPERM, EINVAL (uid not mapped): leave it as is
                raise


def finalize_and_exec(proc: dict, keep: set[int], preserve: int, caps, seccomp_filter,
                      before_exec=None, warn=None) -> None:
    """Drop privileges, resolve the binary, load seccomp (if NNP) and exec; never returns."""
    from . import capabilities
    nnp = bool(proc.get("noNewPrivileges"))
    if seccomp_filter is not None and not nnp:
        seccomp_filter.load()
    close_fds_from(3 + preserve, keep)
    for fd in range(3, 3 + preserve):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    uid, gid, groups, env = setup_user_env(proc)
    cwd = proc.get("cwd") or "/"
    # chdir while still root when we can (the user may not reach cwd), else as the user
    try:
        os.chdir(cwd)
        in_cwd = True
    except OSError:
        in_cwd = False
    fix_stdio_permissions(uid, bool(proc.get("terminal")))
    capabilities.drop_bounding(caps["bounding"])
    capabilities.set_user(uid, gid, groups)
    if not in_cwd:
        try:
            os.chdir(cwd)
        except OSError as e:
            raise RuncError(f"chdir to cwd ({cwd!r}) set in config.json failed: "
                            f"{errtext(OSError(e.errno, e.strerror))}") from None
    skipped = capabilities.apply(caps)
    if skipped:
        from . import runlog
        runlog.debug(f"ambient capabilities not raised (not permitted and inheritable): {skipped}")
    umask = (proc.get("user") or {}).get("umask")
    os.umask(0o022 if umask is None else int(umask))
    args = proc["args"]
    path = lookpath(args[0], env)
    if seccomp_filter is not None and nnp:
        seccomp_filter.load()
    if before_exec is not None:
        before_exec()
    reset_signals()
    os.execve(path, args, env)


# --- container init (create/run) ----------------------------------------------------------------

def _fork_after(sock, fn, ctx: dict) -> int:
    """Fork ``fn`` but hold it until our pid report is on the socket, so the parent always
    reads "pid" before anything the grandchild sends."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)  # EOF once stage 1 has reported and exits
        os.close(r)
        fn(sock, ctx)
        os._exit(1)
    os.close(r)
    return pid

def preload_for(spec: dict) -> None:
    """``preload`` what this spec's init will need (a no-op once done: create does it
    before forking)."""
    preload(bool((spec.get("linux") or {}).get("seccomp")),
            bool(spec["process"].get("terminal")), bool(spec.get("hooks")))


def _self_join(sock, files: list[str], wait_dirs: bool = True) -> bool:
    """Move ourselves (single-threaded) into the container's v1 cgroups, "0" in ``tasks``:
    no RCU wait, unlike the parent writing our pid to cgroup.procs. Reports "cg". In create
    the parent says "dirs" once they exist (it makes them while we set up)."""
    if wait_dirs:
        sync.expect(sock, "dirs")
    for path in files:
        what = "openat2"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                what = "write"
                os.write(fd, b"0")
            finally:
                os.close(fd)
        except OSError as e:
            # runc's words, which name cgroup.procs (the file it writes our pid to)
            from .errors import oserror_text
            procs = os.path.join(os.path.dirname(path), "cgroup.procs")
            sync.send(sock, "cgerror", f"failed to write {os.getpid()}: {what} {procs}: "
                                       f"{oserror_text(e)}")
            return False
    sync.send(sock, "cg")
    return True


def stage1(sock, ctx: dict) -> None:
    """Join namespace paths, create the new ones, fork the init into them, report its pid."""
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        preload_for(ctx["spec"])
        if not _self_join(sock, ctx["self_join"]):
            os._exit(1)
        sync.expect(sock, "go")  # the parent has set the cgroups up (see container._create)
        spec_ns = ctx["namespaces"]
        namespaces.join(namespaces.open_paths(spec_ns))
        if ctx["new_user"]:
            sc.unshare(sc.CLONE_NEWUSER)
            sync.send(sock, "userns")
            sync.expect(sock, "mapped")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        flags = namespaces.unshare_flags(spec_ns)
        if flags:
            sc.unshare(flags)
        pid = _fork_after(sock, init, ctx)
        sync.send(sock, "pid", str(pid))
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        _fail(sock, errtext(e))


def direct_init(sock, ctx: dict) -> None:
    """The init when the parent cloned it straight into its new namespaces (clone3; no paths
    to join, no user namespace to map): the init itself, which also does stage 1's cgroup
    steps (see _direct_cgroups)."""
    ctx["direct"] = True
    ctx["seccomp_from_parent"] = True  # see seccompprog
    init(sock, ctx)


def _direct_cgroups(sock, ctx: dict) -> None:
    """Stage 1's cgroup steps, in the direct init: join the v1 dirs once the parent has made
    them (it does while we set up the keyring, ``lo`` and the first mounts), then a new
    cgroup namespace."""
    if not _self_join(sock, ctx["self_join"]):
        os._exit(1)
    if ctx["go_early"]:
        # the parent adds us to the rest of our cgroups (by pid) before a new cgroup
        # namespace is rooted here, or must be able to kill us before any mount of ours
        # can propagate to the host (a shared rootfsPropagation)
        sync.expect(sock, "go")
    else:
        ctx["await_go"] = True  # see _await_go
    if ctx["new_cgroupns"]:
        # rooted at the cgroups we are in now, so only after joining them (not at clone)
        sc.unshare(sc.CLONE_NEWCGROUP)


class _BuiltFilter:
    """A seccomp program the parent compiled (libseccomp) and exported while we mounted."""

    def __init__(self, prog: bytes, flags: int) -> None:
        self.prog = prog
        self.flags = flags

    def load(self) -> None:
        try:
            sc.seccomp_set_filter(self.prog, self.flags)
        except OSError as e:
            raise RuncError(f"error loading seccomp filter into kernel: "
                            f"{os.strerror(e.errno)}") from None


def _seccomp_filter(sock, ctx: dict, profile: dict):
    """The filter to load before exec. The direct init and exec's process get it from the
    parent, which compiles it (~2-4 ms for Docker's profile) while they build the rootfs or
    join the namespaces; stage 1's init compiles it here."""
    if "_filter" in ctx:
        return ctx.pop("_filter")
    if ctx.get("seccomp_from_parent"):
        kind, payload = sync.recv_bytes(sock)
        if kind != "seccomp":
            raise RuncError(f"unexpected sync message {kind!r}, want 'seccomp'")
        flags, _, prog = payload.partition(b"\n")
        return _BuiltFilter(prog, int(flags))
    from . import seccomp
    return seccomp.compile_filter(profile, ctx["warn"])


def _await_go(sock, ctx: dict) -> None:
    """The direct init builds its mounts while the parent writes the cgroup resources, and
    waits for its "go" only before creating device nodes: mknod is checked against the
    devices cgroup, whose rules must be in place first (as with stage 1's early "go")."""
    if ctx.pop("await_go", False):
        sync.expect(sock, "go")


def init(sock, ctx: dict) -> None:
    """The container's init: runc's standard_init order, then block on exec.fifo and exec."""
    try:
        _init(sock, ctx)
    except BaseException as e:  # noqa: BLE001
        _fail(sock, errtext(e))
    os._exit(1)


def _init(sock, ctx: dict) -> None:
    from . import devices, mounts
    spec = ctx["spec"]
    linux = spec.get("linux") or {}
    proc = spec["process"]
    rootfs = ctx["rootfs"]
    os.setsid()
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    if not ctx.get("no_new_keyring"):
        try:
            sc.join_session_keyring(None)
        except OSError as e:
            if e.errno not in (38, 13, 1):  # ENOSYS, EACCES, EPERM: keyrings unusable here
                raise
    if ctx["new_net"]:
        namespaces.loopback_up()
    # the direct init joins its v1 cgroups (made by the parent meanwhile) before anything
    # else only with go_early; otherwise right before the cgroup filesystem is mounted (it
    # binds those dirs, and a new cgroup namespace must be rooted there first)
    cg_pending = bool(ctx.get("direct"))
    if cg_pending and ctx["go_early"]:
        _direct_cgroups(sock, ctx)
        cg_pending = False
    new_mnt = ctx["new_mount"]
    # runc sets the rootfs up whatever the namespaces; only the jail differs (pivot_root or,
    # without a mount namespace, chroot)
    mounts.prepare_root(rootfs, linux.get("rootfsPropagation"))
    dev_tmpfs = False
    ro_later: list[tuple[str, int]] = []
    for m in spec.get("mounts") or []:
        if cg_pending and m.get("type") in ("cgroup", "cgroup2"):
            _direct_cgroups(sock, ctx)
            cg_pending = False
        try:
            delayed = mounts.mount_one(rootfs, m, ctx)
            if delayed:
                ro_later.append((m["destination"], delayed))
        except OSError as e:
            raise RuncError(f'error mounting "{m.get("source", "")}" to rootfs at '
                            f'"{m["destination"]}": {errtext(e)}') from None
        if os.path.normpath(m["destination"]) == "/dev":
            opts = m.get("options") or []
            dev_tmpfs = m.get("type") != "bind" and "bind" not in opts and "rbind" not in opts
    if cg_pending:
        _direct_cgroups(sock, ctx)
        cg_pending = False
    _await_go(sock, ctx)
    try:
        devices.create_all(rootfs, linux.get("devices") or [], ctx["in_userns"], dev_tmpfs)
        if dev_tmpfs:
            devices.setup_ptmx_and_links(rootfs)
    except OSError as e:
        raise RuncError(f"error creating device nodes: {errtext(e)}") from None
    hooks = spec.get("hooks") or {}
    if any(hooks.get(k) for k in ("prestart", "createRuntime", "createContainer",
                                  "startContainer")):
        # the parent runs prestart/createRuntime now; in our pid namespace we are 1: our
        # own hooks get the host pid, which the parent sends (no hooks, no round trip)
        if linux.get("seccomp"):
            ctx["_filter"] = _seccomp_filter(sock, ctx, linux["seccomp"])  # sent before
        sync.send(sock, "hooks")
        ctx["hook_state"]["pid"] = int(sync.expect(sock, "resume") or 0)
    if hooks.get("createContainer"):
        from . import hooks as hk
        os.chdir(rootfs)
        hk.run(hooks, "createContainer", ctx["hook_state"])
    if new_mnt:
        try:
            if ctx.get("no_pivot"):
                mounts.move_root(rootfs)
            else:
                mounts.pivot_root(rootfs)
        except OSError as e:
            raise RuncError(f"error jailing process inside rootfs: {errtext(e)}") from None
    else:
        os.chroot(rootfs)
        os.chdir("/")
    cwd = proc.get("cwd")
    if cwd:
        # as runc: a working directory the image lacks is made, inside the jail, before a read-only
        # root is remounted (`docker run -w /new` works on any image)
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)
        except OSError as e:
            raise RuncError(f"error during container init: {_mkdir_error(cwd, e)}") from None
    csock = ctx.get("console_sock")
    if proc.get("terminal"):
        from . import console  # preloaded by stage 1
        master, slave = console.new_pty()
        console.set_size(master, proc.get("consoleSize"))
        if new_mnt:
            cons = "/dev/console"
            if not os.path.exists(cons):
                os.close(os.open(cons, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
            sc.mount(slave, cons, None, sc.MS_BIND)
        console.send_master(csock, master)
        os.close(master)
        csock.close()
        console.become_ctty(slave)
    for dest, flags in ro_later:
        mounts.remount(dest, flags)
    if (spec.get("root") or {}).get("readonly"):
        mounts.readonly_root()
    if spec.get("hostname"):
        sc.sethostname(spec["hostname"])
    if spec.get("domainname"):
        sc.setdomainname(spec["domainname"])
    for key, val in (linux.get("sysctl") or {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(val)
    for p in linux.get("readonlyPaths") or []:
        mounts.readonly_path(p)
    for p in linux.get("maskedPaths") or []:
        mounts.mask_path(p)
    if proc.get("noNewPrivileges"):
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    filt = None
    if linux.get("seccomp"):
        filt = _seccomp_filter(sock, ctx, linux["seccomp"])
    # the parent stores state.json on "ready" while we go on: nothing below can run the
    # container's process before the exec.fifo is opened by start, after create has returned
    # (and create returns only once we have closed the socket, so after state.json)
    sync.send(sock, "ready")
    fifo_fd = ctx["fifo_fd"]
    start_hooks = hooks.get("startContainer")

    def release() -> None:
        # closing the sync socket tells the parent we are about to block on exec.fifo
        sock.close()
        fd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(fd, b"0")
        os.close(fd)
        os.close(fifo_fd)
        if start_hooks:
            from . import hooks as hk
            hk.run(hooks, "startContainer", ctx["hook_state"])

    if start_hooks:
        from . import hooks as _preload  # noqa: F401  (no imports once seccomp is loaded)
    finalize_and_exec(proc, {fifo_fd, sock.fileno()}, ctx["preserve_fds"], ctx["caps"], filt,
                      before_exec=release, warn=ctx["warn"])


# --- exec into a running container --------------------------------------------------------------

def exec_stage1(sock, ctx: dict) -> None:
    """Join the init's namespaces (user first, mount last), then fork into its pid namespace."""
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        # no libseccomp: the parent compiles the filter and sends the program (_seccomp_filter)
        preload(False, bool(ctx["process"].get("terminal")), False, False)
        # the v1 cgroups by ourselves; the v2 one we were born in, or the parent adds us
        if not _self_join(sock, ctx.get("self_join") or [], wait_dirs=False):
            os._exit(1)
        sync.expect(sock, "go")
        init_pid = ctx["init_pid"]
        fds = []
        for kind in namespaces.JOIN_ORDER:
            name = namespaces.PROC_NAME[kind]
            mine = namespaces.ns_inode("self", name)
            theirs = namespaces.ns_inode(init_pid, name)
            if theirs is not None and mine != theirs:
                fds.append((kind, os.open(f"/proc/{init_pid}/ns/{name}",
                                          os.O_RDONLY | os.O_CLOEXEC)))
        namespaces.join(fds)
        pid = _fork_after(sock, exec_stage2, ctx)
        sync.send(sock, "pid", str(pid))
        os._exit(0)
    except BaseException as e:  # noqa: BLE001
        _fail(sock, errtext(e))


def exec_stage2(sock, ctx: dict) -> None:
    try:
        proc = ctx["process"]
        os.setsid()
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        if ctx.get("chroot"):
            # the init has no mount namespace of its own: it lives chrooted in the rootfs
            os.chroot(ctx["chroot"])
            os.chdir("/")
        if proc.get("terminal"):
            from . import console  # preloaded before setns
            master, slave = console.new_pty()
            console.set_size(master, proc.get("consoleSize"))
            csock = ctx["console_sock"]
            console.send_master(csock, master)
            os.close(master)
            csock.close()
            console.become_ctty(slave)
        if proc.get("noNewPrivileges"):
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        filt = None
        if ctx.get("seccomp"):
            filt = _seccomp_filter(sock, ctx, ctx["seccomp"])
        sync.expect(sock, "run")
        # the sync socket is close-on-exec: EOF at the parent means the exec succeeded
        finalize_and_exec(proc, {sock.fileno()}, ctx["preserve_fds"], ctx["caps"], filt)
    except BaseException as e:  # noqa: BLE001
        _fail(sock, errtext(e))
    os._exit(1)
