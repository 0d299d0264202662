"""Create-body type and range checks (pydockerd/daemon/validate.py): 400s with Docker's words."""
from __future__ import annotations

import pytest

from pydockerd.daemon import validate
from pydockerd.errors import InvalidParameter


@pytest.mark.parametrize("body, words", [
    ({"Image": 5}, "cannot unmarshal number into Go struct field ContainerConfigWrapper.Image of type string"),
    ({"Image": "b", "Cmd": ["a", 1]}, "cannot unmarshal number into Go struct field ContainerConfigWrapper.Cmd"),
    ({"Image": "b", "HostConfig": {"Memory": "x"}}, "HostConfig.Memory of type int64"),
    ({"Image": "b", "HostConfig": {"Privileged": 1}}, "HostConfig.Privileged of type bool"),
    ({"Image": "b", "HostConfig": {"Memory": 1024}}, "Minimum memory limit allowed is 6MB"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "x"}}}, "unknown policy 'x'"),
    ({"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}},
     "can only be used with 'on-failure'"),
    ([], "cannot unmarshal array into Go value"),
])
def test_rejected(body, words):
    with pytest.raises(InvalidParameter, match=words.replace("(", r"\(").replace(")", r"\)")):
        validate.create_body(body)


def test_accepted():
    validate.create_body({"Image": "b", "Cmd": "true", "Env": None, "HostConfig": {
        "Memory": 64 << 20, "MemorySwap": -1, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "Binds": ["/a:/b"], "ConsoleSize": [24, 80], "Tmpfs": {"/t": ""}}})
