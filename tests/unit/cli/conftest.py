import pytest

from cli_fakedaemon import FakeDaemon, response


@pytest.fixture
def daemon():
    d = FakeDaemon()
    d.routes[("HEAD", "/_ping")] = lambda r: response(200, headers={"Api-Version": "1.45"})
    yield d
    d.close()
