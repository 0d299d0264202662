"""Reference normalisation as the CLI sends it to the daemon."""
import pytest

from cli import refs
from cli.errors import CLIError


@pytest.mark.parametrize("text,name,tag,familiar", [
    ("busybox", "docker.io/library/busybox", "latest", "busybox:latest"),
    ("user/app:1", "docker.io/user/app", "1", "user/app:1"),
    ("127.0.0.1:5000/x/bb:t", "127.0.0.1:5000/x/bb", "t", "127.0.0.1:5000/x/bb:t"),
    ("localhost/app", "localhost/app", "latest", "localhost/app:latest"),
    ("docker.io/library/alpine:3", "docker.io/library/alpine", "3", "alpine:3"),
])
def test_parse(text, name, tag, familiar):
    r = refs.parse(text)
    assert (r.name, r.tag, r.familiar()) == (name, tag, familiar)


def test_digest_reference_has_no_default_tag():
    d = "sha256:" + "a" * 64
    r = refs.parse(f"busybox@{d}")
    assert r.tag is None and r.digest == d and str(r) == f"docker.io/library/busybox@{d}"


def test_errors():
    with pytest.raises(CLIError) as e:
        refs.parse("Busybox")
    assert e.value.message == "invalid reference format: repository name (library/Busybox) must be lowercase"
    with pytest.raises(CLIError) as e:
        refs.parse("bad::ref")
    assert e.value.message == "invalid reference format"


def test_familiar_leaves_junk_alone():
    assert refs.familiar("docker.io/library/busybox") == "busybox"
    assert refs.familiar("<none>") == "<none>"


@pytest.mark.parametrize("name,short", [("docker.io/library/busybox", "busybox"), ("docker.io/user/app", "user/app"),
                                        ("docker.io/library/a/b", "library/a/b"), ("127.0.0.1:5000/x", "127.0.0.1:5000/x"),
                                        ("busybox", "busybox")])
def test_familiar_name(name, short):
    assert refs.familiar_name(name) == short
