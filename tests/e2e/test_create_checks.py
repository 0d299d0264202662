"""What dockerd refuses at create, and the HostConfig it fills in, through the docker CLI 28. The expected
texts are Debian's dockerd 20.10's for the same commands (measured side by side); after a refused create
nothing is left (no container, no volume). Also the settings that used to be accepted and ignored:
--device, --log-driver none, --pid/--ipc container:<other> (with --ipc shareable), start and kill of a
paused container, the swap limit of --memory."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

from stacklib import DOCKER, api_get

REFUSED = [
    (["--memory", "64m", "--memory-reservation", "128m"],
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    (["--cpu-period", "100"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
    (["--cpu-quota", "100"], "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (["--cpuset-cpus", "999"], None),  # "Requested CPUs are not available - requested 999, available: <host's>"
    (["--cpuset-cpus", "a-b"], "Invalid value a-b for cpuset cpus: invalid format: a-b"),
    (["--mount", "type=bind,source=/nonexistent/zz,target=/d"],
     'invalid mount config for type "bind": bind source path does not exist: /nonexistent/zz'),
    (["--mount", "type=bogus,target=/d"], 'invalid mount config for type "bogus": mount type unknown'),
    (["--mount", "type=volume,source=VOL,target=rel"],
     "invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
    (["--mount", "type=tmpfs,source=/tmp,target=/d"], 'invalid mount config for type "tmpfs": field Source must not be specified'),
    (["-v", "/tmp:/d", "-v", "/etc:/d"], "Duplicate mount point: /d"),
    (["-v", "/tmp:/d:zz"], "invalid mode: zz"),
    (["-v", "/tmp:/"], "invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": "
                       "invalid specification: destination can't be '/'"),
    (["--tmpfs", "rel"], "invalid mount path: 'rel' mount path must be absolute"),
    (["--workdir", "rel"], "the working directory 'rel' is invalid, it needs to be an absolute path"),
    (["--security-opt", "bogus=1"], 'invalid --security-opt 2: "bogus=1"'),
    (["--log-driver", "bogus"], 'error looking up logging plugin bogus: plugin "bogus" not found'),
    (["--log-opt", "bogus=1"], "unknown log opt 'bogus' for json-file log driver"),
    (["--stop-signal", "BOGUS"], "Invalid signal: BOGUS"),
    (["--pid", "container:NOSUCH"], "No such container: NOSUCH"),
    (["--ipc", "container:NOSUCH"], "No such container: NOSUCH"),
    (["--volumes-from", "NOSUCH"], "No such container: NOSUCH"),  # a 400: a 404 would make the CLI pull
    (["--storage-opt", "size=1G"], "--storage-opt is supported only for overlay over xfs with 'pquota' mount option"),
    (["--isolation", "hyperv"], "Invalid isolation: \"hyperv\" - linux only supports 'default'"),
]


def uname(prefix: str = "cc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_create_refuses_what_dockerd_refuses_and_leaves_nothing(stack):
    before = (stack.docker("ps", "-aq", check=True).stdout, stack.docker("volume", "ls", "-q", check=True).stdout)
    vol, missing = uname("ccvol"), uname("nosuch")
    for args, err in REFUSED:
        args = [a.replace("VOL", vol).replace("NOSUCH", missing) for a in args]
        cp = stack.docker("create", "--name", uname(), *args, "busybox", "true")
        assert cp.returncode == 1 and cp.stdout == "", (args, cp.stderr)
        if err is None:
            assert cp.stderr.startswith("Error response from daemon: Requested CPUs are not available - "
                                        "requested 999, available: "), cp.stderr
        else:
            assert cp.stderr == f"Error response from daemon: {err.replace('NOSUCH', missing)}\n", args
        assert "Unable to find image" not in cp.stderr
    assert (stack.docker("ps", "-aq", check=True).stdout, stack.docker("volume", "ls", "-q", check=True).stdout) == before
    # what moby judges at start: a bad tmpfs option, a missing device (a run exits 125 / 127, as dockerd's)
    cp = stack.docker("run", "--rm", "--tmpfs", "/t:frobnicate", "busybox", "true")
    assert cp.returncode == 125 and 'invalid tmpfs option ["frobnicate"]' in cp.stderr
    cp = stack.docker("run", "--rm", "--device", "/dev/nosuch", "busybox", "true")
    assert cp.returncode == 127 and ('error gathering device information while adding custom device "/dev/nosuch": '
                                     "no such file or directory") in cp.stderr


def test_host_config_defaults_and_settings_that_were_ignored(stack, cleanup):
    n = uname()
    cleanup.append(n)
    cp = stack.docker("run", "--name", n, "--log-driver", "none", "-m", "64m", "--device", "/dev/null:/dev/mynull",
                      "busybox", "sh", "-c", "echo hi; stat -c %t,%T /dev/mynull; "
                      "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo v2")
    assert cp.returncode == 0 and cp.stdout.split()[:2] == ["hi", "1,3"], cp.stderr  # attached output, the device
    hc = json.loads(stack.docker("inspect", "-f", "{{json .HostConfig}}", n, check=True).stdout)
    assert (hc["ShmSize"], hc["IpcMode"], hc["MemorySwap"]) == (64 << 20, "private", 128 << 20)
    assert "/proc/kcore" in hc["MaskedPaths"] and "/proc/sys" in hc["ReadonlyPaths"]
    if cp.stdout.split()[2] != "v2":
        assert cp.stdout.split()[2] == str(128 << 20)  # swap: twice the memory limit, as dockerd
    # --log-driver none: nothing kept, and logs says so as dockerd does
    assert stack.docker("inspect", "-f", "{{.LogPath}}", n, check=True).stdout == "\n"
    cp = stack.docker("logs", n)
    assert (cp.returncode, cp.stderr) == (1, "Error response from daemon: configured logging driver does not support reading\n")


def test_joining_another_containers_pid_and_ipc(stack, cleanup):
    donor, plain = uname(), uname()
    cleanup.extend([donor, plain])
    stack.docker("run", "-d", "--name", donor, "--ipc", "shareable", "busybox", "sh", "-c",
                 "echo shared > /dev/shm/x; exec sleep 60", check=True)
    stack.docker("run", "-d", "--name", plain, "busybox", "sleep", "61", check=True)
    for _ in range(50):
        if stack.docker("exec", donor, "cat", "/dev/shm/x").stdout == "shared\n":
            break
        time.sleep(0.1)
    cp = stack.docker("run", "--rm", "--pid", f"container:{plain}", "--ipc", f"container:{donor}", "busybox", "sh", "-c",
                      "cat /dev/shm/x; ps -o args | grep -c 'sleep 6[1]'", check=True)
    assert cp.stdout == "shared\n1\n"  # the donor's /dev/shm, the other one's processes
    cp = stack.docker("run", "--rm", "--ipc", f"container:{plain}", "busybox", "true")
    pid = stack.docker("inspect", "-f", "{{.Id}}", plain, check=True).stdout.strip()
    assert cp.returncode == 125 and (f"can't join IPC of container {pid}: non-shareable IPC (hint: use "
                                     "IpcMode:shareable for the donor container)") in cp.stderr
    stack.docker("stop", "-t", "0", plain, check=True)
    cp = stack.docker("run", "--rm", "--pid", f"container:{plain}", "busybox", "true")
    assert cp.returncode == 125 and f"container {pid} is not running" in cp.stderr
    donor_id = stack.docker("inspect", "-f", "{{.Id}}", donor, check=True).stdout.strip()
    stack.docker("rm", "-f", donor, check=True)
    mounts = subprocess.run(["mount"], capture_output=True, text=True).stdout
    assert donor_id not in mounts  # its shm tmpfs went with it


def test_start_and_kill_of_a_paused_container(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.1; done",
                 check=True)
    stack.docker("pause", n, check=True)
    cp = stack.docker("start", n)
    assert cp.returncode == 1 and "cannot start a paused container, try unpause instead" in cp.stderr
    cp = stack.docker("start", "-a", n, timeout=20)  # refused, not a hang
    assert cp.returncode == 1
    cp = stack.docker("rm", n)
    assert cp.returncode == 1 and f'cannot remove container "/{n}": container is paused and must be unpaused first' \
        in cp.stderr
    stack.docker("kill", "-s", "TERM", n, check=True)  # resumed, so the signal is delivered
    assert stack.docker("wait", n, check=True, timeout=20).stdout == "3\n"


def test_cp_of_something_that_is_not_a_tar(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    cp = stack.docker("cp", "-", f"{n}:/tmp/", input="not a tar\n")
    assert (cp.returncode, cp.stderr) == (
        1, "Error response from daemon: Error processing tar file(exit status 1): unexpected EOF\n")


def test_inspect_shapes_as_dockerd(stack, cleanup):
    """Mount modes, a volume's empty labels and options, /info's security options, v1 blkio lists."""
    n, v1, v2 = uname(), uname("ccv"), uname("ccv")
    cleanup.append(n)
    try:
        stack.docker("run", "-d", "--name", n, "-v", f"{v1}:/a", "-v", f"{v2}:/b:ro", "-v", "/anon", "busybox",
                     "sleep", "60", check=True)
        mounts = json.loads(stack.docker("inspect", "-f", "{{json .Mounts}}", n, check=True).stdout)
        assert sorted((m["Destination"], m["Mode"], m["RW"]) for m in mounts) == [
            ("/a", "z", True), ("/anon", "", True), ("/b", "ro", False)]
        vol = api_get(stack.sock, f"/volumes/{v1}")
        assert vol["Labels"] is None and vol["Options"] is None
        info = api_get(stack.sock, "/info")
        assert "name=seccomp,profile=builtin" in info["SecurityOptions"]
        stats = api_get(stack.sock, f"/containers/{n}/stats?stream=false")
        if info["CgroupVersion"] == "1":
            assert all(isinstance(stats["blkio_stats"][k], list) for k in (
                "io_service_bytes_recursive", "io_queue_recursive", "io_time_recursive", "sectors_recursive"))
    finally:
        stack.docker("rm", "-f", "-v", n)
        stack.docker("volume", "rm", v1, v2)


def test_kill_of_a_missing_container_and_logs_details(stack, cleanup):
    missing = uname("nosuch")
    cp = stack.docker("kill", missing)
    assert (cp.returncode, cp.stderr) == (
        1, f"Error response from daemon: Cannot kill container: {missing}: No such container: {missing}\n")
    n = uname()
    cleanup.append(n)
    stack.docker("run", "--name", n, "busybox", "echo", "hi", check=True)
    assert stack.docker("logs", "--details", n, check=True).stdout == " hi\n"  # (no attributes: a lone space)
    assert stack.docker("logs", n, check=True).stdout == "hi\n"


def test_local_volumes_with_mount_options(stack, cleanup, tmp_path):
    """`volume create -o type=... -o device=... -o o=...` as moby's local driver: checked at create, mounted
    on the volume's directory while a container uses it, unmounted after."""
    tv, bv, bad = uname("tmpv"), uname("bindv"), uname("badv")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "seen").write_text("from the device\n")
    try:
        for opts, err in ((["-o", "bogus=1"], f'create {bad}: invalid option: "bogus"'),
                          (["-o", "type=tmpfs"], f'create {bad}: missing required option: "device"'),
                          (["-o", "device=/tmp"], f'create {bad}: missing required option: "type"'),
                          (["-d", "bogus"], f'create {bad}: error looking up volume plugin bogus: plugin "bogus" not found')):
            cp = stack.docker("volume", "create", *opts, bad)
            assert (cp.returncode, cp.stderr) == (1, f"Error response from daemon: {err}\n"), opts
        cp = stack.docker("volume", "create", "z")
        assert "volume name is too short, names should be at least two alphanumeric characters" in cp.stderr
        stack.docker("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", tv, check=True)
        stack.docker("volume", "create", tv, check=True)  # the existing one, options and all (as dockerd)
        opts = json.loads(stack.docker("volume", "inspect", "-f", "{{json .Options}}", tv, check=True).stdout)
        assert opts == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
        out = stack.docker("run", "--rm", "-v", f"{tv}:/d", "busybox", "sh", "-c",
                           "df -k /d | tail -1 | awk '{print $2}'; echo x > /d/f; ls /d", check=True).stdout
        assert out == "1024\nf\n"
        mp = json.loads(stack.docker("volume", "inspect", tv, check=True).stdout)[0]["Mountpoint"]
        assert not os.path.ismount(mp) and not os.path.exists(os.path.join(mp, "f"))  # unmounted: a tmpfs's files go
        stack.docker("volume", "create", "-o", "type=none", "-o", f"device={tmp_path / 'src'}", "-o", "o=bind", bv,
                     check=True)
        assert stack.docker("run", "--rm", "-v", f"{bv}:/d", "busybox", "cat", "/d/seen",
                            check=True).stdout == "from the device\n"
        stack.docker("volume", "create", "-o", "type=nosuchfs", "-o", "device=x", bad, check=True)
        cp = stack.docker("run", "--rm", "-v", f"{bad}:/d", "busybox", "true")
        assert cp.returncode == 125 and "failed to mount local volume" in cp.stderr, cp.stderr
    finally:
        stack.docker("volume", "rm", tv, bv, bad)
    assert str(tmp_path) not in open("/proc/mounts").read()


