"""create/start/state/kill/delete/run against real namespaces, with runc's texts and codes."""
from __future__ import annotations

import json
import os
import signal

from pyrunc_helpers import find_cgroups, wait_for


def test_run_returns_exit_status(rt):
    b = rt.bundle(["sh", "-c", "echo out; echo err >&2; exit 3"])
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"


def test_run_signalled_is_128_plus_signal(rt):
    # pid 1 ignores signals it has no handler for unless they come from outside its namespace
    import subprocess
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    proc = subprocess.Popen(rt.argv("run", "--bundle", str(b), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: rt("state", cid).returncode == 0 and
                        rt.state(cid)["status"] == "running")
        assert rt("kill", cid, "KILL").returncode == 0
        assert proc.wait(timeout=20) == 137
    finally:
        proc.kill()
        proc.wait()


def test_run_forwards_signals(rt):
    import subprocess
    cid = rt.new_id()
    b = rt.bundle(["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"])
    proc = subprocess.Popen(rt.argv("run", "--bundle", str(b), cid), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: rt("state", cid).returncode == 0 and
                        rt.state(cid)["status"] == "running")
        import time
        time.sleep(0.2)  # let the shell install its trap
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 42
        assert not (rt.root / cid).exists()
    finally:
        proc.kill()
        proc.wait()


def test_create_start_state_kill_delete(rt, tmp_path):
    cid = rt.new_id()
    out = tmp_path / "out"
    b = rt.bundle(["sh", "-c", "echo started; exec sleep 60"])
    pidfile = tmp_path / "init.pid"
    # the container's stdout is a file we own (the init keeps create's stdio)
    import subprocess
    with open(out, "wb") as f:
        p = subprocess.run(rt.argv("create", "--bundle", str(b), "--pid-file", str(pidfile), cid),
                           stdout=f, stderr=f, stdin=subprocess.DEVNULL, timeout=30)
    assert p.returncode == 0, out.read_text()
    st = rt.state(cid)
    assert st["status"] == "created"
    assert st["id"] == cid and st["bundle"] == str(b)
    assert int(pidfile.read_text()) == st["pid"] > 0
    assert os.path.exists(f"/proc/{st['pid']}")
    assert out.read_text() == ""  # args not run before start
    assert set(st) == {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                       "owner"}

    again = rt("create", "--bundle", str(b), cid)
    assert again.returncode == 1
    assert "container with given ID already exists" in again.stderr
    assert rt.state(cid)["status"] == "created"

    assert rt("start", cid).returncode == 0
    assert wait_for(lambda: out.read_text() == "started\n")
    assert rt.state(cid)["status"] == "running"
    p = rt("start", cid)
    assert p.returncode == 1 and "cannot start an already running container" in p.stderr
    assert rt.last_error()["msg"] == "cannot start an already running container"

    p = rt("delete", cid)
    assert p.returncode == 1
    assert f"cannot delete container {cid} that is not stopped: running" in p.stderr

    assert rt("kill", cid, "KILL").returncode == 0
    st = rt.wait_status(cid, "stopped")
    assert st["status"] == "stopped" and st["pid"] == 0
    p = rt("kill", cid, "9")
    assert p.returncode == 1 and "container not running" in p.stderr
    p = rt("start", cid)
    assert p.returncode == 1 and "cannot start a container that has stopped" in p.stderr

    assert rt("delete", cid).returncode == 0
    assert not (rt.root / cid).exists()
    assert find_cgroups(cid) == []
    p = rt("state", cid)
    assert p.returncode == 1 and "container does not exist" in p.stderr


def test_delete_created_container_kills_init(rt):
    cid = rt.new_id()
    b = rt.bundle(["true"])
    assert rt("create", "--bundle", str(b), cid, stdin=None).returncode == 0
    pid = rt.state(cid)["pid"]
    assert rt("delete", cid).returncode == 0
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
                    open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z")
    assert find_cgroups(cid) == []


def test_delete_force(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    assert rt.state(cid)["status"] == "running"
    assert rt("delete", "--force", cid).returncode == 0
    assert not (rt.root / cid).exists()
    assert find_cgroups(cid) == []
    # missing + force: success, as the shim's cleanup relies on
    assert rt("delete", "--force", cid).returncode == 0
    p = rt("delete", cid)
    assert p.returncode == 1 and "container does not exist" in p.stderr


def test_kill_default_and_named_signals(rt, tmp_path):
    cid = rt.new_id()
    b = rt.bundle(["sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 5' TERM;"
                   " echo ready; while true; do sleep 0.05; done"])
    out = tmp_path / "out"
    import subprocess
    with open(out, "wb") as f:
        subprocess.run(rt.argv("run", "-d", "--bundle", str(b), cid), stdout=f,
                       stdin=subprocess.DEVNULL, timeout=30, check=True)
    assert wait_for(lambda: "ready" in out.read_text())
    assert rt("kill", cid, "SIGUSR1").returncode == 0
    assert wait_for(lambda: "got-usr1" in out.read_text())
    assert rt("kill", cid).returncode == 0  # SIGTERM by default
    assert wait_for(lambda: "got-term" in out.read_text())
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
    p = rt("kill", cid, "NOSUCHSIG")
    assert p.returncode == 1


def test_json_log_and_stderr_for_errors(rt):
    p = rt("state", "nosuch-" + rt.new_id())
    assert p.returncode == 1
    assert p.stderr.strip() == "container does not exist"
    err = rt.last_error()
    assert err["msg"] == "container does not exist"
    assert err["time"].endswith("Z") and "T" in err["time"]


def test_bad_input_leaves_nothing(rt, tmp_path):
    cid = rt.new_id()
    # missing rootfs
    b = rt.bundle(["true"], rootfs=tmp_path / "nope")
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1 and "rootfs" in p.stderr
    assert not (rt.root / cid).exists() and find_cgroups(cid) == []
    # invalid config.json
    (b / "config.json").write_text("{not json")
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1 and p.stderr.strip()
    assert not (rt.root / cid).exists()
    # unknown namespace type
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["linux"]["namespaces"].append({"type": "bogus"}))
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1 and 'namespace {"bogus" ""} does not exist' in p.stderr
    assert not (rt.root / cid).exists() and find_cgroups(cid) == []
    # a binary that does not exist fails create (looked up before blocking), undone fully
    b = rt.bundle(["/bin/nonexistent"])
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1
    assert 'exec: "/bin/nonexistent": stat /bin/nonexistent: no such file or directory' \
        in p.stderr
    assert "runc create failed" in rt.last_error()["msg"]
    assert not (rt.root / cid).exists() and find_cgroups(cid) == []
    # invalid id
    p = rt("create", "--bundle", str(b), "bad/id")
    assert p.returncode == 1 and "invalid id format" in p.stderr


def test_list_formats(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    assert rt("create", "--bundle", str(b), cid).returncode == 0
    p = rt("list", "--format", "json")
    items = json.loads(p.stdout)
    assert [i["id"] for i in items] == [cid] and items[0]["status"] == "created"
    p = rt("list")
    assert p.stdout.splitlines()[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED",
                                                "OWNER"]
    assert cid in p.stdout
    assert rt("list", "-q").stdout == cid + "\n"


def test_spec_writes_example_and_refuses_overwrite(tmp_path):
    import subprocess
    from pyrunc_helpers import PYRUNC
    p = subprocess.run([PYRUNC, "spec", "--bundle", str(tmp_path)], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    spec = json.loads((tmp_path / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    p = subprocess.run([PYRUNC, "spec", "--bundle", str(tmp_path)], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "File config.json exists. Remove it first" in p.stderr


def test_version():
    import subprocess
    from pyrunc_helpers import PYRUNC
    p = subprocess.run([PYRUNC, "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("runc version ")
