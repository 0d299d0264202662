"""Carrying out COPY/ADD into a container's root filesystem, with the classic builder's rules.

A directory source copies its contents; a file goes to `dest/<name>` when `dest` ends in '/'
or already is a directory, else to `dest`; ADD extracts local tar archives (plain, gzip, bzip2,
xz) but never downloaded ones; ownership is --chown's user/group looked up in the image's
/etc/passwd and /etc/group, the source's own for `COPY --from` without --chown, root otherwise.
Every path written resolves inside the root filesystem (symlinks followed in its scope).
"""
from __future__ import annotations

import os
import posixpath
import shutil
import stat
from dataclasses import dataclass

from .context import (CopySources, Source, extract_tar, is_archive, resolve_scoped)
from .errors import BuildError
from .plan import CopyAction

Identity = tuple[int, int]
ROOT: Identity = (0, 0)


# ---------------------------------------------------------------------------------------------
# --chown
# ---------------------------------------------------------------------------------------------

def _lookup(spec: str, path: str, kind: str) -> int:
    if spec.isdigit():
        return int(spec)
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 3 and fields[0] == spec and fields[2].isdigit():
                    return int(fields[2])
    except FileNotFoundError:
        raise BuildError(f"open {path}: no such file or directory") from None
    raise BuildError(f"no such {kind}: {spec}")


def parse_chown(chown: str, rootfs: str) -> Identity:
    """`user[:group]` (names or numbers) as moby's parseChownFlag: a missing group is looked up
    under the user's name, names are read from the image's own passwd and group files."""
    parts = chown.split(":")
    if len(parts) > 2:
        raise BuildError("unable to convert uid/gid chown string to host mapping: "
                         f"invalid chown string format: {chown}")
    user = parts[0]
    group = parts[1] if len(parts) == 2 else parts[0]
    try:
        try:
            uid = _lookup(user, resolve_scoped(rootfs, "/etc/passwd"), "user")
        except BuildError as exc:
            raise BuildError(f"can't find uid for user {user}: {exc.message}") from None
        try:
            gid = _lookup(group, resolve_scoped(rootfs, "/etc/group"), "group")
        except BuildError as exc:
            raise BuildError(f"can't find gid for group {group}: {exc.message}") from None
    except BuildError as exc:
        raise BuildError("unable to convert uid/gid chown string to host mapping: "
                         + exc.message) from None
    return uid, gid


# ---------------------------------------------------------------------------------------------
# Low-level copies (no symlink in the destination is ever followed out of the root)
# ---------------------------------------------------------------------------------------------

def _mkdir_all(rootfs: str, rel: str, identity: Identity | None) -> str:
    """mkdir -p inside the root; new directories are 0755 and owned by `identity` (or root)."""
    full = rootfs
    for part in [p for p in rel.split("/") if p]:
        nxt = os.path.join(full, part)
        if os.path.islink(nxt):
            nxt = resolve_scoped(rootfs, os.path.relpath(nxt, rootfs))
            if not os.path.lexists(nxt):
                # a dangling link: create what it points to (its path is already resolved)
                nxt = _mkdir_all(rootfs, os.path.relpath(nxt, rootfs), identity)
        if not os.path.lexists(nxt):
            os.mkdir(nxt, 0o755)
            uid, gid = identity or ROOT
            _chown(nxt, uid, gid)
        elif not os.path.isdir(nxt):
            raise BuildError(f"mkdir {nxt}: not a directory")
        full = nxt
    return full


def _chown(path: str, uid: int, gid: int) -> None:
    if os.geteuid() == 0:
        os.lchown(path, uid, gid)


