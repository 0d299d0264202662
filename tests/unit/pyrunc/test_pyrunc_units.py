"""Pure-logic tests for pyrunc: argv parsing, signals, options, paths, cgroup files, seccomp."""
from __future__ import annotations

import json
import os
import re
import signal

import pytest

from pyrunc import config as cfg
from pyrunc.cgroups import device_rule_text, device_rules, resolve_path, shares_to_weight
from pyrunc.cgroups.v1 import V1Manager, mounts as v1_mounts
from pyrunc.cgroups.v2 import V2Manager
from pyrunc.container import signal_number
from pyrunc.errors import RuncError
from pyrunc.main import _FLAGS, _GLOBAL, parse_flags
from pyrunc.mounts import parse_options, secure_join
from pyrunc import syscalls as sc
from pyrunc.state import State, validate_id


# --- argv ---------------------------------------------------------------------------------------

def test_global_then_subcommand_flags():
    g, rest = parse_flags(["--root", "/r", "--log", "/l.json", "--log-format=json",
                           "--systemd-cgroup", "create", "--bundle", "/b", "x"], _GLOBAL, "")
    assert g == {"root": "/r", "log": "/l.json", "log-format": "json", "systemd-cgroup": True}
    opts, pos = parse_flags(rest[1:], _FLAGS["create"], "create")
    assert opts == {"bundle": "/b"} and pos == ["x"]


def test_short_flags_bool_values_and_stop_at_positional():
    opts, pos = parse_flags(["-d", "--pid-file", "p", "-e", "A=1", "--env=B=2", "id", "sh",
                             "-c", "x"], _FLAGS["exec"], "exec")
    assert opts == {"detach": True, "pid-file": "p", "env": ["A=1", "B=2"]}
    assert pos == ["id", "sh", "-c", "x"]
    opts, _ = parse_flags(["--force=false", "x"], _FLAGS["delete"], "delete")
    assert opts == {"force": False}


def test_unknown_flag_and_missing_value():
    with pytest.raises(RuncError, match="flag provided but not defined: -nope"):
        parse_flags(["--nope", "x"], _FLAGS["start"], "start")
    with pytest.raises(RuncError, match="flag needs an argument"):
        parse_flags(["--bundle"], _FLAGS["create"], "create")


@pytest.mark.parametrize("text,num", [("9", 9), ("KILL", 9), ("SIGKILL", 9), ("term", 15),
                                      ("SIGUSR1", int(signal.SIGUSR1)),
                                      ("RTMIN+2", int(signal.SIGRTMIN) + 2)])
def test_signal_names(text, num):
    assert signal_number(text) == num


@pytest.mark.parametrize("bad", ["SIGNOPE", "", "RTMIN+99"])
def test_bad_signals(bad):
    with pytest.raises(RuncError):
        signal_number(bad)


@pytest.mark.parametrize("cid,ok", [("abc", True), ("a.b-c+d_e", True), ("a/b", False),
                                    ("..", False), ("", False), ("a b", False)])
def test_container_ids(cid, ok):
    if ok:
        validate_id(cid)
    else:
        with pytest.raises(RuncError):
            validate_id(cid)


# --- mounts -------------------------------------------------------------------------------------

def test_mount_options():
    flags, prop, data = parse_options(["rbind", "ro", "nosuid", "rprivate", "size=1m", "mode=755"])
    assert flags == sc.MS_BIND | sc.MS_REC | sc.MS_RDONLY | sc.MS_NOSUID
    assert prop == [sc.MS_PRIVATE | sc.MS_REC]
    assert data == "size=1m,mode=755"
    flags, _, _ = parse_options(["ro", "rw", "noexec", "exec"])
    assert flags == 0


