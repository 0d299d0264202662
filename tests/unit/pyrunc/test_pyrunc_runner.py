"""runner: what is left on the pty after the process exits still reaches our stdout."""
from __future__ import annotations

import os
import time

from pyrunc.runner import _drain


def test_drain_copies_output_queued_before_the_slave_closed(capfd):
    master, slave = os.openpty()
    try:
        os.write(slave, b"last words\n")
        os.close(slave)
        _drain(master)
    finally:
        os.close(master)
    assert capfd.readouterr().out.replace("\r", "") == "last words\n"


def test_drain_does_not_wait_for_a_slave_still_open(capfd):
    master, slave = os.openpty()
    try:
        t0 = time.monotonic()
        _drain(master)  # a process left in the container still holds the slave: no data, no EOF
        assert time.monotonic() - t0 < 1
    finally:
        os.close(slave)
        os.close(master)
    assert capfd.readouterr().out == ""