def test_init_layer_files_are_there_but_not_in_diff_or_commit(stack, cleanup, tmp_path):
    """As dockerd's init layer: /.dockerenv and /etc/mtab exist in every container, are no change of the
    container (docker diff), stay out of a commit of it, and are in its export."""
    import tarfile
    n, tag = uname(), f"{uname('initimg')}:v1"
    cleanup.append(n)
    out = stack.docker("run", "--name", n, "busybox", "sh", "-c",
                       "test -f /.dockerenv && readlink /etc/mtab && echo x > /x", check=True).stdout
    assert out == "/proc/mounts\n"
    assert stack.docker("diff", n, check=True).stdout == "A /x\n"
    try:
        stack.docker("commit", n, tag, check=True)
        stack.docker("save", "-o", str(tmp_path / "img.tar"), tag, check=True)
        with tarfile.open(tmp_path / "img.tar") as t:
            layers = [m for m in t.getmembers() if m.name.startswith("blobs/sha256/")]
            names_in_top = set()
            for m in layers:
                try:
                    with tarfile.open(fileobj=t.extractfile(m)) as layer:
                        names_in_top.update(layer.getnames())
                except tarfile.TarError:
                    continue  # a config or manifest blob
        assert "x" in names_in_top and ".dockerenv" not in names_in_top and "etc/mtab" not in names_in_top
        # the committed image's own containers get its init layer; rmi takes it along
        stack.docker("run", "--rm", tag, "true", check=True)
        sock = str(stack.exec_root / "containerd" / "containerd.sock")

        def snapshots() -> str:
            return subprocess.run(["ctr", "-a", sock, "-n", "moby", "snapshots", "--snapshotter", "overlayfs", "ls"],
                                  capture_output=True, text=True, timeout=30, check=True).stdout
        import hashlib
        chain = ""
        for diff_id in json.loads(stack.docker("image", "inspect", tag, check=True).stdout)[0]["RootFS"]["Layers"]:
            chain = "sha256:" + hashlib.sha256(f"{chain} {diff_id}".encode()).hexdigest() if chain else diff_id
        assert f"{chain}-init" in snapshots()
        # collected meanwhile (pycontainerd's GC takes an unused one): the next container makes it again
        subprocess.run(["ctr", "-a", sock, "-n", "moby", "snapshots", "--snapshotter", "overlayfs", "rm",
                        f"{chain}-init"], check=True, capture_output=True, timeout=30)
        assert stack.docker("run", "--rm", tag, "test", "-f", "/.dockerenv").returncode == 0
        assert f"{chain}-init" in snapshots()
    finally:
        stack.docker("rmi", tag)
    assert f"{chain}-init" not in snapshots()
    export = subprocess.run([DOCKER, "export", n], env=stack.env, capture_output=True, timeout=60, check=True).stdout
    (tmp_path / "exp.tar").write_bytes(export)
    with tarfile.open(tmp_path / "exp.tar") as t:
        got = set(t.getnames())
    assert ".dockerenv" in got and "etc/mtab" in got and "x" in got


