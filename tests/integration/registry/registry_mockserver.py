"""A small distribution-API server written with aiohttp, for behaviour docker-registry cannot show:
Bearer tokens, redirects to other hosts, broken blobs, huge or legacy manifests. Listens on 127.0.0.x only."""
from __future__ import annotations

import base64
import hashlib
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@asynccontextmanager
async def serve(app: web.Application, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run ``app`` on ``host`` with a free port; yield ``host:port``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"{host}:{port}"
    finally:
        await runner.cleanup()


@dataclass
class MockRegistry:
    """Manifests by tag or digest, blobs by digest; optional auth check and per-blob overrides."""

    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    challenge: str = ""                      # WWW-Authenticate sent when ``authorized`` says no
    authorized: Callable[[web.Request], bool] = lambda r: True
    blob_override: dict[str, Handler] = field(default_factory=dict)
    head_digest: bool = True                 # send Docker-Content-Digest on manifest HEAD

    def add_image(self, repo_tag: str, layer: bytes, *, arch: str = "amd64") -> tuple[str, bytes]:
        """Store a one-layer schema2 image under tag; return (manifest digest, manifest bytes)."""
        import gzip
        cfg = json.dumps({"architecture": arch, "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": [sha(gzip.decompress(layer))]}}).encode()
        self.blobs[sha(cfg)] = cfg
        self.blobs[sha(layer)] = layer
        m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                   "digest": sha(cfg), "size": len(cfg)},
                        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                    "digest": sha(layer), "size": len(layer)}]}).encode()
        mt = "application/vnd.docker.distribution.manifest.v2+json"
        self.manifests[repo_tag] = (mt, m)
        self.manifests[sha(m)] = (mt, m)
        return sha(m), m

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/v2/{name:.+}/manifests/{ref}", self._manifest)
        app.router.add_route("*", "/v2/{name:.+}/blobs/{digest}", self._blob)
        return app

    def _deny(self) -> web.Response:
        body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
        return web.Response(status=401, text=body, content_type="application/json",
                            headers={"WWW-Authenticate": self.challenge})

    async def _manifest(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if not self.authorized(request):
            return self._deny()
        entry = self.manifests.get(request.match_info["ref"])
        if entry is None:
            body = json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown",
                                           "detail": {"Tag": request.match_info["ref"]}}]})
            return web.Response(status=404, text=body, content_type="application/json")
        mt, data = entry
        headers = {"Content-Type": mt}
        if self.head_digest:
            headers["Docker-Content-Digest"] = sha(data)
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(data))
            return web.Response(status=200, headers=headers)
        return web.Response(status=200, body=data, headers=headers)

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if not self.authorized(request):
            return self._deny()
        digest = request.match_info["digest"]
        if digest in self.blob_override:
            return await self.blob_override[digest](request)
        data = self.blobs.get(digest)
        if data is None:
            return web.Response(status=404, text=json.dumps({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry"}]}),
                                content_type="application/json")
        return web.Response(body=data, headers={"Content-Type": "application/octet-stream"})


def basic_ok(user: str, password: str) -> Callable[[web.Request], bool]:
    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return lambda r: r.headers.get("Authorization") == want


@dataclass
class TokenServer:
    """distribution's token endpoint: GET with Basic credentials (or anonymous), or OAuth2 POST."""

    users: dict[str, str] = field(default_factory=dict)
    refresh_tokens: set[str] = field(default_factory=set)
    anonymous: bool = False
    issued: set[str] = field(default_factory=set)
    calls: list[dict[str, object]] = field(default_factory=list)
    field_name: str = "token"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/token", self._token)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post()) if request.method == "POST" else {}
        self.calls.append({"method": request.method, "scope": request.query.getall("scope", []),
                           "service": request.query.get("service") or form.get("service"),
                           "account": request.query.get("account"), "form": form,
                           "auth": request.headers.get("Authorization")})
        ok = False
        if request.method == "POST":
            ok = form.get("grant_type") == "refresh_token" and form.get("refresh_token") in self.refresh_tokens
        else:
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                ok = self.users.get(user) == pw
            else:
                ok = self.anonymous
        if not ok:
            return web.json_response({"details": "incorrect username or password"}, status=401)
        tok = f"tok-{len(self.issued)}"
        self.issued.add(tok)
        return web.json_response({self.field_name: tok, "expires_in": 300})

    def bearer_ok(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.issued
