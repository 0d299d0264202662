"""Helpers shared by the servicers: namespace metadata, error mapping, timestamps, descriptors."""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from typing import Any, Callable

import grpc
from google.protobuf import timestamp_pb2

from protos.containerd.types import descriptor_pb2, mount_pb2

from .. import identifiers
from ..errdefs import ContainerdError, FailedPrecondition, NotFound
from ..images import Descriptor
from ..mount import Mount

log = logging.getLogger("pycontainerd")
NAMESPACE_HEADER = "containerd-namespace"
LEASE_HEADER = "containerd-lease"


def namespace(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == NAMESPACE_HEADER and value:
            identifiers.validate(value)
            return value
    raise FailedPrecondition("namespace is required")


def lease(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == LEASE_HEADER:
            return value
    return ""


def hold(daemon: Any, context: grpc.aio.ServicerContext, ns: str, rid: str, rtype: str) -> None:
    """Add what a call created to the lease named by its `containerd-lease` header, as containerd does,
    so garbage collection keeps it until the client deletes the lease."""
    lid = lease(context)
    if lid:
        try:
            daemon.leases.add_resource(ns, lid, rid, rtype)
        except NotFound:
            # The resource exists already; failing now would leave it behind unreported.
            log.warning("lease %s in namespace %s does not exist; %s %s is not held", lid, ns, rtype, rid)


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, name: str) -> None:
    if isinstance(exc, ContainerdError):
        await context.abort(getattr(grpc.StatusCode, exc.code), exc.message)
    log.exception("%s failed", name)
    await context.abort(grpc.StatusCode.UNKNOWN, str(exc))


def rpc(fn: Callable) -> Callable:
    """Map ContainerdError (and unexpected exceptions) to gRPC status codes, for unary and streams."""
    if inspect.isasyncgenfunction(fn):
        @functools.wraps(fn)
        async def gen(self: Any, request: Any, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
            try:
                async for item in fn(self, request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await _abort(context, exc, fn.__qualname__)
        return gen

    @functools.wraps(fn)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext):  # type: ignore[no-untyped-def]
        try:
            return await fn(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, fn.__qualname__)
    return unary


class LineQueue:
    """Progress lines from the loop or from worker threads, in order, for a streaming reply."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.q: asyncio.Queue = asyncio.Queue()
        self._loop_thread = threading.get_ident()

    def put(self, item: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self.q.put_nowait(item)  # at once: a job finishing right after must not outrun its lines
        else:
            self.loop.call_soon_threadsafe(self.q.put_nowait, item)

    async def drain_while(self, job: asyncio.Future):
        """Yield items until `job` is done and every item it queued was yielded."""
        while True:
            if not self.q.empty():
                yield self.q.get_nowait()
                continue
            if job.done():
                return
            getter = asyncio.ensure_future(self.q.get())
            await asyncio.wait({job, getter}, return_when=asyncio.FIRST_COMPLETED)
            if getter.done():
                yield getter.result()
            else:
                getter.cancel()  # an item it was woken for stays in the queue


def ts(seconds: float) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    if seconds:
        t.FromNanoseconds(int(seconds * 1e9))
    return t


def from_ts(t: timestamp_pb2.Timestamp) -> float:
    return t.ToNanoseconds() / 1e9 if (t.seconds or t.nanos) else 0.0


def desc_to_pb(d: Descriptor) -> descriptor_pb2.Descriptor:
    return descriptor_pb2.Descriptor(media_type=d.media_type, digest=d.digest, size=d.size,
                                     annotations=d.annotations)


def desc_from_pb(d: descriptor_pb2.Descriptor) -> Descriptor:
    return Descriptor(d.media_type, d.digest, d.size, dict(d.annotations))


def mounts_to_pb(mounts: list[Mount]) -> list[mount_pb2.Mount]:
    return [mount_pb2.Mount(type=m.type, source=m.source, target=m.target, options=m.options) for m in mounts]


def mounts_from_pb(mounts: Any) -> list[Mount]:
    return [Mount(m.type, m.source, m.target, list(m.options)) for m in mounts]
