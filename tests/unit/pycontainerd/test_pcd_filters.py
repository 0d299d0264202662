"""containerd filter syntax."""
from __future__ import annotations

import pytest

from pycontainerd import filters
from pycontainerd.errdefs import InvalidArgument


def m(expr: list[str], fields: dict) -> bool:
    return filters.match(filters.parse(expr), filters.dict_adaptor(fields))


def test_operators_and_presence():
    f = {"name": "docker.io/library/busybox:latest", "labels": {"a.b": "1", "x": "y"}}
    assert m(["name==docker.io/library/busybox:latest"], f)
    assert not m(["name!=docker.io/library/busybox:latest"], f)
    assert m(['name~="busybox"'], f)
    assert not m(["name~=^busybox"], f)
    assert m(['labels."a.b"==1'], f)
    assert m(["labels.x"], f)
    assert not m(["labels.nope"], f)


def test_and_within_or_across():
    f = {"topic": "/tasks/exit", "namespace": "moby"}
    assert m(['topic=="/tasks/exit",namespace==moby'], f)
    assert not m(['topic=="/tasks/exit",namespace==other'], f)
    assert m(['namespace==other', 'topic~="^/tasks/"'], f)
    assert m([], f)


def test_bad_regexp_is_invalid_argument():
    with pytest.raises(InvalidArgument):
        filters.parse(["name~=("])
