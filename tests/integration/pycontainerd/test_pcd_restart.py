"""A restarted pycontainerd reconnects to the shims that kept its tasks running."""
from __future__ import annotations

import os
import signal

from protos.containerd.services.tasks.v1 import tasks_pb2
from protos.containerd.types.task import task_pb2


def test_restarted_daemon_reconnects_to_shims(tasks, daemon):
    t = tasks("runc", ["sleep", "100"])
    pid = t.start()
    daemon.stop()
    assert os.path.exists(f"/proc/{pid}")  # the shim kept the container alive without the daemon
    daemon.start()
    t.c = daemon.stubs(t.c.ns)
    listed = {x.id: x for x in t.c.tasks.List(tasks_pb2.ListTasksRequest(), metadata=t.md).tasks}
    assert listed[t.id].status == task_pb2.RUNNING and listed[t.id].pid == pid
    fut = t.wait_future()
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert fut.result().exit_status == 137
