"""pydockerd through the real docker CLI 28 (and Debian's 20.10): the walking-skeleton commands.

Every test uses the session `stack` (pydockerd + its own pycontainerd + pyrunc, busybox:latest
imported) and removes the containers it made.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest


def uname(prefix: str = "pyd") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_version_reports_api_150(stack):
    cp = stack.docker("version", "--format", "{{json .Server}}", check=True)
    server = json.loads(cp.stdout)
    assert server["ApiVersion"] == "1.50"
    assert server["MinAPIVersion"] == "1.24"
    assert server["Os"] == "linux"


def test_info_counts_are_real(stack, cleanup):
    n = uname()
    cleanup.append(n)
    before = json.loads(stack.docker("info", "--format", "{{json .}}", check=True).stdout)
    stack.docker("create", "--name", n, "busybox", "true", check=True)
    after = json.loads(stack.docker("info", "--format", "{{json .}}", check=True).stdout)
    assert after["Containers"] == before["Containers"] + 1
    assert after["ContainersStopped"] == before["ContainersStopped"] + 1
    assert after["Images"] >= 1
    assert after["Swarm"]["LocalNodeState"] == "inactive"
    assert after["DockerRootDir"] == str(stack.data_root)


def test_images_lists_busybox(stack):
    cp = stack.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True)
    lines = dict(line.split() for line in cp.stdout.splitlines())
    assert "busybox:latest" in lines
    info = json.loads(stack.docker("image", "inspect", "busybox", check=True).stdout)[0]
    assert info["Id"].startswith("sha256:") and info["Id"][7:19] == lines["busybox:latest"]
    assert info["RepoTags"] == ["busybox:latest"]
    assert "ContainerConfig" in info


def test_run_rm_echo(stack):
    cp = stack.docker("run", "--rm", "busybox", "echo", "hi")
    assert (cp.returncode, cp.stdout, cp.stderr) == (0, "hi\n", "")


def test_run_keeps_stdout_and_stderr_apart_and_exit_code(stack):
    cp = stack.docker("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert cp.returncode == 3
    assert cp.stdout == "out\n"
    assert cp.stderr == "err\n"


def test_run_rm_leaves_no_container(stack):
    label = uname("lbl")
    stack.docker("run", "--rm", "--label", label, "busybox", "true", check=True)
    cp = stack.docker("ps", "-a", "-q", "--filter", f"label={label}", check=True)
    assert cp.stdout == ""


def test_run_stdin(stack):
    cp = stack.docker("run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo done", input="hello\n")
    assert cp.returncode == 0
    assert cp.stdout == "hello\ndone\n"


def test_run_tty_merges_output(stack):
    cp = stack.docker("run", "--rm", "-t", "busybox", "sh", "-c", "tty; echo err >&2")
    assert cp.returncode == 0
    lines = cp.stdout.replace("\r\n", "\n").splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1] == "err"


def test_run_env_workdir_user_hostname(stack):
    cp = stack.docker("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "nobody", "-h", "myhost",
                      "busybox", "sh", "-c", "echo $FOO; pwd; id -u; id -g; hostname; cat /etc/hostname",
                      check=True)
    assert cp.stdout.split() == ["bar", "/tmp", "65534", "65534", "myhost", "myhost"]


def test_missing_executable_is_127_with_runc_text(stack):
    cp = stack.docker("run", "--rm", "busybox", "nosuchcmd")
    assert cp.returncode == 127
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in cp.stderr
    assert cp.stderr.startswith("docker: Error response from daemon: ")


def test_unknown_image(stack):
    img = uname("nosuch")
    cp = stack.docker("run", "--rm", img)
    assert cp.returncode == 125
    assert f"Unable to find image '{img}:latest' locally" in cp.stderr
    cp = stack.docker("image", "inspect", img)
    assert cp.returncode == 1
    assert f"No such image: {img}" in cp.stderr


def test_detached_lifecycle_ps_logs_stop_rm(stack, cleanup):
    n = uname()
    cleanup.append(n)
    script = "echo started; echo warn >&2; trap 'echo bye; exit 7' TERM; while :; do sleep 0.1; done"
    cid = stack.docker("run", "-d", "--name", n, "busybox", "sh", "-c", script, check=True).stdout.strip()
    assert len(cid) == 64
    ps = stack.docker("ps", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Status}}", check=True).stdout
    assert f"{cid} {n} Up" in ps
    # The first lines are written right away; poll logs until they are there.
    for _ in range(100):
        logs = stack.docker("logs", n)
        if "started" in logs.stdout and "warn" in logs.stderr:
            break
    assert logs.stdout == "started\n" and logs.stderr == "warn\n"
    assert stack.docker("stop", n, check=True).stdout.strip() == n
    state = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 7)
    ps_a = stack.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout
    assert f"{n} Exited (7)" in ps_a
    assert n not in stack.docker("ps", "--format", "{{.Names}}", check=True).stdout
    assert stack.docker("logs", n).stdout == "started\nbye\n"
    assert stack.docker("rm", n, check=True).stdout.strip() == n
    assert n not in stack.docker("ps", "-a", "--format", "{{.Names}}", check=True).stdout


def test_stop_timeout_then_sigkill(stack, cleanup):
    n = uname()
    cleanup.append(n)
    # busybox sleep as PID 1 ignores SIGTERM: stop must fall back to SIGKILL after -t.
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    stack.docker("stop", "-t", "1", n, check=True)
    state = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["State"]
    assert state["ExitCode"] == 137


def test_kill_with_signal(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    stack.docker("kill", "-s", "KILL", n, check=True)
    cp = stack.docker("wait", n, check=True)
    assert cp.stdout.strip() == "137"
    cp = stack.docker("kill", n)
    assert cp.returncode == 1
    assert "is not running" in cp.stderr


def test_rm_running_needs_force(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    cp = stack.docker("rm", n)
    assert cp.returncode == 1
    assert (f'cannot remove container "/{n}": container is running: stop the container before removing '
            "or force remove") in cp.stderr
    stack.docker("rm", "-f", n, check=True)
    assert stack.docker("inspect", n).returncode == 1


def _host_processes_with(arg: str) -> list[int]:
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if arg.encode() in f.read().split(b"\0"):
                    pids.append(int(pid))
        except OSError:
            pass
    return pids


@pytest.mark.parametrize("how", ["rm -f", "stop -t 1"])
def test_host_pid_container_leaves_no_process_behind(stack, cleanup, how):
    """rm -f and stop's SIGKILL go to the init only (as Docker): in the host's pid namespace its other
    processes do not die with it, and the runtime's delete must kill them."""
    n = uname()
    cleanup.append(n)
    tag = str(7000 + uuid.uuid4().int % 1000)  # `sleep <tag>`: findable among the host's processes
    stack.docker("run", "-d", "--pid", "host", "--name", n, "busybox", "sh", "-c",
                 f"trap '' TERM; sleep {tag} & sleep {tag}", check=True)
    deadline = time.monotonic() + 10
    while len(_host_processes_with(tag)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_host_processes_with(tag)) == 2
    stack.docker(*how.split(), n, check=True)
    assert _host_processes_with(tag) == []
    if how.startswith("stop"):
        assert json.loads(stack.docker("inspect", n, check=True).stdout)[0]["State"]["ExitCode"] == 137