def test_image_env_order_and_relative_volume(stack, cleanup, tmp_path):
    """moby's merge: the user's variables first, then the image's; an image's `VOLUME data` is /data."""
    tag = f"{uname('relvol')}:1"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nENV A=1 B=img\nVOLUME data\n")
    cp = subprocess.run([DOCKER, "build", "-q", "-t", tag, str(tmp_path)], env=dict(stack.env, DOCKER_BUILDKIT="0"),
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    n = uname()
    cleanup.append(n)
    try:
        out = stack.docker("run", "--name", n, "-e", "B=mine", "-e", "C=3", tag, "sh", "-c",
                           "grep -c ' /data ' /proc/mounts", check=True).stdout
        assert out == "1\n"
        env = json.loads(stack.docker("inspect", "-f", "{{json .Config.Env}}", n, check=True).stdout)
        # (the CLI sends its -e list in no fixed order)
        assert set(env[:2]) == {"B=mine", "C=3"} and "A=1" in env and "B=img" not in env, env
    finally:
        stack.docker("rm", "-f", "-v", n)
        cleanup.remove(n)
        stack.docker("rmi", tag)


def test_an_options_volume_is_mounted_once_for_concurrent_users_and_survives_its_removal(stack, cleanup, tmp_path):
    """Three containers starting at once on a bind-type volume mount it once; it is unmounted after the
    last one, and removing the volume never deletes the device's files."""
    import concurrent.futures
    vol = uname("sharedv")
    src = tmp_path / "device"
    src.mkdir()
    (src / "keep").write_text("precious\n")
    stack.docker("volume", "create", "-o", "type=none", "-o", f"device={src}", "-o", "o=bind", vol, check=True)
    mp = json.loads(stack.docker("volume", "inspect", vol, check=True).stdout)[0]["Mountpoint"]

    def mounted_times() -> int:
        return sum(1 for line in open("/proc/self/mountinfo") if line.split(" ")[4] == mp)
    ns = [uname() for _ in range(3)]
    cleanup.extend(ns)
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: stack.docker("run", "-d", "--name", n, "-v", f"{vol}:/d", "busybox", "sleep", "60",
                                               check=True), ns))
        assert mounted_times() == 1
        stack.docker("rm", "-f", ns[0], check=True)
        assert mounted_times() == 1  # the others still use it
        assert stack.docker("exec", ns[1], "cat", "/d/keep", check=True).stdout == "precious\n"
        stack.docker("rm", "-f", ns[1], ns[2], check=True)
        assert mounted_times() == 0
    finally:
        stack.docker("rm", "-f", *ns)
        stack.docker("volume", "rm", vol)
    assert (src / "keep").read_text() == "precious\n" and mounted_times() == 0


