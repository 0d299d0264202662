from pydockerd.daemon import oci
from pydockerd.daemon.users import ResolvedUser

PATHS = oci.SpecPaths("/c/hostname", "/c/hosts", "/c/resolv.conf")
CID = "a" * 64


def build(config=None, host_config=None, **opts):
    cfg = {"Hostname": "aaaaaaaaaaaa", "Env": ["A=1"], **(config or {})}
    return oci.build_spec(CID, cfg, host_config or {}, ["sh", "-c", "true"], PATHS,
                          oci.SpecOptions(**opts))


def test_docker_defaults():
    s = build()
    assert s["root"] == {"path": "rootfs", "readonly": False}
    assert s["hostname"] == "aaaaaaaaaaaa"
    p = s["process"]
    assert p["args"] == ["sh", "-c", "true"] and p["cwd"] == "/" and p["terminal"] is False
    assert p["env"][0].startswith("PATH=/usr/local/sbin") and "HOSTNAME=aaaaaaaaaaaa" in p["env"] and "A=1" in p["env"]
    assert len(p["capabilities"]["bounding"]) == 14
    assert set(p["capabilities"]["bounding"]) == set(oci.DEFAULT_CAPS)
    assert "inheritable" not in p["capabilities"]
    dests = [m["destination"] for m in s["mounts"]]
    for d in ("/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
              "/etc/resolv.conf", "/etc/hostname", "/etc/hosts"):
        assert d in dests
    binds = {m["destination"]: m for m in s["mounts"] if m["type"] == "bind"}
    assert binds["/etc/hosts"]["source"] == "/c/hosts"
    ns = [n["type"] for n in s["linux"]["namespaces"]]
    assert ns == ["mount", "network", "uts", "pid", "ipc"]
    assert s["linux"]["cgroupsPath"] == f"/pydocker/{CID}"
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    assert s["linux"]["resources"]["devices"][0] == {"allow": False, "access": "rwm"}


def test_tty_env_user_and_cgroup_parent():
    s = build({"Tty": True, "WorkingDir": "/w", "Env": ["PATH=/bin"]},
              user=ResolvedUser(1000, 100, [10]), cgroup_parent="/custom/")
    p = s["process"]
    assert p["terminal"] and "TERM=xterm" in p["env"] and p["cwd"] == "/w"
    assert p["env"][0] == "PATH=/bin"  # the user's PATH replaces the default in place
    assert p["user"] == {"uid": 1000, "gid": 100, "additionalGids": [10]}
    assert s["linux"]["cgroupsPath"] == f"/custom/{CID}"


def test_host_modes_and_cgroupns():
    s = build(host_config={"NetworkMode": "host", "PidMode": "host", "IpcMode": "host"}, cgroup_v2=True)
    assert [n["type"] for n in s["linux"]["namespaces"]] == ["mount", "uts", "cgroup"]


def test_caps_add_drop_privileged():
    caps = oci.capabilities({"CapAdd": ["NET_ADMIN"], "CapDrop": ["CAP_CHOWN", "kill"]})
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps and "CAP_KILL" not in caps
    assert oci.capabilities({"CapDrop": ["ALL"], "CapAdd": ["CHOWN"]}) == ["CAP_CHOWN"]
    s = build(host_config={"Privileged": True})
    assert len(s["process"]["capabilities"]["bounding"]) == len(oci.ALL_CAPS)
    assert "maskedPaths" not in s["linux"]


def test_resources_binds_tmpfs_readonly(tmp_path):
    s = build(host_config={"Memory": 64 << 20, "NanoCpus": 500_000_000, "PidsLimit": 50,
                           "Binds": [f"{tmp_path}:/data:ro"], "Tmpfs": {"/run": "size=1m"},
                           "ReadonlyRootfs": True, "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}]})
    r = s["linux"]["resources"]
    assert r["memory"]["limit"] == 64 << 20 and r["cpu"] == {"period": 100000, "quota": 50000}
    assert r["pids"] == {"limit": 50}
    data = [m for m in s["mounts"] if m["destination"] == "/data"][0]
    assert data["source"] == str(tmp_path) and "ro" in data["options"] and "rbind" in data["options"]
    assert [m for m in s["mounts"] if m["destination"] == "/run"][0]["options"][-1] == "size=1m"
    assert s["root"]["readonly"] is True
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 20, "soft": 10}]


def test_replace_or_append_env():
    assert oci.replace_or_append_env(["A=1", "B=2"], ["B=3", "C=4"]) == ["A=1", "B=3", "C=4"]
    # a bare KEY (`-e KEY` with KEY unset on the CLI's side) unsets it, as moby; never a bare entry in the spec
    assert oci.replace_or_append_env(["HOSTNAME=x", "B=2"], ["HOSTNAME", "NEW"]) == ["B=2"]
