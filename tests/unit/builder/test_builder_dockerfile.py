"""Dockerfile parser: expected texts are what dockerd 20.10's classic builder answers."""
from __future__ import annotations

import pytest

from pydockerd.builder import dockerfile as D
from pydockerd.builder.errors import DockerfileError, ParseError


def one(src: str):
    """The single instruction of a one-stage Dockerfile after `FROM busybox`."""
    df = D.parse_dockerfile("FROM busybox\n" + src)
    assert len(df.stages) == 1 and len(df.stages[0].commands) == 1
    return df.stages[0].commands[0]


def err(src: str) -> str:
    with pytest.raises(DockerfileError) as exc:
        D.parse_dockerfile(src)
    return exc.value.message


# -- line parser ---------------------------------------------------------------------------------

def test_directives_escape_backtick_and_syntax_ignored():
    df = D.parse_dockerfile("# syntax=docker/dockerfile:1\n# escape=`\nFROM busybox\n"
                            "RUN echo a `\n  b\nCOPY a\\b c\\\n")
    assert df.escape_token == "`"
    run, cp = df.stages[0].commands
    assert run.cmd_line == ["echo a   b"]
    # with ` as escape, a trailing backslash is an ordinary character
    assert cp.sources == ["a\\b"] and cp.dest == "c\\"


def test_directive_after_instruction_or_comment_is_a_comment():
    df = D.parse_dockerfile("# hello\n# escape=`\nFROM busybox\nRUN a \\\n b\n")
    assert df.escape_token == "\\"
    assert df.stages[0].commands[0].cmd_line == ["a  b"]


def test_directive_errors():
    assert err("# escape=x\nFROM busybox") == \
        "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\"
    assert err("# escape=`\n# escape=`\nFROM busybox") == \
        "failed to parse Dockerfile: only one escape parser directive can be used"


def test_continuation_skips_comment_lines_and_warns_on_empty_lines():
    res = D.parse("FROM busybox\nRUN echo a \\\n# inside\n\n    b\n")
    run = res.nodes[1]
    assert run.original == "RUN echo a     b"
    assert (run.start_line, run.end_line) == (2, 5)
    assert res.warning_text() == ("[WARNING]: Empty continuation line found in:\n"
                                  "    RUN echo a     b\n"
                                  "[WARNING]: Empty continuation lines will become errors in a "
                                  "future release.\n")


def test_escaped_escape_ends_the_line():
    # `a \\` ends in an escaped escape: no continuation, so `b` is an instruction of its own.
    res = D.parse("FROM busybox\nRUN a \\\\\nb\n")
    assert res.nodes[1].original == "RUN a \\\\"
    assert res.nodes[2].value == "b"
    # a lone escape on its own line continues
    assert D.parse("FROM busybox\nRUN a\\\n\\\nb\n").nodes[1].original == "RUN ab"


def test_crlf_bom_and_leading_whitespace():
    res = D.parse(b"\xef\xbb\xbfFROM busybox\r\n   RUN  x\r\n")
    assert [n.value for n in res.nodes] == ["from", "run"]
    assert res.nodes[1].original == "RUN  x"
    assert res.nodes[1].args == ["x"]


def test_empty_and_comment_only_files():
    assert err("") == "the Dockerfile (Dockerfile) cannot be empty"
    assert err("# just a comment\n") == "failed to parse Dockerfile: file with no instructions"


def test_unknown_instruction_and_instruction_before_from():
    assert err("FROM busybox\nFOO bar\n") == "dockerfile parse error line 2: unknown instruction: FOO"
    assert err("RUN echo x\n") == "no build stage in current context"


def test_parse_error_carries_line():
    with pytest.raises(ParseError) as exc:
        D.parse_dockerfile("FROM busybox\n\n\nSHELL /bin/sh -c\n")
    assert exc.value.line == 4
    assert exc.value.message == \
        "dockerfile parse error line 4: SHELL requires the arguments to be in JSON form"


# -- exec vs shell form ------------------------------------------------------------------------

def test_json_and_shell_forms():
    run = one('RUN ["echo", "a b"]')
    assert (run.cmd_line, run.prepend_shell) == (["echo", "a b"], False)
    run = one("RUN echo   $HOME  'x'")
    assert (run.cmd_line, run.prepend_shell) == (["echo   $HOME  'x'"], True)


def test_invalid_json_falls_back_to_shell_form():
    cmd = one("CMD [echo, hi]")
    assert (cmd.cmd_line, cmd.prepend_shell) == (["[echo, hi]"], True)
    cmd = one("CMD ['single']")
    assert cmd.cmd_line == ["['single']"]


def test_json_trailing_text_ignored_like_go_decoder():
    cmd = one('CMD ["sh", "-c"] trailing')
    assert (cmd.cmd_line, cmd.prepend_shell) == (["sh", "-c"], False)
    assert cmd.code == 'CMD ["sh", "-c"] trailing'


