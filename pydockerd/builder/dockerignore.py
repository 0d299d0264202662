""".dockerignore: reading the file and matching paths like Docker (moby/patternmatcher).

Patterns are Go filepath.Match globs (`*`, `?`, `[...]`, `\\` escapes) plus `**` for any number of
directories; a path is excluded when the last pattern matching it (or one of its parent
directories) is not an exception (`!pattern`).
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from .errors import DockerfileError

DOCKERIGNORE = ".dockerignore"
_ESCAPE = set(".+()|{}$")


def _go_strip(s: str) -> str:
    return s.strip(" \t\n\r\v\f\x85\xa0")


def clean(path: str) -> str:
    """Go's filepath.Clean for slash paths ('' becomes '.')."""
    if path == "":
        return "."
    out = posixpath.normpath(path)
    # normpath keeps a leading '//' (POSIX allows it); Go collapses it.
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def read_patterns(data: bytes | str) -> list[str]:
    """The patterns of a .dockerignore file, cleaned as moby's ignorefile.ReadAll does."""
    text = data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else data
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.endswith("\r"):
            line = line[:-1]
        if i == 0 and line.startswith("\ufeff"):
            line = line[1:]
        if line.startswith("#"):
            continue
        pattern = _go_strip(line)
        if pattern == "":
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = _go_strip(pattern[1:])
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def _validate_glob(pattern: str) -> None:
    """Reject what Go's filepath.Match calls ErrBadPattern (unclosed or empty classes, trailing \\)."""
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise DockerfileError("syntax error in pattern")
            i += 2
            continue
        if ch == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            first = True
            while True:
                if i >= n:
                    raise DockerfileError("syntax error in pattern")
                c = pattern[i]
                if c == "]" and not first:
                    i += 1
                    break
                if c == "]" and first:
                    raise DockerfileError("syntax error in pattern")
                if c == "\\":
                    i += 1
                    if i >= n:
                        raise DockerfileError("syntax error in pattern")
                if c == "-" and first:
                    raise DockerfileError("syntax error in pattern")
                i += 1
                first = False
            continue
        i += 1


@dataclass
class Pattern:
    cleaned: str
    exclusion: bool
    dirs: list[str] = field(default_factory=list)
    kind: str = ""                  # exact | prefix | suffix | regexp
    regexp: re.Pattern | None = None

    def compile(self) -> None:
        """Translate to a regexp as patternmatcher does, with its exact/prefix/suffix shortcuts."""
        reg = "^"
        kind = "exact"
        p = self.cleaned
        i = 0
        token = 0
        while i < len(p):
            ch = p[i]
            i += 1
            if ch == "*":
                if i < len(p) and p[i] == "*":
                    i += 1
                    if i < len(p) and p[i] == "/":
                        i += 1
                    if i >= len(p):
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            reg += ".*"
                            kind = "regexp"
                    else:
                        reg += "(.*/)?"
                        kind = "regexp"
                    if token == 0:
                        kind = "suffix"
                else:
                    reg += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                reg += "[^/]"
                kind = "regexp"
            elif ch in _ESCAPE:
                reg += "\\" + ch
            elif ch == "\\":
                if i < len(p):
                    reg += "\\" + p[i]
                    i += 1
                    kind = "regexp"
                else:
                    reg += "\\"
            elif ch in "[]":
                # Classes go to the regexp engine as they are, as in Go.
                reg += ch
                kind = "regexp"
            else:
                reg += ch
            token += 1
        if kind == "regexp":
            try:
                self.regexp = re.compile(reg + "$", re.DOTALL)
            except re.error:
                raise DockerfileError("syntax error in pattern") from None
        self.kind = kind

    def match(self, path: str) -> bool:
        if not self.kind:
            self.compile()
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regexp is not None
        return self.regexp.match(path) is not None


class PatternMatcher:
    """moby/patternmatcher.PatternMatcher over slash-separated paths relative to the context."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        self.exclusions = False
        for p in patterns:
            p = _go_strip(p)
            if p == "":
                continue
            p = clean(p)
            exclusion = False
            if p[0] == "!":
                if len(p) == 1:
                    raise DockerfileError('illegal exclusion pattern: "!"')
                exclusion = True
                p = p[1:]
                self.exclusions = True
            _validate_glob(p)
            pat = Pattern(cleaned=p, exclusion=exclusion, dirs=p.split("/"))
            pat.compile()
            self.patterns.append(pat)

    def matches(self, path: str) -> bool:
        """Whether `path` is excluded: the path itself or any parent directory matches."""
        path = clean(path)
        if path == ".":
            return False
        matched = False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue  # this pattern cannot change the answer
            match = pat.match(path)
            if not match and parent != ".":
                for i in range(len(parent_dirs)):
                    if pat.match("/".join(parent_dirs[:i + 1])):
                        match = True
                        break
            if match:
                matched = not pat.exclusion
        return matched

    def must_walk(self, directory: str) -> bool:
        """For an excluded directory: whether an exception may re-include something under it.

        Same test as moby's archive walker: an exception pattern starting with `<dir>/`.
        """
        if not self.exclusions:
            return False
        prefix = clean(directory) + "/"
        return any(p.exclusion and (p.cleaned + "/").startswith(prefix) for p in self.patterns)

    def included(self, path: str, is_dir: bool = False) -> bool:
        """Whether the context walker keeps `path` (a directory is kept when it must be walked)."""
        if not self.matches(path):
            return True
        return is_dir and self.must_walk(path)


def keep_build_files(patterns: list[str], dockerfile: str = "Dockerfile",
                     dockerfile_from_stdin: bool = False) -> list[str]:
    """The CLI always sends .dockerignore and the Dockerfile, whatever .dockerignore says."""
    out = list(patterns)
    if PatternMatcher(out).matches(DOCKERIGNORE):
        out.append("!" + DOCKERIGNORE)
    dockerfile = dockerfile.replace("\\", "/")
    if PatternMatcher(out).matches(dockerfile) and not dockerfile_from_stdin:
        out.append("!" + dockerfile)
    return out


def build_files_to_remove(patterns: list[str], dockerfile: str) -> list[str]:
    """What the daemon deletes from the context after reading the Dockerfile: those of
    .dockerignore and the Dockerfile that .dockerignore excludes (so `COPY .` leaves them out)."""
    pm = PatternMatcher(patterns)
    return [p for p in (DOCKERIGNORE, dockerfile) if pm.matches(p)]
