"""Reading files out of a container's rootfs snapshot (to resolve user names, as moby does)."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import stat
import tempfile
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

log = logging.getLogger("pydockerd.rootfs")


def is_mounted(path: str) -> bool:
    """Whether something is mounted at `path` (a bind of a directory of the same filesystem included,
    which os.path.ismount misses)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                point = line.split(" ", 5)[4]
                if "\\" in point:  # mountinfo escapes space, tab, newline and backslash in octal
                    point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
                if point == path:
                    return True
    except OSError:
        return False
    return False


async def run_command(*argv: str) -> None:
    """Run a mount/umount-like command; OSError with its stderr when it fails."""
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {err.decode(errors='replace').strip()}")


def read_only_options(kind: str, options: list[str]) -> list[str]:
    """Options for a read-only second mount of a snapshot.

    An overlay's upperdir/workdir must never be mounted twice (the kernel's caches of the two mounts
    disagree and the container sees files vanish), so the upper dir becomes the top lower dir.
    """
    opts = [o for o in options if o not in ("rw", "rbind", "bind")]
    if kind != "overlay":
        return opts
    upper = next((o.split("=", 1)[1] for o in opts if o.startswith("upperdir=")), "")
    lower = next((o.split("=", 1)[1] for o in opts if o.startswith("lowerdir=")), "")
    rest = [o for o in opts if not o.startswith(("upperdir=", "workdir=", "lowerdir=", "index="))]
    lowers = ":".join(x for x in (upper, lower) if x)
    return rest + [f"lowerdir={lowers}"]


async def mount(mounts: list[Any], target: str, readonly: bool) -> None:
    """Mount a snapshot (its one mount, as Snapshots.Mounts/View give it) at `target`, read-only or not.
    Read-only, an overlay's upper dir is mounted as its top lower dir (see read_only_options)."""
    if len(mounts) != 1:
        raise OSError(f"expected one rootfs mount, got {len(mounts)}")
    m = mounts[0]
    if m.type == "bind":
        await run_command("mount", "--bind", m.source, target)
        if readonly:
            try:
                await run_command("mount", "-o", "remount,bind,ro", target)
            except OSError:
                await run_command("umount", target)
                raise
        return
    opts = read_only_options(m.type, list(m.options)) + ["ro"] if readonly else \
        [o for o in m.options if o not in ("rw", "rbind", "bind")]
    await run_command("mount", "-t", m.type, "-o", ",".join(opts), m.source, target)


@asynccontextmanager
async def mounted(mounts: list[Any], tmp_root: str, readonly: bool = True) -> AsyncIterator[str]:
    """A private mount of a snapshot in a temp dir under `tmp_root`, gone afterwards."""
    os.makedirs(tmp_root, exist_ok=True)
    target = tempfile.mkdtemp(prefix="rootfs-", dir=tmp_root)
    try:
        await mount(mounts, target, readonly)
        try:
            yield target
        finally:
            await unmount(target)
    finally:
        if not is_mounted(target):  # never delete through a mount (of a container's own files)
            shutil.rmtree(target, ignore_errors=True)


async def unmount(target: str) -> None:
    """Unmount `target`; busy (a child still in it), detach it lazily: it goes when the child does."""
    try:
        await run_command("umount", target)
    except OSError:
        try:
            await run_command("umount", "-l", target)
        except OSError as exc:
            log.warning("cannot unmount %s: %s", target, exc)


def read_layered(mounts: list[Any], path: str) -> str | None:
    """A small file of a snapshot read straight from its directories, without mounting it: an overlay's
    upper dir, then its lower dirs top first (a whiteout or an opaque directory on the way ends the
    search), or a bind's source. None when that cannot be decided so (a symlink on the way, another
    kind of mount): mount it then. "" when the file does not exist."""
    if len(mounts) != 1:
        return None
    m = mounts[0]
    if m.type == "bind":
        layers = [m.source]
    elif m.type == "overlay":
        opts = dict(o.split("=", 1) for o in m.options if "=" in o)
        layers = ([opts["upperdir"]] if "upperdir" in opts else []) + [x for x in opts.get("lowerdir", "").split(":") if x]
    else:
        return None
    parts = [p for p in path.split("/") if p]
    try:
        for layer in layers:
            found, opaque = _in_layer(layer, parts)
            if found is not None:
                return found
            if opaque:
                return ""  # an opaque directory on the way: nothing below this layer shows through
    except _Undecided:
        return None
    return ""


class _Undecided(Exception):
    """A symlink on the way: where it leads is the mounted tree's business."""


def _in_layer(layer: str, parts: list[str]) -> tuple[str | None, bool]:
    """(the content, "" if deleted here or None if not in this layer; whether an opaque directory was
    crossed); _Undecided at a symlink."""
    at, opaque = layer, False
    for i, name in enumerate(parts):
        at = os.path.join(at, name)
        try:
            st = os.lstat(at)
        except FileNotFoundError:
            return None, opaque  # not in this layer: the next one down
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return "", opaque  # a whiteout: deleted for the layers below
        if i == len(parts) - 1:
            if stat.S_ISREG(st.st_mode):
                with open(at, errors="replace") as f:
                    return f.read(), opaque
            if stat.S_ISLNK(st.st_mode):
                raise _Undecided()
            return "", opaque  # a directory or a device is no text file
        if stat.S_ISLNK(st.st_mode):
            raise _Undecided()
        if not stat.S_ISDIR(st.st_mode):
            return "", opaque  # a file where a directory was: it hides the rest
        try:
            opaque = opaque or os.getxattr(at, "trusted.overlay.opaque", follow_symlinks=False) == b"y"
        except OSError:
            pass
    return None, opaque


def read_from_root(root: str, paths: list[str]) -> dict[str, str]:
    """Read files from an existing root (a running container's /proc/<pid>/root)."""
    out: dict[str, str] = {}
    for p in paths:
        try:
            with open(os.path.join(root, p.lstrip("/")), errors="replace") as f:
                out[p] = f.read()
        except OSError:
            out[p] = ""
    return out


async def read_files(mounts: list[Any], paths: list[str], tmp_root: str) -> dict[str, str]:
    """Mount the snapshot read-only in a private temp dir, read `paths` (missing → ""), unmount."""
    out: dict[str, str] = {p: "" for p in paths}
    async with mounted(mounts, tmp_root) as target:
        for p in paths:
            full = os.path.join(target, p.lstrip("/"))
            # A symlinked /etc/passwd pointing outside the rootfs must not read the host's file.
            real = os.path.realpath(full)
            if not (real == target or real.startswith(target + os.sep)):
                continue
            try:
                with open(real, errors="replace") as f:
                    out[p] = f.read()
            except OSError:
                pass
    return out


async def copy_up(mounts: list[Any], pairs: list[tuple[str, str]], tmp_root: str) -> None:
    """Docker's volume copy-up: for each (path in the image, empty volume dir), copy the image's
    content at that path (ownership, modes, links) into the volume. The snapshot is mounted read-only."""
    if not pairs:
        return
    async with mounted(mounts, tmp_root) as target:
        for path, dst in pairs:
            real = os.path.realpath(os.path.join(target, path.lstrip("/")))
            if not (real.startswith(target + os.sep)) or not os.path.isdir(real):
                continue  # nothing there in the image (or a link out of it): the volume stays empty
            if os.listdir(dst):
                continue
            await run_command("cp", "-a", "--", real + "/.", dst)
            st = os.stat(real)
            os.chown(dst, st.st_uid, st.st_gid)
            os.chmod(dst, st.st_mode & 0o7777)
