"""Building the container's root filesystem: spec mounts, propagation, pivot_root, masks."""
from __future__ import annotations

import errno
import os
import stat

from . import syscalls as sc

_FLAGS = {  # option -> (clear?, flag)
    "ro": (False, sc.MS_RDONLY), "rw": (True, sc.MS_RDONLY),
    "nosuid": (False, sc.MS_NOSUID), "suid": (True, sc.MS_NOSUID),
    "nodev": (False, sc.MS_NODEV), "dev": (True, sc.MS_NODEV),
    "noexec": (False, sc.MS_NOEXEC), "exec": (True, sc.MS_NOEXEC),
    "sync": (False, sc.MS_SYNCHRONOUS), "async": (True, sc.MS_SYNCHRONOUS),
    "dirsync": (False, sc.MS_DIRSYNC), "remount": (False, sc.MS_REMOUNT),
    "mand": (False, sc.MS_MANDLOCK), "nomand": (True, sc.MS_MANDLOCK),
    "noatime": (False, sc.MS_NOATIME), "atime": (True, sc.MS_NOATIME),
    "nodiratime": (False, sc.MS_NODIRATIME), "diratime": (True, sc.MS_NODIRATIME),
    "relatime": (False, sc.MS_RELATIME), "norelatime": (True, sc.MS_RELATIME),
    "strictatime": (False, sc.MS_STRICTATIME), "nostrictatime": (True, sc.MS_STRICTATIME),
    "bind": (False, sc.MS_BIND), "rbind": (False, sc.MS_BIND | sc.MS_REC),
    "nosymfollow": (False, sc.MS_NOSYMFOLLOW), "lazytime": (False, sc.MS_LAZYTIME),
    "nolazytime": (True, sc.MS_LAZYTIME), "defaults": (False, 0),
}
PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
# statvfs f_flag bits that a remount must keep (they are locked in a user namespace)
_ST_LOCKED = ((1, sc.MS_RDONLY), (2, sc.MS_NOSUID), (4, sc.MS_NODEV), (8, sc.MS_NOEXEC),
              (1024, sc.MS_NOATIME), (2048, sc.MS_NODIRATIME), (4096, sc.MS_RELATIME))


def parse_options(options: list[str]) -> tuple[int, list[int], str]:
    """(mount flags, propagation flags, data string) of an OCI mount's options."""
    flags, prop, data = 0, [], []
    for opt in options or []:
        if opt in _FLAGS:
            clear, f = _FLAGS[opt]
            flags = flags & ~f if clear else flags | f
        elif opt in PROPAGATION:
            prop.append(PROPAGATION[opt])
        else:
            data.append(opt)
    return flags, prop, ",".join(data)


def secure_join(root: str, unsafe: str) -> str:
    """Join ``unsafe`` onto ``root`` resolving symlinks as if ``root`` were ``/``."""
    resolved = "/"
    parts = [p for p in unsafe.split("/") if p]
    links = 0
    while parts:
        p = parts.pop(0)
        if p == ".":
            continue
        if p == "..":
            resolved = os.path.dirname(resolved)
            continue
        cand = os.path.join(resolved, p)
        full = root + cand
        if os.path.islink(full):
            links += 1
            if links > 255:
                raise OSError(errno.ELOOP, "too many symlinks", unsafe)
            target = os.readlink(full)
            if target.startswith("/"):
                resolved = "/"
            parts = [x for x in target.split("/") if x] + parts
            continue
        resolved = cand
    return os.path.normpath(root + resolved) if resolved != "/" else root


def _statvfs_flags(path: str) -> int:
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    return sum(ms for st, ms in _ST_LOCKED if f & st)


def remount(path: str, flags: int) -> None:
    """Bind-remount ``path`` with ``flags``, keeping flags the kernel locks (user namespaces)."""
    try:
        sc.mount(None, path, None, flags | sc.MS_REMOUNT | sc.MS_BIND)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        sc.mount(None, path, None, flags | sc.MS_REMOUNT | sc.MS_BIND | _statvfs_flags(path))


def _mkpoint(dest: str, is_file: bool) -> None:
    if is_file:
        os.makedirs(os.path.dirname(dest), 0o755, exist_ok=True)
        if not os.path.exists(dest):
            os.close(os.open(dest, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o755))
    else:
        os.makedirs(dest, 0o755, exist_ok=True)


def prepare_root(rootfs: str, propagation: str | None) -> None:
    """Make our mount tree a slave (or as rootfsPropagation says) and bind the rootfs onto itself."""
    flag = PROPAGATION.get(propagation or "", sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, flag)
    if flag & sc.MS_SHARED:
        # pivot_root refuses a shared parent mount: make the rootfs' parent mount private
        sc.mount(None, mount_point_of(os.path.dirname(rootfs)), None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, "bind", sc.MS_BIND | sc.MS_REC)


def mount_point_of(path: str) -> str:
    best = "/"
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                best = mp
    return best


