"""Docker Engine API client: HTTP/1.1 over a unix (or tcp) socket, stdlib only.

http.client pulls in the email package (~20 ms), so requests are written and parsed here; this also
gives direct control over the hijacked attach/exec connections.
"""
from __future__ import annotations

import _socket  # the C module: `socket` drags in enum and selectors (start-up time)
import os
from _thread import get_ident

from cli import jsoncodec as json
from cli.errors import APIError, CLIError, ConnectError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator

DEFAULT_HOST = "unix:///run/pydocker.sock"
MAX_API_VERSION = "1.50"
FALLBACK_API_VERSION = "1.24"
USER_AGENT = "pydocker/0.1.0 (linux)"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def quote(value: str, safe: str = "") -> str:
    """Percent-encode like url.QueryEscape/PathEscape (urllib.parse costs import time)."""
    ok = _UNRESERVED | frozenset(safe.encode())
    return "".join(chr(b) if b in ok else "%%%02X" % b for b in value.encode())


def encode_query(params: dict[str, Any] | list[tuple[str, Any]] | None) -> str:
    """Encode query parameters; None values are dropped, lists repeat the key, bools become 1/0."""
    if not params:
        return ""
    items = params.items() if isinstance(params, dict) else params
    parts = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            if isinstance(v, bool):
                v = "1" if v else "0"
            parts.append(f"{quote(key)}={quote(str(v))}")
    return "?" + "&".join(parts) if parts else ""


def version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in v.split("."))
    except ValueError:
        return (0,)


