"""Client behaviour against aiohttp mock servers on 127.0.0.x: tokens, redirects, broken content."""
from __future__ import annotations

import os

import pytest
from aiohttp import web

from pycontainerd.registry import (AuthConfig, Descriptor, DigestMismatchError, LayoutStore,
                                   ManifestUnsupportedError, RegistryClient, SizeMismatchError,
                                   UnauthorizedError, static_credentials)
from pycontainerd.registry.client import PARTIAL_SUFFIX

from registry_helpers import small_layer
from registry_mockserver import MockRegistry, TokenServer, basic_ok, serve, sha

LAYER = small_layer("hello.txt", os.urandom(300_000))  # random: does not compress, so the blob is big


def blob_desc(data: bytes) -> Descriptor:
    return Descriptor("application/vnd.docker.image.rootfs.diff.tar.gzip", sha(data), len(data))


# -- Bearer tokens --------------------------------------------------------------------------------

@pytest.mark.parametrize("creds,field", [
    (AuthConfig(username="alice", password="pw"), "token"),
    (None, "access_token"),
    (AuthConfig(identitytoken="refresh-1"), "access_token"),
])
async def test_bearer_flow(tmp_path, creds, field):
    tokens = TokenServer(users={"alice": "pw"}, refresh_tokens={"refresh-1"}, anonymous=creds is None, field_name=field)
    reg = MockRegistry(authorized=tokens.bearer_ok)
    digest, _ = reg.add_image("latest", LAYER)
    async with serve(tokens.app()) as token_host, serve(reg.app()) as reg_host:
        reg.challenge = (f'Bearer realm="http://{token_host}/token",service="mock-registry",'
                         f'scope="repository:x/y:pull"')
        async with RegistryClient(static_credentials(creds)) as rc:
            res = await rc.pull(f"{reg_host}/x/y:latest", LayoutStore(str(tmp_path / "s")))
    assert res.target.digest == digest
    assert len(tokens.calls) == 1, "the token is cached across the manifest and blob requests"
    call = tokens.calls[0]
    if creds is not None and creds.identitytoken:
        assert call["method"] == "POST"
        assert call["form"]["grant_type"] == "refresh_token" and call["form"]["scope"] == "repository:x/y:pull"
        assert call["form"]["service"] == "mock-registry"
    else:
        assert call["method"] == "GET"
        assert call["scope"] == ["repository:x/y:pull"] and call["service"] == "mock-registry"
        assert (call["auth"] is None) == (creds is None)
    # The first request went out anonymous, every later one with the token.
    assert "Authorization" not in reg.requests[0][2]
    assert all(h.get("Authorization", "").startswith("Bearer tok-") for _, _, h in reg.requests[2:])


async def test_bearer_wrong_credentials(tmp_path):
    tokens = TokenServer(users={"alice": "pw"})
    reg = MockRegistry(authorized=tokens.bearer_ok)
    reg.add_image("latest", LAYER)
    async with serve(tokens.app()) as token_host, serve(reg.app()) as reg_host:
        reg.challenge = f'Bearer realm="http://{token_host}/token",service="mock-registry"'
        async with RegistryClient(static_credentials(AuthConfig(username="alice", password="nope"))) as rc:
            with pytest.raises(UnauthorizedError, match="unauthorized: incorrect username or password"):
                await rc.pull(f"{reg_host}/x/y:latest", LayoutStore(str(tmp_path / "s")))
        # Anonymous, and the token server refuses anonymous tokens: unauthorized as well.
        async with RegistryClient() as rc:
            with pytest.raises(UnauthorizedError, match="unauthorized"):
                await rc.resolve(f"{reg_host}/x/y:latest")


async def test_token_refused_by_registry(tmp_path):
    tokens = TokenServer(users={"alice": "pw"})
    reg = MockRegistry(authorized=lambda r: False)  # a token without the needed access
    reg.add_image("latest", LAYER)
    async with serve(tokens.app()) as token_host, serve(reg.app()) as reg_host:
        reg.challenge = f'Bearer realm="http://{token_host}/token",service="s"'
        async with RegistryClient(static_credentials(AuthConfig(username="alice", password="pw"))) as rc:
            # HEAD answers carry no body: the client says which host refused what.
            with pytest.raises(UnauthorizedError, match=r"unauthorized: 127\.0\.0\.1:\d+ refused the given credentials"):
                await rc.resolve(f"{reg_host}/x/y:latest")
            # A GET's 401 body is the registry's own error.
            with pytest.raises(UnauthorizedError, match="unauthorized: authentication required"):
                await rc.fetch_blob(f"{reg_host}/x/y", blob_desc(LAYER), str(tmp_path / "b"))
        assert len(tokens.calls) == 2, "a refused token is dropped and fetched again once per request"


