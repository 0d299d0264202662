"""The native snapshotter: full copies (owners, modes, xattrs, hard links, special files kept), bind mounts,
whiteouts applied as deletions, changes against the parent; pycontainerd with `--snapshotter native` and
the automatic fallback when overlay mounts are refused; the real `ctr` running containers on it."""
from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from pcd_helpers import REPO, Daemon, cleanup_leftovers, daemon_fixture, mounts_under

sys.path.insert(0, str(REPO))
from protos.containerd.services.introspection.v1 import introspection_pb2, introspection_pb2_grpc  # noqa: E402
from protos.containerd.services.snapshots.v1 import snapshots_pb2  # noqa: E402
from pycontainerd import diff  # noqa: E402
from pycontainerd.errdefs import FailedPrecondition  # noqa: E402
from pycontainerd.metadata import Store  # noqa: E402
from pycontainerd.snapshots.changes import ADD, DELETE, DIR, MODIFY, changes  # noqa: E402
from pycontainerd.snapshots.native import NativeSnapshotter  # noqa: E402

CTR = shutil.which("ctr")
NS = "t"


@pytest.fixture
def sn(tmp_path):
    meta = Store(str(tmp_path / "meta.db"))
    yield NativeSnapshotter(str(tmp_path / "native"), meta)
    meta.close()


