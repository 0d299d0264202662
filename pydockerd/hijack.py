"""The attach/exec connection hijack: a 101 answer, then raw bytes both ways.

aiohttp gives us the pieces: after `Upgrade: tcp` its parser stores further bytes until a payload
parser is installed with `protocol.set_parser()`, and `connection_lost` calls that parser's
`feed_eof()`. The one missing piece is a half-close: the Docker CLI shuts down its write side right
after the 101 when stdin is not attached, and stock aiohttp closes the transport on EOF. The server's
request handler (`server.HijackAwareHandler`) routes `eof_received` here instead, and keeps the
socket open for our output.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


class HijackedConnection:
    """One hijacked client connection; `read()` yields client bytes, None at the client's EOF."""

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._resp: web.StreamResponse | None = None
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._eof = False
        # Set when the client closed both directions (or the connection broke): a detach.
        self.gone = asyncio.Event()

    @property
    def response(self) -> web.StreamResponse:
        assert self._resp is not None, "upgrade() first"
        return self._resp

    @property
    def wants_upgrade(self) -> bool:
        return self._request.headers.get("Upgrade", "").lower() == "tcp"

    async def upgrade(self, content_type: str) -> None:
        """Send `101 UPGRADED` (or moby's 200 for clients that did not ask to upgrade)."""
        if self.wants_upgrade:
            resp = web.StreamResponse(status=101, reason="UPGRADED")
            resp.headers["Connection"] = "Upgrade"
            resp.headers["Upgrade"] = "tcp"
        else:
            resp = web.StreamResponse(status=200)
            resp.force_close()
        resp.headers["Content-Type"] = content_type
        await resp.prepare(self._request)
        self._resp = resp
        protocol = self._request.protocol
        protocol.hijacked = self  # type: ignore[attr-defined]
        protocol.set_parser(self)  # type: ignore[arg-type]
        if getattr(protocol, "pending_eof", False):
            self.half_closed()

    # --- the payload-parser interface aiohttp drives -------------------------------------------
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self._eof:
            self._incoming.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        """aiohttp calls this from connection_lost: the client is gone."""
        self.half_closed()
        self.gone.set()

    def half_closed(self) -> None:
        if not self._eof:
            self._eof = True
            self._incoming.put_nowait(None)

    # --- our side ------------------------------------------------------------------------------
    async def read(self) -> bytes | None:
        return await self._incoming.get()

    async def write(self, data: bytes) -> bool:
        """Write output; False once the client has gone."""
        if self._resp is None or self.gone.is_set():
            return False
        transport = self._request.transport
        if transport is None or transport.is_closing():
            self.gone.set()
            return False
        try:
            await self._resp.write(data)
        except (ConnectionError, RuntimeError):
            self.gone.set()
            return False
        return True

    def close(self) -> None:
        """Close the socket after the pending output is flushed."""
        self._request.protocol.force_close()
        transport = self._request.transport
        if transport is not None:
            transport.close()