# -- redirects --------------------------------------------------------------------------------------

async def test_redirect_to_other_host_drops_authorization(tmp_path):
    seen: list[dict[str, str]] = []

    async def storage(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=LAYER)

    store_app = web.Application()
    store_app.router.add_get("/bucket/{key}", storage)
    reg = MockRegistry(authorized=basic_ok("bob", "secret"), challenge='Basic realm="mock"')
    reg.add_image("latest", LAYER)
    # 127.0.0.2 is another loopback host (and another port): a different origin.
    async with serve(store_app, host="127.0.0.2") as store_host, serve(reg.app()) as reg_host:
        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPTemporaryRedirect(f"http://{store_host}/bucket/layer?X-Signature=abc")
        reg.blob_override[sha(LAYER)] = redirect
        async with RegistryClient(static_credentials(AuthConfig(username="bob", password="secret"))) as rc:
            res = await rc.pull(f"{reg_host}/x/y:latest", store := LayoutStore(str(tmp_path / "s")))
    assert store.read(res.layers[0].digest) == LAYER
    assert len(seen) == 1 and "Authorization" not in seen[0]
    blob_get = [h for m, p, h in reg.requests if p.endswith(sha(LAYER))]
    assert blob_get and all(h.get("Authorization", "").startswith("Basic ") for h in blob_get[-1:])


async def test_redirect_same_origin_keeps_authorization(tmp_path):
    reg = MockRegistry(authorized=basic_ok("bob", "secret"), challenge='Basic realm="mock"')
    reg.add_image("latest", LAYER)
    real = sha(LAYER)
    alias = "sha256:" + "0" * 64
    reg.blobs[alias] = LAYER

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/v2/x/y/blobs/{alias}")
    reg.blob_override[real] = redirect
    async with serve(reg.app()) as reg_host:
        async with RegistryClient(static_credentials(AuthConfig(username="bob", password="secret"))) as rc:
            await rc.fetch_blob(f"{reg_host}/x/y", blob_desc(LAYER), str(tmp_path / "blob"))
    assert (tmp_path / "blob").read_bytes() == LAYER
    assert any(p.endswith(alias) and h.get("Authorization") for _, p, h in reg.requests)


# -- blob verification and resume ------------------------------------------------------------------

async def test_digest_mismatch_leaves_nothing(tmp_path):
    bad = bytearray(LAYER)
    bad[1000] ^= 0xFF
    reg = MockRegistry()
    reg.blobs[sha(LAYER)] = bytes(bad)
    dest = tmp_path / "blob"
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(DigestMismatchError) as e:
            await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
    assert f"expected {sha(LAYER)}, got {sha(bytes(bad))}" in str(e.value)
    assert not dest.exists() and not os.path.exists(str(dest) + PARTIAL_SUFFIX)


async def test_oversized_blob_rejected(tmp_path):
    reg = MockRegistry()
    reg.blobs[sha(LAYER)] = LAYER + b"extra"
    dest = tmp_path / "blob"
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(SizeMismatchError, match="larger than its descriptor"):
            await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
    assert not dest.exists() and not os.path.exists(str(dest) + PARTIAL_SUFFIX)


async def test_truncated_blob_then_resume_with_range(tmp_path):
    half = len(LAYER) // 2
    ranges: list[str | None] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        if len(ranges) == 1:  # promise everything, send half, drop the connection
            resp = web.StreamResponse(headers={"Content-Length": str(len(LAYER))})
            await resp.prepare(request)
            await resp.write(LAYER[:half])
            request.transport.close()
            return resp
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return web.Response(status=206, body=LAYER[start:],
                            headers={"Content-Range": f"bytes {start}-{len(LAYER) - 1}/{len(LAYER)}"})

    reg = MockRegistry(blob_override={sha(LAYER): flaky})
    dest = tmp_path / "blob"
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(SizeMismatchError, match="truncated") as e:
            await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
        assert e.value.truncated and e.value.actual < len(LAYER)
        assert not dest.exists()
        got = os.path.getsize(str(dest) + PARTIAL_SUFFIX)
        assert 0 < got < len(LAYER)
        await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
    assert ranges == [None, f"bytes={got}-"]
    assert dest.read_bytes() == LAYER and not os.path.exists(str(dest) + PARTIAL_SUFFIX)


