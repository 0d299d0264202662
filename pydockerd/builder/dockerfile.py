"""Dockerfile parser: lines → nodes → typed instructions grouped in stages.

Follows the parser the classic builder uses (moby/buildkit frontend/dockerfile/parser and
instructions, as vendored by dockerd 20.10): parser directives, comments, line continuations,
exec (JSON) versus shell form, instruction flags, and the same error texts.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Union

from . import gofmt
from .errors import DockerfileError, ParseError

DEFAULT_ESCAPE = "\\"
MAX_LINE = 64 * 1024 - 1  # bufio.MaxScanTokenSize - 1

# Go's regexp `\s` is ASCII-only; spell the classes out so Python does not widen them to Unicode.
_DIRECTIVE = re.compile(r"^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.IGNORECASE)
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_VALID_DIRECTIVES = ("escape", "syntax")
_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def _go_space(ch: str) -> bool:
    """unicode.IsSpace."""
    return ch.isspace() or ch in ("\x85", "\xa0")


def _lstrip(s: str) -> str:
    i = 0
    while i < len(s) and _go_space(s[i]):
        i += 1
    return s[i:]


def _strip(s: str) -> str:
    s = _lstrip(s)
    j = len(s)
    while j > 0 and _go_space(s[j - 1]):
        j -= 1
    return s[:j]


# ---------------------------------------------------------------------------------------------
# Line parser
# ---------------------------------------------------------------------------------------------

@dataclass
class Node:
    """One instruction as the line parser sees it."""

    value: str                    # the instruction keyword, lower case
    original: str                 # the joined line, comments and continuations removed
    flags: list[str]              # `--name=value` words before the arguments
    args: list[str]               # arguments (for ONBUILD: the trigger keyword, then its args)
    json: bool = False            # exec (JSON array) form
    start_line: int = 0
    end_line: int = 0
    child: Node | None = None     # ONBUILD's trigger


@dataclass
class ParseResult:
    nodes: list[Node]
    escape_token: str
    warnings: list[str]

    def warning_text(self) -> str:
        """What the builder prints (on stderr) before the first step; '' when clean."""
        return "\n".join(self.warnings) + "\n" if self.warnings else ""


class _Directives:
    def __init__(self) -> None:
        self.done = False
        self.seen: set[str] = set()
        self.set_escape(DEFAULT_ESCAPE)

    def set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise DockerfileError(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        e = re.escape(token)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def possible_directive(self, line: str) -> None:
        if self.done:
            return
        m = _DIRECTIVE.match(line)
        if not m:
            self.done = True
            return
        key = m.group(1).lower()
        if key not in _VALID_DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        self.seen.add(key)
        if key == "escape":
            self.set_escape(m.group(2))

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """Strip a trailing escape token; the bool says whether the logical line ends here."""
        if self.continuation.search(line):
            return self.continuation.sub(lambda m: m.group(1) or "", line), False
        return line, True


def _is_comment(line: str) -> bool:
    return _lstrip(line).startswith("#")


def _process_line(d: _Directives, token: str, strip_left: bool) -> str:
    if strip_left:
        token = _lstrip(token)
    d.possible_directive(token)
    return "" if token.startswith("#") else token


def _split_lines(text: str) -> list[str]:
    """bufio.ScanLines: split on \\n, drop one trailing \\r, no empty last token."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def parse(data: bytes | str) -> ParseResult:
    """Parse a Dockerfile into nodes. Errors are `ParseError` with the line they were found on."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    d = _Directives()
    lines = _split_lines(text)
    for n, ln in enumerate(lines):
        # bufio.Scanner gives up on a longer line; moby reports it with the lines read so far
        if len(ln.encode("utf-8", "surrogateescape")) > MAX_LINE:
            raise ParseError(f"dockerfile line greater than max allowed size of {MAX_LINE}", n)
    nodes: list[Node] = []
    warnings: list[str] = []
    current = 0
    i = 0

    def location(exc: DockerfileError, line: int) -> ParseError:
        return exc if isinstance(exc, ParseError) else ParseError(exc.message, line)

    while i < len(lines):
        raw = lines[i]
        i += 1
        if current == 0 and raw.startswith("\ufeff"):
            raw = raw[1:]
        try:
            line = _process_line(d, raw, True)
        except DockerfileError as exc:
            raise location(exc, current) from None
        current += 1
        start = current
        line, end_of_line = d.trim_continuation(line)
        if end_of_line and line == "":
            continue
        empty_continuation = False
        while not end_of_line and i < len(lines):
            raw = lines[i]
            i += 1
            try:
                part = _process_line(d, raw, False)
            except DockerfileError as exc:
                raise location(exc, current) from None
            current += 1
            if _is_comment(raw):
                continue
            if _lstrip(part) == "":
                empty_continuation = True
                continue
            part, end_of_line = d.trim_continuation(part)
            line += part
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
        try:
            node = _node_from_line(line, d)
        except DockerfileError as exc:
            raise location(exc, start) from None
        node.start_line, node.end_line = start, current
        nodes.append(node)
    if warnings:
        warnings.append("[WARNING]: Empty continuation lines will become errors in a future release.")
    if not nodes:
        raise ParseError("file with no instructions", current)
    return ParseResult(nodes=nodes, escape_token=d.escape, warnings=warnings)


def _split_command(line: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(_strip(line), maxsplit=1)
    cmd = parts[0].lower()
    flags: list[str] = []
    rest = ""
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1])
    return cmd, flags, _strip(rest)


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--words`; a bare `--` ends them. Quotes and backslashes as in the Go parser."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _go_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if _go_space(ch):
                phase = "spaces"
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word += ch
            pos += 1
            continue
        # phase == "quote"
        if ch == quote:
            phase = "word"
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word += ch
        pos += 1
    return "", words


def parse_words(rest: str, escape: str) -> list[str]:
    """Split on whitespace keeping quoted runs together; quotes and escapes stay in the words."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _go_space(ch):
                pos += 1
                continue
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if _go_space(ch):
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                phase = "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        # phase == "quote"
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            pos += 1
            word += ch
            ch = rest[pos]
        word += ch
        pos += 1
    return words


