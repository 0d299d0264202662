"""Images servicer."""
from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import image_pb2 as image_events
from protos.containerd.services.images.v1 import images_pb2, images_pb2_grpc

from .. import filters
from ..errdefs import NotFound
from ..images import Image
from .common import desc_from_pb, desc_to_pb, from_ts, namespace, rpc, ts


def image_pb(i: Image) -> images_pb2.Image:
    return images_pb2.Image(name=i.name, labels=i.labels, target=desc_to_pb(i.target), created_at=ts(i.created_at),
                            updated_at=ts(i.updated_at))


def image_from_pb(i: images_pb2.Image) -> Image:
    return Image(i.name, desc_from_pb(i.target), dict(i.labels), from_ts(i.created_at), from_ts(i.updated_at))


def adaptor(i: Image) -> filters.Adaptor:
    base = filters.dict_adaptor({"name": i.name, "labels": i.labels})

    def adapt(path: list[str]) -> str | None:
        if path and path[0] == "target" and len(path) == 2:
            return {"digest": i.target.digest, "mediatype": i.target.media_type}.get(path[1])
        return base(path)

    return adapt


class ImagesService(images_pb2_grpc.ImagesServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @rpc
    async def Get(self, request: images_pb2.GetImageRequest,
                  context: grpc.aio.ServicerContext) -> images_pb2.GetImageResponse:
        return images_pb2.GetImageResponse(image=image_pb(self.d.images.get(namespace(context), request.name)))

    @rpc
    async def List(self, request: images_pb2.ListImagesRequest,
                   context: grpc.aio.ServicerContext) -> images_pb2.ListImagesResponse:
        parsed = filters.parse(request.filters)
        out = [image_pb(i) for i in self.d.images.list(namespace(context)) if filters.match(parsed, adaptor(i))]
        return images_pb2.ListImagesResponse(images=out)

    @rpc
    async def Create(self, request: images_pb2.CreateImageRequest,
                     context: grpc.aio.ServicerContext) -> images_pb2.CreateImageResponse:
        ns = namespace(context)
        img = self.d.images.create(ns, image_from_pb(request.image))
        self.d.events.publish(ns, "/images/create", image_events.ImageCreate(name=img.name, labels=img.labels))
        return images_pb2.CreateImageResponse(image=image_pb(img))

    @rpc
    async def Update(self, request: images_pb2.UpdateImageRequest,
                     context: grpc.aio.ServicerContext) -> images_pb2.UpdateImageResponse:
        ns = namespace(context)
        img = self.d.images.update(ns, image_from_pb(request.image), list(request.update_mask.paths))
        self.d.events.publish(ns, "/images/update", image_events.ImageUpdate(name=img.name, labels=img.labels))
        return images_pb2.UpdateImageResponse(image=image_pb(img))

    @rpc
    async def Delete(self, request: images_pb2.DeleteImageRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        try:
            target = self.d.images.get(ns, request.name).target.digest
        except NotFound:
            target = ""
        self.d.images.delete(ns, request.name)
        self.d.events.publish(ns, "/images/delete", image_events.ImageDelete(name=request.name))
        if request.sync:
            # what only this image held goes now (docker rmi frees its layers), not after the grace period
            await self.d.gc(ns, frozenset([target]) if target else frozenset())
        else:
            self.d.gc_soon(ns)
        return empty_pb2.Empty()
