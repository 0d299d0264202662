import pytest

from pycontainerd.registry.platforms import Platform, normalize, parse_platform, preference_order, select


@pytest.mark.parametrize("arch,variant,out", [
    ("x86_64", "", ("amd64", "")), ("x86-64", "v1", ("amd64", "")), ("aarch64", "v8", ("arm64", "")),
    ("armhf", "", ("arm", "v7")), ("armel", "", ("arm", "v6")), ("arm", "", ("arm", "v7")),
    ("arm", "6", ("arm", "v6")), ("i386", "", ("386", "")), ("AMD64", "", ("amd64", "")),
])
def test_normalize(arch, variant, out):
    p = normalize(Platform("Linux", arch, variant))
    assert (p.os, p.architecture, p.variant) == ("linux",) + out


def test_parse():
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64")
    assert parse_platform("arm64") == Platform("linux", "arm64")
    assert parse_platform("linux") == Platform("linux", "amd64")
    with pytest.raises(ValueError):
        parse_platform("linux//")


def test_preference_order():
    assert [str(p) for p in preference_order(Platform("linux", "amd64"))] == ["linux/amd64", "linux/386"]
    assert [str(p) for p in preference_order(Platform("linux", "arm64"))] == [
        "linux/arm64", "linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
    assert [str(p) for p in preference_order(Platform("linux", "amd64", "v3"))] == [
        "linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]


def test_select_prefers_rank_then_order():
    entries = ["att", "386", "arm64", "amd64", "amd64-dup"]
    plats = [Platform("unknown", "unknown"), Platform("linux", "386"), Platform("linux", "arm64"),
             Platform("linux", "x86_64"), Platform("linux", "amd64")]
    assert select(entries, plats, Platform("linux", "amd64")) == "amd64"
    assert select(entries, plats, Platform("linux", "arm64")) == "arm64"
    assert select(entries, plats, Platform("linux", "arm", "v7")) is None
    assert select(entries[:2], plats[:2], Platform("linux", "amd64")) == "386"
    assert select(["a"], [Platform("unknown", "unknown")], Platform("unknown", "unknown")) is None
    assert select(["windows"], [Platform("windows", "amd64")], Platform("linux", "amd64")) is None
