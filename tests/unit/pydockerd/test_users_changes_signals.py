import signal

import pytest

from pydockerd.daemon.changes import apply_changes
from pydockerd.daemon.signals import parse_signal
from pydockerd.daemon.users import resolve_user
from pydockerd.errors import InvalidParameter

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\nbob:x:1000:1000::/home/bob:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:root,bob\nbob:x:1000:\nnogroup:x:65534:\nstaff:x:50:\n"


def test_resolve_user_forms():
    # the primary gid leads the supplementary groups (moby since CVE-2022-36109), then the user's groups
    assert resolve_user("bob", PASSWD, GROUP).__dict__ == {"uid": 1000, "gid": 1000, "additional_gids": [1000, 10]}
    assert resolve_user("1000:50", PASSWD, GROUP).__dict__ == {"uid": 1000, "gid": 50, "additional_gids": [50]}
    assert resolve_user("4242", PASSWD, GROUP).__dict__ == {"uid": 4242, "gid": 0, "additional_gids": [0]}
    assert resolve_user("nobody:staff", PASSWD, GROUP).gid == 50
    with pytest.raises(InvalidParameter, match="unable to find user alice: no matching entries in passwd file"):
        resolve_user("alice", PASSWD, GROUP)
    with pytest.raises(InvalidParameter, match="unable to find group nope"):
        resolve_user("bob:nope", PASSWD, GROUP)


def test_apply_changes():
    cfg = apply_changes({}, ['CMD ["echo", "x"]', "ENTRYPOINT /bin/sh", "ENV A=1 B=2", "ENV C three words",
                             "EXPOSE 80 53/udp", "LABEL k=v", "WORKDIR /app", "USER nobody", "VOLUME /data"])
    assert cfg["Cmd"] == ["echo", "x"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh"]
    assert cfg["Env"] == ["A=1", "B=2", "C=three words"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert (cfg["Labels"], cfg["WorkingDir"], cfg["User"], cfg["Volumes"]) == ({"k": "v"}, "/app", "nobody", {"/data": {}})
    with pytest.raises(InvalidParameter, match="RUN is not a valid change command"):
        apply_changes({}, ["RUN true"])


@pytest.mark.parametrize("raw,num", [("KILL", 9), ("SIGTERM", 15), ("9", 9), ("int", 2), (signal.SIGUSR1, 10)])
def test_parse_signal(raw, num):
    assert parse_signal(int(raw) if isinstance(raw, signal.Signals) else raw) == num


def test_parse_signal_rejects():
    with pytest.raises(InvalidParameter, match="Invalid signal: FOO"):
        parse_signal("FOO")
    with pytest.raises(InvalidParameter):
        parse_signal("0")


def test_read_only_view_never_reuses_the_upper_dir():
    from pydockerd.daemon.rootfs import read_only_options
    opts = read_only_options("overlay", ["index=off", "workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs"])
    assert opts == ["lowerdir=/s/2/fs:/s/1/fs"]
    assert read_only_options("bind", ["rbind", "rw"]) == []


def test_read_layered_follows_overlay_rules_without_mounting(tmp_path):
    """/etc/group read from an overlay's dirs: the upper dir first, lower dirs top first; a whiteout or an
    opaque directory ends the search; a symlink leaves it to a mount (None)."""
    import os
    from types import SimpleNamespace

    from pydockerd.daemon.rootfs import read_layered
    up, mid, low = (tmp_path / n for n in ("up", "mid", "low"))
    for d in (up, mid, low):
        (d / "etc").mkdir(parents=True)
    (low / "etc" / "group").write_text("low\n")
    (low / "etc" / "passwd").write_text("low-passwd\n")
    mount = SimpleNamespace(type="overlay", options=[f"upperdir={up}", f"workdir={tmp_path}/w",
                                                     f"lowerdir={mid}:{low}"])
    assert read_layered([mount], "/etc/group") == "low\n"
    (mid / "etc" / "group").write_text("mid\n")
    assert read_layered([mount], "/etc/group") == "mid\n"
    os.mknod(up / "etc" / "group", 0o600 | 0o020000, os.makedev(0, 0))  # a whiteout: deleted in the container
    assert read_layered([mount], "/etc/group") == ""
    os.setxattr(up / "etc", "trusted.overlay.opaque", b"y")  # an opaque /etc hides the lower ones
    assert read_layered([mount], "/etc/passwd") == ""
    os.removexattr(up / "etc", "trusted.overlay.opaque")
    assert read_layered([mount], "/etc/passwd") == "low-passwd\n"
    (up / "etc" / "passwd").symlink_to("/etc/shadow")
    assert read_layered([mount], "/etc/passwd") is None  # where it leads is for a mounted tree to say
    assert read_layered([SimpleNamespace(type="bind", source=str(low), options=[])], "/etc/group") == "low\n"
    assert read_layered([SimpleNamespace(type="bind", source=str(low), options=[])], "/etc/nosuch") == ""