def test_a_failed_start_of_a_shareable_ipc_container_leaves_no_shm_mount(stack, cleanup):
    n = uname()
    cleanup.append(n)
    cp = stack.docker("run", "--name", n, "--ipc", "shareable", "busybox", "nosuchcmd")
    assert cp.returncode == 127
    cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
    assert cid not in open("/proc/mounts").read()


def test_until_and_exited_filter_values(stack):
    for args, err in ((["container", "prune", "-f", "--filter", "until=1h", "--filter", "until=2h"],
                       "more than one until filter specified"),
                      (["container", "prune", "-f", "--filter", "until=inf"],
                       'failed to parse value as time or duration: "inf"'),
                      (["ps", "-a", "--filter", "exited=--1"], 'strconv.Atoi: parsing "--1": invalid syntax')):
        cp = stack.docker(*args)
        assert (cp.returncode, cp.stderr) == (1, f"Error response from daemon: {err}\n"), args
    # a zone offset counts: a time in the future (in any zone) prunes what is older, nothing else here
    label = uname("untl")
    stack.docker("create", "--label", label, "busybox", "true", check=True)
    cp = stack.docker("container", "prune", "-f", "--filter", f"label={label}", "--filter",
                      "until=2000-01-01T00:00:00+05:00", check=True)
    assert stack.docker("ps", "-aq", "--filter", f"label={label}", check=True).stdout.strip() != ""
    stack.docker("container", "prune", "-f", "--filter", f"label={label}", "--filter", "until=-1h", check=True)
    assert stack.docker("ps", "-aq", "--filter", f"label={label}", check=True).stdout.strip() == ""