def test_name_conflict(stack, cleanup):
    n = uname()
    cleanup.append(n)
    cid = stack.docker("create", "--name", n, "busybox", "true", check=True).stdout.strip()
    cp = stack.docker("run", "--name", n, "busybox", "true")
    assert cp.returncode == 125
    assert (f'Conflict. The container name "/{n}" is already in use by container "{cid}". You have to '
            "remove (or rename) that container to be able to reuse that name.") in cp.stderr


def test_unknown_container(stack):
    n = uname("ghost")
    for args in (("logs", n), ("stop", n), ("rm", n), ("inspect", "--type", "container", n), ("start", n)):
        cp = stack.docker(*args)
        assert cp.returncode == 1, args
        assert f"No such container: {n}" in cp.stderr, args


def test_start_attach_reruns(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("create", "--name", n, "busybox", "sh", "-c", "echo run", check=True)
    assert stack.docker("start", "-a", n, check=True).stdout == "run\n"
    assert stack.docker("start", "-a", n, check=True).stdout == "run\n"
    assert stack.docker("logs", n).stdout == "run\nrun\n"


def test_logs_tail_timestamps_and_follow(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "--name", n, "busybox", "sh", "-c", "for i in 1 2 3 4; do echo l$i; done", check=True)
    assert stack.docker("logs", "--tail", "2", n).stdout == "l3\nl4\n"
    ts = stack.docker("logs", "-t", "--tail", "1", n).stdout
    stamp, line = ts.rstrip("\n").split(" ", 1)
    assert line == "l4" and stamp.endswith("Z") and stamp[4] == "-" and len(stamp.split(".")[1]) == 10
    # follow on a stopped container returns what there is and ends
    assert stack.docker("logs", "-f", n, timeout=20).stdout == "l1\nl2\nl3\nl4\n"


def test_logs_follow_running_container_ends_at_exit(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sh", "-c",
                 "for i in 1 2 3; do echo f$i; sleep 0.2; done", check=True)
    cp = stack.docker("logs", "-f", n, timeout=30)
    assert cp.stdout == "f1\nf2\nf3\n"


def test_import_with_changes(stack, busybox_rootfs_tar):
    repo = uname("imported")
    cp = stack.docker("import", "-c", 'CMD ["echo", "from-import"]', "-c", "ENV GREETING=hello",
                      str(busybox_rootfs_tar), f"{repo}:v1", check=True)
    image_id = cp.stdout.strip()
    assert image_id.startswith("sha256:")
    cfg = json.loads(stack.docker("image", "inspect", f"{repo}:v1", check=True).stdout)[0]
    assert cfg["Id"] == image_id
    assert cfg["Config"]["Cmd"] == ["echo", "from-import"]
    assert stack.docker("run", "--rm", f"{repo}:v1").stdout == "from-import\n"
    assert stack.docker("run", "--rm", f"{repo}:v1", "sh", "-c", "echo $GREETING").stdout == "hello\n"


def _docker_archive(rootfs_tar: bytes, tag: str) -> bytes:
    diff_id = "sha256:" + hashlib.sha256(rootfs_tar).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2026-01-01T00:00:00Z",
                         "config": {"Cmd": ["echo", "loaded"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["l1/layer.tar"]}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in ((config_name, config), ("l1/layer.tar", rootfs_tar), ("manifest.json", manifest)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def test_load_docker_archive(stack, busybox_rootfs_tar, tmp_path):
    tag = f"{uname('loaded')}:latest"
    archive = tmp_path / "img.tar"
    archive.write_bytes(_docker_archive(busybox_rootfs_tar.read_bytes(), tag))
    cp = stack.docker("load", "-i", str(archive), check=True)
    assert f"Loaded image: {tag}" in cp.stdout
    assert stack.docker("run", "--rm", tag).stdout == "loaded\n"


def test_ps_filters_and_limit(stack, cleanup):
    label = uname("grp")
    names = [uname() for _ in range(2)]
    cleanup.extend(names)
    for n in names:
        stack.docker("create", "--name", n, "--label", label, "busybox", "true", check=True)
    out = stack.docker("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}", check=True).stdout
    assert sorted(out.split()) == sorted(names)
    out = stack.docker("ps", "-a", "--filter", f"name={names[0]}", "--format", "{{.Names}}", check=True).stdout
    assert out.split() == [names[0]]
    assert len(stack.docker("ps", "-a", "-n", "1", "-q", check=True).stdout.split()) == 1
    assert stack.docker("ps", "--filter", f"label={label}", "-q", check=True).stdout == ""


def test_ps_filters_by_position_health_volume_network_and_ports(stack, cleanup):
    """The filters moby applies besides name/label/status (the same sets dockerd 20.10 lists, publish and
    expose as moby after 20.10: by the container's bound and exposed ports); bad values fail as Docker's."""
    label, vol = uname("flt"), uname("fltvol")
    n = [uname(f"f{i}") for i in range(1, 6)]
    cleanup.extend(n)
    try:
        run = functools.partial(stack.docker, check=True)
        run("run", "-d", "--name", n[0], "--label", label, "-v", f"{vol}:/data", "busybox", "sleep", "60")
        run("run", "--name", n[1], "--label", label, "--expose", "8080", "-v", "/tmp:/hosttmp", "busybox", "true")
        run("create", "--name", n[2], "--label", label, "-p", "127.0.0.1::80", "--network", "none", "busybox", "true")
        run("run", "-d", "--name", n[3], "--label", label, "--health-cmd", "true", "--health-interval", "1s",
            "busybox", "sleep", "60")
        run("run", "-d", "--name", n[4], "--label", label, "busybox", "sleep", "60")

        def ps(*args: str) -> list[str]:
            out = run("ps", "--filter", f"label={label}", "--format", "{{.Names}}", *args).stdout
            return sorted(n.index(x) + 1 for x in out.split())
        for _ in range(100):
            if ps("-f", "health=healthy"):
                break
            time.sleep(0.1)
        assert ps() == [1, 4, 5]
        assert (ps("-f", f"before={n[2]}"), ps("-a", "-f", f"before={n[2]}")) == ([1], [1, 2])
        assert (ps("-f", f"since={n[1]}"), ps("-a", "-f", f"since={n[1]}")) == ([4, 5], [3, 4, 5])
        assert (ps("-a", "-f", "health=healthy"), ps("-a", "-f", "health=none")) == ([4], [1, 2, 3, 5])
        assert ps("-a", "-f", f"volume={vol}") == ps("-a", "-f", "volume=/data") == [1]
        assert ps("-a", "-f", "volume=/tmp") == ps("-a", "-f", "volume=/hosttmp") == [2]
        assert (ps("-a", "-f", "network=none"), ps("-a", "-f", "is-task=true")) == ([3], [])
        assert ps("-a", "-f", "publish=80") == ps("-a", "-f", "publish=70-90") == ps("-a", "-f", "expose=80") == [3]
        assert (ps("-a", "-f", "publish=80/udp"), ps("-a", "-f", "expose=8080")) == ([], [2])
        assert ps("-a", "-f", "is-task=false") == ps("-a", "-f", "isolation=default") == [1, 2, 3, 4, 5]
        for flt, err in (("health=bogus", "Unrecognised filter value for health: bogus"),
                         ("publish=1:2", "filter for 'publish' should not contain ':': 1:2"),
                         ("exited=x", 'strconv.Atoi: parsing "x": invalid syntax'),
                         ("before=nosuch-flt", "No such container: nosuch-flt"),
                         ("bogus=1", "invalid filter 'bogus'")):
            cp = stack.docker("ps", "-a", "-f", flt)
            assert (cp.returncode, cp.stdout, cp.stderr) == (1, "", f"Error response from daemon: {err}\n"), flt
    finally:
        stack.docker("rm", "-f", *n)
        stack.docker("volume", "rm", vol)


def test_prune_refuses_unknown_filters_and_honours_negated_labels_and_until(stack, cleanup):
    """A prune must not treat a filter it does not know as no filter (it would remove everything)."""
    label = uname("prn")
    n = [uname(f"p{i}") for i in range(3)]
    cleanup.extend(n)
    stack.docker("create", "--name", n[0], "--label", label, "busybox", "true", check=True)
    stack.docker("create", "--name", n[1], "--label", label, "--label", "keep=1", "busybox", "true", check=True)
    stack.docker("create", "--name", n[2], "--label", label, "busybox", "true", check=True)

    def ours() -> list[str]:
        out = stack.docker("ps", "-a", "-f", f"label={label}", "--format", "{{.Names}}", check=True).stdout
        return sorted(out.split())
    for cmd in (["container", "prune"], ["volume", "prune"], ["image", "prune"], ["network", "prune"],
                ["volume", "ls"]):
        cp = stack.docker(*cmd, *(["-f"] if "prune" in cmd else []), "--filter", "bogus=1")
        assert (cp.returncode, cp.stderr) == (1, "Error response from daemon: invalid filter 'bogus'\n"), cmd
    cp = stack.docker("container", "prune", "-f", "--filter", f"label={label}", "--filter", "until=soon")
    assert cp.returncode == 1 and 'failed to parse value as time or duration: "soon"' in cp.stderr
    assert ours() == sorted(n)
    stack.docker("container", "prune", "-f", "--filter", f"label={label}", "--filter", "until=1h", check=True)
    assert ours() == sorted(n)  # made just now: not older than an hour
    out = stack.docker("container", "prune", "-f", "--filter", f"label={label}", "--filter", "label!=keep=1",
                       check=True).stdout
    assert ours() == [n[1]] and all(stack.docker("inspect", x).returncode == 1 for x in (n[0], n[2])), out


def test_cli_20_10(stack, cleanup):
    n = uname()
    cleanup.append(n)
    cp = stack.docker20("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4")
    assert (cp.returncode, cp.stdout, cp.stderr) == (4, "out\n", "err\n")
    stack.docker20("run", "-d", "--name", n, "busybox", "sh", "-c", "echo hello20; sleep 60", check=True)
    assert n in stack.docker20("ps", "--format", "{{.Names}}", check=True).stdout
    for _ in range(100):
        if stack.docker20("logs", n).stdout == "hello20\n":
            break
    assert stack.docker20("logs", n).stdout == "hello20\n"
    cp = stack.docker20("rm", n)
    assert cp.returncode == 1 and "container is running" in cp.stderr
    stack.docker20("rm", "-f", n, check=True)
    cp = stack.docker20("logs", n)
    assert cp.returncode == 1 and f"No such container: {n}" in cp.stderr
    assert "1.41" in stack.docker20("version", "--format", "{{.Client.APIVersion}}", check=True).stdout


def test_exec(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    cp = stack.docker("exec", n, "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (cp.returncode, cp.stdout, cp.stderr) == (5, "out\n", "err\n")
    assert stack.docker("exec", "-i", n, "cat", input="piped\n").stdout == "piped\n"
    cp = stack.docker("exec", "-u", "nobody", "-w", "/tmp", "-e", "X=1", n, "sh", "-c", "id -u; pwd; echo $X")
    assert cp.stdout.split() == ["65534", "/tmp", "1"]
    assert stack.docker("exec", "-t", n, "tty").stdout.startswith("/dev/pts/")
    stack.docker("exec", "-d", n, "sh", "-c", "echo bg > /tmp/bg", check=True)
    for _ in range(100):
        if stack.docker("exec", n, "cat", "/tmp/bg").stdout == "bg\n":
            break
    assert stack.docker("exec", n, "cat", "/tmp/bg").stdout == "bg\n"
    cp = stack.docker("exec", n, "nosuchcmd")
    assert cp.returncode == 126  # (dockerd 20.10 measured: any exec that cannot start)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in cp.stdout + cp.stderr
    stack.docker("stop", "-t", "0", n, check=True)
    cp = stack.docker("exec", n, "true")
    assert cp.returncode == 1 and "is not running" in cp.stderr


def test_tag_rmi_history(stack, cleanup, busybox_rootfs_tar):
    repo = uname("rmi")
    image_id = stack.docker("import", str(busybox_rootfs_tar), f"{repo}:a", check=True).stdout.strip()
    stack.docker("tag", f"{repo}:a", f"{repo}:b", check=True)
    out = stack.docker("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", check=True).stdout
    assert f"{repo}:a {image_id[7:19]}" in out and f"{repo}:b {image_id[7:19]}" in out
    assert "Imported from -" in stack.docker("history", f"{repo}:a", check=True).stdout
    # two tags: deleting by ID needs force; deleting a tag only untags
    cp = stack.docker("rmi", image_id[7:19])
    assert cp.returncode == 1 and "image is referenced in multiple repositories" in cp.stderr
    assert stack.docker("rmi", f"{repo}:b", check=True).stdout == f"Untagged: {repo}:b\n"
    n = uname()
    cleanup.append(n)
    stack.docker("create", "--name", n, f"{repo}:a", "true", check=True)
    cp = stack.docker("rmi", f"{repo}:a")
    assert cp.returncode == 1
    assert (f'conflict: unable to remove repository reference "{repo}:a" (must force) - container '
            f"{stack.docker('inspect', '-f', '{{.Id}}', n).stdout[:12]} is using its referenced image "
            f"{image_id[7:19]}") in cp.stderr
    stack.docker("rm", n, check=True)
    cp = stack.docker("rmi", f"{repo}:a", check=True)
    assert cp.stdout == f"Untagged: {repo}:a\nDeleted: {image_id}\n"
    cp = stack.docker("image", "inspect", f"{repo}:a")
    assert cp.returncode == 1 and f"No such image: {repo}:a" in cp.stderr


@pytest.fixture(scope="module")
def netstack(busybox_rootfs_tar, tmp_path_factory):
    """A second stack with bridge networking (its own bridge and subnet), torn down with no leftovers."""
    import random
    import subprocess
    from stacklib import start_stack, teardown_stack

    bridge = f"pydt{uuid.uuid4().hex[:8]}"
    bip = f"10.{random.randint(100, 250)}.{random.randint(0, 255)}.1/24"
    st = start_stack(tmp_path_factory.mktemp("netstack"), busybox_rootfs_tar,
                     extra_args=["--bridge", bridge, "--bip", bip, "--remove-bridges-on-exit"])
    try:
        yield st
    finally:
        leaks = teardown_stack(st)
        if subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode == 0:
            leaks.append(f"bridge {bridge} left")
            subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        assert not leaks, leaks


def test_bridge_network_ports_and_dns(netstack, tmp_path):
    st = netstack
    web, net = uname("web"), uname("net")
    (tmp_path / "index.html").write_text("hello-web\n")
    try:
        st.docker("run", "-d", "--name", web, "-p", "127.0.0.1::80", "-v", f"{tmp_path}:/www:ro",
                  "busybox", "httpd", "-f", "-p", "80", "-h", "/www", check=True)
        port = st.docker("port", web, "80/tcp", check=True).stdout.strip()
        assert port.startswith("127.0.0.1:")
        info = json.loads(st.docker("inspect", web, check=True).stdout)[0]
        ip = info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert ip and info["NetworkSettings"]["IPAddress"] == ip
        assert info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == port.split(":")[1]
        # container → container over the bridge, host → container through the published port
        out = st.docker("run", "--rm", "busybox", "wget", "-qO-", f"http://{ip}/", check=True).stdout
        assert out == "hello-web\n"
        import urllib.request
        for _ in range(50):
            try:
                with urllib.request.urlopen(f"http://{port}/", timeout=5) as r:
                    assert r.read() == b"hello-web\n"
                break
            except OSError:
                import time
                time.sleep(0.1)
        else:
            raise AssertionError(f"nothing on {port}")
        assert f"127.0.0.1:{port.split(':')[1]}->80/tcp" in st.docker("ps", "--format", "{{.Ports}}").stdout
        # user network with DNS by container name
        st.docker("network", "create", net, check=True)
        st.docker("network", "connect", net, web, check=True)
        out = st.docker("run", "--rm", "--network", net, "busybox", "wget", "-qO-", f"http://{web}/").stdout
        assert out == "hello-web\n"
        cp = st.docker("network", "rm", net)
        assert cp.returncode == 1 and "has active endpoints" in cp.stderr
        cp = st.docker("run", "--rm", "--network", uname("nosuchnet"), "busybox", "true")
        assert cp.returncode == 125 and "not found" in cp.stderr
        assert st.docker("run", "--rm", "--network", "none", "busybox", "cat", "/proc/net/dev").stdout.count(":") == 1
    finally:
        st.docker("rm", "-f", web)
        st.docker("network", "rm", net)


def test_events_since_until_and_filters(stack):
    import time
    label = uname("ev")
    since = str(int(time.time()) - 1)
    stack.docker("run", "--rm", "--label", f"{label}=1", "busybox", "sh", "-c", "exit 2", check=False)
    until = str(int(time.time()) + 1)
    cp = stack.docker("events", "--since", since, "--until", until, "--filter", f"label={label}",
                      "--format", "{{json .}}", check=True, timeout=30)
    evs = [json.loads(line) for line in cp.stdout.splitlines()]
    assert [e["Action"] for e in evs] == ["create", "attach", "start", "die", "destroy"]
    die = evs[3]
    assert die["Actor"]["Attributes"]["exitCode"] == "2" and die["Actor"]["Attributes"]["image"] == "busybox"
    assert die["status"] == "die" and die["id"] == die["Actor"]["ID"] and die["from"] == "busybox"
    cp = stack.docker("events", "--since", since, "--until", until, "--filter", f"label={label}",
                      "--filter", "event=die", "--format", "{{.Action}}", check=True, timeout=30)
    assert cp.stdout.split() == ["die"]


def test_events_of_stop_escalation_rm_f_and_execs(stack, cleanup):
    """dockerd's sequence: a stop that times out has kill 15 then kill 9; rm -f of a running one kills 9;
    exec events are named entrypoint + " " + args (so "pwd " alone), and a failed exec has its start too."""
    import time
    label, n = uname("ev2"), uname()
    cleanup.append(n)
    since = str(int(time.time()) - 1)
    stack.docker("run", "-d", "--name", n, "--label", f"{label}=1", "busybox", "sh", "-c",
                 "trap '' TERM; while true; do sleep 0.1; done", check=True)
    stack.docker("exec", n, "pwd", check=True)
    assert stack.docker("exec", n, "nosuchcmd").returncode == 126
    stack.docker("stop", "-t", "1", n, check=True)
    stack.docker("start", n, check=True)
    stack.docker("rm", "-f", n, check=True)
    until = str(int(time.time()) + 1)
    cp = stack.docker("events", "--since", since, "--until", until, "--filter", f"label={label}",
                      "--format", "{{.Action}}|{{index .Actor.Attributes \"signal\"}}", check=True, timeout=30)
    got = [a.rstrip("|") for a in cp.stdout.splitlines()]
    assert got == ["create", "start", "exec_create: pwd ", "exec_start: pwd ", "exec_die",
                   "exec_create: nosuchcmd ", "exec_start: nosuchcmd ",
                   "kill|15", "kill|9", "die", "stop", "start", "kill|9", "die", "destroy"], got


def test_restart_rename_pause_top(stack, cleanup):
    n, n2 = uname(), uname()
    cleanup.extend([n, n2])
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    top = stack.docker("top", n, check=True).stdout
    assert "sleep 60" in top and "PID" in top.splitlines()[0]
    stack.docker("pause", n, check=True)
    assert "(Paused)" in stack.docker("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
    cp = stack.docker("pause", n)
    assert cp.returncode == 1 and "is already paused" in cp.stderr
    stack.docker("unpause", n, check=True)
    stack.docker("rename", n, n2, check=True)
    assert stack.docker("inspect", "-f", "{{.Name}}", n2, check=True).stdout.strip() == f"/{n2}"
    assert stack.docker("inspect", n).returncode == 1
    pid1 = stack.docker("inspect", "-f", "{{.State.Pid}}", n2, check=True).stdout.strip()
    stack.docker("restart", "-t", "0", n2, check=True)
    state = json.loads(stack.docker("inspect", n2, check=True).stdout)[0]["State"]
    assert state["Running"] and str(state["Pid"]) != pid1
    # `rm -l` of a container's own name is moby's refusal, not a removal
    cp = stack.docker("rm", "-l", n2)
    assert (cp.returncode, cp.stderr) == (
        1, "Error response from daemon: Conflict, cannot remove the default link name of the container\n")
    assert stack.docker("inspect", n2).returncode == 0
    # a --rm container survives its restart (and keeps --rm)
    n3 = uname()
    cleanup.append(n3)
    stack.docker("run", "-d", "--rm", "--name", n3, "busybox", "sleep", "60", check=True)
    stack.docker("restart", "-t", "0", n3, check=True)
    info = json.loads(stack.docker("inspect", n3, check=True).stdout)[0]
    assert info["State"]["Running"] and info["HostConfig"]["AutoRemove"] is True
    stack.docker("kill", n3, check=True)
    for _ in range(100):
        if stack.docker("inspect", n3).returncode == 1:
            break
        time.sleep(0.1)
    assert stack.docker("inspect", n3).returncode == 1  # removed once it stops for good


def test_restart_policy_on_failure(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1",
                 check=True)
    for _ in range(200):
        info = json.loads(stack.docker("inspect", n, check=True).stdout)[0]
        if info["RestartCount"] == 2 and not info["State"]["Running"]:
            break
    assert info["RestartCount"] == 2 and info["State"]["ExitCode"] == 1
    assert stack.docker("logs", n).stdout == "run\nrun\nrun\n"


def test_container_prune(stack):
    label = uname("prune")
    n = uname()
    stack.docker("create", "--name", n, "--label", label, "busybox", "true", check=True)
    cp = stack.docker("container", "prune", "-f", "--filter", f"label={label}", check=True)
    cid = stack.docker("ps", "-aq", "--filter", f"name={n}").stdout
    assert cid == "" and "Deleted Containers:" in cp.stdout


def test_daemon_sigterm_stops_containers_and_restart_restores(busybox_rootfs_tar, tmp_path_factory):
    """SIGTERM stops running containers and removes socket and pidfile; a restart brings back
    `--restart always` containers and shows the others as exited."""
    from stacklib import start_stack, teardown_stack

    st = start_stack(tmp_path_factory.mktemp("restartstack"), busybox_rootfs_tar)
    try:
        loop = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
        st.docker("run", "-d", "--name", "plain", "busybox", "sh", "-c", loop, check=True)
        st.docker("run", "-d", "--name", "always", "--restart", "always", "busybox", "sh", "-c", loop, check=True)
        assert st.stop() == 0
        assert not st.sock.exists() and not (st.root / "pydockerd.pid").exists()
        st.start()
        for _ in range(100):
            states = {n: json.loads(st.docker("inspect", n, check=True).stdout)[0]["State"]
                      for n in ("plain", "always")}
            if states["always"]["Running"]:
                break
        assert states["always"]["Running"]
        assert (states["plain"]["Status"], states["plain"]["ExitCode"]) == ("exited", 0)
        st.docker("rm", "-f", "plain", "always", check=True)
    finally:
        leaks = teardown_stack(st)
    assert not leaks, leaks


def test_volumes_named_anonymous_and_in_use(stack, cleanup):
    vol, n = uname("vol"), uname()
    cleanup.append(n)
    assert stack.docker("volume", "create", vol, check=True).stdout.strip() == vol
    stack.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f", check=True)
    cp = stack.docker("run", "--rm", "-v", f"{vol}:/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/x")
    assert cp.stdout == "kept\n" and "Read-only file system" in cp.stderr
    stack.docker("run", "-d", "--name", n, "-v", f"{vol}:/data", "-v", "/anon", "busybox", "sleep", "60", check=True)
    mounts = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["Mounts"]
    assert {m["Destination"]: m["Type"] for m in mounts} == {"/data": "volume", "/anon": "volume"}
    anon = [m["Name"] for m in mounts if m["Destination"] == "/anon"][0]
    cp = stack.docker("volume", "rm", vol)
    assert cp.returncode == 1 and f"remove {vol}: volume is in use - [" in cp.stderr
    stack.docker("rm", "-f", "-v", n, check=True)
    names = stack.docker("volume", "ls", "-q", check=True).stdout.split()
    assert vol in names and anon not in names  # rm -v takes anonymous volumes only
    stack.docker("volume", "rm", vol, check=True)
    cp = stack.docker("volume", "inspect", vol)
    assert cp.returncode == 1 and f"get {vol}: no such volume" in cp.stderr


def test_healthcheck(stack, cleanup):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "--health-cmd", "test -f /tmp/ok", "--health-interval", "100ms",
                 "--health-retries", "1", "busybox", "sh", "-c", "touch /tmp/ok; sleep 60", check=True)
    for _ in range(200):
        health = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["State"].get("Health", {})
        if health.get("Status") == "healthy":
            break
    assert health["Status"] == "healthy" and health["Log"][-1]["ExitCode"] == 0
    assert "(healthy)" in stack.docker("ps", "--filter", f"name={n}", "--format", "{{.Status}}").stdout
    stack.docker("exec", n, "rm", "/tmp/ok", check=True)
    for _ in range(200):
        health = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["State"]["Health"]
        if health["Status"] == "unhealthy":
            break
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 1


def test_docker_compose_app(netstack, repo_root):
    """The project's compose test app with Debian's docker-compose 1.29: volumes, a project network
    with DNS, a published port, a healthcheck gating depends_on."""
    import os
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = uname("pyc").replace("-", "")
    env = dict(netstack.env, WEB_PORT=str(port))
    base = ["docker-compose", "-p", project, "-f", str(repo_root / "docker-compose.test.yml")]

    def compose(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(base + list(args), env=env, capture_output=True, text=True, timeout=120)

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr + netstack.log_tail()
        for _ in range(100):
            logs = compose("logs", "--no-color", "client").stdout
            if "tables" in logs:
                break
        assert "hello from the pydocker compose test app" in logs and "database appdb: tables" in logs
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
            assert b"hello from the pydocker compose test app" in r.read()
        ps = compose("ps").stdout
        assert "Up (healthy)" in ps
    finally:
        down = compose("down", "-v")
    assert down.returncode == 0, down.stderr
    assert project not in netstack.docker("volume", "ls", "-q").stdout
    assert project not in netstack.docker("network", "ls").stdout


def test_cp_running_and_stopped(stack, cleanup, tmp_path):
    n = uname()
    cleanup.append(n)
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("a\n")
    (src / "sub" / "b").write_text("b\n")
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    stack.docker("cp", str(src), f"{n}:/tmp/", check=True)
    assert stack.docker("exec", n, "cat", "/tmp/in/a", "/tmp/in/sub/b", check=True).stdout == "a\nb\n"
    stack.docker("cp", f"{n}:/tmp/in", str(tmp_path / "out"), check=True)
    assert (tmp_path / "out" / "sub" / "b").read_text() == "b\n"
    cp = stack.docker("cp", f"{n}:/nope", str(tmp_path / "x"))
    assert cp.returncode == 1 and f"Could not find the file /nope in container {n}" in cp.stderr
    # a symlink in the container pointing at the host's /etc must stay inside the container
    stack.docker("exec", n, "ln", "-s", "/etc/hostname", "/tmp/link", check=True)
    stack.docker("cp", "-L", f"{n}:/tmp/link", str(tmp_path / "hn"), check=True)
    cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
    assert (tmp_path / "hn").read_text().strip() == cid[:12]
    # stopped: the writable layer is still there, both ways
    stack.docker("stop", "-t", "0", n, check=True)
    stack.docker("cp", str(src / "a"), f"{n}:/root/a2", check=True)
    stack.docker("cp", f"{n}:/tmp/in/a", str(tmp_path / "a3"), check=True)
    assert (tmp_path / "a3").read_text() == "a\n"
    stack.docker("start", n, check=True)
    assert stack.docker("exec", n, "cat", "/root/a2", check=True).stdout == "a\n"


def test_cp_of_a_stopped_container_reaches_its_volumes_and_binds(stack, cleanup, tmp_path):
    """As dockerd: a stopped container's volumes, binds and /etc files are where its processes saw them."""
    n, vol = uname(), uname("cpvol")
    cleanup.append(n)
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "h").write_text("from the host\n")
    (tmp_path / "f").write_text("into the volume\n")
    try:
        stack.docker("run", "--name", n, "-v", f"{vol}:/data", "-v", f"{host}:/hb:ro", "busybox", "true", check=True)
        stack.docker("cp", str(tmp_path / "f"), f"{n}:/data/f", check=True)
        out = stack.docker("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f", check=True).stdout
        assert out == "into the volume\n"  # in the volume, not in the container's own layer
        stack.docker("cp", f"{n}:/hb/h", str(tmp_path / "h2"), check=True)
        assert (tmp_path / "h2").read_text() == "from the host\n"
        cp = stack.docker("cp", str(tmp_path / "f"), f"{n}:/hb/f")
        assert cp.returncode == 1 and not (host / "f").exists()  # a read-only bind stays read-only
        stack.docker("cp", f"{n}:/etc/hostname", str(tmp_path / "hn"), check=True)
        cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
        assert (tmp_path / "hn").read_text().strip() == cid[:12]
    finally:
        stack.docker("rm", "-f", n)
        stack.docker("volume", "rm", vol)
    assert not [line for line in open("/proc/mounts") if str(host) in line]


def test_save_rmi_load_roundtrip(stack, busybox_rootfs_tar, tmp_path):
    repo = uname("saved")
    stack.docker("import", "-c", 'CMD ["echo", "round-trip"]', str(busybox_rootfs_tar), f"{repo}:v1", check=True)
    out = tmp_path / "saved.tar"
    stack.docker("save", "-o", str(out), f"{repo}:v1", check=True)
    with tarfile.open(out) as t:
        names = t.getnames()
        manifest = json.load(t.extractfile("manifest.json"))
    assert "oci-layout" in names and "index.json" in names
    assert manifest[0]["RepoTags"] == [f"{repo}:v1"] and len(manifest[0]["Layers"]) == 1
    stack.docker("rmi", f"{repo}:v1", check=True)
    assert f"Loaded image: {repo}:v1" in stack.docker("load", "-i", str(out), check=True).stdout
    assert stack.docker("run", "--rm", f"{repo}:v1").stdout == "round-trip\n"
    assert stack.docker("save", uname("nosuch")).returncode == 1


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """Debian's docker-registry on 127.0.0.1 with a throwaway storage dir."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry"))
    from registry_helpers import start_registry
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg.host
    finally:
        reg.stop()


def test_push_pull_and_pull_on_run(stack, registry, busybox_rootfs_tar):
    repo = f"{registry}/{uname('pushed')}"
    stack.docker("import", "-c", 'CMD ["echo", "from-registry"]', str(busybox_rootfs_tar), f"{repo}:1", check=True)
    cp = stack.docker("push", f"{repo}:1", check=True)
    assert "1: digest: sha256:" in cp.stdout
    stack.docker("rmi", f"{repo}:1", check=True)
    cp = stack.docker("pull", f"{repo}:1", check=True)
    assert f"Status: Downloaded newer image for {repo}:1" in cp.stdout
    stack.docker("rmi", f"{repo}:1", check=True)
    cp = stack.docker("run", "--rm", f"{repo}:1")
    assert cp.returncode == 0 and cp.stdout == "from-registry\n"
    assert f"Unable to find image '{repo}:1' locally" in cp.stderr
    cp = stack.docker("pull", f"{registry}/{uname('nosuch')}:1")
    assert cp.returncode == 1 and "not found" in cp.stderr
    cp = stack.docker("push", f"{registry}/{uname('nolocal')}:1")
    assert cp.returncode == 1 and "An image does not exist locally with the tag" in cp.stderr
    stack.docker("rmi", f"{repo}:1", check=True)


def test_classic_build_and_cache(stack, tmp_path, cleanup):
    import subprocess
    tag = f"{uname('built')}:1"
    (tmp_path / "f.txt").write_text("hello-file\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nENV GREETING=hi\nWORKDIR /app\nCOPY f.txt .\n"
        "RUN echo built > /app/built && cat f.txt\nRUN echo oops >&2\n"
        'CMD ["sh", "-c", "echo $GREETING; cat /app/f.txt /app/built; pwd"]\n')
    env = dict(stack.env, DOCKER_BUILDKIT="0")

    def build(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(["/usr/local/bin/docker", "build", *extra, "-t", tag, str(tmp_path)], env=env,
                              capture_output=True, text=True, timeout=180)

    cp = build()
    assert cp.returncode == 0, cp.stdout + cp.stderr + stack.log_tail()
    assert "Step 5/7 : RUN echo built > /app/built && cat f.txt" in cp.stdout
    assert "hello-file" in cp.stdout and "oops" in cp.stdout
    assert f"Successfully tagged {tag}" in cp.stdout
    assert stack.docker("run", "--rm", tag).stdout == "hi\nhello-file\nbuilt\n/app\n"
    again = build()
    assert again.returncode == 0 and again.stdout.count("Using cache") == 6
    # the same final image, and the intermediate images stay out of `docker images`
    assert again.stdout.splitlines()[-2] == cp.stdout.splitlines()[-2]
    images = stack.docker("images", "--format", "{{.Repository}}", check=True).stdout.split()
    assert "<none>" not in images and "moby-dangling" not in images
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    bad = build()
    assert bad.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in bad.stderr
    failed = stack.docker("ps", "-aq", "--filter", "status=exited", "--filter", "exited=3").stdout.split()
    cleanup.extend(failed)  # as Docker, the failed step's container stays
    stack.docker("rmi", tag, check=True)


def test_update_and_image_prune(stack, cleanup, tmp_path):
    import subprocess
    n = uname()
    cleanup.append(n)
    stack.docker("run", "-d", "--name", n, "busybox", "sleep", "60", check=True)
    stack.docker("update", "--memory", "64m", "--memory-swap", "128m", "--restart", "on-failure:3", n, check=True)
    hc = json.loads(stack.docker("inspect", n, check=True).stdout)[0]["HostConfig"]
    assert hc["Memory"] == 64 << 20 and hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    # a built image keeps its step images through `image prune`; an unused untagged one goes
    tag = f"{uname('pruned')}:1"
    (tmp_path / "Dockerfile").write_text("FROM busybox\nRUN echo 1 > /one\nRUN echo 2 > /two\n")
    env = dict(stack.env, DOCKER_BUILDKIT="0")
    subprocess.run(["/usr/local/bin/docker", "build", "-t", tag, str(tmp_path)], env=env, check=True,
                   capture_output=True, timeout=180)
    stack.docker("image", "prune", "-f", check=True)
    again = subprocess.run(["/usr/local/bin/docker", "build", "-t", tag, str(tmp_path)], env=env, check=True,
                           capture_output=True, text=True, timeout=180)
    assert again.stdout.count("Using cache") == 2
    stack.docker("rmi", tag, check=True)


def test_runtime_selection(stack):
    info = json.loads(stack.docker("info", "--format", "{{json .}}", check=True).stdout)
    assert info["DefaultRuntime"] == "pyrunc" and {"pyrunc", "runc"} <= set(info["Runtimes"])
    # the real runc through the same containerd, chosen per container (runc Options binary_name)
    cp = stack.docker("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo via-runc; exit 4")
    assert (cp.returncode, cp.stdout) == (4, "via-runc\n")
    cp = stack.docker("run", "--rm", "--runtime", "nosuch", "busybox", "true")
    assert cp.returncode == 125 and "Unknown runtime specified nosuch" in cp.stderr


def test_commit(stack, cleanup):
    n = uname()
    cleanup.append(n)
    repo = uname("committed")
    stack.docker("run", "-d", "--name", n, "busybox", "sh", "-c", "echo state > /saved; sleep 60", check=True)
    for _ in range(100):
        if stack.docker("exec", n, "cat", "/saved").stdout == "state\n":
            break
    image_id = stack.docker("commit", "-c", 'CMD ["cat", "/saved"]', "-m", "snap", n, f"{repo}:1",
                            check=True).stdout.strip()
    assert image_id.startswith("sha256:")
    assert stack.docker("run", "--rm", f"{repo}:1").stdout == "state\n"
    # the container still has its own layer and keeps running
    assert stack.docker("exec", n, "cat", "/saved").stdout == "state\n"
    assert "snap" in stack.docker("history", f"{repo}:1", check=True).stdout
    stack.docker("rm", "-f", n, check=True)
    stack.docker("rmi", f"{repo}:1", check=True)


def test_export_df_and_system_prune(stack, cleanup, tmp_path):
    n = uname()
    cleanup.append(n)
    stack.docker("run", "--name", n, "busybox", "sh", "-c", "echo x > /marker", check=True)
    out = tmp_path / "export.tar"
    stack.docker("export", "-o", str(out), n, check=True)
    with tarfile.open(out) as t:
        names = t.getnames()
        assert t.extractfile("marker").read() == b"x\n"
    assert "bin/busybox" in names and not any(x.startswith(("./", "proc/")) for x in names)
    df = stack.docker("system", "df", check=True).stdout
    assert df.startswith("TYPE") and "Images" in df and "Containers" in df
    # (`system prune` is not run here: the session stack is shared with other tests)
