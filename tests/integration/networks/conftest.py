"""Fixtures for the networking core, as root: a NetworkManager with unique names everywhere.

The finalizer removes what the test left and then asserts that links, namespaces, iptables
rules and mounts are as before.
"""
from __future__ import annotations

import os

import pytest

from nethelpers import Env, host_state

if os.geteuid() != 0:
    pytest.skip("networking tests need root", allow_module_level=True)


@pytest.fixture
async def env():
    e = Env()
    before = host_state(e.tag, str(e.dir))
    try:
        yield e
    finally:
        await e.cleanup()
        after = host_state(e.tag, str(e.dir), e.bridges)
        leaks = {k: sorted(after[k] - before[k]) for k in before if after[k] - before[k]}
        assert not leaks, f"left on the host: {leaks}"
