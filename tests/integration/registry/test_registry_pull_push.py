"""Push and pull against Debian's docker-registry 2.8 on 127.0.0.1 with our own client."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from pycontainerd.registry import (LayoutStore, NoMatchingPlatformError, NotFoundError, PullProgress,
                                   PushProgress, RegistryClient, RegistryUnavailableError, UnauthorizedError,
                                   parse_reference, static_credentials, AuthConfig)
from pycontainerd.registry.compression import chain_ids, diff_id
from pycontainerd.registry.progress import MOUNTED, LAYER_EXISTS, PUSHED, ProgressEvent

from registry_helpers import PASSWORD, USER, free_port


def blobs_equal(a: LayoutStore, b: LayoutStore, digest: str) -> bool:
    return a.read(digest) == b.read(digest)


async def test_push_then_pull_by_tag_and_digest(registry, repo, images, busybox_layer, tmp_path):
    src = LayoutStore(str(tmp_path / "src"))
    target = images.add_image(src, [busybox_layer, images.small_layer("etc/motd", b"hello\n")])
    ref = f"{registry.host}/{repo}:v1"
    pushed: list[dict] = []
    async with RegistryClient() as rc:
        await rc.push(ref, target, src, progress=PushProgress(pushed.append, repository_name=parse_reference(ref).name, tag="v1"))
    statuses = [m.get("status") for m in pushed]
    assert statuses[0] == f"The push refers to repository [{registry.host}/{repo}]"
    assert statuses.count("Pushed") == 2 and "Preparing" in statuses
    assert statuses[-1] is None and pushed[-1]["aux"]["Digest"] == target.digest
    assert pushed[-2]["status"] == f"v1: digest: {target.digest} size: {target.size}"

    dst = LayoutStore(str(tmp_path / "dst"))
    lines: list[dict] = []
    r = parse_reference(ref)
    pp = PullProgress(lines.append, repository_path=r.path, tag_or_digest="v1", familiar_ref=r.familiar_string())
    async with RegistryClient() as rc:
        res = await rc.pull(ref, dst, progress=pp)
    pp.done(res.target.digest, updated=True)
    assert res.target == target and res.manifest == target
    assert res.platform is not None and str(res.platform) == "linux/amd64"
    for d in [target.digest, res.config.digest] + [l.digest for l in res.layers]:
        assert blobs_equal(src, dst, d)
    # The DiffIDs of what we downloaded are the ones the config promises.
    assert [diff_id(dst.path(l.digest)) for l in res.layers] == res.diff_ids
    assert len(chain_ids(res.diff_ids)) == 2
    st = [m["status"] for m in lines]
    assert st[0] == f"Pulling from {repo}" and lines[0]["id"] == "v1"
    assert st.count("Pulling fs layer") == 2 and st.count("Download complete") == 2
    assert "Verifying Checksum" in st and any(m["status"] == "Downloading" and m["progressDetail"] for m in lines)
    assert st[-2:] == [f"Digest: {target.digest}", f"Status: Downloaded newer image for {registry.host}/{repo}:v1"]
    assert not [p for p in os.listdir(dst.path(target.digest).rsplit("/", 1)[0]) if p.endswith(".partial")]

    # By digest: the resolved descriptor is the pinned one, and layers already present are not fetched.
    events: list[ProgressEvent] = []
    async with RegistryClient() as rc:
        desc = await rc.resolve(f"{registry.host}/{repo}@{target.digest}")
        res2 = await rc.pull(f"{registry.host}/{repo}@{target.digest}", dst, progress=events.append)
    assert desc == target and res2.manifest == target
    assert res2.fetched == [] and [e.kind for e in events] == ["resolved"]  # nothing new: no layer lines
    assert len(res.fetched) == 4  # the first pull: manifest, config, two layers
    lines.clear()
    pp = PullProgress(lines.append, repository_path=r.path, tag_or_digest=target.digest,
                      familiar_ref=f"{r.familiar_name}@{target.digest}")
    for e in events:
        pp(e)
    pp.done(target.digest, updated=False)
    assert [m["status"] for m in lines] == [f"Pulling from {repo}", f"Digest: {target.digest}",
                                             f"Status: Image is up to date for {registry.host}/{repo}@{target.digest}"]

    dst2 = LayoutStore(str(tmp_path / "dst2"))
    async with RegistryClient() as rc:
        res3 = await rc.pull(f"{registry.host}/{repo}@{target.digest}", dst2)
    assert blobs_equal(src, dst2, res3.layers[0].digest)


async def test_chunked_upload_existing_layers_and_cross_repo_mount(registry, repo, images, busybox_layer, tmp_path):
    src = LayoutStore(str(tmp_path / "src"))
    target = images.add_image(src, [busybox_layer])
    events: list[ProgressEvent] = []
    async with RegistryClient(upload_chunk_size=256 << 10) as rc:  # busybox layer is ~1 MB: several PATCHes
        await rc.push(f"{registry.host}/{repo}:a", target, src, progress=events.append)
        assert [e.kind for e in events].count(PUSHED) == 1
        events.clear()
        await rc.push(f"{registry.host}/{repo}:b", target, src, progress=events.append)
        assert LAYER_EXISTS in [e.kind for e in events] and PUSHED not in [e.kind for e in events]
        events.clear()
        other = repo + "-copy"
        layer = json.loads(src.read(target.digest))["layers"][0]["digest"]
        await rc.push(f"{registry.host}/{other}:latest", target, src, progress=events.append,
                      mount_candidates={layer: [f"{registry.host}/{repo}", "elsewhere.example/x"]})
        mounted = [e for e in events if e.kind == MOUNTED]
        assert [(e.digest, e.detail) for e in mounted] == [(layer, repo)]
        assert await rc.blob_exists(f"{registry.host}/{other}", layer)
    dst = LayoutStore(str(tmp_path / "dst"))
    async with RegistryClient() as rc:
        res = await rc.pull(f"{registry.host}/{other}:latest", dst)
    assert dst.read(layer) == busybox_layer


@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-manifest-list"])
async def test_index_with_two_platforms(registry, repo, images, busybox_layer, tmp_path, oci):
    src = LayoutStore(str(tmp_path / "src"))
    amd = images.add_image(src, [busybox_layer, images.small_layer("arch", b"amd64\n")], oci=oci)
    arm = images.add_image(src, [busybox_layer, images.small_layer("arch", b"arm64\n")], arch="arm64", oci=oci)
    idx = images.add_index(src, [(arm, {"architecture": "arm64", "os": "linux", "variant": "v8"}),
                                 (amd, {"architecture": "amd64", "os": "linux"})], oci=oci)
    ref = f"{registry.host}/{repo}:multi"
    async with RegistryClient() as rc:
        await rc.push(ref, idx, src)
        dst = LayoutStore(str(tmp_path / "dst"))
        res = await rc.pull(ref, dst)
        assert res.target == idx and res.manifest.digest == amd.digest
        assert str(res.platform) == "linux/amd64"
        assert not dst.has(arm.digest)
        res_arm = await rc.pull(ref, LayoutStore(str(tmp_path / "dst-arm")), platform="linux/arm64")
        assert res_arm.manifest.digest == arm.digest and res_arm.config_json["architecture"] == "arm64"
        with pytest.raises(NoMatchingPlatformError, match="no matching manifest for linux/arm/v7"):
            await rc.pull(ref, LayoutStore(str(tmp_path / "dst-x")), platform="linux/arm/v7")
    # An independent client reads what we pushed: skopeo picks the same manifest for arm64.
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--override-arch", "arm64", "--raw",
                          f"docker://{ref}"], check=True, capture_output=True, timeout=60).stdout
    assert out == src.read(idx.digest)
    cfg = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--override-arch", "arm64", "--config",
                          f"docker://{ref}"], check=True, capture_output=True, timeout=60).stdout
    assert json.loads(cfg)["architecture"] == "arm64"


async def test_skopeo_pushed_image_pulls(registry, repo, images, busybox_layer, tmp_path):
    layout = LayoutStore(str(tmp_path / "oci"))
    target = images.add_image(layout, [busybox_layer], oci=True)
    layout.set_index([type(target)(target.media_type, target.digest, target.size,
                                   annotations={"org.opencontainers.image.ref.name": "v1"})])
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout.root}:v1",
                    f"docker://{registry.host}/{repo}:v1"], check=True, capture_output=True, timeout=60)
    dst = LayoutStore(str(tmp_path / "dst"))
    async with RegistryClient() as rc:
        res = await rc.pull(f"{registry.host}/{repo}:v1", dst)
    assert dst.read(res.layers[0].digest) == busybox_layer
    assert res.diff_ids == [diff_id(dst.path(res.layers[0].digest))]


async def test_unknown_tag_and_repository(registry, repo):
    async with RegistryClient() as rc:
        with pytest.raises(NotFoundError) as e:
            await rc.pull(f"{registry.host}/{repo}:nope", LayoutStore("/nonexistent-never-written"))
    assert str(e.value) == f"manifest for {registry.host}/{repo}:nope not found: manifest unknown: manifest unknown"


async def test_registry_down(tmp_path):
    port = free_port()  # nothing listens there
    async with RegistryClient() as rc:
        with pytest.raises(RegistryUnavailableError, match=f"registry 127.0.0.1:{port} unreachable"):
            await rc.resolve(f"127.0.0.1:{port}/x:y")


async def test_basic_auth_registry(auth_registry, repo, images, busybox_layer, tmp_path):
    src = LayoutStore(str(tmp_path / "src"))
    target = images.add_image(src, [busybox_layer])
    ref = f"{auth_registry.host}/{repo}:v1"
    good = static_credentials(AuthConfig(username=USER, password=PASSWORD))
    async with RegistryClient(good) as rc:
        await rc.push(ref, target, src)
        res = await rc.pull(ref, LayoutStore(str(tmp_path / "dst")))
        assert res.target == target
    async with RegistryClient() as rc:
        with pytest.raises(UnauthorizedError, match="no basic auth credentials"):
            await rc.resolve(ref)
    bad = static_credentials(AuthConfig(username=USER, password="wrong"))
    async with RegistryClient(bad) as rc:
        with pytest.raises(UnauthorizedError, match="unauthorized"):
            await rc.pull(ref, LayoutStore(str(tmp_path / "dst2")))
    assert not os.path.exists(tmp_path / "dst2" / "blobs" / "sha256")


async def test_login_htpasswd(auth_registry, tmp_path):
    from pycontainerd.registry.client import login_host
    assert login_host("https://index.docker.io/v1/") == "registry-1.docker.io"
    assert login_host(f"http://{auth_registry.host}/v2/") == auth_registry.host
    async with RegistryClient(static_credentials(AuthConfig(username=USER, password=PASSWORD))) as rc:
        assert await rc.login(auth_registry.host) == auth_registry.host
    async with RegistryClient(static_credentials(AuthConfig(username=USER, password="nope"))) as rc:
        with pytest.raises(UnauthorizedError, match="unauthorized: authentication required"):
            await rc.login(auth_registry.host)
    async with RegistryClient() as rc:
        with pytest.raises(UnauthorizedError, match="no basic auth credentials"):
            await rc.login(auth_registry.host)


async def test_login_without_auth(registry):
    async with RegistryClient() as rc:
        assert await rc.login(f"http://{registry.host}") == registry.host
