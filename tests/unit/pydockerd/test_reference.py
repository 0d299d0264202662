import pytest

from pydockerd.daemon import reference
from pydockerd.errors import InvalidParameter


@pytest.mark.parametrize("raw,full,familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("myorg/app:1", "docker.io/myorg/app:1", "myorg/app:1"),
    ("docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest"),
    ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3", "alpine:3"),
    ("localhost:5000/x/y:z", "localhost:5000/x/y:z", "localhost:5000/x/y:z"),
    ("registry.example.com/team/img", "registry.example.com/team/img:latest", "registry.example.com/team/img:latest"),
])
def test_parse_normalises(raw, full, familiar):
    ref = reference.parse(raw)
    assert str(ref) == full
    assert ref.familiar() == familiar


@pytest.mark.parametrize("raw", ["", "UPPER", "a b", "x:", ":tag", "img@sha256:short"])
def test_parse_rejects(raw):
    with pytest.raises(InvalidParameter):
        reference.parse(raw)


def test_repo_tag_from_query():
    assert str(reference.parse_repo_tag("busybox:latest", "")) == "docker.io/library/busybox:latest"
    assert str(reference.parse_repo_tag("docker.io/library/busybox", "v1")) == "docker.io/library/busybox:v1"
    assert str(reference.parse_repo_tag("busybox", "")) == "docker.io/library/busybox:latest"
    with pytest.raises(InvalidParameter):
        reference.parse_repo_tag("busybox:1", "2")


def test_familiar_string_keeps_unparseable_names():
    assert reference.familiar_string("docker.io/library/busybox:latest") == "busybox:latest"
    assert reference.familiar_string("moby-dangling@sha256:abc") == "moby-dangling@sha256:abc"
