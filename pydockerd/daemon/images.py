"""Images as Docker sees them, read from containerd's image records and content store.

An image record points at a manifest (or an index, from which we pick linux/<host arch>); the
image ID users see is the config digest, and the snapshot a container starts from is the chain ID
of the config's diff_ids.

An image's size is Docker's (overlay2): the sum of its layers' DiffSizes, the unpacked files' sizes,
not the compressed blobs'. A layer's DiffSize is measured once by streaming its blob and kept as the
label `io.pydocker.diffsize` on that blob in the content store, so it survives restarts.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import platform
import zlib
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable

from ..errors import Conflict, DockerError, InvalidParameter, NotFound, SystemError_, no_such_image
from . import filters as filters_mod
from . import initlayer
from . import reference
from .container import ZERO_TIME, rfc3339_ns
from .containerd import ContainerdClient, Descriptor, ImageRecord

INDEX_TYPES = {"application/vnd.docker.distribution.manifest.list.v2+json",
               "application/vnd.oci.image.index.v1+json"}
MANIFEST_TYPES = {"application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.oci.image.manifest.v1+json"}
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
HOST_ARCH = _ARCH.get(platform.machine(), platform.machine())
DIFF_SIZE_LABEL = "io.pydocker.diffsize"  # on a layer blob: its DiffSize in bytes

log = logging.getLogger("pydockerd.images")


def chain_id(diff_ids: list[str]) -> str:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chains = _chain_ids(diff_ids)
    return chains[-1] if chains else ""


@dataclass
class Image:
    id: str  # sha256:<config digest hex>
    config: dict[str, Any]
    manifest_digest: str
    layers: list[str] = field(default_factory=list)  # the manifest's layer blob digests, base first
    names: list[str] = field(default_factory=list)  # fully qualified image names
    created_record: float = 0.0
    target: Descriptor | None = None  # what the image records point at (manifest or index)
    labels: dict[str, str] = field(default_factory=dict)  # of the image record (build cache keys)

    @property
    def chain_id(self) -> str:
        return chain_id(self.config.get("rootfs", {}).get("diff_ids") or [])

    @property
    def layer_chain_ids(self) -> list[str]:
        """The chain ID of each layer (how Docker's layer store tells layers apart), base first."""
        return _chain_ids(self.config.get("rootfs", {}).get("diff_ids") or [])

    @property
    def container_config(self) -> dict[str, Any]:
        return self.config.get("config") or {}

    @property
    def repo_tags(self) -> list[str]:
        tags = []
        for n in self.names:
            try:
                ref = reference.parse(n, default_tag="")
            except InvalidParameter:
                continue
            if ref.tag:
                tags.append(ref.familiar())
        return sorted(tags)

    @property
    def repo_digests(self) -> list[str]:
        out = set()
        for n in self.names:
            if n.startswith("moby-dangling@"):
                continue  # the containerd-store name of an untagged image, not a repository
            try:
                ref = reference.parse(n, default_tag="")
            except InvalidParameter:
                continue
            out.add(f"{ref.familiar_name}@{self.manifest_digest}")
        return sorted(out)


class ImageService:
    def __init__(self, client: ContainerdClient) -> None:
        self.client = client
        self._blobs: dict[str, Any] = {}  # digest → parsed JSON; content is immutable
        self._diff_sizes: dict[str, int] = {}  # layer digest → DiffSize; content is immutable
        self._measuring: dict[str, asyncio.Task[int]] = {}  # layer digest → its measurement under way

    async def _json_blob(self, digest: str) -> Any:
        if digest not in self._blobs:
            self._blobs[digest] = json.loads(await self.client.read_blob(digest))
        return self._blobs[digest]

    async def _manifest(self, target: Descriptor) -> tuple[dict[str, Any], str]:
        desc_type, digest = target.media_type, target.digest
        doc = await self._json_blob(digest)
        if desc_type in INDEX_TYPES or doc.get("manifests") is not None:
            chosen = None
            for m in doc.get("manifests", []):
                p = m.get("platform") or {}
                if p.get("os", "linux") == "linux" and p.get("architecture", HOST_ARCH) == HOST_ARCH:
                    chosen = m
                    break
            if chosen is None:
                raise NotFound(f"no match for platform in manifest {digest}: not found")
            digest = chosen["digest"]
            doc = await self._json_blob(digest)
        return doc, digest

    async def from_record(self, rec: ImageRecord) -> Image:
        manifest, mdigest = await self._manifest(rec.target)
        config_digest = manifest["config"]["digest"]
        config = await self._json_blob(config_digest)
        layers = [str(layer["digest"]) for layer in manifest.get("layers") or []]
        return Image(id=config_digest, config=config, manifest_digest=mdigest, layers=layers,
                     names=[rec.name], created_record=rec.created, target=rec.target, labels=dict(rec.labels))

    # --- sizes ------------------------------------------------------------------------------------
    async def size(self, img: Image) -> int:
        """Docker's image Size (and VirtualSize): the sum of its layers' DiffSizes; -1 (the Engine API's
        "unknown") when a layer's blob cannot be read, so that one broken image does not fail a listing."""
        try:
            return sum(await asyncio.gather(*(self.layer_diff_size(d, chain)
                                              for d, chain in zip(img.layers, _padded(img.layer_chain_ids, img.layers)))))
        except DockerError as exc:
            log.warning("cannot size image %s: %s", img.id, exc.message)
            return -1

    async def layer_diff_size(self, digest: str, chain: str = "") -> int:
        """A layer's size as Docker (overlay2's DiffSize) reports it: its files' sizes plus its symlinks'
        target lengths. From memory, else the blob's label, else measured (once, however many ask): on
        its unpacked snapshot (`chain`, its chain ID) when there is one, as Docker walks a layer's
        directory, else by streaming its blob."""
        if digest in self._diff_sizes:
            return self._diff_sizes[digest]
        task = self._measuring.get(digest)
        if task is None:
            task = asyncio.create_task(self._load_or_measure(digest, chain))
            self._measuring[digest] = task
            task.add_done_callback(lambda t, d=digest: self._measured(d, t))
        # shielded: a caller that goes away (a closed listing) does not waste the others' measurement
        return await asyncio.shield(task)

    def _measured(self, digest: str, task: asyncio.Task[int]) -> None:
        """A measurement ended: the next ask after a failure tries again."""
        if self._measuring.get(digest) is task:
            del self._measuring[digest]
        if not task.cancelled():
            task.exception()  # retrieved: its askers have it (or went away)

    async def _load_or_measure(self, digest: str, chain: str) -> int:
        labels = await self.client.blob_labels(digest)
        try:
            size = int(labels[DIFF_SIZE_LABEL])
        except (KeyError, ValueError):
            size = -1
        if size < 0:
            try:
                size = await self.client.snapshot_diff_size(chain) if chain else -1
            except NotFound:
                size = -1  # not unpacked (or gone meanwhile): the blob says it too
        if size < 0:
            try:
                size = await measure_diff_size(self.client.read_blob_chunks(digest))
            except (zlib.error, ValueError) as exc:  # a corrupt blob: an error like a missing one
                raise SystemError_(f"layer {digest} is not a readable tar: {exc}") from None
        if labels.get(DIFF_SIZE_LABEL) != str(size):
            await self.record_diff_size(digest, size)
        self._diff_sizes[digest] = size
        return size

    async def record_diff_size(self, digest: str, size: int) -> None:
        """Keep a layer's DiffSize, in memory and as its blob's label: measured here, or where it was made
        (a build step's or commit's snapshot, as Docker's layer store does at registration)."""
        self._diff_sizes[digest] = size
        try:
            await self.client.set_blob_label(digest, DIFF_SIZE_LABEL, str(size))
        except DockerError as exc:  # still right, only measured again after a restart
            log.warning("cannot record the size of layer %s: %s", digest, exc.message)

    async def measure(self, targets: Iterable[Descriptor]) -> None:
        """Measure the layers of the images `targets` point at (after a pull, load, import, build or
        commit), so that the listing that follows finds their sizes; a failure is only logged."""
        for target in targets:
            try:
                await self.size(await self.from_record(ImageRecord("", target, {}, 0.0)))
            except DockerError as exc:
                log.warning("cannot measure the layers of image %s: %s", target.digest, exc.message)
            except Exception:  # a bug, not the content: still only logged, with its traceback
                log.exception("cannot measure the layers of image %s", target.digest)

    async def list(self) -> list[Image]:
        """All images, one entry per image ID with every name pointing at it."""
        by_id: dict[str, Image] = {}
        for rec in await self.client.list_images():
            try:
                img = await self.from_record(rec)
            except DockerError:
                continue  # content missing: not a usable image
            if img.id in by_id:
                by_id[img.id].names.append(rec.name)
                for k, v in rec.labels.items():  # build labels live on the moby-dangling@ record
                    by_id[img.id].labels.setdefault(k, v)
            else:
                by_id[img.id] = img
        return list(by_id.values())

    async def resolve(self, ref_or_id: str, all_names: bool = True) -> Image:
        """Find an image by name (`busybox`, `docker.io/library/busybox:latest`) or (short) ID; with
        `all_names` (what inspect shows as RepoTags) every name of its ID, which costs a listing."""
        candidate = ref_or_id
        id_like = reference.HEX_ID.match(ref_or_id) is not None
        if ref_or_id.startswith("sha256:") or (id_like and len(ref_or_id) == 64):
            return await self._by_id(ref_or_id, ref_or_id)
        try:
            ref = reference.parse(ref_or_id)
        except InvalidParameter:
            if id_like:
                return await self._by_id(ref_or_id, ref_or_id)
            raise
        candidate = ref.familiar()
        try:
            rec = await self.client.get_image(str(ref))
        except NotFound:
            if id_like:
                return await self._by_id(ref_or_id, candidate)
            raise no_such_image(candidate) from None
        img = await self.from_record(rec)
        if not all_names:
            return img
        # All names of that ID, for inspect's RepoTags.
        for other in await self.list():
            if other.id == img.id:
                return other
        return img

    async def _by_id(self, prefix: str, shown: str) -> Image:
        want = prefix if prefix.startswith("sha256:") else "sha256:" + prefix
        matches = [i for i in await self.list() if i.id.startswith(want)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidParameter(f"short ID {prefix} is ambiguous")  # moby: ErrAmbiguousPrefix
        raise no_such_image(shown)

    async def import_stream(self, chunks: AsyncIterator[bytes], fmt: str, ref: str = "",
                            config: bytes = b"") -> AsyncIterator[tuple[str, list[ImageRecord]]]:
        """Importer.Import: (result line, images) as pycontainerd reports them (no layer progress)."""
        async for status, _progress, images in self.import_messages(chunks, fmt, ref, config, quiet=True):
            yield status, images

    async def import_messages(self, chunks: AsyncIterator[bytes], fmt: str, ref: str = "", config: bytes = b"",
                              quiet: bool = False) -> AsyncIterator[tuple[str, bytes, list[ImageRecord]]]:
        """Importer.Import: (result line, Docker JSON progress message, images), one of them set per message;
        `quiet`: no per-layer progress messages (docker load -q)."""
        async for status, progress, images in self.client.import_archive(chunks, fmt, ref, config, quiet):
            for rec in images:
                self._blobs.pop(rec.target.digest, None)
            yield status, progress, images


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


_PARENT = "io.pydocker.build.parent"  # build_backend.PARENT_LABEL: the image a build step built on


class ImageDeleter:
    """`docker rmi` with moby's rules and texts (untag; delete the last reference; in-use conflicts)."""

    def __init__(self, service: ImageService) -> None:
        self.service = service

    async def delete(self, ref: str, force: bool, users: dict[str, tuple[str, bool]]) -> list[dict[str, str]]:
        """`users`: container ID → (image ID, running) of every container."""
        img = await self.service.resolve(ref)
        by_ref = not _looks_like_id(ref, img)
        using = [(cid, running) for cid, (iid, running) in users.items() if iid == img.id]
        running = [cid for cid, r in using if r]
        stopped = [cid for cid, r in using if not r]
        out: list[dict[str, str]] = []
        if by_ref:
            full = str(reference.parse(ref))
            known = await self.service.list()
            if len([n for n in img.names if not n.startswith("moby-dangling@")]) > 1 or any(
                    i.labels.get(_PARENT) == img.id for i in known):  # other names, or children: untag only
                await self.service.client.delete_image(full)
                return [{"Untagged": reference.familiar_string(full)}]
            if using and not force:
                cid = (running or stopped)[0]
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) - '
                               f"container {cid[:12]} is using its referenced image {_short(img.id)}")
        else:
            if running:
                raise Conflict(f"conflict: unable to delete {_short(img.id)} (cannot be forced) - image is "
                               f"being used by running container {running[0][:12]}")
            if not force:
                if stopped:
                    raise Conflict(f"conflict: unable to delete {_short(img.id)} (must be forced) - image is "
                                   f"being used by stopped container {stopped[0][:12]}")
                if len(img.repo_tags) > 1:
                    raise Conflict(f"conflict: unable to delete {_short(img.id)} (must be forced) - image is "
                                   "referenced in multiple repositories")
        known = {i.id: i for i in await self.service.list()}
        parent = known[img.id].labels.get(_PARENT, "") if img.id in known else ""
        if img.chain_id:
            # its init layer (pydockerd's own, see Daemon._init_layer) first, unless a container still
            # stands on it, so that the collection the deletion sets off takes the image's layers too
            try:
                await self.service.client.remove_snapshot(initlayer.snapshot_name(img.chain_id))
            except DockerError:
                pass
        for name in img.names:
            await self.service.client.delete_image(name)
            if not name.startswith("moby-dangling@"):
                out.append({"Untagged": reference.familiar_string(name)})
        out.append({"Deleted": img.id})
        await self._delete_parents(parent, users, out)
        return out

    async def _delete_parents(self, parent: str, users: dict[str, tuple[str, bool]],
                              out: list[dict[str, str]]) -> None:
        """moby's prune of a deleted image's parents (build steps): each goes too, up to the first one
        that is tagged, used by a container or that another image builds on."""
        used = {iid for iid, _running in users.values()}
        while parent:
            known = {i.id: i for i in await self.service.list()}
            p = known.get(parent)
            if p is None or p.repo_tags or p.repo_digests or parent in used or any(
                    i.labels.get(_PARENT) == parent for i in known.values()):
                return
            for name in p.names:
                await self.service.client.delete_image(name)
            out.append({"Deleted": p.id})
            parent = p.labels.get(_PARENT, "")