def test_secure_join_stays_in_root(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../..", root / "a" / "up")
    assert secure_join(str(root), "/abs/passwd") == str(root / "etc" / "passwd")
    assert secure_join(str(root), "/a/up/x") == str(root / "x")
    assert secure_join(str(root), "../../x") == str(root / "x")
    assert secure_join(str(root), "/") == str(root)


# --- config validation --------------------------------------------------------------------------

def _bundle(tmp_path, **over):
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    from pyrunc.spec import example
    spec = example()
    spec.update(over)
    (tmp_path / "config.json").write_text(json.dumps(spec))
    return spec


def test_validate_ok_and_rootfs_missing(tmp_path):
    spec = _bundle(tmp_path)
    assert cfg.validate(spec, str(tmp_path)) == str(tmp_path / "rootfs")
    spec["root"]["path"] = "nope"
    with pytest.raises(RuncError, match="invalid rootfs: stat .*nope: no such file or directory"):
        cfg.validate(spec, str(tmp_path))


@pytest.mark.parametrize("mutate,msg", [
    (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), 'namespace {"bogus" ""} does not'),
    (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "duplicated ns"),
    (lambda s: s["process"].update(args=[]), "args must not be empty"),
    (lambda s: s["process"].update(cwd="rel"), "must be an absolute path"),
    (lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_X", "soft": 1, "hard": 1}]),
     "wrong rlimit value: RLIMIT_X"),
    (lambda s: s["linux"].update(sysctl={"kernel.foo": "1"}), "not in a separate kernel"),
    (lambda s: s["linux"].update(namespaces=[{"type": "mount"}]), "hostname without a private"),
    (lambda s: s["linux"]["namespaces"].append({"type": "user"}), "no uid/gid mappings"),
])
def test_validate_rejects(tmp_path, mutate, msg):
    spec = _bundle(tmp_path)
    mutate(spec)
    with pytest.raises(RuncError, match=msg):
        cfg.validate(spec, str(tmp_path))


def test_load_spec_errors(tmp_path):
    with pytest.raises(RuncError, match="JSON specification file config.json not found"):
        cfg.load_spec(str(tmp_path))
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(RuncError):
        cfg.load_spec(str(tmp_path))


# --- state --------------------------------------------------------------------------------------

def test_state_status_is_derived(tmp_path):
    root = tmp_path
    (root / "c").mkdir()
    with open("/proc/self/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19])
    st = State(str(root), "c", {"init_process_pid": os.getpid(), "init_process_start": start,
                                "config": {"annotations": {"a": "b"}}, "bundle": "/b",
                                "created": "t"})
    assert st.status() == "running"
    os.mkfifo(root / "c" / "exec.fifo")
    assert st.status() == "created"
    st.data["init_process_start"] = start + 1  # pid reuse
    assert st.status() == "stopped"
    out = st.oci_state()
    assert out["pid"] == 0 and out["annotations"] == {"a": "b"}
    assert list(out) == ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created",
                         "annotations", "owner"]
    st.save()
    assert State.load(str(root), "c").data["bundle"] == "/b"
    with pytest.raises(RuncError, match="container does not exist"):
        State.load(str(root), "other")


# --- cgroups ------------------------------------------------------------------------------------

def test_systemd_paths():
    assert resolve_path("system.slice:docker:abc", "abc", True) == "/system.slice/docker-abc.scope"
    assert resolve_path("a-b.slice:p:n", "n", True) == "/a.slice/a-b.slice/p-n.scope"
    assert resolve_path("", "id", False) == "id"
    assert resolve_path("/x/y", "id", False) == "/x/y"
    with pytest.raises(RuncError, match="slice:prefix:name"):
        resolve_path("/x/y", "id", True)


def test_shares_to_weight():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000


def test_device_rules_add_runc_defaults():
    rules = device_rules({"devices": [{"allow": False, "access": "rwm"}]},
                         [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}])
    texts = [(r["allow"], device_rule_text(r)) for r in rules]
    assert texts[0] == (False, "a *:* rwm")
    assert (True, "c 10:229 rwm") not in texts  # created, not allowed (as runc)
    assert (True, "c 5:1 rwm") in texts
    assert (True, "c 1:3 rwm") in texts and (True, "c 136:* rwm") in texts


