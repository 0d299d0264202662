"""Registry servicer (pycontainerd.services.registry.v1): pull and push with pycontainerd/registry.

Pull downloads into the content store (verified), unpacks the layers into overlayfs snapshots and
writes the image record; every step is reported as Docker's JSON progress messages, which the
caller relays verbatim. Errors before or during the transfer end the stream with a gRPC status.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
from typing import Any, Awaitable, Callable

import grpc

from protos.pycontainerd.services.registry.v1 import registry_pb2, registry_pb2_grpc

from .. import heap
from ..errdefs import ContainerdError, FailedPrecondition, InvalidArgument, NotFound, Unavailable, Unknown
from ..images import Descriptor, Image, ResolvedImage
from ..unpack import unpack
from .common import LineQueue, namespace, rpc
from .images import image_pb


class Unauthenticated(ContainerdError):
    kind = "unauthorized"
    code = "UNAUTHENTICATED"


def _translate(exc: Exception) -> ContainerdError:
    """Registry errors → gRPC codes; the message is the registry package's own text."""
    from .. import registry as reg
    msg = str(exc)
    if isinstance(exc, reg.InvalidReferenceError):
        return InvalidArgument(msg, raw=True)
    if isinstance(exc, reg.UnauthorizedError):
        if msg == "no basic auth credentials":
            # moby: a plain error (500), so the CLI shows it instead of prompting for a login
            return Unknown(msg, raw=True)
        return Unauthenticated(msg, raw=True)
    if isinstance(exc, (reg.NotFoundError, reg.NoMatchingPlatformError)):
        return NotFound(msg, raw=True)
    if isinstance(exc, reg.RegistryUnavailableError):
        return Unavailable(msg, raw=True)
    if isinstance(exc, (reg.ManifestUnsupportedError, reg.VerificationError, reg.RegistryProtocolError)):
        return FailedPrecondition(msg, raw=True)
    return Unknown(msg, raw=True)


def _desc(d: Any) -> Descriptor:
    return Descriptor(d.media_type, d.digest, d.size, dict(d.annotations or {}))


def _resolved(result: Any) -> ResolvedImage:
    """The image to unpack from a registry PullResult (or the plan of one)."""
    return ResolvedImage(_desc(result.manifest), _desc(result.config), [_desc(layer) for layer in result.layers],
                         list(result.diff_ids), result.config_json)