def test_round_two_fixes(stack, cleanup):
    """Log drivers dockerd has but pydocker does not: accepted with a warning, output kept as json-file;
    update lifts a pids limit with -1 and refuses mixing --cpus with quota/period; top with `u`/`x`
    lists the container's processes; events replay with until alone and refuse since after until."""
    import time
    from stacklib import UnixHTTP
    cp = stack.docker("run", "--rm", "--log-driver", "local", "busybox", "echo", "hi")
    assert cp.returncode == 0 and cp.stdout == "hi\n" and "pydocker has no local logging driver" in cp.stderr
    n, m = uname(), uname()
    cleanup.extend([n, m])
    stack.docker("run", "-d", "--name", n, "--pids-limit", "50", "--cpus", "0.5", "-u", "1000", "busybox",
                 "sleep", "60", check=True)
    stack.docker("update", "--pids-limit", "-1", n, check=True)
    pid = stack.docker("inspect", "-f", "{{.State.Pid}}", n, check=True).stdout.strip()
    cg = next(line.split(":", 2)[2].strip() for line in open(f"/proc/{pid}/cgroup") if ":pids:" in line)
    assert open(f"/sys/fs/cgroup/pids{cg}/pids.max").read().strip() == "max"
    cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
    cp = stack.docker("update", "--cpu-quota", "50000", n)
    assert cp.returncode == 1 and (f"Cannot update container {cid}: Conflicting options: CPU Quota cannot be "
                                   "updated as NanoCPUs has already been set") in cp.stderr
    for opts in ("u", "x"):
        out = stack.docker("top", n, opts, check=True).stdout
        assert "sleep 60" in out, (opts, out)
    # events: `until` alone replays what happened; `since` after `until` is refused
    since = int(time.time()) - 1
    stack.docker("run", "--name", m, "--label", f"{m}=1", "busybox", "true", check=True)
    until = str(int(time.time()) + 1)
    cp = stack.docker("events", "--until", until, "--filter", f"label={m}=1", "--format", "{{.Action}}", check=True)
    assert cp.stdout.split()[:3] == ["create", "attach", "start"]
    cp = stack.docker("events", "--since", until, "--until", str(since))
    assert cp.returncode == 1 and "cannot be after `until` time" in cp.stderr
    for args in (["network", "ls", "--filter", "bogus=1"], ["volume", "ls", "--filter", "dangling=maybe"]):
        cp = stack.docker(*args)
        assert cp.returncode == 1 and "invalid filter" in cp.stderr, args
    conn = UnixHTTP(str(stack.sock))
    try:
        conn.request("GET", f"/containers/{m}/logs?stdout=1&since=bogus")
        resp = conn.getresponse()
        assert resp.status == 400 and b"failed to parse value" in resp.read()
    finally:
        conn.close()


