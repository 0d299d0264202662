"""What the process sees inside: namespaces, mounts, devices, identity, stdio, signals, limits."""
from __future__ import annotations

import os
import subprocess

from pyrunc_helpers import wait_for


def run_out(rt, bundle, cid=None, **kw) -> subprocess.CompletedProcess:
    p = rt("run", "--bundle", str(bundle), cid or rt.new_id(), **kw)
    assert p.returncode == 0, (p.stdout, p.stderr, rt.last_error())
    return p


def test_namespaces_hostname_env_cwd_user(rt):
    b = rt.bundle(["sh", "-c", "hostname; echo $FOO; pwd; id -u; id -g; id -G; echo $$;"
                   " cat /sys/class/net/lo/operstate; ls /sys/class/net"])
    rt.edit(b, lambda s: (s.update(hostname="pyrunc-host"),
                          s["process"].update(env=["PATH=/bin:/usr/bin", "FOO=bar"], cwd="/tmp",
                                              user={"uid": 33, "gid": 50,
                                                    "additionalGids": [5, 100]})))
    lines = run_out(rt, b).stdout.split("\n")
    assert lines[0] == "pyrunc-host"
    assert lines[1] == "bar"
    assert lines[2] == "/tmp"
    assert lines[3:5] == ["33", "50"]
    assert set(lines[5].split()) == {"50", "5", "100"}
    assert lines[6] == "1"  # pid namespace
    assert lines[7] == "unknown"  # lo is up (no carrier state on loopback)
    assert lines[8].split() == ["lo"]  # fresh network namespace


def test_namespaces_differ_from_host(rt):
    b = rt.bundle(["sh", "-c", "for n in mnt uts ipc pid net; do readlink /proc/self/ns/$n; done"])
    got = run_out(rt, b).stdout.split()
    host = [os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "uts", "ipc", "pid", "net")]
    assert len(got) == 5
    assert all(g != h for g, h in zip(got, host))