class RegistryService(registry_pb2_grpc.RegistryServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    async def _stream(self, work: Callable[[Callable[[dict], None]], Awaitable[list[Image]]]):
        """Run `work(emit)` and yield its messages as they come, then the final message."""
        lines = LineQueue()

        def emit(msg: dict) -> None:  # callable from the loop or from worker threads
            lines.put(json.dumps(msg).encode())

        job = asyncio.ensure_future(work(emit))
        try:
            async for data in lines.drain_while(job):
                yield registry_pb2.ProgressMessage(json=data)
            try:
                images = job.result()
            except ContainerdError:
                raise
            except Exception as exc:
                from .. import registry as reg
                if isinstance(exc, reg.RegistryError):
                    raise _translate(exc) from None
                raise
            yield registry_pb2.ProgressMessage(images=[image_pb(i) for i in images])
        finally:
            if not job.done():
                job.cancel()

    @rpc
    async def Pull(self, request: registry_pb2.PullRequest, context: grpc.aio.ServicerContext):
        from .. import registry as reg
        from ..registry.contentstore import ContentStoreBlobs
        ns = namespace(context)
        ref, creds = _ref_and_credentials(request)

        async def work(emit: Callable[[dict], None]) -> list[Image]:
            progress = reg.PullProgress(emit, repository_path=ref.path, tag_or_digest=ref.tag or ref.digest,
                                        familiar_ref=ref.familiar_string())
            unpacking: list[asyncio.Future] = []
            feeds: list[Any] = []

            def extracted(layer: Descriptor) -> None:
                progress.extracting(layer.digest, layer.size, layer.size)
                progress.pull_complete(layer.digest)

            def on_layers(plan: Any, feed: Any) -> None:
                # Unpack beside the downloads: each layer is extracted as its bytes arrive (in order, as
                # every layer's snapshot sits on its parent's) while the next ones keep downloading.
                feeds.append(feed)

                def source(layer: Descriptor):
                    tail = feed.get(layer.digest)
                    return tail.reader() if tail is not None else open(self.d.content.blob_path(layer.digest), "rb")

                job = asyncio.get_running_loop().run_in_executor(_unpack_pool(), functools.partial(
                    unpack, self.d.content, self.d.snapshotter, ns, _resolved(plan), self.d.tmp_dir,
                    lambda line: None, extracted, source=source))
                # A layer that cannot be applied ends the pull now; what downloaded so far stays (verified
                # blobs, partial files to resume from).
                job.add_done_callback(lambda j: j.cancelled() or j.exception() is None or pulling.cancel())
                unpacking.append(job)

            async def pull() -> Any:
                async with reg.RegistryClient(creds, insecure_registries=list(request.insecure_registries)) as rc:
                    return await rc.pull(ref, ContentStoreBlobs(self.d.content, ns),
                                         platform=request.platform or None, progress=progress, on_layers=on_layers)

            pulling = asyncio.ensure_future(pull())
            try:
                try:
                    result = await pulling
                except asyncio.CancelledError:
                    if unpacking and unpacking[0].done() and not unpacking[0].cancelled() and unpacking[0].exception():
                        raise unpacking[0].exception() from None
                    raise
                # the client hands the layers over (on_layers) before any download, so this is set
                await asyncio.shield(unpacking[0])
            finally:
                # Never leave a thread writing a snapshot: after a failed pull its reader raised the pull's
                # error and the unpacker removed the snapshot it was filling.
                if not pulling.done():
                    pulling.cancel()
                    await asyncio.wait([pulling])
                if unpacking:
                    await asyncio.wait(unpacking)
                    if not unpacking[0].cancelled():
                        unpacking[0].exception()  # retrieved: the pull's own error is the one reported
                for f in feeds:
                    f.close()
                await asyncio.to_thread(heap.trim)
            target = _desc(result.target)
            try:
                before = self.d.images.get(ns, str(ref)).target.digest
            except NotFound:
                before = ""
            from ..importer import put_keeping_dangling
            img = put_keeping_dangling(self.d.images, ns, Image(str(ref), target))
            progress.done(target.digest, updated=before != target.digest or bool(result.fetched))
            return [img]

        async for msg in self._stream(work):
            yield msg

    @rpc
    async def Push(self, request: registry_pb2.PushRequest, context: grpc.aio.ServicerContext):
        from .. import registry as reg
        from ..registry.contentstore import ContentStoreBlobs
        ns = namespace(context)
        ref, creds = _ref_and_credentials(request)
        img = self.d.images.get(ns, str(ref))

        async def work(emit: Callable[[dict], None]) -> list[Image]:
            progress = reg.PushProgress(emit, repository_name=ref.name, tag=ref.tag or "latest")
            blobs = ContentStoreBlobs(self.d.content, ns)
            target = reg.Descriptor(img.target.media_type, img.target.digest, img.target.size)
            async with reg.RegistryClient(creds, insecure_registries=list(request.insecure_registries)) as rc:
                await rc.push(ref, target, blobs, mount_candidates=blobs.mount_candidates(ref), progress=progress)
            return []

        async for msg in self._stream(work):
            yield msg


    @rpc
    async def Login(self, request: registry_pb2.LoginRequest, context: grpc.aio.ServicerContext):
        """`docker login`: GET /v2/ with the credentials (Basic, or the Bearer token flow); 401 → UNAUTHENTICATED."""
        from .. import registry as reg
        creds = reg.static_credentials(reg.AuthConfig(username=request.username, password=request.password,
                                                      serveraddress=request.server))
        try:
            async with reg.RegistryClient(creds, insecure_registries=list(request.insecure_registries)) as rc:
                host = await rc.login(request.server)
        except reg.UnauthorizedError:
            from ..registry.client import login_host
            from ..registry.hosts import is_insecure, is_loopback
            host = login_host(request.server)
            insecure = is_loopback(host) or is_insecure(host, request.insecure_registries)
            scheme = "http" if insecure else "https"
            # moby registry.loginV2's text; the CLI shows it after "Error response from daemon: "
            raise Unauthenticated(f"login attempt to {scheme}://{host}/v2/ failed with status: 401 Unauthorized",
                                  raw=True) from None
        except reg.RegistryError as exc:
            raise _translate(exc) from None
        return registry_pb2.LoginResponse(status="Login Succeeded", server=host)


_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _unpack_pool() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that unpack pulled layers (one per concurrent pull; an idle one is reused first). Not
    asyncio's default executor: glibc gives every thread that allocates large buffers its own arena and
    keeps it, and spread over all of that executor's threads pulls grew the daemon's RSS by ~20 MB."""
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="pull-unpack")
    return _POOL


def _ref_and_credentials(request):
    """The parsed reference and the credentials of a Pull or Push request (X-Registry-Auth form)."""
    from .. import registry as reg
    try:
        ref = reg.parse_reference(request.ref)
        creds = reg.static_credentials(reg.decode_registry_auth_header(request.auth)) if request.auth else None
    except reg.RegistryError as exc:
        raise _translate(exc) from None
    return ref, creds
