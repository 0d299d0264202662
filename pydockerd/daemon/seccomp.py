"""Seccomp for containers: Docker's default allow-list, `seccomp=unconfined` and `seccomp=<profile>`.

The default profile reproduces the semantics of Docker's built-in one: every syscall fails with
EPERM unless listed; the plain list is always allowed; some syscalls are allowed only when the
container holds the capability that makes them meaningful (CAP_SYS_ADMIN for mount/unshare/setns
and namespace-creating clone flags, CAP_SYS_PTRACE for ptrace, ...); `personality` only with the
harmless personas; `socket` for every family but AF_VSOCK; `clone3` answers ENOSYS (so libcs fall
back to clone, whose flags can be checked) unless CAP_SYS_ADMIN is held.

A user profile (`--security-opt seccomp=FILE`: the CLI sends the file's JSON) is in Docker's
format (`archMap`/`architectures`, `syscalls` with `includes`/`excludes` on caps, arches and
minKernel); both are resolved here into the OCI `linux.seccomp` for this host.
"""
from __future__ import annotations

import json
import os
import platform
from typing import Any

from ..errors import InvalidParameter

# Syscalls allowed to everyone (whitespace separated to keep the table readable).
_ALWAYS = """
accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64
fsync ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents
getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer
getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid
getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area
gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init inotify_init1
inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64
ioprio_get ioprio_set io_setup io_submit io_uring_enter io_uring_register io_uring_setup ipc kill
landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap
mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32
setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid setsockopt
set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget shutdown
sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64
statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
"""

# Allowed only while the container holds the capability.
_BY_CAP = {
    "CAP_DAC_READ_SEARCH": "open_by_handle_at",
    "CAP_SYS_ADMIN": "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie "
                     "mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd "
                     "setdomainname sethostname setns syslog umount umount2 unshare",
    "CAP_SYS_BOOT": "reboot",
    "CAP_SYS_CHROOT": "chroot",
    "CAP_SYS_MODULE": "delete_module init_module finit_module",
    "CAP_SYS_PACCT": "acct",
    "CAP_SYS_PTRACE": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
    "CAP_SYS_RAWIO": "iopl ioperm",
    "CAP_SYS_TIME": "settimeofday stime clock_settime clock_settime64",
    "CAP_SYS_TTY_CONFIG": "vhangup",
    "CAP_SYS_NICE": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
    "CAP_SYSLOG": "syslog",
    "CAP_BPF": "bpf",
    "CAP_PERFMON": "perf_event_open",
}

# Per architecture (Go's GOARCH names, as Docker's profile uses them).
_BY_ARCH = {
    "amd64": "arch_prctl modify_ldt",
    "x32": "arch_prctl modify_ldt",
    "386": "modify_ldt",
    "arm64": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
    "arm": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
    "ppc64le": "sync_file_range2 swapcontext",
    "s390x": "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
    "riscv64": "riscv_flush_icache",
}

# clone(2) without any namespace flag: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET.
CLONE_NS_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# personality(2): PER_LINUX, UNAME26, PER_LINUX32, PER_LINUX32|UNAME26, and the 0xffffffff query.
_PERSONAS = (0x0, 0x0008, 0x20000, 0x20008, 0xFFFFFFFF)
AF_VSOCK = 40
ENOSYS = 38

_ARCHES = {  # uname -m → (Go arch, seccomp arches of the native and compat ABIs)
    "x86_64": ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    "aarch64": ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
    "ppc64le": ("ppc64le", ["SCMP_ARCH_PPC64LE"]),
    "s390x": ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
    "riscv64": ("riscv64", ["SCMP_ARCH_RISCV64"]),
    "i686": ("386", ["SCMP_ARCH_X86"]),
    "armv7l": ("arm", ["SCMP_ARCH_ARM"]),
}
_SECCOMP_ARCH_TO_GO = {"SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_X86": "386", "SCMP_ARCH_X32": "x32",
                       "SCMP_ARCH_AARCH64": "arm64", "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_PPC64LE": "ppc64le",
                       "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_S390": "s390", "SCMP_ARCH_RISCV64": "riscv64"}


def host_arch() -> tuple[str, list[str]]:
    return _ARCHES.get(platform.machine(), (platform.machine(), []))


def _names(text: str) -> list[str]:
    return text.split()


