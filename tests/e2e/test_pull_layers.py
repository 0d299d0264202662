"""`docker pull` (real CLI 28) of images that share layers, from Debian's docker-registry on 127.0.0.1:
a layer pulled once is "Already exists" for the next image, and the image built from it runs."""
from __future__ import annotations

import asyncio
import gzip
import io
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry"))
from registry_helpers import add_image, small_layer, start_registry  # noqa: E402

from pycontainerd.registry import RegistryClient  # noqa: E402
from stacklib import DOCKER  # noqa: E402
from pycontainerd.registry.layout import LayoutStore  # noqa: E402


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = start_registry(tmp_path_factory.mktemp("reg-layers"))
    yield reg
    reg.stop()


def _base_layer(busybox_rootfs_tar: Path, marker: str) -> bytes:
    """busybox plus a file that makes this test's base layer its own."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out, tarfile.open(busybox_rootfs_tar) as src:
        for m in src:
            out.addfile(m, src.extractfile(m) if m.isreg() else None)
        info = tarfile.TarInfo("base.txt")
        info.size = len(marker)
        out.addfile(info, io.BytesIO(marker.encode()))
    return gzip.compress(buf.getvalue(), mtime=0)


def _push_two_images(registry, busybox_rootfs_tar, tmp_path) -> tuple[str, bytes, bytes, bytes]:
    """name:a and name:b, both busybox + base.txt ("shared base") plus a.txt or b.txt of their own."""
    name = f"{registry.host}/layers-{uuid.uuid4().hex[:8]}"
    store = LayoutStore(str(tmp_path / "layout"))
    base = _base_layer(busybox_rootfs_tar, f"shared base {name}\n")
    only_a, only_b = small_layer("a.txt", b"only in a\n"), small_layer("b.txt", b"only in b\n")
    a = add_image(store, [base, only_a])
    b = add_image(store, [base, only_b])

    async def push() -> None:
        async with RegistryClient() as rc:
            await rc.push(f"{name}:a", a, store)
            await rc.push(f"{name}:b", b, store)
    asyncio.run(push())
    return name, base, only_a, only_b


def test_second_image_reuses_the_shared_layer(stack, registry, busybox_rootfs_tar, tmp_path):
    name, base, only_a, only_b = _push_two_images(registry, busybox_rootfs_tar, tmp_path)

    def short(layer: bytes) -> str:
        import hashlib
        return hashlib.sha256(layer).hexdigest()[:12]

    try:
        first = stack.docker("pull", f"{name}:a", check=True).stdout
        assert f"{short(base)}: Pull complete" in first and f"{short(only_a)}: Pull complete" in first, first
        assert "Already exists" not in first

        second = stack.docker("pull", f"{name}:b", check=True).stdout
        assert f"{short(base)}: Already exists" in second, second
        assert f"{short(only_b)}: Pull complete" in second, second
        assert f"{short(base)}: Pull complete" not in second and f"Downloaded newer image for {name}:b" in second
        out = stack.docker("run", "--rm", f"{name}:b", "cat", "/base.txt", "/b.txt", check=True).stdout
        assert out == f"shared base {name}\nonly in b\n"

        again = stack.docker("pull", f"{name}:b", check=True).stdout
        assert f"Image is up to date for {name}:b" in again and "Already exists" not in again, again
    finally:
        stack.docker("rmi", f"{name}:a", f"{name}:b")


def test_concurrent_pulls_of_images_sharing_a_layer(stack, registry, busybox_rootfs_tar, tmp_path):
    """Both pulls want the shared layer at once: one downloads it, the other waits for that download,
    both unpack it (one commit wins), and both images run."""
    name, _, _, _ = _push_two_images(registry, busybox_rootfs_tar, tmp_path)
    procs = [subprocess.Popen([DOCKER, "pull", f"{name}:{t}"], env=stack.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for t in ("a", "b")]
    try:
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, out + err
        for t in ("a", "b"):
            out = stack.docker("run", "--rm", f"{name}:{t}", "cat", "/base.txt", f"/{t}.txt", check=True).stdout
            assert out == f"shared base {name}\nonly in {t}\n"
    finally:
        stack.docker("rmi", f"{name}:a", f"{name}:b")
