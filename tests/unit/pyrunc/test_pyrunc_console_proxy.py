"""console: what is left on the pty when the process exits still reaches our stdout."""
from __future__ import annotations

import os
import time

from pyrunc.console import _drain, proxy


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


def test_proxy_returns_the_exit_status_after_every_byte_written_before_it(capfd):
    # a process that writes and exits at once: its exit can be reaped right after proxy's select,
    # with the output still queued on the pty
    for _ in range(20):
        master, slave = os.openpty()
        pid = os.fork()
        if pid == 0:
            os.close(master)
            os.write(slave, b"x" * 3000 + b"\nlast words\n")
            os._exit(7)
        os.close(slave)
        status = proxy(master, pid)  # closes the master
        assert os.waitstatus_to_exitcode(status) == 7
        assert capfd.readouterr().out.replace("\r", "").endswith("\nlast words\n")
