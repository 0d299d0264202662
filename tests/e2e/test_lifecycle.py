"""The container lifecycle through the real docker CLI 28 (and Debian's 20.10): security defaults,
resources, persistence. Docker's behaviour is the reference for every expectation here."""
from __future__ import annotations

import json
import uuid

import pytest


def uname(prefix: str = "lc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def run(stack, *args: str, docker=None) -> tuple[int, str, str]:
    cp = (docker or stack.docker)("run", "--rm", *args, timeout=60)
    return cp.returncode, cp.stdout, cp.stderr


def status_fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


# ---- (1) security defaults -------------------------------------------------------------------

def test_default_capabilities_seccomp_and_nnp(stack):
    rc, out, err = run(stack, "busybox", "cat", "/proc/self/status")
    assert rc == 0, err
    st = status_fields(out)
    assert st["CapEff"] == "00000000a80425fb"
    assert st["CapPrm"] == st["CapBnd"] == "00000000a80425fb"
    assert st["Seccomp"] == "2"  # Docker's default profile is loaded
    assert st["NoNewPrivs"] == "0"
    rc, out, err = run(stack, "--security-opt", "no-new-privileges", "busybox", "cat", "/proc/self/status")
    assert rc == 0, err
    assert status_fields(out)["NoNewPrivs"] == "1"
    rc, out, err = run(stack, "--security-opt", "no-new-privileges=true", "busybox", "cat", "/proc/self/status",
                       docker=stack.docker20)
    assert rc == 0, err
    assert status_fields(out)["NoNewPrivs"] == "1"


def test_cap_add_and_drop(stack):
    rc, out, err = run(stack, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff",
                       "/proc/self/status")
    assert rc == 0, err
    assert out.split()[1] == "0000000000001000"
    rc, out, err = run(stack, "--cap-drop", "chown", "--cap-drop", "CAP_NET_RAW", "busybox", "grep", "CapEff",
                       "/proc/self/status")
    assert rc == 0, err
    assert int(out.split()[1], 16) == 0xA80425FB & ~(1 << 0) & ~(1 << 13)
    rc, out, err = run(stack, "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "busybox", "grep", "CapEff",
                       "/proc/self/status", docker=stack.docker20)
    assert rc == 0 and out.split()[1] == "0000000000001000", err
    rc, out, err = run(stack, "--cap-drop", "ALL", "busybox", "chown", "1:1", "/tmp")
    assert rc != 0 and "Operation not permitted" in err
    cp = stack.docker("run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert cp.returncode == 125 and "unknown capability" in cp.stderr and "CAP_NOPE" in cp.stderr


def test_default_seccomp_blocks_unshare_unconfined_and_privileged_do_not(stack):
    # unshare -U needs no capability: only the seccomp profile stops it.
    rc, out, err = run(stack, "busybox", "unshare", "-U", "true")
    assert rc != 0 and "Operation not permitted" in err
    rc, out, err = run(stack, "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
                       "unshare -U true && grep Seccomp: /proc/self/status")
    assert rc == 0, err
    assert out.split()[1] == "0"
    rc, out, err = run(stack, "--privileged", "busybox", "sh", "-c",
                       "unshare -U true && grep -E '^(Seccomp|CapEff):' /proc/self/status")
    assert rc == 0, err
    st = status_fields(out)
    assert st["Seccomp"] == "0"
    assert int(st["CapEff"], 16) & (1 << 21)  # CAP_SYS_ADMIN
    # A capability unlocks its syscalls in the default profile: SYS_ADMIN allows unshare.
    rc, out, err = run(stack, "--cap-add", "SYS_ADMIN", "busybox", "unshare", "-U", "true")
    assert rc == 0, err


def test_seccomp_profile_file(stack, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    f = tmp_path / "profile.json"
    f.write_text(json.dumps(profile))
    rc, out, err = run(stack, "--security-opt", f"seccomp={f}", "busybox", "sh", "-c",
                       "touch /tmp/ok && mkdir /tmp/d")
    assert rc == 1
    assert "Permission denied" in err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    cp = stack.docker("run", "--rm", "--security-opt", f"seccomp={bad}", "busybox", "true")
    assert cp.returncode == 125 and "seccomp" in cp.stderr.lower()
    cp = stack.docker("run", "--rm", "--security-opt", "bogus=1", "busybox", "true")
    assert cp.returncode == 125
    assert 'invalid --security-opt 2: "bogus=1"' in cp.stderr


def test_masked_and_readonly_system_paths(stack):
    rc, out, err = run(stack, "busybox", "sh", "-c",
                       "wc -c < /proc/keys; wc -c < /proc/timer_list; ls /sys/firmware | wc -l; "
                       "(echo 1 > /proc/sys/vm/drop_caches) 2>&1; touch /sys/x 2>&1; "
                       "grep -E ' /proc/(sys|bus|fs|irq|keys|timer_list) | /sys/firmware ' /proc/self/mounts")
    lines = out.splitlines()
    assert [x.strip() for x in lines[:3]] == ["0", "0", "0"], out  # masked: /dev/null or an empty tmpfs
    assert "Read-only file system" in lines[3]
    assert "Read-only file system" in lines[4]
    mounts = {ln.split()[1]: ln.split()[3].split(",") for ln in lines[5:]}
    for p in ("/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq", "/sys/firmware"):
        assert "ro" in mounts[p], (p, out)
    assert "/proc/keys" in mounts and "/proc/timer_list" in mounts
    rc, out, err = run(stack, "--security-opt", "systempaths=unconfined", "busybox", "sh", "-c",
                       "grep -cE ' /proc/(sys|keys) ' /proc/self/mounts; echo ok")
    assert out.split() == ["0", "ok"], (out, err)
    rc, out, err = run(stack, "--privileged", "busybox", "sh", "-c",
                       "grep -cE ' /proc/(sys|keys) ' /proc/self/mounts; echo ok")
    assert out.split() == ["0", "ok"], (out, err)


def test_user_and_group_add(stack):
    rc, out, err = run(stack, "--user", "1234:5678", "--group-add", "10", "--group-add", "audio",
                       "busybox", "id")
    assert rc == 0, err
    assert out.strip().startswith("uid=1234 gid=5678")
    gids = out.split("groups=")[1]
    assert "10(" in gids or "10," in gids or gids.startswith("10")
    assert "29(audio)" in gids
    rc, out, err = run(stack, "--user", "nobody", "busybox", "id", "-u")
    assert rc == 0 and out.strip() == "65534"
    cp = stack.docker("run", "--rm", "--group-add", "nosuchgroup", "busybox", "true")
    assert cp.returncode != 0 and "nosuchgroup" in cp.stderr


def test_read_only_rootfs_shm_size_and_init(stack):
    rc, out, err = run(stack, "--read-only", "--shm-size", "16m", "--init", "busybox", "sh", "-c",
                       "touch /x 2>&1; touch /dev/shm/ok && echo shm-ok; df -k /dev/shm | tail -1; "
                       "cat /proc/1/cmdline | tr '\\0' ' '")
    assert rc == 0, err
    lines = out.splitlines()
    assert "Read-only file system" in lines[0]
    assert lines[1] == "shm-ok"
    assert lines[2].split()[1] == "16384"
    assert lines[3].startswith("/sbin/docker-init -- sh -c")
    rc, out, err = run(stack, "busybox", "sh", "-c", "df -k /dev/shm | tail -1; touch /x && echo rw")
    assert out.splitlines()[0].split()[1] == "65536" and out.splitlines()[1] == "rw"


# ---- (2) resources ---------------------------------------------------------------------------

def test_memory_oom_kill_sets_oomkilled(stack, cleanup):
    n = uname()
    cleanup.append(n)
    # a shell variable that doubles until the 8 MiB limit (no swap) kills it
    cp = stack.docker("run", "--name", n, "--memory", "8m", "--memory-swap", "8m", "busybox", "sh", "-c",
                      "x=0123456789abcdef; while true; do x=$x$x; done", timeout=60)
    assert cp.returncode == 137, cp.stderr
    state = json.loads(stack.docker("inspect", "--format", "{{json .State}}", n, check=True).stdout)
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    hc = json.loads(stack.docker("inspect", "--format", "{{json .HostConfig}}", n, check=True).stdout)
    assert hc["Memory"] == 8 << 20 and hc["MemorySwap"] == 8 << 20
    # a plain SIGKILL is not an OOM
    stack.docker("rm", "-f", n, check=True)
    m = uname()
    cleanup.append(m)
    stack.docker("run", "-d", "--name", m, "--memory", "64m", "busybox", "sleep", "60", check=True)
    stack.docker("kill", m, check=True)
    stack.docker("wait", m, check=True)
    state = json.loads(stack.docker("inspect", "--format", "{{json .State}}", m, check=True).stdout)
    assert state["OOMKilled"] is False and state["ExitCode"] == 137


def test_resource_limits_in_cgroup_files_and_update(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "--memory", "64m", "--memory-swap", "96m", "--cpus", "0.5",
                 "--cpu-shares", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "busybox", "sleep", "300",
                 check=True)
    files = ("memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.cfs_quota_us "
             "cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus pids/pids.max")

    def read() -> list[str]:
        cp = stack.docker("exec", n, "sh", "-c", f"cd /sys/fs/cgroup && for f in {files}; do cat $f; done",
                          check=True)
        return cp.stdout.split()

    assert read() == [str(64 << 20), str(96 << 20), "50000", "100000", "512", "0", "50"]
    stack.docker("update", "--memory", "128m", "--memory-swap", "256m", "--cpus", "1", "--cpu-shares", "256",
                 "--pids-limit", "70", n, check=True)
    assert read() == [str(128 << 20), str(256 << 20), "100000", "100000", "256", "0", "70"]
    hc = json.loads(stack.docker("inspect", "--format", "{{json .HostConfig}}", n, check=True).stdout)
    assert (hc["Memory"], hc["MemorySwap"], hc["NanoCpus"], hc["CpuShares"], hc["PidsLimit"]) == (
        128 << 20, 256 << 20, 1_000_000_000, 256, 70)


def test_stats_no_stream_and_stream(stack, cleanup):
    import docker as docker_py

    n, stopped = uname(), uname()
    cleanup.extend([n, stopped])
    stack.docker("run", "-d", "--name", n, "--memory", "64m", "--pids-limit", "40", "busybox", "sh", "-c",
                 "sleep 300 & sleep 300 & wait", check=True)
    stack.docker("create", "--name", stopped, "busybox", "true", check=True)
    cp = stack.docker("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}", n,
                      check=True, timeout=30)
    name, mem, pids, cpu = cp.stdout.strip().split("|")
    assert name == n and mem.endswith("/ 64MiB") and pids == "3" and cpu.endswith("%")
    cp = stack.docker("stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.PIDs}}", stopped,
                      check=True, timeout=30)
    assert cp.stdout.strip() == f"{stopped}|0B / 0B|0"
    client = docker_py.DockerClient(base_url=stack.env["DOCKER_HOST"], version="1.45")
    try:
        c = client.containers.get(n)
        one = c.stats(stream=False)
        assert one["id"] == c.id and one["name"] == "/" + n
        assert one["memory_stats"]["limit"] == 64 << 20 and one["pids_stats"] == {"current": 3, "limit": 40}
        assert one["precpu_stats"]["cpu_usage"]["total_usage"] > 0  # two samples, as dockerd
        assert "eth0" in one["networks"]
        gen = c.stats(decode=True, stream=True)
        first, second = next(gen), next(gen)
        gen.close()
        assert second["preread"] == first["read"]
        assert second["cpu_stats"]["system_cpu_usage"] >= first["cpu_stats"]["system_cpu_usage"]
        shot = c.stats(stream=False, one_shot=True)
        assert shot["precpu_stats"]["cpu_usage"]["total_usage"] == 0 and shot["preread"] == "0001-01-01T00:00:00Z"
    finally:
        client.close()
    cp = stack.docker("stats", "--no-stream", "nosuch-" + n, timeout=30)
    assert cp.returncode == 1 and "No such container: nosuch-" + n in cp.stderr


# ---- (3) persistence and live restore --------------------------------------------------------

def _pids_of(match: str, root: str) -> list[int]:
    import os
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if match in cmd and root in cmd:
            out.append(int(d))
    return out


def _wait_for(pred, what: str, tries: int = 300) -> None:
    import time
    for _ in range(tries):
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_live_restore_after_kill_9_of_both_daemons(busybox_rootfs_tar, tmp_path_factory):
    """kill -9 of pydockerd and pycontainerd: the shims keep the containers; after a restart they
    are running again, what they wrote meanwhile is in their logs, and ps/logs -f/exec/stop work;
    a container that exited meanwhile shows its exit code."""
    import os
    import signal
    import subprocess

    from stacklib import DOCKER, start_stack, teardown_stack

    st = start_stack(tmp_path_factory.mktemp("livestack"), busybox_rootfs_tar)
    try:
        st.docker("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                  "while :; do if [ -f /tmp/mark ]; then echo marked; echo to-stderr >&2; rm /tmp/mark; fi; "
                  "sleep 0.05; done", check=True)
        st.docker("run", "-d", "--name", "quitter", "busybox", "sh", "-c",
                  "while [ ! -f /tmp/go ]; do sleep 0.05; done; echo bye; exit 7", check=True)
        pid1 = int(st.docker("inspect", "--format", "{{.State.Pid}}", "ticker", check=True).stdout)
        pid2 = int(st.docker("inspect", "--format", "{{.State.Pid}}", "quitter", check=True).stdout)
        # a scratch snapshot as a crash in the middle of `docker diff` leaves one: swept at the restart
        ctr = ["ctr", "-a", str(st.exec_root / "containerd" / "containerd.sock"), "-n", "moby", "snapshots",
               "--snapshotter", "overlayfs"]
        subprocess.run(ctr + ["prepare", "diff-view-leftover", ""], check=True, capture_output=True, timeout=30)
        daemons = _pids_of("pycontainerd.main", str(st.root)) + [st.proc.pid]
        assert len(daemons) == 2
        for pid in daemons:
            os.kill(pid, signal.SIGKILL)
        st.proc.wait()
        _wait_for(lambda: not _pids_of("pycontainerd.main", str(st.root)), "pycontainerd to die")
        # while both daemons are down: the ticker writes, the quitter exits
        open(f"/proc/{pid1}/root/tmp/mark", "w").close()
        open(f"/proc/{pid2}/root/tmp/go", "w").close()
        _wait_for(lambda: not os.path.exists(f"/proc/{pid1}/root/tmp/mark"), "the ticker to see the mark")
        _wait_for(lambda: not os.path.exists(f"/proc/{pid2}/cmdline")
                  or open(f"/proc/{pid2}/stat").read().split(") ")[1].startswith("Z"), "the quitter to exit")
        st.start()
        assert "diff-view-leftover" not in subprocess.run(ctr + ["ls"], capture_output=True, text=True,
                                                          timeout=30, check=True).stdout
        ps = st.docker("ps", "--format", "{{.Names}}", check=True).stdout.split()
        assert ps == ["ticker"]
        state = json.loads(st.docker("inspect", "--format", "{{json .State}}", "ticker", check=True).stdout)
        assert state["Running"] and state["Pid"] == pid1
        _wait_for(lambda: "marked" in st.docker("logs", "ticker").stdout, "the output written meanwhile")
        cp = st.docker("logs", "ticker", check=True)
        assert cp.stdout == "marked\n" and cp.stderr == "to-stderr\n"
        q = json.loads(st.docker("inspect", "--format", "{{json .State}}", "quitter", check=True).stdout)
        assert (q["Status"], q["ExitCode"], q["Running"]) == ("exited", 7, False)
        assert st.docker("logs", "quitter", check=True).stdout == "bye\n"
        assert st.docker("exec", "ticker", "echo", "exec-ok", check=True).stdout == "exec-ok\n"
        follow = subprocess.Popen([DOCKER, "logs", "-f", "ticker"], env=st.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            st.docker("exec", "ticker", "touch", "/tmp/mark", check=True)
            _wait_for(lambda: st.docker("logs", "ticker").stdout.count("marked") == 2, "the second mark")
            st.docker("stop", "-t", "1", "ticker", check=True)
            out, err = follow.communicate(timeout=30)
        finally:
            if follow.poll() is None:
                follow.kill()
                follow.wait()
        assert follow.returncode == 0 and out == "marked\nmarked\n"
        assert json.loads(st.docker("inspect", "--format", "{{json .State}}", "ticker",
                                    check=True).stdout)["ExitCode"] == 137
        st.docker("rm", "-f", "ticker", "quitter", check=True)
    finally:
        leaks = teardown_stack(st)
    assert not leaks, leaks


# ---- (4) storage details, bad input, API hygiene ---------------------------------------------

def test_bind_mount_source_rules_tmpfs_and_volumes_from(stack, cleanup, tmp_path):
    missing = tmp_path / "missing"
    cp = stack.docker("run", "--rm", "--mount", f"type=bind,source={missing},target=/x", "busybox", "true")
    assert cp.returncode == 125
    assert f'invalid mount config for type "bind": bind source path does not exist: {missing}' in cp.stderr
    assert not missing.exists()
    created = tmp_path / "created"
    stack.docker("run", "--rm", "-v", f"{created}:/x", "busybox", "touch", "/x/f", check=True)
    assert (created / "f").exists()
    rc, out, err = run(stack, "--tmpfs", "/t:size=1m,mode=1770", "busybox", "sh", "-c",
                       "df -k /t | tail -1; stat -c %a /t; grep ' /t ' /proc/self/mounts")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[1] == "1024" and lines[1] == "1770" and "tmpfs" in lines[2]
    src = uname()
    cleanup.append(src)
    stack.docker("run", "-d", "--name", src, "-v", "/shared", "busybox", "sh", "-c",
                 "echo from-src > /shared/f; sleep 300", check=True)
    _wait_for(lambda: stack.docker("exec", src, "cat", "/shared/f").stdout == "from-src\n", "the source write")
    rc, out, err = run(stack, "--volumes-from", src, "busybox", "cat", "/shared/f")
    assert (rc, out) == (0, "from-src\n"), err
    rc, out, err = run(stack, "--volumes-from", f"{src}:ro", "busybox", "sh", "-c", "touch /shared/g")
    assert rc != 0 and "Read-only file system" in err


def test_bad_input_texts(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("create", "--name", n, "busybox", "sleep", "60", check=True)
    cp = stack.docker("exec", n, "true")
    assert cp.returncode == 1 and f"container {json.loads(stack.docker('inspect', n).stdout)[0]['Id']} is not running" in cp.stderr.lower()
    cp = stack.docker("create", "--name", n, "busybox", "true")
    assert cp.returncode == 1 and f'The container name "/{n}" is already in use' in cp.stderr
    cp = stack.docker("run", "--rm", "--memory", "1m", "busybox", "true")
    assert cp.returncode == 125 and "Minimum memory limit allowed is 6MB" in cp.stderr
    cp = stack.docker("run", "--rm", "--cpu-shares", "-3", "busybox", "true")
    assert cp.returncode == 125 and "invalid CPU shares (-3): value must be a positive integer" in cp.stderr
    cp = stack.docker("run", "--rm", "busybox", "/nonexistent-cmd")
    assert cp.returncode == 127
    cp = stack.docker("run", "--rm", "busybox", "/etc")
    assert cp.returncode == 126


def test_api_hygiene_malformed_json_and_wrong_types(stack):
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(str(stack.sock))

    def post(path: str, body: bytes) -> tuple[int, dict]:
        c = Conn("docker")
        try:
            c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            return r.status, json.loads(data or b"{}")
        finally:
            c.close()

    for body in (b"{not json", b'{"Image": 5}', b'{"Image": "busybox", "HostConfig": {"Memory": "lots"}}',
                 b'{"Image": "busybox", "Cmd": "true", "HostConfig": {"CapAdd": 3}}',
                 b'{"Image": "busybox", "HostConfig": {"Binds": [1]}}', b"[]",
                 b'{"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}',
                 b'{"Image": "busybox", "HostConfig": {"CpuShares": -5, "Memory": -1}}'):
        status, data = post("/v1.50/containers/create", body)
        assert status == 400, (body, status, data)
        assert data.get("message"), (body, data)
    status, data = post("/v1.50/containers/create", b'{"Image": "busybox", "Env": ["' + b"x" * (5 << 20) + b'"]}')
    assert status == 413 and "too large" in data["message"]
    status, data = post("/v1.50/containers/nosuch/wait?condition=bogus", b"")
    assert status in (400, 404) and data.get("message")


def test_volume_copy_up_and_image_volume(stack, cleanup):
    vol = uname("vol")
    img = f"lc-img-{uuid.uuid4().hex[:8]}:v"
    base = uname()
    cleanup.append(base)
    try:
        # an empty named volume gets the image's content at the mount point
        rc, out, err = run(stack, "-v", f"{vol}:/etc", "busybox", "sh", "-c", "grep -c root /etc/passwd")
        assert (rc, out.strip()) == (0, "1"), err
        mp = json.loads(stack.docker("volume", "inspect", vol, check=True).stdout)[0]["Mountpoint"]
        assert mp.endswith(f"/{vol}/_data")
        rc, out, err = run(stack, "-v", f"{vol}:/mnt", "busybox", "ls", "/mnt/passwd")
        assert rc == 0, err
        # an image VOLUME gives each container an anonymous volume, with the image's content
        stack.docker("run", "--name", base, "busybox", "sh", "-c", "mkdir /data && echo seed > /data/s", check=True)
        stack.docker("commit", "--change", "VOLUME /data", base, img, check=True)
        n = uname()
        cleanup.append(n)
        stack.docker("run", "--name", n, img, "cat", "/data/s", check=True)
        mounts = json.loads(stack.docker("inspect", "--format", "{{json .Mounts}}", n, check=True).stdout)
        assert [(m["Type"], m["Destination"], len(m["Name"])) for m in mounts] == [("volume", "/data", 64)]
        assert stack.docker("logs", n, check=True).stdout == "seed\n"
        stack.docker("rm", "-v", n, check=True)
        assert mounts[0]["Name"] not in stack.docker("volume", "ls", "-q", check=True).stdout.split()
    finally:
        stack.docker("volume", "rm", "-f", vol)
        stack.docker("rmi", img)


def test_wait_conditions_logs_since_until_and_health_events(stack, cleanup):
    import threading
    import time

    import docker as docker_py

    n = uname()
    cleanup.append(n)
    stack.docker("create", "--name", n, "busybox", "sh", "-c", "echo one; sleep 1.2; echo two >&2; exit 3",
                 check=True)
    # condition next-exit, registered before the start (a created container is already "not-running")
    client0 = docker_py.APIClient(base_url=stack.env["DOCKER_HOST"], version="1.45")
    res: dict = {}
    th = threading.Thread(target=lambda: res.update(client0.wait(n, condition="next-exit", timeout=30)))
    th.start()
    time.sleep(0.3)
    start = time.time()
    stack.docker("start", n, check=True)
    assert stack.docker("wait", n, check=True).stdout.strip() == "3"
    th.join(30)
    client0.close()
    assert res == {"StatusCode": 3, "Error": None} or res.get("StatusCode") == 3
    logs = stack.docker("logs", "-t", n, check=True)
    t_one = logs.stdout.split()[0]
    t_two = logs.stderr.split()[0]
    assert logs.stdout.endswith(" one\n") and logs.stderr.endswith(" two\n")
    # both bounds are inclusive, as dockerd's (Before(since) / After(until) are skipped)
    cp = stack.docker("logs", "--since", t_two, n, check=True)
    assert (cp.stdout, cp.stderr) == ("", "two\n")
    cp = stack.docker("logs", "--until", t_one, n, check=True)
    assert (cp.stdout, cp.stderr) == ("one\n", "")
    assert stack.docker("logs", "--tail", "1", n, check=True).stderr == "two\n"
    assert t_one < t_two and start > 0
    # wait --condition=removed (API) returns when the container is gone
    client = docker_py.DockerClient(base_url=stack.env["DOCKER_HOST"], version="1.45")
    try:
        m = uname()
        cleanup.append(m)
        c = client.containers.run("busybox", ["sleep", "60"], name=m, detach=True,
                                  healthcheck={"test": ["CMD", "true"], "interval": 100_000_000, "retries": 1})
        since = int(time.time()) - 1
        _wait_for(lambda: client.api.inspect_container(c.id)["State"]["Health"]["Status"] == "healthy",
                  "healthy", tries=400)
        ev = client.events(since=since, until=int(time.time()) + 1, decode=True,
                           filters={"container": m, "event": "health_status"})
        got = [e for e in ev]
        assert got and got[0]["status"] == "health_status: healthy" and got[0]["Actor"]["Attributes"]["name"] == m
        assert client.api.inspect_container(c.id)["State"]["Health"]["Log"][-1]["ExitCode"] == 0
        with pytest.raises(docker_py.errors.APIError) as exc:
            client.api.wait(c.id, condition="bogus")
        assert exc.value.response.status_code == 400
        result = {}
        t = threading.Thread(target=lambda: result.update(client.api.wait(c.id, condition="removed", timeout=30)))
        t.start()
        time.sleep(0.3)
        c.remove(force=True)
        t.join(30)
        assert result.get("StatusCode") == 137
    finally:
        client.close()


def _in_pty(argv: list[str], env: dict, rows: int, cols: int, resize_to: tuple[int, int] | None = None) -> str:
    """Run argv on a pty of rows x cols (optionally resized once "ready" is printed); its output.

    The resize is signalled again until the program prints "size=": the CLI may still be
    installing its SIGWINCH handler when "ready" arrives, and a signal then is lost."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios
    import time

    pid, fd = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvpe(argv[0], argv, env)
    out = b""
    last_resize = 0.0
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            if (resize_to and b"ready" in out and b"size=" not in out
                    and time.monotonic() - last_resize > 0.3):
                fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", *resize_to, 0, 0))
                os.kill(pid, 28)  # SIGWINCH: the CLI forwards the new size
                last_resize = time.monotonic()
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
    return out.decode(errors="replace").replace("\r", "")


def test_tty_size_resize_and_exec_options(stack, cleanup):
    from stacklib import DOCKER

    out = _in_pty([DOCKER, "run", "--rm", "-it", "busybox", "stty", "size"], stack.env, 33, 101)
    assert "33 101" in out
    out = _in_pty([DOCKER, "run", "--rm", "-it", "busybox", "sh", "-c",
                   "echo ready; for i in $(seq 100); do s=$(stty size); [ \"$s\" = '44 120' ] && break; "
                   "sleep 0.05; done; echo size=$s"], stack.env, 20, 80, resize_to=(44, 120))
    assert "size=44 120" in out
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    cp = stack.docker("exec", "-u", "1234:99", "-w", "/tmp", "-e", "A=b", n, "sh", "-c",
                      'id -u; id -g; id -G; pwd; echo $A', check=True)
    assert cp.stdout.split() == ["1234", "99", "99", "/tmp", "b"]  # (the primary gid among the groups, as dockerd)
    cp = stack.docker("run", "--rm", "-u", "1000", "--group-add", "50", "busybox", "id", "-G", check=True)
    assert cp.stdout == "0 50\n"
    # root's own groups from the image's /etc/group (busybox: wheel), as dockerd: in run and in exec
    assert stack.docker("run", "--rm", "busybox", "id", "-G", check=True).stdout == "0 10\n"
    assert stack.docker("exec", n, "id", "-G", check=True).stdout == "0 10\n"
    caps = stack.docker("exec", n, "grep", "CapEff", "/proc/self/status", check=True).stdout.split()[1]
    assert caps == "00000000a80425fb"
    caps = stack.docker("exec", "--privileged", n, "grep", "CapEff", "/proc/self/status", check=True).stdout.split()[1]
    assert int(caps, 16) & (1 << 21)
    assert stack.docker("exec", n, "sh", "-c", "exit 5").returncode == 5
    assert stack.docker("exec", n, "nosuchcmd").returncode == 126  # (dockerd: any exec that cannot start)
    assert stack.docker("exec", "-w", "rel", n, "pwd").returncode == 126
    stack.docker("exec", "-d", n, "sh", "-c", "echo detached > /tmp/d", check=True)
    _wait_for(lambda: stack.docker("exec", n, "cat", "/tmp/d").stdout == "detached\n", "the detached exec")
    out = _in_pty([DOCKER, "exec", "-it", n, "stty", "size"], stack.env, 27, 90)
    assert "27 90" in out


def test_update_restart_policy_and_bad_values(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "300", check=True)
    stack.docker("update", "--restart", "on-failure:3", n, check=True)
    rp = json.loads(stack.docker("inspect", "--format", "{{json .HostConfig.RestartPolicy}}", n, check=True).stdout)
    assert rp == {"Name": "on-failure", "MaximumRetryCount": 3}
    cp = stack.docker("update", "--memory", "1m", n)
    assert cp.returncode == 1 and "Minimum memory limit allowed is 6MB" in cp.stderr
    cp = stack.docker("update", "--cpu-shares", "-2", n)
    assert cp.returncode == 1 and "invalid CPU shares (-2)" in cp.stderr
