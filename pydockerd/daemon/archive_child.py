"""`docker cp` worker: runs chrooted into a container's root, so no path in a request or a tar can
reach outside it (symlinks resolve inside the chroot). Run as `python -m` with the operation:

    stat PATH               → JSON {name, size, mode (Go FileMode bits), mtime, linkTarget} on stdout
    get PATH                → a tar of PATH on stdout (a directory: its tree under its base name)
    export                  → a tar of the whole root on stdout
    put DIR NOOVERWRITE UIDGID  ← a tar on stdin, extracted into DIR

The first argument is the root to chroot into; PYDOCKER_CP_BINDS (JSON [[source, destination, rw], ...])
lists what to bind over it first, in a private mount namespace. Errors: one line on stderr, exit 2 (not
found), 3 (not a directory) or 1.
"""
from __future__ import annotations

# Everything used after chroot is imported before it: the container's root has no Python.
import datetime
import grp  # noqa: F401  (tarfile looks up owner names)
import json
import os
import pwd  # noqa: F401
import shutil  # noqa: F401
import stat
import sys
import tarfile

from ..scope import in_scope

GO_DIR, GO_SYMLINK = 1 << 31, 1 << 27


def go_mode(st: os.stat_result) -> int:
    mode = st.st_mode & 0o777
    if stat.S_ISDIR(st.st_mode):
        mode |= GO_DIR
    elif stat.S_ISLNK(st.st_mode):
        mode |= GO_SYMLINK
    return mode


def do_stat(path: str) -> None:
    st = os.lstat(path)
    mtime = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
    out = {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": go_mode(st),
           "mtime": mtime.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
           "linkTarget": os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""}
    sys.stdout.write(json.dumps(out))


def do_get(path: str) -> None:
    os.lstat(path)
    name = os.path.basename(path.rstrip("/")) or "."
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as t:
        t.add(path, arcname=name, recursive=True)


def do_export() -> None:
    """The whole filesystem, entries named without a leading "./" (as `docker export`)."""
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as t:
        for name in sorted(os.listdir("/")):
            t.add("/" + name, arcname=name, recursive=True)


def do_put(dest: str, no_overwrite_dir_nondir: bool, copy_uidgid: bool) -> None:
    if not os.path.isdir(dest):
        if os.path.exists(dest):
            print("extraction point is not a directory", file=sys.stderr)
            sys.exit(3)
        raise FileNotFoundError(dest)
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as t:
        for m in t:
            target = os.path.join(dest, m.name)
            if no_overwrite_dir_nondir and os.path.lexists(target):
                is_dir = os.path.isdir(target) and not os.path.islink(target)
                if is_dir and not m.isdir():
                    print(f"cannot overwrite directory \"{target}\" with non-directory \"{m.name}\"",
                          file=sys.stderr)
                    sys.exit(1)
                if not is_dir and m.isdir():
                    print(f"cannot overwrite non-directory \"{target}\" with directory \"{m.name}\"",
                          file=sys.stderr)
                    sys.exit(1)
            if not copy_uidgid:
                m.uid = m.gid = 0
                m.uname = m.gname = "root"
            t.extract(m, dest, set_attrs=True, numeric_owner=True)


def _mount_binds(root: str, binds: list[list]) -> None:
    """A stopped container's volumes, binds and /etc files, bound over its root in a mount namespace of
    this process alone: they vanish with it, whatever happens."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    ms_rdonly, ms_remount, ms_bind, ms_rec, ms_private = 1, 32, 4096, 16384, 1 << 18

    def check(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
    check(libc.unshare(0x00020000), "unshare")  # CLONE_NEWNS
    check(libc.mount(None, b"/", None, ms_rec | ms_private, None), "make / private")
    for src, dst, rw in binds:
        target = in_scope(root, dst)
        if not os.path.lexists(target):
            continue  # no mount point in the (read-only) tree: nothing the copy can reach there
        check(libc.mount(src.encode(), target.encode(), None, ms_bind | ms_rec, None), f"bind {dst}")
        if not rw:
            check(libc.mount(None, target.encode(), None, ms_bind | ms_remount | ms_rdonly | ms_rec, None),
                  f"read-only {dst}")


def main() -> None:
    root, op, *args = sys.argv[1:]
    if os.environ.get("PYDOCKER_CP_BINDS"):
        _mount_binds(root, json.loads(os.environ["PYDOCKER_CP_BINDS"]))
    os.chroot(root)
    os.chdir("/")
    try:
        if op == "stat":
            do_stat(args[0])
        elif op == "get":
            do_get(args[0])
        elif op == "export":
            do_export()
        elif op == "put":
            do_put(args[0], args[1] == "1", args[2] == "1")
        else:
            raise ValueError(op)
    except FileNotFoundError:
        print("not found", file=sys.stderr)
        sys.exit(2)
    except NotADirectoryError:
        print("not a directory", file=sys.stderr)
        sys.exit(3)
    except (tarfile.TarError, EOFError):
        # what was sent is not a tar archive (dockerd's words for its untar child's failure)
        print("Error processing tar file(exit status 1): unexpected EOF", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
