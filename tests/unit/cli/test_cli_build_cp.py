"""Build-context tars (.dockerignore) and docker cp argument handling."""
import io
import tarfile

import pytest

from cli.commands.build import IgnoreMatcher, context_tar, prepare_context
from cli.commands.cp import decode_stat, split_arg
from cli.errors import CLIError


def names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()


def test_ignore_matcher():
    m = IgnoreMatcher(["*.log", "build", "!build/keep.txt", "**/tmp", "docs/*.md", "!docs/README.md"])
    assert m.excluded("a.log") and not m.excluded("sub/a.log")
    assert m.excluded("build/x") and not m.excluded("build/keep.txt")
    assert m.excluded("tmp/x") and m.excluded("a/b/tmp/c")
    assert m.excluded("docs/x.md") and not m.excluded("docs/README.md") and not m.excluded("docs/a/x.md")


def test_context_tar_respects_dockerignore_but_keeps_build_files(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "keep.txt").write_text("k")
    (tmp_path / "secret.key").write_text("s")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "big.js").write_text("x")
    (tmp_path / ".dockerignore").write_text("# comment\n*.key\nnode_modules\nDockerfile\n.dockerignore\n")
    data = context_tar(str(tmp_path), "Dockerfile")
    assert names(data) == ["Dockerfile", ".dockerignore", "keep.txt"] or \
        sorted(names(data)) == [".dockerignore", "Dockerfile", "keep.txt"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert all(m.uid == 0 and m.gid == 0 for m in tf.getmembers())
    assert len(data) % 512 == 0 and len(data) < 10240  # no 10 KiB record padding, as Go writes it


def test_dockerfile_outside_context_is_injected(tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").write_text("a")
    (tmp_path / "Other.dockerfile").write_text("FROM scratch\n")
    data, name = prepare_context(str(ctx), str(tmp_path / "Other.dockerfile"))
    assert name.startswith(".dockerfile.") and name in names(data) and "a" in names(data)
    with pytest.raises(CLIError, match="unable to prepare context"):
        prepare_context(str(tmp_path / "missing"), "")


def test_split_cp_args_and_stat():
    assert split_arg("web:/etc/passwd") == ("web", "/etc/passwd")
    assert split_arg("/abs/path:with-colon") == ("", "/abs/path:with-colon")
    assert split_arg("./rel:x") == ("", "./rel:x")
    assert split_arg("plain") == ("", "plain")
    import base64
    import json
    header = base64.b64encode(json.dumps({"name": "etc", "mode": (1 << 31) | 0o755}).encode()).decode()
    assert decode_stat(header)["mode"] & (1 << 31)
    assert decode_stat("") == {} and decode_stat("!!") == {}
