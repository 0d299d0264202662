"""The classic builder's backend (`pydockerd.builder.driver.BuildBackend`) over the daemon and containerd.

A step's result is an image whose layer comes from `Diff.Diff` of the step's writable snapshot
against its parent; the snapshot itself is then committed under the new chain ID, so the next
step (and containers) start from it without unpacking. An image record named
`moby-dangling@<manifest digest>` carries the cache key and parent as labels (`probe_cache`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import tempfile
import urllib.parse
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..builder import copier
from ..builder.context import UNNAMED_DOWNLOAD, Source, download_filename
from ..builder.driver import BaseImage, Container as BuildContainer
from ..builder.errors import BuildError
from ..builder.plan import CopyAction, FromRef
from ..errors import AlreadyExists, DockerError, NotFound
from ..httputils import ENGINE_VERSION
from . import reference
from .container import now_rfc3339
from .containerd import Descriptor
from .images import HOST_ARCH, chain_id
from .rootfs import is_mounted, mount, unmount

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("pydockerd.build")
CACHE_LABEL = "io.pydocker.build.cache-key"
PARENT_LABEL = "io.pydocker.build.parent"
EMPTY_TAR_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"


class DaemonBuildBackend:
    def __init__(self, d: "Daemon", host_config: dict | None = None, pull: bool = False) -> None:
        self.d = d
        self.pull = pull
        self.host_config = dict(host_config or {"NetworkMode": "default"})
        self._mounts: list[tuple[str, str]] = []  # (mountpoint, view snapshot key) to release
        self._tmp: list[str] = []
        self.written: list[Descriptor] = []  # images this build pulled (their layers to measure; its own are measured at commit)

    # --- helpers --------------------------------------------------------------------------------
    async def _mount(self, mounts: list[Any], readonly: bool) -> str:
        os.makedirs(self.d.tmp_root, exist_ok=True)
        target = tempfile.mkdtemp(prefix="build-", dir=self.d.tmp_root)
        try:
            await mount(mounts, target, readonly)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target

    async def _unmount(self, target: str) -> None:
        await unmount(target)
        if not is_mounted(target):  # never delete through a mount
            shutil.rmtree(target, ignore_errors=True)

    async def _image(self, image_id: str):
        return await self.d.images.resolve(image_id)

    async def _commit_snapshot(self, key: str, parent_id: str, config: dict, container_config: dict,
                               author: str | None, cache_key: str, keep_key: bool = False,
                               comment: str = "") -> str:
        """Layer = diff of snapshot `key` against the parent; new config, manifest, image record.

        `keep_key` (docker commit): the snapshot stays the container's; the new chain snapshot is made
        by applying the layer (Diff.Apply) instead of committing `key`.
        """
        client = self.d.client
        parent = await self._image(parent_id) if parent_id else None
        base = dict(parent.config) if parent else {"architecture": HOST_ARCH, "os": "linux",
                                                    "rootfs": {"type": "layers", "diff_ids": []}}
        parent_chain = parent.chain_id if parent else ""
        right = await client.snapshot_mounts(key)
        view_key = f"build-view-{secrets.token_hex(8)}"
        left: list[Any] = []
        # the layer is what changed over the snapshot's own parent: a container's (docker commit) is the
        # image's init layer, whose files are no part of the image
        base_snapshot = (await client.snapshot_parent(key)) if keep_key else parent_chain
        if base_snapshot:
            left = await client.view_snapshot(view_key, base_snapshot)
        try:
            layer = await client.diff_layer(left, right, LAYER_GZIP)
        finally:
            if base_snapshot:
                await self.d.ignore_missing(client.remove_snapshot(view_key))
        # the layer's DiffSize is the snapshot's changes by Docker's rule: measured here, from the
        # snapshot, rather than by streaming the new blob back afterwards
        diff_id = (await client.blob_labels(layer.digest)).get("containerd.io/uncompressed", "")
        empty = diff_id == EMPTY_TAR_DIFF_ID or not diff_id
        now = now_rfc3339()
        diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
        history = list(base.get("history") or [])
        entry: dict[str, Any] = {"created": now, "created_by": " ".join(container_config.get("Cmd") or [])}
        if comment:
            entry["comment"] = comment
        if author:
            entry["author"] = author
        if empty:
            entry["empty_layer"] = True
        else:
            diff_ids.append(diff_id)
        history.append(entry)
        # (moby's too: the image each step or commit started from, and the engine that made it)
        config = {**config, "Image": parent_id or ""}
        new_config = {**base, "config": config, "container_config": container_config, "created": now,
                      "docker_version": ENGINE_VERSION, "rootfs": {"type": "layers", "diff_ids": diff_ids},
                      "history": history}
        if author:
            new_config["author"] = author
        config_bytes = json.dumps(new_config, separators=(",", ":")).encode()
        config_digest = await self.d.client.write_blob(config_bytes)
        layers = []
        if parent:
            manifest = json.loads(await client.read_blob(parent.manifest_digest))
            layers = list(manifest.get("layers") or [])
        if not empty:
            layers.append({"mediaType": layer.media_type or LAYER_GZIP, "digest": layer.digest, "size": layer.size})
            # The step's snapshot becomes the committed layer (keyed by chain ID) future steps start from.
            if keep_key:
                await self._unpack_layer(layer, parent_chain, chain_id(diff_ids))
            else:
                try:
                    await client.commit_snapshot(chain_id(diff_ids), key)
                except AlreadyExists:
                    pass
        manifest_bytes = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                                     "config": {"mediaType": CONFIG, "digest": config_digest,
                                                "size": len(config_bytes)},
                                     "layers": layers}, separators=(",", ":")).encode()
        manifest_digest = await self.d.client.write_blob(manifest_bytes)
        target = Descriptor(MANIFEST, manifest_digest, len(manifest_bytes))
        await client.put_image(f"moby-dangling@{manifest_digest}", target,
                               {CACHE_LABEL: cache_key, PARENT_LABEL: parent_id or "scratch"})
        if not empty:
            # (a build step's snapshot was committed under its chain ID above: measured by that name)
            sized = key if keep_key else chain_id(diff_ids)
            try:  # (a running container may change its tree under a `commit --pause=false` walk)
                await self.d.images.record_diff_size(layer.digest, await client.snapshot_diff_size(sized))
            except DockerError as exc:  # only its size is not known yet: measured when first asked
                log.warning("cannot size layer %s at commit: %s", layer.digest, exc.message)
        return config_digest

    async def _unpack_layer(self, layer: Any, parent_chain: str, new_chain: str) -> None:
        """A committed snapshot `new_chain` = parent + the layer (skipped when it exists already)."""
        client = self.d.client
        try:
            await client.snapshot_parent(new_chain)
            return  # unpacked already
        except NotFound:
            pass
        key = f"build-unpack-{secrets.token_hex(8)}"
        mounts = await client.prepare_snapshot(key, parent_chain)
        try:
            await client.apply_layer(layer, mounts)
            try:
                await client.commit_snapshot(new_chain, key)
            except AlreadyExists:
                pass
        finally:
            await self.d.ignore_missing(client.remove_snapshot(key))

    async def commit_container(self, container_id: str, config: dict, author: str, comment: str) -> str:
        """`docker commit`: an image from the container's changes; the container keeps its layer."""
        c = self.d.get(container_id)
        return await self._commit_snapshot(c.ID, c.Image, config, c.Config, author or None, "",
                                           keep_key=True, comment=comment)

    # --- BuildBackend ---------------------------------------------------------------------------
    async def get_base(self, ref: FromRef, progress: Callable[[bytes], Awaitable[None]]) -> BaseImage:
        if ref.kind == "scratch":
            return BaseImage("", None)
        if ref.kind == "stage":
            img = await self._image(ref.image_id)
            return BaseImage(img.id, img.container_config)
        img = await self._image_or_pull(ref, force=self.pull, progress=progress)
        return BaseImage(img.id, img.container_config)

    async def _image_or_pull(self, ref: FromRef, force: bool = False,
                             progress: Callable[[bytes], Awaitable[None]] | None = None):
        """A local image, else pulled (the classic builder's PullOptionPreferLocal: FROM, COPY --from);
        `force` (build --pull, PullOptionForcePull): pulled in any case. The pull's messages go to
        `progress` (moby passes the build's progress writer to the pull)."""
        try:
            if force:
                raise NotFound(ref.name)
            return await self._image(ref.name)
        except NotFound:
            async for line, recs in self.d.client.pull(str(reference.parse(ref.name)), ref.platform, "",
                                                       self.d.cfg.insecure_registries):
                self.written.extend(rec.target for rec in recs)
                if line and progress is not None:
                    await progress(line)
            return await self._image(ref.name)

    async def probe_cache(self, parent_id: str, cache_key: str) -> str | None:
        for rec in await self.d.client.list_images():
            if rec.labels.get(CACHE_LABEL) == cache_key and rec.labels.get(PARENT_LABEL) == (parent_id or "scratch"):
                try:
                    return (await self.d.images.from_record(rec)).id
                except DockerError:
                    continue
        return None

    async def create(self, parent_id: str, config: dict) -> BuildContainer:
        body = {**config, "Image": parent_id, "HostConfig": dict(self.host_config)}
        cid, warnings = await self.d.create("", body, allow_scratch=True, init_layer=False)
        return BuildContainer(cid, warnings)

    async def run(self, container_id: str, stdout: Callable[[bytes], Awaitable[None]],
                  stderr: Callable[[bytes], Awaitable[None]]) -> int:
        c = self.d.get(container_id)
        sub = self.d.hub(c).attach(True, True)
        try:
            done = self.d._live(c).exit_future()
            await self.d.start(container_id)
            while True:
                item = await sub.queue.get()
                if item is None:
                    break
                stream, data = item
                await (stderr if stream == "stderr" else stdout)(data)
            await asyncio.shield(done)
        finally:
            self.d.hub(c).detach(sub)
        return c.State.ExitCode

    async def mkdir(self, container_id: str, path: str) -> None:
        mounts = await self.d.client.snapshot_mounts(container_id)
        target = await self._mount(mounts, readonly=False)
        try:
            await asyncio.to_thread(copier.make_workdir, target, path)
        finally:
            await self._unmount(target)

    async def commit(self, container_id: str, parent_id: str, config: dict, container_config: dict,
                     author: str | None, cache_key: str) -> str:
        return await self._commit_snapshot(container_id, parent_id, config, container_config, author, cache_key)

    async def remove(self, container_id: str) -> None:
        try:
            await self.d.remove(container_id, force=True, volumes=True)
        except NotFound:
            pass

    async def source(self, ref: FromRef) -> Source:
        img = await (self._image(ref.image_id) if ref.image_id else self._image_or_pull(ref))
        key = f"build-src-{secrets.token_hex(8)}"
        target = await self._mount(await self.d.client.view_snapshot(key, img.chain_id), readonly=True)
        self._mounts.append((target, key))
        return Source(target)

    async def download(self, url: str) -> str:
        import aiohttp
        tmp = tempfile.mkdtemp(prefix="build-dl-", dir=self.d.tmp_root)
        self._tmp.append(tmp)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url) as resp:
                    if resp.status >= 400:
                        body = (await resp.content.read(1 << 16)).decode(errors="replace")
                        raise BuildError(f"ADD failed: failed to GET {url} with status {resp.status} "
                                         f"{resp.reason}: {body}")
                    name = download_filename(urllib.parse.urlparse(url).path,
                                             resp.headers.get("Content-Disposition", "")) or UNNAMED_DOWNLOAD
                    path = os.path.join(tmp, name)
                    # a remote file is 0600 in the image, whatever the umask (Docker's documented rule)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                    os.fchmod(fd, 0o600)
                    with open(fd, "wb") as f:
                        async for chunk in resp.content.iter_chunked(1 << 16):
                            f.write(chunk)
        except aiohttp.ClientConnectorError as exc:
            err = exc.os_error
            why = os.strerror(err.errno).lower() if err.errno else str(err)
            raise BuildError(f'ADD failed: Get "{url}": dial tcp {exc.host}:{exc.port}: connect: {why}') from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise BuildError(f'ADD failed: Get "{url}": {exc or type(exc).__name__}') from None
        return path

    async def copy(self, parent_id: str, action: CopyAction, source: Source | None,
                   downloads: dict[str, str], cache_key: str) -> str:
        parent = await self._image(parent_id) if parent_id else None
        key = f"build-copy-{secrets.token_hex(8)}"
        mounts = await self.d.client.prepare_snapshot(key, parent.chain_id if parent else "")
        try:
            target = await self._mount(mounts, readonly=False)
            try:
                await asyncio.to_thread(copier.perform_copy, action, source, target, downloads=downloads)
            finally:
                await self._unmount(target)
            return await self._commit_snapshot(key, parent_id, action.config, action.container_config,
                                               action.author, cache_key)
        finally:
            await self.d.ignore_missing(self.d.client.remove_snapshot(key))

    async def tag(self, image_id: str, ref: str) -> None:
        img = await self._image(image_id)
        assert img.target is not None
        parsed = reference.parse(ref)
        await self.d.client.put_image(str(parsed), img.target)
        self.d.events.publish("image", "tag", img.id, {"name": parsed.familiar()})

    async def cleanup(self) -> None:
        for target, key in self._mounts:
            try:
                await self._unmount(target)
            finally:
                await self.d.ignore_missing(self.d.client.remove_snapshot(key))
        self._mounts.clear()
        for t in self._tmp:
            shutil.rmtree(t, ignore_errors=True)
        self._tmp.clear()