def _looks_like_id(ref: str, img: Image) -> bool:
    r = ref[7:] if ref.startswith("sha256:") else ref
    return bool(reference.HEX_ID.match(ref)) and img.id[7:].startswith(r) and not any(
        reference.familiar_string(n).split(":")[0] == ref for n in img.names)


def intermediates(images: list[Image]) -> set[str]:
    """IDs of the images `docker images` (and `system df`) leave out without -a: untagged ones another
    image builds on (earlier build steps), as moby's Images(all=false)."""
    parents = {i.labels.get(_PARENT) for i in images}
    return {i.id for i in images if not i.repo_tags and i.id in parents}


def summary(img: Image, size: int, api_version: tuple[int, ...]) -> dict[str, Any]:
    """An `image.Summary` for GET /images/json; `size` is ImageService.size's."""
    tags, digests = img.repo_tags, img.repo_digests
    if api_version < (1, 43):
        tags = tags or ["<none>:<none>"]
        digests = digests or ["<none>@<none>"]
    out = {"Id": img.id, "ParentId": "", "RepoTags": tags, "RepoDigests": digests,
           "Created": int(created_seconds(img)), "Size": size, "SharedSize": -1,
           "Labels": img.container_config.get("Labels") or None, "Containers": -1}
    if api_version < (1, 44):
        out["VirtualSize"] = size
    return out


