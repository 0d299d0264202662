"""ShimLauncher against a stand-in zygote: a burst that fills the zygote's socket waits for room."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import threading
import time

from pycontainerd import shimlaunch


def _fill(sock: socket.socket) -> int:
    """Queue fd-less messages until the socket is full; how many."""
    n = 0
    while True:
        try:
            sock.send(b"x" * 4096)
        except BlockingIOError:
            return n
        n += 1


def test_a_full_zygote_socket_is_waited_for_not_taken_for_a_dead_zygote():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    ours.setblocking(False)
    stand_in = subprocess.Popen(["sleep", "60"])  # "the zygote process": alive throughout
    launcher = shimlaunch.ShimLauncher("/nonexistent")
    launcher._proc, launcher._sock, launcher._started_at = stand_in, ours, time.monotonic()
    queued = _fill(ours)
    served: list[list[str]] = []

    def zygote() -> None:
        time.sleep(0.5)  # busy forking: the burst waits meanwhile
        while len(served) < 5:
            msg, fds, _, _ = socket.recv_fds(theirs, 1 << 16, 1)
            if fds:  # a launch request: "fork" and report as a started shim does
                served.append(msg.decode())
                os.write(fds[0], b"ok")
                os.close(fds[0])

    t = threading.Thread(target=zygote)
    t.start()

    async def burst() -> float:
        t0 = time.monotonic()
        await asyncio.gather(*(launcher.launch(["start", "--id", str(i)]) for i in range(5)))
        return time.monotonic() - t0

    try:
        took = asyncio.run(burst())
        t.join(10)
        assert queued > 0 and len(served) == 5
        assert sorted(served) == sorted(f'["start", "--id", "{i}"]' for i in range(5))
        assert took >= 0.4  # they waited for the zygote rather than exec'ing shims
        assert launcher._proc is stand_in and stand_in.poll() is None  # not declared dead
    finally:
        if launcher._proc is not stand_in:  # a zygote the launcher started in its place (the bug)
            launcher.close()
        stand_in.kill()
        stand_in.wait()
        ours.close()
        theirs.close()