def _replace(path: str) -> None:
    """Make room for a new non-directory entry."""
    if os.path.lexists(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _copy_entry(src: str, dst: str, st: os.stat_result, identity: Identity | None,
                links: dict[tuple[int, int], str] | None = None) -> None:
    """Copy one entry (file, symlink, directory, fifo) from `src` to the scoped `dst`. `links`: the
    copies made so far of files with several links, so that a hard link stays one (as Docker's tar)."""
    if links is not None and stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
        first = links.get((st.st_dev, st.st_ino))
        if first is not None:
            _replace(dst)
            os.link(first, dst)
            return
        links[(st.st_dev, st.st_ino)] = dst
    if stat.S_ISDIR(st.st_mode):
        if os.path.lexists(dst) and not (os.path.isdir(dst) and not os.path.islink(dst)):
            os.unlink(dst)
        if not os.path.lexists(dst):
            os.mkdir(dst, 0o700)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    elif stat.S_ISLNK(st.st_mode):
        _replace(dst)
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(st.st_mode):
        _replace(dst)
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    elif stat.S_ISFIFO(st.st_mode):
        _replace(dst)
        os.mkfifo(dst, stat.S_IMODE(st.st_mode))
    else:
        return  # sockets and devices are not carried over
    uid, gid = identity if identity is not None else (st.st_uid, st.st_gid)
    _chown(dst, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_tree(src_dir: str, rootfs: str, dest_rel: str, identity: Identity | None) -> None:
    """Copy the contents of `src_dir` into `dest_rel` (created when missing)."""
    existed = os.path.isdir(resolve_scoped(rootfs, dest_rel))
    dest_full = _mkdir_all(rootfs, dest_rel, ROOT)
    if not existed and identity is not None:
        _chown(dest_full, *identity)  # a destination that already existed keeps its owner
    links: dict[tuple[int, int], str] = {}
    for cur, dirs, files in os.walk(src_dir):
        dirs.sort()
        rel_dir = os.path.relpath(cur, src_dir)
        for name in sorted(dirs) + sorted(files):
            src = os.path.join(cur, name)
            rel = name if rel_dir == "." else posixpath.join(rel_dir, name)
            # Docker untars chrooted at the destination: resolve inside it, not the whole root.
            parent = resolve_scoped(dest_full, posixpath.dirname(rel) or ".")
            _copy_entry(src, os.path.join(parent, name), os.lstat(src), identity, links)
        # do not descend into symlinked directories: os.walk lists them in dirs
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(cur, d))]


# ---------------------------------------------------------------------------------------------
# COPY / ADD
# ---------------------------------------------------------------------------------------------

@dataclass
class CopyResult:
    """What was written, as image paths (for tests and debug logs)."""

    paths: list[str]


def perform_copy(action: CopyAction, source: Source | None, rootfs: str, *,
                 downloads: dict[str, str] | None = None) -> CopyResult:
    """Copy the resolved sources of `action` into `rootfs` (the container's mounted root).

    `source` is the context or the `--from` root the action was resolved against; `downloads`
    maps each ADD URL to the file the executor downloaded it to (named as it must appear).
    """
    res: CopySources | None = action.resolved
    if res is None:
        raise BuildError("COPY/ADD sources were not resolved")
    rootfs = os.path.abspath(rootfs)
    identity: Identity | None
    if action.chown:
        identity = parse_chown(action.chown, rootfs)
    elif action.preserve_ownership:
        identity = None
    else:
        identity = ROOT
    dest = action.dest_path
    ends_in_slash = dest.endswith("/")
    written: list[str] = []
    for info in res.infos:
        if info.is_url:
            try:
                src = (downloads or {})[info.path]
            except KeyError:
                raise BuildError(f"{info.path} was not downloaded") from None
            name = os.path.basename(src)
        else:
            assert source is not None
            src = source.full_path(info.path)
            name = posixpath.basename(info.path.rstrip("/")) or info.path
        try:
            st = os.stat(src)
        except FileNotFoundError:
            raise BuildError(f"source path not found: stat {src}: no such file or directory") from None
        if stat.S_ISDIR(st.st_mode):
            _copy_tree(src, rootfs, dest, identity)
            written.append(dest)
            continue
        if action.allow_decompress and not info.no_decompress and is_archive(src):
            target = _mkdir_all(rootfs, dest, ROOT)
            with open(src, "rb") as f:
                extract_tar(f, target, in_scope=True)  # type: ignore[arg-type]
            written.append(dest)
            continue
        target_rel = dest
        if ends_in_slash or os.path.isdir(resolve_scoped(rootfs, dest)):
            target_rel = posixpath.join(dest, name)
        parent = _mkdir_all(rootfs, posixpath.dirname(target_rel.rstrip("/")) or "/", identity)
        leaf = posixpath.basename(target_rel.rstrip("/"))
        _copy_entry(src, os.path.join(parent, leaf), st, identity)
        written.append(target_rel)
    return CopyResult(written)


def make_workdir(rootfs: str, path: str) -> str:
    """WORKDIR's directory, created 0755 and owned by root when missing (moby 20.10)."""
    return _mkdir_all(os.path.abspath(rootfs), path, ROOT)
