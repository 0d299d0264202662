"""COPY/ADD into a root filesystem. Expected layouts, modes and owners are what `docker export`
showed for the same Dockerfile built by dockerd 20.10 (ownership checks need root)."""
from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest
from buildtars import cli_tar

from pydockerd.builder import copier as K
from pydockerd.builder import plan as P
from pydockerd.builder.context import Source, read_context
from pydockerd.builder.dockerfile import parse_dockerfile
from pydockerd.builder.errors import BuildError

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="ownership needs root")

PASSWD = "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
GROUP = "root:x:0:\ndaemon:x:1:\nmail:x:8:\n"


def _tar_bytes(owner: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        d = tarfile.TarInfo("sub2/")
        d.type, d.mode, d.uid, d.gid = tarfile.DIRTYPE, 0o755, owner, owner
        tf.addfile(d)
        f = tarfile.TarInfo("sub2/x")
        f.size, f.mode, f.uid, f.gid = 2, 0o644, owner, owner
        tf.addfile(f, io.BytesIO(b"x\n"))
    return buf.getvalue()


CONTEXT = {
    "a.txt": b"hello\n", "run.sh": (b"#!/bin/sh\n", 0o755), "dir": None, "dir/b.txt": b"b\n",
    "dir/sub": None, "dir/sub/c": b"c\n", "dir/ln": ("->", "b.txt"), "dir/empty": None,
    "t.tar": _tar_bytes(1000),
}


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "exists").mkdir()
    (root / "lib64").symlink_to("/usr/lib")  # an absolute symlink: must stay inside the root
    return root


def build(rootfs, dockerfile: str, files=None):
    """Run the COPY/ADD/WORKDIR steps of `dockerfile` into `rootfs`; returns written paths."""
    data = {"Dockerfile": dockerfile.encode(), **(files or CONTEXT)}
    ctx = read_context(io.BytesIO(cli_tar(data)))
    try:
        plan = P.make_plan(ctx.dockerfile)
        b = P.Builder(plan)
        state = None
        written = []
        for step in plan.steps:
            if step.kind == "from":
                state = b.begin_stage(step.stage, "sha256:base", {})
                continue
            action = b.dispatch(state, step.instruction)
            if isinstance(action, P.CopyAction):
                action.resolve(ctx.source)
                written += K.perform_copy(action, ctx.source, str(rootfs)).paths
            elif isinstance(action, P.CommitAction) and action.make_workdir:
                K.make_workdir(str(rootfs), action.make_workdir)
        return written
    finally:
        ctx.cleanup()


def info(path) -> tuple:
    st = os.lstat(path)
    kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
    return kind, oct(stat.S_IMODE(st.st_mode)), st.st_uid, st.st_gid


def tree(root, top: str) -> dict[str, tuple]:
    out = {}
    base = os.path.join(root, top.lstrip("/"))
    out[top] = info(base)
    for cur, dirs, files in os.walk(base):
        for n in dirs + files:
            full = os.path.join(cur, n)
            out["/" + os.path.relpath(full, root)] = info(full)
    return out


def test_file_destinations(rootfs):
    build(rootfs, "FROM busybox\nCOPY a.txt /f1\nCOPY a.txt /d1/\nCOPY a.txt run.sh /d2/\n"
                  "COPY a.txt /exists\nCOPY dir/ln /l1\nWORKDIR /w/x\nCOPY a.txt rel\n")
    assert (rootfs / "f1").read_bytes() == b"hello\n"
    assert (rootfs / "d1" / "a.txt").is_file()
    assert sorted(os.listdir(rootfs / "d2")) == ["a.txt", "run.sh"]
    assert info(rootfs / "d2" / "run.sh")[:2] == ("f", "0o755")
    assert (rootfs / "exists" / "a.txt").is_file()          # an existing directory takes the file in
    assert info(rootfs / "l1")[0] == "f" and (rootfs / "l1").read_bytes() == b"b\n"  # link followed
    assert (rootfs / "w" / "x" / "rel").read_bytes() == b"hello\n"


def test_directory_sources_copy_their_contents(rootfs):
    build(rootfs, "FROM busybox\nCOPY dir /d3\nCOPY dir /d4/\n")
    for top in ("d3", "d4"):
        assert sorted(os.listdir(rootfs / top)) == ["b.txt", "empty", "ln", "sub"]
        assert os.readlink(rootfs / top / "ln") == "b.txt"   # links inside a tree stay links
        assert (rootfs / top / "sub" / "c").read_bytes() == b"c\n"


