"""The OCI seccomp profile compiled with libseccomp (through syscalls' _ctypes layer, not
the ctypes package: ~3 ms less start-up), loaded as late as runc does."""
from __future__ import annotations

import os

from . import syscalls as ctypes
from .errors import RuncError

_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000
_ACT_NOTIFY = 0x7FC00000
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_ARCHES = {"SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
           "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
           "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32",
           "SCMP_ARCH_MIPSEL": "mipsel", "SCMP_ARCH_MIPSEL64": "mipsel64",
           "SCMP_ARCH_MIPSEL64N32": "mipsel64n32", "SCMP_ARCH_PPC": "ppc",
           "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le", "SCMP_ARCH_S390": "s390",
           "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_RISCV64": "riscv64"}
_FLTATR_CTL_NNP = 3
_FLTATR_CTL_TSYNC = 4
_FLTATR_CTL_LOG = 6
_FLTATR_CTL_SSB = 7
_FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": _FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_LOG": _FLTATR_CTL_LOG,
          "SECCOMP_FILTER_FLAG_SPEC_ALLOW": _FLTATR_CTL_SSB}
EPERM = 1


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


_lib = None
LIBRARY = "libseccomp.so.2"


def library_identity() -> str:
    """Which libseccomp the loader would open (inode, size, mtime of the file the soname points at),
    without loading it: a cached program is only as good as the library that compiled it. "" if it is
    in none of the usual places."""
    import sys
    arch = getattr(sys.implementation, "_multiarch", "")
    for d in (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/lib64", "/usr/lib", "/lib"):
        try:
            st = os.stat(os.path.join(d, LIBRARY))
        except OSError:
            continue
        return f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"
    return ""


def _libseccomp():
    global _lib
    if _lib is None:
        try:
            lib = ctypes.open_library(LIBRARY)
        except OSError as e:
            raise RuncError(f"seccomp: libseccomp not available: {e}") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_native.restype = ctypes.c_uint32
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _lib = lib
    return _lib


def action(name: str, errno_ret: int | None, default_errno: int | None = None) -> int:
    if name == "SCMP_ACT_KILL" or name == "SCMP_ACT_KILL_THREAD":
        return _ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return _ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return _ACT_TRAP
    if name == "SCMP_ACT_ERRNO":
        e = errno_ret if errno_ret is not None else (default_errno if default_errno else EPERM)
        return _ACT_ERRNO | (e & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        e = errno_ret if errno_ret is not None else (default_errno if default_errno else EPERM)
        return _ACT_TRACE | (e & 0xFFFF)
    if name == "SCMP_ACT_ALLOW":
        return _ACT_ALLOW
    if name == "SCMP_ACT_LOG":
        return _ACT_LOG
    if name == "SCMP_ACT_NOTIFY":
        raise RuncError("seccomp: SCMP_ACT_NOTIFY is not supported (no listenerPath support)")
    raise RuncError(f"seccomp: invalid action {name!r}")


class Filter:
    """A compiled libseccomp context; ``load()`` installs it in the calling thread."""

    def __init__(self, ctx: int) -> None:
        self.ctx = ctx

    def load(self) -> None:
        rc = _libseccomp().seccomp_load(self.ctx)
        if rc < 0:
            import os
            raise RuncError(f"error loading seccomp filter into kernel: {os.strerror(-rc)}")

    def export_bpf(self, fd: int) -> None:
        rc = _libseccomp().seccomp_export_bpf(self.ctx, fd)
        if rc < 0:
            raise RuncError("seccomp: export failed")

    def release(self) -> None:
        if self.ctx:
            _libseccomp().seccomp_release(self.ctx)
            self.ctx = 0


def compile_filter(profile: dict, warn=None) -> Filter:
    lib = _libseccomp()
    default_errno = profile.get("defaultErrnoRet")
    default = action(profile.get("defaultAction") or "SCMP_ACT_ALLOW", default_errno)
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise RuncError("seccomp: error creating filter")
    filt = Filter(ctx)
    try:
        # we load while still privileged; NNP is left to the spec (runc does the same)
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0)
        for flag in profile.get("flags") or []:
            attr = _FLAGS.get(flag)
            if attr is None:
                raise RuncError(f"seccomp: flag {flag!r} is not supported")
            lib.seccomp_attr_set(ctx, attr, 1)
        native = lib.seccomp_arch_native()
        for arch in profile.get("architectures") or []:
            name = _ARCHES.get(arch)
            if name is None:
                raise RuncError(f"seccomp: invalid architecture {arch!r}")
            token = lib.seccomp_arch_resolve_name(name.encode())
            if token == 0:
                continue
            if token == native:
                continue  # present from seccomp_init
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -17:  # EEXIST
                raise RuncError(f"seccomp: error adding architecture {arch}")
        for rule in profile.get("syscalls") or []:
            act = action(rule.get("action", ""), rule.get("errnoRet"), default_errno)
            if act == default:
                continue  # libseccomp refuses rules equal to the default action
            args = rule.get("args") or []
            for name in rule.get("names") or ([rule["name"]] if rule.get("name") else []):
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown on this kernel/arch, runc skips it
                    continue
                _add_rule(lib, ctx, act, nr, name, args)
    except BaseException:
        filt.release()
        raise
    return filt


def _add_rule(lib, ctx: int, act: int, nr: int, name: str, args: list[dict]) -> None:
    def cmp(a: dict) -> _ArgCmp:
        op = _OPS.get(a.get("op", ""))
        if op is None:
            raise RuncError(f"seccomp: invalid operator {a.get('op')!r}")
        return _ArgCmp(int(a["index"]), op, int(a.get("value", 0)), int(a.get("valueTwo", 0)))

    indexes = [a.get("index") for a in args]
    if len(set(indexes)) != len(indexes):
        # the same argument twice: libseccomp ANDs only distinct args, so OR them as runc does
        groups = [[a] for a in args]
    else:
        groups = [args]
    for group in groups:
        arr = (_ArgCmp * max(1, len(group)))(*[cmp(a) for a in group])
        rc = lib.seccomp_rule_add_array(ctx, act, nr, len(group), arr)
        if rc < 0:
            import os
            raise RuncError(f"seccomp: error adding rule for syscall {name}: {os.strerror(-rc)}")