def _fake_v2(tmp_path):
    root = tmp_path / "cg2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids io cpuset\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def test_v2_manager_against_fake_tree(tmp_path, monkeypatch):
    root = _fake_v2(tmp_path)
    m = V2Manager.for_path("/pyrunc/c1", mount=str(root))
    # a real cgroupfs creates the interface files on mkdir; emulate for the ones we write
    orig_mkdir = os.mkdir

    def mkdir(p, mode=0o777):
        orig_mkdir(p, mode)
        open(os.path.join(p, "cgroup.controllers"), "w").write("cpu memory pids io cpuset\n")
        open(os.path.join(p, "cgroup.subtree_control"), "w").write("")
    monkeypatch.setattr(os, "mkdir", mkdir)
    m.apply(4242)
    monkeypatch.undo()
    d = root / "pyrunc" / "c1"
    assert (d / "cgroup.procs").read_text() == "4242"
    assert "+memory" in (root / "cgroup.subtree_control").read_text()
    assert "+cpu" in (root / "pyrunc" / "cgroup.subtree_control").read_text()
    m.set({"memory": {"limit": 1 << 20, "swap": 3 << 20, "reservation": 1 << 19},
           "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1"},
           "pids": {"limit": -1}, "unified": {"memory.high": "900000"}})
    assert (d / "memory.max").read_text() == str(1 << 20)
    assert (d / "memory.swap.max").read_text() == str(2 << 20)
    assert (d / "memory.low").read_text() == str(1 << 19)
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpuset.cpus").read_text() == "0-1"
    assert (d / "pids.max").read_text() == "max"
    assert (d / "memory.high").read_text() == "900000"
    with pytest.raises(RuncError, match="should be greater"):
        m.set({"memory": {"limit": 4 << 20, "swap": 1 << 20}})
    with pytest.raises(RuncError, match="file name"):
        m.set({"unified": {"../x": "1"}})
    assert m.paths == {"unified": str(d)}


def test_v1_manager_against_fake_tree(tmp_path):
    paths = {}
    for ctl in ("memory", "cpu", "pids", "devices", "freezer"):
        d = tmp_path / ctl / "c1"
        d.mkdir(parents=True)
        paths[ctl] = str(d)
    (tmp_path / "memory" / "c1" / "memory.memsw.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "memory" / "c1" / "memory.limit_in_bytes").write_text("9223372036854771712")
    m = V1Manager(paths, [])
    m.set({"memory": {"limit": 100 << 20, "swap": 200 << 20, "swappiness": 10},
           "cpu": {"shares": 256, "quota": 20000, "period": 50000},
           "pids": {"limit": 10}},
          [{"allow": False, "type": "a", "access": "rwm"},
           {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}])
    mem = tmp_path / "memory" / "c1"
    assert (mem / "memory.limit_in_bytes").read_text() == str(100 << 20)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(200 << 20)
    assert (mem / "memory.swappiness").read_text() == "10"
    assert (tmp_path / "cpu" / "c1" / "cpu.cfs_period_us").read_text() == "50000"
    assert (tmp_path / "cpu" / "c1" / "cpu.cfs_quota_us").read_text() == "20000"
    assert (tmp_path / "pids" / "c1" / "pids.max").read_text() == "10"
    # a plain file only keeps the last write: the allow rule came last
    assert (tmp_path / "devices" / "c1" / "devices.allow").read_text() == "c 1:3 rwm"
    assert (tmp_path / "devices" / "c1" / "devices.deny").read_text() == "a *:* rwm"
    with pytest.raises(RuncError, match="swappiness"):
        m.set({"memory": {"swappiness": 101}})


def test_v1_mountinfo_parsing(tmp_path):
    mi = tmp_path / "mountinfo"
    mi.write_text(
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 /sub /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "22 1 0:5 / /proc rw - proc proc rw\n")
    got = v1_mounts(str(mi))
    assert got["cpu"] == ("/sys/fs/cgroup/cpu,cpuacct", "/")
    assert got["cpuacct"] == ("/sys/fs/cgroup/cpu,cpuacct", "/")
    assert got["memory"] == ("/sys/fs/cgroup/memory", "/sub")
    assert got["name=systemd"] == ("/sys/fs/cgroup/systemd", "/")
    assert got["unified"] == ("/sys/fs/cgroup/unified", "/")
    assert "proc" not in got


# --- seccomp ------------------------------------------------------------------------------------

def test_seccomp_compiles_and_exports_bpf(tmp_path):
    from pyrunc import seccomp
    try:
        seccomp._libseccomp()
    except RuncError as e:
        pytest.skip(str(e))
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "not_a_syscall"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 131072, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}
    f = seccomp.compile_filter(prof)
    out = tmp_path / "bpf"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        f.export_bpf(fd)
    finally:
        os.close(fd)
        f.release()
    size = out.stat().st_size
    assert size > 0 and size % 8 == 0  # struct sock_filter is 8 bytes
    with pytest.raises(RuncError, match="invalid action"):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_BOGUS"})
    with pytest.raises(RuncError, match="invalid operator"):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_NOPE"}]}]})


