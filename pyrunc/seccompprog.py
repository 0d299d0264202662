"""The BPF program a seccomp profile compiles to (libseccomp's export), sent to the init to load.

Create and exec compile it in the runtime while the init builds its rootfs, and keep it under the
state root: the same profile (Docker's default for every container) is compiled once per kernel and
libseccomp, not on every create and exec.
"""
from __future__ import annotations

import os

from . import runlog
from .errors import InitError, RuncError

# Compiled programs by profile, under the state root: Docker's default profile costs ~10 ms of
# CPU to compile and export on every create and exec, and is the same for every container.
# '~' cannot appear in a container id, so the dir never shows up as one.
SECCOMP_CACHE = "~seccomp"


def send_program(sock, profile: dict, root: str | None = None) -> None:
    """Send the init the profile's BPF program (libseccomp's export) with the flags to load it
    with: from the cache under ``root`` when this profile was compiled before on this kernel,
    else compiled here, in parallel with the direct init's mounts."""
    from . import sync
    from .syscalls import SECCOMP_FILTER_FLAGS
    flags = 0
    for name in profile.get("flags") or []:
        flags |= SECCOMP_FILTER_FLAGS.get(name, 0)
    path = _cache_path(root, profile) if root else None
    prog = None
    if path:
        try:
            with open(path, "rb") as f:
                prog = f.read()
        except OSError:
            pass
    if not prog:
        prog = _compile(profile)
        if path:
            _store(path, prog)
    sync.send_bytes(sock, "seccomp", str(flags).encode() + b"\n" + prog)


def _compile(profile: dict) -> bytes:
    from . import seccomp
    try:
        filt = seccomp.compile_filter(profile, runlog.warn)
    except RuncError as e:
        raise InitError(e.msg) from None  # the words it had when the init compiled it
    try:
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            filt.export_bpf(fd)
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        filt.release()


def _cache_path(root: str, profile: dict) -> str:
    """Keyed by the profile (as parsed), the kernel, the compiler (seccomp.py) and the libseccomp
    file: the program libseccomp emits depends on nothing else on one machine (an upgraded
    libseccomp knows more syscall names)."""
    import _sha256
    from . import seccomp
    st = os.stat(seccomp.__file__)
    key = (f"{os.uname().release}\0{st.st_mtime_ns}\0{st.st_size}\0{seccomp.library_identity()}\0"
           f"{profile!r}").encode()
    return os.path.join(root, SECCOMP_CACHE, _sha256.sha256(key).hexdigest())


def _store(path: str, prog: bytes) -> None:
    """Best effort, atomic (a concurrent create reads a whole program or none)."""
    try:
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, prog)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        pass
