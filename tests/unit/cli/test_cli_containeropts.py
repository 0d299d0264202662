"""Translation of run/create flags into the create request body."""
import pytest

from cli import flags as F
from cli.containeropts import (CREATE_FLAGS, RUN_ONLY_FLAGS, build_create_request, normalize_caps,
                               parse_mount, parse_publish, parse_restart, parse_volumes)
from cli.errors import CLIError


def build(argv, detach=False, env=None, monkeypatch=None):
    opts, args = F.parse(CREATE_FLAGS + RUN_ONLY_FLAGS, argv, interspersed=False)
    return build_create_request(opts, args[0], args[1:], detach or opts.detach)


def test_defaults_attach_stdout_and_stderr():
    body = build(["busybox", "echo", "hi"])
    assert body["Image"] == "busybox" and body["Cmd"] == ["echo", "hi"]
    assert (body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]) == (False, True, True)
    assert body["OpenStdin"] is False and body["StdinOnce"] is False and body["Tty"] is False
    assert body["HostConfig"]["NetworkMode"] == "default" and body["HostConfig"]["AutoRemove"] is False
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"default": {}}}
    assert body["Cmd"] and body["Entrypoint"] is None


def test_interactive_tty_detach_rm():
    body = build(["-it", "--rm", "busybox"])
    assert body["AttachStdin"] and body["OpenStdin"] and body["StdinOnce"] and body["Tty"]
    assert body["HostConfig"]["AutoRemove"] is True and body["Cmd"] is None
    body = build(["-d", "-i", "busybox"])
    assert not (body["AttachStdin"] or body["AttachStdout"] or body["AttachStderr"])
    assert body["OpenStdin"] and not body["StdinOnce"]


def test_env_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("FROM_HOST", "h")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    f = tmp_path / "env"
    f.write_text("# comment\nFILE_A=1\n\nFROM_HOST\n")
    body = build(["-e", "A=1", "-e", "FROM_HOST", "-e", "UNSET_VAR", "--env-file", str(f), "busybox"])
    assert body["Env"] == ["FILE_A=1", "FROM_HOST=h", "A=1", "FROM_HOST=h"]


def test_ports_volumes_labels_caps_resources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    body = build(["-p", "8080:80", "-p", "127.0.0.1::53/udp", "--expose", "9000-9001", "-v", "./data:/d:ro",
                  "-v", "named:/n", "-v", "/anon", "-l", "a=b", "--cap-drop", "net_raw", "--cap-add", "ALL",
                  "-m", "64m", "--cpus", "1.5", "--restart", "on-failure:3", "--entrypoint", "",
                  "--name", "x", "--tmpfs", "/run:size=1m", "--network", "n1", "--network-alias", "web", "busybox"])
    hc = body["HostConfig"]
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "9000/tcp": {}, "9001/tcp": {}}
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}],
                                  "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
    assert hc["Binds"] == [f"{tmp_path}/data:/d:ro", "named:/n"] and body["Volumes"] == {"/anon": {}}
    assert body["Labels"] == {"a": "b"}
    assert hc["CapDrop"] == ["CAP_NET_RAW"] and hc["CapAdd"] == ["ALL"]
    assert hc["Memory"] == 64 << 20 and hc["NanoCpus"] == 1_500_000_000
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert body["Entrypoint"] == [""] and hc["Tmpfs"] == {"/run": "size=1m"}
    assert hc["NetworkMode"] == "n1"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"n1": {"Aliases": ["web"]}}}


def test_conflicts():
    with pytest.raises(CLIError, match="conflicting options: cannot specify both --restart and --rm"):
        build(["--rm", "--restart", "always", "busybox"])


@pytest.mark.parametrize("argv,message", [
    (["--cpus", "abc"], 'invalid argument "abc" for "--cpus" flag: failed to parse abc as a rational number'),
    (["-m", "1x"], "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'"),
    (["--memory", "abc"], "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'"),
    (["-e", "=x"], 'invalid argument "=x" for "-e, --env" flag: invalid environment variable: =x'),
    (["--mount", "type=bind"], 'invalid argument "type=bind" for "--mount" flag: target is required'),
    (["--health-interval", "5"], 'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"'),
])
def test_flag_values_are_validated_while_parsing(argv, message):
    from cli.errors import UsageError
    with pytest.raises(UsageError) as e:
        F.parse(CREATE_FLAGS, argv + ["busybox"], interspersed=False)
    assert e.value.message == message and e.value.status == 125


def test_parsers():
    assert parse_publish(["8000-8001:80-81"])[1] == {"80/tcp": [{"HostIp": "", "HostPort": "8000"}],
                                                     "81/tcp": [{"HostIp": "", "HostPort": "8001"}]}
    assert parse_publish(["[::1]:8080:80"])[1] == {"80/tcp": [{"HostIp": "::1", "HostPort": "8080"}]}
    with pytest.raises(CLIError, match="invalid IP address: 1:2"):
        parse_publish(["1:2:3:4"])
    with pytest.raises(CLIError, match="invalid hostPort: x"):
        parse_publish(["x:80"])
    assert parse_mount("type=bind,src=/h,dst=/c,readonly") == {"Type": "bind", "Source": "/h", "Target": "/c",
                                                               "ReadOnly": True}
    assert parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")["TmpfsOptions"] == {"SizeBytes": 1 << 20}
    with pytest.raises(CLIError, match="target is required"):
        parse_mount("type=volume,src=v")
    assert parse_restart("") == {"Name": "no", "MaximumRetryCount": 0}
    assert parse_restart("bogus") == {"Name": "bogus", "MaximumRetryCount": 0}  # the daemon judges names
    with pytest.raises(CLIError, match="maximum retry count must be an integer"):
        parse_restart("on-failure:x")
    assert normalize_caps(["net_admin", "CAP_NET_ADMIN", "sys_time"]) == ["CAP_NET_ADMIN", "CAP_SYS_TIME"]
    assert parse_volumes(["/a:/b", "v:/c:rw"]) == (["/a:/b", "v:/c:rw"], {})
