"""The HTTP layer on a real unix socket: routing, moby's errors and headers, the hijack half-close."""
import asyncio
import json
import os
import socket

from aiohttp import web

from pydockerd.daemon.containerd import ContainerdClient
from pydockerd.daemon.daemon import Daemon, DaemonConfig
from pydockerd.hijack import RAW_STREAM, HijackedConnection
from pydockerd.server import APIServer, error_middleware, make_app


async def raw_request(path: str, data: bytes) -> bytes:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(data)
    await writer.drain()
    out = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return out


def parse(resp: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    if headers.get("Transfer-Encoding") == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return int(lines[0].split()[1]), headers, body


async def served_daemon(tmp_path):
    d = Daemon(DaemonConfig(data_root=str(tmp_path / "data"), exec_root=str(tmp_path / "exec"),
                            runtimes={"runc": "/usr/sbin/runc"}), ContainerdClient(str(tmp_path / "none.sock")))
    server = APIServer(make_app(d), str(tmp_path / "d.sock"))
    await server.start()
    return server, d


async def get(path: str, url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    return parse(await raw_request(path, f"{method} {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()))


async def test_routing_errors_and_headers(tmp_path):
    server, d = await served_daemon(tmp_path)
    sock = server.socket_path
    try:
        assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
        for method, url in (("GET", "/nope"), ("PUT", "/_ping"), ("GET", "/v1.41/containers/x/nope")):
            status, headers, body = await get(sock, url, method)
            assert status == 404
            assert headers["Content-Type"] == "application/json"
            assert json.loads(body) == {"message": "page not found"}
        status, headers, body = await get(sock, "/v1.99/_ping")
        assert status == 400
        assert json.loads(body)["message"] == "client version 1.99 is too new. Maximum supported API version is 1.50"
        status, _, body = await get(sock, "/v1.12/_ping")
        assert json.loads(body)["message"].startswith("client version 1.12 is too old. Minimum supported API version is 1.24")
        status, headers, body = await get(sock, "/v1.41/_ping")
        assert (status, body) == (200, b"OK")
        assert headers["Api-Version"] == "1.50" and headers["Ostype"] == "linux"
        assert headers["Builder-Version"] == "1" and headers["Server"].startswith("Docker/")
        status, headers, body = await get(sock, "/_ping", "HEAD")
        assert status == 200 and body == b""
        status, headers, body = await get(sock, "/containers/nosuch/json")
        assert status == 404 and json.loads(body) == {"message": "No such container: nosuch"}
        assert headers["Content-Type"] == "application/json"
        status, _, body = await get(sock, "/v1.50/containers/json?all=1")
        assert (status, json.loads(body)) == (200, [])
    finally:
        await server.stop()
        await d.client.close()
    assert not os.path.exists(sock)


async def test_hijack_survives_client_half_close(tmp_path):
    """The CLI shuts its write side right after the 101: output must still reach it."""
    seen_eof = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        conn = HijackedConnection(request)
        await conn.upgrade(RAW_STREAM)
        got = b""
        while (chunk := await conn.read()) is not None:
            got += chunk
        seen_eof.set()
        await asyncio.sleep(0.1)  # output produced after the client's EOF
        await conn.write(b"got:" + got + b";after-eof")
        conn.close()
        return conn.response

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/hijack", handler)
    server = APIServer(app, str(tmp_path / "h.sock"))
    await server.start()
    try:
        # As the Go CLI does: request, wait for the 101, then stdin, then shutdown(SHUT_WR).
        reader, writer = await asyncio.open_unix_connection(server.socket_path)
        writer.write(b"POST /hijack HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
                     b"Content-Length: 0\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(b"stdin-bytes")
        await writer.drain()
        writer.write_eof()
        body = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert head.startswith(b"HTTP/1.1 101 UPGRADED")
        assert b"Upgrade: tcp" in head and b"Content-Type: application/vnd.docker.raw-stream" in head
        assert body == b"got:stdin-bytes;after-eof"
        assert seen_eof.is_set()
    finally:
        await server.stop()
