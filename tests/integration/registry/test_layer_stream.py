"""The layer applier's stream path: gzip handling, tar formats through the splice reader, and applying a
layer while its file is still being written (what a pull does)."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import threading
import zlib

import pytest

from pycontainerd.archive import OUT_SIZE, ApplyError, apply_layer, apply_layer_stream, iter_uncompressed
from pycontainerd.registry.errors import DigestMismatchError
from pycontainerd.registry.feed import LayerFeed


def _tar(entries) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name, kind=tarfile.REGTYPE, size=0, **kw) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.mode, ti.mtime = kind, size, kw.pop("mode", 0o644), kw.pop("mtime", 1_600_000_000)
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti


def test_gzip_members_truncation_and_garbage():
    raw = os.urandom(300_000) + b"\0" * 700_000
    two = gzip.compress(raw[:400_000]) + gzip.compress(raw[400_000:])
    assert b"".join(iter_uncompressed(io.BytesIO(two))) == raw  # concatenated members, as Go reads them
    assert b"".join(iter_uncompressed(io.BytesIO(raw))) == raw  # not gzip: passed through
    with pytest.raises(EOFError):
        b"".join(iter_uncompressed(io.BytesIO(gzip.compress(raw)[:-20])))
    with pytest.raises(zlib.error):  # a damaged trailer (CRC/length) is caught by zlib
        b"".join(iter_uncompressed(io.BytesIO(gzip.compress(raw)[:-8] + b"\0" * 8)))
    with pytest.raises(zlib.error):
        b"".join(iter_uncompressed(io.BytesIO(gzip.compress(raw) + b"trailing junk")))


def test_a_gzip_bomb_never_comes_out_in_one_piece():
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # ~64 kB that inflate to 64 MiB
    sizes = [len(c) for c in iter_uncompressed(io.BytesIO(bomb))]
    assert sum(sizes) == 64 << 20 and max(sizes) <= OUT_SIZE


def test_tar_formats_through_the_splice_reader(tmp_path):
    long_dir = "d/" + "x" * 120
    big = os.urandom(3 << 20)  # several splice rounds
    layer = _tar([
        (_info("d", tarfile.DIRTYPE, mode=0o750, mtime=1_500_000_000), None),
        (_info(long_dir, tarfile.DIRTYPE, mode=0o755), None),
        (_info(f"{long_dir}/" + "y" * 150 + ".txt", size=5), b"hello"),  # pax path
        (_info("d/big.bin", size=len(big), uid=1234, gid=5678), big),
        (_info("d/empty"), b""),
        (_info("d/hard", tarfile.LNKTYPE, linkname="d/big.bin", uid=1234, gid=5678), None),
        (_info("d/sym", tarfile.SYMTYPE, linkname="big.bin"), None),
        (_info("d/attr", size=1, pax_headers={"SCHILY.xattr.user.k": "v"}), b"a"),
        (_info("d/setuid", size=2, mode=0o4755), b"#!"),
    ])
    target = tmp_path / "t"
    target.mkdir()
    applied = apply_layer_stream(io.BytesIO(gzip.compress(layer)), str(target))
    assert applied.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest() and applied.size == len(layer)
    assert (target / long_dir / ("y" * 150 + ".txt")).read_bytes() == b"hello"
    st = os.lstat(target / "d/big.bin")
    assert (target / "d/big.bin").read_bytes() == big and (st.st_uid, st.st_gid) == (1234, 5678)
    assert st.st_nlink == 2 and os.lstat(target / "d/hard").st_ino == st.st_ino
    assert os.readlink(target / "d/sym") == "big.bin" and (target / "d/empty").read_bytes() == b""
    assert os.stat(target / "d/setuid").st_mode & 0o7777 == 0o4755
    assert os.stat(target / "d").st_mode & 0o777 == 0o750 and os.stat(target / "d").st_mtime == 1_500_000_000
    try:
        assert os.getxattr(target / "d/attr", "user.k") == b"v"
    except OSError:
        pass  # a tmp filesystem without user xattrs: the applier skips them, as containerd does


@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_sparse_files_keep_their_holes(tmp_path, fmt):
    if not shutil.which("tar"):
        pytest.skip("GNU tar is needed to write sparse members")
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse.bin", "wb") as f:
        f.truncate(5 << 20)
        f.seek(1 << 20)
        f.write(b"hello")
        f.seek(4 << 20)
        f.write(b"end")
    subprocess.run(["tar", "-S", f"--format={fmt}", "-cf", str(tmp_path / "l.tar"), "-C", str(src), "sparse.bin"],
                   check=True)
    target = tmp_path / "t"
    target.mkdir()
    apply_layer(str(tmp_path / "l.tar"), str(target))
    assert (target / "sparse.bin").read_bytes() == (src / "sparse.bin").read_bytes()
    assert os.stat(target / "sparse.bin").st_blocks * 512 < 1 << 20  # the holes stayed holes


def _download_in_thread(path, tail, data: bytes, fail: Exception | None = None) -> threading.Thread:
    """Write `data` into `path` in pieces as a download does, then verify (finish) or fail."""
    def run():
        with open(path, "wb", buffering=0) as f:
            tail.attach(str(path), 0)
            for i in range(0, len(data), 100_000):
                f.write(data[i:i + 100_000])
                tail.grew(min(i + 100_000, len(data)))
        if fail is None:
            tail.finish(str(path))
        else:
            tail.fail(fail)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_applying_while_the_blob_downloads_gives_the_same_layer(tmp_path):
    layer = _tar([(_info("dir", tarfile.DIRTYPE, mode=0o755), None)]
                 + [(_info(f"dir/f{i}", size=200_000), os.urandom(200_000)) for i in range(10)])
    blob = gzip.compress(layer, compresslevel=1)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    feed = LayerFeed([(digest, len(blob))])
    tail = feed.get(digest)
    streamed, whole = tmp_path / "streamed", tmp_path / "whole"
    streamed.mkdir()
    whole.mkdir()
    writer = _download_in_thread(tmp_path / "blob.partial", tail, blob)
    got = apply_layer_stream(tail.reader(), str(streamed))
    writer.join()
    (tmp_path / "blob.gz").write_bytes(blob)
    assert got == apply_layer(str(tmp_path / "blob.gz"), str(whole))
    for i in range(10):
        assert (streamed / f"dir/f{i}").read_bytes() == (whole / f"dir/f{i}").read_bytes()
    feed.close()


def test_a_failed_download_stops_the_applier_with_its_error(tmp_path):
    layer = _tar([(_info(f"f{i}", size=300_000), os.urandom(300_000)) for i in range(5)])
    blob = gzip.compress(layer, compresslevel=1)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    feed = LayerFeed([(digest, len(blob))])
    tail = feed.get(digest)
    err = DigestMismatchError(f"blob {digest}", digest, "sha256:" + "0" * 64)
    writer = _download_in_thread(tmp_path / "blob.partial", tail, blob, fail=err)
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(DigestMismatchError):
        apply_layer_stream(tail.reader(), str(target))
    writer.join()
    feed.close()


def test_a_truncated_tar_names_the_problem(tmp_path):
    layer = _tar([(_info("f", size=100_000), os.urandom(100_000))])
    (tmp_path / "l.tar").write_bytes(layer[:50_000])
    target = tmp_path / "t"
    target.mkdir()
    with pytest.raises(ApplyError, match="unexpected end of data"):
        apply_layer(str(tmp_path / "l.tar"), str(target))


def test_one_applier_server_for_many_layers_keeps_every_guard(tmp_path):
    """A pull forks every layer's chrooted applier from one process: the malicious corpus is refused
    through it exactly as through a fresh process, and a refusal does not break the next layer."""
    from pycontainerd.archive import ApplierServer
    from test_layer_applier import CASES, _fill, make_tar

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"original")
    (outside / "x").write_bytes(b"keep")
    with ApplierServer() as server:
        for i, case in enumerate(sorted(CASES)):
            entries, refused = CASES[case]
            target = tmp_path / f"snap{i}"
            target.mkdir()
            with open(make_tar(tmp_path / f"{case}.tar", _fill(entries, outside)), "rb") as src:
                if refused is None:
                    apply_layer_stream(src, str(target), server)
                else:
                    with pytest.raises(ApplyError, match=f"refused tar entry {refused!r}"):
                        apply_layer_stream(src, str(target), server)
            assert sorted(os.listdir(outside)) == ["victim", "x"], case
            assert (outside / "victim").read_bytes() == b"original" and (outside / "x").read_bytes() == b"keep"
            good = _tar([(_info(f"ok{i}", size=3), b"yes")])
            assert apply_layer_stream(io.BytesIO(good), str(target), server).size == len(good)
            assert (target / f"ok{i}").read_bytes() == b"yes"
        proc = server.proc
    assert proc.poll() is not None  # closed with the socket: no process left behind
