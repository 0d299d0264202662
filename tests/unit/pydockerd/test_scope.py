"""The scope rule (cp's mount points, the init layer): symlinks resolve inside the container's tree."""
import os

from pydockerd.scope import in_scope as _in_scope


def test_symlinks_resolve_inside_the_tree(tmp_path):
    r = str(tmp_path)
    os.makedirs(f"{r}/real/sub")
    os.symlink("/etc", f"{r}/data")  # absolute: the container's /etc, never the host's
    os.symlink("../real", f"{r}/rel")
    os.symlink("../../../..", f"{r}/up")
    assert _in_scope(r, "/data") == f"{r}/etc"
    assert _in_scope(r, "/data/passwd") == f"{r}/etc/passwd"
    assert _in_scope(r, "/rel/sub") == f"{r}/real/sub"
    assert _in_scope(r, "/up/x") == f"{r}/x"  # no way above the root
    assert _in_scope(r, "/a/../../b") == f"{r}/b"
    os.symlink("loop", f"{r}/loop")
    try:
        _in_scope(r, "/loop")
    except OSError as exc:
        assert "too many links" in str(exc)
    else:
        raise AssertionError("a symlink loop must fail")


def test_init_layer_setup_stays_inside_the_tree(tmp_path):
    """An image whose /etc links to an absolute host path gets its init files inside its own tree."""
    from pydockerd.daemon import initlayer
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(str(outside), root / "etc")  # absolute: would be the host's directory if followed from the host
    initlayer.setup(str(root))
    assert list(outside.iterdir()) == []
    inner = root / str(outside).lstrip("/")
    assert sorted(p.name for p in inner.iterdir()) == ["hostname", "hosts", "mtab", "resolv.conf"]
    assert (root / ".dockerenv").is_file() and os.readlink(inner / "mtab") == "/proc/mounts"
