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


def _run_sleeper(rt, cid=None) -> str:
    cid = cid or rt.new_id()
    b = rt.bundle(["sleep", "60"])
    p = rt("run", "-d", "--bundle", str(b), cid)
    assert p.returncode == 0, p.stderr
    return cid


# what runc 1.1.5 prints for each (checked against /usr/sbin/runc when it was written)
BAD_UPDATES = [
    (["--memory", "abc"], "invalid value for memory: invalid size: 'abc'"),
    (["--memory-swap", "1.5.5"],
     'invalid value for memory-swap: strconv.ParseFloat: parsing "1.5.5": invalid syntax'),
    (["--memory", "-5"], "invalid value for memory: invalid size: '-5'"),
    (["--pids-limit", "x"], 'invalid value "x" for flag -pids-limit: parse error'),
    (["--blkio-weight", "99999999999999999999"],
     'invalid value "99999999999999999999" for flag -blkio-weight: value out of range'),
    (["--cpu-share", "abc"],
     'invalid value for cpu-share: strconv.ParseUint: parsing "abc": invalid syntax'),
    (["--cpu-period", "-1"],
     'invalid value for cpu-period: strconv.ParseUint: parsing "-1": invalid syntax'),
    (["--cpu-quota", "1.5"],
     'invalid value for cpu-quota: strconv.ParseInt: parsing "1.5": invalid syntax'),
]
BAD_RESOURCES = [
    ('{"memory":{"limit":"bad"}}',
     "json: cannot unmarshal string into Go struct field LinuxMemory.memory.limit of type int64"),
    ('{"memory":{"limit":1.5}}', "json: cannot unmarshal number 1.5 into Go struct field "
                                 "LinuxMemory.memory.limit of type int64"),
    ('{"cpu":{"shares":-1}}', "json: cannot unmarshal number -1 into Go struct field "
                              "LinuxCPU.cpu.shares of type uint64"),
    ('{"Pids":{"Limit":"x"}}',
     "json: cannot unmarshal string into Go struct field LinuxPids.pids.limit of type int64"),
    ('{"cpu":{"cpus":5}}',
     "json: cannot unmarshal number into Go struct field LinuxCPU.cpu.cpus of type string"),
    ('{"memory":[]}', "json: cannot unmarshal array into Go struct field LinuxResources.memory "
                      "of type specs.LinuxMemory"),
    ('{"hugepageLimits":[{"pageSize":"2MB","limit":"x"}]}',
     "json: cannot unmarshal string into Go struct field "
     "LinuxHugepageLimit.hugepageLimits.limit of type uint64"),
    ('{"blockIO":{"weight":70000}}', "json: cannot unmarshal number 70000 into Go struct field "
                                     "LinuxBlockIO.blockIO.weight of type uint16"),
    ('{"unified":{"a":1}}', "json: cannot unmarshal number into Go struct field "
                            "LinuxResources.unified of type string"),
    ("[]", "json: cannot unmarshal array into Go value of type specs.LinuxResources"),
    ("nojson", "invalid character 'o' in literal null (expecting 'u')"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ('{"memory":{"limit":5}', "unexpected EOF"),
    ("", "EOF"),
]


def test_update_bad_values_fail_with_runcs_messages(rt, tmp_path):
    cid = _run_sleeper(rt)
    before = json.loads((rt.root / cid / "state.json").read_text())["config"]["linux"]
    for args, msg in BAD_UPDATES:
        p = rt("update", *args, cid)
        assert (p.returncode, p.stderr.strip()) == (1, msg), args
    for text, msg in BAD_RESOURCES:
        f = tmp_path / "res.json"
        f.write_text(text)
        p = rt("update", "-r", str(f), cid)
        assert (p.returncode, p.stderr.strip()) == (1, msg), text
    p = rt("update", "-r", str(tmp_path / "nonexist.json"), cid)
    assert p.stderr.strip() == f"open {tmp_path}/nonexist.json: no such file or directory"
    # nothing reached the cgroup or the saved config
    after = json.loads((rt.root / cid / "state.json").read_text())["config"]["linux"]
    assert after.get("resources") == before.get("resources")
    # a bad IntFlag is a usage error, found before the container is looked up
    p = rt("update", "--pids-limit", "x", "nonexist")
    assert p.stderr.strip() == 'invalid value "x" for flag -pids-limit: parse error'
    p = rt("update", "--memory", "x", "nonexist")
    assert p.stderr.strip() == "container does not exist"


def test_update_accepts_what_runc_accepts(rt, tmp_path):
    cid = _run_sleeper(rt)
    # Go's base-0 ints, go-units sizes; the first JSON value of -r (trailing text ignored),
    # keys matched case-insensitively, nulls leave a value alone
    for args in (["--pids-limit", "0x10"], ["--pids-limit", "1_0"], ["--memory", "10 MiB"],
                 ["--memory", "1.5g"], ["--memory", "-1", "--memory-swap", "-1"]):
        p = rt("update", *args, cid)
        assert p.returncode == 0, (args, p.stderr)
    f = tmp_path / "res.json"
    f.write_text('{"Pids":{"Limit":12},"memory":{"limit":null}} trailing')
    p = rt("update", "-r", str(f), cid)
    assert p.returncode == 0, p.stderr
    saved = json.loads((rt.root / cid / "state.json").read_text())["config"]["linux"]
    assert saved["resources"]["pids"]["limit"] == 12
    if os.path.exists("/sys/fs/cgroup/pids/tasks"):  # cgroup v1
        from pyrunc_helpers import find_cgroups
        (cg,) = [c for c in find_cgroups(cid) if c.startswith("/sys/fs/cgroup/pids/")]
        assert open(f"{cg}/pids.max").read().strip() == "12"


def test_list_owner_and_table_as_runc(rt, tmp_path):
    cid = _run_sleeper(rt)
    (item,) = json.loads(rt("list", "--format", "json").stdout)
    assert item["owner"] == "root"  # the state dir's owner, by name, as runc
    assert list(item) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                          "owner"]
    header, row = rt("list").stdout.splitlines()
    # Go's tabwriter (min width 12, padding 3), as runc's table
    assert header.startswith("ID".ljust(len(cid) + 3) + "PID" + " " * 9 + "STATUS      BUNDLE")
    assert row.startswith(cid.ljust(len(cid) + 3) + str(item["pid"]).ljust(12) + "running     ")
    assert row.endswith(item["created"] + "   root")
    if os.access(RUNC, os.X_OK):  # an empty root: the header alone, byte for byte
        empty = str(tmp_path / "empty")
        r = subprocess.run([RUNC, "--root", empty, "list"], capture_output=True, text=True)
        p = subprocess.run([PYRUNC, "--root", empty, "list"], capture_output=True, text=True)
        assert p.stdout == r.stdout