def test_mounts_devices_and_symlinks(rt):
    b = rt.bundle(["sh", "-c", "cat /proc/self/mountinfo; echo ===; ls -l /dev; echo ===;"
                   " echo x > /dev/null && head -c 4 /dev/zero | wc -c; touch /sys/x 2>&1;"
                   " echo ===; for l in ptmx fd stdin stdout stderr; do readlink /dev/$l; done"])
    out = run_out(rt, b).stdout
    mountinfo, devs, rest, links = out.split("===\n")
    points = {ln.split()[4]: ln.split(" - ")[1].split()[0] for ln in mountinfo.splitlines()}
    for mp, fs in (("/", None), ("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"),
                   ("/dev/shm", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/sys", "sysfs")):
        assert mp in points, mountinfo
        if fs:
            assert points[mp] == fs
    sys_line = next(ln for ln in mountinfo.splitlines() if ln.split()[4] == "/sys")
    assert " ro," in sys_line or sys_line.split()[5].startswith("ro")
    for d in ("null", "zero", "full", "random", "urandom", "tty"):
        assert any(ln.startswith("c") and ln.endswith(" " + d) for ln in devs.splitlines()), d
    assert rest.splitlines()[0] == "4"
    assert "Read-only file system" in rest
    assert links.split() == ["pts/ptmx", "/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                             "/proc/self/fd/2"]


def test_only_stdio_and_preserved_fds_reach_the_container(rt, tmp_path):
    b = rt.bundle(["sleep", "60"])

    # fds 3 and 4 stand for the socket the containerd shim leaks into `create`
    def fds_of_init(*flags):
        cid = rt.new_id()
        p = subprocess.run(["sh", "-c", 'exec "$@" 3</dev/null 4</dev/null', "sh",
                            *rt.argv("run", "-d", *flags, "--bundle", str(b), cid)],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
        assert p.returncode == 0, rt.last_error()
        return sorted(int(fd) for fd in os.listdir(f"/proc/{rt.state(cid)['pid']}/fd"))
    assert fds_of_init() == [0, 1, 2]
    assert fds_of_init("--preserve-fds", "1") == [0, 1, 2, 3]


def test_signals_reset_and_capabilities(rt):
    # grep itself is the init: busybox sh would ignore SIGQUIT on its own
    b = rt.bundle(["grep", "-E", "^(SigIgn|SigBlk|CapBnd|CapEff|CapPrm|CapInh|CapAmb|NoNewPrivs)",
                   "/proc/self/status"])
    caps = {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_CHOWN"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    rt.edit(b, lambda s: s["process"].update(capabilities=caps, noNewPrivileges=True))
    st = dict(ln.split(":\t") for ln in run_out(rt, b).stdout.splitlines())
    assert int(st["SigIgn"], 16) == 0 and int(st["SigBlk"], 16) == 0
    chown, kill, net_raw = 1 << 0, 1 << 5, 1 << 13
    assert int(st["CapBnd"], 16) == chown | kill | net_raw
    assert int(st["CapEff"], 16) == chown | kill
    assert int(st["CapPrm"], 16) == chown | kill
    assert int(st["CapInh"], 16) == kill
    assert int(st["CapAmb"], 16) == kill
    assert st["NoNewPrivs"] == "1"


def test_missing_bounding_cap_is_dropped_with_warning(rt):
    with open("/proc/self/status") as f:
        bnd = int(next(ln for ln in f if ln.startswith("CapBnd")).split()[1], 16)
    if bnd & (1 << 24):
        import pytest
        pytest.skip("host bounding set has CAP_SYS_RESOURCE")
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["process"]["capabilities"]["bounding"].append("CAP_SYS_RESOURCE"))
    run_out(rt, b)
    assert "CAP_SYS_RESOURCE" in rt.log.read_text()


def test_rlimits_oom_score_and_sysctl(rt):
    b = rt.bundle(["sh", "-c", "ulimit -n; cat /proc/self/oom_score_adj;"
                   " cat /proc/sys/kernel/shmmni; cat /proc/sys/net/ipv4/ip_forward"])
    rt.edit(b, lambda s: (s["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 600}], oomScoreAdj=200),
        s["linux"].update(sysctl={"kernel.shmmni": "1234", "net.ipv4.ip_forward": "1"})))
    assert run_out(rt, b).stdout.split() == ["512", "200", "1234", "1"]
    # a sysctl without its namespace is refused before anything is created
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: (s["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}),
                          s["linux"].update(namespaces=[n for n in s["linux"]["namespaces"]
                                                        if n["type"] != "network"])))
    cid = rt.new_id()
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode == 1 and "is not allowed in the hosts network namespace" in p.stderr
    assert not (rt.root / cid).exists()
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_BOGUS", "soft": 1,
                                                       "hard": 1}]))
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 1 and "wrong rlimit value: RLIMIT_BOGUS" in p.stderr


def test_masked_and_readonly_paths_and_readonly_root(rt):
    b = rt.bundle(["sh", "-c", "wc -c < /proc/cpuinfo; ls /proc/tty | wc -l;"
                   " (echo 1 > /proc/sys/kernel/domainname) 2>&1 | grep -c Read-only;"
                   " touch /newfile 2>&1 | grep -c Read-only; touch /tmp/x 2>&1 | grep -c Read"])
    # a file (masked with /dev/null), a directory (masked with a read-only tmpfs), a missing one
    rt.edit(b, lambda s: (s["root"].update(readonly=True), s["linux"].update(
        maskedPaths=["/proc/cpuinfo", "/proc/tty", "/proc/does-not-exist"])))
    assert run_out(rt, b).stdout.split() == ["0", "0", "1", "1", "1"]


def test_bind_mounts_tmpfs_options(rt, tmp_path, private_rootfs):
    src = tmp_path / "data"
    src.mkdir()
    (src / "f").write_text("hello\n")
    b = rt.bundle(["sh", "-c", "cat /data/f; touch /data/g 2>&1 | grep -c Read-only;"
                   " touch /rw/new && echo rw-ok; grep ' /scratch ' /proc/self/mountinfo"],
                  rootfs=private_rootfs)
    rw = tmp_path / "rw"
    rw.mkdir()
    rt.edit(b, lambda s: s["mounts"].extend([
        {"destination": "/data", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "bind", "source": str(rw), "options": ["bind", "rprivate"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=0700"]}]))
    out = run_out(rt, b).stdout.splitlines()
    assert out[0] == "hello" and out[1] == "1" and out[2] == "rw-ok"
    assert "nosuid" in out[3] and "nodev" in out[3] and "noexec" in out[3]
    assert "size=1024k" in out[3] and "mode=700" in out[3]
    assert (rw / "new").exists()
    assert not (src / "g").exists()


def test_user_namespace_with_mappings(rt, tmp_path):
    # the mapped root must be able to reach the rootfs: pytest's tmp dirs are 0700
    import shutil
    import tempfile
    from scripts.busybox_rootfs import make_rootfs
    base = tempfile.mkdtemp(prefix="pyrunc-userns-")
    try:
        os.chmod(base, 0o755)
        rootfs = make_rootfs(os.path.join(base, "rootfs"))
        os.chown(rootfs, 100000, 100000)
        _userns_case(rt, rootfs)
    finally:
        shutil.rmtree(base)


def _userns_case(rt, rootfs):
    b = rt.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user"],
                  rootfs=rootfs)

    def userns(s):
        s["linux"]["namespaces"].append({"type": "user"})
        s["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        s["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        # sysfs and mqueue need their own namespaces' owner; keep the default mounts otherwise
        s["linux"].pop("resources", None)
    rt.edit(b, userns)
    out = run_out(rt, b).stdout.split()
    assert out[0] == "0"
    assert out[1:4] == ["0", "100000", "65536"]
    assert out[4] != os.readlink("/proc/self/ns/user")
    # exec joins the user namespace first, then the others
    cid = rt.new_id()
    b2 = rt.bundle(["sleep", "60"], rootfs=rootfs)
    rt.edit(b2, userns)
    assert rt("run", "-d", "--bundle", str(b2), cid).returncode == 0
    p = rt("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["0", "0", "100000", "65536"]
    assert rt("delete", "--force", cid).returncode == 0


def test_join_namespace_by_path(rt):
    holder = rt.new_id()
    b1 = rt.bundle(["sleep", "60"])
    rt.edit(b1, lambda s: s.update(hostname="shared-uts"))
    assert rt("run", "-d", "--bundle", str(b1), holder).returncode == 0
    pid = rt.state(holder)["pid"]
    b2 = rt.bundle(["sh", "-c", "hostname; readlink /proc/self/ns/net"])

    def join(s):
        s.pop("hostname", None)
        for ns in s["linux"]["namespaces"]:
            if ns["type"] in ("uts", "network"):
                ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else 'uts'}"
    rt.edit(b2, join)
    out = run_out(rt, b2).stdout.split()
    assert out == ["shared-uts", os.readlink(f"/proc/{pid}/ns/net")]
    b3 = rt.bundle(["true"])
    rt.edit(b3, lambda s: [ns.update(path=f"/proc/{pid}/ns/net") for ns in
                           s["linux"]["namespaces"] if ns["type"] == "uts"])
    p = rt("run", "--bundle", str(b3), rt.new_id())
    assert p.returncode == 1  # a net namespace given for uts


def test_seccomp_errno_rule(rt):
    b = rt.bundle(["sh", "-c", "mkdir /tmp/sc 2>&1; echo rc=$?; uname -s"])
    rt.edit(b, lambda s: s["linux"].update(seccomp={
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))
    out = run_out(rt, b).stdout
    assert "Operation not permitted" in out and "rc=1" in out and "Linux" in out


def test_hooks_run_at_runc_timing(rt, tmp_path):
    log = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\necho \"$1 $(cat)\" >> {log}\n")
    hook.chmod(0o755)
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: s.update(hooks={
        k: [{"path": str(hook), "args": ["hook.sh", k]}]
        for k in ("prestart", "createRuntime", "poststart", "poststop")}))
    assert rt("create", "--bundle", str(b), cid).returncode == 0
    import json
    entries = [ln.split(" ", 1) for ln in log.read_text().splitlines()]
    assert [e[0] for e in entries] == ["prestart", "createRuntime", "poststart"]
    states = [json.loads(e[1]) for e in entries]
    pid = rt.state(cid)["pid"]
    assert [s["status"] for s in states] == ["creating", "creating", "created"]
    assert all(s["pid"] == pid and s["id"] == cid for s in states)
    assert rt("delete", "--force", cid).returncode == 0
    assert log.read_text().splitlines()[-1].startswith("poststop")
    # a failing prestart hook fails create and leaves nothing
    bad = rt.bundle(["true"])
    rt.edit(bad, lambda s: s.update(hooks={"prestart": [{"path": "/bin/false"}]}))
    cid2 = rt.new_id()
    p = rt("create", "--bundle", str(bad), cid2)
    assert p.returncode == 1 and "error running hook #0: exit status 1" in p.stderr
    assert not (rt.root / cid2).exists()
    # a failing poststop hook is logged but delete succeeds (runc 1.1.5); later hooks do not run
    b3 = rt.bundle(["true"])
    rt.edit(b3, lambda s: s.update(hooks={"poststop": [
        {"path": "/bin/false"}, {"path": str(hook), "args": ["hook.sh", "after-failed"]}]}))
    cid3 = rt.new_id()
    assert rt("run", "--bundle", str(b3), "--keep", cid3).returncode == 0
    p = rt("delete", cid3)
    assert p.returncode == 0, p.stderr
    assert not (rt.root / cid3).exists()
    last = json.loads(rt.log.read_text().splitlines()[-1])
    assert last["level"] == "error" and "error running hook #0: exit status 1" in last["msg"]
    assert "after-failed" not in log.read_text()


def test_exec_joins_container(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: s.update(hostname="exec-host"))
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    init = rt.state(cid)["pid"]
    p = rt("exec", "--env", "X=1", "--cwd", "/tmp", cid, "sh", "-c",
           "hostname; echo $X; pwd; readlink /proc/self/ns/net; ps -o pid,comm; exit 7")
    assert p.returncode == 7, p.stderr
    lines = p.stdout.splitlines()
    assert lines[:3] == ["exec-host", "1", "/tmp"]
    assert lines[3] == os.readlink(f"/proc/{init}/ns/net")
    assert any(ln.split() == ["1", "sleep"] for ln in lines[4:])
    # detached, with a pid file holding the host pid, inside the container's cgroup
    pidfile = rt.base / "exec.pid"
    p = rt("exec", "--detach", "--pid-file", str(pidfile), cid, "sleep", "30")
    assert p.returncode == 0, p.stderr
    epid = int(pidfile.read_text())
    with open(f"/proc/{epid}/cgroup") as f1, open(f"/proc/{init}/cgroup") as f2:
        assert f1.read() == f2.read()
    p = rt("ps", "--format", "json", cid)
    import json
    assert set(json.loads(p.stdout)) == {init, epid}
    # --process FILE, as the shim passes it
    proc = rt.base / "proc.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "echo $Y; id -u"], "env": ["PATH=/bin", "Y=from-file"],
                                "cwd": "/", "user": {"uid": 1, "gid": 1}}))
    p = rt("exec", "--process", str(proc), cid)
    assert p.returncode == 0 and p.stdout.split() == ["from-file", "1"]
    # failures exit 255
    p = rt("exec", cid, "/nonexistent")
    assert p.returncode == 255 and "no such file or directory" in p.stderr
    assert rt("kill", cid, "KILL").returncode == 0
    rt.wait_status(cid, "stopped")
    p = rt("exec", cid, "true")
    assert p.returncode == 255 and "cannot exec in a stopped container" in p.stderr


def test_create_and_start_container_hooks(rt, tmp_path, private_rootfs):
    log = tmp_path / "cc.log"
    hook = tmp_path / "cc.sh"
    # createContainer runs in the container's namespaces before pivot_root (host paths)
    hook.write_text(f"#!/bin/sh\necho \"$(readlink /proc/self/ns/mnt) $(cat)\" >> {log}\n")
    hook.chmod(0o755)
    b = rt.bundle(["cat", "/started"], rootfs=private_rootfs)
    rt.edit(b, lambda s: (s.update(hostname="hooked"), s.update(hooks={
        "createContainer": [{"path": str(hook)}],
        # startContainer resolves its path inside the container, after start
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "echo from-start > /started"]}],
    })))
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 0, (p.stderr, rt.last_error())
    assert p.stdout == "from-start\n"
    mnt_ns, state = log.read_text().splitlines()[0].split(" ", 1)
    assert mnt_ns != os.readlink("/proc/self/ns/mnt")
    import json
    state = json.loads(state)
    assert state["status"] == "creating" and state["pid"] > 0


