"""The HTTP client against a scripted daemon: negotiation, errors, bodies, hijack."""
import json
import struct

import pytest

from cli.client import Client, encode_query, quote
from cli.errors import APIError, CLIError, ConnectError
from cli_fakedaemon import response


def test_negotiates_down_to_the_server_version(daemon):
    daemon.routes[("GET", "/containers/json")] = lambda r: response(200, [])
    c = Client(daemon.host)
    assert c.get_json("/containers/json", {"all": 1}) == []
    req = daemon.requests[-1]
    assert req.target == "/v1.45/containers/json?all=1"
    assert req.headers["host"] == "api.moby.localhost"
    assert daemon.requests[0].method == "HEAD" and daemon.requests[0].target == "/_ping"


def test_ping_falls_back_to_get_and_pinned_version_skips_ping(daemon, monkeypatch):
    daemon.routes[("HEAD", "/_ping")] = lambda r: response(404)
    daemon.routes[("GET", "/_ping")] = lambda r: response(200, "OK", headers={"Api-Version": "1.41"})
    assert Client(daemon.host).negotiate() == "1.41"
    monkeypatch.setenv("DOCKER_API_VERSION", "1.30")
    daemon.requests.clear()
    c = Client(daemon.host)
    assert c.negotiate() == "1.30" and daemon.requests == []


def test_json_error_message(daemon):
    daemon.routes[("GET", "/containers/x/json")] = lambda r: response(404, {"message": "No such container: x\n"})
    with pytest.raises(APIError) as e:
        Client(daemon.host).get_json("/containers/x/json")
    assert e.value.message == "Error response from daemon: No such container: x" and e.value.not_found


def test_non_json_and_empty_errors(daemon):
    daemon.routes[("GET", "/a")] = lambda r: response(500, '{"message":"raw"}', ctype="application/json; charset=utf-8")
    daemon.routes[("GET", "/b")] = lambda r: response(409)
    daemon.routes[("GET", "/c")] = lambda r: response(404, {"nomessage": 1})
    c = Client(daemon.host)
    with pytest.raises(APIError, match='Error response from daemon: {"message":"raw"}'):
        c.get_json("/a")
    with pytest.raises(APIError) as e:
        c.get_json("/b")
    assert e.value.message == ("Error response from daemon: request returned 409 Conflict for API route and "
                               "version http://api.moby.localhost/v1.45/b, check if the server supports the "
                               "requested API version")
    with pytest.raises(APIError, match=r"API returned a 404 \(Not Found\) but provided no error-message"):
        c.get_json("/c")


def test_chunked_json_stream_and_chunked_upload(daemon):
    msgs = [{"status": "a"}, {"stream": "b\n"}, {"aux": {"ID": "x"}}]
    body = "".join(json.dumps(m) for m in msgs)  # concatenated, no newlines
    daemon.routes[("POST", "/images/load")] = lambda r: response(200, body, ctype="application/json", chunked=True)
    c = Client(daemon.host)
    resp = c.request("POST", "/images/load", {"quiet": 0}, body=iter([b"part1", b"part2"]))
    assert list(resp.iter_json()) == msgs
    assert daemon.requests[-1].body == b"part1part2"
    assert daemon.requests[-1].headers["transfer-encoding"] == "chunked"


def test_hijack_101_and_leftover_bytes(daemon):
    payload = bytes([1, 0, 0, 0]) + struct.pack(">I", 3) + b"hi\n"

    def attach(r):
        return (b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n"
                b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + payload)
    daemon.routes[("POST", "/containers/c1/attach")] = attach
    sock, fp = Client(daemon.host).hijack("/containers/c1/attach", {"stream": 1, "stdout": 1})
    assert fp.read() == payload
    sock.close()
    req = daemon.requests[-1]
    assert req.headers["upgrade"] == "tcp" and req.headers["connection"] == "Upgrade"


def test_hijack_rejects_200(daemon):
    daemon.routes[("POST", "/exec/e/start")] = lambda r: response(200, "")
    with pytest.raises(CLIError, match="unable to upgrade to tcp, received 200"):
        Client(daemon.host).hijack("/exec/e/start", None, {"Detach": False})


def test_connect_error(tmp_path):
    with pytest.raises(ConnectError) as e:
        Client(f"unix://{tmp_path}/none.sock").get_json("/info")
    assert e.value.message == (f"Cannot connect to the Docker daemon at unix://{tmp_path}/none.sock. "
                               "Is the docker daemon running?")


