"""Command dispatch and usage errors, which never reach the daemon."""
import pytest

from cli.main import main


@pytest.mark.parametrize("argv,err,code", [
    (["run", "--x", "busybox"], "unknown flag: --x\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n"
                                "Run 'docker run --help' for more information\n", 125),
    (["run"], "docker: 'docker run' requires at least 1 argument\n\nUsage:  docker run [OPTIONS] IMAGE "
              "[COMMAND] [ARG...]\n\nSee 'docker run --help' for more information\n", 1),
    (["ps", "x"], "docker: 'docker ps' accepts no arguments\n\nUsage:  docker ps [OPTIONS]\n\n"
                  "Run 'docker ps --help' for more information\n", 1),
    (["container", "ls", "-z"], "unknown shorthand flag: 'z' in -z\n\nUsage:  docker container ls [OPTIONS]\n\n"
                                "Run 'docker container ls --help' for more information\n", 125),
    (["rename", "a"], "docker: 'docker rename' requires 2 arguments\n\nUsage:  docker rename CONTAINER NEW_NAME"
                      "\n\nRun 'docker rename --help' for more information\n", 1),
    (["foo"], "docker: unknown command: docker foo\n\nRun 'docker --help' for more information\n", 1),
    (["container", "foo"], "docker: unknown command: docker container foo\n\nUsage:  docker container\n\n"
                           "Run 'docker container --help' for more information\n", 1),
    (["--x"], "unknown flag: --x\n\nUsage:  docker [OPTIONS] COMMAND [ARG...]\n\n"
              "Run 'docker --help' for more information\n", 125),
])
def test_usage_errors(argv, err, code, capsys):
    assert main(argv) == code
    assert capsys.readouterr().err == err


def test_help_and_version(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n") and "--detach" in out
    assert main(["-v"]) == 0 and capsys.readouterr().out.startswith("Docker version ")
    assert main(["container"]) == 0 and "  ls          List containers" in capsys.readouterr().out
    assert main([]) == 0 and "Common Commands:" in capsys.readouterr().out


def test_every_registered_command_loads():
    from cli.main import COMMON, GROUPS, OTHER, load_command
    entries = list(COMMON.values()) + list(OTHER.values()) + [e for g in GROUPS.values() for e in g[1].values()]
    for module, attr, _ in entries:
        cmd = load_command(module, attr)
        assert cmd.run is not None, (module, attr)


def test_daemon_unreachable(tmp_path, capsys):
    assert main(["-H", f"unix://{tmp_path}/x.sock", "ps"]) == 1
    assert capsys.readouterr().err == (f"Cannot connect to the Docker daemon at unix://{tmp_path}/x.sock. "
                                       "Is the docker daemon running?\n")
