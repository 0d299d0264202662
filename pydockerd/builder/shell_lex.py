"""Docker's shell-like word processing for instruction arguments ($VAR, ${VAR:-x}, quotes, escapes).

Behaves like moby/buildkit's frontend/dockerfile/shell lexer: the result is one word (quotes
removed, variables substituted) or, for EXPOSE, the list of words after splitting on whitespace.
Which instructions expand and which variables they see is decided by the planner
(`EXPANDING_INSTRUCTIONS` here lists them).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from . import gofmt
from .errors import DockerfileError

# Instructions whose arguments go through the lexer (RUN/CMD/ENTRYPOINT are left to the shell,
# ONBUILD keeps its trigger verbatim; ARG expands too). FROM is expanded with the global ARGs only.
EXPANDING_INSTRUCTIONS = frozenset({"add", "copy", "env", "expose", "from", "label", "stopsignal",
                                    "user", "volume", "workdir", "arg"})

_EOF = ""
_SPECIAL = "@*#?-$!0"


def _is_space(ch: str) -> bool:
    return ch.isspace() or ch in ("\x85", "\xa0")


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def env_map(env: list[str] | dict[str, str]) -> dict[str, str]:
    """`K=V` strings to a map (a bare `K` is set to ''); later entries win, as in BuildEnvs."""
    if isinstance(env, dict):
        return dict(env)
    out: dict[str, str] = {}
    for e in env:
        k, sep, v = e.partition("=")
        out[k] = v if sep else ""
    return out


@dataclass
class _Words:
    word: str = ""
    words: list[str] = field(default_factory=list)
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if _is_space(ch) and self.in_word:
            if self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        elif not _is_space(ch):
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.word += s
        self.in_word = True

    def get_words(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Scanner:
    def __init__(self, src: str) -> None:
        self.src = src
        self.pos = 0

    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch


class _LexError(Exception):
    pass


class Lexer:
    """One lexer per Dockerfile: the escape token comes from its `# escape=` directive."""

    def __init__(self, escape_token: str = "\\") -> None:
        self.escape = escape_token

    def process_word(self, word: str, env: list[str] | dict[str, str]) -> str:
        return self._process(word, env_map(env))[0]

    def process_words(self, word: str, env: list[str] | dict[str, str]) -> list[str]:
        return self._process(word, env_map(env))[1]

    def _process(self, source: str, env: dict[str, str]) -> tuple[str, list[str]]:
        sw = _ShellWord(_Scanner(source), env, self.escape)
        try:
            return sw.process_stop_on(_EOF)
        except _LexError as exc:
            raise DockerfileError(f"failed to process {gofmt.quote(source)}: {exc}") from None


class _ShellWord:
    def __init__(self, scanner: _Scanner, env: dict[str, str], escape: str) -> None:
        self.s = scanner
        self.env = env
        self.escape = escape

    def process_stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        while self.s.peek() != _EOF:
            ch = self.s.peek()
            if stop != _EOF and ch == stop:
                self.s.next()
                return "".join(result), words.get_words()
            if ch in ("'", '"', "$"):
                if ch == "'":
                    tmp = self.single_quote()
                elif ch == '"':
                    tmp = self.double_quote()
                else:
                    tmp = self.dollar()
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw_string(tmp)
                continue
            ch = self.s.next()
            if ch == self.escape:
                ch = self.s.next()
                if ch == _EOF:
                    break
                words.add_raw_char(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop != _EOF:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.get_words()

    def single_quote(self) -> str:
        self.s.next()
        out = []
        while True:
            ch = self.s.next()
            if ch == _EOF:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.s.next()
        out = []
        while True:
            ch = self.s.peek()
            if ch == _EOF:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.s.next()
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.s.next()
            if ch == self.escape:
                nxt = self.s.peek()
                if nxt == _EOF:
                    continue
                if nxt in ('"', "$", self.escape):
                    ch = self.s.next()
            out.append(ch)

    def _get(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        return "", False

    def _word_until_brace(self) -> str:
        try:
            word, _ = self.process_stop_on("}")
        except _LexError:
            if self.s.peek() == _EOF:
                raise _LexError("syntax error: missing '}'") from None
            raise
        return word

    def dollar(self) -> str:
        self.s.next()
        if self.s.peek() != "{":
            name = self.name()
            if name == "":
                return "$"
            return self._get(name)[0]
        self.s.next()
        ch = self.s.peek()
        if ch == _EOF:
            raise _LexError("syntax error: missing '}'")
        if ch in ("{", "}", ":"):
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.s.next()
        if ch == "}":
            return self._get(name)[0]
        if ch == "?":
            word = self._word_until_brace()
            value, found = self._get(name)
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            return value
        if ch in ("-", "+"):
            # ${VAR-word} / ${VAR+word}: test "set" rather than "non-empty" (newer Dockerfile
            # frontends; dockerd 20.10's vendored lexer answered "missing ':' in substitution").
            word = self._word_until_brace()
            value, found = self._get(name)
            if ch == "-":
                return value if found else word
            return word if found else ""
        if ch == ":":
            modifier = self.s.next()
            word = self._word_until_brace()
            value, found = self._get(name)
            if modifier == "+":
                return word if value != "" else value
            if modifier == "-":
                return value if value != "" else word
            if modifier == "?":
                if not found:
                    raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
                if value == "":
                    raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            raise _LexError(f"unsupported modifier ({modifier}) in substitution")
        raise _LexError("missing ':' in substitution")

    def name(self) -> str:
        out: list[str] = []
        while self.s.peek() != _EOF:
            ch = self.s.peek()
            if not out and _is_digit(ch):
                while self.s.peek() != _EOF and _is_digit(self.s.peek()):
                    out.append(self.s.next())
                return "".join(out)
            if not out and ch in _SPECIAL:
                return self.s.next()
            if not (_is_letter(ch) or _is_digit(ch) or ch == "_"):
                break
            out.append(self.s.next())
        return "".join(out)
