"""pyrunc integration fixtures (helpers live in pyrunc_helpers.py, importable by the tests)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pyrunc_helpers import Runtime  # noqa: E402

if os.geteuid() != 0:
    pytest.skip("pyrunc integration tests need root", allow_module_level=True)


@pytest.fixture
def rt(busybox_rootfs, tmp_path) -> Runtime:
    r = Runtime(tmp_path, busybox_rootfs)
    yield r
    leaks = r.cleanup()
    assert not leaks, leaks


@pytest.fixture
def private_rootfs(tmp_path) -> Path:
    """A rootfs this test may modify."""
    from scripts.busybox_rootfs import make_rootfs
    return Path(make_rootfs(str(tmp_path / "rootfs")))