def mount_one(rootfs: str, m: dict, ctx: dict) -> int:
    """Mount one OCI mount under ``rootfs``. ``ctx`` carries cgroup paths and namespace info.

    Returns the flags of a read-only remount still to do once the rootfs is complete (0 if
    none): a tmpfs, and /dev, are mounted writable first, as later mounts, device nodes and
    the console may need to be created inside them (runc does the same)."""
    mtype = m.get("type") or ""
    src = m.get("source") or ""
    flags, prop, data = parse_options(m.get("options") or [])
    delayed = 0
    if flags & sc.MS_RDONLY and (mtype == "tmpfs" or os.path.normpath(m["destination"]) == "/dev"):
        flags &= ~sc.MS_RDONLY
        delayed = sc.MS_RDONLY | (flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC))
    if mtype in ("proc", "sysfs"):
        # a symlink here could point the kernel's view anywhere on the host (runc refuses it)
        raw = os.path.join(rootfs, m["destination"].lstrip("/"))
        if os.path.islink(raw) or (os.path.exists(raw) and not os.path.isdir(raw)):
            raise OSError(errno.EINVAL, f'filesystem "{mtype}" must be mounted on ordinary '
                                        f'directory')
    dest = secure_join(rootfs, m["destination"])
    is_bind = bool(flags & sc.MS_BIND) or mtype == "bind"
    if is_bind:
        if not os.path.isabs(src):
            src = os.path.join(ctx["bundle"], src)
        st = os.stat(src)  # raises with the source path in the error
        _mkpoint(dest, not stat.S_ISDIR(st.st_mode))
        sc.mount(src, dest, "bind", sc.MS_BIND | (flags & sc.MS_REC))
        extra = flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
        if extra:
            remount(dest, extra | (flags & sc.MS_REC))
    elif mtype == "cgroup":
        _mount_cgroup(dest, flags, ctx)
    else:
        _mkpoint(dest, False)
        try:
            sc.mount(src or mtype, dest, mtype, flags, data or None)
        except OSError as e:
            if mtype == "sysfs" and e.errno == errno.EPERM:
                # a netns we do not own: sysfs cannot be mounted fresh, bind the host's
                sc.mount("/sys", dest, "bind", sc.MS_BIND | sc.MS_REC)
                if flags & sc.MS_RDONLY:
                    remount(dest, sc.MS_RDONLY | sc.MS_REC)
            else:
                raise
    for p in prop:
        sc.mount(None, dest, None, p)
    return delayed


def _mount_cgroup(dest: str, flags: int, ctx: dict) -> None:
    """The cgroup filesystem as runc shows it: v1 hierarchies (the container's own dirs bound
    in, or real mounts with a cgroup namespace) on a tmpfs; v2 mounted or bound directly."""
    paths: dict = ctx.get("cgroup_paths") or {}
    ro = flags & sc.MS_RDONLY
    base_flags = flags & (sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    _mkpoint(dest, False)
    if set(paths) == {"unified"} or not paths:
        if ctx.get("new_cgroupns"):
            sc.mount("cgroup", dest, "cgroup2", base_flags | ro)
        elif paths:
            sc.mount(paths["unified"], dest, "bind", sc.MS_BIND | sc.MS_REC)
            if ro:
                remount(dest, sc.MS_RDONLY | base_flags)
        return
    sc.mount("tmpfs", dest, "tmpfs", base_flags, "mode=755")
    from .cgroups.v1 import mounts as v1_mounts
    for ctl, (mnt, _root) in v1_mounts().items():
        if ctl not in paths:
            continue
        name = os.path.basename(mnt)
        sub = os.path.join(dest, name)
        if os.path.exists(sub):
            continue
        os.makedirs(sub, 0o755, exist_ok=True)
        if ctx.get("new_cgroupns") and ctl != "unified":
            opts = ctl
            sc.mount("cgroup", sub, "cgroup", base_flags | ro, opts)
        elif ctl == "unified" and ctx.get("new_cgroupns"):
            sc.mount("cgroup", sub, "cgroup2", base_flags | ro)
        else:
            sc.mount(paths[ctl], sub, "bind", sc.MS_BIND | sc.MS_REC)
            if ro:
                remount(sub, sc.MS_RDONLY | base_flags)
        # combined hierarchies (cpu,cpuacct) get per-controller symlinks, as on the host
        if "," in name:
            for part in name.split(","):
                link = os.path.join(dest, part)
                if not os.path.lexists(link):
                    os.symlink(name, link)
    if ro:
        remount(dest, sc.MS_RDONLY | base_flags)


def pivot_root(rootfs: str) -> None:
    """runc's trick: pivot_root(".", ".") then lazily detach the old root stacked on top."""
    oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    newroot = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(newroot)
        sc.pivot_root(".", ".")
        os.fchdir(oldroot)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(oldroot)
        os.close(newroot)


def move_root(rootfs: str) -> None:
    """--no-pivot: move the rootfs over / and chroot (for ramdisk roots)."""
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def readonly_root() -> None:
    remount("/", sc.MS_RDONLY)


def mask_path(path: str) -> None:
    try:
        sc.mount("/dev/null", path, None, sc.MS_BIND)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        if e.errno == errno.ENOTDIR:
            sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            return
        raise


def readonly_path(path: str) -> None:
    try:
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise
    remount(path, sc.MS_RDONLY | sc.MS_REC)
