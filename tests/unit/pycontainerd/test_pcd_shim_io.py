"""The shim's stdio plumbing and reaping, on plain pipes and child processes (no root, no runtime)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from pycontainerd import shim


def _read_all(fd: int) -> bytes:
    out = b""
    while chunk := os.read(fd, 65536):
        out += chunk
    return out


def test_copier_copies_to_eof_then_closes_its_ends():
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    c = shim.Copier(src_r, dst_w)
    c.start()
    os.write(src_w, b"x" * 100000)
    os.close(src_w)
    assert _read_all(dst_r) == b"x" * 100000  # EOF arrives: the copier closed dst
    c.join(5)
    assert not c.is_alive()
    os.close(dst_r)


def test_copier_stops_on_request_without_eof():
    src_r, src_w = os.pipe()
    dst_r, dst_w = os.pipe()
    c = shim.Copier(src_r, dst_w)
    c.start()
    c.stop.set()
    c.join(5)
    assert not c.is_alive()
    assert _read_all(dst_r) == b""
    for fd in (src_w, dst_r):
        os.close(fd)


def test_stdin_pump_forwards_buffered_data_on_closeio(tmp_path):
    fifo = tmp_path / "stdin"
    fd = shim._open_target(str(fifo), False)  # creates the FIFO, opens it O_RDWR
    dst_r, dst_w = os.pipe()
    p = shim.StdinPump(fd, dst_w)
    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(writer, b"typed before close\n")
    os.close(writer)
    p.start()
    p.close_req.set()
    assert p.closed.wait(5)
    assert _read_all(dst_r) == b"typed before close\n"
    os.close(dst_r)


def test_open_target_refuses_regular_files_and_appends_file_urls(tmp_path):
    regular = tmp_path / "regular"
    regular.write_text("keep")
    with pytest.raises(shim.ShimError):
        shim._open_target(str(regular), True)
    assert regular.read_text() == "keep"
    log = tmp_path / "log"
    fd = shim._open_target(f"file://{log}", True)
    os.write(fd, b"line\n")
    os.close(fd)
    assert log.read_bytes() == b"line\n"


REAPER_SCRIPT = """
import os, signal, subprocess, sys, time
from pycontainerd import shim
r = shim.Reaper()
p = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])
r.wake()
code = r.wait(p.pid)
p.returncode = code
q = subprocess.Popen(["sleep", "100"])
r.wake()
got = []
r.on_exit(q.pid, got.append)
os.kill(q.pid, signal.SIGKILL)
q.returncode = -9
deadline = time.monotonic() + 5
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
print(code, got[0] if got else None)
"""


def test_reaper_reports_exit_codes_and_signals():
    # In a child process: the Reaper waits for every child, which would steal the test runner's.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    out = subprocess.run([sys.executable, "-c", REAPER_SCRIPT], capture_output=True, text=True, timeout=30,
                         cwd=root, env=dict(os.environ, PYTHONPATH=root))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", str(128 + signal.SIGKILL)]