def _keys(d: dict, pre: str = "") -> set[str]:
    out = set()
    for k, v in d.items():
        out.add(pre + k)
        if isinstance(v, dict) and k != "raw":
            out |= _keys(v, f"{pre}{k}.")
    return out


V1 = not os.path.exists("/sys/fs/cgroup/cgroup.controllers")


def _stats_bundle(rt):
    b = rt.bundle(["sleep", "60"])

    def edit(s):
        s["linux"]["resources"].update({"memory": {"limit": 64 << 20}, "pids": {"limit": 50}})
    rt.edit(b, edit)
    return b


@pytest.mark.skipif(not V1, reason="runc's v1 stats shape")
def test_events_stats_shape_v1(rt):
    cid = rt.new_id()
    p = rt("run", "-d", "--bundle", str(_stats_bundle(rt)), cid)
    assert p.returncode == 0, p.stderr
    p = rt("events", "--stats", cid)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)["data"]
    usage = data["cpu"]["usage"]
    ncpu = len(usage["percpu"])
    assert ncpu >= 1 and len(usage["percpu_kernel"]) == len(usage["percpu_user"]) == ncpu
    assert sum(usage["percpu"]) <= usage["total"] + ncpu
    cpuset = data["cpuset"]
    assert cpuset["cpus"] and cpuset["mems"]
    assert {"cpu_exclusive", "mem_hardwall", "sched_load_balance",
            "sched_relax_domain_level"} <= set(cpuset)
    # omitempty: no quota, so no throttling figures; no TCP memory in use
    assert "throttledPeriods" not in data["cpu"]["throttling"]
    assert "throttledTime" not in data["cpu"]["throttling"]
    assert set(data["memory"]["kernelTCP"]) == {"limit", "failcnt"}
    assert ("cache" in data["memory"]) == bool(data["memory"]["raw"].get("cache"))
    assert data["pids"] == {"current": 1, "limit": 50}
    assert list(data["memory"]["raw"]) == sorted(data["memory"]["raw"])  # a Go map