def test_json_with_non_strings_is_an_error():
    assert err('FROM busybox\nCMD ["a", 1]') == ("failed to parse Dockerfile: when using JSON array "
                                                 "syntax, arrays must be comprised of strings only")


def test_empty_entrypoint_is_nil_empty_cmd_is_not():
    assert one("ENTRYPOINT []").cmd_line is None
    assert one("CMD []").cmd_line == []
    cmd = one("CMD")
    assert (cmd.cmd_line, cmd.prepend_shell) == ([], True)


# -- FROM and stages ---------------------------------------------------------------------------

def test_stages_names_indexes_and_meta_args():
    df = D.parse_dockerfile("ARG A=1\nARG B\nFROM --platform=linux/amd64 busybox AS Build\n"
                            "RUN x\nFROM scratch\nCOPY --from=build /a /b\n")
    assert [(a.args[0].key, a.args[0].value) for a in df.meta_args] == [("A", "1"), ("B", None)]
    s0, s1 = df.stages
    assert (s0.name, s0.index, s0.base_name, s0.platform) == ("build", 0, "busybox", "linux/amd64")
    assert s0.code == "FROM --platform=linux/amd64 busybox AS Build"
    assert (s1.name, s1.index, s1.base_name) == ("", 1, "scratch")
    assert s1.commands[0].from_ == "build"


def test_from_errors():
    assert err("FROM busybox a b c d") == \
        "dockerfile parse error line 1: FROM requires either one or three arguments"
    assert err("FROM busybox AS 1x") == ('dockerfile parse error line 1: invalid name for build '
                                         'stage: "1x", name can\'t start with a number or contain symbols')
    assert err("FROM --foo=1 busybox") == "dockerfile parse error line 1: Unknown flag: foo"
    assert err("FROM --platform busybox") == \
        "dockerfile parse error line 1: Missing a value on flag: platform"


def test_arg_after_from_belongs_to_the_stage():
    df = D.parse_dockerfile("FROM busybox\nARG X=\"a b\" Y\n")
    arg = df.stages[0].commands[0]
    assert [(p.key, p.value) for p in arg.args] == [("X", '"a b"'), ("Y", None)]
    assert df.meta_args == []
    assert err("FROM busybox\nARG =x") == "dockerfile parse error line 2: ARG names can not be blank"


# -- instructions --------------------------------------------------------------------------------

def test_env_both_forms():
    assert one('ENV A=1 B="two words" C=a\\ b').pairs == [("A", "1"), ("B", '"two words"'),
                                                          ("C", "a\\ b")]
    assert one("ENV OLD value with  spaces").pairs == [("OLD", "value with  spaces")]
    assert err("FROM busybox\nENV X") == "failed to parse Dockerfile: ENV must have two arguments"
    assert err("FROM busybox\nENV a=b c") == ('failed to parse Dockerfile: Syntax error - can\'t '
                                              'find = in "c". Must be of the form: name=value')
    assert err("FROM busybox\nENV") == "dockerfile parse error line 2: ENV requires at least one argument"


def test_label():
    assert one('LABEL "a b"=c d=\'e f\'').pairs == [('"a b"', "c"), ("d", "'e f'")]
    assert err("FROM busybox\nLABEL x") == "failed to parse Dockerfile: LABEL must have two arguments"


def test_copy_add_flags_and_forms():
    cp = one('COPY --chown=1:2 --chmod=755 --from=0 ["a b", "c/"]')
    assert (cp.sources, cp.dest, cp.chown, cp.chmod, cp.from_) == (["a b"], "c/", "1:2", "755", "0")
    add = one("ADD  a  b   /dst/")
    assert (add.sources, add.dest) == (["a", "b"], "/dst/")
    assert err("FROM busybox\nCOPY a.txt") == ("dockerfile parse error line 2: COPY requires at "
                                               "least two arguments, but only one was provided. "
                                               "Destination could not be determined")
    assert err("FROM busybox\nADD --from=x a b") == "dockerfile parse error line 2: Unknown flag: from"
    assert err("FROM busybox\nCOPY --chown=1 --chown=2 a b") == \
        "dockerfile parse error line 2: Duplicate flag specified: chown"


def test_flag_quotes_and_double_dash():
    cp = one('COPY --chown="a b" -- --weird dst')
    assert cp.chown == "a b"
    assert cp.sources == ["--weird"]


def test_run_mount_is_parsed_for_the_buildkit_error():
    run = one("RUN --mount=type=cache,target=/x echo")
    assert run.flags_used == ["mount"] and run.cmd_line == ["echo"]
    assert err("FROM busybox\nRUN --network=none echo") == \
        "dockerfile parse error line 2: Unknown flag: network"