@ROOT_ONLY
def test_ownership_matches_docker(rootfs):
    build(rootfs, "FROM busybox\nCOPY --chown=1:2 dir /d5/\nCOPY --chown=daemon a.txt /d6/x\n"
                  "COPY --chown=daemon:mail a.txt /d7\nCOPY a.txt /f1\n")
    assert tree(rootfs, "/d5") == {
        "/d5": ("d", "0o755", 1, 2), "/d5/b.txt": ("f", "0o644", 1, 2),
        "/d5/empty": ("d", "0o755", 1, 2), "/d5/ln": ("l", "0o777", 1, 2),
        "/d5/sub": ("d", "0o755", 1, 2), "/d5/sub/c": ("f", "0o644", 1, 2)}
    assert info(rootfs / "d6") == ("d", "0o755", 1, 1)      # new parents get the --chown owner
    assert info(rootfs / "d6" / "x") == ("f", "0o644", 1, 1)
    assert info(rootfs / "d7") == ("f", "0o644", 1, 8)
    assert info(rootfs / "f1") == ("f", "0o644", 0, 0)


@ROOT_ONLY
def test_existing_destination_keeps_its_owner(rootfs):
    os.chown(rootfs / "exists", 7, 8)
    build(rootfs, "FROM busybox\nCOPY --chown=9:9 dir /exists/\n")
    assert info(rootfs / "exists")[2:] == (7, 8)
    assert info(rootfs / "exists" / "b.txt")[2:] == (9, 9)


@ROOT_ONLY
def test_add_extracts_local_archives_keeping_their_owners(rootfs):
    build(rootfs, "FROM busybox\nADD t.tar /e1/\nADD t.tar /e2\nADD a.txt /e3\nCOPY t.tar /e4\n")
    for top in ("e1", "e2"):
        assert info(rootfs / top / "sub2" / "x") == ("f", "0o644", 1000, 1000)
    assert (rootfs / "e3").read_bytes() == b"hello\n"
    assert (rootfs / "e4").is_file()     # COPY never extracts


def test_copy_from_preserves_ownership_unless_chown(rootfs, tmp_path):
    stage_root = tmp_path / "stage"
    (stage_root / "d").mkdir(parents=True)
    (stage_root / "d" / "f").write_text("x")
    if os.geteuid() == 0:
        os.chown(stage_root / "d" / "f", 3, 4)
    df = parse_dockerfile("FROM busybox AS s\nFROM busybox\nCOPY --from=s /d /p1\n")
    plan = P.make_plan(df)
    b = P.Builder(plan)
    b.end_stage(b.begin_stage(plan.stages[0], "sha256:s", {}))
    state = b.begin_stage(plan.stages[1], "sha256:b", {})
    action = b.dispatch(state, plan.stages[1].commands[0])
    src = Source(str(stage_root))
    action.resolve(src)
    assert action.created_by.startswith("/bin/sh -c #(nop) COPY dir:")
    K.perform_copy(action, src, str(rootfs))
    assert (rootfs / "p1" / "f").read_text() == "x"
    if os.geteuid() == 0:
        assert info(rootfs / "p1" / "f")[2:] == (3, 4)


def test_writes_stay_inside_the_root(rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "escape").symlink_to(str(outside))
    build(rootfs, "FROM busybox\nCOPY a.txt /escape/\nCOPY dir /lib64/x/\n")
    assert os.listdir(outside) == []
    assert (rootfs / str(outside).lstrip("/") / "a.txt").is_file()   # resolved in the root's scope
    assert (rootfs / "usr" / "lib" / "x" / "b.txt").is_file()


def test_chown_errors(rootfs):
    with pytest.raises(BuildError) as exc:
        build(rootfs, "FROM busybox\nCOPY --chown=nobody a.txt /x\n")
    assert exc.value.message == ("unable to convert uid/gid chown string to host mapping: can't find "
                                 "uid for user nobody: no such user: nobody")
    with pytest.raises(BuildError) as exc:
        build(rootfs, "FROM busybox\nCOPY --chown=daemon:nogroup a.txt /x\n")
    assert exc.value.message == ("unable to convert uid/gid chown string to host mapping: can't find "
                                 "gid for group nogroup: no such group: nogroup")
    assert K.parse_chown("12:34", str(rootfs)) == (12, 34)
    assert K.parse_chown("daemon", str(rootfs)) == (1, 1)
    with pytest.raises(BuildError, match="invalid chown string format: a:b:c"):
        K.parse_chown("a:b:c", str(rootfs))


def test_url_sources_use_the_downloaded_file(rootfs, tmp_path):
    dl = tmp_path / "dl"
    dl.mkdir()
    (dl / "file.tar").write_bytes(_tar_bytes(0))
    df = parse_dockerfile("FROM busybox\nADD http://example.com/file.tar /u/\n")
    plan = P.make_plan(df)
    b = P.Builder(plan)
    state = b.begin_stage(plan.stages[0], "sha256:b", {})
    action = b.dispatch(state, plan.stages[0].commands[0])
    url = "http://example.com/file.tar"
    action.resolve(None, url_hashes={url: "file:" + "0" * 64})
    K.perform_copy(action, None, str(rootfs), downloads={url: str(dl / "file.tar")})
    assert (rootfs / "u" / "file.tar").is_file()   # downloads are never extracted
