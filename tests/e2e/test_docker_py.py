"""pydockerd through docker-py 7 (`docker.DockerClient`), as Python users and compose drive it."""
from __future__ import annotations

import uuid

import docker
import pytest
from docker.errors import APIError, ContainerError, ImageNotFound, NotFound


def uname(prefix: str = "pyd") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(stack):
    c = docker.DockerClient(base_url=stack.host, timeout=60)
    yield c
    c.close()


@pytest.fixture
def cleanup(client):
    names: list[str] = []
    yield names
    for n in names:
        try:
            client.containers.get(n).remove(force=True)
        except NotFound:
            pass


def test_ping_and_version(client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.50"
    assert client.api.api_version == "1.50"


def test_images_list_and_get(client):
    tags = [t for img in client.images.list() for t in img.tags]
    assert "busybox:latest" in tags
    img = client.images.get("busybox")
    assert img.id.startswith("sha256:")
    assert client.images.get(img.short_id.split(":")[1]).id == img.id


def test_image_not_found(client):
    with pytest.raises(ImageNotFound):
        client.images.get(uname("nosuch"))


def test_run_returns_output_and_removes(client):
    label = uname("lbl")
    out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo err >&2"], remove=True,
                                labels={label: "1"})
    assert out == b"hi\n"
    assert client.containers.list(all=True, filters={"label": label}) == []


def test_run_nonzero_exit_raises_container_error(client, cleanup):
    n = uname()
    cleanup.append(n)
    with pytest.raises(ContainerError) as exc:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 5"], name=n)
    assert exc.value.exit_status == 5
    assert b"bad" in exc.value.stderr


def test_detached_logs_stop_remove(client, cleanup):
    n = uname()
    cleanup.append(n)
    c = client.containers.run("busybox", ["sh", "-c", "echo one; echo two >&2; exec sleep 60"], name=n,
                              detach=True)
    assert c.name == n
    c.reload()
    assert c.status == "running"
    assert n in [x.name for x in client.containers.list()]
    for _ in range(100):
        if c.logs(stdout=True, stderr=False) == b"one\n":
            break
    assert c.logs(stdout=True, stderr=False) == b"one\n"
    assert c.logs(stdout=False, stderr=True) == b"two\n"
    c.stop(timeout=1)
    assert c.wait()["StatusCode"] == 137
    c.reload()
    assert c.status == "exited"
    c.remove()
    with pytest.raises(NotFound) as exc:
        client.containers.get(n)
    assert f"No such container: {n}" in str(exc.value)


def test_kill_signal_forms(client, cleanup):
    n = uname()
    cleanup.append(n)
    c = client.containers.run("busybox", ["sh", "-c", "trap 'exit 9' USR1; while :; do sleep 0.1; done"],
                              name=n, detach=True)
    c.kill(signal="SIGUSR1")
    assert c.wait(timeout=30)["StatusCode"] == 9
    with pytest.raises(APIError) as exc:
        c.kill(signal=9)
    assert exc.value.status_code == 409


def test_remove_running_conflict(client, cleanup):
    n = uname()
    cleanup.append(n)
    c = client.containers.run("busybox", ["sleep", "60"], name=n, detach=True)
    with pytest.raises(APIError) as exc:
        c.remove()
    assert exc.value.status_code == 409
    c.remove(force=True)
    with pytest.raises(NotFound):
        c.reload()


def test_logs_stream_follow(client, cleanup):
    n = uname()
    cleanup.append(n)
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo s$i; sleep 0.1; done"],
                              name=n, detach=True)
    chunks = b"".join(c.logs(stream=True, follow=True))
    assert chunks == b"s1\ns2\ns3\n"


def test_run_missing_command_is_api_error(client):
    with pytest.raises(APIError) as exc:
        client.containers.run("busybox", ["nosuchcmd"], remove=True)
    assert "executable file not found" in str(exc.value)


def test_exec_run(client, cleanup):
    n = uname()
    cleanup.append(n)
    c = client.containers.run("busybox", ["sleep", "60"], name=n, detach=True)
    res = c.exec_run(["sh", "-c", "echo hi; exit 3"])
    assert (res.exit_code, res.output) == (3, b"hi\n")
    res = c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True)
    assert res.output == (b"o\n", b"e\n")
    with pytest.raises(NotFound):
        client.api.exec_inspect("0" * 64)


def test_events_stream(client):
    import time
    label = uname("ev")
    since = int(time.time()) - 1
    client.containers.run("busybox", "true", remove=True, labels={label: "1"})
    evs = list(client.events(since=since, until=int(time.time()) + 1, decode=True,
                             filters={"label": [label], "type": ["container"]}))
    assert [e["Action"] for e in evs] == ["create", "start", "die", "destroy"]
    assert all(e["Actor"]["Attributes"][label] == "1" for e in evs)


def test_images_build(client, tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM busybox\nRUN echo layer > /layer\nCMD ["cat", "/layer"]\n')
    tag = f"{uname('pybuilt')}:1"
    image, logs = client.images.build(path=str(tmp_path), tag=tag)
    assert any("Successfully built" in (chunk.get("stream") or "") for chunk in logs)
    assert tag in image.tags
    assert client.containers.run(tag, remove=True) == b"layer\n"
    client.images.remove(tag)
