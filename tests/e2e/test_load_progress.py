"""`docker load` progress: per-layer "Loading layer" JSON messages as dockerd streams them, through docker-py,
the real docker CLI on a terminal (and quiet on a pipe) and `pydocker load`.

The archives are docker-archives written here with two layers of random data, so their diff IDs (the
progress ids) are known and the layers are not already present.
"""
from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import pty
import re
import select
import struct
import termios
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest

from peer_dockerd import DOCKERD, private_dockerd

REPO = Path(__file__).resolve().parents[2]
DOCKER = "/usr/local/bin/docker"


def _layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(path: Path, tag: str, sizes: tuple[int, ...] = (3 << 20, 1 << 20)) -> list[tuple[str, int]]:
    """A docker-archive of one image tagged `tag`; returns (diff ID, layer.tar size) per layer."""
    layers = [_layer({f"data{i}": os.urandom(n)}) for i, n in enumerate(sizes)]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                         "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                                     for i in range(len(layers))]}).encode()
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": cfg_name, "RepoTags": [tag],
                 "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
    with tarfile.open(path, "w") as tf:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        add(cfg_name, config)
        for d, b in zip(diff_ids, layers):
            add(f"{d[7:]}/layer.tar", b)
        add("manifest.json", json.dumps(manifest).encode())
    return [(d, len(b)) for d, b in zip(diff_ids, layers)]


@pytest.fixture
def api(stack):
    c = docker.APIClient(base_url=stack.host, timeout=120)
    yield c
    c.close()


def test_docker_py_load_streams_per_layer_progress(stack, api, tmp_path):
    tag = f"loadprog-{uuid.uuid4().hex[:8]}:v1"
    tar = tmp_path / "img.tar"
    layers = write_archive(tar, tag)
    try:
        msgs = list(api.load_image(tar.read_bytes(), quiet=False))
        progress = [m for m in msgs if m.get("status") == "Loading layer"]
        ids = [d[7:19] for d, _ in layers]
        # one bar per layer, in order, each id the layer's diff ID cut to 12 hex digits
        assert [m["id"] for m in progress if m["progressDetail"]["current"] == m["progressDetail"]["total"]] == ids
        assert list(dict.fromkeys(m["id"] for m in progress)) == ids
        for (diff_id, size), id_ in zip(layers, ids):
            mine = [m for m in progress if m["id"] == id_]
            last = mine[-1]
            assert last["progressDetail"] == {"current": size, "total": size}
            assert re.fullmatch(r"\[=+>\] +[0-9.]+[kM]?B/[0-9.]+[kM]?B", last["progress"]), last["progress"]
            currents = [m["progressDetail"]["current"] for m in mine]
            assert currents == sorted(currents) and all(0 < c <= size for c in currents)
        # the first layer's bar is complete before the second one starts
        first_done = next(i for i, m in enumerate(msgs) if m.get("id") == ids[0]
                          and m["progressDetail"]["current"] == layers[0][1])
        assert all(m.get("id") != ids[1] for m in msgs[:first_done])
        assert msgs[-1] == {"stream": f"Loaded image: {tag}\n"}

        # layers it already has get no line; the image is loaded all the same
        again = list(api.load_image(tar.read_bytes(), quiet=False))
        assert again == [{"stream": f"Loaded image: {tag}\n"}]

        # quiet (also what no quiet parameter means, as in moby): the result line only
        api.remove_image(tag)
        quiet = list(api.load_image(tar.read_bytes(), quiet=True))
        assert quiet == [{"stream": f"Loaded image: {tag}\n"}]
        api.remove_image(tag)
        assert list(api.load_image(tar.read_bytes())) == [{"stream": f"Loaded image: {tag}\n"}]

        # a tag that moves to another image: dockerd says so (the old image stays, untagged)
        old_id = api.inspect_image(tag)["Id"]
        other = tmp_path / "other.tar"
        write_archive(other, tag, sizes=(4096,))
        moved = list(api.load_image(other.read_bytes(), quiet=True))
        assert moved == [{"stream": f"The image {tag} already exists, renaming the old one with ID {old_id} "
                                    "to empty string\n"},
                         {"stream": f"Loaded image: {tag}\n"}]
        api.remove_image(old_id)
    finally:
        try:
            api.remove_image(tag, force=True)
        except docker.errors.APIError:
            pass


def _on_pty(argv: list[str], env: dict[str, str], timeout: float = 60) -> tuple[bytes, int]:
    """Run argv on a 200-column pseudo-terminal (wide enough for bars) to the end; (output, exit status)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
            os.chdir(REPO)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if not chunk:
                    break
                out += chunk
        _, status = os.waitpid(pid, 0)
        return out, os.waitstatus_to_exitcode(status)
    finally:
        os.close(fd)


@pytest.mark.parametrize("client", ["docker", "pydocker"])
def test_cli_load_shows_layer_bars_on_a_terminal(stack, tmp_path, client):
    tag = f"loadcli-{uuid.uuid4().hex[:8]}:v1"
    tar = tmp_path / "img.tar"
    layers = write_archive(tar, tag)
    argv = [DOCKER] if client == "docker" else [sys.executable, "-m", "cli.main"]
    try:
        out, code = _on_pty(argv + ["load", "-i", str(tar)], stack.env)
        text = out.decode(errors="replace")
        assert code == 0, text
        for diff_id, size in layers:  # each layer's line, ending as a full bar with its size
            assert re.search(rf"{diff_id[7:19]}: Loading layer \[=+>\] +[0-9.]+[kM]?B/[0-9.]+[kM]?B", text), text
        assert f"Loaded image: {tag}" in text
        # on a pipe the CLI asks for quiet: no bars at all
        stack.docker("rmi", tag, check=True)
        piped = subprocess.run(argv + ["load", "-i", str(tar)], env=stack.env, cwd=REPO, capture_output=True,
                               text=True, timeout=60)
        assert (piped.returncode, piped.stdout) == (0, f"Loaded image: {tag}\n"), piped.stderr
    finally:
        stack.docker("rmi", "-f", tag)


@pytest.mark.skipif(not os.path.exists(DOCKERD), reason="docker.io (dockerd 20.10) is not installed")
def test_same_messages_as_debian_dockerd(stack, api, tmp_path):
    """The same archive loaded by a private Debian dockerd 20.10 and by pydockerd: the same layer ids, the same
    final message per layer (status, byte counts, bar) and the same result lines."""
    tag = f"loadcmp-{uuid.uuid4().hex[:8]}:v1"
    tar = tmp_path / "img.tar"
    write_archive(tar, tag)
    with private_dockerd("pyd-loadcmp-") as peer:
        real = docker.APIClient(base_url=f"unix://{peer.sock}", timeout=120, version="1.41")
        theirs = list(real.load_image(tar.read_bytes(), quiet=False))
        real.close()
    try:
        ours = list(api.load_image(tar.read_bytes(), quiet=False))
    finally:
        api.remove_image(tag, force=True)

    def finals(msgs: list[dict]) -> dict[str, dict]:
        return {m["id"]: m for m in msgs if m.get("status") == "Loading layer"}  # the last one per id

    def results(msgs: list[dict]) -> list[dict]:
        return [m for m in msgs if m.get("status") != "Loading layer"]

    assert finals(ours) == finals(theirs) and len(finals(ours)) == 2, (ours, theirs)
    assert results(ours) == results(theirs), (ours, theirs)
    assert {frozenset(m) for m in ours} <= {frozenset(m) for m in theirs}  # the same fields