def default_profile(caps: list[str]) -> dict[str, Any]:
    """Docker's default policy for a container holding `caps`, as an OCI `linux.seccomp`."""
    go_arch, arches = host_arch()
    have = set(caps)
    allow = _names(_ALWAYS)
    syscalls: list[dict[str, Any]] = [{"names": allow, "action": "SCMP_ACT_ALLOW"}]
    if _kernel_at_least(4, 8):  # ptrace cannot escape seccomp from 4.8 on
        syscalls.append({"names": ["process_vm_readv", "process_vm_writev", "ptrace"],
                         "action": "SCMP_ACT_ALLOW"})
    syscalls.append({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": AF_VSOCK, "valueTwo": 0, "op": "SCMP_CMP_NE"}]})
    for persona in _PERSONAS:
        syscalls.append({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": 0, "value": persona, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]})
    if _BY_ARCH.get(go_arch):
        syscalls.append({"names": _names(_BY_ARCH[go_arch]), "action": "SCMP_ACT_ALLOW"})
    for cap, names in _BY_CAP.items():
        if cap in have:
            syscalls.append({"names": _names(names), "action": "SCMP_ACT_ALLOW"})
    if "CAP_SYS_ADMIN" not in have:
        flags_arg = 1 if go_arch in ("s390", "s390x") else 0  # s390 swaps clone's first two args
        syscalls.append({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                         "args": [{"index": flags_arg, "value": CLONE_NS_FLAGS, "valueTwo": 0,
                                   "op": "SCMP_CMP_MASKED_EQ"}]})
        syscalls.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "architectures": arches,
            "syscalls": syscalls}


def _kernel_at_least(major: int, minor: int, release: str | None = None) -> bool:
    release = release if release is not None else os.uname().release
    parts = []
    for p in release.split("-")[0].split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    while len(parts) < 2:
        parts.append(0)
    return (parts[0], parts[1]) >= (major, minor)


def _parse_kernel(v: str) -> tuple[int, int]:
    try:
        a, _, b = v.partition(".")
        return int(a), int(b or 0)
    except ValueError:
        raise InvalidParameter(f"invalid kernel version: {v!r}") from None


def from_docker_profile(profile: dict[str, Any], caps: list[str]) -> dict[str, Any]:
    """A profile in Docker's format (as `--security-opt seccomp=FILE` sends it) → OCI `linux.seccomp`."""
    if not isinstance(profile, dict):
        raise InvalidParameter("Decoding seccomp profile failed: not a JSON object")
    go_arch, host_arches = host_arch()
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidParameter("Decoding seccomp profile failed: both 'architectures' and 'archMap' "
                               "are specified in the seccomp profile, use either 'architectures' "
                               "or 'archMap'")
    arches: list[str] = list(profile.get("architectures") or [])
    for entry in profile.get("archMap") or []:
        if not isinstance(entry, dict):
            continue
        native = entry.get("architecture")
        if native in host_arches[:1]:
            arches.append(native)
            arches.extend(entry.get("subArchitectures") or [])
    have = set(caps)
    out_calls: list[dict[str, Any]] = []
    for call in profile.get("syscalls") or []:
        if not isinstance(call, dict):
            raise InvalidParameter("Decoding seccomp profile failed: a syscall rule is not an object")
        if call.get("name") and call.get("names"):
            raise InvalidParameter("Decoding seccomp profile failed: use either 'name' or 'names'")
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if inc.get("arches") and go_arch not in inc["arches"]:
            continue
        if inc.get("caps") and not set(inc["caps"]) <= have:
            continue
        if inc.get("minKernel") and not _kernel_at_least(*_parse_kernel(str(inc["minKernel"]))):
            continue
        if exc.get("arches") and go_arch in exc["arches"]:
            continue
        if exc.get("caps") and set(exc["caps"]) & have:
            continue
        names = list(call.get("names") or ([call["name"]] if call.get("name") else []))
        rule: dict[str, Any] = {"names": names, "action": call.get("action", "")}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = [{"index": a.get("index", 0), "value": a.get("value", 0),
                             "valueTwo": a.get("valueTwo", 0), "op": a.get("op", "")}
                            for a in call["args"]]
        out_calls.append(rule)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction", ""), "architectures": arches,
                           "syscalls": out_calls}
    for key in ("defaultErrnoRet", "listenerPath", "listenerMetadata", "flags"):
        if profile.get(key) is not None:
            out[key] = profile[key]
    if not out["defaultAction"]:
        raise InvalidParameter("Decoding seccomp profile failed: defaultAction is missing")
    return out


def parse_security_opts(opts: list[str] | None) -> dict[str, Any]:
    """HostConfig.SecurityOpt → {"seccomp": None|"unconfined"|<profile json>, "no_new_privileges": bool}.

    Docker's parseSecurityOpt: `key=value` (or the legacy `key:value`); an unknown key is an error."""
    out: dict[str, Any] = {"seccomp": None, "no_new_privileges": False}
    for opt in opts or []:
        if opt == "no-new-privileges":
            out["no_new_privileges"] = True
            continue
        if opt == "disable":  # label=disable's legacy spelling
            continue
        sep = "=" if "=" in opt else (":" if ":" in opt else "")
        if not sep:
            raise InvalidParameter(f"invalid --security-opt 1: {json.dumps(opt)}")
        key, value = opt.split(sep, 1)
        if key == "label" or key == "apparmor":
            continue  # no SELinux/AppArmor here
        # (systempaths=unconfined is the CLI's: it sends empty MaskedPaths/ReadonlyPaths instead,
        # and dockerd refuses it over the API like any unknown key)
        if key == "seccomp":
            out["seccomp"] = value
        elif key == "no-new-privileges":
            if value not in ("true", "false", "1", "0", "t", "f", "T", "F", "TRUE", "FALSE", "True", "False"):
                raise InvalidParameter(f"invalid --security-opt 2: {json.dumps(opt)}")
            out["no_new_privileges"] = value in ("true", "1", "t", "T", "TRUE", "True")
        else:
            raise InvalidParameter(f"invalid --security-opt 2: {json.dumps(opt)}")
    return out


def spec_seccomp(security: dict[str, Any], caps: list[str], privileged: bool) -> dict[str, Any] | None:
    """The container's `linux.seccomp`, or None when it runs unconfined (privileged or asked)."""
    value = security.get("seccomp")
    if privileged or value == "unconfined":
        return None
    if value in (None, "", "builtin"):
        return default_profile(caps)
    try:
        profile = json.loads(value)
    except ValueError as exc:
        raise InvalidParameter(f"Decoding seccomp profile failed: {exc}") from None
    return from_docker_profile(profile, caps)