async def test_corrupt_partial_is_detected_and_discarded(tmp_path):
    dest = tmp_path / "blob"
    (tmp_path / ("blob" + PARTIAL_SUFFIX)).write_bytes(b"garbage" * 10)  # not a prefix of the blob

    async def ranged(request: web.Request) -> web.Response:
        start = int(request.headers.get("Range", "bytes=0-").removeprefix("bytes=").rstrip("-"))
        return web.Response(status=206 if start else 200, body=LAYER[start:],
                            headers={"Content-Range": f"bytes {start}-{len(LAYER) - 1}/{len(LAYER)}"} if start else {})

    reg = MockRegistry(blob_override={sha(LAYER): ranged})
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(DigestMismatchError):
            await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
        assert not dest.exists() and not os.path.exists(str(dest) + PARTIAL_SUFFIX)
        await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
    assert dest.read_bytes() == LAYER


async def test_range_ignored_restarts_from_zero(tmp_path):
    dest = tmp_path / "blob"
    (tmp_path / ("blob" + PARTIAL_SUFFIX)).write_bytes(LAYER[:1000])
    reg = MockRegistry()
    reg.blobs[sha(LAYER)] = LAYER  # plain 200 whatever the Range
    async with serve(reg.app()) as host, RegistryClient() as rc:
        await rc.fetch_blob(f"{host}/x/y", blob_desc(LAYER), str(dest))
    assert dest.read_bytes() == LAYER
    assert reg.requests[-1][2].get("Range") == "bytes=1000-"


# -- manifests ---------------------------------------------------------------------------------------

async def test_manifest_too_large_refused_without_download(tmp_path):
    reg = MockRegistry()
    huge = b'{"schemaVersion": 2, "pad": "' + b"x" * (4 << 20) + b'"}'
    reg.manifests["big"] = ("application/vnd.oci.image.manifest.v1+json", huge)
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(ManifestUnsupportedError, match="manifest too large"):
            await rc.pull(f"{host}/x/y:big", LayoutStore(str(tmp_path / "s")))
        assert [m for m, _, _ in reg.requests] == ["HEAD"]
        # Without a digest on HEAD the client must GET: the body is cut off past 4 MiB.
        reg.head_digest = False
        with pytest.raises(ManifestUnsupportedError, match="manifest too large"):
            await rc.resolve(f"{host}/x/y:big")


async def test_schema1_and_unknown_types_refused(tmp_path):
    reg = MockRegistry()
    reg.manifests["old"] = ("application/vnd.docker.distribution.manifest.v1+prettyjws",
                            b'{"schemaVersion": 1, "name": "x/y", "fsLayers": []}')
    reg.manifests["odd"] = ("application/vnd.example.thing+json", b'{"schemaVersion": 2, "mediaType": "application/vnd.example.thing+json"}')
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(ManifestUnsupportedError, match="schema 1 support has been removed"):
            await rc.resolve(f"{host}/x/y:old")
        with pytest.raises(ManifestUnsupportedError, match="unsupported manifest media type application/vnd.example.thing"):
            await rc.resolve(f"{host}/x/y:odd")


async def test_resolve_without_digest_header_hashes_raw_bytes(tmp_path):
    reg = MockRegistry(head_digest=False)
    digest, raw = reg.add_image("latest", LAYER)
    # Re-serialising this JSON would change the digest: the client must hash the bytes as served.
    spaced = raw.replace(b", ", b",   ")
    reg.manifests["latest"] = (reg.manifests["latest"][0], spaced)
    reg.manifests[sha(spaced)] = reg.manifests["latest"]
    async with serve(reg.app()) as host, RegistryClient() as rc:
        desc = await rc.resolve(f"{host}/x/y:latest")
        assert desc.digest == sha(spaced) != digest and desc.size == len(spaced)
        res = await rc.pull(f"{host}/x/y:latest", LayoutStore(str(tmp_path / "s")))
    assert res.target.digest == sha(spaced)