def created_seconds(img: Image) -> float:
    from .container import parse_rfc3339
    created = img.config.get("created")
    return parse_rfc3339(created) if created else img.created_record


def inspect(img: Image, size: int) -> dict[str, Any]:
    """GET /images/{name}/json; `size` is ImageService.size's."""
    cfg = dict(img.container_config)
    full_cfg = {"Hostname": "", "Domainname": "", "User": cfg.get("User", ""), "AttachStdin": False,
                "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
                "StdinOnce": False, "Env": cfg.get("Env"), "Cmd": cfg.get("Cmd"), "Image": cfg.get("Image") or "",
                "Volumes": cfg.get("Volumes"), "WorkingDir": cfg.get("WorkingDir", ""),
                "Entrypoint": cfg.get("Entrypoint"), "OnBuild": cfg.get("OnBuild"),
                "Labels": cfg.get("Labels")}
    for k in ("ExposedPorts", "StopSignal", "Healthcheck", "Shell", "ArgsEscaped"):
        if k in cfg:
            full_cfg[k] = cfg[k]
    created = img.config.get("created") or "0001-01-01T00:00:00Z"
    parent = img.labels.get(_PARENT, "")  # what a build step or commit started from (not "scratch")
    tagged = ZERO_TIME if not img.repo_tags or not img.created_record else rfc3339_ns(int(img.created_record * 1e9))
    return {
        "Id": img.id, "RepoTags": img.repo_tags, "RepoDigests": img.repo_digests,
        "Parent": parent if parent.startswith("sha256:") else "",
        "Comment": _history_comment(img), "Created": created, "Container": "",
        # compose 1.29 reads ContainerConfig when recreating services, whatever the API version.
        "ContainerConfig": full_cfg, "DockerVersion": img.config.get("docker_version", ""),
        "Author": img.config.get("author", ""),
        "Config": full_cfg, "Architecture": img.config.get("architecture", HOST_ARCH),
        "Os": img.config.get("os", "linux"), "Size": size, "VirtualSize": size,
        "GraphDriver": {"Name": "overlayfs", "Data": None},
        "RootFS": {"Type": "layers", "Layers": list(img.config.get("rootfs", {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": tagged},
    }


def _history_comment(img: Image) -> str:
    hist = img.config.get("history") or []
    return hist[-1].get("comment", "") if hist else ""


def _chain_ids(diff_ids: list[str]) -> list[str]:
    """Each layer's chain ID, base first: each one from its parent's (chain_id of every prefix, in one pass)."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def _padded(chains: list[str], layers: list[str]) -> list[str]:
    """The chain IDs to pair with `layers`, or "" for each when they do not match one to one."""
    return chains if len(chains) == len(layers) else [""] * len(layers)


async def measure_diff_size(chunks: AsyncIterator[bytes]) -> int:
    """overlay2's DiffSize of a layer tar (plain or gzip) read from `chunks`: its files' sizes plus its
    symlinks' target lengths; hard links, directories and devices count nothing. The decompression and
    the tar walk run in a worker thread, a chunk at a time: a big layer does not hold up the event loop."""
    walk = _DiffSizeWalk()
    async for chunk in chunks:
        await asyncio.to_thread(walk.feed, chunk)
    return walk.finish()


class _DiffSizeWalk:
    """The tar headers of a layer stream fed in pieces; `total` is its DiffSize so far."""

    OUT_STEP = 1 << 20  # most decompressed bytes held at once: a gzip bomb never fills memory

    def __init__(self) -> None:
        self.dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.plain: bool | None = None  # decided on the first two bytes, whatever the chunks' sizes
        self.head = b""
        self.buf = bytearray()
        self.skip = 0
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        if self.plain is None:
            self.head += chunk
            if len(self.head) < 2:
                return
            self.plain, chunk, self.head = not self.head.startswith(b"\x1f\x8b"), self.head, b""
        if self.plain:
            self._walk(chunk)
            return
        while chunk:
            data = self.dec.decompress(chunk, self.OUT_STEP)
            self._walk(data)
            chunk = self.dec.unconsumed_tail
            if self.dec.eof and self.dec.unused_data:  # a stream of several gzip members, as Go reads it
                chunk = self.dec.unused_data
                self.dec = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def finish(self) -> int:
        """The DiffSize, once the whole stream was fed; ValueError when it ended inside a gzip member."""
        if self.plain is False and not self.dec.eof:
            raise ValueError("unexpected end of the gzip stream")
        return self.total

    def _walk(self, data: bytes) -> None:
        buf = self.buf
        if self.skip and not buf:  # file content: skipped without copying
            n = min(self.skip, len(data))
            self.skip -= n
            data = memoryview(data)[n:]
        buf += data
        while True:
            if self.skip:
                n = min(self.skip, len(buf))
                del buf[:n]
                self.skip -= n
                if self.skip:
                    return
            if len(buf) < 512:
                return
            hdr = bytes(buf[:512])
            del buf[:512]
            if hdr == bytes(512):
                continue
            raw = hdr[124:136]
            size = (int.from_bytes(raw[1:], "big") if raw[0] & 0x80
                    else int(raw.rstrip(b"\0 ").strip() or b"0", 8))
            kind = hdr[156:157]
            if kind == b"2":  # overlay2's DiffSize counts a symlink as its target's length
                self.total += len(hdr[157:257].rstrip(b"\0"))
            elif kind not in (b"x", b"g", b"L", b"K"):  # Go's reader folds these into the next
                self.total += size
            self.skip = (size + 511) // 512 * 512


async def history(service: "ImageService", img: Image) -> list[dict[str, Any]]:
    """GET /images/{name}/history: newest first; only the newest entry carries the ID and tags; each
    entry that made a layer has that layer's size."""
    from .container import parse_rfc3339
    entries = img.config.get("history") or [{"created": img.config.get("created", ""), "created_by": ""}]
    layers = img.layers
    chains = _padded(img.layer_chain_ids, layers)
    sizes: list[int] = []
    n = 0
    for h in entries:
        if h.get("empty_layer") or n >= len(layers):
            sizes.append(0)
        else:
            sizes.append(await service.layer_diff_size(layers[n], chains[n]))
            n += 1
    # as moby: the newest entries carry the IDs (and tags) of the image and its local parents in turn
    # (a build step's parent is recorded on its image), the rest are "<missing>"
    by_id = {i.id: i for i in await service.list()}
    chain: list[Image] = [by_id.get(img.id, img)]
    while len(chain) < len(entries):
        parent = chain[-1].labels.get("io.pydocker.build.parent", "")
        if parent not in by_id:
            break
        chain.append(by_id[parent])
    out = []
    for i, (h, size) in enumerate(zip(reversed(entries), reversed(sizes))):
        cur = chain[i] if i < len(chain) else None
        out.append({"Id": cur.id if cur else "<missing>", "Created": int(parse_rfc3339(h.get("created", ""))),
                    "CreatedBy": h.get("created_by", ""), "Tags": (cur.repo_tags or None) if cur else None,
                    "Size": size, "Comment": h.get("comment", "")})
    if out and out[0]["Tags"] is None:
        out[0]["Tags"] = img.repo_tags
    return out


async def prune(service: ImageService, filters: dict[str, list[str]], used: set[str]) -> list[dict[str, str]]:
    """`docker image prune`: dangling images no container uses (`dangling=false`: every unused image).

    Build steps' images stay while an image built on them stays (moby keeps the parents of kept images).
    """
    until = filters_mod.check(filters, filters_mod.PRUNE_IMAGES)
    only_dangling = not filters.get("dangling") or filters["dangling"][0].lower() in ("true", "1")
    images = await service.list()
    parent_of = {img.id: img.labels.get("io.pydocker.build.parent", "") for img in images}
    keep = {img.id for img in images if img.id in used or (only_dangling and img.repo_tags)}
    for image_id in list(keep):
        p = parent_of.get(image_id, "")
        while p and p in parent_of and p not in keep:
            keep.add(p)
            p = parent_of.get(p, "")
    deleted: list[dict[str, str]] = []
    for img in images:
        if img.id in keep:
            continue
        if not filters_mod.labels_match(filters, img.container_config.get("Labels") or {}) \
                or not filters_mod.older_than(until, created_seconds(img)):
            continue
        for name in img.names:
            await service.client.delete_image(name)
            if not name.startswith("moby-dangling@"):
                deleted.append({"Untagged": reference.familiar_string(name)})
        deleted.append({"Deleted": img.id})
    return deleted

