"""HTTP transport to one or more registries: endpoints, authentication retries, redirects, errors.

Everything the distribution API needs below the level of manifests and blobs:
- the scheme per host (``hosts.endpoints_for``), falling back from HTTPS to HTTP for insecure registries;
- ``Authorization`` from the ``Authorizer``, and one retry after a 401 carrying a new challenge;
- redirects followed by hand, so ``Authorization`` never reaches another origin (blob GETs are often
  answered with 307 to object storage);
- connection failures turned into ``RegistryUnavailableError`` naming the host and URL.
"""
from __future__ import annotations

import asyncio
import json
import ssl
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Iterable, Mapping

import aiohttp
from yarl import URL

from .auth import Authorizer, CredentialsProvider, format_errcode
from .errors import (NotFoundError, RegistryError, RegistryProtocolError, RegistryUnavailableError,
                     UnauthorizedError)
from .hosts import Endpoint, endpoints_for

USER_AGENT = "pydocker/0.1 (pycontainerd registry client)"
MAX_REDIRECTS = 10
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
READ_BUFSIZE = 1 << 20

BodyFactory = Callable[[], Any]  # returns a fresh request body for each attempt (bytes or async iterable)


def errcode_text(body: bytes) -> str:
    """The registry's error as distribution formats it (``manifest unknown: manifest unknown``), or ""."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    errs = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errs, list) and errs:
        return ", ".join(format_errcode(e) for e in errs if isinstance(e, dict))
    return ""


class Transport:
    def __init__(self, credentials: CredentialsProvider | None = None, *,
                 insecure_registries: Iterable[str] = (), session: aiohttp.ClientSession | None = None,
                 timeout: aiohttp.ClientTimeout | None = None):
        self.authorizer = Authorizer(credentials)
        self._insecure = list(insecure_registries)
        self._own_session = session is None
        self._session = session
        self._timeout = timeout or aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=300)
        self._working: dict[str, Endpoint] = {}  # host → the endpoint that answered
        self._no_verify = ssl.create_default_context()
        self._no_verify.check_hostname = False
        self._no_verify.verify_mode = ssl.CERT_NONE

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # A 1 MiB read buffer: blob bodies arrive in megabyte chunks, not 64 kB ones (a quarter of the
            # Python-level steps per blob).
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers={"User-Agent": USER_AGENT},
                                                  auto_decompress=False, read_bufsize=READ_BUFSIZE)
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def endpoints(self, host: str) -> list[Endpoint]:
        known = self._working.get(host)
        return [known] if known else endpoints_for(host, self._insecure)

    @asynccontextmanager
    async def request(self, method: str, host: str, path: str, *, scopes: Iterable[str] = (),
                      headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                      body: BodyFactory | None = None, url: str | None = None
                      ) -> AsyncIterator[aiohttp.ClientResponse]:
        """Send ``method`` to ``/v2/…`` ``path`` on ``host`` (or to the absolute ``url``, e.g. an upload
        Location) and yield the final response. 401 is answered once; redirects are followed."""
        scopes = tuple(scopes)
        last_error: Exception | None = None
        for ep in self.endpoints(host):
            target = URL(url) if url else URL(ep.base_url + path)
            if url and not target.is_absolute():
                target = URL(ep.base_url).join(target)
            try:
                resp = await self._authorized(method, host, ep, target, scopes, headers or {}, params, body)
            except (aiohttp.ClientConnectorError, aiohttp.ClientSSLError, aiohttp.ServerDisconnectedError,
                    aiohttp.ClientOSError, asyncio.TimeoutError) as e:
                last_error = e
                continue  # next endpoint (HTTP after HTTPS for insecure registries)
            self._working[host] = ep
            try:
                yield resp
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                # The connection broke while the caller read the body.
                raise RegistryUnavailableError(
                    f"registry {host}: {method} {resp.url} failed while reading the response: {e or type(e).__name__}") from e
            finally:
                resp.release()
            return
        raise RegistryUnavailableError(
            f"registry {host} unreachable: {method} {URL(url) if url else path}: {last_error or 'no endpoint'}")

    async def _authorized(self, method: str, host: str, ep: Endpoint, url: URL, scopes: tuple[str, ...],
                          headers: Mapping[str, str], params: Mapping[str, str] | None,
                          body: BodyFactory | None) -> aiohttp.ClientResponse:
        origin = URL(ep.base_url).origin()
        for attempt in range(2):
            h = dict(headers)
            auth = await self.authorizer.header(self.session, host, scopes)
            if auth and url.origin() == origin:
                h["Authorization"] = auth
            resp = await self._follow(method, url, ep, h, params, body)
            if resp.status != 401:
                return resp
            text = errcode_text(await resp.read())
            challenges = resp.headers.getall("WWW-Authenticate", [])
            resp.release()
            if attempt == 0:
                if auth:
                    self.authorizer.invalidate(host, scopes)  # a cached token the registry no longer takes
                if self.authorizer.add_challenges(host, challenges):
                    continue
            if not text:
                text = (f"unauthorized: authentication required by {host} for {method} {url.path} (no credentials given)"
                        if self.authorizer.credentials_for(host) is None else
                        f"unauthorized: {host} refused the given credentials for {method} {url.path}")
            raise UnauthorizedError(text)
        raise AssertionError("unreachable")

    async def _follow(self, method: str, url: URL, ep: Endpoint, headers: dict[str, str],
                      params: Mapping[str, str] | None, body: BodyFactory | None) -> aiohttp.ClientResponse:
        origin = url.origin()
        for _ in range(MAX_REDIRECTS + 1):
            kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
            if params:
                kwargs["params"] = params
            if body is not None:
                kwargs["data"] = body()
            if url.scheme == "https":
                kwargs["ssl"] = None if ep.verify_tls else self._no_verify
            resp = await self.session.request(method, url, **kwargs)
            location = resp.headers.get("Location")
            if resp.status not in REDIRECT_STATUSES or not location:
                return resp
            resp.release()
            url = url.join(URL(location))
            params = None  # the Location carries its own query
            if url.origin() != origin:
                # Credentials are for the registry only: object storage must not see them.
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise RegistryProtocolError(f"too many redirects from {url.host} ({MAX_REDIRECTS})")


def raise_for_status(resp: aiohttp.ClientResponse, body: bytes, what: str, *, not_found: str | None = None) -> None:
    """Raise the error that fits a non-2xx response about ``what`` (e.g. ``blob sha256:… of repo``)."""
    if resp.status < 300:
        return
    text = errcode_text(body)
    if resp.status == 404:
        raise NotFoundError(not_found or f"{what}: not found" + (f": {text}" if text else ""))
    if resp.status in (401, 403):
        raise UnauthorizedError(text or f"denied: {what}: access to the resource is denied")
    if resp.status in (502, 503, 504):
        raise RegistryUnavailableError(f"{what}: registry answered {resp.status}" + (f": {text}" if text else ""))
    raise RegistryError(f"{what}: registry answered {resp.status} {resp.reason}"
                        + (f": {text or body[:200].decode(errors='replace')}" if body else ""))