async def test_manifest_digest_mismatch_by_digest(tmp_path):
    reg = MockRegistry()
    digest, raw = reg.add_image("latest", LAYER)
    mt = reg.manifests[digest][0]
    desc = Descriptor(mt, digest, len(raw))
    async with serve(reg.app()) as host, RegistryClient() as rc:
        reg.manifests[digest] = (mt, raw + b" ")  # longer than the descriptor
        with pytest.raises(SizeMismatchError):
            await rc.fetch_manifest(f"{host}/x/y", desc)
        forged = raw.replace(b'"size": ', b'"size" :', 1)
        assert len(forged) == len(raw) and forged != raw
        reg.manifests[digest] = (mt, forged)  # same size, other bytes
        with pytest.raises(DigestMismatchError, match=f"expected {digest}, got {sha(forged)}"):
            await rc.fetch_manifest(f"{host}/x/y", desc)
        # Pinned by digest, resolve itself checks what the registry claims.
        reg.manifests[digest] = (mt, raw)
        assert (await rc.resolve(f"{host}/x/y@{digest}")).digest == digest


# -- concurrency, token expiry, zstd, insecure registries ---------------------------------------------

async def test_download_concurrency_limit(tmp_path):
    import asyncio
    import json as _json
    layers = [small_layer(f"f{i}", os.urandom(20_000)) for i in range(4)]
    reg = MockRegistry()
    reg.add_image("latest", layers[0])
    mt, raw = reg.manifests["latest"]
    m = _json.loads(raw)
    m["layers"] = [dict(m["layers"][0], digest=sha(l), size=len(l)) for l in layers]
    cfg = _json.loads(reg.blobs[m["config"]["digest"]])
    import gzip
    cfg["rootfs"]["diff_ids"] = [sha(gzip.decompress(l)) for l in layers]
    cbytes = _json.dumps(cfg).encode()
    reg.blobs[sha(cbytes)] = cbytes
    m["config"] = dict(m["config"], digest=sha(cbytes), size=len(cbytes))
    raw = _json.dumps(m).encode()
    reg.manifests["latest"] = (mt, raw)
    reg.manifests[sha(raw)] = (mt, raw)
    active, peak = 0, 0

    def slow(data: bytes):
        async def handler(request: web.Request) -> web.Response:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.05)  # hold the slot so overlapping downloads would show
            active -= 1
            return web.Response(body=data)
        return handler

    for l in layers:
        reg.blob_override[sha(l)] = slow(l)
    events = []
    async with serve(reg.app()) as host, RegistryClient(max_concurrent_downloads=2) as rc:
        res = await rc.pull(f"{host}/x/y:latest", LayoutStore(str(tmp_path / "s")), progress=events.append)
    assert peak == 2
    assert len(res.layers) == 4 and sum(e.kind == "waiting" for e in events) == 2
    assert sum(e.kind == "downloaded" for e in events) == 4  # layers only: Docker shows no config line


async def test_token_cache_expires(tmp_path):
    import aiohttp
    from pycontainerd.registry.auth import Authorizer
    tokens = TokenServer(users={"alice": "pw"})
    now = [1000.0]
    authz = Authorizer(static_credentials(AuthConfig(username="alice", password="pw")), clock=lambda: now[0])
    async with serve(tokens.app()) as token_host, aiohttp.ClientSession() as session:
        assert authz.add_challenges("reg:1", [f'Bearer realm="http://{token_host}/token",service="s"'])
        h1 = await authz.header(session, "reg:1", ["repository:a:pull"])
        assert await authz.header(session, "reg:1", ["repository:a:pull"]) == h1
        h2 = await authz.header(session, "reg:1", ["repository:b:pull"])  # another scope, another token
        assert h2 != h1 and len(tokens.calls) == 2
        now[0] += 301  # expires_in was 300
        h3 = await authz.header(session, "reg:1", ["repository:a:pull"])
        assert h3 not in (h1, h2) and len(tokens.calls) == 3