def test_query_encoding():
    assert quote("a b/c:d") == "a%20b%2Fc%3Ad"
    assert encode_query({"a": True, "b": None, "names": ["x", "y"], "f": '{"k":1}'}) == \
        "?a=1&names=x&names=y&f=%7B%22k%22%3A1%7D"
    assert encode_query({}) == ""


def test_keepalive_reuses_one_connection_per_thread(daemon):
    import threading
    daemon.keepalive = True
    daemon.routes[("GET", "/info")] = lambda r: response(200, {"ok": 1})
    daemon.routes[("GET", "/events")] = lambda r: response(200, b'{"a":1}\n{"b":2}\n', chunked=True)
    c = Client(daemon.host)
    for _ in range(3):
        assert c.get_json("/info") == {"ok": 1}
    assert list(c.request("GET", "/events").iter_json()) == [{"a": 1}, {"b": 2}]
    assert daemon.connections == 1 and len(daemon.requests) == 5  # ping, 3 x info, events
    seen = []
    worker = threading.Thread(target=lambda: seen.append(c.get_json("/info")))
    worker.start()
    worker.join()
    assert seen == [{"ok": 1}] and daemon.connections == 2  # another thread has its own


def test_a_partly_read_stream_is_not_reused(daemon):
    daemon.keepalive = True
    daemon.routes[("GET", "/events")] = lambda r: response(200, b'{"a":1}\n' * 4, chunked=True)
    daemon.routes[("GET", "/info")] = lambda r: response(200, {"ok": 1})
    c = Client(daemon.host)
    resp = c.request("GET", "/events")
    assert resp.read_chunk()
    resp.close()
    assert c.get_json("/info") == {"ok": 1}
    assert daemon.connections == 2


def test_a_connection_the_daemon_dropped_is_replaced(daemon):
    # the fake daemon closes after each answer without saying so: every request must still succeed
    daemon.routes[("POST", "/containers/create")] = lambda r: response(201, {"Id": r.body.decode()})
    c = Client(daemon.host)
    for i in range(5):
        assert c.post_json("/containers/create", None, {"n": i}) == {"Id": '{"n": %d}' % i}
    assert [r.method for r in daemon.requests].count("POST") == 5  # each sent once


def test_a_request_the_daemon_read_then_dropped_is_resent_only_if_safe(daemon):
    """A reused connection that ends after the whole request went out: the daemon may have acted on it.
    A GET is sent again on a new connection; a POST is not (no second container), as the Go client."""
    import socket
    daemon.keepalive = True
    dropped: list[str] = []

    def drop_once(answer):
        def handler(r):
            if r.method not in dropped:
                dropped.append(r.method)
                r.conn.shutdown(socket.SHUT_RDWR)  # read, maybe acted on, never answered
                return b""
            return answer
        return handler
    daemon.routes[("GET", "/info")] = drop_once(response(200, {"ok": 1}))
    daemon.routes[("POST", "/containers/create")] = drop_once(response(201, {"Id": "x"}))
    daemon.routes[("GET", "/version")] = lambda r: response(200, {"ok": 2})
    c = Client(daemon.host)
    assert c.get_json("/version") == {"ok": 2}  # a kept-alive connection to reuse
    assert c.get_json("/info") == {"ok": 1}
    assert [r.method for r in daemon.requests].count("GET") == 3  # version, info twice
    assert c.get_json("/version") == {"ok": 2}
    with pytest.raises(CLIError, match="EOF"):
        c.post_json("/containers/create", None, {})
    assert [r.method for r in daemon.requests].count("POST") == 1


def test_stream_bytes_that_came_with_the_head_are_at_hand(daemon):
    """An event sent together with the response head sits in the reader's buffer, not on the socket:
    wait_readable must see it at once (compose's dependency wait once looked at the socket only)."""
    import threading
    done = threading.Event()
    event = b'{"status":"die"}\n'

    def events(r):
        r.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%x\r\n" % len(event) + event + b"\r\n")
        done.wait(10)  # the stream stays open, with nothing more to say
        return b""
    daemon.routes[("GET", "/events")] = events
    resp = Client(daemon.host).request("GET", "/events")
    try:
        assert resp.fp.buf  # the event came in the same read as the head
        assert resp.wait_readable(0)
        assert json.loads(resp.read_chunk()) == {"status": "die"}
        assert not resp.wait_readable(0.2)
    finally:
        done.set()
        resp.sock.close()
