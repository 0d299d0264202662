"""A scripted HTTP server on a unix socket, standing in for the daemon in unit tests."""
from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from typing import Callable

Handler = Callable[["Request"], bytes]


class Request:
    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes, conn: socket.socket):
        self.method, self.target, self.headers, self.body, self.conn = method, target, headers, body, conn
        self.path, _, self.query = target.partition("?")


def response(status: int, body: bytes | str | dict | list = b"", ctype: str | None = None,
             headers: dict[str, str] | None = None, chunked: bool = False) -> bytes:
    if isinstance(body, (dict, list)):
        body, ctype = json.dumps(body).encode(), ctype or "application/json"
    elif isinstance(body, str):
        body = body.encode()
    reason = {200: "OK", 201: "Created", 204: "No Content", 404: "Not Found", 409: "Conflict",
              500: "Internal Server Error", 101: "UPGRADED"}.get(status, "X")
    head = [f"HTTP/1.1 {status} {reason}", "Api-Version: 1.45", "Ostype: linux"]
    if ctype:
        head.append(f"Content-Type: {ctype}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        head.append("Transfer-Encoding: chunked")
        payload = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
        return ("\r\n".join(head) + "\r\n\r\n").encode() + payload + b"0\r\n\r\n"
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class FakeDaemon:
    """Answers each request with routes[(METHOD, path-without-version)](request)."""

    def __init__(self, tls=None) -> None:
        """A unix socket daemon, or with tls (an ssl.SSLContext) one on 127.0.0.1 over TLS."""
        self.dir = tempfile.mkdtemp(prefix="pydocker-cli-unit-")
        self.path = os.path.join(self.dir, "d.sock")
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Request] = []
        self.tls = tls
        self.keepalive = False  # serve further requests on a connection (else close after each answer)
        self.connections = 0
        if tls is None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(self.path)
        else:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}" if self.tls is None else f"tcp://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        f = conn.makefile("rb")
        while self._answer(conn, f) and self.keepalive:
            pass
        conn.close()

    def _answer(self, conn: socket.socket, f) -> bool:
        line = f.readline().decode()
        if not line:
            return False
        method, target, _ = line.split(" ", 2)
        headers = {}
        while True:
            h = f.readline().decode()
            if h in ("\r\n", ""):
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if "content-length" in headers:
            body = f.read(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                n = int(f.readline().strip(), 16)
                if n == 0:
                    f.readline()
                    break
                body += f.read(n)
                f.readline()
        req = Request(method, target, headers, body, conn)
        self.requests.append(req)
        path = req.path
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        handler = self.routes.get((method, path))
        data = handler(req) if handler else response(404, {"message": "page not found"})
        if data:
            conn.sendall(data)
        return True

    def close(self) -> None:
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        os.rmdir(self.dir)
