"""OOM notifications for ``pyrunc events`` on cgroup v2, against a fake cgroupfs tree.

inotify works on the regular files of a temp dir as on cgroupfs, so the v2 notifier and the
whole ``events`` loop run here for real; only the kernel's writes are done by the test.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from pyrunc.cgroups import oom  # noqa: E402
from pyrunc.state import proc_stat  # noqa: E402


def fake_v2(tmp_path: Path, kills: int = 0, populated: int = 1) -> Path:
    d = tmp_path / "cg"
    d.mkdir(exist_ok=True)
    write_events(d, kills)
    (d / "cgroup.events").write_text(f"populated {populated}\nfrozen 0\n")
    (d / "memory.max").write_text(f"{32 << 20}\n")
    (d / "memory.current").write_text(f"{1 << 20}\n")
    return d


def write_events(d: Path, kills: int) -> None:
    # rewritten in place (as the kernel updates it): IN_MODIFY, not a new inode
    with open(d / "memory.events", "r+" if (d / "memory.events").exists() else "w") as f:
        f.write(f"low 0\nhigh 0\nmax {kills * 3}\noom {kills}\noom_kill {kills}\n")
        f.truncate()


def readable(fd: int, timeout: float = 2.0) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_v2_notifier_counts_new_kills_only(tmp_path):
    d = fake_v2(tmp_path, kills=2)  # kills before we started watching are not news
    n = oom.notifier({"unified": str(d)})
    assert isinstance(n, oom.V2OOM)
    try:
        assert not readable(n.fileno(), 0.1)
        write_events(d, 3)
        assert readable(n.fileno())
        assert n.read() == 1 and not n.done
        # a change of other counters is no OOM
        with open(d / "memory.events", "r+") as f:
            f.write("low 1\nhigh 5\nmax 9\noom 3\noom_kill 3\n")
        assert readable(n.fileno())
        assert n.read() == 0
        write_events(d, 5)
        assert n.read() == 2
        (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")
        assert readable(n.fileno())
        assert n.read() == 0 and n.done
    finally:
        n.close()


def test_v2_kill_and_emptying_together_still_reported(tmp_path):
    d = fake_v2(tmp_path)
    n = oom.notifier({"unified": str(d)})
    try:
        write_events(d, 1)
        (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")
        assert readable(n.fileno())
        assert n.read() == 1 and n.done
    finally:
        n.close()


def test_no_memory_cgroup_no_notifier(tmp_path):
    assert oom.notifier({}) is None
    assert oom.notifier({"unified": str(tmp_path)}) is None
    assert oom.notifier({"cpu": str(tmp_path)}) is None


@pytest.fixture
def fake_container(tmp_path):
    """A state dir whose "init" is a sleep of ours and whose cgroup is a fake v2 dir."""
    sleeper = subprocess.Popen(["sleep", "60"])
    d = fake_v2(tmp_path)
    root = tmp_path / "root"
    (root / "c1").mkdir(parents=True)
    st = proc_stat(sleeper.pid)
    (root / "c1" / "state.json").write_text(json.dumps({
        "id": "c1", "init_process_pid": sleeper.pid, "init_process_start": st[1],
        "cgroup_paths": {"unified": str(d)}, "config": {}}))
    yield root, d, sleeper
    sleeper.kill()
    sleeper.wait()


def run_events(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "bin" / "pyrunc"), "--root", str(root),
                             "events", *args, "c1"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_events_loop_reports_oom_then_ends_with_the_container(fake_container):
    root, d, sleeper = fake_container
    p = run_events(root, "--interval", "100ms")
    try:
        first = json.loads(p.stdout.readline())  # stats come once the watch is set up
        assert first["type"] == "stats" and first["id"] == "c1"
        # runc's MemoryEntry: limit and failcnt always, usage and max when not zero
        assert first["data"]["memory"]["usage"] == {"usage": 1 << 20, "limit": 32 << 20,
                                                    "failcnt": 0}
        write_events(d, 1)
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline:
            ev = json.loads(p.stdout.readline())
            seen.append(ev)
            if ev["type"] == "oom":
                break
        assert {"type": "oom", "id": "c1"} in seen
        sleeper.kill()
        sleeper.wait()
        out, err = p.communicate(timeout=15)
        assert p.returncode == 0, err
        assert all(json.loads(ln)["type"] == "stats" for ln in out.splitlines())
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_events_stats_once(fake_container):
    root, d, _ = fake_container
    p = run_events(root, "--stats")
    out, err = p.communicate(timeout=15)
    assert p.returncode == 0, err
    (line,) = out.splitlines()
    ev = json.loads(line)
    assert ev["type"] == "stats" and ev["data"]["memory"]["usage"]["limit"] == 32 << 20
