"""`docker cp`: stat, read and write paths of a container's filesystem.

The work happens in a chrooted child (`archive_child`), so neither request paths nor symlinks in
the container or in an uploaded tar can reach the host. A running container is reached through
`/proc/<pid>/root` (which also shows its volumes); a stopped one through a private mount of its
snapshot (read-only view for reads; its own upper dir for writes, as nothing else mounts it then).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..errors import InvalidParameter, NotFound, SystemError_
from .rootfs import mounted

if TYPE_CHECKING:
    from .container import Container
    from .daemon import Daemon

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Root:
    """Where the cp child chroots, and what it binds over that first (a stopped container's mounts)."""
    path: str
    binds: list[tuple[str, str, bool]] = field(default_factory=list)  # (source, destination, rw)


def stopped_binds(d: "Daemon", c: "Container") -> list[tuple[str, str, bool]]:
    """What a stopped container would see mounted: its volumes, host binds and /etc files (moby mounts
    them for docker cp as well), in the order of their mount points."""
    out = [(d.volumes.mountpoint(v["Name"]), v["Destination"], bool(v["RW"])) for v in c.VolumeMounts]
    for bind in c.HostConfig.get("Binds") or []:
        parts = bind.split(":")
        if len(parts) >= 2 and parts[0].startswith("/"):
            out.append((parts[0], parts[1], "ro" not in (parts[2].split(",") if len(parts) == 3 else [])))
    for m in c.HostConfig.get("Mounts") or []:
        if m.get("Type") == "bind":
            out.append((m.get("Source") or "", m.get("Target") or "", not m.get("ReadOnly")))
    for src, dst in ((c.ResolvConfPath, "/etc/resolv.conf"), (c.HostnamePath, "/etc/hostname"),
                     (c.HostsPath, "/etc/hosts")):
        if src and os.path.exists(src):
            out.append((src, dst, True))
    return sorted((b for b in out if os.path.exists(b[0])), key=lambda b: b[1].rstrip("/").count("/"))


@asynccontextmanager
async def container_root(d: "Daemon", c: "Container", write: bool, snapshot_only: bool = False) -> AsyncIterator[Root]:
    """`snapshot_only` (export): the container's own filesystem, without /proc, volumes and binds."""
    if c.State.Running and c.State.Pid and not snapshot_only:
        yield Root(f"/proc/{c.State.Pid}/root")
        return
    mounts = await d.client.snapshot_mounts(c.ID)
    if len(mounts) != 1:
        raise SystemError_(f"unexpected rootfs mounts for {c.ID}")
    async with mounted(mounts, d.tmp_root, readonly=not write) as target:
        if snapshot_only:
            yield Root(target)
            return
        ref = f"cp-{secrets.token_hex(8)}"  # volumes made with options are mounted for the copy too
        await d.use_volumes(c, ref)
        try:
            yield Root(target, stopped_binds(d, c))
        finally:
            await d.release_volumes(c, ref)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = PROJECT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


async def _child(root: Root, *args: str, stdin: Any = None) -> asyncio.subprocess.Process:
    env = _env()
    if root.binds:
        env["PYDOCKER_CP_BINDS"] = json.dumps(root.binds)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pydockerd.daemon.archive_child", root.path, *args, env=env,
        stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


def _not_found(path: str, c: "Container") -> NotFound:
    return NotFound(f"Could not find the file {path} in container {c.Name.lstrip('/')}")


async def stat_path(root: Root, path: str, c: "Container") -> tuple[dict[str, Any], str]:
    """(stat dict, the base64 header value moby sends as X-Docker-Container-Path-Stat)."""
    proc = await _child(root, "stat", path)
    out, err = await proc.communicate()
    if proc.returncode == 2:
        raise _not_found(path, c)
    if proc.returncode != 0:
        raise SystemError_(err.decode(errors="replace").strip() or "stat failed")
    st = json.loads(out)
    return st, base64.b64encode(json.dumps(st, separators=(",", ":")).encode()).decode()


async def read_tar(root: Root, path: str, c: "Container") -> asyncio.subprocess.Process:
    """The child producing the tar on its stdout (the caller streams and waits)."""
    return await _child(root, "get", path)


async def export_tar(root: Root) -> asyncio.subprocess.Process:
    return await _child(root, "export")


async def write_tar(root: Root, path: str, c: "Container", chunks: AsyncIterator[bytes],
                    no_overwrite: bool, copy_uidgid: bool) -> None:
    proc = await _child(root, "put", path, "1" if no_overwrite else "0", "1" if copy_uidgid else "0",
                        stdin=asyncio.subprocess.PIPE)
    assert proc.stdin is not None
    try:
        async for chunk in chunks:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        proc.stdin.close()
    _, err = await proc.communicate()
    msg = err.decode(errors="replace").strip()
    if proc.returncode == 2:
        raise _not_found(path, c)
    if proc.returncode == 3:
        raise InvalidParameter("extraction point is not a directory")
    if proc.returncode != 0:
        raise InvalidParameter(msg or "extraction failed")
