"""How create starts the init: cloned straight into its namespaces and cgroups (clone3), or
through stage 1 (namespace paths, user namespaces, kernels or seccomp profiles without clone3).
Either way the container must end up the same: every cgroup, every namespace, pid 1."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from pyrunc_helpers import REPO, find_cgroups, wait_for

UNIFIED = "/sys/fs/cgroup/unified"
HYBRID = not os.path.exists("/sys/fs/cgroup/cgroup.controllers") and \
    os.path.exists(UNIFIED + "/cgroup.procs")


def cgroups_of(pid: int) -> dict[str, str]:
    """controllers ("" for the v2 hierarchy) -> cgroup path, from /proc/<pid>/cgroup."""
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _hid, ctls, path = line.rstrip("\n").split(":", 2)
            out[ctls] = path
    return out


def nspid(pid: int) -> list[str]:
    with open(f"/proc/{pid}/status") as f:
        return next(ln.split()[1:] for ln in f if ln.startswith("NSpid:"))


def start_sleeper(rt, edit=None, argv_prefix=None) -> tuple[str, int]:
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: s["linux"].update(cgroupsPath=f"/{cid}"))
    if edit:
        rt.edit(b, edit)
    if argv_prefix is None:
        p = rt("run", "-d", "--bundle", str(b), cid)
        assert p.returncode == 0, (p.stderr, rt.last_error())
    else:
        # files, not pipes: the detached init keeps its stdio open
        with tempfile.TemporaryFile() as err:
            p = subprocess.run([*argv_prefix, *rt.argv("run", "-d", "--bundle", str(b), cid)[1:]],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                               timeout=30)
            err.seek(0)
            assert p.returncode == 0, (err.read(), rt.last_error())
    return cid, rt.state(cid)["pid"]


def assert_placed(cid: str, pid: int) -> None:
    """The init alone in the container's cgroups (v1 and, on a hybrid host, unified), pid 1
    of a new pid namespace, in namespaces of its own."""
    cgs = cgroups_of(pid)
    for ctls, path in cgs.items():
        if ctls.startswith("name=") or ctls in ("", "pids", "memory", "cpu,cpuacct", "cpu",
                                                 "devices", "freezer", "blkio"):
            assert path == f"/{cid}", (ctls, cgs)
    if HYBRID:
        with open(f"{UNIFIED}/{cid}/cgroup.procs") as f:
            assert f.read().split() == [str(pid)]  # nothing of the runtime stayed behind
    assert nspid(pid)[-1] == "1"
    for ns in ("mnt", "uts", "ipc", "pid", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns


def test_init_is_in_every_cgroup_and_namespace(rt):
    cid, pid = start_sleeper(rt)
    assert_placed(cid, pid)
    assert rt("delete", "--force", cid).returncode == 0


def test_stage1_path_places_the_init_alike(rt):
    """A namespace joined by path goes through stage 1 (setns before the fork)."""
    holder, hpid = start_sleeper(rt)
    netns = f"/proc/{hpid}/ns/net"

    def join_net(s):
        for ns in s["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = netns
    cid, pid = start_sleeper(rt, join_net)
    assert os.readlink(f"/proc/{pid}/ns/net") == os.readlink(netns)
    cgs = cgroups_of(pid)
    assert cgs.get("", f"/{cid}") == f"/{cid}" and cgs["pids"] == f"/{cid}"
    assert nspid(pid)[-1] == "1"
    for c in (cid, holder):
        assert rt("delete", "--force", c).returncode == 0


def test_without_clone3_the_fork_and_unshare_path_is_used(rt):
    """Kernels before 5.7, or a seccomp profile answering ENOSYS (Docker's default does, for
    clone3), leave only fork + unshare + cgroup.procs: the container must come out the same."""
    shim = ("import errno, sys; sys.path.insert(0, %r)\n"
            "from pyrunc import syscalls\n"
            "def refuse(*a, **k):\n"
            "    raise OSError(errno.ENOSYS, 'clone3: function not implemented')\n"
            "syscalls.clone_fork = refuse\n"
            "from pyrunc.main import main\n"
            "main()\n") % str(REPO)
    cid, pid = start_sleeper(rt, argv_prefix=[sys.executable, "-IS", "-c", shim])
    assert_placed(cid, pid)
    assert rt("delete", "--force", cid).returncode == 0


def test_cgroup_namespace_is_rooted_at_the_container(rt):
    """A new cgroup namespace is created only once the init is in its cgroups."""
    b = rt.bundle(["cat", "/proc/self/cgroup"])
    rt.edit(b, lambda s: s["linux"]["namespaces"].append({"type": "cgroup"}))
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 0, (p.stderr, rt.last_error())
    paths = [ln.split(":", 2)[2] for ln in p.stdout.splitlines()]
    assert paths and all(path == "/" for path in paths), p.stdout


@pytest.mark.skipif(not HYBRID, reason="needs the unified hierarchy of a hybrid host")
def test_exec_joins_the_unified_cgroup_too(rt):
    cid, pid = start_sleeper(rt)
    p = rt("exec", cid, "cat", "/proc/self/cgroup")
    assert p.returncode == 0, p.stderr
    assert f"0::/{cid}" in p.stdout.splitlines()
    assert rt("delete", "--force", cid).returncode == 0


def test_failure_after_ready_fails_create_and_leaves_nothing(rt):
    """The init reports "ready" and goes on without waiting for the parent: an error after
    that (here the binary lookup) must still fail create, with runc's words, and be undone."""
    cid = rt.new_id()
    b = rt.bundle(["no-such-binary"])
    rt.edit(b, lambda s: s["linux"].update(cgroupsPath=f"/{cid}"))
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1
    msg = rt.last_error()["msg"]
    assert msg == ('runc create failed: unable to start container process: exec: '
                   '"no-such-binary": executable file not found in $PATH'), msg
    assert not (rt.root / cid).exists()
    assert find_cgroups(cid) == []
    assert rt("state", cid).returncode == 1