def test_workdir_user_stopsignal_maintainer_take_the_whole_rest():
    assert one("WORKDIR /a b").path == "/a b"
    assert one("USER  app:grp ").user == "app:grp"
    assert one("STOPSIGNAL SIGKILL").signal == "SIGKILL"
    assert one("MAINTAINER Jane <j@x>").maintainer == "Jane <j@x>"
    assert err("FROM busybox\nWORKDIR") == "dockerfile parse error line 2: WORKDIR requires exactly one argument"


def test_expose_sorted_volume_forms():
    assert one("EXPOSE 8080 443/udp 80").ports == ["443/udp", "80", "8080"]
    assert one('VOLUME ["/a", "/b c"]').volumes == ["/a", "/b c"]
    assert one("VOLUME /a   /b").volumes == ["/a", "/b"]
    assert err('FROM busybox\nVOLUME [""]') == \
        "dockerfile parse error line 2: VOLUME specified can not be an empty string"


def test_healthcheck_cmd_and_options():
    hc = one("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=1.5s --retries=3 "
             "CMD curl -f http://x/ || exit 1")
    assert hc.health == {"Test": ["CMD-SHELL", "curl -f http://x/ || exit 1"],
                         "Interval": 5_000_000_000, "Timeout": 90_000_000_000,
                         "StartPeriod": 1_500_000_000, "Retries": 3}
    assert one('HEALTHCHECK CMD ["wget", "x"]').health["Test"] == ["CMD", "wget", "x"]
    assert one("HEALTHCHECK none").health == {"Test": ["NONE"]}


def test_healthcheck_errors():
    pre = "dockerfile parse error line 2: "
    assert err("FROM busybox\nHEALTHCHECK --interval=0s CMD x") == \
        pre + 'Interval "interval" cannot be less than 1ms'
    assert err("FROM busybox\nHEALTHCHECK --retries=0 CMD x") == pre + "--retries must be at least 1 (not 0)"
    assert err("FROM busybox\nHEALTHCHECK FOO x") == pre + 'Unknown type "FOO" in HEALTHCHECK (try CMD)'
    assert err("FROM busybox\nHEALTHCHECK NONE x") == pre + "HEALTHCHECK NONE takes no arguments"
    assert err("FROM busybox\nHEALTHCHECK CMD") == pre + "Missing command after HEALTHCHECK CMD"
    assert err("FROM busybox\nHEALTHCHECK --interval=5 CMD x") == \
        pre + 'time: missing unit in duration "5"'
    assert err("FROM busybox\nHEALTHCHECK --retries=x CMD x") == \
        pre + 'strconv.ParseInt: parsing "x": invalid syntax'


def test_shell_requires_json():
    assert one('SHELL ["/bin/bash", "-c"]').shell == ["/bin/bash", "-c"]
    assert err("FROM busybox\nSHELL") == "dockerfile parse error line 2: SHELL requires at least one argument"


def test_onbuild_trigger():
    ob = one("onbuild   RUN echo  hi")
    assert ob.expression == "RUN echo  hi"
    assert ob.code == "onbuild   RUN echo  hi"
    pre = "dockerfile parse error line 2: "
    assert err("FROM busybox\nONBUILD FROM x") == pre + "FROM isn't allowed as an ONBUILD trigger"
    assert err("FROM busybox\nONBUILD MAINTAINER x") == pre + "MAINTAINER isn't allowed as an ONBUILD trigger"
    assert err("FROM busybox\nONBUILD ONBUILD RUN x") == \
        pre + "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    assert err("FROM busybox\nONBUILD") == pre + "ONBUILD requires at least one argument"


def test_parse_trigger():
    env = D.parse_trigger("ENV X=1")
    assert isinstance(env, D.Env) and env.pairs == [("X", "1")]
    with pytest.raises(DockerfileError, match="unknown instruction: BOGUS"):
        D.parse_trigger("BOGUS x")


def test_instruction_keywords_are_case_insensitive_and_code_is_verbatim():
    df = D.parse_dockerfile("from busybox as X\n  run   echo hi  \n")
    assert df.stages[0].name == "x"
    assert str(df.stages[0]) == "from busybox as X"
    assert str(df.stages[0].commands[0]) == "run   echo hi"


def test_parse_words_quotes_and_escapes():
    assert D.parse_words('a "b c" d\\ e \'f g\'', "\\") == ["a", '"b c"', "d\\ e", "'f g'"]
    assert D.parse_words('x=""', "\\") == ['x=""']


def test_line_length_limit():
    assert err("FROM busybox\nRUN a \\\n" + "x" * 70000 + "\n") == \
        "failed to parse Dockerfile: dockerfile line greater than max allowed size of 65535"
    run = one("RUN " + "x" * 60000)
    assert len(run.cmd_line[0]) == 60000