def test_untag_event_is_the_images(stack):
    import time
    tag = f"{uname('untag')}:1"
    since = str(int(time.time()) - 1)
    stack.docker("tag", "busybox", tag, check=True)
    stack.docker("rmi", tag, check=True)
    image_id = stack.docker("image", "inspect", "-f", "{{.Id}}", "busybox", check=True).stdout.strip()
    cp = stack.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "event=untag",
                      "--format", "{{.ID}} {{.Actor.Attributes.name}}", check=True)
    assert f"{image_id} {image_id}" in cp.stdout.splitlines(), cp.stdout  # (dockerd names the ID, not the tag)


def test_volume_mount_and_unmount_events(stack, cleanup):
    import time
    vol, n = uname("evv"), uname()
    cleanup.append(n)
    since = str(int(time.time()) - 1)
    try:
        stack.docker("run", "--name", n, "-v", f"{vol}:/d:ro", "busybox", "true", check=True)
        cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
        cp = stack.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                          f"volume={vol}", "--format", "{{.Action}} {{json .Actor.Attributes}}", check=True)
        lines = cp.stdout.splitlines()
        assert [line.split()[0] for line in lines] == ["create", "mount", "unmount"], lines
        mount = json.loads(lines[1].split(" ", 1)[1])
        assert mount == {"container": cid, "destination": "/d", "driver": "local", "propagation": "",
                         "read/write": "false"}
    finally:
        stack.docker("rm", "-f", n)
        cleanup.remove(n)
        stack.docker("volume", "rm", vol)


def test_cp_events(stack, cleanup, tmp_path):
    import time
    n = uname()
    cleanup.append(n)
    since = str(int(time.time()) - 1)
    stack.docker("run", "--name", n, "busybox", "true", check=True)
    (tmp_path / "f").write_text("x\n")
    stack.docker("cp", str(tmp_path / "f"), f"{n}:/f", check=True)
    stack.docker("cp", f"{n}:/f", str(tmp_path / "g"), check=True)
    cp = stack.docker("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", f"container={n}",
                      "--filter", "event=extract-to-dir", "--filter", "event=archive-path", "--format", "{{.Action}}",
                      check=True)
    assert cp.stdout.split() == ["extract-to-dir", "archive-path"]
