"""The registry client: resolve, pull and push images over the OCI distribution API.

Usage (pycontainerd's pull)::

    async with RegistryClient(static_credentials(auth), insecure_registries=["10.0.0.0/8"]) as rc:
        result = await rc.pull("busybox", store, progress=PullProgress(emit, ...))

Every blob lands in the caller's store only after its size and digest were verified.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterable, Mapping

import aiohttp
from yarl import URL

from .auth import CredentialsProvider, repository_scope
from .descriptors import Descriptor
from .digests import digest_bytes, hasher_for
from .feed import BlobTail, LayerFeed
from .errors import (DigestMismatchError, InvalidReferenceError, ManifestUnsupportedError,
                     NoMatchingPlatformError, NotFoundError, RegistryError, RegistryProtocolError,
                     SizeMismatchError, UnauthorizedError)
from .layout import BlobStore
from .manifests import (ImageManifest, check_image_content, check_media_type, parse_image_manifest,
                        parse_index, schema1_error, sniff_media_type)
from .mediatypes import INDEX_TYPES, MANIFEST_ACCEPT, MANIFEST_TYPES, MAX_MANIFEST_SIZE, SCHEMA1_TYPES, is_index
from .platforms import DEFAULT_PLATFORM, Platform, normalize, parse_platform, rank, select
from .progress import (DOWNLOADED, DOWNLOADING, LAYER_EXISTS, LAYER_QUEUED, LAYER_WAITING, MANIFEST_PUSHED,
                       MOUNTED, PREPARING, PUSHED, PUSHING, RESOLVED, VERIFYING, ProgressCallback,
                       ProgressEvent)
from .reference import DOCKER_HUB_API_HOST, Reference, parse_reference
from .transport import Transport, errcode_text, raise_for_status

CHUNK = 1 << 20           # bytes per read of a blob body (the session buffers as much, see Transport)
PARTIAL_SUFFIX = ".partial"
PROGRESS_INTERVAL = 0.1   # at most ten Downloading/Pushing lines a second per blob, as moby's progress reader


def _noop(ev: ProgressEvent) -> None:
    pass


def _ref(ref: Reference | str) -> Reference:
    return ref if isinstance(ref, Reference) else parse_reference(ref)


def _content_type(resp: aiohttp.ClientResponse) -> str:
    return resp.headers.get("Content-Type", "").split(";", 1)[0].strip()


@dataclass
class PullResult:
    reference: Reference
    target: Descriptor            # what the image record points to (an index or a manifest)
    manifest: Descriptor          # the manifest chosen for the platform (== target for single manifests)
    config: Descriptor
    layers: list[Descriptor]
    config_json: dict[str, Any]
    platform: Platform | None     # from the config's os/architecture
    diff_ids: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # digests downloaded by this pull (manifests, config, layers)


class RegistryClient:
    def __init__(self, credentials: CredentialsProvider | None = None, *,
                 insecure_registries: Iterable[str] = (), session: aiohttp.ClientSession | None = None,
                 max_concurrent_downloads: int = 3, max_concurrent_uploads: int = 5,
                 upload_chunk_size: int | None = None, progress_every: int = 512 << 10,
                 progress_interval: float = PROGRESS_INTERVAL,
                 download_slots: asyncio.Semaphore | None = None, upload_slots: asyncio.Semaphore | None = None):
        """``upload_chunk_size`` None uploads each blob in one PUT; a size uses PATCH chunks of that size.
        ``progress_every`` is how many bytes pass between two Downloading/Pushing events, and at most one
        comes per ``progress_interval`` seconds (moby: 512 kB and 100 ms); the last bytes always show.
        A daemon makes one client per request (credentials differ) and shares ``download_slots`` /
        ``upload_slots`` between them for daemon-wide limits (dockerd's max-concurrent-downloads)."""
        self.transport = Transport(credentials, insecure_registries=insecure_registries, session=session)
        self._downloads = download_slots or asyncio.Semaphore(max_concurrent_downloads)
        self._uploads = upload_slots or asyncio.Semaphore(max_concurrent_uploads)
        self._chunk_size = upload_chunk_size
        self._progress_every = progress_every
        self._progress_interval = progress_interval
        self._resolved: dict[str, bytes] = {}  # manifests a GET-resolve already downloaded, by digest

    async def __aenter__(self) -> "RegistryClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    # ------------------------------------------------------------------------------------------------
    # login

    async def login(self, server: str) -> str:
        """Check the credentials for ``server`` as ``docker login`` (POST /auth) does: GET ``/v2/``,
        answer its challenge, expect 200. ``server`` may be a host, a URL, or empty for Docker Hub.
        Returns the registry host the credentials belong to; raises ``UnauthorizedError`` when refused."""
        host = login_host(server)
        async with self.transport.request("GET", host, "/v2/") as resp:
            if resp.status == 200:
                return host
            raise_for_status(resp, await resp.read(), f"login to {host}")
            raise RegistryProtocolError(f"login to {host}: /v2/ answered {resp.status}")

    # ------------------------------------------------------------------------------------------------
    # resolve and manifests

    async def resolve(self, ref: Reference | str) -> Descriptor:
        """The descriptor of the manifest or index ``ref`` names (HEAD, or GET when HEAD is not enough)."""
        ref = _ref(ref)
        path = f"/v2/{ref.path}/manifests/{ref.object}"
        scopes = [repository_scope(ref.path)]
        headers = {"Accept": MANIFEST_ACCEPT}
        async with self.transport.request("HEAD", ref.api_host, path, scopes=scopes, headers=headers) as resp:
            if resp.status == 200:
                mt = _content_type(resp)
                digest = resp.headers.get("Docker-Content-Digest", "")
                size = resp.content_length
                if mt in SCHEMA1_TYPES:
                    raise schema1_error(ref.familiar_string())
                if ref.digest and digest and digest != ref.digest:
                    raise DigestMismatchError(f"manifest of {ref}", ref.digest, digest)
                if mt in INDEX_TYPES | MANIFEST_TYPES and (digest or ref.digest) and size is not None:
                    return Descriptor(mt, ref.digest or digest, size)
            elif resp.status == 403:
                raise_for_status(resp, b"", f"manifest {ref}")
            # anything else (404 without a body, 405, an unknown type): ask with GET
        # GET: a registry that does not answer HEAD fully, or a 404 whose body says why.
        async with self.transport.request("GET", ref.api_host, path, scopes=scopes, headers=headers) as resp:
            if resp.status == 404:
                text = errcode_text(await resp.read()) or "manifest unknown: manifest unknown"
                raise NotFoundError(f"manifest for {ref.familiar_string()} not found: {text}")
            if resp.status != 200:
                raise_for_status(resp, await resp.read(), f"manifest {ref}")
            raw = await self._read_manifest(resp, f"manifest {ref}")
            mt = _content_type(resp)
            if mt not in INDEX_TYPES | MANIFEST_TYPES:
                mt = sniff_media_type(raw) or mt
            check_media_type(mt, ref.familiar_string())
            claimed = ref.digest or resp.headers.get("Docker-Content-Digest") or ""
            # The raw bytes, never re-serialised JSON, in the algorithm of the digest we were given.
            actual = digest_bytes(raw, "sha512" if claimed.startswith("sha512:") else "sha256")
            if claimed and actual != claimed:
                raise DigestMismatchError(f"manifest of {ref}", claimed, actual)
            self._resolved[actual] = raw  # spares the GET by digest that follows
            return Descriptor(mt, actual, len(raw))

    async def fetch_manifest(self, ref: Reference | str, desc: Descriptor) -> bytes:
        """The raw bytes of the manifest or index ``desc``, size and digest verified."""
        ref = _ref(ref)
        what = f"manifest {desc.digest} of {ref.name}"
        if desc.size > MAX_MANIFEST_SIZE:
            raise ManifestUnsupportedError(f"manifest too large: {what} is {desc.size} bytes (limit {MAX_MANIFEST_SIZE})")
        cached = self._resolved.pop(desc.digest, None)
        if cached is not None:
            self._verify_bytes(cached, desc, what)
            return cached
        path = f"/v2/{ref.path}/manifests/{desc.digest}"
        async with self.transport.request("GET", ref.api_host, path, scopes=[repository_scope(ref.path)],
                                          headers={"Accept": MANIFEST_ACCEPT}) as resp:
            if resp.status == 404:
                text = errcode_text(await resp.read()) or "manifest unknown: manifest unknown"
                raise NotFoundError(f"manifest for {ref.name}@{desc.digest} not found: {text}")
            raise_for_status(resp, b"" if resp.status < 300 else await resp.read(), what)
            raw = await self._read_manifest(resp, what)
        self._verify_bytes(raw, desc, what)
        return raw

    async def _read_manifest(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        if resp.content_length is not None and resp.content_length > MAX_MANIFEST_SIZE:
            raise ManifestUnsupportedError(
                f"manifest too large: {what} is {resp.content_length} bytes (limit {MAX_MANIFEST_SIZE})")
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(CHUNK):
            buf += chunk
            if len(buf) > MAX_MANIFEST_SIZE:
                raise ManifestUnsupportedError(f"manifest too large: {what} exceeds {MAX_MANIFEST_SIZE} bytes")
        return bytes(buf)

    @staticmethod
    def _verify_bytes(raw: bytes, desc: Descriptor, what: str) -> None:
        if len(raw) != desc.size:
            raise SizeMismatchError(what, desc.size, len(raw), truncated=len(raw) < desc.size)
        h = hasher_for(desc.digest)
        h.update(raw)
        actual = f"{h.name}:{h.hexdigest()}"
        if actual != desc.digest:
            raise DigestMismatchError(what, desc.digest, actual)

    def select_platform(self, entries: list[Descriptor], wanted: Platform, what: str) -> Descriptor:
        """The index entry for ``wanted`` (containerd's order; attestation ``unknown/unknown`` skipped)."""
        manifests = [e for e in entries if e.media_type in MANIFEST_TYPES | INDEX_TYPES or not e.media_type]
        chosen = select(manifests, [e.platform for e in manifests], wanted)
        if chosen is None:
            raise NoMatchingPlatformError(f"no matching manifest for {wanted} in the manifest list entries of {what}")
        return chosen

    # ------------------------------------------------------------------------------------------------
    # blobs

    async def fetch_blob(self, ref: Reference | str, desc: Descriptor, dest: str,
                         progress: ProgressCallback | None = None) -> str:
        """Download blob ``desc`` to ``dest``.

        Bytes go to ``dest + ".partial"``; ``dest`` appears (by rename) only after size and digest match.
        A partial file left by an earlier attempt is re-hashed and continued with ``Range``. A digest
        mismatch or an oversized body deletes the partial file; a truncated one keeps it for the next try.
        """
        async with _ingest_lock(dest):
            return await self._fetch_blob_locked(_ref(ref), desc, dest, progress or _noop)

    async def _fetch_blob_locked(self, ref: Reference, desc: Descriptor, dest: str, emit: ProgressCallback,
                                 tail: BlobTail | None = None) -> str:
        what = f"blob {desc.digest} of {ref.name}"
        partial = dest + PARTIAL_SUFFIX
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
        hasher = hasher_for(desc.digest)
        offset = 0
        if os.path.exists(partial):
            offset = os.path.getsize(partial)
            if offset > desc.size:
                os.unlink(partial)
                offset = 0
            else:  # verify-so-far: the hash continues from these bytes
                await asyncio.to_thread(_hash_file, partial, hasher)
        if offset < desc.size:
            offset, hasher = await self._download(ref, desc, partial, offset, hasher, emit, what, tail)
        elif not os.path.exists(partial):
            open(partial, "wb").close()  # an empty blob: nothing to fetch, the digest check still applies
        emit(ProgressEvent(VERIFYING, desc.digest, offset, desc.size))
        actual = f"{hasher.name}:{hasher.hexdigest()}"
        if actual != desc.digest:
            os.unlink(partial)
            raise DigestMismatchError(what, desc.digest, actual)
        os.replace(partial, dest)
        emit(ProgressEvent(DOWNLOADED, desc.digest, desc.size, desc.size))
        return dest

    async def _download(self, ref: Reference, desc: Descriptor, partial: str, offset: int, hasher: Any,
                        emit: ProgressCallback, what: str, tail: BlobTail | None = None) -> tuple[int, Any]:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        path = f"/v2/{ref.path}/blobs/{desc.digest}"
        async with self.transport.request("GET", ref.api_host, path, scopes=[repository_scope(ref.path)],
                                          headers=headers) as resp:
            if resp.status == 404:
                text = errcode_text(await resp.read())
                raise NotFoundError(f"{what}: not found" + (f": {text}" if text else ""))
            if resp.status == 206 and offset:
                content_range = resp.headers.get("Content-Range", "")
                if not content_range.startswith(f"bytes {offset}-"):
                    raise RegistryProtocolError(f"{what}: asked for bytes {offset}- but got range {content_range!r}")
                mode = "ab"
            elif resp.status == 200:
                if offset:  # the server ignored Range: start over
                    offset, hasher = 0, hasher_for(desc.digest)
                mode = "wb"
            else:
                raise_for_status(resp, await resp.read(), what)
                raise RegistryProtocolError(f"{what}: unexpected status {resp.status}")
            report = _Throttle(self._progress_every, self._progress_interval, offset)
            if offset:  # resuming: show where we start from
                emit(ProgressEvent(DOWNLOADING, desc.digest, offset, desc.size))
            # Unbuffered: each chunk is in the file (for a tail reader) as soon as write returns.
            f = open(partial, mode, buffering=0)
            try:
                if tail is not None:
                    tail.attach(partial, offset)
                try:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        if offset + len(chunk) > desc.size:
                            f.close()
                            os.unlink(partial)
                            raise SizeMismatchError(what, desc.size, offset + len(chunk), truncated=False)
                        _write_all(f, chunk)
                        hasher.update(chunk)
                        offset += len(chunk)
                        if tail is not None:
                            tail.grew(offset)
                        if report.due(offset, desc.size):
                            emit(ProgressEvent(DOWNLOADING, desc.digest, offset, desc.size))
                except aiohttp.ClientPayloadError:
                    pass  # the connection ended early: reported as truncated below, partial kept
            finally:
                if not f.closed:
                    # Off the event loop: the other downloads (and the daemon) go on meanwhile.
                    await asyncio.shield(asyncio.to_thread(_sync_close, f))
        if offset < desc.size:
            raise SizeMismatchError(what, desc.size, offset, truncated=True)
        return offset, hasher

    async def fetch_blobs(self, ref: Reference | str, items: list[tuple[Descriptor, str]],
                          progress: ProgressCallback | None = None,
                          on_done: Callable[[Descriptor, str], None] | None = None) -> list[str]:
        """Download several blobs, at most ``max_concurrent_downloads`` at a time (Docker: 3).
        ``on_done(desc, path)`` runs as each verified blob lands (the store commits it there)."""
        emit = progress or _noop

        async def one(desc: Descriptor, dest: str) -> str:
            if self._downloads.locked():
                emit(ProgressEvent(LAYER_WAITING, desc.digest))
            async with self._downloads:
                path = await self.fetch_blob(ref, desc, dest, emit)
            if on_done is not None:
                on_done(desc, path)
            return path

        return list(await _gather(*(one(d, p) for d, p in items)))

    # ------------------------------------------------------------------------------------------------
    # pull

    async def pull(self, ref: Reference | str, store: BlobStore, *, platform: Platform | str | None = None,
                   progress: ProgressCallback | None = None,
                   on_layers: Callable[[PullResult, LayerFeed], None] | None = None) -> PullResult:
        """Resolve ``ref``, fetch the index (if any), the platform's manifest, its config and layers into
        ``store``. Content already in the store is not downloaded again.

        ``on_layers(plan, feed)`` is called once the config is known, before the layers download: ``plan`` is
        the result to come, ``feed`` lets another thread read each layer while it downloads (extract while
        downloading). The caller closes the feed when its readers are done; a failed pull fails the feed.

        With ``platform`` None the default linux/amd64 is used and a single-platform image for another
        platform is still accepted (``PullResult.platform`` says which, Docker warns); an explicit platform
        must match.
        """
        ref = _ref(ref)
        emit = progress or _noop
        if isinstance(platform, str):
            platform = parse_platform(platform)
        wanted = platform or DEFAULT_PLATFORM
        target = await self.resolve(ref)
        emit(ProgressEvent(RESOLVED, target.digest, detail=target.digest))
        fetched: list[str] = []
        raw = await self._manifest_into(ref, target, store, fetched)
        manifest_desc = target
        if is_index(target.media_type):
            entries = parse_index(raw, target, f"index {target.digest} of {ref}")
            manifest_desc = self.select_platform(entries, wanted, str(ref))
            if is_index(manifest_desc.media_type):
                raise ManifestUnsupportedError(f"{ref}: nested index {manifest_desc.digest} is not supported")
            raw = await self._manifest_into(ref, manifest_desc, store, fetched)
        what = f"manifest {manifest_desc.digest} of {ref}"
        manifest = parse_image_manifest(raw, manifest_desc, what)
        check_image_content(manifest, what)

        config_present = store.has(manifest.config.digest)
        if not config_present:
            dest = store.ingest_path(manifest.config.digest)
            async with _ingest_lock(dest):
                if not store.has(manifest.config.digest):
                    path = await self._fetch_blob_locked(ref, manifest.config, dest, _noop)
                    store.commit(manifest.config, path, ref)
                    fetched.append(manifest.config.digest)
        with open(store.path(manifest.config.digest), "rb") as f:
            try:
                config_json = json.load(f)
            except json.JSONDecodeError as e:
                raise RegistryProtocolError(f"config {manifest.config.digest} of {ref} is not JSON: {e}") from None
        image_platform = None
        if config_json.get("architecture") or config_json.get("os"):
            image_platform = normalize(Platform(str(config_json.get("os", "")), str(config_json.get("architecture", "")),
                                                str(config_json.get("variant", "") or "")))
        if manifest_desc is target and platform is not None and image_platform is not None \
                and rank(image_platform, wanted) is None:
            raise NoMatchingPlatformError(f"image {ref} is for {image_platform}, not the requested {wanted}")
        diff_ids = list((config_json.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(manifest.layers):
            raise RegistryProtocolError(
                f"{what}: {len(manifest.layers)} layers but the config lists {len(diff_ids)} diff_ids")

        missing = [l for l in manifest.layers if not store.has(l.digest)]
        # Like dockerd, an image whose config and layers are all present gets no per-layer lines.
        if missing or not config_present:
            for layer in manifest.layers:
                emit(ProgressEvent(LAYER_QUEUED if layer in missing else LAYER_EXISTS, layer.digest))
        unique = list({l.digest: l for l in missing}.values())  # a layer may repeat in one image
        result = PullResult(reference=ref, target=target, manifest=manifest_desc, config=manifest.config,
                            layers=manifest.layers, config_json=config_json, platform=image_platform,
                            diff_ids=diff_ids, fetched=fetched)
        feed = LayerFeed([(l.digest, l.size) for l in unique])
        if on_layers is not None:
            on_layers(result, feed)

        async def download(desc: Descriptor) -> None:
            tail = feed.get(desc.digest)
            try:
                if self._downloads.locked():
                    emit(ProgressEvent(LAYER_WAITING, desc.digest))
                async with self._downloads:
                    dest = store.ingest_path(desc.digest)
                    async with _ingest_lock(dest):
                        if not store.has(desc.digest):
                            path = await self._fetch_blob_locked(ref, desc, dest, emit, tail)
                            store.commit(desc, path, ref)
                            fetched.append(desc.digest)
                        else:  # a concurrent pull of another image brought it
                            emit(ProgressEvent(DOWNLOADED, desc.digest, desc.size, desc.size))
                if tail is not None:  # only now: a tail reader's end means verified and in the store
                    tail.finish(store.path(desc.digest))
            except BaseException as exc:
                if tail is not None:
                    tail.fail(exc if isinstance(exc, Exception) else RegistryError(f"pull of {ref} was cancelled"))
                raise

        try:
            await _gather(*(download(l) for l in unique))
        except BaseException as exc:
            feed.fail(exc if isinstance(exc, Exception) else RegistryError(f"pull of {ref} was cancelled"))
            raise
        finally:
            if on_layers is None:
                feed.close()
        return result

    async def _manifest_into(self, ref: Reference, desc: Descriptor, store: BlobStore, fetched: list[str]) -> bytes:
        """The manifest bytes from the store when present (and still matching), else fetched and stored."""
        if store.has(desc.digest):
            with open(store.path(desc.digest), "rb") as f:
                raw = f.read()
            try:
                self._verify_bytes(raw, desc, f"stored manifest {desc.digest}")
                return raw
            except RegistryError:
                pass  # a damaged copy: fetch again
        raw = await self.fetch_manifest(ref, desc)
        path = store.ingest_path(desc.digest)
        _write_atomic(path, raw)
        store.commit(desc, path, ref)
        fetched.append(desc.digest)
        return raw

    # ------------------------------------------------------------------------------------------------
    # push

    async def blob_exists(self, ref: Reference | str, digest: str, *, push: bool = True) -> bool:
        ref = _ref(ref)
        scope = repository_scope(ref.path, "pull,push" if push else "pull")
        async with self.transport.request("HEAD", ref.api_host, f"/v2/{ref.path}/blobs/{digest}", scopes=[scope]) as resp:
            if resp.status == 200:
                return True
            if resp.status == 404:
                return False
            raise_for_status(resp, b"", f"blob {digest} of {ref.name}")
            return False

    async def push_blob(self, ref: Reference | str, desc: Descriptor, path: str, *,
                        mount_from: Iterable[str] = (), progress: ProgressCallback | None = None) -> str:
        """Make blob ``desc`` (read from ``path``) exist in ``ref``'s repository.

        Returns "exists", "mounted" (cross-repository mount from one of ``mount_from``, repository paths
        on the same registry) or "pushed".
        """
        ref = _ref(ref)
        emit = progress or _noop
        push_scope = repository_scope(ref.path, "pull,push")
        if await self.blob_exists(ref, desc.digest):
            emit(ProgressEvent(LAYER_EXISTS, desc.digest))
            return "exists"
        uploads = f"/v2/{ref.path}/blobs/uploads/"
        location = None
        for source in mount_from:
            if source == ref.path:
                continue
            try:
                async with self.transport.request(
                        "POST", ref.api_host, uploads, params={"mount": desc.digest, "from": source},
                        scopes=[push_scope, repository_scope(source, "pull")],
                        headers={"Content-Length": "0"}) as resp:
                    if resp.status == 201:
                        emit(ProgressEvent(MOUNTED, desc.digest, detail=source))
                        return "mounted"
                    if resp.status == 202:  # not mountable: the registry opened an upload instead
                        location = resp.headers.get("Location")
                        break
            except UnauthorizedError:
                continue  # no pull access to the source repository: try the next, then upload
        if location is None:
            async with self.transport.request("POST", ref.api_host, uploads, scopes=[push_scope],
                                              headers={"Content-Length": "0"}) as resp:
                if resp.status != 202:
                    raise_for_status(resp, await resp.read(), f"starting upload of {desc.digest} to {ref.name}")
                    raise RegistryProtocolError(f"starting upload of {desc.digest} to {ref.name}: status {resp.status}")
                location = resp.headers.get("Location")
        if not location:
            raise RegistryProtocolError(f"registry {ref.api_host} opened an upload for {desc.digest} without Location")
        await self._upload(ref, desc, path, location, push_scope, emit)
        emit(ProgressEvent(PUSHED, desc.digest, desc.size, desc.size))
        return "pushed"

    async def _upload(self, ref: Reference, desc: Descriptor, path: str, location: str, scope: str,
                      emit: ProgressCallback) -> None:
        what = f"upload of blob {desc.digest} to {ref.name}"
        if os.path.getsize(path) != desc.size:
            raise SizeMismatchError(f"local blob {desc.digest} ({path})", desc.size, os.path.getsize(path),
                                    truncated=os.path.getsize(path) < desc.size)
        emit(ProgressEvent(PUSHING, desc.digest, 0, desc.size))
        final_body = None
        if self._chunk_size and desc.size > self._chunk_size:
            offset = 0
            while offset < desc.size:
                n = min(self._chunk_size, desc.size - offset)
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(n),
                           "Content-Range": f"{offset}-{offset + n - 1}"}
                async with self.transport.request(
                        "PATCH", ref.api_host, "", url=location, scopes=[scope], headers=headers,
                        body=self._file_body(path, offset, n, desc, emit)) as resp:
                    if resp.status != 202:
                        raise_for_status(resp, await resp.read(), f"{what} (chunk at {offset})")
                        raise RegistryProtocolError(f"{what}: chunk at {offset} answered {resp.status}")
                    location = resp.headers.get("Location") or location
                offset += n
            headers = {"Content-Length": "0"}
        else:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)}
            final_body = self._file_body(path, 0, desc.size, desc, emit)
        url = str(URL(location).update_query(digest=desc.digest))
        async with self.transport.request("PUT", ref.api_host, "", url=url, scopes=[scope], headers=headers,
                                          body=final_body) as resp:
            body = await resp.read()
            if resp.status != 201:
                if resp.status == 400 and b"DIGEST_INVALID" in body:
                    raise DigestMismatchError(f"{what} (registry refused: {errcode_text(body)})", desc.digest, "another digest")
                raise_for_status(resp, body, what)
                raise RegistryProtocolError(f"{what}: registry answered {resp.status}")
            got = resp.headers.get("Docker-Content-Digest")
            if got and got != desc.digest:
                raise DigestMismatchError(what, desc.digest, got)

    def _file_body(self, path: str, offset: int, length: int, desc: Descriptor,
                   emit: ProgressCallback) -> Callable[[], AsyncIterator[bytes]]:
        async def gen() -> AsyncIterator[bytes]:
            sent = 0
            report = _Throttle(self._progress_every, self._progress_interval, 0)
            with open(path, "rb") as f:
                f.seek(offset)
                while sent < length:
                    chunk = f.read(min(CHUNK, length - sent))
                    if not chunk:
                        raise SizeMismatchError(f"local blob {desc.digest} ({path})", desc.size, offset + sent, truncated=True)
                    sent += len(chunk)
                    if report.due(sent, length):
                        emit(ProgressEvent(PUSHING, desc.digest, offset + sent, desc.size))
                    yield chunk

        return gen

    async def push_manifest(self, ref: Reference | str, media_type: str, raw: bytes, *, tag_or_digest: str | None = None) -> str:
        """PUT a manifest or index under ``tag_or_digest`` (default: the reference's tag or digest)."""
        ref = _ref(ref)
        obj = tag_or_digest or ref.object
        digest = digest_bytes(raw)
        what = f"manifest {digest} to {ref.name}:{obj}" if not obj.startswith("sha") else f"manifest {digest} to {ref.name}"
        async with self.transport.request("PUT", ref.api_host, f"/v2/{ref.path}/manifests/{obj}",
                                          scopes=[repository_scope(ref.path, "pull,push")],
                                          headers={"Content-Type": media_type}, body=lambda: raw) as resp:
            body = await resp.read()
            if resp.status != 201:
                raise_for_status(resp, body, f"pushing {what}")
                raise RegistryProtocolError(f"pushing {what}: registry answered {resp.status}")
            got = resp.headers.get("Docker-Content-Digest")
            if got and got != digest:
                raise DigestMismatchError(f"pushed {what}", digest, got)
        return digest

    async def push(self, ref: Reference | str, target: Descriptor, store: BlobStore, *,
                   mount_candidates: Callable[[str], Iterable[str]] | Mapping[str, Iterable[str]] | None = None,
                   progress: ProgressCallback | None = None) -> Descriptor:
        """Push the image ``target`` (a manifest or an index, with everything it references) from ``store``
        to ``ref``. ``mount_candidates`` maps a blob digest to repositories (paths or full names) on the same
        registry it may be mounted from. Returns the pushed target descriptor."""
        ref = _ref(ref)
        if ref.digest and ref.digest != target.digest:
            raise InvalidReferenceError(f"cannot push {target.digest} as {ref}: the digests differ")
        emit = progress or _noop
        candidates = _candidates_fn(mount_candidates, ref)
        raw = self._read_local(store, target, f"image {ref}")
        if is_index(target.media_type):
            for child in parse_index(raw, target, f"index {target.digest}"):
                if child.media_type not in MANIFEST_TYPES:
                    continue
                if not store.has(child.digest):
                    raise NotFoundError(f"cannot push {ref}: manifest {child.digest} "
                                        f"({child.platform or 'no platform'}) is not in the local store")
                child_raw = self._read_local(store, child, f"manifest {child.digest}")
                await self._push_image(ref, child, child_raw, store, candidates, emit)
                await self.push_manifest(ref, child.media_type, child_raw, tag_or_digest=child.digest)
        else:
            await self._push_image(ref, target, raw, store, candidates, emit)
        digest = await self.push_manifest(ref, target.media_type, raw)
        emit(ProgressEvent(MANIFEST_PUSHED, digest, total=len(raw), detail=digest))
        return target

    async def _push_image(self, ref: Reference, desc: Descriptor, raw: bytes, store: BlobStore,
                          candidates: Callable[[str], list[str]], emit: ProgressCallback) -> None:
        manifest: ImageManifest = parse_image_manifest(raw, desc, f"manifest {desc.digest}")
        layers = list({l.digest: l for l in manifest.layers}.values())
        for l in layers:
            if not store.has(l.digest):
                raise NotFoundError(f"cannot push {ref}: layer {l.digest} is not in the local store")
            emit(ProgressEvent(PREPARING, l.digest))

        async def one(l: Descriptor) -> None:
            if self._uploads.locked():
                emit(ProgressEvent(LAYER_WAITING, l.digest))
            async with self._uploads:
                await self.push_blob(ref, l, store.path(l.digest), mount_from=candidates(l.digest), progress=emit)

        await _gather(*(one(l) for l in layers))
        if not store.has(manifest.config.digest):
            raise NotFoundError(f"cannot push {ref}: config {manifest.config.digest} is not in the local store")
        # Docker shows no lines for the config blob.
        await self.push_blob(ref, manifest.config, store.path(manifest.config.digest))

    def _read_local(self, store: BlobStore, desc: Descriptor, what: str) -> bytes:
        if not store.has(desc.digest):
            raise NotFoundError(f"{what}: {desc.digest} is not in the local store")
        with open(store.path(desc.digest), "rb") as f:
            raw = f.read(MAX_MANIFEST_SIZE + 1)
        if len(raw) > MAX_MANIFEST_SIZE:
            raise ManifestUnsupportedError(f"manifest too large: {what} exceeds {MAX_MANIFEST_SIZE} bytes")
        self._verify_bytes(raw, desc, what)
        return raw


def login_host(server: str) -> str:
    """The API host for a ``docker login`` server address (``https://index.docker.io/v1/`` → Hub's host)."""
    host = server.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    if host in ("", "docker.io", "index.docker.io"):
        return DOCKER_HUB_API_HOST
    return host


def _candidates_fn(spec: Callable[[str], Iterable[str]] | Mapping[str, Iterable[str]] | None,
                   ref: Reference) -> Callable[[str], list[str]]:
    """Mount sources as repository paths on ``ref``'s registry (full names elsewhere are dropped)."""
    if spec is None:
        return lambda digest: []
    lookup = spec.get if isinstance(spec, Mapping) else spec

    def paths(digest: str) -> list[str]:
        out = []
        for item in lookup(digest) or ():
            first = item.split("/", 1)[0]
            if "/" in item and (any(c in first for c in ".:") or first == "localhost"):
                try:
                    r = parse_reference(item, default_tag=False)
                except InvalidReferenceError:
                    continue
                if r.domain == ref.domain:
                    out.append(r.path)
            else:  # a bare repository path on this registry
                out.append(item.split("@", 1)[0].split(":", 1)[0])
        return [p for p in dict.fromkeys(out) if p != ref.path]

    return paths


async def _gather(*aws: Any) -> list[Any]:
    """gather that cancels the siblings when one fails (a failed layer stops the pull/push)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# One download per ingest path at a time, across clients of this process (containerd locks ingest refs).
_INGEST_LOCKS: "weakref.WeakValueDictionary[str, asyncio.Lock]" = weakref.WeakValueDictionary()


def _ingest_lock(path: str) -> asyncio.Lock:
    key = os.path.abspath(path)
    lock = _INGEST_LOCKS.get(key)
    if lock is None:
        lock = _INGEST_LOCKS[key] = asyncio.Lock()
    return lock


class _Throttle:
    """When to report progress: every ``every`` bytes but at most once per ``interval`` seconds; the end always."""

    def __init__(self, every: int, interval: float, start: int) -> None:
        self.every, self.interval = every, interval
        self.last_bytes, self.next_time = start, 0.0

    def due(self, offset: int, total: int) -> bool:
        if offset == total:
            return True
        if offset < self.last_bytes + self.every:
            return False
        now = time.monotonic()
        if now < self.next_time:
            return False
        self.last_bytes, self.next_time = offset, now + self.interval
        return True


def _write_all(f: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[f.write(view):]


def _sync_close(f: Any) -> None:
    try:
        os.fsync(f.fileno())
    finally:
        f.close()


def _hash_file(path: str, hasher: Any) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + PARTIAL_SUFFIX
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
