""".dockerignore reading and matching (moby/patternmatcher semantics, Docker's documented examples)."""
from __future__ import annotations

import os

import pytest

from pydockerd.builder.context import walk_files
from pydockerd.builder.dockerignore import (PatternMatcher, build_files_to_remove, keep_build_files,
                                            read_patterns)
from pydockerd.builder.errors import DockerfileError


def excluded(patterns: list[str], path: str) -> bool:
    return PatternMatcher(patterns).matches(path)


def test_read_patterns_cleans_like_docker():
    text = ("\ufeff# comment\n  \n/foo\n./bar/\n  baz  \n! qux\n!/abs/x/../y\n#not/a/pattern\n"
            " # leading space is not a comment\r\n")
    assert read_patterns(text) == ["foo", "bar", "baz", "!qux", "!abs/y",
                                   "# leading space is not a comment"]
    assert read_patterns(b"/\n") == ["/"]


@pytest.mark.parametrize("pattern,path,expected", [
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "somedir/temp", True),
    ("*/temp*", "temp", False),
    ("*/temp*", "a/b/temp", False),
    ("*/*/temp*", "a/b/temp.txt", True),
    ("temp?", "temp1", True),
    ("temp?", "temp12", False),
    ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "c.go", True),
    ("**", "anything/at/all", True),
    ("a/**", "a/b/c", True),
    ("a/**/z", "a/z", True),
    ("a/**/z", "a/b/c/z", True),
    ("a/**/z", "b/a/z", False),
    ("*.md", "docs/x.md", False),          # * does not cross directories
    ("[a-c].txt", "b.txt", True),
    ("[a-c].txt", "d.txt", False),
    ("[^a].txt", "a.txt", False),
    ("[^a].txt", "b.txt", True),
    ("\\*.txt", "*.txt", True),
    ("\\*.txt", "a.txt", False),
    ("a+b", "a+b", True),                  # regexp metacharacters are literal
    ("a.b", "axb", False),
    ("build", "build/out/x.o", True),      # a directory pattern excludes its contents
    ("build/", "build/x", True),
    ("/abs", "abs/x", True),
])
def test_matches(pattern, path, expected):
    assert excluded(read_patterns(pattern), path) is expected


def test_exceptions_last_match_wins():
    pats = ["*.md", "!README*.md", "README-secret.md"]
    assert excluded(pats, "a.md")
    assert not excluded(pats, "README.md")
    assert excluded(pats, "README-secret.md")
    # an exception before the exclusion it should override does nothing
    assert excluded(["!keep.txt", "*.txt"], "keep.txt")


def test_exception_inside_excluded_directory():
    pm = PatternMatcher(["dir", "!dir/keep"])
    assert pm.matches("dir/other")
    assert not pm.matches("dir/keep")
    assert pm.must_walk("dir")
    assert not PatternMatcher(["dir", "!other/keep"]).must_walk("dir")
    assert not PatternMatcher(["dir"]).must_walk("dir")
    assert pm.included("dir", is_dir=True) and not pm.included("dir/other")


def test_context_root_never_matches():
    assert not excluded(["*"], ".")
    assert not excluded(["**"], "")


def test_bad_patterns():
    with pytest.raises(DockerfileError, match='illegal exclusion pattern: "!"'):
        PatternMatcher(["!"])
    for bad in ("[", "a[b", "[]", "x\\"):
        with pytest.raises(DockerfileError, match="syntax error in pattern"):
            PatternMatcher([bad])


def test_keep_build_files_and_removal():
    pats = ["*", "!src"]
    kept = keep_build_files(pats, "Dockerfile")
    assert kept == ["*", "!src", "!.dockerignore", "!Dockerfile"]
    assert not excluded(kept, "Dockerfile") and not excluded(kept, ".dockerignore")
    assert keep_build_files(["*.tmp"], "Dockerfile") == ["*.tmp"]
    assert keep_build_files(["*"], "x/Dockerfile.dev", dockerfile_from_stdin=True) == \
        ["*", "!.dockerignore"]
    # the daemon drops them from the context when .dockerignore excludes them
    assert build_files_to_remove(["Dockerfile", ".dockerignore"], "Dockerfile") == \
        [".dockerignore", "Dockerfile"]
    assert build_files_to_remove(["\n.dockerfile.abc123"], ".dockerfile.abc123") == [".dockerfile.abc123"]
    assert build_files_to_remove(["other"], "Dockerfile") == []


def test_walk_files_descends_only_where_exceptions_may_apply(tmp_path):
    for p in ("keep.txt", "skip.log", "dir/in.txt", "dir/keep/k.txt", "dir/drop/d.txt",
              "logs/a.log"):
        os.makedirs(tmp_path / os.path.dirname(p), exist_ok=True)
        (tmp_path / p).write_text("x")
    pm = PatternMatcher(read_patterns("*.log\ndir\n!dir/keep\nlogs\n"))
    seen: list[str] = []
    walk_files(str(tmp_path), pm, lambda rel, is_dir: seen.append(rel + ("/" if is_dir else "")))
    assert seen == ["dir/keep/", "dir/keep/k.txt", "keep.txt"]
