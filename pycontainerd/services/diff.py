"""Diff servicer: Apply a layer onto mounts, Diff a snapshot into a layer."""
from __future__ import annotations

import asyncio
import os
from typing import Any

import grpc

from protos.containerd.services.diff.v1 import diff_pb2, diff_pb2_grpc

from .. import diff
from ..errdefs import NotImplementedErr
from ..images import Descriptor
from .common import desc_to_pb, mounts_from_pb, namespace, rpc


class DiffService(diff_pb2_grpc.DiffServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Apply(self, request: diff_pb2.ApplyRequest, context: grpc.aio.ServicerContext) -> diff_pb2.ApplyResponse:
        ns = namespace(context)
        self.d.content.info(ns, request.diff.digest)
        applied = await asyncio.to_thread(diff.apply_to_mounts, self.d.content.blob_path(request.diff.digest),
                                          request.diff.media_type, mounts_from_pb(request.mounts), self.d.tmp_dir)
        return diff_pb2.ApplyResponse(applied=desc_to_pb(Descriptor(
            diff.uncompressed_media_type(request.diff.media_type), applied.diff_id, applied.size)))

    @rpc
    async def Diff(self, request: diff_pb2.DiffRequest, context: grpc.aio.ServicerContext) -> diff_pb2.DiffResponse:
        ns = namespace(context)
        media_type = request.media_type or "application/vnd.oci.image.layer.v1.tar+gzip"
        if media_type not in diff.LAYER_TYPES:
            raise NotImplementedErr(f"unsupported diff media type: {media_type}")
        compress = media_type.endswith("gzip")
        computed = await asyncio.to_thread(diff.compute_overlay_diff, mounts_from_pb(request.left),
                                           mounts_from_pb(request.right), self.d.tmp_dir, compress)
        try:
            labels = dict(request.labels)
            labels["containerd.io/uncompressed"] = computed.diff_id
            size = os.path.getsize(computed.path)
            digest = await asyncio.to_thread(self.d.content.add_file, ns, computed.path, None, labels, True)
        finally:
            if os.path.exists(computed.path):
                os.unlink(computed.path)
        return diff_pb2.DiffResponse(diff=desc_to_pb(Descriptor(media_type, digest, size)))
