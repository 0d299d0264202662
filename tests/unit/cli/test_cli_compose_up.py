"""`pydocker compose up -d` against a scripted daemon: which requests it makes and in what order.

The daemon holds each start until the other independent service's start has arrived too (a barrier), so
a sequential `up` fails here; a dependency's health changes only once the dependent's container exists,
so creating it early is checked the same way. No timing is measured."""
import json
import threading

import pytest

from cli.main import main
from cli_fakedaemon import response

COMPOSE = """
services:
  web:
    image: busybox:latest
    command: [httpd, -f]
  db:
    image: busybox:latest
    command: [sleep, '600']
    healthcheck:
      test: [CMD, 'true']
      interval: 1s
  client:
    image: busybox:latest
    depends_on:
      db: {condition: service_healthy}
      web: {condition: service_started}
"""


class App:
    """The daemon's side of the test app: three containers, db's health under the test's control."""

    def __init__(self, daemon, final_health: str) -> None:
        self.daemon, self.final_health = daemon, final_health
        self.health = "starting"
        self.both_starting = threading.Barrier(2, timeout=10)
        self.client_created = threading.Event()
        self.log: list[str] = []
        self.lock = threading.Lock()
        d = daemon
        d.keepalive = True
        d.routes[("GET", "/containers/json")] = lambda r: response(200, [])
        d.routes[("GET", "/networks/p_default")] = lambda r: response(404, {"message": "network p_default not found"})
        d.routes[("POST", "/networks/create")] = lambda r: response(201, {"Id": "n1"})
        d.routes[("GET", "/images/busybox:latest/json")] = lambda r: response(200, {"Id": "sha256:b"})
        d.routes[("POST", "/containers/create")] = self.create
        for svc in ("web", "db", "client"):
            d.routes[("POST", f"/containers/p-{svc}-1/start")] = self.start
            d.routes[("DELETE", f"/containers/p-{svc}-1")] = self.delete
        d.routes[("GET", "/containers/p-db-1/json")] = self.inspect_db
        d.routes[("GET", "/events")] = self.events

    def note(self, what: str) -> None:
        with self.lock:
            self.log.append(what)

    def create(self, r) -> bytes:
        name = r.query.split("name=")[1]
        self.note(f"create {name}")
        if name == "p-client-1":
            self.client_created.set()
        return response(201, {"Id": name, "Warnings": []})

    def start(self, r) -> bytes:
        name = r.path.split("/")[-2]
        if name in ("p-web-1", "p-db-1"):
            try:
                self.both_starting.wait()  # released only when web and db are being started together
            except threading.BrokenBarrierError:
                return response(500, {"message": f"{name} was started alone"})
        self.note(f"start {name}")
        return response(204)

    def delete(self, r) -> bytes:
        self.note(f"delete {r.path.split('/')[-1]}")
        return response(204)

    def inspect_db(self, r) -> bytes:
        self.note(f"inspect db {self.health}")
        return response(200, {"Id": "p-db-1", "State": {"Status": "running", "Running": True,
                                                        "Health": {"Status": self.health}}})

    def events(self, r) -> bytes:
        flt = json.loads(r.query.split("filters=")[1].replace("%22", '"').replace("%3A", ":").replace("%2C", ",")
                         .replace("%5B", "[").replace("%5D", "]").replace("%7B", "{").replace("%7D", "}"))
        assert flt["container"] == ["p-db-1"] and "health_status" in flt["event"]
        r.conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        self.client_created.wait(10)
        self.health = self.final_health
        ev = json.dumps({"Type": "container", "Action": f"health_status: {self.final_health}",
                         "Actor": {"ID": "p-db-1"}}).encode() + b"\n"
        try:
            r.conn.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            r.conn.recv(1)  # until the client is done with the stream
        except OSError:
            pass
        return b""


@pytest.fixture
def up(daemon, tmp_path, monkeypatch):
    (tmp_path / "compose.yml").write_text(COMPOSE)
    monkeypatch.setenv("DOCKER_HOST", daemon.host)
    monkeypatch.chdir(tmp_path)

    def run(final_health: str) -> tuple[int, App]:
        app = App(daemon, final_health)
        code = main(["compose", "-p", "p", "up", "-d"])
        return code, app
    return run


def test_independent_services_start_together_and_the_dependent_waits_for_health(up, daemon, capsys):
    code, app = up("healthy")
    err = capsys.readouterr().err
    assert code == 0, err
    log = app.log
    # web and db were started side by side (the barrier); client was created while db was still starting,
    # and started only after db reported healthy
    assert {"start p-web-1", "start p-db-1"} <= set(log[:5])
    assert log.index("create p-client-1") < log.index("inspect db healthy") < log.index("start p-client-1")
    # no sleep-polling: one inspect before the event (if the stream was quicker, none) and one after it
    assert len([e for e in log if e.startswith("inspect db")]) <= 2
    assert err.index(" Container p-db-1  Healthy\n") < err.index(" Container p-client-1  Started\n")
    # one image check for the three services, and connections kept alive across requests
    assert [r.path.endswith("/images/busybox:latest/json") for r in daemon.requests].count(True) == 1
    assert daemon.connections < len(daemon.requests) - 3


def test_an_unhealthy_dependency_leaves_its_dependent_created(up, capsys):
    # as compose v2: the dependent was created before its dependency's health was known, and stays
    # Created (never started, never deleted) for `ps -a` to show
    code, app = up("unhealthy")
    err = capsys.readouterr().err
    assert code == 1
    assert "dependency failed to start: container p-db-1 is unhealthy" in err
    assert "create p-client-1" in app.log
    assert "start p-client-1" not in app.log and "delete p-client-1" not in app.log
