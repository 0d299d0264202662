"""Network namespaces as bind-mounted nsfs files, and running code inside one.

Python 3.11 has no os.unshare/os.setns, so they come from libc. Namespaces are per thread on
Linux: every operation runs in a short-lived thread of its own, which enters (or creates) the
namespace and leaves the rest of the daemon in the host namespace. Sockets (netlink, UDP, TCP)
created in such a thread stay bound to that namespace after the thread ends.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from typing import Callable, TypeVar

from . import rtnl

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _setns(fd: int) -> None:
    _check(_libc.setns(fd, CLONE_NEWNET), "setns")


def run_in_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a fresh OS thread and return its result (or raise its exception)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as e:  # handed back to the caller
            box["error"] = e

    t = threading.Thread(target=target, name="netns-op", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def off_loop(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: run ``fn`` in a thread of its own when called from a thread with a running
    asyncio loop (pyroute2's synchronous IPRoute drives an event loop of its own and refuses to
    run inside another); otherwise call it directly."""
    import asyncio
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kwargs)
        return run_in_thread(lambda: fn(*args, **kwargs))
    return wrapper


def run_in(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` inside the network namespace at ``path`` (in a thread of its own)."""
    nsfd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def inner() -> T:
        home = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(nsfd)
            try:
                return fn()
            finally:
                # Go home before the thread ends, so nothing later in it runs in the container's netns.
                _setns(home)
        finally:
            os.close(home)

    try:
        return run_in_thread(inner)
    finally:
        os.close(nsfd)


def create(path: str) -> "rtnl.Netlink":
    """Create a new network namespace, kept alive by a bind mount at ``path`` (with lo up).

    Returns a netlink socket bound inside it (made while the thread is in there anyway), so the
    caller can configure the namespace later without entering it again; close it when done.
    """
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.close(fd)

    def inner() -> "rtnl.Netlink":
        tid = threading.get_native_id()
        home = os.open(f"/proc/self/task/{tid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                _check(_libc.mount(f"/proc/self/task/{tid}/ns/net".encode(), path.encode(),
                                   None, MS_BIND, None), f"mount {path}")
                nl = rtnl.Netlink()
                try:
                    nl.set_up(1)   # lo is always index 1 in a new namespace
                except BaseException:
                    nl.close()
                    raise
                return nl
            finally:
                _setns(home)
        finally:
            os.close(home)

    try:
        return run_in_thread(inner)
    except BaseException:
        _unmount_and_remove(path)
        raise


def open_netlink(path: str) -> "rtnl.Netlink":
    """A netlink socket inside the namespace at ``path`` (for sandboxes made before a restart)."""
    return run_in(path, rtnl.Netlink)


def _unmount_and_remove(path: str) -> None:
    _libc.umount2(path.encode(), MNT_DETACH)  # may not be mounted: ignore the result
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def delete(path: str) -> None:
    """Unmount and remove a namespace file; the namespace dies with its last user."""
    _unmount_and_remove(path)


def is_namespace(path: str) -> bool:
    """True when ``path`` is a live nsfs bind mount (not just a leftover empty file)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    # nsfs inodes live on the nsfs filesystem, whose device differs from the directory's.
    try:
        parent = os.stat(os.path.dirname(path))
    except OSError:
        return False
    return st.st_dev != parent.st_dev


def same_namespace(path: str, other: str) -> bool:
    try:
        a, b = os.stat(path), os.stat(other)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
