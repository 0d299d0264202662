"""`docker diff` (GET /containers/{id}/changes) against Debian's dockerd 20.10 on overlay2, through the docker
CLI 28: the same steps on both daemons give the same changes. dockerd lists a directory's entries in Go map
order (it differs between two calls), so the lines are compared as sets; ours come in moby's walk order
with the entries of a directory sorted (a changed directory before what changed below it, what is there by
name, then what is gone), which the test checks too.

The image has two layers over busybox (so the image side is an overlay of several lower dirs). The container
adds, modifies, deletes (a file of either layer, a whole directory), changes a mode, replaces a file with a
directory and writes below an added directory; a second container only starts with a new working directory,
and a third never ran.
"""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from peer_dockerd import DOCKERD, private_dockerd
from stacklib import DOCKER

DOCKERFILE = "FROM {image}\nRUN mkdir -p /opt/app/conf && echo 1 > /opt/app/conf/a && echo x > /opt/app/b\n" \
             "RUN echo 2 > /opt/app/conf/c && rm /opt/app/b\n"
SCRIPT = ("rm /opt/app/conf/a && echo more >> /opt/app/conf/c && rm -r /usr/sbin && rm /bin/ls"
          " && mkdir -p /new/d && echo f > /new/d/f && chmod 700 /home && rm /etc/group && mkdir /etc/group"
          " && ln -s /nowhere /lnk && echo y >> /etc/passwd")


def _steps(run, tmp_path, tag: str, image: str) -> dict[str, subprocess.CompletedProcess]:
    ctx = tmp_path / tag
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE.format(image=image))
    run("build", "-q", "-t", tag, str(ctx))
    names = [f"{tag}-{s}" for s in ("w", "wd", "new")]
    run("run", "--name", names[0], tag, "sh", "-c", SCRIPT)
    run("run", "-d", "--name", names[1], "-w", "/work/dir", tag, "sleep", "60")
    run("create", "--name", names[2], tag, "true")
    try:
        return {n: run("diff", n, check=False) for n in names + ["nosuch-" + tag]}
    finally:
        run("rm", "-f", *names)
        run("rmi", tag)


def _runner(env: dict[str, str]):
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        cp = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=180)
        assert not check or cp.returncode == 0, f"docker {' '.join(args)}: {cp.stdout}{cp.stderr}"
        return cp
    return run


def test_diff_equals_a_real_dockerd(stack, busybox_rootfs_tar, tmp_path):
    if not os.path.exists(DOCKERD):
        pytest.skip("docker.io is not installed")
    tag = f"diff-{uuid.uuid4().hex[:8]}"
    ours = _steps(_runner(dict(stack.env, DOCKER_BUILDKIT="0")), tmp_path / "ours", tag, "busybox")
    with private_dockerd("pyd-diff-", storage_driver="overlay2") as peer:
        env = dict(os.environ, DOCKER_HOST=f"unix://{peer.sock}", DOCKER_CONFIG=str(peer.base / "cfg"),
                   DOCKER_BUILDKIT="0")
        run = _runner(env)
        run("import", str(busybox_rootfs_tar), "busybox:latest")
        theirs = _steps(run, tmp_path / "theirs", tag, "busybox")
    for (name, a), b in zip(ours.items(), theirs.values()):
        assert (a.returncode, a.stderr) == (b.returncode, b.stderr), name
        assert sorted(a.stdout.splitlines()) == sorted(b.stdout.splitlines()), (name, a.stdout, b.stdout)
    written = ours[f"{tag}-w"].stdout.splitlines()
    for line in ("D /opt/app/conf/a", "C /opt/app/conf/c", "D /usr/sbin", "A /new/d/f", "C /home",
                 "C /etc/group", "A /lnk", "C /etc"):
        assert line in written, written
    assert not any(line.startswith("A /usr/sbin/") for line in written)  # a deleted directory is one line
    assert ours[f"{tag}-wd"].stdout == "A /work\nA /work/dir\n"  # the working directory the runtime made
    assert ours[f"{tag}-new"].stdout == ""
    assert ours[f"nosuch-{tag}"].stderr == f"Error response from daemon: No such container: nosuch-{tag}\n"
    # the order: a directory before its changes; in one directory what is there by name, then what is gone
    paths = [line[2:] for line in written]
    children: dict[str, list[str]] = {}
    for i, line in enumerate(written):
        parent = os.path.dirname(paths[i])
        if parent in paths:
            assert paths.index(parent) < i, written
        children.setdefault(parent, []).append(line)
    for lines in children.values():
        there, gone = [x for x in lines if x[0] != "D"], [x for x in lines if x[0] == "D"]
        assert lines == sorted(there, key=lambda x: x[2:]) + sorted(gone, key=lambda x: x[2:]), written
