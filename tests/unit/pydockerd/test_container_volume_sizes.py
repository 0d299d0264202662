"""Container and volume sizes as Docker (overlay2, local volumes) reports them (pydockerd/daemon/sizes.py):
moby's pkg/directory.Size rule, SizeRootFs, and `system df` built from them (images as `docker images`
lists them, SharedSize among those, containers' SizeRw/SizeRootFs, volumes' UsageData)."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pydockerd.daemon import sizes
from pydockerd.daemon.container import Container
from pydockerd.daemon.images import ImageService
from pydockerd.daemon.system import disk_usage
from pydockerd.daemon.volumes import VolumeStore
from pydockerd.errors import NotFound, SystemError_

from test_image_sizes import FakeContent, layer_tar  # the same fake content store (tests' dir is on sys.path)


def make_tree(root: Path) -> int:
    """A tree with every kind of entry moby's rule treats specially; returns Docker's size of it."""
    (root / "d" / "empty").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"x" * 100)
    (root / "one").write_bytes(b"1")  # 1 byte, though it takes a whole block on disk
    (root / "zero").write_bytes(b"")
    os.symlink("0123456789", root / "lnk")  # its target's length
    os.link(root / "d" / "f", root / "hard")  # the same inode: counted once
    os.mkfifo(root / "fifo")  # like a whiteout (a 0/0 device): nothing
    with open(root / "sparse", "wb") as f:
        f.truncate(1 << 20)  # no blocks at all, 1 MiB long: Docker counts the length
    return 100 + 1 + 10 + (1 << 20)


def test_directory_size_is_mobys_rule_not_disk_blocks(tmp_path):
    assert sizes.directory_size(str(tmp_path)) == 0  # directories count nothing
    want = make_tree(tmp_path)
    assert sizes.directory_size(str(tmp_path)) == want
    blocks = sum(os.lstat(os.path.join(dp, n)).st_blocks * 512 for dp, ds, fs in os.walk(tmp_path) for n in ds + fs)
    assert blocks != want  # what containerd's Usage (allocated blocks) would say is another number


def test_directory_size_of_a_missing_dir_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        sizes.directory_size(str(tmp_path / "gone"))


def test_root_fs_size_is_size_rw_plus_the_image_as_moby():
    img = SimpleNamespace(layers=["sha256:l"])
    assert sizes.root_fs_size(10, img, 1000) == 1010  # type: ignore[arg-type]
    assert sizes.root_fs_size(-1, img, 1000) == 1000  # SizeRw unknown: the image's alone
    assert sizes.root_fs_size(10, img, -1) == -1  # type: ignore[arg-type]
    assert sizes.root_fs_size(10, None, 0) == -1  # the image is gone
    assert sizes.root_fs_size(10, SimpleNamespace(layers=[]), 0) == 0  # type: ignore[arg-type]  # no parent layer


def container(cid: str, image: str, volumes: tuple[str, ...] = ()) -> Container:
    return Container(ID=cid, Name=f"/{cid}", Created="2026-01-01T00:00:00Z", Path="true", Args=[], Config={},
                     HostConfig={}, Image=image,
                     VolumeMounts=[{"Name": v, "Destination": f"/{v}", "RW": True, "Anonymous": False}
                                   for v in volumes])


class FakeDaemon(SimpleNamespace):
    """What sizes.py and system.disk_usage use of the daemon: images, containers, volumes, Usage."""

    def __init__(self, store: FakeContent, root: Path, usage: dict[str, int | Exception]) -> None:
        async def snapshot_diff_size(key: str) -> int:
            u = usage[key]
            if isinstance(u, Exception):
                raise u
            return u
        super().__init__(images=ImageService(store), containers={}, volumes=VolumeStore(str(root)),  # type: ignore[arg-type]
                         client=SimpleNamespace(snapshot_diff_size=snapshot_diff_size))

    def volume_users(self, name: str) -> list[str]:
        return [c.ID for c in self.containers.values() if any(v["Name"] == name for v in c.VolumeMounts)]

    def list(self, all_: bool, limit: int, filters: dict) -> list[dict]:
        return [{"Id": c.ID, "Names": [c.Name]} for c in self.containers.values()]


async def test_system_df_lists_images_as_docker_images_and_sizes_containers_and_volumes(tmp_path):
    store = FakeContent()
    base, a, b = layer_tar({"a": b"a" * 100}), layer_tar({"s1": b"1" * 7}), layer_tar({"s2": b"2" * 9})
    base_rec = store.add_image("docker.io/library/base:latest", [base])
    step = store.add_image("moby-dangling@sha256:" + "1" * 64, [base, a])  # an intermediate build step
    usage: dict[str, int | Exception] = {"c1": 1048586, "c2": 0, "c3": NotFound("snapshot c3 does not exist")}
    d = FakeDaemon(store, tmp_path / "volumes", usage)
    built = store.add_image("docker.io/library/built:latest", [base, a, b])
    built.labels["io.pydocker.build.parent"] = (await d.images.from_record(step)).id
    base_id = (await d.images.from_record(base_rec)).id
    d.containers = {"c1": container("c1", base_id, ("v1",)), "c2": container("c2", base_id),
                    "c3": container("c3", "sha256:" + "9" * 64)}  # its image is gone
    d.volumes.create("v1")
    (Path(d.volumes.mountpoint("v1")) / "f").write_bytes(b"v" * 2097152)
    d.volumes.create("v2")

    df = await disk_usage(d)  # type: ignore[arg-type]
    images = {i["RepoTags"][0]: i for i in df["Images"]}
    assert sorted(images) == ["base:latest", "built:latest"]  # not the intermediate step
    assert (images["base:latest"]["Size"], images["base:latest"]["SharedSize"],
            images["base:latest"]["Containers"]) == (100, 100, 2)
    # `a` is shared only with the hidden step: not shared among what is listed (moby counts as it lists)
    assert (images["built:latest"]["Size"], images["built:latest"]["SharedSize"]) == (116, 100)
    assert df["LayersSize"] == 116  # every layer of every image, once
    by_id = {c["Id"]: c for c in df["Containers"]}
    assert (by_id["c1"]["SizeRw"], by_id["c1"]["SizeRootFs"]) == (1048586, 1048686)
    assert "SizeRw" not in by_id["c2"] and by_id["c2"]["SizeRootFs"] == 100  # omitempty, as moby's list
    assert "SizeRw" not in by_id["c3"] and "SizeRootFs" not in by_id["c3"]  # no layer: moby's 0, 0
    vols = {v["Name"]: v["UsageData"] for v in df["Volumes"]}
    assert vols == {"v1": {"Size": 2097152, "RefCount": 1}, "v2": {"Size": 0, "RefCount": 0}}


async def test_a_failed_measurement_is_minus_one_as_moby(tmp_path):
    store = FakeContent()
    rec = store.add_image("docker.io/library/base:latest", [layer_tar({"a": b"a" * 100})])
    d = FakeDaemon(store, tmp_path / "volumes", {"c1": SystemError_("walk failed")})
    img = await d.images.from_record(rec)
    assert await sizes.container_size(d, container("c1", img.id), img) == (-1, 100)  # type: ignore[arg-type]
    d.volumes.create("v1")
    os.rmdir(d.volumes.mountpoint("v1"))  # its data dir is gone
    assert await sizes.volume_usage(d, d.volumes.get("v1")) == {"Size": -1, "RefCount": 0}  # type: ignore[arg-type]