def test_seccomp_action_values():
    from pyrunc.seccomp import action
    assert action("SCMP_ACT_ALLOW", None) == 0x7FFF0000
    assert action("SCMP_ACT_ERRNO", None) == 0x00050001
    assert action("SCMP_ACT_ERRNO", 38) == 0x00050026
    assert action("SCMP_ACT_ERRNO", None, 22) == 0x00050016
    assert action("SCMP_ACT_KILL_PROCESS", None) == 0x80000000


def test_spec_example_is_valid_json_shape():
    from pyrunc.spec import example, features
    spec = example()
    assert spec["process"]["terminal"] is True and spec["root"]["readonly"] is True
    assert {n["type"] for n in spec["linux"]["namespaces"]} >= {"pid", "network", "ipc", "uts",
                                                               "mount"}
    f = features()
    assert f["ociVersionMin"] == "1.0.0" and "CAP_CHOWN" in f["linux"]["capabilities"]


@pytest.mark.parametrize("mutate,msg", [
    (lambda s: s["process"].update(args="sh"), "cannot unmarshal string into Go struct field "
                                               "Process.process.args of type \\[\\]string"),
    (lambda s: s["process"].update(env=[1]), "cannot unmarshal number"),
    (lambda s: s["process"]["user"].update(uid="0"), "uint32"),
    (lambda s: s.update(mounts="x"), "Spec.mounts"),
])
def test_validate_rejects_wrong_types(tmp_path, mutate, msg):
    spec = _bundle(tmp_path)
    mutate(spec)
    with pytest.raises(RuncError, match=msg):
        cfg.validate(spec, str(tmp_path))


def test_log_lines_are_logrus_shaped(tmp_path):
    from pyrunc import runlog
    path = tmp_path / "log.json"
    runlog.setup(str(path), "json", False)
    try:
        runlog.warn("careful")
    finally:
        os.close(runlog._fd)
        runlog._fd = None
    line = path.read_text()
    assert line.startswith('{"level":"warning","msg":"careful","time":"')
    assert json.loads(line)["time"].endswith("Z")


def test_flags_after_positionals_like_urfave_cli():
    opts, pos = parse_flags(["c1", "--memory", "1m", "--pids-limit=5"], _FLAGS["update"],
                            "update", interleaved=True)
    assert opts == {"memory": "1m", "pids-limit": "5"} and pos == ["c1"]
    opts, pos = parse_flags(["c1", "KILL", "--all"], _FLAGS["kill"], "kill", interleaved=True)
    assert opts == {"all": True} and pos == ["c1", "KILL"]
    # exec keeps everything after the id for the command
    opts, pos = parse_flags(["c1", "ls", "-la"], _FLAGS["exec"], "exec")
    assert opts == {} and pos == ["c1", "ls", "-la"]


