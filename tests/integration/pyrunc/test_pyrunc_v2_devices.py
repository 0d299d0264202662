"""pyrunc's cgroup v2 device filter on a real cgroup v2 hierarchy.

A hybrid host has a real cgroup2 mount at /sys/fs/cgroup/unified: BPF device programs
attached to a cgroup there are enforced for its processes like on a pure v2 host. Each test
makes its own cgroup, lets pyrunc's V2Manager attach the filter, moves a child in and checks
which device nodes the child may open; the same rules on a v1 devices cgroup must give the
same answers. Every cgroup is removed at the end (the kernel drops its programs with it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from pyrunc.cgroups import device_rule_text, device_rules  # noqa: E402
from pyrunc.cgroups import devicefilter  # noqa: E402
from pyrunc.cgroups.v2 import V2Manager  # noqa: E402

UNIFIED = "/sys/fs/cgroup/unified"
V1_DEVICES = "/sys/fs/cgroup/devices"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(UNIFIED, "cgroup.procs")),
                       reason="needs a cgroup v2 mount at /sys/fs/cgroup/unified"),
]

# (path, open flags) the child tries; what a user of the container would notice
PROBES = [("/dev/null", os.O_RDWR), ("/dev/zero", os.O_RDONLY), ("/dev/full", os.O_WRONLY),
          ("/dev/urandom", os.O_RDONLY), ("/dev/tty", os.O_RDWR)]
CHILD = """
import json, os, sys
res = {}
for path, flags in json.loads(sys.argv[1]):
    try:
        os.close(os.open(path, flags | os.O_NONBLOCK | os.O_NOCTTY))
        res[path + ":" + str(flags)] = "ok"
    except OSError as e:
        res[path + ":" + str(flags)] = os.strerror(e.errno) if e.errno == 1 else "other"
print(json.dumps(res))
"""


def _block_device() -> str | None:
    """A block device node of the host (for the mknod-only rule of runc's defaults)."""
    for name in sorted(os.listdir("/sys/block")):
        if not name.startswith(("loop", "ram", "zram")) and os.path.exists(f"/dev/{name}"):
            return f"/dev/{name}"
    return None


def probe_in(cgroup_procs: list[str], probes=PROBES) -> dict[str, str]:
    """Run a child that joins the given cgroups before exec and tries the probes."""
    def join() -> None:
        for f in cgroup_procs:
            with open(f, "w") as fh:
                fh.write(str(os.getpid()))
    p = subprocess.run([sys.executable, "-S", "-c", CHILD, json.dumps(probes)],
                       preexec_fn=join, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.fixture
def v2cg():
    """A V2Manager on a fresh cgroup under the unified mount; destroyed afterwards."""
    mgr = V2Manager.for_path(f"/pyrunc-devtest-{uuid.uuid4().hex[:8]}", mount=UNIFIED, own="/")
    mgr.create()
    assert mgr.path in mgr.created
    yield mgr
    mgr.destroy()
    assert not os.path.exists(mgr.path)


@pytest.fixture
def v1cg():
    if not os.path.exists(os.path.join(V1_DEVICES, "devices.allow")):
        pytest.skip("no v1 devices controller to compare with")
    path = os.path.join(V1_DEVICES, f"pyrunc-devtest-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


def attached_ids(path: str) -> list[int]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return devicefilter.attached(fd)
    finally:
        os.close(fd)


def deny_all_but_null():
    return [{"allow": False, "access": "rwm"},
            {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]


def test_allowed_device_opens_denied_device_is_eperm(v2cg):
    v2cg.set({}, deny_all_but_null())
    assert len(attached_ids(v2cg.path)) == 1
    got = probe_in([os.path.join(v2cg.path, "cgroup.procs")])
    assert got[f"/dev/null:{os.O_RDWR}"] == "ok"
    assert got[f"/dev/zero:{os.O_RDONLY}"] == "Operation not permitted"
    assert got[f"/dev/full:{os.O_WRONLY}"] == "Operation not permitted"
    # outside the cgroup nothing changed
    assert probe_in([])[f"/dev/zero:{os.O_RDONLY}"] == "ok"


def test_update_replaces_our_filter_without_stacking(v2cg):
    v2cg.set({}, deny_all_but_null())
    first = attached_ids(v2cg.path)
    v2cg.set({}, deny_all_but_null() + [{"allow": True, "type": "c", "major": 1, "minor": 5,
                                         "access": "r"}])
    second = attached_ids(v2cg.path)
    assert len(second) == 1 and second != first
    got = probe_in([os.path.join(v2cg.path, "cgroup.procs")],
                   [("/dev/zero", os.O_RDONLY), ("/dev/zero", os.O_WRONLY)])
    assert got == {f"/dev/zero:{os.O_RDONLY}": "ok",
                   f"/dev/zero:{os.O_WRONLY}": "Operation not permitted"}


def test_runc_default_rules_of_a_docker_container(v2cg):
    """Docker's "deny all" plus runc's defaults: the standard nodes work, a disk does not."""
    v2cg.set({}, device_rules({"devices": [{"allow": False, "access": "rwm"}]}, []))
    probes = PROBES[:4]
    disk = _block_device()
    if disk:
        probes = probes + [(disk, os.O_RDONLY)]
    got = probe_in([os.path.join(v2cg.path, "cgroup.procs")], probes)
    for path, flags in PROBES[:4]:
        assert got[f"{path}:{flags}"] == "ok", (path, got)
    if disk:
        assert got[f"{disk}:{os.O_RDONLY}"] == "Operation not permitted"


@pytest.mark.parametrize("rules", [
    deny_all_but_null(),
    [{"allow": True, "access": "rwm"},
     {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "r"},
     {"allow": False, "type": "c", "major": 1, "minor": None, "access": "w"}],
    [{"allow": False, "access": "rwm"},
     {"allow": True, "type": "c", "major": 1, "minor": None, "access": "rw"},
     {"allow": False, "type": "c", "major": 1, "minor": 7, "access": "w"},
     {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "r"}],
], ids=["whitelist", "blacklist", "wildcard-minus"])
def test_same_answers_as_the_v1_devices_controller(v2cg, v1cg, rules):
    v2cg.set({}, rules)
    for r in rules:
        name = "devices.allow" if r["allow"] else "devices.deny"
        with open(os.path.join(v1cg, name), "w") as f:
            f.write(device_rule_text(r))
    probes = [(p, fl) for p, _ in PROBES for fl in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR)]
    on_v2 = probe_in([os.path.join(v2cg.path, "cgroup.procs")], probes)
    on_v1 = probe_in([os.path.join(v1cg, "cgroup.procs")], probes)
    assert on_v2 == on_v1
    assert "Operation not permitted" in on_v2.values()
