"""The re-free JSON codec must agree with the json package."""
import json
import math

import pytest

from cli import jsoncodec

SAMPLES = [
    {"a": [1, 2.5, None, True, False, "x\u00e9\n\"", {}], "b": {"c": []}, "": -3, "big": 10 ** 20},
    [], {}, "plain", 0, -1.5e-7, [[[]]], {"nested": {"deep": [{"k": "v"}]}},
]


@pytest.mark.parametrize("obj", SAMPLES)
@pytest.mark.parametrize("kw", [{}, {"indent": 4}, {"separators": (",", ":")}, {"ensure_ascii": False},
                                {"sort_keys": True, "indent": 2, "ensure_ascii": False}])
def test_dumps_matches_json(obj, kw):
    assert jsoncodec.dumps(obj, **kw) == json.dumps(obj, **kw)


@pytest.mark.parametrize("obj", SAMPLES)
def test_loads_roundtrip(obj):
    assert jsoncodec.loads(json.dumps(obj)) == obj
    assert jsoncodec.loads(json.dumps(obj).encode()) == obj


def test_raw_decode_stream_and_errors():
    s = ' {"a":1}{"b":2}\n[3]'
    o1, e1 = jsoncodec.raw_decode(s)
    o2, e2 = jsoncodec.raw_decode(s, e1)
    o3, _ = jsoncodec.raw_decode(s, e2)
    assert (o1, o2, o3) == ({"a": 1}, {"b": 2}, [3])
    with pytest.raises(ValueError):
        jsoncodec.loads('{"a":1} x')
    with pytest.raises(ValueError):
        jsoncodec.loads("{bad")
    with pytest.raises(ValueError):
        jsoncodec.raw_decode('{"a": ')
    assert math.isnan(jsoncodec.loads("NaN"))