@have_runc
@pytest.mark.skipif(not V1, reason="runc's v1 stats shape")
def test_events_stats_keys_match_runc(rt, tmp_path):
    from pyrunc_helpers import find_cgroups
    cid = rt.new_id()
    rid = f"runc-t-{cid[-8:]}"
    rroot = str(tmp_path / "runc-state")
    b = _stats_bundle(rt)
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    try:
        # the container keeps runc's stdio: a file, not a pipe that would never reach EOF
        with open(tmp_path / "runc.err", "w+") as err:
            r = subprocess.run([RUNC, "--root", rroot, "run", "-d", "--bundle", str(b), rid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=err, timeout=30)
            err.seek(0)
            assert r.returncode == 0, err.read()
        r = subprocess.run([RUNC, "--root", rroot, "events", "--stats", rid],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        p = rt("events", "--stats", cid)
        assert p.returncode == 0, p.stderr
        want, got = json.loads(r.stdout), json.loads(p.stdout)
        assert list(got) == list(want) and list(got["data"]) == list(want["data"])
        diff = _keys(want["data"]) ^ _keys(got["data"])
        # the page cache of the shared busybox binary is charged to whichever read it first
        assert diff <= {"memory.cache"}, sorted(diff)
        assert set(got["data"]["memory"]["raw"]) == set(want["data"]["memory"]["raw"])
    finally:
        subprocess.run([RUNC, "--root", rroot, "delete", "--force", rid], capture_output=True)
    assert not find_cgroups(rid)


def test_cli_edges_as_runc(rt, tmp_path):
    def text(*args):
        p = rt(*args)
        return p.returncode, p.stderr.strip()

    # unknown commands: urfave/cli's text (its newline kept, escaped in the log line), status 3
    assert text("foo") == (3, "No help topic for 'foo'")
    assert rt.last_error()["msg"] == "No help topic for 'foo'\n"
    p = subprocess.run([PYRUNC, "foo"], capture_output=True, text=True)
    assert p.returncode == 3 and p.stderr.endswith('msg="No help topic for \'foo\'\\n"\n')
    p = subprocess.run([PYRUNC, "help", "kill"], capture_output=True, text=True)
    assert p.returncode == 0 and "runc kill" in p.stdout
    # checkpoint/restore: runc's argument and container checks, then a plain refusal
    assert text("checkpoint", "nonexist") == (1, "container does not exist")
    assert text("checkpoint")[1] == 'runc: "checkpoint" requires exactly 1 argument(s)'
    cid = rt.new_id()
    b = rt.bundle(["sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done"])
    assert rt("run", "-d", "--bundle", str(b), cid).returncode == 0
    for cmd in (["checkpoint", "--image-path", str(tmp_path / "img"), "--leave-running", cid],
                ["restore", "--image-path", str(tmp_path / "img"), "--bundle", str(b), cid]):
        rc, msg = text(*cmd)
        assert rc == 1 and "not supported" in msg and "No help topic" not in msg, msg
    # argument counts
    assert text("delete", "a", "b") == (1, 'runc: "delete" requires exactly 1 argument(s)')
    for cmd in ("spec", "list", "features"):
        assert text(cmd, "extra") == (1, f'runc: "{cmd}" requires exactly 0 argument(s)')
    # kill: the container is looked up first; an empty signal is the default, SIGTERM
    assert text("kill", "nonexist", "FOO") == (1, "container does not exist")
    assert text("kill", cid, "") == (0, "")
    assert rt.wait_status(cid, "stopped")["status"] == "stopped"
