"""Endpoints from the docker CLI's context store (~/.docker/contexts)."""
import hashlib
import json

import pytest

from cli.main import main


def store_context(cfgdir, name, host):
    meta = cfgdir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {},
                                                "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}))


@pytest.fixture
def cfgdir(tmp_path, monkeypatch):
    import cli.config
    monkeypatch.setattr(cli.config, "_cache", [])
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    return tmp_path


def test_context_flag_env_and_current_context(daemon, cfgdir, monkeypatch, capsys):
    from cli_fakedaemon import response
    daemon.routes[("GET", "/containers/json")] = lambda r: response(200, [])
    store_context(cfgdir, "pyd", daemon.host)
    assert main(["-c", "pyd", "ps", "-q"]) == 0
    monkeypatch.setenv("DOCKER_CONTEXT", "pyd")
    assert main(["ps", "-q"]) == 0
    monkeypatch.delenv("DOCKER_CONTEXT")
    (cfgdir / "config.json").write_text(json.dumps({"currentContext": "pyd"}))
    assert main(["ps", "-q"]) == 0
    assert len([r for r in daemon.requests if r.path.endswith("/containers/json")]) == 3


def test_context_errors(cfgdir, capsys):
    assert main(["-c", "nope", "ps"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('Failed to initialize: unable to resolve docker endpoint: context "nope": context not found: open ')
    assert main(["-c", "x", "-H", "unix:///x", "ps"]) == 1
    assert capsys.readouterr().err == "conflicting options: cannot specify both --host and --context\n"
    assert main(["-H", "unix:///a", "-H", "unix:///b", "ps"]) == 1
    assert capsys.readouterr().err == "Failed to initialize: unable to resolve docker endpoint: Specify only one -H\n"


def test_context_commands_roundtrip(daemon, cfgdir, capsys):
    from cli_fakedaemon import response
    daemon.routes[("GET", "/containers/json")] = lambda r: response(200, [])
    assert main(["context", "create", "pyd", "--docker", f"host={daemon.host}", "--description", "mine"]) == 0
    assert capsys.readouterr().out == "pyd\n"
    assert main(["context", "ls", "--format", "{{.Name}} {{.DockerEndpoint}} {{.Description}}"]) == 0
    assert capsys.readouterr().out == ("default unix:///run/pydocker.sock Current DOCKER_HOST based configuration\n"
                                       f"pyd {daemon.host} mine\n")
    assert main(["context", "use", "pyd"]) == 0
    assert json.loads((cfgdir / "config.json").read_text())["currentContext"] == "pyd"
    capsys.readouterr()
    assert main(["context", "show"]) == 0 and capsys.readouterr().out == "pyd\n"
    assert main(["ps", "-q"]) == 0  # goes to the context's endpoint
    assert any(r.path.endswith("/containers/json") for r in daemon.requests)
    assert main(["context", "rm", "pyd"]) == 1
    assert capsys.readouterr().err == 'context "pyd" is in use, set -f flag to force remove\n'
    assert main(["context", "rm", "-f", "pyd"]) == 0
    assert "currentContext" not in json.loads((cfgdir / "config.json").read_text())
    assert main(["context", "create", "default"]) == 1
    assert capsys.readouterr().err == '"default" is a reserved context name\n'