async def test_zstd_layers_need_zstandard(tmp_path):
    from pycontainerd.registry.mediatypes import zstd_available
    if zstd_available():
        pytest.skip("zstandard is installed: zstd layers are accepted")
    reg = MockRegistry()
    digest, raw = reg.add_image("latest", LAYER)
    zraw = raw.replace(b"application/vnd.docker.image.rootfs.diff.tar.gzip", b"application/vnd.oci.image.layer.v1.tar+zstd")
    reg.manifests["latest"] = (reg.manifests["latest"][0], zraw)
    reg.manifests[sha(zraw)] = reg.manifests["latest"]
    async with serve(reg.app()) as host, RegistryClient() as rc:
        with pytest.raises(ManifestUnsupportedError, match="zstd-compressed, which needs the zstandard"):
            await rc.pull(f"{host}/x/y:latest", LayoutStore(str(tmp_path / "s")))
    assert not any(p.endswith(sha(LAYER)) for _, p, _ in reg.requests)


class _Resolver:
    """aiohttp resolver mapping every name to 127.0.0.1, so a non-loopback registry name stays local."""

    async def resolve(self, host, port=0, family=0):
        import socket
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self):
        pass


async def test_insecure_registry_falls_back_to_http(tmp_path):
    import aiohttp
    from pycontainerd.registry import RegistryUnavailableError
    reg = MockRegistry()
    digest, _ = reg.add_image("latest", LAYER)
    async with serve(reg.app()) as host:
        port = host.rsplit(":", 1)[1]
        name = f"registry.insecure.test:{port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Resolver()), auto_decompress=False) as s:
            # Not listed as insecure: HTTPS only, and the plain-HTTP server cannot answer it.
            async with RegistryClient(session=s) as rc:
                with pytest.raises(RegistryUnavailableError, match=f"registry {name} unreachable"):
                    await rc.resolve(f"{name}/x/y:latest")
            assert reg.requests == []
            async with RegistryClient(session=s, insecure_registries=["registry.insecure.test"]) as rc:
                assert (await rc.resolve(f"{name}/x/y:latest")).digest == digest
                assert [e.scheme for e in rc.transport.endpoints(name)] == ["http"]  # remembered


async def test_concurrent_pulls_share_one_download(tmp_path):
    import asyncio
    reg = MockRegistry()
    reg.add_image("a", LAYER)
    reg.add_image("b", LAYER, arch="arm64")  # another image (other config), same layer
    gets = []

    async def slow(request: web.Request) -> web.Response:
        gets.append(request.path)
        await asyncio.sleep(0.05)
        return web.Response(body=LAYER)

    reg.blob_override[sha(LAYER)] = slow
    store = LayoutStore(str(tmp_path / "s"))
    async with serve(reg.app()) as host:
        async with RegistryClient() as rc1, RegistryClient() as rc2:
            r1, r2 = await asyncio.gather(rc1.pull(f"{host}/x/y:a", store), rc2.pull(f"{host}/x/y:b", store))
    assert store.read(sha(LAYER)) == LAYER
    assert len(gets) == 1, "the second pull waits for the first download instead of writing the same file"
    assert (sha(LAYER) in r1.fetched) != (sha(LAYER) in r2.fetched)


async def test_login_with_token_server():
    tokens = TokenServer(users={"alice": "pw"})

    async def v2(request: web.Request) -> web.Response:
        if tokens.bearer_ok(request):
            return web.json_response({})
        return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                                 status=401, headers={"WWW-Authenticate": challenge[0]})

    app = web.Application()
    app.router.add_get("/v2/", v2)
    challenge = [""]
    async with serve(tokens.app()) as token_host, serve(app) as host:
        challenge[0] = f'Bearer realm="http://{token_host}/token",service="svc"'
        async with RegistryClient(static_credentials(AuthConfig(username="alice", password="pw"))) as rc:
            assert await rc.login(host) == host
        assert tokens.calls[-1]["scope"] == [] and tokens.calls[-1]["account"] == "alice"
        async with RegistryClient(static_credentials(AuthConfig(username="alice", password="x"))) as rc:
            with pytest.raises(UnauthorizedError, match="incorrect username or password"):
                await rc.login(host)


async def test_empty_blob(tmp_path):
    reg = MockRegistry()
    async with serve(reg.app()) as host, RegistryClient() as rc:
        await rc.fetch_blob(f"{host}/x/y", blob_desc(b""), str(tmp_path / "empty"))
        assert (tmp_path / "empty").read_bytes() == b""
        with pytest.raises(DigestMismatchError):
            await rc.fetch_blob(f"{host}/x/y", Descriptor("x", "sha256:" + "1" * 64, 0), str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists()
