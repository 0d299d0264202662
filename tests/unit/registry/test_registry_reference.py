import pytest

from pycontainerd.registry.errors import InvalidReferenceError
from pycontainerd.registry.reference import familiar, parse_reference

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,name,tag,digest", [
    ("busybox", "docker.io/library/busybox", "latest", ""),
    ("busybox:1.36", "docker.io/library/busybox", "1.36", ""),
    ("library/busybox", "docker.io/library/busybox", "latest", ""),
    ("user/app:v1", "docker.io/user/app", "v1", ""),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", "latest", ""),
    ("docker.io/busybox", "docker.io/library/busybox", "latest", ""),
    ("localhost/foo", "localhost/foo", "latest", ""),
    ("localhost:5000/foo/bar:tag", "localhost:5000/foo/bar", "tag", ""),
    ("127.0.0.1:5000/foo", "127.0.0.1:5000/foo", "latest", ""),
    ("quay.io/a/b/c", "quay.io/a/b/c", "latest", ""),
    ("[::1]:5000/foo", "[::1]:5000/foo", "latest", ""),
    (f"busybox@{D}", "docker.io/library/busybox", "", D),
    (f"busybox:1@{D}", "docker.io/library/busybox", "1", D),
    ("a__b/c-d.e_f--g:x", "docker.io/a__b/c-d.e_f--g", "x", ""),
])
def test_normalize(text, name, tag, digest):
    r = parse_reference(text)
    assert (r.name, r.tag, r.digest) == (name, tag, digest)


def test_api_host_and_object():
    r = parse_reference("busybox")
    assert r.api_host == "registry-1.docker.io"
    assert r.object == "latest"
    assert parse_reference(f"x@{D}").object == D
    assert parse_reference("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"


@pytest.mark.parametrize("full,short", [
    ("docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/user/app:1", "user/app:1"),
    ("docker.io/library/a/b:1", "library/a/b:1"),
    ("localhost:5000/foo:latest", "localhost:5000/foo:latest"),
    (f"docker.io/library/busybox@{D}", f"busybox@{D}"),
])
def test_familiar(full, short):
    assert familiar(full) == short


@pytest.mark.parametrize("text,msg", [
    ("", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("bus box", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox:tag with space", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "AB" * 32, "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("x/" + "a" * 260, "must not be more than 255 characters"),
])
def test_invalid(text, msg):
    with pytest.raises(InvalidReferenceError) as e:
        parse_reference(text)
    assert msg in str(e.value)


def test_uppercase_host_is_domain():
    # An uppercase first component can only be a host name.
    assert parse_reference("Example.com/foo").domain == "Example.com"


def test_no_default_tag():
    assert parse_reference("busybox", default_tag=False).tag == ""
    assert str(parse_reference("busybox").with_tag("1")) == "docker.io/library/busybox:1"
