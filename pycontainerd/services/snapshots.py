"""Snapshots servicer: every loaded snapshotter (overlayfs, native) by name; an empty name is the default one.

Usage answers in containerd's sense (allocated blocks of what the snapshot holds) unless the call carries
the metadata `pycontainerd-usage-rule: diffsize`: then `size` is Docker's (overlay2's DiffSize, moby's
pkg/directory.Size: file lengths and symlink target lengths, a hard link once, directories nothing), the
number `docker ps -s` shows as a container's SIZE. A request field would have changed containerd's message;
a header leaves the message as it is, and a real containerd, which ignores it, answers with its own rule.
"""
from __future__ import annotations

import asyncio
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import snapshot_pb2 as snapshot_events
from protos.containerd.services.snapshots.v1 import snapshots_pb2, snapshots_pb2_grpc

from .. import filters
from ..snapshots import Snapshotter, base
from .common import hold, mounts_to_pb, namespace, rpc, ts

USAGE_RULE_HEADER = "pycontainerd-usage-rule"


_KINDS = {base.KIND_VIEW: snapshots_pb2.VIEW, base.KIND_ACTIVE: snapshots_pb2.ACTIVE,
          base.KIND_COMMITTED: snapshots_pb2.COMMITTED}


def snap_info_pb(i: base.Info) -> snapshots_pb2.Info:
    return snapshots_pb2.Info(name=i.name, parent=i.parent, kind=_KINDS[i.kind], created_at=ts(i.created_at),
                              updated_at=ts(i.updated_at), labels=i.labels)


class SnapshotsService(snapshots_pb2_grpc.SnapshotsServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    def _sn(self, name: str) -> Snapshotter:
        return self.d.snapshotter_named(name)

    @rpc
    async def Prepare(self, request: snapshots_pb2.PrepareSnapshotRequest,
                      context: grpc.aio.ServicerContext) -> snapshots_pb2.PrepareSnapshotResponse:
        ns = namespace(context)
        sn = self._sn(request.snapshotter)
        # a copy for native snapshots: off the loop
        mounts = await asyncio.to_thread(sn.prepare, ns, request.key, request.parent, dict(request.labels))
        hold(self.d, context, ns, request.key, f"snapshots/{sn.name}")
        self.d.events.publish(ns, "/snapshot/prepare", snapshot_events.SnapshotPrepare(
            key=request.key, parent=request.parent, snapshotter=sn.name))
        return snapshots_pb2.PrepareSnapshotResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def View(self, request: snapshots_pb2.ViewSnapshotRequest,
                   context: grpc.aio.ServicerContext) -> snapshots_pb2.ViewSnapshotResponse:
        ns = namespace(context)
        sn = self._sn(request.snapshotter)
        mounts = await asyncio.to_thread(sn.view, ns, request.key, request.parent, dict(request.labels))
        hold(self.d, context, ns, request.key, f"snapshots/{sn.name}")
        return snapshots_pb2.ViewSnapshotResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def Mounts(self, request: snapshots_pb2.MountsRequest,
                     context: grpc.aio.ServicerContext) -> snapshots_pb2.MountsResponse:
        mounts = self._sn(request.snapshotter).mounts(namespace(context), request.key)
        return snapshots_pb2.MountsResponse(mounts=mounts_to_pb(mounts))

    @rpc
    async def Commit(self, request: snapshots_pb2.CommitSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        sn = self._sn(request.snapshotter)
        await asyncio.to_thread(sn.commit, ns, request.name, request.key, dict(request.labels))
        hold(self.d, context, ns, request.name, f"snapshots/{sn.name}")
        self.d.events.publish(ns, "/snapshot/commit", snapshot_events.SnapshotCommit(
            key=request.key, name=request.name, snapshotter=sn.name))
        return empty_pb2.Empty()

    @rpc
    async def Remove(self, request: snapshots_pb2.RemoveSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        sn = self._sn(request.snapshotter)
        await asyncio.to_thread(sn.remove, ns, request.key)
        self.d.events.publish(ns, "/snapshot/remove", snapshot_events.SnapshotRemove(
            key=request.key, snapshotter=sn.name))
        return empty_pb2.Empty()

    @rpc
    async def Stat(self, request: snapshots_pb2.StatSnapshotRequest,
                   context: grpc.aio.ServicerContext) -> snapshots_pb2.StatSnapshotResponse:
        info = self._sn(request.snapshotter).stat(namespace(context), request.key)
        return snapshots_pb2.StatSnapshotResponse(info=snap_info_pb(info))

    @rpc
    async def Update(self, request: snapshots_pb2.UpdateSnapshotRequest,
                     context: grpc.aio.ServicerContext) -> snapshots_pb2.UpdateSnapshotResponse:
        info = self._sn(request.snapshotter).update(namespace(context), request.info.name, dict(request.info.labels),
                                                    list(request.update_mask.paths))
        return snapshots_pb2.UpdateSnapshotResponse(info=snap_info_pb(info))

    @rpc
    async def List(self, request: snapshots_pb2.ListSnapshotsRequest, context: grpc.aio.ServicerContext):
        parsed = filters.parse(request.filters)
        out = [snap_info_pb(i) for i in self._sn(request.snapshotter).list(namespace(context))
               if filters.match(parsed, filters.dict_adaptor({"name": i.name, "parent": i.parent, "kind": i.kind,
                                                              "labels": i.labels}))]
        for start in range(0, len(out), 100):
            yield snapshots_pb2.ListSnapshotsResponse(info=out[start:start + 100])

    @rpc
    async def Usage(self, request: snapshots_pb2.UsageRequest,
                    context: grpc.aio.ServicerContext) -> snapshots_pb2.UsageResponse:
        rule = next((v for k, v in context.invocation_metadata() or () if k == USAGE_RULE_HEADER), "")
        size, inodes = await asyncio.to_thread(self._sn(request.snapshotter).usage, namespace(context), request.key,
                                               rule)
        return snapshots_pb2.UsageResponse(size=size, inodes=inodes)

    @rpc
    async def Cleanup(self, request: snapshots_pb2.CleanupRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        await asyncio.to_thread(self._sn(request.snapshotter).cleanup)
        return empty_pb2.Empty()
