"""Shared fixtures: the busybox rootfs and an isolated pydockerd + pycontainerd stack.

Nothing here touches the host's default paths: every stack gets its own temporary data-root,
exec-root, sockets and cgroup parent, and its finalizer checks that nothing was left behind.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scripts.busybox_rootfs import make_rootfs, write_rootfs_tar  # noqa: E402
from stacklib import (DOCKER, DOCKER20, Stack, host_snapshot, inspect, stack_session, start_stack,  # noqa: E402,F401
                      teardown_stack, unique)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def venv_bin() -> Path:
    """The bin directory of the interpreter running the tests (the project venv)."""
    return Path(sys.executable).parent


@pytest.fixture(scope="session")
def busybox_rootfs_tar(tmp_path_factory) -> Path:
    """A plain busybox rootfs tar (as `docker import` takes it)."""
    return Path(write_rootfs_tar(str(tmp_path_factory.mktemp("busybox") / "rootfs.tar")))


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    """A busybox rootfs directory (for OCI bundles). Tests must not modify it."""
    return Path(make_rootfs(str(tmp_path_factory.mktemp("busybox-dir") / "rootfs")))


@pytest.fixture(scope="session")
def stack(busybox_rootfs_tar) -> Stack:
    """An isolated pydockerd + pycontainerd stack with busybox:latest imported."""
    yield from stack_session("pydocker-test-", busybox_rootfs_tar)


@pytest.fixture
def cleanup(stack):
    """Names of containers to force-remove from the shared stack after the test, whatever happened."""
    names: list[str] = []
    yield names
    if names:
        stack.docker("rm", "-f", *names, timeout=60)


@pytest.fixture(scope="session", autouse=True)
def host_left_clean():
    """Fail the run if it left mounts, interfaces, iptables rules or cgroups on the host."""
    before = host_snapshot()
    yield
    time.sleep(0.3)
    after = host_snapshot()
    leaks = {k: sorted(after[k] - before[k]) for k in before if after[k] - before[k]}
    if leaks:
        pytest.fail(f"the test run left things on the host: {leaks}", pytrace=False)


@pytest.fixture
def name() -> str:
    return unique("pyd")


