"""The layer applier (pycontainerd.archive.apply_layer) against a corpus of malicious tars.

Every case runs against a fresh target directory with a victim directory beside it: afterwards the
victim is untouched, and a refused entry is named in the error.
"""
from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from pycontainerd.archive import ApplyError, apply_layer


def make_tar(path, entries) -> str:
    with tarfile.open(path, "w") as tf:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data
                tf.addfile(info)
            elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = data
                tf.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return str(path)


@pytest.fixture
def dirs(tmp_path):
    target, outside = tmp_path / "snap", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (outside / "victim").write_bytes(b"original")
    (outside / "x").write_bytes(b"keep")
    return target, outside


def _fill(entries, outside):
    fill = {"outside": str(outside), "outside_rel": str(outside).lstrip("/")}
    return [(n.format(**fill), k, d.format(**fill) if isinstance(d, str) else d) for n, k, d in entries]


CASES = {
    "dotdot": ([("../../../../../../../../{outside_rel}/pwned", tarfile.REGTYPE, b"x")], None),
    "absolute": ([("/{outside_rel}/pwned", tarfile.REGTYPE, b"x")], None),
    "abs-symlink-parent": ([("esc", tarfile.SYMTYPE, "{outside}"), ("esc/pwned", tarfile.REGTYPE, b"x")],
                           "esc/pwned"),
    "rel-symlink-parent": ([("lnk", tarfile.SYMTYPE, "../../../../../../../../{outside_rel}"),
                            ("lnk/victim", tarfile.REGTYPE, b"overwritten")], "lnk/victim"),
    "hardlink-to-host": ([("hard", tarfile.LNKTYPE, "{outside}/victim")], "hard"),
    "hardlink-dotdot": ([("hard2", tarfile.LNKTYPE, "../outside/victim")], "hard2"),
    "whiteout-dotdot": ([("../outside/.wh.x", tarfile.REGTYPE, b""), ("../.wh.outside", tarfile.REGTYPE, b"")],
                        None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malicious_entries_stay_inside(dirs, tmp_path, case):
    target, outside = dirs
    entries, refused = CASES[case]
    tar = make_tar(tmp_path / "layer.tar", _fill(entries, outside))
    if refused is None:
        apply_layer(tar, str(target))  # contained: the kernel resolves the path inside the target
    else:
        with pytest.raises(ApplyError) as err:
            apply_layer(tar, str(target))
        assert f"refused tar entry {refused!r}" in str(err.value)
    assert sorted(os.listdir(outside)) == ["victim", "x"]
    assert (outside / "victim").read_bytes() == b"original" and (outside / "x").read_bytes() == b"keep"
    if case in ("dotdot", "absolute"):
        # the write landed inside the snapshot, at the path as seen from its root
        assert (target / str(outside).lstrip("/") / "pwned").read_bytes() == b"x"


def test_device_nodes_are_created_inside(dirs, tmp_path):
    target, outside = dirs
    tar = make_tar(tmp_path / "dev.tar", [("dev", tarfile.DIRTYPE, None), ("dev/null", tarfile.CHRTYPE, (1, 3)),
                                          ("../dev/evil", tarfile.BLKTYPE, (7, 0))])
    apply_layer(tar, str(target))
    st = os.lstat(target / "dev" / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_ISBLK(os.lstat(target / "dev" / "evil").st_mode)  # ../dev is the target's own /dev
    assert sorted(os.listdir(outside)) == ["victim", "x"]


def test_file_replaces_directory_and_back(dirs, tmp_path):
    target, outside = dirs
    layers = [
        [("d", tarfile.DIRTYPE, None), ("d/f", tarfile.REGTYPE, b"f"), ("d/sub", tarfile.DIRTYPE, None)],
        [("d", tarfile.REGTYPE, b"now a file")],
        [("d", tarfile.DIRTYPE, None), ("d/g", tarfile.REGTYPE, b"g")],
        [("d/g", tarfile.SYMTYPE, "{outside}/victim")],
    ]
    for i, entries in enumerate(layers[:2]):
        apply_layer(make_tar(tmp_path / f"l{i}.tar", _fill(entries, outside)), str(target))
    assert (target / "d").read_bytes() == b"now a file"
    apply_layer(make_tar(tmp_path / "l2.tar", layers[2]), str(target))
    assert sorted(os.listdir(target / "d")) == ["g"]  # the old directory's content is gone
    apply_layer(make_tar(tmp_path / "l3.tar", _fill(layers[3], outside)), str(target))
    assert os.readlink(target / "d" / "g") == f"{outside}/victim"  # a symlink is only data
    assert (outside / "victim").read_bytes() == b"original"
