"""Thin wrappers for the syscalls Python 3.11 lacks (unshare, setns, mount, pivot_root, ...).

Built on ``_ctypes`` (the C half of ctypes) directly: ``import ctypes`` costs ~3 ms of start-up
(its package init defines dozens of types and imports struct/types), more than everything these
wrappers need, which is a handful of C types, one function-pointer class and a Structure.
"""
from __future__ import annotations

import _ctypes
import os


def _simple(name: str, code: str) -> type:
    """A ctypes simple type (what ctypes' own c_int etc. are) by its struct code."""
    return type(name, (_ctypes._SimpleCData,), {"_type_": code})


c_int, c_uint32, c_long, c_ulong = _simple("c_int", "i"), _simple("c_uint32", "I"), \
    _simple("c_long", "l"), _simple("c_ulong", "L")
c_char, c_uint64, c_void_p, c_char_p = _simple("c_char", "c"), _simple("c_uint64", "Q"), \
    _simple("c_void_p", "P"), _simple("c_char_p", "z")
c_ushort = _simple("c_ushort", "H")


c_size_t = c_ulong


class _LibcFunc(_ctypes.CFuncPtr):
    """int f(...) from libc, errno saved for ``__ctypes.get_errno()`` (as CDLL(use_errno=True))."""
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class _Libc:
    """A shared library's functions (``None``: the running process's symbols, i.e. libc);
    ``dlopen`` failures raise OSError, as ctypes.CDLL."""

    def __init__(self, name: str | None = None) -> None:
        self._handle = _ctypes.dlopen(name, 2)  # RTLD_NOW

    def __getattr__(self, name: str):
        fn = _LibcFunc((name, self))  # looks up self._handle
        setattr(self, name, fn)
        return fn


_libc = _Libc()

CLONE_NEWTIME = 0x80
CLONE_NEWNS = 0x20000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_SYS_PIVOT_ROOT = 155
_SYS_KEYCTL = 250
KEYCTL_JOIN_SESSION_KEYRING = 1


def _check(ret: int, what: str, path: str | None = None) -> int:
    if ret < 0:
        err = _ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def _b(s: str | None) -> bytes | None:
    return s.encode() if isinstance(s, str) else s


def unshare(flags: int) -> None:
    _check(_libc.unshare(c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(c_int(fd), c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), c_ulong(flags), _b(data))
    _check(ret, "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), c_int(flags)), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    ret = _libc.syscall(c_long(_SYS_PIVOT_ROOT), _b(new_root), _b(put_old))
    _check(ret, "pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(c_int(option), c_ulong(arg2), c_ulong(arg3),
                              c_ulong(arg4), c_ulong(arg5)), f"prctl({option})")


def join_session_keyring(name: str | None = None) -> None:
    _check(_libc.syscall(c_long(_SYS_KEYCTL), c_long(KEYCTL_JOIN_SESSION_KEYRING),
                         _b(name)), "join session keyring")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, c_size_t(len(raw))), "sethostname")


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, c_size_t(len(raw))), "setdomainname")


class _CapHeader(_ctypes.Structure):
    _fields_ = [("version", c_uint32), ("pid", c_int)]


class _CapData(_ctypes.Structure):
    _fields_ = [("effective", c_uint32), ("permitted", c_uint32), ("inheritable", c_uint32)]


_CAP_V3 = 0x20080522


def capget(pid: int = 0) -> tuple[int, int, int]:
    """Return (effective, permitted, inheritable) as 64-bit masks."""
    hdr = _CapHeader(_CAP_V3, pid)
    data = (_CapData * 2)()
    _check(_libc.capget(_ctypes.byref(hdr), data), "capget")
    return tuple(data[0].__getattribute__(f) | (data[1].__getattribute__(f) << 32)
                 for f in ("effective", "permitted", "inheritable"))  # type: ignore[return-value]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        sh = 32 * i
        data[i].effective = (effective >> sh) & 0xFFFFFFFF
        data[i].permitted = (permitted >> sh) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> sh) & 0xFFFFFFFF
    _check(_libc.capset(_ctypes.byref(hdr), data), "capset")


c_uint = c_uint32
POINTER = _ctypes.POINTER
Structure = _ctypes.Structure
open_library = _Libc


class _RLimit(_ctypes.Structure):
    _fields_ = [("cur", c_ulong), ("max", c_ulong)]


def prlimit(pid: int, resource: int, soft: int, hard: int) -> None:
    """prlimit(2) on another process (``resource.prlimit`` without importing ``resource``)."""
    rl = _RLimit(soft, hard)
    _check(_libc.prlimit(c_int(pid), c_int(resource), _ctypes.byref(rl), None), "prlimit")


class _IfReqFlags(_ctypes.Structure):
    _fields_ = [("name", c_char * 16), ("flags", c_ushort), ("pad", c_char * 22)]


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914