def test_bad_resource_after_clone_kills_the_init(rt):
    """A resource the kernel refuses fails create after the init was cloned: nothing of it
    may stay (process, cgroups, state dir)."""
    cid = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: (s["linux"].update(cgroupsPath=f"/{cid}"),
                          s["linux"]["resources"].update(cpu={"cpus": "4095"})))
    p = rt("create", "--bundle", str(b), cid)
    assert p.returncode == 1
    assert "cpuset.cpus" in rt.last_error()["msg"]
    assert not (rt.root / cid).exists()
    assert find_cgroups(cid) == []
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert cid not in out


def test_shared_existing_cgroup_is_warned_about(rt):
    """Only a cgroup that existed before create can hold other processes: then runc's
    warning goes to the log (a cgroup create made itself is not read for it)."""
    first, pid = start_sleeper(rt)
    log = rt.log.read_text() if rt.log.exists() else ""
    assert "cgroup is not empty" not in log
    second = rt.new_id()
    b = rt.bundle(["sleep", "60"])
    rt.edit(b, lambda s: s["linux"].update(cgroupsPath=f"/{first}"))
    p = rt("run", "-d", "--bundle", str(b), second)
    assert p.returncode == 0, (p.stderr, rt.last_error())
    assert "container's cgroup is not empty: other processes share it" in rt.log.read_text()
    # stop the guest first: a delete waits for the cgroup it removes to empty
    spid = rt.state(second)["pid"]
    assert rt("kill", second, "KILL").returncode == 0
    assert wait_for(lambda: not os.path.exists(f"/proc/{spid}"))
    for c in (first, second):
        assert rt("delete", "--force", c).returncode == 0


@pytest.mark.skipif(not os.path.isdir("/sys/fs/cgroup/pids"), reason="needs the v1 pids hierarchy")
def test_exec_joins_a_sub_cgroup_and_reports_a_missing_one(rt):
    """exec's stage 1 moves itself into the v1 dirs: --cgroup ctl:sub goes to the sub-cgroup,
    and a missing one fails with runc's words (exit 255, nothing started)."""
    cid, pid = start_sleeper(rt)
    sub = f"/sys/fs/cgroup/pids/{cid}/sub"
    os.mkdir(sub)
    try:
        p = rt("exec", "--cgroup", "pids:sub", cid, "cat", "/proc/self/cgroup")
        assert p.returncode == 0, p.stderr
        got = {ln.split(":", 2)[1]: ln.split(":", 2)[2] for ln in p.stdout.splitlines()}
        assert got["pids"] == f"/{cid}/sub" and got["freezer"] == f"/{cid}"
    finally:
        os.rmdir(sub)
    p = rt("exec", "--cgroup", "pids:nope", cid, "true")
    assert p.returncode == 255
    msg = rt.last_error()["msg"]
    assert msg.startswith("exec failed: unable to start container process: error adding pid ")
    assert msg.endswith(f": openat2 /sys/fs/cgroup/pids/{cid}/nope/cgroup.procs: "
                        "no such file or directory"), msg
    assert rt("delete", "--force", cid).returncode == 0


