"""System commands against the scripted daemon: login/logout, info and events rendering."""
import base64
import json

from cli.commands.system import format_event, format_info
from cli.main import main
from cli_fakedaemon import response


def test_login_stores_credentials_and_logout_removes_them(daemon, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    daemon.routes[("POST", "/auth")] = lambda r: response(200, {"Status": "Login Succeeded", "IdentityToken": ""})
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("s3cret\n"))
    assert main(["-H", daemon.host, "login", "-u", "alice", "--password-stdin", "127.0.0.1:5000"]) == 0
    assert capsys.readouterr().out == "Login Succeeded\n"
    sent = json.loads(daemon.requests[-1].body)
    assert sent == {"username": "alice", "password": "s3cret", "serveraddress": "127.0.0.1:5000"}
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert base64.b64decode(cfg["auths"]["127.0.0.1:5000"]["auth"]) == b"alice:s3cret"
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600

    # pulls from that registry carry the credentials in X-Registry-Auth
    daemon.routes[("POST", "/images/create")] = lambda r: response(200, '{"status":"ok"}\n', ctype="application/json")
    assert main(["-H", daemon.host, "pull", "-q", "127.0.0.1:5000/app:1"]) == 0
    header = daemon.requests[-1].headers["x-registry-auth"]
    assert json.loads(base64.urlsafe_b64decode(header))["username"] == "alice"
    assert daemon.requests[-1].query == "fromImage=127.0.0.1%3A5000%2Fapp&tag=1"

    assert main(["logout", "127.0.0.1:5000"]) == 0
    assert capsys.readouterr().out.endswith("Removing login credentials for 127.0.0.1:5000\n")
    assert main(["logout", "127.0.0.1:5000"]) == 0
    assert capsys.readouterr().out == "Not logged in to 127.0.0.1:5000\n"


def test_login_errors(daemon, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    daemon.routes[("POST", "/auth")] = lambda r: response(401, {"message": "login attempt failed"})
    assert main(["-H", daemon.host, "login", "-u", "a", "-p", "b", "reg"]) == 1
    err = capsys.readouterr().err
    assert err == ("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
                   "Error response from daemon: login attempt failed\n")
    assert not (tmp_path / "config.json").exists()


def test_format_event(monkeypatch):
    import time
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        ev = {"Type": "container", "Action": "die", "Actor": {"ID": "abc", "Attributes": {"name": "w", "exitCode": "0"}},
              "time": 1, "timeNano": 1_000_000_123}
        assert format_event(ev) == "1970-01-01T00:00:01.000000123Z container die abc (exitCode=0, name=w)"
        monkeypatch.setenv("TZ", "CET-1")
        time.tzset()
        assert format_event(ev).startswith("1970-01-01T01:00:01.000000123+01:00 ")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_format_info_sections():
    lines, warnings = format_info({
        "Containers": 2, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 1, "Images": 3,
        "ServerVersion": "28.2.2", "Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge"], "Log": ["json-file"]},
        "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"runc": {}, "pyrunc": {}}, "DefaultRuntime": "runc",
        "OSType": "linux", "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "MemTotal": 2 * 1024 ** 3, "NCPU": 2, "RegistryConfig": {"InsecureRegistryCIDRs": ["127.0.0.0/8"]},
        "Warnings": ["WARNING: no swap limit"]})
    text = "\n".join(lines)
    assert " Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 3\n" in text + "\n"
    assert "  Backing Filesystem: extfs" in lines and " Runtimes: pyrunc runc" in lines
    assert " Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns" in text
    assert " Total Memory: 2GiB" in lines and " Insecure Registries:\n  127.0.0.0/8" in text
    assert warnings == ["WARNING: no swap limit"]


def test_config_formats_and_detach_keys(daemon, tmp_path, monkeypatch, capsys):
    import cli.config
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setattr(cli.config, "_cache", [])
    (tmp_path / "config.json").write_text(json.dumps({"psFormat": "table {{.Names}}\\t{{.Status}}",
                                                      "detachKeys": "ctrl-a,x"}))
    daemon.routes[("GET", "/containers/json")] = lambda r: response(200, [
        {"Id": "a" * 64, "Names": ["/web"], "Status": "Up 1 second", "Created": 0}])
    assert main(["-H", daemon.host, "ps"]) == 0
    assert capsys.readouterr().out == "NAMES     STATUS\nweb       Up 1 second\n"
    assert main(["-H", daemon.host, "ps", "--format", "{{.ID}}"]) == 0  # the flag wins
    assert capsys.readouterr().out == "a" * 12 + "\n"
    from cli.tty import detach_keys, parse_detach_keys
    assert parse_detach_keys(detach_keys("")) == b"\x01x" and detach_keys("ctrl-q") == "ctrl-q"
