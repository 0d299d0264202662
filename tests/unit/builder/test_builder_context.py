"""Build context: safe extraction, checksums (pinned to what dockerd 20.10 recorded), COPY sources."""
from __future__ import annotations

import gzip
import io
import lzma
import os
import tarfile

import pytest
from buildtars import cli_tar, is_mode

from pydockerd.builder import context as C
from pydockerd.builder.errors import BuildError, DockerfileError

# `docker history` of the reference context sent by docker CLI 28 and built by dockerd 20.10
# (see conftest.REFERENCE_FILES):
#   COPY a.txt /a                 COPY dir /d/             COPY a.txt dir/b.txt /m/
#   COPY run.sh /r                COPY link /l (a symlink to a.txt)
DOCKER_A = "file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda"
DOCKER_DIR = "dir:7a601ef858379b54c08cb9366aa5927442eec3c24e0bfca869d314d092cdf1f9"
DOCKER_MULTI = "multi:269da4646ffc5332e6092e296b7c1133858d50034339928077ef89f367b8aaba"
DOCKER_RUN = "file:8c75dce1b6b6ad1a413f5f7c9920b5e0bd9deeafb6f6f8e7c524decb8dec971a"


@pytest.fixture
def ctx(reference_tar):
    c = C.read_context(reference_tar)
    yield c
    c.cleanup()


def hash_of(ctx, *sources: str) -> str:
    return C.resolve_sources(ctx.source, [*sources, "/dst/"], "COPY").hash


def test_checksums_match_docker(ctx):
    assert hash_of(ctx, "a.txt") == DOCKER_A
    assert hash_of(ctx, "dir") == DOCKER_DIR
    assert hash_of(ctx, "a.txt", "dir/b.txt") == DOCKER_MULTI
    assert hash_of(ctx, "run.sh") == DOCKER_RUN
    assert hash_of(ctx, "link") == DOCKER_A          # symlinks resolve inside the context
    assert hash_of(ctx, "/a.txt") == hash_of(ctx, "./a.txt") == DOCKER_A


def test_content_and_mode_change_the_checksum_mtime_does_not(make_tar):
    def h(files):
        c = C.read_context(make_tar({"Dockerfile": b"FROM x\n", **files}))
        try:
            return hash_of(c, "f")
        finally:
            c.cleanup()
    base = h({"f": b"one"})
    assert h({"f": b"two"}) != base
    assert h({"f": (b"one", 0o600)}) != base
    assert h({"f": b"one"}) == base
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in (("Dockerfile", b"FROM x\n"), ("f", b"one")):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o100644, 12345
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    c = C.read_context(buf)
    assert hash_of(c, "f") == base
    c.cleanup()


def test_dir_checksum_changes_with_any_file_below(make_tar):
    files = {"Dockerfile": b"FROM x\n", "d": None, "d/x": b"1", "other": b"o"}
    c1 = C.read_context(make_tar(files))
    c2 = C.read_context(make_tar({**files, "d/x": b"2"}))
    c3 = C.read_context(make_tar({**files, "other": b"changed"}))
    try:
        assert hash_of(c1, "d") != hash_of(c2, "d")
        assert hash_of(c1, "d") == hash_of(c3, "d")
    finally:
        for c in (c1, c2, c3):
            c.cleanup()


def test_extraction_layout_and_modes(ctx):
    root = ctx.source.root
    assert open(os.path.join(root, "dir/sub/c"), "rb").read() == b"c\n"
    assert is_mode(os.path.join(root, "run.sh"), 0o755)
    assert is_mode(os.path.join(root, "a.txt"), 0o644)
    assert os.readlink(os.path.join(root, "link")) == "a.txt"
    ctx.cleanup()
    assert not os.path.exists(root)


@pytest.mark.parametrize("compress", ["gz", "bz2", "xz"])
def test_compressed_contexts(make_tar, compress):
    c = C.read_context(make_tar({"Dockerfile": b"FROM busybox\n", "a.txt": b"hello\n"}, compress))
    try:
        assert hash_of(c, "a.txt") == DOCKER_A
    finally:
        c.cleanup()


