"""A small pflag-like command-line parser with Docker's usage errors.

argparse costs ~10 ms to import and formats errors differently, so the CLI uses this instead.
"""
from __future__ import annotations

import os

from cli.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time; annotations are never evaluated at run time
    from typing import Any, Callable, Sequence

BOOL, STR, LIST, INT, MAP = "bool", "string", "list", "int", "map"


class Flag:
    """One option: long name, optional one-letter shorthand, kind, default and help text."""

    __slots__ = ("name", "short", "kind", "default", "help", "type_name", "hidden", "validate")

    def __init__(self, name: str, short: str = "", kind: str = BOOL, default: Any = None,
                 help: str = "", type_name: str = "", hidden: bool = False,
                 validate: Callable[[str], Any] | None = None) -> None:
        self.name, self.short, self.kind, self.default = name, short, kind, default
        self.help, self.hidden = help, hidden
        self.type_name = type_name  # what --help shows after the flag ("string", "list", "int")
        self.validate = validate  # raises ValueError(text) for a bad value, as a pflag Value's Set does

    @property
    def display(self) -> str:
        """How pflag names the flag in errors: "-m, --memory" or "--cpus"."""
        return f"-{self.short}, --{self.name}" if self.short else f"--{self.name}"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def initial(self) -> Any:
        if self.kind == LIST:
            return list(self.default or [])
        if self.kind == BOOL:
            return bool(self.default)
        return self.default


class Command:
    """A command's usage line, description, flags, argument arity and implementation.

    usage is what follows "docker " (e.g. "run [OPTIONS] IMAGE [COMMAND] [ARG...]"); max_args None
    means unlimited; interspersed False stops flag parsing at the first positional (run, exec).
    """

    def __init__(self, name: str, usage: str, desc: str, flags: Sequence[Flag] = (),
                 min_args: int = 0, max_args: int | None = None, interspersed: bool = True,
                 run: Callable[..., int | None] | None = None) -> None:
        self.name, self.usage, self.desc, self.flags = name, usage, desc, list(flags)
        self.min_args, self.max_args, self.interspersed, self.run = min_args, max_args, interspersed, run


class Options(dict):
    """Parsed flag values; attribute access by dest name, and which flags were given."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.changed: set[str] = set()

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


HELP_FLAG = Flag("help", "", BOOL, False, "Print usage")

# flagsHelper.InspectFormatHelp: the --format text of inspect-like commands
INSPECT_FORMAT_HELP = ("Format output using a custom template:\n"
                       "'json':             Print in JSON format\n"
                       "'TEMPLATE':         Print output using the given Go template.\n"
                       "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")

# flagsHelper.FormatHelp: the --format text of the list commands
FORMAT_HELP = ("Format output using a custom template:\n"
               "'table':            Print output in table format with column headers (default)\n"
               "'table TEMPLATE':   Print output in table format using the given Go template\n"
               "'json':             Print in JSON format\n"
               "'TEMPLATE':         Print output using the given Go template.\n"
               "Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates")


def _convert(flag: Flag, value: str, token: str) -> Any:
    token = flag.display
    if flag.validate is not None:
        try:
            flag.validate(value)
        except ValueError as e:
            raise UsageError(f'invalid argument "{value}" for "{token}" flag: {e}') from None
    if flag.kind == INT:
        try:
            return int(value, 0)
        except ValueError:
            raise UsageError(f'invalid argument "{value}" for "{token}" flag: strconv.ParseInt: '
                             f'parsing "{value}": invalid syntax') from None
    return value


def _parse_bool(flag: Flag, value: str, token: str) -> bool:
    token = flag.display
    v = value.lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise UsageError(f'invalid argument "{value}" for "{token}" flag: strconv.ParseBool: '
                     f'parsing "{value}": invalid syntax')


def parse(flags: Sequence[Flag], argv: Sequence[str], interspersed: bool = True) -> tuple[Options, list[str]]:
    """Parse argv against flags; return (options, positional args). Raise UsageError as pflag would."""
    longs = {f.name: f for f in flags}
    longs.setdefault("help", HELP_FLAG)
    shorts = {f.short: f for f in flags if f.short}
    opts = Options({f.dest: f.initial() for f in longs.values()})
    args: list[str] = []

    def store(flag: Flag, value: Any) -> None:
        opts.changed.add(flag.name)
        if flag.kind in (LIST, MAP):
            opts.setdefault(flag.dest, [])
            if opts[flag.dest] is None:
                opts[flag.dest] = []
            opts[flag.dest].append(value)
        else:
            opts[flag.dest] = value

    i = 0
    argv = list(argv)
    while i < len(argv):
        tok = argv[i]
        i += 1
        if tok == "--":
            args.extend(argv[i:])
            break
        if tok.startswith("--") and len(tok) > 2:
            name, eq, value = tok[2:].partition("=")
            flag = longs.get(name)
            if flag is None:
                raise UsageError(f"unknown flag: --{name}")
            if flag.kind == BOOL:
                store(flag, _parse_bool(flag, value, f"--{name}") if eq else True)
                continue
            if not eq:
                if i >= len(argv):
                    raise UsageError(f"flag needs an argument: --{name}")
                value = argv[i]
                i += 1
            store(flag, _convert(flag, value, f"--{name}"))
            continue
        if tok.startswith("-") and len(tok) > 1:
            j = 1
            while j < len(tok):
                c = tok[j]
                flag = shorts.get(c)
                if flag is None:
                    raise UsageError(f"unknown shorthand flag: '{c}' in {tok}")
                rest = tok[j + 1:]
                if flag.kind == BOOL:
                    if rest.startswith("="):
                        store(flag, _parse_bool(flag, rest[1:], f"-{c}, --{flag.name}"))
                        break
                    store(flag, True)
                    j += 1
                    continue
                if rest:
                    value = rest[1:] if rest.startswith("=") else rest
                elif i < len(argv):
                    value = argv[i]
                    i += 1
                else:
                    raise UsageError(f"flag needs an argument: '{c}' in -{c}")
                store(flag, _convert(flag, value, f"-{c}, --{flag.name}"))
                break
            continue
        args.append(tok)
        if not interspersed:
            args.extend(argv[i:])
            break
    return opts, args


def check_args(cmd_path: str, cmd: Command, args: Sequence[str]) -> None:
    """Validate the positional count with the CLI's wording (cli/required.go)."""
    n, lo, hi = len(args), cmd.min_args, cmd.max_args
    if hi == 0 and n > 0:
        raise UsageError(f"'{cmd_path}' accepts no arguments", arity=True)
    if lo == hi and n != lo:
        plural = "argument" if lo == 1 else "arguments"
        raise UsageError(f"'{cmd_path}' requires {lo} {plural}", arity=True)
    if n < lo:
        plural = "argument" if lo == 1 else "arguments"
        if hi is not None:
            raise UsageError(f"'{cmd_path}' requires at least {lo} and at most {hi} {plural}",
                             arity=True, see=True)
        raise UsageError(f"'{cmd_path}' requires at least {lo} {plural}", arity=True, see=True)
    if hi is not None and n > hi:
        plural = "argument" if hi == 1 else "arguments"
        if lo:
            raise UsageError(f"'{cmd_path}' requires at least {lo} and at most {hi} {plural}",
                             arity=True, see=True)
        raise UsageError(f"'{cmd_path}' requires at most {hi} {plural}", arity=True, see=True)


