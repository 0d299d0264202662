"""cgroup v1 placement and resources, freezer (pause/resume), kill --all, update."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from pyrunc_helpers import find_cgroups, wait_for

V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")
pytestmark = pytest.mark.skipif(not V1, reason="these tests read cgroup v1 files")


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def start_sleeper(rt, cgroups_path=None, resources=None, cid=None):
    cid = cid or rt.new_id()
    b = rt.bundle(["sleep", "60"])

    def edit(s):
        if cgroups_path is not None:
            s["linux"]["cgroupsPath"] = cgroups_path
        if resources:
            s["linux"]["resources"].update(resources)
    rt.edit(b, edit)
    p = rt("run", "-d", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stderr
    return cid, rt.state(cid)["pid"]


def test_absolute_cgroups_path_and_resources(rt):
    name = f"pyrunc-cg-{uuid.uuid4().hex[:8]}"
    rt.ids.append(name)
    res = {"memory": {"limit": 64 << 20, "reservation": 32 << 20},
           "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"},
           "pids": {"limit": 42}}
    cid, pid = start_sleeper(rt, f"/{name}", res)
    cg = "/sys/fs/cgroup"
    assert read(f"{cg}/memory/{name}/memory.limit_in_bytes") == str(64 << 20)
    assert read(f"{cg}/memory/{name}/memory.soft_limit_in_bytes") == str(32 << 20)
    assert read(f"{cg}/cpu/{name}/cpu.shares") == "512"
    assert read(f"{cg}/cpu/{name}/cpu.cfs_quota_us") == "50000"
    assert read(f"{cg}/cpu/{name}/cpu.cfs_period_us") == "100000"
    assert read(f"{cg}/cpuset/{name}/cpuset.cpus") == "0"
    assert read(f"{cg}/pids/{name}/pids.max") == "42"
    # the init sits in every v1 controller's cgroup (the shim reads /proc/<pid>/cgroup)
    lines = read(f"/proc/{pid}/cgroup").splitlines()
    for ln in lines:
        hid, ctls, path = ln.split(":", 2)
        if ctls:
            assert path == f"/{name}", ln
    assert str(pid) in read(f"{cg}/memory/{name}/cgroup.procs").split()
    # the device cgroup: deny-all from the spec plus runc's always-allowed devices
    allowed = read(f"{cg}/devices/{name}/devices.list").splitlines()
    assert "c 1:3 rwm" in allowed and "a *:* rwm" not in allowed
    assert rt("delete", "--force", cid).returncode == 0
    assert find_cgroups(name) == []


def test_relative_cgroups_path_is_under_our_own(rt):
    name = f"pyrunc-rel-{uuid.uuid4().hex[:8]}"
    rt.ids.append(name)
    cid, pid = start_sleeper(rt, name)
    own = {ln.split(":", 2)[1]: ln.split(":", 2)[2] for ln in read("/proc/self/cgroup").splitlines()}
    theirs = {ln.split(":", 2)[1]: ln.split(":", 2)[2] for ln in
              read(f"/proc/{pid}/cgroup").splitlines()}
    assert theirs["memory"] == os.path.join(own["memory"], name)
    assert rt("delete", "--force", cid).returncode == 0
    assert find_cgroups(name) == []


def test_pause_resume_and_kill_all(rt):
    cid, pid = start_sleeper(rt)
    p = rt("exec", "-d", cid, "sleep", "50")
    assert p.returncode == 0, p.stderr
    assert rt("pause", cid).returncode == 0
    assert rt.state(cid)["status"] == "paused"
    fz = [ln.split(":", 2)[2] for ln in read(f"/proc/{pid}/cgroup").splitlines()
          if ln.split(":", 2)[1] == "freezer"][0]
    assert read(f"/sys/fs/cgroup/freezer{fz}/freezer.state") == "FROZEN"
    p = rt("pause", cid)
    assert p.returncode == 1 and "container not running" in p.stderr
    p = rt("start", cid)
    assert p.returncode == 1 and "cannot start a container in the paused state" in p.stderr
    p = rt("exec", cid, "true")
    assert p.returncode == 255
    assert "exec failed: cannot exec in a paused container" in p.stderr
    p = rt("delete", cid)
    assert p.returncode == 1 and "that is not stopped: paused" in p.stderr
    assert rt("resume", cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    p = rt("resume", cid)
    assert p.returncode == 1 and "container not paused" in p.stderr
    pids = json.loads(rt("ps", "--format", "json", cid).stdout)
    assert len(pids) == 2 and pid in pids
    assert rt("kill", "--all", cid, "KILL").returncode == 0
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    assert wait_for(lambda: json.loads(rt("ps", "--format", "json", cid).stdout) == [])
    # stopped and signalled again with --all: still success, as runc
    assert rt("kill", "--all", cid, "KILL").returncode == 0


def test_update_resources(rt):
    name = f"pyrunc-up-{uuid.uuid4().hex[:8]}"
    rt.ids.append(name)
    cid, pid = start_sleeper(rt, f"/{name}", {"memory": {"limit": 64 << 20}})
    assert rt("update", "--memory", "128m", "--pids-limit", "7", cid).returncode == 0
    assert read(f"/sys/fs/cgroup/memory/{name}/memory.limit_in_bytes") == str(128 << 20)
    assert read(f"/sys/fs/cgroup/pids/{name}/pids.max") == "7"
    res = json.dumps({"cpu": {"shares": 300}, "pids": {"limit": 9}}).encode()
    p = rt("update", "--resources", "-", cid, input=res)
    assert p.returncode == 0, p.stderr
    assert read(f"/sys/fs/cgroup/cpu/{name}/cpu.shares") == "300"
    assert read(f"/sys/fs/cgroup/pids/{name}/pids.max") == "9"
    saved = json.loads((rt.root / cid / "state.json").read_text())["config"]["linux"]["resources"]
    assert saved["pids"]["limit"] == 9 and saved["memory"]["limit"] == 128 << 20


def test_failed_cgroup_write_leaves_nothing(rt):
    name = f"pyrunc-bad-{uuid.uuid4().hex[:8]}"
    rt.ids.append(name)
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: s["linux"].update(cgroupsPath=f"/{name}", resources={
        "cpu": {"cpus": "999-1000"}}))
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1 and "failed to write" in p.stderr
    assert not (rt.root / cid).exists()
    assert find_cgroups(name) == []