def _raw_tar(entries) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _file(name, data=b"x"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    return ti, data


def _link(name, target, kind=tarfile.SYMTYPE):
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = kind, target
    return ti, None


@pytest.mark.parametrize("entries", [
    [_file("../evil")],
    [_file("a/../../evil")],
    [_file("/etc/evil")],
    [_link("l", "/"), _file("l/evil")],                    # write through a symlinked parent
    [_link("l", "../.."), _file("l/tmp/evil")],
    [_link("h", "../outside", tarfile.LNKTYPE)],          # hard link pointing outside
])
def test_extraction_refuses_escapes(tmp_path, entries):
    dest = tmp_path / "ctx"
    dest.mkdir()
    with pytest.raises(C.ContextError):
        C.extract_tar(_raw_tar(entries), str(dest))
    assert not (tmp_path / "evil").exists()
    assert not os.path.exists("/etc/evil") and not os.path.exists("/tmp/evil")


def test_extraction_allows_harmless_symlinks_and_hardlinks(tmp_path):
    sums = C.extract_tar(_raw_tar([_file("a", b"data"), _link("abs", "/etc/passwd"),
                                   _link("hard", "a", tarfile.LNKTYPE), _file("./b/c", b"1")]),
                         str(tmp_path))
    assert os.readlink(tmp_path / "abs") == "/etc/passwd"
    assert (tmp_path / "hard").read_bytes() == b"data"
    assert (tmp_path / "b" / "c").read_bytes() == b"1"
    assert set(sums) == {"a", "abs", "hard", "b/c"}


def test_not_a_tar(tmp_path):
    with pytest.raises(C.ContextError):
        C.extract_tar(io.BytesIO(b"this is not a tar archive at all" * 40), str(tmp_path))


def test_locate_dockerfile(make_tar):
    with pytest.raises(BuildError, match="^Cannot locate specified Dockerfile: Dockerfile$"):
        C.read_context(make_tar({"a": b"x"}))
    c = C.read_context(make_tar({"dockerfile": b"FROM lower\n"}))
    assert c.dockerfile_name == "dockerfile" and c.dockerfile.stages[0].base_name == "lower"
    c.cleanup()
    c = C.read_context(make_tar({"sub": None, "sub/Dev.df": b"FROM dev\n"}), "sub/Dev.df")
    assert c.dockerfile.stages[0].base_name == "dev"
    c.cleanup()
    with pytest.raises(BuildError, match="^Cannot locate specified Dockerfile: Other$"):
        C.read_context(make_tar({"Dockerfile": b"FROM x\n"}), "Other")
    with pytest.raises(DockerfileError, match=r"^the Dockerfile \(Dockerfile\) cannot be empty$"):
        C.read_context(make_tar({"Dockerfile": b""}))


def test_temp_dir_removed_when_the_dockerfile_is_bad(make_tar, tmp_path):
    with pytest.raises(DockerfileError):
        C.read_context(make_tar({"Dockerfile": b"BOGUS\n"}), tmp_root=str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_stdin_dockerfile_and_dockerignore_removal(make_tar):
    # `docker build -f - .`: the CLI adds .dockerfile.<random> and lists it in .dockerignore.
    files = {".dockerignore": b"*.tmp\n\n.dockerfile.0123456789abcdef0123\n",
             ".dockerfile.0123456789abcdef0123": b"FROM stdin\n", "keep": b"k"}
    c = C.read_context(make_tar(files), ".dockerfile.0123456789abcdef0123")
    try:
        assert c.dockerfile.stages[0].base_name == "stdin"
        names = sorted(os.listdir(c.source.root))
        assert names == [".dockerignore", "keep"]
    finally:
        c.cleanup()
    c = C.read_context(make_tar({".dockerignore": b"Dockerfile\n.dockerignore\n",
                                 "Dockerfile": b"FROM x\n", "a": b"1"}))
    try:
        assert os.listdir(c.source.root) == ["a"]
    finally:
        c.cleanup()


# -- COPY/ADD sources ----------------------------------------------------------------------------

def copy_err(ctx, *args: str, cmd: str = "COPY", **kw) -> str:
    with pytest.raises(BuildError) as exc:
        C.resolve_sources(ctx.source, list(args), cmd, **kw)
    return exc.value.message


def test_source_errors_match_docker(ctx):
    assert copy_err(ctx, "../x", "/") == "COPY failed: forbidden path outside the build context: ../x ()"
    assert copy_err(ctx, "nope", "/") == ("COPY failed: file not found in build context or excluded "
                                          "by .dockerignore: stat nope: file does not exist")
    assert copy_err(ctx, "a.txt", "a.txt", "/dst") == ("When using COPY with more than one source "
                                                       "file, the destination must be a directory "
                                                       "and end with a /")
    assert copy_err(ctx, "http://x/y", "/") == "COPY failed: source can't be a URL for COPY"
    assert copy_err(ctx, "nomatch*", "/") == "COPY failed: no source files were specified"
    assert copy_err(ctx, "nope", "/", cmd="ADD") == ("ADD failed: file not found in build context or "
                                                     "excluded by .dockerignore: stat nope: file does not exist")
    assert copy_err(ctx, "nope", "/", from_image=True) == "COPY failed: stat nope: file does not exist"


def test_symlink_escaping_the_context_stays_inside(make_tar):
    c = C.read_context(make_tar({"Dockerfile": b"FROM x\n", "up": ("->", "../../../etc/passwd")}))
    try:
        # resolved inside the context root, where nothing by that name exists
        assert "stat up: file does not exist" in copy_err(c, "up", "/")
    finally:
        c.cleanup()


def test_globs(ctx):
    res = C.resolve_sources(ctx.source, ["*.txt", "d?r", "[r]un.sh", "/dst/"], "COPY")
    assert [i.path for i in res.infos] == ["a.txt", "dir", "run.sh"]
    res = C.resolve_sources(ctx.source, ["dir/*", "/dst/"], "COPY")
    assert [i.path for i in res.infos] == ["dir/b.txt", "dir/sub"]
    one = C.resolve_sources(ctx.source, ["a*", "/dst"], "COPY")
    assert one.hash == DOCKER_A  # a single match is hashed as that file


def test_urls_for_add(ctx):
    res = C.resolve_sources(ctx.source, ["https://example.com/f.tgz", "a.txt", "/d/"], "ADD",
                            allow_urls=True, url_hashes={"https://example.com/f.tgz": "file:abc"})
    assert [(i.path, i.is_url, i.no_decompress) for i in res.infos] == \
        [("https://example.com/f.tgz", True, True), ("a.txt", False, False)]
    assert res.urls == ["https://example.com/f.tgz"]


def test_go_glob_match():
    assert C.glob_match("*.txt", "a.txt") and not C.glob_match("*.txt", "d/a.txt")
    assert C.glob_match("d/*", "d/x") and not C.glob_match("d/*", "d/x/y")
    assert C.glob_match("[a-c]?", "bz") and not C.glob_match("[^a-c]?", "bz")
    assert C.glob_match("\\*", "*") and not C.glob_match("\\*", "a")
    assert not C.glob_match("[", "[")
    assert C.contains_wildcards("a*") and not C.contains_wildcards("a\\*b")


def test_destinations():
    assert C.normalize_dest("", "x") == "/x"
    assert C.normalize_dest("/app", "x/") == "/app/x/"
    assert C.normalize_dest("/app", ".") == "/app"
    assert C.normalize_dest("/app", "/abs") == "/abs"
    assert C.copy_target("/d/", "dir/a.txt", dest_is_dir=False) == "/d/a.txt"
    assert C.copy_target("/d", "a.txt", dest_is_dir=True) == "/d/a.txt"
    assert C.copy_target("/d", "a.txt", dest_is_dir=False) == "/d"


def test_is_archive(tmp_path):
    payload = cli_tar({"x": b"1"})
    (tmp_path / "t.tar").write_bytes(payload)
    (tmp_path / "t.tgz").write_bytes(gzip.compress(payload))
    (tmp_path / "t.txz").write_bytes(lzma.compress(payload))
    (tmp_path / "text.gz").write_bytes(gzip.compress(b"just text" * 100))
    (tmp_path / "plain").write_bytes(b"hello" * 200)
    (tmp_path / "empty.tar").write_bytes(b"\0" * 10240)
    assert C.is_archive(str(tmp_path / "t.tar"))
    assert C.is_archive(str(tmp_path / "t.tgz"))
    assert C.is_archive(str(tmp_path / "t.txz"))
    assert not C.is_archive(str(tmp_path / "text.gz"))
    assert not C.is_archive(str(tmp_path / "plain"))
    assert not C.is_archive(str(tmp_path / "empty.tar"))


def test_url_helpers():
    assert C.is_url("http://x") and C.is_url("https://x") and not C.is_url("ftp://x")
    assert C.download_filename("/path/file.tgz") == "file.tgz"
    assert C.download_filename("/dir/", 'attachment; filename="n a.txt"') == "n a.txt"
    assert C.download_filename("", "attachment; filename=x.bin") == "x.bin"
    assert C.download_filename("/") == ""


def test_lazy_source_hashes_from_disk(tmp_path):
    (tmp_path / "f").write_bytes(b"content")
    src = C.Source(str(tmp_path))
    h1 = src.hash("f")
    assert len(h1) == 64
    src2 = C.Source(str(tmp_path))
    (tmp_path / "f").write_bytes(b"changed")
    assert src2.hash("f") != h1
    assert src2.hash("missing") == "missing"


def _cut_after_last_entry(data: bytes, short_by: int = 0) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        last = tf.getmembers()[-1]
    return data[:last.offset_data + last.size - short_by]


def test_cli_stdin_dockerfile_tar_without_trailer():
    # `docker build -f - .` sends a tar that stops right after the injected Dockerfile's data
    # (no padding, no end blocks); dockerd's Go reader accepts it, so must we.
    data = cli_tar({".dockerignore": b"*.log\n\n.dockerfile.8d60324d1b707c5c8e7d\n", "f": b"data\n",
                    ".dockerfile.8d60324d1b707c5c8e7d": b"FROM busybox\nCOPY . /all/\n"})
    cut = _cut_after_last_entry(data)
    assert len(cut) % 512 != 0
    c = C.read_context(io.BytesIO(cut), ".dockerfile.8d60324d1b707c5c8e7d")
    try:
        assert sorted(os.listdir(c.source.root)) == [".dockerignore", "f"]
        assert c.dockerfile.stages[0].commands[0].sources == ["."]
    finally:
        c.cleanup()
    # …but a file cut short is an error, not a zero-filled file
    with pytest.raises(C.ContextError, match="unexpected end of data"):
        C.read_context(io.BytesIO(_cut_after_last_entry(data, short_by=3)), "x")


def test_checksum_follows_the_header_the_cli_sent():
    # docker CLI 20.10 puts Go 1.8 type bits in the mode (0100644); dockerd 20.10 then recorded
    # `COPY file:679c43c7… in /a` for the same a.txt (CLI 28 gives 00ec1633…).
    from buildtars import with_type_bits
    data = with_type_bits({"Dockerfile": b"FROM busybox\n", "a.txt": b"hello\n"})
    c = C.read_context(io.BytesIO(data))
    try:
        assert hash_of(c, "a.txt") == \
            "file:679c43c79a56cffbb3b002bda3050542c152a2f09757a0f1a9578871f7cda00d"
    finally:
        c.cleanup()