def _wrap_n(i: int, slop: int, s: str) -> tuple[str, str]:
    """pflag's wrapN: break before column i unless the rest fits within i+slop."""
    if i + slop > len(s):
        return s, ""
    w = max(s.rfind(c, 0, i) for c in " \t\n")
    if w <= 0:
        return s, ""
    nl = s.rfind("\n", 0, i)
    if 0 < nl < w:
        return s[:nl], s[nl + 1:]
    return s[:w], s[w + 1:]


def _wrap(i: int, cols: int, s: str) -> str:
    """pflag's wrap: the usage text starting at column i, wrapped for a cols-wide terminal."""
    width, prefix = cols - i, ""
    if width < 24:
        i = 16
        width = cols - i
        prefix = "\n" + " " * (i - 1)
    if width < 24:
        return s.replace("\n", prefix)
    slop = 5
    width -= slop
    line, s = _wrap_n(width, slop, s)
    out = prefix + line.replace("\n", "\n" + " " * i)
    while s:
        line, s = _wrap_n(width, slop, s)
        out += "\n" + " " * i + line.replace("\n", "\n" + " " * i)
    return out


def help_text(cmd_path: str, cmd: Command, aliases: Sequence[str] = ()) -> str:
    """Render `docker X --help` in the CLI's layout."""
    out = [f"Usage:  docker {cmd_path} {cmd.usage}".rstrip(), "", cmd.desc]
    if aliases:
        out += ["", "Aliases:", "  " + ", ".join(aliases)]
    visible = [f for f in cmd.flags if not f.hidden]
    if any(f.short == "h" for f in cmd.flags):
        visible.append(HELP_FLAG)  # -h is taken (run's --hostname), so cobra lists its own --help
    if visible:
        out += ["", "Options:"]
        rows = []
        for f in sorted(visible, key=lambda f: f.name):
            left = (f"  -{f.short}, --{f.name}" if f.short else f"      --{f.name}")
            tn = f.type_name or ("" if f.kind == BOOL else f.kind)
            if tn:
                left += " " + tn
            text = f.help
            if f.kind == STR and f.default not in (None, ""):
                text += f' (default "{f.default}")'
            elif f.kind == INT and f.default not in (None, 0):
                text += f" (default {f.default})"
            elif f.kind == BOOL and f.default is True:
                text += " (default true)"
            rows.append((left, text))
        column = max(len(r[0]) for r in rows) + 3
        try:  # the CLI sizes help to the terminal on stdin, 80 columns otherwise
            cols = os.get_terminal_size(0).columns
        except OSError:
            cols = 80
        for left, text in rows:
            out.append(left.ljust(column) + _wrap(column, cols - 1, text))
    return "\n".join(out) + "\n"
