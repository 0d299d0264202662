"""OOM notifications from a container's memory cgroup, for ``pyrunc events``.

v1: an eventfd registered on memory.oom_control through cgroup.event_control; the kernel
signals it on every OOM in the cgroup, and once more when the cgroup is removed.
v2: inotify on memory.events (its ``oom_kill`` counter) and cgroup.events (``populated 0``
when the last process has left), as runc watches them.

``notifier(paths)`` returns an object with ``fileno()`` to poll, ``read()`` (the number of
OOMs since the last read) and ``done`` (the cgroup is gone or empty: no more can come).
"""
from __future__ import annotations

import os


def _key(path: str, key: str) -> int | None:
    """The value of ``key`` in a flat-keyed cgroup file (``name value`` lines)."""
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(" ")
                if k == key:
                    return int(v)
    except (OSError, ValueError):
        return None
    return None


class V1OOM:
    """eventfd on memory.oom_control (cgroup v1)."""

    def __init__(self, memdir: str) -> None:
        self.dir = memdir
        self.done = False
        self.efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        try:
            ofd = os.open(os.path.join(memdir, "memory.oom_control"), os.O_RDONLY | os.O_CLOEXEC)
            try:
                with open(os.path.join(memdir, "cgroup.event_control"), "w") as f:
                    f.write(f"{self.efd} {ofd}")
            finally:
                # the registration holds its own reference to the file
                os.close(ofd)
        except OSError:
            os.close(self.efd)
            raise

    def fileno(self) -> int:
        return self.efd

    def read(self) -> int:
        try:
            n = os.eventfd_read(self.efd)
        except BlockingIOError:
            return 0
        # the kernel also signals the eventfd when the cgroup is removed
        if not os.path.exists(os.path.join(self.dir, "cgroup.event_control")):
            self.done = True
            return 0
        return n

    def close(self) -> None:
        if self.efd >= 0:
            os.close(self.efd)
            self.efd = -1


IN_MODIFY = 0x2
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000


class V2OOM:
    """inotify on memory.events and cgroup.events (cgroup v2): an OOM is a rise of the
    ``oom_kill`` counter; ``populated 0`` ends the stream."""

    def __init__(self, cgdir: str, libc=None) -> None:
        self.dir = cgdir
        self.done = False
        if libc is None:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError("inotify_init1 failed")
        try:
            for name in ("memory.events", "cgroup.events"):
                if libc.inotify_add_watch(self.fd, os.path.join(cgdir, name).encode(),
                                          IN_MODIFY) < 0:
                    raise OSError(f"inotify_add_watch {name} failed")
        except OSError:
            os.close(self.fd)
            raise
        self.kills = _key(os.path.join(cgdir, "memory.events"), "oom_kill") or 0

    def fileno(self) -> int:
        return self.fd

    def read(self) -> int:
        try:
            while os.read(self.fd, 4096):  # the events only say "look again"
                pass
        except BlockingIOError:
            pass
        kills = _key(os.path.join(self.dir, "memory.events"), "oom_kill")
        new = 0
        if kills is not None and kills > self.kills:
            new, self.kills = kills - self.kills, kills
        if kills is None or _key(os.path.join(self.dir, "cgroup.events"), "populated") == 0:
            self.done = True  # what happened before the cgroup emptied is still reported
        return new

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def notifier(paths: dict):
    """An OOM notifier for a container's cgroup paths (state's ``cgroup_paths``), or None
    without a memory cgroup."""
    if set(paths) == {"unified"}:
        if os.path.exists(os.path.join(paths["unified"], "memory.events")):
            return V2OOM(paths["unified"])
        return None
    mem = paths.get("memory")
    if mem and os.path.exists(os.path.join(mem, "memory.oom_control")):
        return V1OOM(mem)
    return None

