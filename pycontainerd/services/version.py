"""Version servicer."""
from __future__ import annotations

from typing import Any

import grpc

from protos.containerd.services.version.v1 import version_pb2, version_pb2_grpc

from .common import rpc


# A containerd-style version (clients compare major.minor), marked as ours.
VERSION = "1.7.0-pycontainerd"
REVISION = "pycontainerd"


class VersionService(version_pb2_grpc.VersionServicer):
    @rpc
    async def Version(self, request: Any, context: grpc.aio.ServicerContext) -> version_pb2.VersionResponse:
        return version_pb2.VersionResponse(version=VERSION, revision=REVISION)