def _reject_constant(name: str) -> None:
    raise ValueError(name)  # Go's encoding/json has no NaN/Infinity


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _parse_json(rest: str) -> list[str] | None:
    """The arguments when `rest` is a JSON array of strings, None when it is not JSON at all."""
    rest = _lstrip(rest)
    if not rest.startswith("["):
        return None
    try:
        # Like Go's json.Decoder: the first value counts, anything after it is ignored.
        value, _ = _JSON.raw_decode(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DockerfileError(_NOT_STRING_ARRAY)
    return value


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    args = _parse_json(rest)
    return (args, True) if args is not None else ([rest], False)


def _maybe_json_to_list(rest: str) -> tuple[list[str], bool]:
    args = _parse_json(rest)
    if args is not None:
        return args, True
    return _whitespace_delimited(rest), False


def _whitespace_delimited(rest: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _name_val(rest: str, key: str, escape: str) -> list[str]:
    """ENV and LABEL: `KEY name value` (old form) or `KEY a=b c="d e"`."""
    words = parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{key} must have two arguments")
        return [parts[0], parts[1]]
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"Syntax error - can't find = in {gofmt.quote(word)}. Must be of the form: name=value")
        k, v = word.split("=", 1)
        out += [k, v]
    return out


def _health(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not _go_space(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and _go_space(rest[nxt]):
        nxt += 1
    if sep == 0:
        return [], False
    cmd, is_json = _maybe_json(rest[nxt:])
    return [rest[:sep]] + cmd, is_json


def _node_from_line(line: str, d: _Directives) -> Node:
    cmd, flags, rest = _split_command(line)
    child = None
    is_json = False
    if cmd in ("add", "copy", "volume"):
        args, is_json = _maybe_json_to_list(rest)
    elif cmd in ("cmd", "entrypoint", "run", "shell"):
        args, is_json = _maybe_json(rest)
    elif cmd == "arg":
        args = parse_words(rest, d.escape)
    elif cmd in ("env", "label"):
        args = _name_val(rest, "ENV" if cmd == "env" else "LABEL", d.escape)
    elif cmd in ("expose", "from"):
        args = _whitespace_delimited(rest)
    elif cmd in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    elif cmd == "healthcheck":
        args, is_json = _health(rest)
    elif cmd == "onbuild":
        args = []
        if rest:
            child = _node_from_line(rest, d)
            args = [child.value] + child.args
    else:
        args = []  # unknown instructions are reported when instructions are built
    return Node(value=cmd, original=line, flags=flags, args=args, json=is_json, child=child)


# ---------------------------------------------------------------------------------------------
# Instructions
# ---------------------------------------------------------------------------------------------

@dataclass
class Instruction:
    """Common part: `code` is the text Docker prints after `Step N/M : `."""

    name: str
    code: str
    line: int

    def __str__(self) -> str:
        return self.code


@dataclass
class ShellDependent(Instruction):
    """RUN, CMD, ENTRYPOINT: `cmd_line` is the exec array, or one string to give to the shell."""

    cmd_line: list[str] | None = None
    prepend_shell: bool = False


@dataclass
class Run(ShellDependent):
    flags_used: list[str] = field(default_factory=list)  # e.g. ["mount"]: needs BuildKit


@dataclass
class Cmd(ShellDependent):
    pass


@dataclass
class Entrypoint(ShellDependent):
    pass


@dataclass
class Env(Instruction):
    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Label(Instruction):
    pairs: list[tuple[str, str]] = field(default_factory=list)
    no_expand: bool = False  # the `labels=` build option: values are taken literally


@dataclass
class Maintainer(Instruction):
    maintainer: str = ""


@dataclass
class Copy(Instruction):
    sources: list[str] = field(default_factory=list)
    dest: str = ""
    chown: str = ""
    chmod: str = ""
    from_: str = ""


@dataclass
class Add(Instruction):
    sources: list[str] = field(default_factory=list)
    dest: str = ""
    chown: str = ""
    chmod: str = ""


@dataclass
class Onbuild(Instruction):
    expression: str = ""


@dataclass
class Workdir(Instruction):
    path: str = ""


@dataclass
class Healthcheck(Instruction):
    """`health` is the HealthConfig as Docker stores it (Test, Interval, Timeout, StartPeriod, Retries)."""

    health: dict = field(default_factory=dict)


@dataclass
class Expose(Instruction):
    ports: list[str] = field(default_factory=list)


@dataclass
class User(Instruction):
    user: str = ""


@dataclass
class Volume(Instruction):
    volumes: list[str] = field(default_factory=list)


@dataclass
class StopSignal(Instruction):
    signal: str = ""


@dataclass
class ArgPair:
    key: str
    value: str | None


@dataclass
class Arg(Instruction):
    args: list[ArgPair] = field(default_factory=list)


@dataclass
class Shell(Instruction):
    shell: list[str] = field(default_factory=list)


Command = Union[Run, Cmd, Entrypoint, Env, Label, Maintainer, Copy, Add, Onbuild, Workdir,
                Healthcheck, Expose, User, Volume, StopSignal, Arg, Shell]


@dataclass
class Stage:
    """A FROM and the instructions after it."""

    base_name: str
    name: str          # lower-cased `AS` name, '' when unnamed
    code: str          # the FROM line as printed in the step
    platform: str
    line: int
    index: int = 0
    commands: list = field(default_factory=list)

    def __str__(self) -> str:
        return self.code


@dataclass
class Dockerfile:
    stages: list[Stage]
    meta_args: list[Arg]       # ARGs before the first FROM
    escape_token: str
    warnings: list[str]

    def warning_text(self) -> str:
        return "\n".join(self.warnings) + "\n" if self.warnings else ""


class _Flags:
    """moby's BFlags: declared flags, then `--name=value` words checked against them."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.kinds: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.used: list[str] = []

    def add_string(self, name: str) -> None:
        self.kinds[name] = "string"
        self.values[name] = ""

    def add_strings(self, name: str) -> None:
        """A repeatable flag (RUN --mount)."""
        self.kinds[name] = "strings"
        self.values[name] = ""

    def parse(self) -> None:
        for arg in self.args:
            if not arg.startswith("--"):
                raise DockerfileError(f"Arg should start with -- : {arg}")
            if arg == "--":
                return
            arg = arg[2:]
            value = None
            if "=" in arg:
                arg, value = arg.split("=", 1)
            if arg not in self.kinds:
                raise DockerfileError(f"Unknown flag: {arg}")
            if arg in self.used and self.kinds[arg] != "strings":
                raise DockerfileError(f"Duplicate flag specified: {arg}")
            if arg not in self.used:
                self.used.append(arg)
            if value is None:
                raise DockerfileError(f"Missing a value on flag: {arg}")
            self.values[arg] = value

    def __getitem__(self, name: str) -> str:
        return self.values[name]


def _exactly_one(cmd: str) -> DockerfileError:
    return DockerfileError(f"{cmd} requires exactly one argument")


def _at_least_one(cmd: str) -> DockerfileError:
    return DockerfileError(f"{cmd} requires at least one argument")


def _kvps(args: list[str], cmd: str) -> list[tuple[str, str]]:
    if not args:
        raise _at_least_one(cmd)
    if len(args) % 2:
        raise DockerfileError(f"Bad input to {cmd}, too many arguments")
    pairs = []
    for k, v in zip(args[::2], args[1::2]):
        if not k:
            raise DockerfileError(f"{cmd} names can not be blank")
        pairs.append((k, v))
    return pairs


def _cmd_line(node: Node, empty_as_none: bool) -> tuple[list[str] | None, bool]:
    if node.json:
        args: list[str] | None = list(node.args)
    else:
        args = [" ".join(node.args)] if node.args else []
    if empty_as_none and not args:
        args = None
    return args, not node.json


def _duration_flag(flags: _Flags, name: str) -> int:
    value = flags[name]
    if value == "":
        return 0
    try:
        ns = gofmt.parse_duration(value)
    except gofmt.DurationError as exc:
        raise DockerfileError(str(exc)) from None
    if ns < gofmt.MILLISECOND:
        raise DockerfileError(f"Interval {gofmt.quote(name)} cannot be less than 1ms")
    return ns


def _go_parse_int32(value: str) -> int:
    if re.fullmatch(r"[+-]?[0-9]+", value) is None:
        raise DockerfileError(f'strconv.ParseInt: parsing {gofmt.quote(value)}: invalid syntax')
    n = int(value)
    if not -(1 << 31) <= n < (1 << 31):
        raise DockerfileError(f'strconv.ParseInt: parsing {gofmt.quote(value)}: value out of range')
    return n


def _healthcheck(node: Node, flags: _Flags, base: dict) -> Healthcheck:
    if not node.args:
        raise _at_least_one("HEALTHCHECK")
    typ = node.args[0].upper()
    args = node.args[1:]
    if typ == "NONE":
        # Flags are not even looked at for NONE (moby parses them only for CMD).
        if args:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**base, health={"Test": ["NONE"]})
    for name in ("interval", "timeout", "start-period", "retries"):
        flags.add_string(name)
    flags.parse()
    if typ != "CMD":
        raise DockerfileError(f"Unknown type {gofmt.quote(typ)} in HEALTHCHECK (try CMD)")
    cmd = list(args) if node.json else ([" ".join(args)] if args else [])
    if not cmd:
        raise DockerfileError("Missing command after HEALTHCHECK CMD")
    health: dict = {"Test": [typ if node.json else "CMD-SHELL"] + cmd}
    health["Interval"] = _duration_flag(flags, "interval")
    health["Timeout"] = _duration_flag(flags, "timeout")
    health["StartPeriod"] = _duration_flag(flags, "start-period")
    retries = 0
    if flags["retries"] != "":
        retries = _go_parse_int32(flags["retries"])
        if retries < 1:
            raise DockerfileError(f"--retries must be at least 1 (not {retries})")
    health["Retries"] = retries
    return Healthcheck(**base, health=health)


def parse_instruction(node: Node) -> Stage | Command:
    """Turn one node into its instruction, with moby's validation and messages."""
    flags = _Flags(node.flags)
    args = node.args
    base = {"name": node.value, "code": _strip(node.original), "line": node.start_line}
    cmd = node.value
    if cmd == "env":
        flags.parse()
        return Env(**base, pairs=_kvps(args, "ENV"))
    if cmd == "maintainer":
        if len(args) != 1:
            raise _exactly_one("MAINTAINER")
        flags.parse()
        return Maintainer(**base, maintainer=args[0])
    if cmd == "label":
        flags.parse()
        return Label(**base, pairs=_kvps(args, "LABEL"))
    if cmd in ("add", "copy"):
        if len(args) < 2:
            raise DockerfileError(f"{cmd.upper()} requires at least two arguments, but only one was "
                                  "provided. Destination could not be determined")
        flags.add_string("chown")
        if cmd == "copy":
            flags.add_string("from")
        flags.add_string("chmod")
        flags.parse()
        if cmd == "add":
            return Add(**base, sources=args[:-1], dest=args[-1], chown=flags["chown"],
                       chmod=flags["chmod"])
        return Copy(**base, sources=args[:-1], dest=args[-1], chown=flags["chown"],
                    chmod=flags["chmod"], from_=flags["from"])
    if cmd == "from":
        name = ""
        if len(args) == 3 and args[1].lower() == "as":
            name = args[2].lower()
            if not _STAGE_NAME.match(name):
                raise DockerfileError(f"invalid name for build stage: {gofmt.quote(args[2])}, "
                                      "name can't start with a number or contain symbols")
        elif len(args) != 1:
            raise DockerfileError("FROM requires either one or three arguments")
        flags.add_string("platform")
        flags.parse()
        return Stage(base_name=args[0], name=name, code=base["code"], platform=flags["platform"],
                     line=node.start_line)
    if cmd == "onbuild":
        if not args:
            raise _at_least_one("ONBUILD")
        flags.parse()
        trigger = _strip(args[0]).upper()
        if trigger == "ONBUILD":
            raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise DockerfileError(f"{trigger} isn't allowed as an ONBUILD trigger")
        return Onbuild(**base, expression=_ONBUILD_PREFIX.sub("", node.original, count=1))
    if cmd == "workdir":
        if len(args) != 1:
            raise _exactly_one("WORKDIR")
        flags.parse()
        return Workdir(**base, path=args[0])
    if cmd in ("run", "cmd", "entrypoint"):
        if cmd == "run":
            # Parsed so that the classic builder can refuse it by name when the step runs.
            flags.add_strings("mount")
        flags.parse()
        line, prepend = _cmd_line(node, cmd == "entrypoint")
        if cmd == "run":
            return Run(**base, cmd_line=line, prepend_shell=prepend, flags_used=list(flags.used))
        klass = Cmd if cmd == "cmd" else Entrypoint
        return klass(**base, cmd_line=line, prepend_shell=prepend)
    if cmd == "healthcheck":
        return _healthcheck(node, flags, base)
    if cmd == "expose":
        if not args:
            raise _at_least_one("EXPOSE")
        flags.parse()
        return Expose(**base, ports=sorted(args))
    if cmd == "user":
        if len(args) != 1:
            raise _exactly_one("USER")
        flags.parse()
        return User(**base, user=args[0])
    if cmd == "volume":
        if not args:
            raise _at_least_one("VOLUME")
        flags.parse()
        vols = []
        for v in args:
            v = _strip(v)
            if v == "":
                raise DockerfileError("VOLUME specified can not be an empty string")
            vols.append(v)
        return Volume(**base, volumes=vols)
    if cmd == "stopsignal":
        if len(args) != 1:
            raise _exactly_one("STOPSIGNAL")
        return StopSignal(**base, signal=args[0])
    if cmd == "arg":
        if not args:
            raise _at_least_one("ARG")
        pairs = []
        for a in args:
            if "=" in a:
                k, v = a.split("=", 1)
                if not k:
                    raise DockerfileError("ARG names can not be blank")
                pairs.append(ArgPair(k, v))
            else:
                pairs.append(ArgPair(a, None))
        return Arg(**base, args=pairs)
    if cmd == "shell":
        flags.parse()
        line, _ = _cmd_line(node, False)
        if not line:
            raise _at_least_one("SHELL")
        if not node.json:
            raise DockerfileError("SHELL requires the arguments to be in JSON form")
        return Shell(**base, shell=line)
    raise DockerfileError(f"unknown instruction: {cmd.upper()}")


def instructions(result: ParseResult) -> Dockerfile:
    """Group the nodes into stages; errors read `dockerfile parse error line N: …` as in moby."""
    stages: list[Stage] = []
    meta: list[Arg] = []
    for node in result.nodes:
        try:
            inst = parse_instruction(node)
        except DockerfileError as exc:
            raise ParseError(f"dockerfile parse error line {node.start_line}: {exc.message}",
                             node.start_line) from None
        if isinstance(inst, Stage):
            inst.index = len(stages)
            stages.append(inst)
        elif not stages and isinstance(inst, Arg):
            meta.append(inst)
        elif not stages:
            raise ParseError("no build stage in current context", node.start_line)
        else:
            stages[-1].commands.append(inst)
    return Dockerfile(stages=stages, meta_args=meta, escape_token=result.escape_token,
                      warnings=result.warnings)


def parse_dockerfile(data: bytes | str, name: str = "Dockerfile") -> Dockerfile:
    """Read a Dockerfile as the classic builder does, with its error texts.

    Line-parser errors read `failed to parse <name>: …`; instruction errors
    `dockerfile parse error line N: …`; an empty file `the Dockerfile (<name>) cannot be empty`.
    """
    if len(data) == 0:
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    try:
        result = parse(data)
    except ParseError as exc:
        raise ParseError(f"failed to parse {name}: {exc.message}", exc.line) from None
    return instructions(result)


def parse_trigger(expression: str) -> Command:
    """An ONBUILD trigger taken from a base image, parsed as moby does before running it."""
    result = parse(expression)
    if len(result.nodes) != 1:
        raise DockerfileError("onbuild trigger should be a single expression")
    inst = parse_instruction(result.nodes[0])
    if isinstance(inst, Stage):
        raise DockerfileError("*instructions.Stage is not a command type")
    return inst