def _fill(root: str) -> None:
    """A tree with what layers carry: owners, odd modes, set-id, xattrs, hard links, symlinks, devices."""
    os.makedirs(f"{root}/etc/conf.d")
    os.chmod(f"{root}/etc/conf.d", 0o750)
    os.chown(f"{root}/etc/conf.d", 1000, 1001)
    Path(f"{root}/etc/conf.d/a.conf").write_text("a=1\n")
    os.chown(f"{root}/etc/conf.d/a.conf", 1000, 1001)
    Path(f"{root}/bin").mkdir()
    Path(f"{root}/bin/tool").write_bytes(os.urandom(300_000))
    os.chmod(f"{root}/bin/tool", 0o4755)
    os.link(f"{root}/bin/tool", f"{root}/bin/tool-alias")
    os.symlink("tool", f"{root}/bin/link")
    os.setxattr(f"{root}/bin/tool", "user.origin", b"layer0")
    os.mkfifo(f"{root}/fifo", 0o640)
    os.mknod(f"{root}/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.utime(f"{root}/etc/conf.d/a.conf", ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))


def _source(mounts) -> str:
    (m,) = mounts
    assert m.type == "bind"
    return m.source


def test_prepare_copies_the_parent_tree_exactly(sn):
    base = _source(sn.prepare(NS, "base-key"))
    _fill(base)
    sn.commit(NS, "base", "base-key")
    mounts = sn.prepare(NS, "child", "base")
    assert mounts[0].options == ["rw", "rbind"]
    child = _source(mounts)
    assert child != base
    for rel in ("etc/conf.d", "etc/conf.d/a.conf", "bin/tool", "bin/link", "fifo", "null"):
        a, b = os.lstat(f"{base}/{rel}"), os.lstat(f"{child}/{rel}")
        assert (b.st_mode, b.st_uid, b.st_gid, b.st_rdev) == (a.st_mode, a.st_uid, a.st_gid, a.st_rdev), rel
        if not stat.S_ISDIR(a.st_mode):
            assert b.st_mtime_ns == a.st_mtime_ns, rel
        assert b.st_ino != a.st_ino, rel  # a copy, not a link into the parent
    assert stat.S_IMODE(os.lstat(f"{child}/bin/tool").st_mode) == 0o4755  # set-id survived the chown
    assert os.readlink(f"{child}/bin/link") == "tool"
    assert Path(f"{child}/bin/tool").read_bytes() == Path(f"{base}/bin/tool").read_bytes()
    assert os.getxattr(f"{child}/bin/tool", "user.origin") == b"layer0"
    assert os.lstat(f"{child}/bin/tool").st_ino == os.lstat(f"{child}/bin/tool-alias").st_ino
    assert stat.S_ISFIFO(os.lstat(f"{child}/fifo").st_mode)
    # writes to the child leave the parent alone
    Path(f"{child}/etc/conf.d/a.conf").write_text("a=2\n")
    assert Path(f"{base}/etc/conf.d/a.conf").read_text() == "a=1\n"
    view = sn.view(NS, "v", "base")
    assert view[0].options == ["ro", "rbind"] and Path(_source(view), "etc/conf.d/a.conf").read_text() == "a=1\n"
    with pytest.raises(FailedPrecondition):
        sn.remove(NS, "base")  # children first
    for key in ("v", "child", "base"):
        sn.remove(NS, key)
    assert sn.list(NS) == [] and os.listdir(sn.dir) == []


def _layer_tar(path: Path, entries: list[tuple[str, bytes | None]]) -> None:
    with tarfile.open(path, "w") as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


def test_whiteouts_delete_and_changes_give_them_back(sn, tmp_path):
    layer0 = tmp_path / "l0.tar"
    _layer_tar(layer0, [("d", None), ("d/keep", b"k"), ("d/gone", b"g"), ("old", None), ("old/x", b"x"),
                        ("opq", None), ("opq/inner", b"i")])
    mounts = sn.prepare(NS, "k0")
    diff.apply_to_mounts(str(layer0), "", mounts, str(tmp_path / "tmp"))
    sn.commit(NS, "c0", "k0")
    layer1 = tmp_path / "l1.tar"
    _layer_tar(layer1, [("d/.wh.gone", b""), (".wh.old", b""), ("opq/.wh..wh..opq", b""), ("opq/new", b"n")])
    mounts = sn.prepare(NS, "k1", "c0")
    diff.apply_to_mounts(str(layer1), "", mounts, str(tmp_path / "tmp"))
    top = _source(mounts)
    assert sorted(os.listdir(top)) == ["d", "opq"]
    assert os.listdir(f"{top}/d") == ["keep"] and os.listdir(f"{top}/opq") == ["new"]  # no whiteout devices
    sn.commit(NS, "c1", "k1")

    lower = _source(sn.view(NS, "v0", "c0"))
    upper = _source(sn.view(NS, "v1", "c1"))
    assert list(changes(lower, upper)) == [(DIR, "d"), (DELETE, "d/gone"), (DELETE, "old"), (DIR, "opq"),
                                           (DELETE, "opq/inner"), (ADD, "opq/new")]
    # same size and whole-second mtime but other bytes: compared by content, as continuity does
    k = _source(sn.prepare(NS, "k2", "c1"))
    st = os.lstat(f"{k}/d/keep")
    Path(f"{k}/d/keep").write_bytes(b"K")
    os.utime(f"{k}/d/keep", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.chmod(f"{k}/opq", 0o700)
    Path(f"{k}/d/sub").mkdir()
    Path(f"{k}/d/sub/f").write_bytes(b"f")
    assert list(changes(upper, k)) == [(DIR, "d"), (MODIFY, "d/keep"), (ADD, "d/sub"), (ADD, "d/sub/f"),
                                       (MODIFY, "opq")]
    for key in ("k2", "v1", "v0", "c1", "c0"):
        sn.remove(NS, key)


def _plugins(d: Daemon) -> dict[str, str]:
    stub = introspection_pb2_grpc.IntrospectionStub(d.channel)
    resp = stub.Plugins(introspection_pb2.PluginsRequest(filters=['type=="io.containerd.snapshotter.v1"']))
    return {p.id: p.init_err.message for p in resp.plugins}


@pytest.fixture(scope="module")
def native_daemon():
    yield from daemon_fixture("pcd-native-", extra=["--snapshotter", "native"])


def ctr(daemon: Daemon, ns: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CTR, "-a", daemon.address, "-n", ns, *args], capture_output=True, text=True,
                          timeout=timeout, cwd="/")


@pytest.mark.skipif(CTR is None, reason="ctr is not installed")
def test_daemon_with_native_default_runs_ctr_containers(native_daemon, rootfs_tar):
    d = native_daemon
    assert _plugins(d) == {"native": "", "overlayfs": ""}  # both load; native is the default
    c = d.stubs(f"n{uuid.uuid4().hex[:8]}")
    resp = c.import_tar(rootfs_tar, "rootfs", "busybox:latest")
    assert resp[-1].images[0].name == "docker.io/library/busybox:latest"
    native = ctr(d, c.ns, "snapshots", "--snapshotter", "native", "ls")
    assert native.returncode == 0 and "Committed" in native.stdout, native.stderr
    assert "Committed" not in ctr(d, c.ns, "snapshots", "ls").stdout  # nothing went to overlayfs
    cid = f"nat{uuid.uuid4().hex[:8]}"
    r = ctr(d, c.ns, "run", "--rm", "--snapshotter", "native", "docker.io/library/busybox:latest", cid,
            "sh", "-c", "echo written > /etc/mine && cat /etc/mine && ls /etc/mine")
    assert (r.returncode, r.stdout) == (0, "written\n/etc/mine\n"), r.stderr
    # the container's snapshot went with it; the image's stayed and has no trace of the write
    rows = [line.split() for line in ctr(d, c.ns, "snapshots", "--snapshotter", "native", "ls").stdout.splitlines()]
    assert rows[1:] and all(r[-1] == "Committed" for r in rows[1:]), rows
    (key,) = [r[0] for r in rows[1:]]
    view = c.snapshots.View(snapshots_pb2.ViewSnapshotRequest(snapshotter="native", key="look", parent=key),
                            metadata=c.md)
    assert not os.path.exists(os.path.join(view.mounts[0].source, "etc", "mine"))
    assert os.path.exists(os.path.join(view.mounts[0].source, "bin", "busybox"))
    c.snapshots.Remove(snapshots_pb2.RemoveSnapshotRequest(snapshotter="native", key="look"), metadata=c.md)
    assert not mounts_under(str(d.root))
    r = ctr(d, c.ns, "snapshots", "--snapshotter", "btrfs", "ls")
    assert r.returncode != 0 and "snapshotter not loaded: btrfs" in r.stderr


def test_overlay_refused_by_the_filesystem_falls_back_to_native(tmp_path, rootfs_tar):
    """A root on an overlay mount (overlay cannot be an upper layer of overlay): native, with a log line."""
    lay = Path(tempfile.mkdtemp(prefix="pcd-ovl-", dir="/tmp"))
    for sub in ("lower", "upper", "work", "merged"):
        (lay / sub).mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lay}/lower,upperdir={lay}/upper,workdir={lay}/work", str(lay / "merged")],
                   check=True)
    d = None
    try:
        d = Daemon(lay / "merged" / "pcd")
        (lay / "merged" / "pcd").mkdir()
        d.start()
        plugins = _plugins(d)
        assert plugins["native"] == "" and plugins["overlayfs"].startswith("skip plugin: ")
        log = (d.base / "pycontainerd.log").read_text()
        assert "overlayfs snapshotter not supported" in log and "falling back to the native snapshotter" in log
        c = d.stubs("fb")
        c.import_tar(rootfs_tar, "rootfs", "busybox:latest")
        infos = [i for r in c.snapshots.List(snapshots_pb2.ListSnapshotsRequest(snapshotter=""), metadata=c.md)
                 for i in r.info]
        assert [i.kind for i in infos] == [snapshots_pb2.COMMITTED]
    finally:
        if d is not None:
            d.stop()
            cleanup_leftovers(d)
        subprocess.run(["umount", str(lay / "merged")], check=False)
        shutil.rmtree(lay, ignore_errors=True)