def test_run_of_a_process_gone_at_once_writes_its_pid_file(rt, tmp_path):
    """run opens exec.fifo as soon as state.json is stored: the process may be done before
    create's last steps, which must not mistake that for an init that died early."""
    pidfile = tmp_path / "run.pid"
    b = rt.bundle(["true"])
    for i in range(3):
        p = rt("run", "--pid-file", str(pidfile), "--bundle", str(b), rt.new_id())
        assert p.returncode == 0, (p.stderr, rt.last_error())
        assert int(pidfile.read_text()) > 1
        pidfile.unlink()


def test_run_keeps_poststart_before_the_process(rt, tmp_path):
    """With a poststart hook, run releases the process only after it ran (runc's order)."""
    marker = tmp_path / "poststart-ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > /dev/null; sleep 0.2; touch {marker}\n")
    hook.chmod(0o755)
    b = rt.bundle(["sh", "-c", "ls /hostmark 2>/dev/null || echo missing"])

    def edit(s):
        s["hooks"] = {"poststart": [{"path": str(hook)}]}
        s["mounts"].append({"destination": "/hostmark", "type": "bind",
                            "source": str(tmp_path), "options": ["rbind", "ro"]})
    rt.edit(b, edit)
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 0, (p.stderr, rt.last_error())
    assert "poststart-ran" in p.stdout.split()


def _errno_profile(**extra) -> dict:
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    prof.update(extra)
    return prof


def test_seccomp_compiled_by_create_is_enforced_with_flags_and_hooks(rt, tmp_path):
    """The direct init gets its seccomp program from create (compiled while it mounts):
    rules, filter flags, and the prestart round trip in between must all still hold."""
    log = tmp_path / "hook.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ncat > /dev/null; echo prestart >> {log}\n")
    hook.chmod(0o755)
    b = rt.bundle(["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?; grep Seccomp: /proc/self/status"])
    rt.edit(b, lambda s: (s["linux"].update(seccomp=_errno_profile(
        flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])),
        s.update(hooks={"prestart": [{"path": str(hook)}]})))
    p = rt("run", "--bundle", str(b), rt.new_id())
    assert p.returncode == 0, (p.stderr, rt.last_error())
    out = p.stdout.split()
    assert "rc=1" in out and "Operation" in p.stdout  # EPERM from the rule
    assert out[-1] == "2"  # Seccomp: 2 (filter mode)
    assert log.read_text() == "prestart\n"


def test_bad_seccomp_profile_keeps_the_inits_words(rt):
    b = rt.bundle(["true"])
    rt.edit(b, lambda s: s["linux"].update(seccomp=_errno_profile(architectures=["SCMP_ARCH_NOPE"])))
    cid = rt.new_id()
    p = rt("run", "--bundle", str(b), cid)
    assert p.returncode == 1
    assert rt.last_error()["msg"] == ("runc run failed: unable to start container process: "
                                      "seccomp: invalid architecture 'SCMP_ARCH_NOPE'")
    assert not (rt.root / cid).exists()


def test_exec_gets_the_containers_seccomp_filter(rt):
    """exec's process loads the program exec compiled while stage 1 joined the namespaces."""
    cid, pid = start_sleeper(rt, lambda s: s["linux"].update(seccomp=_errno_profile()))
    p = rt("exec", cid, "sh", "-c", "mkdir /tmp/y 2>&1; echo rc=$?; grep Seccomp: /proc/self/status")
    assert p.returncode == 0, (p.stderr, rt.last_error())
    assert "rc=1" in p.stdout.split() and "Operation not permitted" in p.stdout
    assert p.stdout.split()[-1] == "2"
    p = rt("exec", cid, "sh", "-c", "exit 3")  # and no stale message confuses the next one
    assert p.returncode == 3
    assert rt("delete", "--force", cid).returncode == 0
