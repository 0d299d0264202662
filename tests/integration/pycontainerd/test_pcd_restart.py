"""A restarted pycontainerd reconnects to the shims that kept its tasks running."""
from __future__ import annotations

import os
import signal
import time

import grpc
import pytest

from protos.containerd.services.tasks.v1 import tasks_pb2
from protos.containerd.types.task import task_pb2


def test_restarted_daemon_reconnects_to_shims(tasks, daemon, busybox):
    t = tasks("runc", ["sleep", "100"])
    pid = t.start()
    daemon.stop()
    assert os.path.exists(f"/proc/{pid}")  # the shim kept the container alive without the daemon
    daemon.start()
    busybox.channel = daemon.channel  # the module's client follows the new daemon
    busybox.__post_init__()
    listed = {x.id: x for x in t.c.tasks.List(tasks_pb2.ListTasksRequest(), metadata=t.md).tasks}
    assert listed[t.id].status == task_pb2.RUNNING and listed[t.id].pid == pid
    fut = t.wait_future()
    t.c.tasks.Kill(tasks_pb2.KillRequest(container_id=t.id, signal=signal.SIGKILL), metadata=t.md)
    assert fut.result().exit_status == 137


@pytest.mark.parametrize("runtime", ["runc", "pyrunc"])
def test_dead_shim_is_cleaned_up_on_delete(tasks, daemon, runtime):
    t = tasks(runtime, ["sleep", "100"])
    pid = t.start()
    bundle = daemon.state / "io.containerd.runtime.v2.task" / t.c.ns / t.id
    fut = t.wait_future()
    os.kill(int((bundle / "shim.pid").read_text()), signal.SIGKILL)
    with pytest.raises(grpc.RpcError) as e:
        fut.result()
    assert e.value.code() == grpc.StatusCode.UNKNOWN
    assert e.value.details() == "ttrpc: closed" or e.value.details().startswith("connect to shim")
    r = t.delete()
    assert r.exit_status == 255
    assert not bundle.exists()
    for _ in range(100):  # runc delete --force killed the orphaned init
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"container init {pid} survived")
