"""Container and volume sizes as Docker (overlay2, local volumes) reports them: `docker ps -s`,
`docker inspect --size`, `docker system df`. Each one walks a directory tree, so they are computed only
when a request asks for them, never kept.

- SizeRw: the container's writable layer, as overlay2's DiffSize measures its upper dir (moby's
  pkg/directory.Size). pycontainerd owns that dir, so the number comes from its Snapshots.Usage, asked
  for Docker's rule (ContainerdClient.snapshot_diff_size).
- SizeRootFs: SizeRw plus the image's size (moby's GetContainerLayerSize: the writable layer's parent
  chain, i.e. the image's Size).
- A local volume's UsageData.Size: directory_size of its `_data` (pydockerd owns volumes and walks them
  itself, in a thread); RefCount: how many containers use it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import stat
from typing import TYPE_CHECKING, Any

from ..errors import DockerError, NotFound
from .container import Container
from .images import Image
from .volumes import Volume

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("pydockerd.sizes")


def directory_size(path: str) -> int:
    """moby's pkg/directory.Size: every entry that is not a directory counts its st_size (a file its
    length, a symlink its target's length, a device or fifo nothing), a hard-linked inode once (keyed by
    inode number alone, as moby's); an entry that vanishes during the walk is skipped, a missing `path`
    is an error. (pycontainerd's snapshots/base.py diff_size walks by the same rule: each process owns
    its trees, and the layers share no code but the protos.)"""
    os.lstat(path)
    size, seen = 0, set()
    todo = [path]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except FileNotFoundError:
            continue
        with it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    todo.append(entry.path)
                elif st.st_size and st.st_ino not in seen:
                    seen.add(st.st_ino)
                    size += st.st_size
    return size


def root_fs_size(size_rw: int, image: Image | None, image_size: int) -> int:
    """SizeRootFs by moby's GetContainerLayerSize: the image's size plus SizeRw (the image's alone when
    SizeRw is -1, unknown); -1 when the image's size is unknown; 0 for an image without layers (no parent
    layer: moby leaves it at 0)."""
    if image is None or image_size < 0:
        return -1
    if not image.layers:
        return 0
    return image_size + max(size_rw, 0)


async def container_size(d: "Daemon", c: Container, image: Image | None) -> tuple[int, int]:
    """(SizeRw, SizeRootFs) of `c`; `image` is its image (None when it is gone)."""
    try:
        size_rw = await d.client.snapshot_diff_size(c.ID)
    except NotFound:  # no writable layer (an --rm container being removed): moby answers 0, 0
        return 0, 0
    except DockerError as exc:  # moby logs it and reports -1
        log.warning("cannot size the writable layer of container %s: %s", c.ID, exc.message)
        size_rw = -1
    image_size = await d.images.size(image) if image is not None else -1
    return size_rw, root_fs_size(size_rw, image, image_size)


async def container_sizes(d: "Daemon", ids: list[str],
                          images: list[Image] | None = None) -> dict[str, tuple[int, int]]:
    """(SizeRw, SizeRootFs) of the containers `ids`, measured side by side; one image listing for all
    (`images`, when the caller has it already)."""
    by_id = {img.id: img for img in (images if images is not None else await d.images.list())}
    cs = [d.containers[i] for i in ids if i in d.containers]
    sizes = await asyncio.gather(*(container_size(d, c, by_id.get(c.Image)) for c in cs))
    return {c.ID: s for c, s in zip(cs, sizes)}


async def add_sizes(d: "Daemon", summaries: list[dict[str, Any]], images: list[Image] | None = None) -> None:
    """Measure the containers of these /containers/json entries and put their sizes in (moby's fields are
    `omitempty` there, so a 0 is left out): `ps -s` and `system df`."""
    measured = await container_sizes(d, [s["Id"] for s in summaries], images)
    for s in summaries:
        size_rw, size_root_fs = measured.get(s["Id"], (0, 0))
        if size_rw:
            s["SizeRw"] = size_rw
        if size_root_fs:
            s["SizeRootFs"] = size_root_fs


async def inspect_with_sizes(d: "Daemon", info: dict[str, Any]) -> dict[str, Any]:
    """`docker inspect --size`: the inspect document with SizeRw and SizeRootFs after GraphDriver, where
    moby puts them, present even when 0."""
    c = d.containers[info["Id"]]
    try:
        image = await d.images.resolve(c.Image, all_names=False)
    except NotFound:
        image = None
    size_rw, size_root_fs = await container_size(d, c, image)
    keys = list(info)
    at = keys.index("GraphDriver") + 1
    return {**{k: info[k] for k in keys[:at]}, "SizeRw": size_rw, "SizeRootFs": size_root_fs,
            **{k: info[k] for k in keys[at:]}}


async def volume_usage(d: "Daemon", v: Volume) -> dict[str, int]:
    """A local volume's UsageData: its `_data` by directory_size (-1, logged, when that fails, as moby's)
    and how many containers reference it."""
    try:
        size = await asyncio.to_thread(directory_size, d.volumes.mountpoint(v.Name))
    except OSError as exc:
        log.warning("failed to determine size of volume %s: %s", v.Name, exc)
        size = -1
    return {"Size": size, "RefCount": len(d.volume_users(v.Name))}
