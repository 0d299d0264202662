"""Importer servicer (pycontainerd.services.importer.v1): a streamed tar becomes content, snapshots, images."""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

import grpc

from protos.pycontainerd.services.importer.v1 import importer_pb2, importer_pb2_grpc

from ..errdefs import InvalidArgument
from ..importer import Importer
from .common import LineQueue, namespace, rpc
from .images import image_pb


class ImporterService(importer_pb2_grpc.ImporterServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Import(self, request_iterator: Any, context: grpc.aio.ServicerContext):
        ns = namespace(context)
        os.makedirs(self.d.tmp_dir, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="import-", dir=self.d.tmp_dir)
        opts = importer_pb2.ImportRequest()
        first = True
        try:
            with os.fdopen(fd, "wb") as spool:
                async for req in request_iterator:
                    if first:
                        opts = req
                        first = False
                    if req.data:
                        spool.write(req.data)
            fmt = opts.format or "archive"
            if fmt not in ("archive", "rootfs"):
                raise InvalidArgument(f"unknown import format {fmt!r}: want \"archive\" or \"rootfs\"", raw=True)
            sn = self.d.snapshotter_named(opts.snapshotter)
            # One queue keeps result lines and JSON progress in the order they happened.
            queue = LineQueue()
            importer: Importer = self.d.importer

            def line(text: str) -> None:
                queue.put(importer_pb2.ImportResponse(status=text))

            def message(msg: dict) -> None:
                queue.put(importer_pb2.ImportResponse(json=json.dumps(msg).encode()))

            def work() -> list:
                if fmt == "rootfs":
                    try:
                        cfg = json.loads(opts.config) if opts.config else None
                    except ValueError as exc:
                        raise InvalidArgument(f"invalid image config: {exc}", raw=True) from None
                    if cfg is not None and not isinstance(cfg, dict):
                        raise InvalidArgument("invalid image config: not a JSON object", raw=True)
                    return importer.import_rootfs(ns, path, opts.ref, cfg, line, sn=sn)[0]
                return importer.import_archive(ns, path, line, None if opts.quiet else message, sn=sn)

            job = asyncio.ensure_future(asyncio.to_thread(work))
            async for resp in queue.drain_while(job):
                yield resp
            images = job.result()
            yield importer_pb2.ImportResponse(images=[image_pb(i) for i in images])
        finally:
            if os.path.exists(path):
                os.unlink(path)
