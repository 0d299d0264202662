"""Reference normalisation as Docker does it."""
from __future__ import annotations

import pytest

from pycontainerd.errdefs import InvalidArgument
from pycontainerd.reference import normalize


@pytest.mark.parametrize("ref,want", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io/user/app:latest"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("example.com/a/b/c", "example.com/a/b/c:latest"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
    ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x"),
])
def test_normalize(ref, want):
    assert normalize(ref) == want


@pytest.mark.parametrize("ref", ["", "Busybox", "a b", "busybox:bad tag"])
def test_invalid(ref):
    with pytest.raises(InvalidArgument):
        normalize(ref)