@pytest.mark.parametrize("text,secs", [("5s", 5.0), ("100ms", 0.1), ("1m30s", 90.0),
                                       ("1.5h", 5400.0)])
def test_go_durations(text, secs):
    from pyrunc.commands import go_duration
    assert go_duration(text) == pytest.approx(secs)


@pytest.mark.parametrize("bad", ["5", "abc", "0s", "-1s"])
def test_bad_go_durations(bad):
    from pyrunc.commands import go_duration
    with pytest.raises(RuncError):
        go_duration(bad)


def test_cgroup_self_join_split(tmp_path):
    """v1 dirs are joined by the process itself ("0" in tasks, no RCU wait); the unified dir of
    a hybrid host and every v2 dir are left to the parent (cgroup.procs)."""
    paths = {c: str(tmp_path / c / "c1") for c in ("cpu", "memory", "unified")}
    paths["cpuacct"] = paths["cpu"]  # co-mounted controllers share a dir: one write
    m = V1Manager(paths, [])
    assert m.self_join_files() == sorted([str(tmp_path / "cpu/c1/tasks"),
                                          str(tmp_path / "memory/c1/tasks")])
    assert m.rest() == ["unified"]
    for p in set(paths.values()):
        os.makedirs(p)
    m.add(4242, only=m.rest())
    assert (tmp_path / "unified/c1/cgroup.procs").read_text() == "4242"
    assert not (tmp_path / "cpu/c1/cgroup.procs").exists()
    v2 = V2Manager(str(tmp_path / "v2"), [])
    assert v2.self_join_files() == [] and v2.rest() == ["unified"]


def test_prlimit_and_capget_through_ctypes_core():
    from pyrunc import syscalls as sc
    sc.prlimit(os.getpid(), 7, *__import__("resource").getrlimit(7))  # RLIMIT_NOFILE, unchanged
    eff, perm, _inh = sc.capget(0)
    assert eff & ~perm == 0
    with pytest.raises(OSError) as e:
        sc.prlimit(os.getpid(), 7, 2, 1)  # soft > hard
    assert e.value.errno == 22


def test_update_flag_parsers_read_as_go():
    from pyrunc.updateargs import int_flag, ram_in_bytes, strconv_int
    assert [ram_in_bytes("memory", v) for v in ("512", "1k", "10 MiB", "1.5g", "2GB", "-1")] == \
        [512, 1024, 10 << 20, 3 << 29, 2 << 30, -1]
    assert [int_flag({"f": v}, "f") for v in ("0x10", "010", "1_0", "-0b11", "7")] == \
        [16, 8, 10, -3, 7]
    assert int_flag({}, "f") == 0
    assert strconv_int("cpu-quota", "-5", unsigned=False) == -5
    for fn, msg in ((lambda: ram_in_bytes("memory", "abc"), "invalid size: 'abc'"),
                    (lambda: int_flag({"f": "08"}, "f"), 'invalid value "08" for flag -f'),
                    (lambda: strconv_int("cpu-share", "+5", unsigned=True),
                     'strconv.ParseUint: parsing "+5": invalid syntax')):
        with pytest.raises(RuncError, match=re.escape(msg)):
            fn()


@pytest.mark.parametrize("text,out", [
    ('{"Memory":{"LIMIT":5,"swap":null},"cpu":{"cpus":"0"}} x',
     {"memory": {"limit": 5}, "cpu": {"cpus": "0"}}),
    ("null", {}),
])
def test_update_resources_decode_as_go(tmp_path, text, out):
    from pyrunc.updateargs import read_resources
    (tmp_path / "r.json").write_text(text)
    assert read_resources(str(tmp_path / "r.json"), None) == out
