"""Word expansion as moby/buildkit's shell lexer does it."""
from __future__ import annotations

import pytest

from pydockerd.builder.errors import DockerfileError
from pydockerd.builder.shell_lex import EXPANDING_INSTRUCTIONS, Lexer, env_map

ENV = ["A=1", "E=", "SP=a  b", "PATH=/bin", "BARE"]


def word(w: str, env=ENV, escape: str = "\\") -> str:
    return Lexer(escape).process_word(w, env)


@pytest.mark.parametrize("src,expected", [
    ("$A", "1"), ("${A}", "1"), ("x${A}y", "x1y"), ("$A$A", "11"), ("$UNSET", ""),
    ("${A:-d}", "1"), ("${E:-d}", "d"), ("${U:-d}", "d"),
    ("${A:+s}", "s"), ("${E:+s}", ""), ("${U:+s}", ""),
    ("${A-d}", "1"), ("${E-d}", ""), ("${U-d}", "d"),
    ("${A+s}", "s"), ("${E+s}", "s"), ("${U+s}", ""),
    ("${U:-$A}", "1"), ("${U:-'lit $A'}", "lit $A"), ('${U:-"q $A"}', "q 1"),
    ("$", "$"), ("a$", "a$"), ("$1", ""), ("${BARE}", ""),
    ("'$A'", "$A"), ('"$A"', "1"), ('"a  b"', "a  b"), ("a\\ b", "a b"), ("\\$A", "$A"),
    ('"\\$A \\" \\\\ \\n"', '$A " \\ \\n'),  # in double quotes only " $ and the escape are escaped
    ("a\\", "a"),  # a trailing escape disappears
    ("$A_B", ""), ("${A}_B", "1_B"), ("$A-B", "1-B"),
])
def test_process_word(src, expected):
    assert word(src) == expected


def test_backtick_escape_keeps_backslashes():
    assert word("C:\\dir\\$A", escape="`") == "C:\\dir\\1"
    assert word("`$A", escape="`") == "$A"


def test_process_words_splits_only_unquoted_expansions():
    lx = Lexer()
    assert lx.process_words("$SP c", ENV) == ["a", "b", "c"]
    assert lx.process_words('"$SP" c', ENV) == ["a  b", "c"]
    assert lx.process_words("80 443/tcp", ENV) == ["80", "443/tcp"]


@pytest.mark.parametrize("src,message", [
    ("${A", "failed to process \"${A\": missing ':' in substitution"),  # dockerd 20.10's text
    ("${", "failed to process \"${\": syntax error: missing '}'"),
    ("${}", 'failed to process "${}": syntax error: bad substitution'),
    ("${:-x}", 'failed to process "${:-x}": syntax error: bad substitution'),
    ("${A:-x", "failed to process \"${A:-x\": syntax error: missing '}'"),
    ("${A*}", "failed to process \"${A*}\": missing ':' in substitution"),
    ("${A:%x}", 'failed to process "${A:%x}": unsupported modifier (%) in substitution'),
    ("${U:?}", 'failed to process "${U:?}": U: is not allowed to be unset'),
    ("${E:?}", 'failed to process "${E:?}": E: is not allowed to be empty'),
    ("${U?gone}", 'failed to process "${U?gone}": U: gone'),
    ("'abc", 'failed to process "\'abc": unexpected end of statement while looking for matching single-quote'),
    ('"abc', 'failed to process "\\"abc": unexpected end of statement while looking for matching double-quote'),
])
def test_errors(src, message):
    with pytest.raises(DockerfileError) as exc:
        word(src)
    assert exc.value.message == message


def test_env_map_later_entries_win_and_bare_names_are_empty():
    assert env_map(["A=1", "B", "A=2=3"]) == {"A": "2=3", "B": ""}


def test_expanding_instructions():
    assert {"add", "copy", "env", "expose", "from", "label", "stopsignal", "user", "volume",
            "workdir"} <= EXPANDING_INSTRUCTIONS
    assert not {"run", "cmd", "entrypoint", "onbuild", "shell", "healthcheck"} & EXPANDING_INSTRUCTIONS
