"""Where the API listens: dockerd's `-H` addresses (unix and tcp) and its `--tls*` settings.

Follows moby's daemon/command (options.go setDefaultOptions, daemon.go loadListeners,
newAPIServerTLSConfig) and daemon/pkg/opts/hosts.go (ParseDaemonHost):
- `--tlsverify` (given at all, or DOCKER_TLS_VERIFY) turns TLS on; `--tls` alone implies verification
  unless `--tlsverify=false`; with verification, clients must present a certificate signed by
  `--tlscacert` (only that CA, never the system pool).
- TCP without client verification is logged as insecure. On a non-loopback address it also needs the
  explicit opt-out `--tls=false` (or `--tlsverify=false`): moby delays startup 15 s there and announces a
  hard failure for the next release; pydockerd refuses right away, which is that announced behaviour.
- unix sockets never use TLS.

TLS connections go through `HalfCloseSSLProtocol`: the docker CLI half-closes a hijacked attach/exec
(Go's `tls.Conn.CloseWrite` sends close_notify and keeps the socket) and keeps reading the container's
output; asyncio's own SSL transport would shut the whole connection down at that close_notify.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
from asyncio import sslproto
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger("pydockerd.listeners")

DEFAULT_UNIX_SOCKET = "/run/pydocker.sock"
DEFAULT_HTTP_HOST = "localhost"
DEFAULT_TCP_HOST = f"tcp://{DEFAULT_HTTP_HOST}:2375"
DEFAULT_TLS_HOST = f"tcp://{DEFAULT_HTTP_HOST}:2376"
DEFAULT_CA_FILE, DEFAULT_CERT_FILE, DEFAULT_KEY_FILE = "ca.pem", "cert.pem", "key.pem"


class ListenerError(Exception):
    """A host or TLS setting the daemon cannot start with (moby's message)."""


def default_cert_path() -> str:
    """dockerd's default directory for ca/cert/key.pem: $DOCKER_CERT_PATH, else $DOCKER_CONFIG or ~/.docker."""
    return os.environ.get("DOCKER_CERT_PATH") or os.environ.get("DOCKER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".docker")


def parse_daemon_host(address: str) -> str:
    """Normalise one `-H` value as moby's ParseDaemonHost: `tcp://host:port` or `unix://path`."""
    address = address.strip()
    proto, sep, addr = address.partition("://")
    if not sep:
        proto, addr = "tcp", address
    if proto == "tcp":
        return _parse_tcp(address)
    if proto == "unix":
        if "://" in addr:
            raise ListenerError(f"invalid bind address ({address}): invalid unix address: {addr}")
        return "unix://" + (addr or DEFAULT_UNIX_SOCKET)
    if proto == "fd":
        raise ListenerError(f"invalid bind address ({address}): socket activation (fd://) is not supported")
    raise ListenerError(f"invalid bind address ({address}): unsupported proto '{proto}'")


def _parse_tcp(address: str) -> str:
    url = urlsplit(address if "://" in address else "tcp://" + address)
    try:
        if url.scheme != "tcp":
            raise ValueError(f"unsupported proto '{url.scheme}'")
        if url.path:
            raise ValueError("should not contain a path element")
        port = url.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ListenerError(f"invalid bind address ({address}): {exc}") from None
    if port == 0:
        raise ListenerError(f"invalid bind address ({address}): invalid port: 0")
    host = url.hostname or DEFAULT_HTTP_HOST
    port = port or 2375
    return f"tcp://[{host}]:{port}" if ":" in host else f"tcp://{host}:{port}"


def split_tcp(host: str) -> tuple[str, int]:
    """`tcp://h:p` (normalised) → (h, p), IPv6 brackets removed."""
    url = urlsplit(host)
    return url.hostname or DEFAULT_HTTP_HOST, int(url.port or 2375)


def is_loopback(hostname: str) -> bool:
    """True for `localhost` and names/addresses that resolve to loopback only (moby's check)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(hostname, None)
    except OSError as exc:
        log.error("Error looking up specified host address %s: %s", hostname, exc)
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


@dataclass
class TLSSettings:
    """The effective --tls/--tlsverify settings (after moby's defaulting rules)."""

    enabled: bool = False
    verify: bool = False
    explicit: bool = False  # --tls or --tlsverify was given: an explicit choice, even to go without
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    @classmethod
    def resolve(cls, tls: bool | None, tlsverify: bool | None, ca_file: str | None, cert_file: str | None,
                key_file: str | None) -> "TLSSettings":
        """Settings from the flag values, None meaning "not given" (moby's setDefaultOptions)."""
        cert_dir = default_cert_path()
        env_verify = os.environ.get("DOCKER_TLS_VERIFY", "") != ""
        verify = tlsverify if tlsverify is not None else env_verify
        enabled = bool(tls)
        if tlsverify is not None or verify:
            enabled = True  # --tlsverify given at all, even =false, means TLS
        if enabled and tlsverify is None:
            verify = True
        s = cls(enabled=enabled, verify=enabled and verify, explicit=tls is not None or tlsverify is not None)
        if enabled:
            s.ca_file = ca_file if ca_file is not None else os.path.join(cert_dir, DEFAULT_CA_FILE)
            # Unspecified cert/key that do not exist at their defaults are "none" (moby resets them).
            s.cert_file = cert_file if cert_file is not None else _existing(os.path.join(cert_dir, DEFAULT_CERT_FILE))
            s.key_file = key_file if key_file is not None else _existing(os.path.join(cert_dir, DEFAULT_KEY_FILE))
        return s

    def server_context(self) -> ssl.SSLContext | None:
        """The server's TLS context (TLS >= 1.2; client certs required and checked against the CA alone
        when verifying), None without TLS; ListenerError in go-connections' words when files are bad."""
        if not self.enabled:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        except FileNotFoundError as exc:
            raise ListenerError(f'invalid TLS configuration: could not load X509 key pair (cert: "{self.cert_file}", '
                                f'key: "{self.key_file}"): open {exc.filename or ""}: no such file or directory') from None
        except (ssl.SSLError, OSError) as exc:
            raise ListenerError(f"invalid TLS configuration: error reading X509 key pair - make sure the key is not "
                                f'encrypted (cert: "{self.cert_file}", key: "{self.key_file}"): {exc}') from None
        if self.verify:
            ctx.verify_mode = ssl.CERT_REQUIRED
            if self.ca_file:
                try:
                    with open(self.ca_file) as f:
                        pem = f.read()
                except OSError as exc:
                    raise ListenerError(f'invalid TLS configuration: could not read CA certificate "{self.ca_file}": '
                                        f"{exc.strerror or exc}") from None
                try:
                    ctx.load_verify_locations(cadata=pem)
                except (ssl.SSLError, ValueError):
                    raise ListenerError("invalid TLS configuration: failed to append certificates from PEM file: "
                                        f'"{self.ca_file}"') from None
        return ctx


def _existing(path: str) -> str:
    return path if os.path.exists(path) else ""


def resolve_hosts(hosts: list[str], tls: TLSSettings) -> list[str]:
    """Normalised, sorted, de-duplicated hosts; with none given, the TLS port with TLS, else the socket."""
    given = [h for h in hosts if h.strip()]
    if not given:
        given = [DEFAULT_TLS_HOST if tls.enabled else "unix://" + DEFAULT_UNIX_SOCKET]
    return sorted({parse_daemon_host(h) for h in given})


def check_tcp_security(host: str, tls: TLSSettings) -> None:
    """Warn about an unauthenticated TCP listener; refuse one off loopback without an explicit opt-out."""
    if not host.startswith("tcp://") or (tls.enabled and tls.verify):
        return
    log.warning("Binding to IP address without --tlsverify is insecure and gives root access on this machine "
                "to everyone who has access to your network. host=%s", host)
    log.warning("Binding to an IP address, even on localhost, can also give access to scripts run in a browser. "
                "Be safe out there! host=%s", host)
    if tls.explicit or is_loopback(split_tcp(host)[0]):
        return
    raise ListenerError(f"refusing to listen on {host} without --tlsverify: it would give root access on this "
                        "machine to everyone who has access to your network; use --tlsverify with "
                        "--tlscacert/--tlscert/--tlskey, or explicitly --tls=false to listen without authentication")


class HalfCloseSSLProtocol(sslproto.SSLProtocol):
    """asyncio's TLS protocol, except that a peer's close_notify is a half-close when the application
    protocol asks to stay open (eof_received() → True): we keep writing until the application closes."""

    _keep_open = False

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        if handshake_exc is not None and self._transport is not None:
            if isinstance(handshake_exc, ssl.SSLError) and handshake_exc.reason == "HTTP_REQUEST":
                # What Go's server answers a plain-HTTP client on a TLS port (the CLI prints it).
                self._transport.write(b"HTTP/1.0 400 Bad Request\r\n\r\n"
                                      b"Client sent an HTTP request to an HTTPS server.\n")
            else:
                # Send OpenSSL's alert (certificate required, unknown CA, ...) before the abort, so the
                # client can say why instead of seeing a bare EOF.
                alert = self._outgoing.read()
                if alert:
                    self._transport.write(alert)
            log.debug("TLS handshake failed: %s", handshake_exc)
        super()._on_handshake_complete(handshake_exc)

    def _call_eof_received(self) -> None:
        if self._app_state != sslproto.AppProtocolState.STATE_CON_MADE:
            return
        self._app_state = sslproto.AppProtocolState.STATE_EOF
        try:
            self._keep_open = bool(self._app_protocol.eof_received())
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error calling eof_received()")

    def _start_shutdown(self) -> None:
        app = self._app_transport
        if self._keep_open and app is not None and not app.is_closing():
            return  # the peer's close_notify: its write side is done, ours is not
        super()._start_shutdown()


class TLSSite(web.BaseSite):
    """An aiohttp site on TCP with TLS through HalfCloseSSLProtocol."""

    __slots__ = ("_host", "_port")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, ssl_context: ssl.SSLContext) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._host, self._port = host, port

    @property
    def name(self) -> str:
        return f"https://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        make_handler: Callable[[], Any] = self._runner.server  # type: ignore[assignment]
        ctx = self._ssl_context

        def factory() -> HalfCloseSSLProtocol:
            return HalfCloseSSLProtocol(loop, make_handler(), ctx, None, server_side=True)
        self._server = await loop.create_server(factory, self._host, self._port, backlog=self._backlog,
                                                reuse_address=True)