def if_flags(sock_fd: int, name: str, set_bits: int = 0) -> int:
    """Read an interface's flags and, with ``set_bits``, set those bits; return the flags."""
    req = _IfReqFlags()
    req.name = name.encode()
    _check(_libc.ioctl(c_int(sock_fd), c_ulong(SIOCGIFFLAGS), _ctypes.byref(req)), "ioctl")
    if set_bits:
        req.flags = req.flags | set_bits
        _check(_libc.ioctl(c_int(sock_fd), c_ulong(SIOCSIFFLAGS), _ctypes.byref(req)), "ioctl")
    return req.flags


# --- fork with clone3: straight into new namespaces and a cgroup v2 dir ---------------------------

class _PyApiFunc(_ctypes.CFuncPtr):
    """A C function called with the GIL held (ctypes' PYFUNCTYPE), errno saved: the process
    must not drop the GIL around clone3, exactly as os.fork() keeps it around fork()."""
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_PYTHONAPI | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_long


class _PyApiVoid(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_PYTHONAPI
    _restype_ = None


_SYS_CLONE3 = 435  # x86_64, and the number of every arch on the generic syscall table
CLONE_INTO_CGROUP = 0x200000000
_SIGCHLD = 17


def clone_fork(flags: int = 0, cgroup_fd: int = -1) -> int:
    """``os.fork()`` through clone3: the child starts in new namespaces (``flags``, the
    CLONE_NEW* bits) and, with ``cgroup_fd``, in that cgroup v2 dir (Linux >= 5.7).

    A child born in its cgroup never migrates: writing a pid to cgroup.procs takes the
    kernel's global threadgroup rwsem for writing, which first waits for an RCU grace period
    (~10 ms on an idle host), while a fork takes only its read side. Same interpreter
    bookkeeping as os.fork() (PyOS_BeforeFork/AfterFork_*, which run the at-fork hooks);
    glibc's own fork handlers are skipped, which is safe in the single-threaded runtime.
    Raises OSError (ENOSYS, EINVAL, EBUSY, EPERM, ...) without forking when the kernel
    refuses: callers fall back to fork + unshare + cgroup.procs, which report why."""
    # the interpreter's own symbols: dlopen(NULL) sees the python executable and libc alike
    before = _PyApiVoid(("PyOS_BeforeFork", _libc))
    after_parent = _PyApiVoid(("PyOS_AfterFork_Parent", _libc))
    after_child = _PyApiVoid(("PyOS_AfterFork_Child", _libc))
    clone = _PyApiFunc(("syscall", _libc))
    # struct clone_args: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size,
    # tls, set_tid, set_tid_size, cgroup (all u64)
    args = (c_uint64 * 11)()
    args[0] = flags
    args[4] = _SIGCHLD
    if cgroup_fd >= 0:
        args[0] = flags | CLONE_INTO_CGROUP
        args[10] = cgroup_fd
    before()
    pid = clone(c_long(_SYS_CLONE3), args, c_size_t(88))
    if pid == 0:
        after_child()
        return 0
    err = _ctypes.get_errno()
    after_parent()
    if pid < 0:
        raise OSError(err, f"clone3: {os.strerror(err)}")
    return pid


def fork_into(cgroup_dir: str | None = None, ns_flags: int = -1) -> tuple[int, bool, bool]:
    """``os.fork()``, better where the kernel lets us: with ``ns_flags`` >= 0 the child is cloned
    straight into its new namespaces, and with ``cgroup_dir`` (a v2 dir: the unified hierarchy of a
    hybrid host, or any v2 host) it is born in that cgroup, so nobody writes cgroup.procs and waits
    out its RCU grace period. Returns (pid, 0 in the child; in its namespaces; born in the cgroup).
    Every refusal falls back to the plain fork, whose unshare and cgroup.procs writes then report
    the error in runc's words."""
    cg_fd = -1
    if cgroup_dir:
        try:
            cg_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            pass
    attempts = [(ns_flags, cg_fd)] if ns_flags >= 0 else []
    if cg_fd >= 0:
        attempts.append((-1, cg_fd))  # no namespaces (or they were refused), born in the cgroup
    try:
        for flags, fd in attempts:
            try:
                pid = clone_fork(max(flags, 0), fd)
            except OSError:
                continue  # old kernel, seccomp, refusal: the plain path reports why
            return pid, flags >= 0, fd >= 0
    finally:
        if cg_fd >= 0:
            os.close(cg_fd)  # in both processes
    return os.fork(), False, False


# --- install a seccomp program built elsewhere (create compiles it while the init mounts) -------

class _SockFprog(_ctypes.Structure):
    _fields_ = [("len", c_ushort), ("filter", c_void_p)]


_SYS_SECCOMP = 317
_SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
                        "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}


def seccomp_set_filter(prog: bytes, flags: int = 0) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): what libseccomp's seccomp_load does
    with the program seccomp_export_bpf wrote (its NNP attribute off, as ours is)."""
    buf = (c_char * len(prog)).from_buffer_copy(prog)
    fprog = _SockFprog(len(prog) // 8, _ctypes.addressof(buf))
    _check(_libc.syscall(c_long(_SYS_SECCOMP), c_long(_SECCOMP_SET_MODE_FILTER), c_long(flags),
                         _ctypes.byref(fprog)), "error loading seccomp filter into kernel")
