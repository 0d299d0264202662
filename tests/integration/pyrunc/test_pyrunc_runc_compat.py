"""pyrunc against runc 1.1.5 on the command line: what the runc-cli audit found different.
Where /usr/sbin/runc exists the tests run it too and compare; otherwise they check runc's
known output."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from pyrunc_helpers import PYRUNC

RUNC = "/usr/sbin/runc"
have_runc = pytest.mark.skipif(not os.access(RUNC, os.X_OK), reason="no runc to compare with")


def _spec(prog: str, d, *args: str) -> dict:
    d.mkdir()
    p = subprocess.run([prog, "spec", *args], cwd=d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads((d / "config.json").read_text())


def test_spec_rootless_mounts(tmp_path):
    spec = _spec(PYRUNC, tmp_path / "p", "--rootless")
    mounts = {m["destination"]: m for m in spec["mounts"]}
    # no gid=5: the user namespace maps only the caller's own gid
    assert mounts["/dev/pts"]["options"] == ["nosuid", "noexec", "newinstance",
                                             "ptmxmode=0666", "mode=0620"]
    # sysfs needs a netns of one's own: a read-only rbind of the host's /sys instead
    assert mounts["/sys"] == {"destination": "/sys", "type": "none", "source": "/sys",
                              "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup"
    assert [m["destination"] for m in spec["mounts"]] == [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"]
    assert "resources" not in spec["linux"]
    assert spec["linux"]["namespaces"][-1] == {"type": "user"}
    assert {"type": "network"} not in spec["linux"]["namespaces"]


@have_runc
@pytest.mark.parametrize("args", [(), ("--rootless",)])
def test_spec_is_runcs(tmp_path, args):
    assert _spec(PYRUNC, tmp_path / "p", *args) == _spec(RUNC, tmp_path / "r", *args)