def test_exec_user_caps_nnp_and_ps_table(rt):
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    p = rt("exec", "--user", "1000:1001", "--additional-gids", "7", "--cap", "CAP_NET_RAW",
           "--no-new-privs", cid, "grep", "-E", "^(Uid|Gid|Groups|CapBnd|CapEff|NoNewPrivs)",
           "/proc/self/status")
    assert p.returncode == 0, p.stderr
    st = {k: v.split() for k, v in (ln.split(":\t") for ln in p.stdout.splitlines())}
    assert st["Uid"][0] == "1000" and st["Gid"][0] == "1001" and st["Groups"] == ["7"]
    assert int(st["CapBnd"][0], 16) & (1 << 13)  # CAP_NET_RAW added to the init's set
    assert st["NoNewPrivs"] == ["1"]
    p = rt("ps", cid)
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert "PID" in lines[0].split()
    pid = str(rt.state(cid)["pid"])
    assert any(pid in ln.split() and "sleep" in ln for ln in lines[1:])
    assert len(lines) == 2  # only the container's processes


def test_a_missing_working_directory_is_made_even_on_a_read_only_root(rt, private_rootfs):
    """As runc: process.cwd is created inside the jail (0755, root's) before the root goes read-only;
    `exec --cwd` makes nothing."""
    b = rt.bundle(["sh", "-c", "pwd; stat -c '%a %u' /new/wd; touch /new/x 2>/dev/null || echo ro"],
                  rootfs=private_rootfs)
    rt.edit(b, lambda s: (s["process"].update(cwd="/new/wd", user={"uid": 1000, "gid": 1000}),
                          s["root"].update(readonly=True)))
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert (p.returncode, p.stdout) == (0, "/new/wd\n755 0\nro\n"), p.stderr
    # a cwd that is a file cannot be made: runc's error, nothing left running
    b = rt.bundle(["true"], rootfs=private_rootfs)
    rt.edit(b, lambda s: s["process"].update(cwd="/etc/passwd/x"))
    cid = rt.new_id()
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode == 1 and "error during container init: mkdir /etc/passwd: not a directory" in p.stderr, p.stderr
    assert rt("state", cid).returncode == 1
    # exec into a running container with a missing --cwd: an error, no directory made
    b = rt.bundle(["sleep", "30"], rootfs=private_rootfs)
    cid = rt.new_id()
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    p = rt("exec", "--cwd", "/nowhere", cid, "true")
    assert p.returncode != 0 and "chdir to cwd" in p.stderr and not (private_rootfs / "nowhere").exists()


def test_an_environment_entry_without_equals_is_refused_as_runc(rt):
    """runc 1.1's populateProcessEnvironment: every entry NAME=VALUE, in config.json and in exec -e."""
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["process"].update(env=["PATH=/bin", "BAD"]))
    cid = rt.new_id()
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode == 1 and 'invalid environment variable: "BAD"' in p.stderr, p.stderr
    assert rt("state", cid).returncode == 1  # nothing left
    b = rt.bundle(["sleep", "30"])
    cid = rt.new_id()
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    p = rt("exec", "--env", "BAD", cid, "true")
    assert p.returncode != 0 and 'invalid environment variable: "BAD"' in p.stderr, p.stderr
    p = rt("exec", "--env", "=x", cid, "true")
    assert p.returncode != 0 and "environment variable name can't be empty" in p.stderr, p.stderr
    assert rt("exec", "--env", "GOOD=1", cid, "true").returncode == 0
