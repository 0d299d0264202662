"""Tasks servicer: container processes through the task manager and its shims."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import grpc
from google.protobuf import empty_pb2

from protos.containerd.events import task_pb2 as task_events
from protos.containerd.services.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from protos.containerd.types import metrics_pb2
from protos.containerd.types.task import task_pb2

from .. import cgroupstats, filters, identifiers
from ..containers import AnyValue
from ..errdefs import InvalidArgument, NotFound, NotImplementedErr
from ..tasks import Task
from .common import mounts_from_pb, namespace, rpc, ts

_STATUS = {"created": task_pb2.CREATED, "running": task_pb2.RUNNING, "stopped": task_pb2.STOPPED,
           "paused": task_pb2.PAUSED}


def process_pb(cid: str, p: dict[str, Any]) -> task_pb2.Process:
    return task_pb2.Process(container_id=cid, id=p["id"] or cid, pid=p["pid"],
                            status=_STATUS.get(p["status"], task_pb2.UNKNOWN), stdin=p["stdin"],
                            stdout=p["stdout"], stderr=p["stderr"], terminal=p["terminal"],
                            exit_status=p["exit_status"], exited_at=ts(p["exited_at"]))


def _json_any(a: Any, what: str) -> dict[str, Any]:
    try:
        return json.loads(a.value) if a.value else {}
    except ValueError as exc:
        raise InvalidArgument(f"{what} is not JSON: {exc}", raw=True) from None


class TasksService(tasks_pb2_grpc.TasksServicer):
    def __init__(self, daemon: Any) -> None:
        self.d = daemon

    @property
    def tm(self):  # type: ignore[no-untyped-def]
        return self.d.tasks

    async def _state(self, t: Task, exec_id: str = "") -> dict[str, Any]:
        return (await t.shim.call("state", exec_id=exec_id))["process"]

    @rpc
    async def Create(self, request: tasks_pb2.CreateTaskRequest,
                     context: grpc.aio.ServicerContext) -> tasks_pb2.CreateTaskResponse:
        ns = namespace(context)
        if request.checkpoint.digest:
            raise NotImplementedErr("checkpoint restore is not supported")
        t = await self.tm.create(ns, request.container_id, mounts_from_pb(request.rootfs), request.stdin,
                                 request.stdout, request.stderr, request.terminal, request.runtime_path,
                                 AnyValue(request.options.type_url, request.options.value)
                                 if request.options.type_url else None)
        ev = task_events.TaskCreate(container_id=t.id, bundle=t.bundle, rootfs=request.rootfs, pid=t.pid)
        ev.io.CopyFrom(task_events.TaskIO(stdin=request.stdin, stdout=request.stdout, stderr=request.stderr,
                                          terminal=request.terminal))
        self.d.events.publish(ns, "/tasks/create", ev)
        return tasks_pb2.CreateTaskResponse(container_id=t.id, pid=t.pid)

    @rpc
    async def Start(self, request: tasks_pb2.StartRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.StartResponse:
        ns = namespace(context)
        pid = await self.tm.start(ns, request.container_id, request.exec_id)
        if request.exec_id:
            self.d.events.publish(ns, "/tasks/exec-started", task_events.TaskExecStarted(
                container_id=request.container_id, exec_id=request.exec_id, pid=pid))
        else:
            self.d.events.publish(ns, "/tasks/start", task_events.TaskStart(container_id=request.container_id, pid=pid))
        return tasks_pb2.StartResponse(pid=pid)

    @rpc
    async def Delete(self, request: tasks_pb2.DeleteTaskRequest,
                     context: grpc.aio.ServicerContext) -> tasks_pb2.DeleteResponse:
        ns = namespace(context)
        r = await self.tm.delete(ns, request.container_id)
        self.d.events.publish(ns, "/tasks/delete", task_events.TaskDelete(
            container_id=request.container_id, pid=r["pid"], exit_status=r["exit_status"],
            exited_at=ts(r["exited_at"]), id=request.container_id))
        return tasks_pb2.DeleteResponse(id=request.container_id, pid=r["pid"], exit_status=r["exit_status"],
                                        exited_at=ts(r["exited_at"]))

    @rpc
    async def DeleteProcess(self, request: tasks_pb2.DeleteProcessRequest,
                            context: grpc.aio.ServicerContext) -> tasks_pb2.DeleteResponse:
        ns = namespace(context)
        if not request.exec_id:
            raise InvalidArgument("exec id must be set to delete a process")
        r = await self.tm.delete_process(ns, request.container_id, request.exec_id)
        self.d.events.publish(ns, "/tasks/delete", task_events.TaskDelete(
            container_id=request.container_id, pid=r["pid"], exit_status=r["exit_status"],
            exited_at=ts(r["exited_at"]), id=request.exec_id))
        return tasks_pb2.DeleteResponse(id=request.exec_id, pid=r["pid"], exit_status=r["exit_status"],
                                        exited_at=ts(r["exited_at"]))

    @rpc
    async def Get(self, request: tasks_pb2.GetRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.GetResponse:
        t = self.tm.get(namespace(context), request.container_id)
        p = await self._state(t, request.exec_id)
        return tasks_pb2.GetResponse(process=process_pb(t.id, p))

    @rpc
    async def List(self, request: tasks_pb2.ListTasksRequest,
                   context: grpc.aio.ServicerContext) -> tasks_pb2.ListTasksResponse:
        out = []
        for t in self.tm.list(namespace(context)):
            try:
                out.append(process_pb(t.id, await self._state(t)))
            except Exception:  # a dead shim: list the task as unknown, like containerd
                out.append(task_pb2.Process(container_id=t.id, id=t.id, pid=t.pid, status=task_pb2.UNKNOWN))
        return tasks_pb2.ListTasksResponse(tasks=out)

    @rpc
    async def Kill(self, request: tasks_pb2.KillRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        t = self.tm.get(namespace(context), request.container_id)
        await t.shim.call("kill", exec_id=request.exec_id, signal=request.signal, all=request.all)
        return empty_pb2.Empty()

    @rpc
    async def Exec(self, request: tasks_pb2.ExecProcessRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        # exec ids name files in the bundle: containerd validates them as identifiers too
        identifiers.validate(request.exec_id)
        spec = _json_any(request.spec, "process spec")
        await self.tm.exec(ns, request.container_id, request.exec_id, spec, request.stdin, request.stdout,
                           request.stderr, request.terminal)
        self.d.events.publish(ns, "/tasks/exec-added", task_events.TaskExecAdded(
            container_id=request.container_id, exec_id=request.exec_id))
        return empty_pb2.Empty()

    @rpc
    async def ResizePty(self, request: tasks_pb2.ResizePtyRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        t = self.tm.get(namespace(context), request.container_id)
        await t.shim.call("resize", exec_id=request.exec_id, width=request.width, height=request.height)
        return empty_pb2.Empty()

    @rpc
    async def CloseIO(self, request: tasks_pb2.CloseIORequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        t = self.tm.get(namespace(context), request.container_id)
        if request.stdin:
            await t.shim.call("closeio", exec_id=request.exec_id)
        return empty_pb2.Empty()

    @rpc
    async def Pause(self, request: tasks_pb2.PauseTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        await self.tm.get(ns, request.container_id).shim.call("pause")
        self.d.events.publish(ns, "/tasks/paused", task_events.TaskPaused(container_id=request.container_id))
        return empty_pb2.Empty()

    @rpc
    async def Resume(self, request: tasks_pb2.ResumeTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        ns = namespace(context)
        await self.tm.get(ns, request.container_id).shim.call("resume")
        self.d.events.publish(ns, "/tasks/resumed", task_events.TaskResumed(container_id=request.container_id))
        return empty_pb2.Empty()

    @rpc
    async def ListPids(self, request: tasks_pb2.ListPidsRequest,
                       context: grpc.aio.ServicerContext) -> tasks_pb2.ListPidsResponse:
        t = self.tm.get(namespace(context), request.container_id)
        r = await t.shim.call("pids")
        return tasks_pb2.ListPidsResponse(processes=[task_pb2.ProcessInfo(pid=p["pid"]) for p in r["pids"]])

    @rpc
    async def Update(self, request: tasks_pb2.UpdateTaskRequest, context: grpc.aio.ServicerContext) -> empty_pb2.Empty:
        t = self.tm.get(namespace(context), request.container_id)
        await t.shim.call("update", resources=_json_any(request.resources, "resources"))
        return empty_pb2.Empty()

    @rpc
    async def Wait(self, request: tasks_pb2.WaitRequest, context: grpc.aio.ServicerContext) -> tasks_pb2.WaitResponse:
        t = self.tm.get(namespace(context), request.container_id)
        r = await t.shim.call("wait", exec_id=request.exec_id)
        return tasks_pb2.WaitResponse(exit_status=r["exit_status"], exited_at=ts(r["exited_at"]))

    @rpc
    async def Checkpoint(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise NotImplementedErr("checkpoint is not supported")

    @rpc
    async def Metrics(self, request: tasks_pb2.MetricsRequest,
                      context: grpc.aio.ServicerContext) -> tasks_pb2.MetricsResponse:
        ns = namespace(context)
        parsed = filters.parse(request.filters)
        out = []
        for t in self.tm.list(ns):
            c = self.d.containers.get(ns, t.id)
            if not filters.match(parsed, filters.dict_adaptor({"id": t.id, "image": c.image, "labels": c.labels})):
                continue
            try:  # v1 or v2 Metrics, by the cgroup mode the task is in
                data = await asyncio.to_thread(cgroupstats.metrics_any, t.pid)
            except NotFound:
                continue  # the task's init is gone
            out.append(metrics_pb2.Metric(timestamp=ts(time.time()), id=t.id, data=data))
        return tasks_pb2.MetricsResponse(metrics=out)
