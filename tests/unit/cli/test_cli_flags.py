"""The flag parser: pflag syntax and Docker's usage-error wording."""
import pytest

from cli import flags as F
from cli.errors import UsageError

FLAGS = [
    F.Flag("detach", "d", F.BOOL),
    F.Flag("interactive", "i", F.BOOL),
    F.Flag("tty", "t", F.BOOL),
    F.Flag("env", "e", F.LIST),
    F.Flag("name", "", F.STR, ""),
    F.Flag("time", "", F.INT, 10),
    F.Flag("count", "c", F.INT, 1),
]


def test_long_short_combined_and_values():
    opts, args = F.parse(FLAGS, ["-it", "--name=web", "-e", "A=1", "-eB=2", "--env", "C", "img", "sh"],
                         interspersed=False)
    assert opts.interactive and opts.tty and not opts.detach
    assert opts.name == "web"
    assert opts.env == ["A=1", "B=2", "C"]
    assert args == ["img", "sh"]
    assert {"interactive", "tty", "name", "env"} <= opts.changed


def test_interspersed_false_stops_at_first_positional():
    opts, args = F.parse(FLAGS, ["img", "-d", "--rm"], interspersed=False)
    assert args == ["img", "-d", "--rm"] and not opts.detach


def test_interspersed_true_collects_flags_after_args():
    opts, args = F.parse(FLAGS, ["a", "-d", "b", "--", "-i"])
    assert opts.detach and args == ["a", "b", "-i"] and not opts.interactive


def test_bool_with_value_and_int():
    opts, _ = F.parse(FLAGS, ["--detach=false", "--time", "3"])
    assert opts.detach is False and opts.time == 3


@pytest.mark.parametrize("argv,message", [
    (["--x"], "unknown flag: --x"),
    (["-z"], "unknown shorthand flag: 'z' in -z"),
    (["-dz"], "unknown shorthand flag: 'z' in -dz"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["--name"], "flag needs an argument: --name"),
    (["--time", "x"], 'invalid argument "x" for "--time" flag: strconv.ParseInt: parsing "x": invalid syntax'),
    (["--detach=maybe"], 'invalid argument "maybe" for "-d, --detach" flag: strconv.ParseBool: parsing "maybe": invalid syntax'),
    (["--count", "x"], 'invalid argument "x" for "-c, --count" flag: strconv.ParseInt: parsing "x": invalid syntax'),
])
def test_flag_errors_exit_125(argv, message):
    with pytest.raises(UsageError) as e:
        F.parse(FLAGS, argv)
    assert e.value.message == message
    assert e.value.status == 125 and not e.value.arity


@pytest.mark.parametrize("lo,hi,n,message,see", [
    (0, 0, 1, "'docker ps' accepts no arguments", False),
    (1, 1, 0, "'docker ps' requires 1 argument", False),
    (2, 2, 1, "'docker ps' requires 2 arguments", False),
    (1, None, 0, "'docker ps' requires at least 1 argument", True),
    (1, 2, 3, "'docker ps' requires at least 1 and at most 2 arguments", True),
])
def test_arity_messages(lo, hi, n, message, see):
    cmd = F.Command("ps", "", "", [], min_args=lo, max_args=hi)
    with pytest.raises(UsageError) as e:
        F.check_args("docker ps", cmd, ["x"] * n)
    assert e.value.message == message and e.value.status == 1 and e.value.see is see


def test_arity_ok():
    F.check_args("docker x", F.Command("x", "", "", [], min_args=1, max_args=2), ["a", "b"])


def test_help_text_lists_flags():
    text = F.help_text("run", F.Command("run", "[OPTIONS] IMAGE", "Create and run", FLAGS))
    assert text.startswith("Usage:  docker run [OPTIONS] IMAGE\n\nCreate and run\n")
    assert "  -d, --detach" in text and "      --name string" in text and "--help" not in text
    with_h = F.help_text("x", F.Command("x", "", "X", [F.Flag("hostname", "h", F.STR, "", "Host name")]))
    assert "      --help              Print usage" in with_h  # -h is taken, so --help is listed


@pytest.mark.parametrize("argv", [["logs"], ["stop"], ["exec"], ["rm"], ["kill"], ["tag"], ["rename"], ["top"],
                                  ["volume", "ls"], ["wait"], ["ps"], ["network", "ls"]])
def test_help_matches_the_docker_cli(argv):
    """Byte-for-byte against /usr/local/bin/docker (needs no daemon)."""
    import os
    import subprocess
    import sys
    if not os.path.exists("/usr/local/bin/docker"):
        pytest.skip("docker CLI 28 not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    theirs = subprocess.run(["/usr/local/bin/docker", *argv, "--help"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, env=env)
    ours = subprocess.run([sys.executable, "-m", "cli.main", *argv, "--help"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env)
    assert ours.stdout == theirs.stdout
