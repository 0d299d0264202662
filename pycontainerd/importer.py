"""Importing tars into content, snapshots and images.

Formats: an OCI image layout (also Docker 25+'s hybrid `docker save`), a docker-archive
(`manifest.json` + `<id>.json` + `<id>/layer.tar`), or a plain root filesystem tar (`docker import`).
Every imported image is unpacked into committed snapshots keyed by chain ID. While a layer loads, Docker's
per-layer "Loading layer" JSON progress messages are emitted as dockerd's `docker load` streams them.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import tarfile
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

from . import images as im
from .archive import is_gzip
from .content import ContentStore
from .errdefs import InvalidArgument, NotFound
from .images import Descriptor, Image, ImageStore
from .reference import normalize
from .snapshots import Snapshotter
from .unpack import Appliers, unpack

ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
DANGLING_PREFIX = "moby-dangling@"

Progress = Callable[[str], None]
Messages = Callable[[dict[str, Any]], None]  # Docker JSON progress messages; None: quiet


class LayerProgress:
    """moby's progress reader for one "Loading layer": an update every 1% of the layer (at most every 512 kB),
    at most ten a second, and the full bar when the layer is registered; the id is the layer's diff ID
    cut to 12 hex digits (stringid.TruncateID)."""

    def __init__(self, emit: Messages, diff_id: str, total: int) -> None:
        self.emit, self.id, self.total = emit, diff_id.split(":", 1)[-1][:12], total
        self.step = min(512 * 1024, int(self.total * 0.01)) if total > 0 else 512 * 1024
        self.current = self.last = 0
        self.last_time = 0.0

    def read(self, n: int) -> None:
        self.current += n
        now = time.monotonic()
        if self.current - self.last > self.step and now - self.last_time >= 0.1 and self.current < self.total:
            self.last, self.last_time = self.current, now
            self._send(self.current)

    def done(self) -> None:
        self._send(max(self.current, self.total))

    def _send(self, current: int) -> None:
        from .registry.progress import layer_progress  # the pull's formatter: same bar and units
        self.emit(layer_progress("Loading layer", self.id, current, self.total))


def put_keeping_dangling(images: ImageStore, ns: str, img: Image) -> Image:
    """Point ``img.name`` at ``img.target``; the image the name pointed at before stays as
    ``moby-dangling@<digest>`` when no other name holds it (Docker's ``<none>:<none>`` after a tag moves)."""
    try:
        old = images.get(ns, img.name).target
    except NotFound:
        old = None
    out, _ = images.put(ns, img)
    if old is not None and old.digest != img.target.digest and not img.name.startswith(DANGLING_PREFIX):
        if not any(o.target.digest == old.digest for o in images.list(ns) if o.name != img.name):
            images.put(ns, Image(DANGLING_PREFIX + old.digest, old))
    return out


@dataclass
class Importer:
    cs: ContentStore
    sn: Snapshotter
    images: ImageStore
    tmp_root: str

    # -- entry points

    def import_archive(self, ns: str, path: str, progress: Progress = lambda s: None,
                       messages: Messages | None = None, sn: Snapshotter | None = None) -> list[Image]:
        """Import a docker-archive or OCI layout tar (plain or gzip). `progress` gets the result lines
        ("Loaded image: …"), `messages` the per-layer JSON progress; layers go into `sn` (default: ours)."""
        job = _Job(self.sn if sn is None else sn, progress, messages)
        try:
            tf = tarfile.open(path, mode="r:*")
        except tarfile.TarError as exc:
            raise InvalidArgument(f"failed to read archive: {exc}", raw=True) from None
        with tf:
            members = {posixpath.normpath(m.name.lstrip("/")): m for m in tf.getmembers()}
            if "oci-layout" in members and "index.json" in members:
                return self._import_oci(ns, tf, members, job)
            if "manifest.json" in members:
                return self._import_docker(ns, tf, members, job)
        raise InvalidArgument("unrecognized archive format: no index.json (OCI layout) or manifest.json "
                              "(docker-archive) found", raw=True)

    def import_rootfs(self, ns: str, path: str, ref: str, config: dict[str, Any] | None,
                      progress: Progress = lambda s: None,
                      sn: Snapshotter | None = None) -> tuple[list[Image], str]:
        """Import a plain root filesystem tar as a one-layer image. Returns (images, config digest).
        (`docker import` of a file or stdin shows no layer progress in Docker either.)"""
        layer_path, diff_id = self._gzip_layer(path)
        try:
            layer_digest = self.cs.add_file(ns, layer_path, labels={"containerd.io/uncompressed": diff_id},
                                            move=True)
        finally:
            if os.path.exists(layer_path):
                os.unlink(layer_path)
        layer = Descriptor(im.MT_DOCKER_LAYER_GZIP, layer_digest, os.path.getsize(self.cs.blob_path(layer_digest)))
        cfg = dict(config or {})
        cfg.setdefault("architecture", "amd64")
        cfg.setdefault("os", "linux")
        cfg.setdefault("config", {})
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000000Z"
        cfg.setdefault("created", now)
        cfg["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
        if not cfg.get("history"):  # one entry for the one layer: the caller's, else ours
            cfg["history"] = [{"created": cfg["created"], "comment": "Imported from tarball"}]
        cfg_bytes = json.dumps(cfg, separators=(",", ":")).encode()
        cfg_digest = self.cs.add_bytes(ns, cfg_bytes)
        manifest = {"schemaVersion": 2, "mediaType": im.MT_DOCKER_MANIFEST,
                    "config": {"mediaType": im.MT_DOCKER_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
                    "layers": [layer.to_json()]}
        man_bytes = json.dumps(manifest, separators=(",", ":")).encode()
        man_digest = self.cs.add_bytes(ns, man_bytes)
        target = Descriptor(im.MT_DOCKER_MANIFEST, man_digest, len(man_bytes))
        self._unpack(ns, target, _Job(self.sn if sn is None else sn, progress, None))
        name = normalize(ref) if ref else DANGLING_PREFIX + man_digest
        img = put_keeping_dangling(self.images, ns, Image(name, target))
        progress(f"Imported image: {cfg_digest}")
        return [img], cfg_digest

    # -- helpers

    def _gzip_layer(self, path: str) -> tuple[str, str]:
        """Compress a (plain or gzip) tar into a gzip layer file; return (path, diff ID)."""
        os.makedirs(self.tmp_root, exist_ok=True)
        fd, out = tempfile.mkstemp(prefix="layer-", dir=self.tmp_root)
        h = hashlib.sha256()
        try:
            with open(path, "rb") as raw, os.fdopen(fd, "wb") as dst:
                head = raw.read(2)
                raw.seek(0)
                src = gzip.GzipFile(fileobj=raw) if head == b"\x1f\x8b" else raw
                # mtime=0: the same rootfs gives the same layer digest
                with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=6, mtime=0) as gz:
                    while chunk := src.read(1 << 20):
                        h.update(chunk)
                        gz.write(chunk)
        except (OSError, EOFError) as exc:
            os.unlink(out)
            raise InvalidArgument(f"failed to read rootfs tar: {exc}", raw=True) from None
        except BaseException:
            os.unlink(out)
            raise
        return out, "sha256:" + h.hexdigest()

    def _extract_blob(self, ns: str, tf: tarfile.TarFile, member: tarfile.TarInfo,
                      expected: str | None = None, bar: LayerProgress | None = None) -> str:
        """Copy one archive member into the content store, verifying `expected` when given."""
        m = _follow(tf, member)
        src = tf.extractfile(m)
        if src is None:
            raise InvalidArgument(f"archive entry {member.name} is not a file", raw=True)
        os.makedirs(self.tmp_root, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="blob-", dir=self.tmp_root)
        h = hashlib.sha256()
        try:
            with os.fdopen(fd, "wb") as dst:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    dst.write(chunk)
                    if bar is not None:
                        bar.read(len(chunk))
            digest = "sha256:" + h.hexdigest()
            if expected and expected != digest:
                raise InvalidArgument(f"blob {member.name}: digest {digest} does not match {expected}", raw=True)
            return self.cs.add_file(ns, tmp, digest, move=True)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _unpack(self, ns: str, target: Descriptor, job: "_Job") -> im.ResolvedImage:
        """Unpack every layer of `target` not yet in `job.sn`; each one applied here gets its full bar."""
        resolved = im.resolve(self.cs, ns, target)
        diff_of = dict(zip((layer.digest for layer in resolved.layers), resolved.diff_ids))

        def extracted(layer: Descriptor) -> None:
            if job.messages is not None:
                LayerProgress(job.messages, diff_of.get(layer.digest, layer.digest), layer.size).done()

        unpack(self.cs, job.sn, ns, resolved, self.tmp_root, lambda line: None, extracted)
        return resolved

    def _import_oci(self, ns: str, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                    job: "_Job") -> list[Image]:
        index = json.load(tf.extractfile(members["index.json"]))  # type: ignore[arg-type]
        for name, m in members.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "blobs" and (m.isfile() or m.issym() or m.islnk()):
                self._extract_blob(ns, tf, m, f"{parts[1]}:{parts[2]}")
        out = []
        for d in index.get("manifests", []):
            desc = Descriptor.from_json(d)
            desc.platform = None
            ann = desc.annotations
            name = ann.get(ANNOTATION_IMAGE_NAME) or ""
            ref_name = ann.get(ANNOTATION_REF_NAME, "")
            if not name and ref_name and ("/" in ref_name or ":" in ref_name):
                name = ref_name
            try:
                resolved = self._unpack(ns, desc, job)
            except NotFound as exc:
                job.progress(f"Skipping {desc.digest}: {exc}")
                continue
            out.append(self._name_image(ns, normalize(name) if name else DANGLING_PREFIX + desc.digest, desc,
                                        job.progress))
            if not name:
                job.progress(f"Loaded image ID: {resolved.config.digest}")
        return out

    def _import_docker(self, ns: str, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                       job: "_Job") -> list[Image]:
        entries = json.load(tf.extractfile(members["manifest.json"]))  # type: ignore[arg-type]
        with Appliers() as appliers:  # one applier process for every layer of the archive
            return self._import_docker_entries(ns, tf, members, job, entries, appliers)

    def _import_docker_entries(self, ns: str, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                               job: "_Job", entries: list[dict[str, Any]], appliers: Appliers) -> list[Image]:
        out = []
        ids: list[str] = []
        tagged = False
        for entry in entries:
            cfg_member = members.get(posixpath.normpath(entry["Config"]))
            if cfg_member is None:
                raise InvalidArgument(f"config {entry['Config']} not found in archive", raw=True)
            cfg_digest = self._extract_blob(ns, tf, cfg_member)
            cfg_desc = Descriptor(im.MT_DOCKER_CONFIG, cfg_digest, os.path.getsize(self.cs.blob_path(cfg_digest)))
            cfg_json = im.read_json(self.cs, ns, cfg_digest)
            paths = entry.get("Layers") or []
            diff_ids = list((cfg_json.get("rootfs") or {}).get("diff_ids") or [])
            if len(paths) != len(diff_ids):  # moby's words
                raise InvalidArgument(f"invalid manifest, layers length mismatch: expected {len(paths)}, "
                                      f"got {len(diff_ids)}", raw=True)
            chains = im.chain_ids(diff_ids)
            layers: list[Descriptor] = []
            for lp, diff_id, chain in zip(paths, diff_ids, chains):
                lm = members.get(posixpath.normpath(lp))
                if lm is None:
                    raise InvalidArgument(f"layer {lp} not found in archive", raw=True)
                # Layers already unpacked get no line (moby skips a layer whose chain ID it has).
                missing = not job.has(ns, chain)
                bar = LayerProgress(job.messages, diff_id, _follow(tf, lm).size) \
                    if missing and job.messages is not None else None
                digest = self._extract_blob(ns, tf, lm, bar=bar)
                mt = im.MT_DOCKER_LAYER_GZIP if is_gzip(self.cs.blob_path(digest)) else im.MT_DOCKER_LAYER
                layers.append(Descriptor(mt, digest, os.path.getsize(self.cs.blob_path(digest))))
                if missing:
                    # Applied before the next layer is read, so a bar is full only once its layer is a
                    # snapshot, and layers complete in order, as Docker's do. (unpack reads only the
                    # layers and diff IDs of the image it is given.)
                    unpack(self.cs, job.sn, ns, im.ResolvedImage(cfg_desc, cfg_desc, layers,
                                                                 diff_ids[:len(layers)], cfg_json),
                           self.tmp_root, appliers=appliers)
                    if bar is not None:
                        bar.done()
            manifest = {"schemaVersion": 2, "mediaType": im.MT_DOCKER_MANIFEST,
                        "config": cfg_desc.to_json(), "layers": [layer.to_json() for layer in layers]}
            man_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            man_digest = self.cs.add_bytes(ns, man_bytes)
            target = Descriptor(im.MT_DOCKER_MANIFEST, man_digest, len(man_bytes))
            self._unpack(ns, target, job)  # nothing left to apply: checks that the whole chain is there
            tags = entry.get("RepoTags") or []
            ids.append(cfg_digest)
            tagged = bool(tags)
            if not tags:
                out.append(self._name_image(ns, DANGLING_PREFIX + man_digest, target, job.progress))
            for tag in tags:
                out.append(self._name_image(ns, normalize(tag), target, job.progress))
        if not tagged:  # moby lists the IDs (of every image) only when the last image had no tag
            for image_id in ids:
                job.progress(f"Loaded image ID: {image_id}")
        return out

    def _name_image(self, ns: str, name: str, target: Descriptor, progress: Progress) -> Image:
        if not name.startswith(DANGLING_PREFIX):
            try:
                old = self.images.get(ns, name).target
            except NotFound:
                old = None
            if old is not None and old.digest != target.digest:
                try:
                    old_id = im.resolve(self.cs, ns, old).config.digest
                except (NotFound, InvalidArgument, ValueError, KeyError):
                    old_id = old.digest
                # moby's line when a loaded tag moves (its "to empty string": the old image is untagged)
                progress(f"The image {_familiar(name)} already exists, renaming the old one with ID {old_id} "
                         "to empty string")
        img = put_keeping_dangling(self.images, ns, Image(name, target))
        if not name.startswith(DANGLING_PREFIX):
            progress(f"Loaded image: {_familiar(name)}")
        return img


@dataclass
class _Job:
    """One import: where its layers go and who hears about it."""
    sn: Snapshotter
    progress: Progress
    messages: Messages | None

    def has(self, ns: str, chain: str) -> bool:
        try:
            self.sn.stat(ns, chain)
            return True
        except NotFound:
            return False


def _follow(tf: tarfile.TarFile, member: tarfile.TarInfo) -> tarfile.TarInfo:
    """The member a (hard or symbolic) link entry stands for: layer dirs in docker-archives may be links."""
    m = member
    for _ in range(16):
        if not (m.issym() or m.islnk()):
            break
        target = posixpath.normpath(posixpath.join(posixpath.dirname(m.name), m.linkname)
                                    if m.issym() else m.linkname)
        m = tf.getmember(target)
    return m


def _familiar(name: str) -> str:
    """docker.io/library/busybox:latest → busybox:latest (as docker load prints it)."""
    if name.startswith("docker.io/library/"):
        return name[len("docker.io/library/"):]
    if name.startswith("docker.io/"):
        return name[len("docker.io/"):]
    return name
