"""The cp child's scope rule: a mount point is found inside the container's tree even through symlinks."""
import os

from pydockerd.daemon.archive_child import _in_scope


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