class SockReader:
    """A small buffered reader over a raw socket (what socket.makefile("rb") would give)."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.closed = False

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def readline(self, limit: int = -1) -> bytes:
        while b"\n" not in self.buf and (limit < 0 or len(self.buf) < limit):
            if not self._fill():
                break
        i = self.buf.find(b"\n")
        end = i + 1 if i >= 0 else len(self.buf)
        if limit >= 0:
            end = min(end, limit)
        line, self.buf = self.buf[:end], self.buf[end:]
        return line

    def read1(self, n: int = 65536) -> bytes:
        if not self.buf:
            if self.closed:
                return b""
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            if not self._fill():
                break
        if n < 0:
            data, self.buf = self.buf, b""
        else:
            data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def close(self) -> None:
        self.closed = True


class Response:
    """A response whose head has been read; the body is read on demand from the socket."""

    def __init__(self, sock: _socket.socket, fp: SockReader, status: int, reason: str,
                 headers: dict[str, str], method: str, pool: Client | None = None) -> None:
        self.sock, self.fp = sock, fp
        self.status, self.reason, self.headers = status, reason, headers
        te = headers.get("transfer-encoding", "").lower()
        self._chunked = "chunked" in te
        cl = headers.get("content-length")
        self._remaining = int(cl) if cl is not None and not self._chunked else None
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self._remaining = 0
            self._chunked = False
        self._chunk_left = 0
        self._done = False
        # The connection can carry the next request once this body is read to its framed end.
        self._pool = pool if (self._chunked or self._remaining is not None) and \
            headers.get("connection", "").lower() != "close" else None

    def read_chunk(self, size: int = 65536) -> bytes:
        """Return the next piece of the body, b"" at its end."""
        if self._done:
            return b""
        if self._chunked:
            if self._chunk_left == 0:
                line = self.fp.readline()
                if not line:
                    self._done = True
                    return b""
                n = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if n == 0:
                    while self.fp.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self._done = True
                    return b""
                self._chunk_left = n
            data = self.fp.read1(min(size, self._chunk_left))
            if not data:
                self._done = True
                return b""
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self.fp.readline()  # CRLF after the chunk
            return data
        if self._remaining is not None:
            if self._remaining <= 0:
                self._done = True
                return b""
            data = self.fp.read1(min(size, self._remaining))
            if not data:
                self._done = True
            self._remaining -= len(data)
            return data
        data = self.fp.read1(size)  # body until the server closes
        if not data:
            self._done = True
        return data

    def wait_readable(self, timeout: float) -> bool:
        """Whether more of the body is at hand within `timeout` seconds: bytes the reader buffered
        already (e.g. an event that came with the head) or bytes arriving on the socket."""
        import select
        return bool(self.fp.buf) or bool(select.select([self.sock], [], [], timeout)[0])

    def read(self) -> bytes:
        parts = []
        while True:
            data = self.read_chunk()
            if not data:
                break
            parts.append(data)
        self.close()
        return b"".join(parts)

    def json(self) -> Any:
        data = self.read()
        try:
            return json.loads(data) if data else None
        except ValueError as e:
            raise CLIError(f"error decoding response: {e}") from None

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.read_chunk()
            if not data:
                return
            yield data

    def iter_json(self) -> Iterator[dict]:
        """Decode a stream of JSON values (newline-separated or simply concatenated)."""
        buf = ""
        pending = b""
        for chunk in self:
            pending += chunk
            try:
                buf += pending.decode()
                pending = b""
            except UnicodeDecodeError:
                continue  # a multi-byte character split across chunks
            while True:
                buf = buf.lstrip()
                if not buf:
                    break
                try:
                    obj, end = json.raw_decode(buf)
                except ValueError:
                    break  # incomplete
                buf = buf[end:]
                yield obj
        if buf.strip():
            raise CLIError(f"invalid character in JSON stream: {buf.strip()[:40]!r}")
        self.close()

    def close(self) -> None:
        """Done with the response: a fully read keep-alive body hands the connection back for reuse."""
        if self.fp.closed:
            return
        self.fp.close()
        if self._pool is not None and self._done and not self.fp.buf:
            self._pool._release(self.sock)
        else:
            self.sock.close()


def _alive(sock: _socket.socket) -> bool:
    """An idle keep-alive connection is usable if the server has neither closed it nor sent anything."""
    try:
        sock.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # EOF (the server closed it) or stray bytes


_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class _Stale(Exception):
    """A reused keep-alive connection turned out closed before any response byte."""


class TLSConfig:
    """Client TLS settings: CA to verify the daemon with, and an optional client certificate."""

    def __init__(self, verify: bool, ca: str, cert: str, key: str) -> None:
        self.verify, self.ca, self.cert, self.key = verify, ca, cert, key


class Client:
    """Speaks the Engine API; negotiates the version on first use like the Go client."""

    def __init__(self, host: str | None = None, api_version: str | None = None,
                 tls: TLSConfig | None = None) -> None:
        self.host = host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST
        self.tls = tls
        pinned = api_version or os.environ.get("DOCKER_API_VERSION") or None
        self.version: str | None = pinned
        self.negotiated = bool(pinned)
        self.server_version: str | None = None  # Api-Version header from /_ping
        self.ping_headers: dict[str, str] = {}
        # One idle keep-alive connection per thread (the Go client pools them too): compose's
        # threads each reuse theirs instead of connecting for every request.
        self._idle: dict[int, _socket.socket] = {}
        if self.host.startswith("unix://"):
            self._family, self._addr = _socket.AF_UNIX, self.host[len("unix://"):]
        elif self.host.startswith(("tcp://", "http://")):
            hostport = self.host.split("://", 1)[1].rstrip("/")
            h, _, p = hostport.rpartition(":")
            if not h:
                h, p = hostport, "2375"
            self._family = _socket.AF_INET6 if ":" in h else _socket.AF_INET
            self._addr = (h.strip("[]"), int(p))
        else:
            raise CLIError(f"unsupported protocol scheme in DOCKER_HOST: {self.host}")

    # -- connection -----------------------------------------------------------------------
    def _connect(self) -> _socket.socket:
        if self.tls is not None and self._family != _socket.AF_UNIX:
            return self._connect_tls()
        sock = _socket.socket(self._family, _socket.SOCK_STREAM)
        try:
            sock.connect(self._addr)
        except PermissionError:
            sock.close()
            raise ConnectError(
                "permission denied while trying to connect to the Docker daemon socket at "
                f"{self.host}: connect: permission denied") from None
        except OSError:
            sock.close()
            raise ConnectError(f"Cannot connect to the Docker daemon at {self.host}. "
                               "Is the docker daemon running?") from None
        return sock

    def _connect_tls(self) -> Any:
        """TCP + TLS (mutual when a client certificate is configured), as --tls/--tlsverify select."""
        import socket
        import ssl
        tls = self.tls
        try:
            raw = socket.create_connection(self._addr)
        except OSError:
            raise ConnectError(f"Cannot connect to the Docker daemon at {self.host}. "
                               "Is the docker daemon running?") from None
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            if tls.verify:
                ctx.load_verify_locations(tls.ca)
            else:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if tls.cert and tls.key and os.path.exists(tls.cert) and os.path.exists(tls.key):
                ctx.load_cert_chain(tls.cert, tls.key)
            return ctx.wrap_socket(raw, server_hostname=self._addr[0])
        except (OSError, ssl.SSLError) as e:
            raw.close()
            raise CLIError(f"error during connect: {e}") from None

    def _send_head(self, sock: _socket.socket, method: str, url: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {url} HTTP/1.1", "Host: api.moby.localhost", f"User-Agent: {USER_AGENT}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    @staticmethod
    def _read_head(fp: SockReader) -> tuple[int, str, dict[str, str]]:
        line = fp.readline(65537)
        if not line:
            raise CLIError("error during connect: EOF")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise CLIError(f"malformed HTTP response {line[:60]!r}")
        status, reason = int(parts[1]), parts[2] if len(parts) > 2 else ""
        headers: dict[str, str] = {}
        while True:
            h = fp.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, reason, headers

    def _release(self, sock: _socket.socket) -> None:
        old = self._idle.get(get_ident())
        self._idle[get_ident()] = sock
        if old is not None and old is not sock:
            old.close()

    def _idle_connection(self) -> _socket.socket | None:
        sock = self._idle.pop(get_ident(), None)
        if sock is not None and not _alive(sock):
            sock.close()
            return None
        return sock

    def _exchange(self, method: str, url: str, body: bytes | Iterable[bytes] | None,
                  headers: dict[str, str]) -> Response:
        sock = self._idle_connection()
        if sock is not None and (body is None or isinstance(body, (bytes, bytearray))):
            try:
                return self._exchange_on(sock, method, url, body, headers)
            except _Stale:
                pass  # the server dropped the idle connection before reading the request: send it afresh
        elif sock is not None:
            self._idle[get_ident()] = sock  # a streamed body cannot be replayed: keep it for later
        return self._exchange_on(self._connect(), method, url, body, headers, fresh=True)

    def _exchange_on(self, sock: _socket.socket, method: str, url: str, body: bytes | Iterable[bytes] | None,
                     headers: dict[str, str], fresh: bool = False) -> Response:
        try:
            hdrs = dict(headers)
            if body is None or isinstance(body, (bytes, bytearray)):
                if body is not None or method in ("POST", "PUT"):
                    hdrs["Content-Length"] = str(len(body or b""))
                self._send_head(sock, method, url, hdrs)
                if body:
                    sock.sendall(body)
            else:
                hdrs["Transfer-Encoding"] = "chunked"
                self._send_head(sock, method, url, hdrs)
                for piece in body:
                    if piece:
                        sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                sock.sendall(b"0\r\n\r\n")
            fp = SockReader(sock)
            try:
                status, reason, rh = self._read_head(fp)
            except (CLIError, ConnectionResetError):
                # The request went out whole: the server may have acted on it before the connection
                # ended, so only a request that is safe to repeat is sent again (Go's isReplayable).
                if not fresh and not fp.buf and method in _REPLAYABLE:
                    raise _Stale() from None
                raise
            while status == 100:
                status, reason, rh = self._read_head(fp)
        except (BrokenPipeError, ConnectionResetError):
            sock.close()
            if not fresh:
                raise _Stale() from None
            raise CLIError("error during connect: broken pipe") from None
        except BaseException:
            sock.close()
            raise
        return Response(sock, fp, status, reason, rh, method, None if self.tls is not None else self)

    # -- version negotiation ---------------------------------------------------------------
    def ping(self) -> dict[str, str]:
        """HEAD /_ping (GET if HEAD is not answered with 200/500); return its headers."""
        resp = self._exchange("HEAD", "/_ping", None, {})
        resp.read()
        if resp.status not in (200, 500):
            resp = self._exchange("GET", "/_ping", None, {})
            resp.read()
        self.ping_headers = resp.headers
        return resp.headers

    def negotiate(self) -> str:
        if not self.negotiated:
            headers = self.ping()
            server = headers.get("api-version") or FALLBACK_API_VERSION
            self.server_version = server
            self.version = min(MAX_API_VERSION, server, key=version_tuple)
            self.negotiated = True
        return self.version or MAX_API_VERSION

    def api_at_least(self, v: str) -> bool:
        return version_tuple(self.negotiate()) >= version_tuple(v)

    def url(self, path: str, params: Any = None) -> str:
        return f"/v{self.negotiate()}{path}{encode_query(params)}"

    # -- requests --------------------------------------------------------------------------
    def request(self, method: str, path: str, params: Any = None, body: Any = None,
                json_body: Any = None, headers: dict[str, str] | None = None,
                check: bool = True) -> Response:
        """Send a request; raise APIError for a status >= 400 (the body becomes the message)."""
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = self.url(path, params)
        resp = self._exchange(method, url, body, hdrs)
        if check and resp.status >= 400:
            raise self._error(resp, url)
        return resp

    @staticmethod
    def _error(resp: Response, url: str) -> APIError:
        body = resp.read() if resp.headers else b""
        status = resp.status
        ctype = resp.headers.get("content-type", "")
        if not body:
            return APIError(status, f"request returned {status} {resp.reason} for API route and version "
                                    f"http://api.moby.localhost{url.split('?')[0]}, check if the server "
                                    "supports the requested API version")
        if ctype == "application/json":
            try:
                msg = json.loads(body).get("message")
            except (ValueError, AttributeError):
                msg = None
            if not msg:
                return APIError(status, f"API returned a {status} ({resp.reason}) but provided no error-message")
            return APIError(status, msg.strip())
        return APIError(status, body.decode(errors="replace").strip())

    def get_json(self, path: str, params: Any = None) -> Any:
        return self.request("GET", path, params).json()

    def post_json(self, path: str, params: Any = None, body: Any = None) -> Any:
        return self.request("POST", path, params, json_body=body).json()

    def hijack(self, path: str, params: Any = None, body: Any = None) -> tuple[_socket.socket, SockReader]:
        """POST with `Upgrade: tcp`; return the raw socket and its buffered reader after the 101."""
        data = json.dumps(body).encode() if body is not None else b""
        hdrs = {"Connection": "Upgrade", "Upgrade": "tcp",
                "Content-Type": "application/json" if body is not None else "text/plain",
                "Content-Length": str(len(data))}
        url = self.url(path, params)
        sock = self._connect()
        self._send_head(sock, "POST", url, hdrs)
        if data:
            sock.sendall(data)
        fp = SockReader(sock)
        status, reason, headers = self._read_head(fp)
        if status != 101:
            # The Go client reports only the status here, whatever the body says.
            sock.close()
            raise CLIError(f"unable to upgrade to tcp, received {status}")
        return sock, fp
