"""Fixtures for registry client tests (helpers live in registry_helpers.py)."""
from __future__ import annotations

import gzip
import io
import uuid
from pathlib import Path

import pytest

from registry_helpers import Registry, add_image, add_index, sha256_digest, small_layer, start_registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory) -> Registry:
    reg = start_registry(tmp_path_factory.mktemp("registry-htpasswd"), htpasswd=True)
    yield reg
    reg.stop()


@pytest.fixture
def images():
    """The image builders of registry_helpers, as a fixture."""
    from types import SimpleNamespace
    return SimpleNamespace(add_image=add_image, add_index=add_index, small_layer=small_layer, sha=sha256_digest)


@pytest.fixture
def repo() -> str:
    return f"test/{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def busybox_layer(busybox_rootfs_tar) -> bytes:
    """The busybox rootfs as a gzip layer (mtime 0 so the digest is stable)."""
    raw = Path(busybox_rootfs_tar).read_bytes()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(raw)
    return buf.getvalue()


