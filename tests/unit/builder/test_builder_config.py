"""Config mutations as pure functions, `--change` handling, and the Go formatting they rely on."""
from __future__ import annotations

import pytest

from pydockerd.builder import gofmt
from pydockerd.builder.dockerfile import parse_instruction, parse
from pydockerd.builder.errors import DockerfileError
from pydockerd.builder.plan import (Mutation, apply_changes, apply_instruction, new_config,
                                    with_comment, created_by)
from pydockerd.builder.shell_lex import Lexer


def inst(line: str):
    return parse_instruction(parse(line).nodes[0])


def test_apply_instruction_is_pure():
    base = new_config()
    base["Env"] = ["PATH=/bin"]
    m = apply_instruction(base, inst("ENV A=1 PATH=/x"))
    assert isinstance(m, Mutation)
    assert m.config["Env"] == ["PATH=/x", "A=1"] and m.comment == "ENV A=1 PATH=/x"
    assert base["Env"] == ["PATH=/bin"]     # the input is left alone


@pytest.mark.parametrize("line,key,value,comment", [
    ('CMD ["a", "b"]', "Cmd", ["a", "b"], 'CMD ["a" "b"]'),
    ("CMD echo hi", "Cmd", ["/bin/sh", "-c", "echo hi"], 'CMD ["/bin/sh" "-c" "echo hi"]'),
    ("ENTRYPOINT []", "Entrypoint", None, "ENTRYPOINT []"),
    ("USER 1:2", "User", "1:2", "USER 1:2"),
    ("WORKDIR rel", "WorkingDir", "/cur/rel", "WORKDIR /cur/rel"),
    ("VOLUME /a /b", "Volumes", {"/a": {}, "/b": {}}, "VOLUME [/a /b]"),
    ("EXPOSE 80 53/udp", "ExposedPorts", {"80/tcp": {}, "53/udp": {}}, "EXPOSE 53/udp 80"),  # sorted
    ("LABEL a=b", "Labels", {"a": "b"}, "LABEL a=b"),
    ("STOPSIGNAL 9", "StopSignal", "9", "STOPSIGNAL 9"),
    ('SHELL ["/bin/bash", "-c"]', "Shell", ["/bin/bash", "-c"], "SHELL [/bin/bash -c]"),
    ("ONBUILD RUN make", "OnBuild", ["RUN make"], "ONBUILD RUN make"),
    ("HEALTHCHECK --timeout=3s CMD true", "Healthcheck",
     {"Test": ["CMD-SHELL", "true"], "Timeout": 3_000_000_000},
     'HEALTHCHECK &{["CMD-SHELL" "true"] "0s" "3s" "0s" \'\\x00\'}'),
])
def test_each_metadata_instruction(line, key, value, comment):
    cfg = new_config()
    cfg["WorkingDir"] = "/cur"
    m = apply_instruction(cfg, inst(line))
    assert m.config[key] == value
    assert m.comment == comment


def test_workdir_is_recorded_as_one_word():
    m = apply_instruction(new_config(), inst("WORKDIR /app"))
    assert m.single
    assert created_by(with_comment(m.config, m.comment, m.single)) == "/bin/sh -c #(nop) WORKDIR /app"
    m = apply_instruction(new_config(), inst("USER x"))
    assert created_by(with_comment(m.config, m.comment, m.single)) == "/bin/sh -c #(nop)  USER x"


def test_entrypoint_keeps_cmd_set_in_the_same_stage():
    cfg = new_config()
    cfg["Cmd"] = ["inherited"]
    m = apply_instruction(cfg, inst('CMD ["mine"]'))
    assert m.cmd_set
    m2 = apply_instruction(m.config, inst("ENTRYPOINT x"), cmd_set=m.cmd_set)
    assert m2.config["Cmd"] == ["mine"]
    assert apply_instruction(cfg, inst("ENTRYPOINT x")).config["Cmd"] is None


def test_expose_expands_and_splits_with_a_lexer():
    m = apply_instruction(new_config(), inst("EXPOSE $PORTS"), lexer=Lexer(), env=["PORTS=1 2/udp"])
    assert set(m.config["ExposedPorts"]) == {"1/tcp", "2/udp"}
    assert m.comment == "EXPOSE 1 2/udp"


def test_run_is_not_a_metadata_instruction():
    with pytest.raises(DockerfileError):
        apply_instruction(new_config(), inst("RUN x"))


def test_apply_changes_like_docker_commit():
    # `docker commit --change 'ENV A=1' --change 'ENTRYPOINT ["e"]' --change 'EXPOSE 80'
    #  --change 'WORKDIR rel'` on an imported busybox gave this config (dockerd 20.10).
    cfg = apply_changes(new_config(), ["ENV A=1", 'ENTRYPOINT ["e"]', "EXPOSE 80", "WORKDIR rel"])
    assert cfg["Env"] == ["A=1"] and cfg["Entrypoint"] == ["e"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["WorkingDir"] == "/rel"
    assert apply_changes(new_config(), ["ENV B=2", "ENV C=$B"])["Env"] == ["B=2", "C=2"]
    with pytest.raises(DockerfileError, match="^run is not a valid change command$"):
        apply_changes(new_config(), ["RUN x"])
    assert apply_changes({"Cmd": ["x"]}, []) == {"Cmd": ["x"]}


# -- Go formatting ------------------------------------------------------------------------------

@pytest.mark.parametrize("s,quoted", [
    ("plain", '"plain"'), ('q"b\\', '"q\\"b\\\\"'), ("tab\tnl\n", '"tab\\tnl\\n"'),
    ("é ü", '"é ü"'), ("\x01\x7f", '"\\x01\\x7f"'), ("\u200b", '"\\u200b"'),
])
def test_quote(s, quoted):
    assert gofmt.quote(s) == quoted


def test_slices():
    assert gofmt.quote_slice(["a b", "c"]) == '["a b" "c"]'
    assert gofmt.quote_slice(None) == "[]"
    assert gofmt.value_slice(["/a", "/b c"]) == "[/a /b c]"


@pytest.mark.parametrize("text,ns", [
    ("5s", 5_000_000_000), ("1m30s", 90_000_000_000), ("1.5h", 5_400_000_000_000),
    ("300ms", 300_000_000), ("2us", 2000), ("2µs", 2000), ("10ns", 10), ("0", 0),
    ("-1s", -1_000_000_000), (".5s", 500_000_000), ("1h2m3.5s", 3_723_500_000_000),
])
def test_parse_duration(text, ns):
    assert gofmt.parse_duration(text) == ns


@pytest.mark.parametrize("text,message", [
    ("", 'time: invalid duration ""'), ("abc", 'time: invalid duration "abc"'),
    ("5", 'time: missing unit in duration "5"'), ("5x", 'time: unknown unit "x" in duration "5x"'),
    (".s", 'time: invalid duration ".s"'),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(gofmt.DurationError) as exc:
        gofmt.parse_duration(text)
    assert str(exc.value) == message


@pytest.mark.parametrize("ns,text", [
    (0, "0s"), (5_000_000_000, "5s"), (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"),
    (1_500_000_000, "1.5s"), (300_000_000, "300ms"), (1_500_000, "1.5ms"), (2000, "2µs"),
    (10, "10ns"), (-1_000_000_000, "-1s"),
])
def test_format_duration(ns, text):
    assert gofmt.format_duration(ns) == text
