"""Images through the real docker CLI 28 against pydockerd: login/push/pull with an htpasswd registry,
`docker images` filters, rmi conflicts, and a tarball written by real Docker (`docker save` from a
private Debian dockerd) loading and running.

Registries are Debian's docker-registry on 127.0.0.1 (tests/integration/registry/registry_helpers.py).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry"))
from registry_helpers import PASSWORD, USER, start_registry  # noqa: E402

from peer_dockerd import DOCKERD, private_dockerd  # noqa: E402


def uname(prefix: str = "img") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    reg = start_registry(tmp_path_factory.mktemp("reg-htpasswd"), htpasswd=True)
    yield reg.host
    reg.stop()


def test_login_stores_credentials_used_by_push_and_pull(stack, auth_registry, busybox_rootfs_tar, tmp_path):
    cfgdir = tmp_path / "dockercfg"
    d = dict(stack.env, DOCKER_CONFIG=str(cfgdir))

    def docker(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(["/usr/local/bin/docker", *args], env=d, input=input or "", capture_output=True,
                                  text=True, timeout=15)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"docker {' '.join(args)} timed out: {exc.stdout!r} {exc.stderr!r}\n"
                                 + stack.log_tail()) from None

    repo = f"{auth_registry}/{uname('authed')}"
    stack.docker("import", "-c", 'CMD ["echo", "with-auth"]', str(busybox_rootfs_tar), f"{repo}:1", check=True)
    try:
        cp = docker("push", f"{repo}:1")  # no credentials yet
        assert cp.returncode == 1 and "no basic auth credentials" in cp.stderr, cp.stdout + cp.stderr
        cp = docker("login", "-u", USER, "--password-stdin", auth_registry, input="wrong\n")
        assert cp.returncode == 1 and "401 Unauthorized" in cp.stderr, cp.stderr
        assert not (cfgdir / "config.json").exists() or auth_registry not in (cfgdir / "config.json").read_text()
        cp = docker("login", "-u", USER, "--password-stdin", auth_registry, input=PASSWORD + "\n")
        assert cp.returncode == 0 and "Login Succeeded" in cp.stdout, cp.stderr
        auths = json.loads((cfgdir / "config.json").read_text())["auths"]
        assert base64.b64decode(auths[auth_registry]["auth"]).decode() == f"{USER}:{PASSWORD}"
        cp = docker("push", f"{repo}:1")
        assert cp.returncode == 0 and "1: digest: sha256:" in cp.stdout, cp.stdout + cp.stderr
        stack.docker("rmi", f"{repo}:1", check=True)
        cp = docker("pull", f"{repo}:1")
        assert cp.returncode == 0 and f"Downloaded newer image for {repo}:1" in cp.stdout, cp.stderr
        cp = stack.docker("run", "--rm", f"{repo}:1")
        assert cp.stdout == "with-auth\n", cp.stderr
        # logged out: the next pull is refused by the registry, and nothing is registered
        stack.docker("rmi", f"{repo}:1", check=True)
        docker("logout", auth_registry)
        cp = docker("pull", f"{repo}:1")
        assert cp.returncode == 1 and "no basic auth credentials" in cp.stderr, cp.stderr
        assert stack.docker("image", "inspect", f"{repo}:1").returncode == 1
    finally:
        stack.docker("rmi", "-f", f"{repo}:1")


def test_images_filters(stack, busybox_rootfs_tar):
    label = uname("lbl")
    a, b = f"{uname('filta')}:1", f"{uname('filtb')}:2"
    stack.docker("import", "-c", f"LABEL {label}=a", str(busybox_rootfs_tar), a, check=True)
    time.sleep(1.1)  # `created` has whole seconds in before/since, as with Docker
    stack.docker("import", "-c", f"LABEL {label}=b", "-c", "CMD [\"true\"]", str(busybox_rootfs_tar), b, check=True)
    # an untagged image: b's ID tagged once more, then the tag removed leaves b; make a real dangling one
    dangling_src = f"{uname('dang')}:1"
    stack.docker("import", "-c", f"LABEL {label}=c", "-c", "CMD [\"x\"]", str(busybox_rootfs_tar), dangling_src,
                 check=True)
    stack.docker("import", "-c", f"LABEL {label}=d", "-c", "CMD [\"y\"]", str(busybox_rootfs_tar), dangling_src,
                 check=True)  # the tag moves: the first image is now <none>:<none>

    def images(*filters: str) -> list[str]:
        args = [x for f in filters for x in ("--filter", f)]
        out = stack.docker("images", *args, "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout
        return out.split()

    try:
        assert sorted(images(f"label={label}")) == sorted([a, b, dangling_src, "<none>:<none>"]), \
            stack.docker("images", "-a", "--no-trunc").stdout
        assert images(f"label={label}=b") == [b]
        assert images(f"reference={a.split(':')[0]}") == [a]
        assert images(f"reference={a.split(':')[0][:8]}*:1") == [a]
        assert images(f"label={label}", "dangling=true") == ["<none>:<none>"]
        assert "<none>:<none>" not in images(f"label={label}", "dangling=false")
        assert images(f"label={label}", f"before={b}") == [a]
        assert a not in images(f"label={label}", f"since={a}") and b in images(f"label={label}", f"since={a}")
        cp = stack.docker("images", "--filter", "nosuch=1")
        assert cp.returncode == 1 and "invalid filter 'nosuch'" in cp.stderr
        # image prune removes the dangling one only (tagged and unused ones stay)
        out = stack.docker("image", "prune", "-f", "--filter", f"label={label}", check=True).stdout
        assert "deleted: sha256:" in out
        assert images(f"label={label}", "dangling=true") == []
        assert sorted(images(f"label={label}")) == sorted([a, b, dangling_src])
    finally:
        for ref in (a, b, dangling_src):
            stack.docker("rmi", "-f", ref)
        stack.docker("image", "prune", "-f", "--filter", f"label={label}")


def test_rmi_conflicts_and_force(stack, busybox_rootfs_tar):
    tag = f"{uname('used')}:1"
    n = uname("user")
    stack.docker("import", "-c", 'CMD ["sleep", "60"]', str(busybox_rootfs_tar), tag, check=True)
    image_id = json.loads(stack.docker("image", "inspect", tag, check=True).stdout)[0]["Id"]
    short = image_id[7:19]
    try:
        stack.docker("create", "--name", n, tag, check=True)
        cid = stack.docker("inspect", "-f", "{{.Id}}", n, check=True).stdout.strip()
        cp = stack.docker("rmi", tag)
        assert cp.returncode == 1
        assert (f'conflict: unable to remove repository reference "{tag}" (must force) - container '
                f"{cid[:12]} is using its referenced image {short}") in cp.stderr
        cp = stack.docker("rmi", short)
        assert cp.returncode == 1
        assert (f"conflict: unable to delete {short} (must be forced) - image is being used by stopped "
                f"container {cid[:12]}") in cp.stderr
        stack.docker("start", n, check=True)
        cp = stack.docker("rmi", "-f", short)
        assert cp.returncode == 1
        assert (f"conflict: unable to delete {short} (cannot be forced) - image is being used by running "
                f"container {cid[:12]}") in cp.stderr
        stack.docker("rm", "-f", n, check=True)
        stack.docker("create", "--name", n, tag, check=True)
        cp = stack.docker("rmi", "-f", tag, check=True)
        assert f"Untagged: {tag}" in cp.stdout and f"Deleted: {image_id}" in cp.stdout
        assert stack.docker("image", "inspect", tag).returncode == 1
    finally:
        stack.docker("rm", "-f", n)
        stack.docker("rmi", "-f", tag)


def test_history_and_inspect(stack, busybox_rootfs_tar):
    tag = f"{uname('hist')}:1"
    stack.docker("import", "-m", "imported-msg", "-c", "ENV A=1", "-c", 'CMD ["sh"]', str(busybox_rootfs_tar), tag,
                 check=True)
    try:
        info = json.loads(stack.docker("image", "inspect", tag, check=True).stdout)[0]
        assert info["RepoTags"] == [tag] and info["Config"]["Env"] == ["A=1"]
        assert info["ContainerConfig"]["Cmd"] == ["sh"]  # docker-compose 1.29 reads it
        assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
        out = stack.docker("history", "--no-trunc", "--format", "{{.ID}}|{{.Comment}}", tag, check=True).stdout
        assert out.splitlines()[0] == f"{info['Id']}|imported-msg"
    finally:
        stack.docker("rmi", tag)


# --- a tarball made by real Docker ---------------------------------------------------------------------

def test_real_docker_save_tarball_loads_and_runs(stack, busybox_rootfs_tar, tmp_path):
    """Both ways between pydocker and Debian's dockerd 20.10 (overlay2): same IDs, layers and sizes."""
    if not os.path.exists(DOCKERD) or not os.path.exists("/usr/bin/docker"):
        pytest.skip("docker.io is not installed")
    tag = f"{uname('fromdocker')}:v1"
    ours = f"{uname('frompydocker')}:v2"
    stack.docker("import", "-c", 'CMD ["echo", "made-by-pydocker"]', str(busybox_rootfs_tar), ours, check=True)
    ours_info = json.loads(stack.docker("image", "inspect", ours, check=True).stdout)[0]
    stack.docker("save", "-o", str(tmp_path / "ours.tar"), ours, check=True)
    stack.docker("rmi", ours, check=True)
    with private_dockerd("pyd-realdocker-", storage_driver="overlay2") as peer:
        env = dict(os.environ, DOCKER_HOST=f"unix://{peer.sock}", DOCKER_CONFIG=str(peer.base / "cfg"))

        def real(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(["/usr/bin/docker", *args], env=env, capture_output=True, text=True, timeout=120)

        cp = real("import", "-c", 'CMD ["echo", "made-by-docker"]', str(busybox_rootfs_tar), tag)
        assert cp.returncode == 0, cp.stderr
        archive = tmp_path / "real.tar"
        cp = real("save", "-o", str(archive), tag)
        assert cp.returncode == 0, cp.stderr
        # and the other way: Debian's dockerd 20.10 loads what pydocker saved, same image ID and layers
        cp = real("load", "-i", str(tmp_path / "ours.tar"))
        assert cp.returncode == 0 and f"Loaded image: {ours}" in cp.stdout, cp.stdout + cp.stderr
        theirs = json.loads(real("image", "inspect", ours).stdout)[0]
        assert theirs["Id"] == ours_info["Id"] and theirs["RootFS"]["Layers"] == ours_info["RootFS"]["Layers"]
        assert theirs["Config"]["Cmd"] == ["echo", "made-by-pydocker"]
        # Docker's size is its layers' DiffSize (unpacked files + symlink targets), not the blobs' sizes
        assert (ours_info["Size"], ours_info["VirtualSize"]) == (theirs["Size"], theirs["VirtualSize"])
        real_size = real("image", "inspect", "-f", "{{.Size}}", tag).stdout
        real_row = real("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", tag).stdout
        assert real_size.strip().isdigit() and real_row.startswith(f"{tag} "), (real_size, real_row)
    try:
        cp = stack.docker("load", "-i", str(archive), check=True)
        assert f"Loaded image: {tag}" in cp.stdout
        assert stack.docker("image", "inspect", "-f", "{{.Size}}", tag, check=True).stdout == real_size
        for cli in (stack.docker, stack.docker20):  # CLI 28 and 20.10 print the same text as real Docker's
            assert cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", tag).stdout == real_row
        assert stack.docker("run", "--rm", tag).stdout == "made-by-docker\n"
        # and back out of pydocker in a form the CLI 20.10 loads too
        assert stack.docker20("save", "-o", str(tmp_path / "again.tar"), tag).returncode == 0
    finally:
        stack.docker("rmi", "-f", tag)


# --- sizes kept on the layer blobs -------------------------------------------------------------------

def _diff_size(rootfs_tar: Path) -> int:
    """overlay2's DiffSize of a layer: its files' sizes plus its symlinks' target lengths."""
    import tarfile
    with tarfile.open(rootfs_tar) as t:
        return sum(len(m.linkname) if m.issym() else m.size if m.isreg() else 0 for m in t.getmembers())


class _Content:
    """pycontainerd's Images and Content services of a stack (namespace moby), over gRPC."""

    def __init__(self, stack) -> None:
        import grpc
        from protos.containerd.services.content.v1 import content_pb2_grpc
        from protos.containerd.services.images.v1 import images_pb2_grpc
        self.channel = grpc.insecure_channel(f"unix://{stack.exec_root}/containerd/containerd.sock")
        self.content = content_pb2_grpc.ContentStub(self.channel)
        self.images = images_pb2_grpc.ImagesStub(self.channel)
        self.md = (("containerd-namespace", "moby"),)

    def layers(self, name: str) -> list[str]:
        from protos.containerd.services.content.v1 import content_pb2
        from protos.containerd.services.images.v1 import images_pb2
        target = self.images.Get(images_pb2.GetImageRequest(name=name), metadata=self.md).image.target
        data = b"".join(r.data for r in self.content.Read(content_pb2.ReadContentRequest(digest=target.digest),
                                                          metadata=self.md))
        return [layer["digest"] for layer in json.loads(data)["layers"]]

    def labels(self, digest: str) -> dict[str, str]:
        from protos.containerd.services.content.v1 import content_pb2
        return dict(self.content.Info(content_pb2.InfoRequest(digest=digest), metadata=self.md).info.labels)

    def set_label(self, digest: str, key: str, value: str) -> None:
        from google.protobuf import field_mask_pb2
        from protos.containerd.services.content.v1 import content_pb2
        self.content.Update(content_pb2.UpdateRequest(info=content_pb2.Info(digest=digest, labels={key: value}),
                                                      update_mask=field_mask_pb2.FieldMask(paths=[f"labels.{key}"])),
                            metadata=self.md)

    def close(self) -> None:
        self.channel.close()


def test_layer_sizes_are_measured_after_import_and_kept_on_the_blob_across_restarts(busybox_rootfs_tar,
                                                                                    tmp_path_factory):
    """The import's layer is measured in the background (no listing asked for it) and its size kept as
    the blob's label `io.pydocker.diffsize`; a restarted daemon takes the size from there."""
    from stacklib import start_stack, teardown_stack
    st = start_stack(tmp_path_factory.mktemp("sizestack"), busybox_rootfs_tar)
    content = _Content(st)
    try:
        want = _diff_size(busybox_rootfs_tar)
        [layer] = content.layers("docker.io/library/busybox:latest")
        deadline = time.monotonic() + 30
        while "io.pydocker.diffsize" not in content.labels(layer):
            assert time.monotonic() < deadline, f"no size label on {layer}: {content.labels(layer)}"
            time.sleep(0.1)
        labels = content.labels(layer)
        assert labels["io.pydocker.diffsize"] == str(want)
        assert labels.get("containerd.io/uncompressed")  # the update kept the blob's other labels
        assert st.docker("image", "inspect", "-f", "{{.Size}}", "busybox", check=True).stdout == f"{want}\n"
        # a commit's layer is measured from its snapshot as it is made (as Docker's layer store does)
        st.docker("run", "--name", "sz-commit", "busybox", "sh", "-c", "head -c 1048576 /dev/zero > /data.bin",
                  check=True)
        st.docker("commit", "sz-commit", "sizes-committed:1", check=True)
        top = content.layers("docker.io/library/sizes-committed:1")[-1]
        assert content.labels(top).get("io.pydocker.diffsize") == "1048576"  # at once: no background wait
        assert st.docker("image", "inspect", "-f", "{{.Size}}", "sizes-committed:1",
                         check=True).stdout == f"{want + 1048576}\n"
        st.docker("rm", "sz-commit", check=True)
        st.docker("rmi", "sizes-committed:1", check=True)
        assert st.stop() == 0
        st.start()
        assert content.labels(layer) == labels
        assert st.docker("image", "inspect", "-f", "{{.Size}}", "busybox", check=True).stdout == f"{want}\n"
        # and it is read from there, not measured again: a restart believes what the label says
        assert st.stop() == 0
        st.start()
        content.set_label(layer, "io.pydocker.diffsize", str(want + 1000))
        import docker
        api = docker.APIClient(base_url=st.host)
        try:
            assert [(i["RepoTags"], i["Size"]) for i in api.images()] == [(["busybox:latest"], want + 1000)]
        finally:
            api.close()
        assert st.docker("image", "inspect", "-f", "{{.Size}}", "busybox", check=True).stdout == f"{want + 1000}\n"
    finally:
        content.close()
        leaks = teardown_stack(st)
    assert not leaks, leaks


# --- bad input from a registry, GC -------------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory):
    reg = start_registry(tmp_path_factory.mktemp("reg-plain"))
    yield reg
    reg.stop()


def _unique_rootfs_tar(path: Path) -> Path:
    import io
    import tarfile
    with tarfile.open(path, "w") as tf:
        data = uuid.uuid4().hex.encode() * 100
        info = tarfile.TarInfo("unique.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


def _content_blobs(stack) -> set[str]:
    return {p.name for p in stack.data_root.glob("containerd/daemon/io.containerd.content.v1.content/blobs/sha256/*")}


def _snapshots(stack) -> set[str]:
    return {p.name for p in stack.data_root.glob("containerd/daemon/io.containerd.snapshotter.v1.*/snapshots/*")}


def test_corrupt_blob_fails_cleanly_then_retry_pulls_and_rmi_frees_content(stack, plain_registry, tmp_path):
    repo = f"{plain_registry.host}/{uname('corrupt')}"
    # (what earlier tests left unnamed may be collected meanwhile: only this test's blobs are compared)
    blobs0, snaps0 = _content_blobs(stack), _snapshots(stack)
    busybox_config = json.loads(stack.docker("image", "inspect", "busybox", check=True).stdout)[0]["Id"][7:]
    stack.docker("import", str(_unique_rootfs_tar(tmp_path / "u.tar")), f"{repo}:1", check=True)
    info = json.loads(stack.docker("image", "inspect", f"{repo}:1", check=True).stdout)[0]
    assert _content_blobs(stack) - blobs0 and _snapshots(stack) - snaps0
    stack.docker("push", f"{repo}:1", check=True)
    # GC: removing the only image frees its blobs and snapshot (busybox's stay)
    stack.docker("rmi", f"{repo}:1", check=True)
    assert not _content_blobs(stack) - blobs0 and not _snapshots(stack) - snaps0
    assert busybox_config in _content_blobs(stack)
    # the registry now serves a layer whose bytes do not match its digest
    manifest = json.loads(subprocess.run(
        ["curl", "-sf", "-H", "Accept: application/vnd.docker.distribution.manifest.v2+json",
         f"http://{plain_registry.host}/v2/{repo.split('/', 1)[1]}/manifests/1"],
        capture_output=True, text=True, check=True).stdout)
    layer = manifest["layers"][0]["digest"]
    blob = plain_registry.root / "data/docker/registry/v2/blobs/sha256" / layer[7:9] / layer[7:] / "data"
    good = blob.read_bytes()
    blob.write_bytes(good[:-8] + b"\0" * 8)
    try:
        cp = stack.docker("pull", f"{repo}:1")
        assert cp.returncode == 1 and layer in cp.stderr and "digest" in cp.stderr.lower(), cp.stdout + cp.stderr
        assert stack.docker("image", "inspect", f"{repo}:1").returncode == 1  # nothing registered
        assert layer[7:] not in _content_blobs(stack)  # and nothing unverified committed
    finally:
        blob.write_bytes(good)
    cp = stack.docker("pull", f"{repo}:1", check=True)
    assert f"Downloaded newer image for {repo}:1" in cp.stdout
    assert json.loads(stack.docker("image", "inspect", f"{repo}:1", check=True).stdout)[0]["Id"] == info["Id"]
    stack.docker("rmi", f"{repo}:1", check=True)
    assert not _content_blobs(stack) - blobs0 and busybox_config in _content_blobs(stack)


def test_registry_down_is_a_clear_error(stack, tmp_path):
    reg = start_registry(tmp_path / "reg-down")
    repo = f"{reg.host}/{uname('down')}"
    try:
        stack.docker("import", str(_unique_rootfs_tar(tmp_path / "u.tar")), f"{repo}:1", check=True)
        stack.docker("push", f"{repo}:1", check=True)
        stack.docker("rmi", f"{repo}:1", check=True)
    finally:
        reg.stop()
    cp = stack.docker("pull", f"{repo}:1")
    assert cp.returncode == 1 and f"registry {reg.host} unreachable" in cp.stderr, cp.stderr
    assert stack.docker("image", "inspect", f"{repo}:1").returncode == 1


def test_skopeo_oci_archive_loads_and_runs(stack, plain_registry, busybox_rootfs_tar, tmp_path):
    if not shutil.which("skopeo"):
        pytest.skip("skopeo is not installed")
    repo = f"{plain_registry.host}/{uname('skopeo')}"
    stack.docker("import", "-c", 'CMD ["echo", "via-skopeo"]', str(busybox_rootfs_tar), f"{repo}:1", check=True)
    tag = f"{uname('ocilayout')}:2"
    try:
        stack.docker("push", f"{repo}:1", check=True)
        oci = tmp_path / "image.oci.tar"
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{repo}:1",
                        f"oci-archive:{oci}:docker.io/library/{tag}"], check=True, capture_output=True, timeout=120)
        cp = stack.docker("load", "-i", str(oci), check=True)
        assert f"Loaded image: {tag}" in cp.stdout, cp.stdout
        assert stack.docker("run", "--rm", tag).stdout == "via-skopeo\n"
    finally:
        stack.docker("rmi", "-f", f"{repo}:1")
        stack.docker("rmi", "-f", tag)
