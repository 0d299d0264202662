"""pyrunc events: an OOM in the container's memory cgroup shows as {"type":"oom"}; --stats."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile

import pytest

from pyrunc_helpers import wait_for

LIMIT = 32 << 20


def _memory_cgroup_available() -> bool:
    return os.path.exists("/sys/fs/cgroup/memory/memory.oom_control") or \
        os.path.exists("/sys/fs/cgroup/cgroup.controllers")


pytestmark = pytest.mark.skipif(not _memory_cgroup_available(), reason="needs a memory cgroup")


def start_waiting_hog(rt):
    """A container that allocates far past its memory limit once /tmp/go exists."""
    cid = rt.new_id()
    # busybox tail keeps the current "line" of /dev/zero (no newline ever) in memory
    b = rt.bundle(["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; tail /dev/zero"])

    def edit(s):
        s["linux"]["resources"]["memory"] = {"limit": LIMIT, "swap": LIMIT}
        s["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "nodev", "size=1m"]})
    rt.edit(b, edit)
    p = rt("run", "-d", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stderr
    return cid


def test_oom_kill_is_reported_and_stats_work(rt):
    cid = start_waiting_hog(rt)
    # --stats: one line with the cgroup's memory figures, the process still running
    p = rt("events", "--stats", cid)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    ev = json.loads(lines[0])
    assert ev["type"] == "stats" and ev["id"] == cid
    assert ev["data"]["memory"]["usage"]["limit"] == LIMIT
    assert ev["data"]["memory"]["usage"]["usage"] > 0

    out = tempfile.TemporaryFile(dir=rt.base)
    ev_proc = subprocess.Popen(rt.argv("events", "--interval", "200ms", cid), stdout=out,
                               stderr=subprocess.PIPE)
    try:
        def lines_so_far():
            out.seek(0)
            return [json.loads(ln) for ln in out.read().decode().splitlines() if ln.strip()]
        # a stats line shows the stream (and the OOM registration before it) is up
        assert wait_for(lambda: any(e["type"] == "stats" for e in lines_so_far()), 15), \
            ev_proc.stderr.read() if ev_proc.poll() is not None else "no stats line"
        assert not any(e["type"] == "oom" for e in lines_so_far())
        go = rt("exec", cid, "touch", "/tmp/go")
        assert go.returncode == 0, go.stderr
        # the hog is OOM-killed, the container stops and the stream ends by itself
        assert ev_proc.wait(timeout=60) == 0, ev_proc.stderr.read()
        evs = lines_so_far()
    finally:
        if ev_proc.poll() is None:
            ev_proc.kill()
            ev_proc.wait()
        ev_proc.stderr.close()
    ooms = [e for e in evs if e["type"] == "oom"]
    assert ooms and ooms[0] == {"type": "oom", "id": cid}, evs
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    # events on a stopped container: runc's error
    p = rt("events", cid)
    assert p.returncode == 1 and f"container with id {cid} is not running" in p.stderr


def test_events_stream_ends_when_the_container_stops(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "1"])
    p = rt("run", "-d", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stderr
    p = rt("events", "--interval", "300ms", cid, timeout=30)
    assert p.returncode == 0, p.stderr
    evs = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert evs and all(e["type"] == "stats" and e["id"] == cid for e in evs)
    assert "oom" not in {e["type"] for e in evs}
