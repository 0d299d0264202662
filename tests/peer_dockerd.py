"""A private Debian dockerd 20.10 for tests that compare with real Docker (own socket, data-root,
exec-root and pidfile; no bridge, no iptables; vfs storage unless asked), stopped and cleaned up on exit."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from stacklib import answers_ping, mounts_under

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"


@dataclass
class PeerDockerd:
    base: Path
    sock: Path
    proc: subprocess.Popen

    def log_tail(self) -> str:
        return (self.base / "dockerd.log").read_text(errors="replace")[-3000:]


@contextlib.contextmanager
def private_dockerd(prefix: str, ready_timeout: float = 40, storage_driver: str = "vfs") -> Iterator[PeerDockerd]:
    """Start dockerd in a fresh /tmp dir, wait until it answers /_ping, yield it; at exit stop it
    (SIGTERM, then SIGKILL after 30 s), unmount whatever it left below its dir and remove the dir.

    `storage_driver` "overlay2" where sizes are compared: vfs's DiffSize leaves symlinks out."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    sock = base / "d.sock"
    log = open(base / "dockerd.log", "wb")
    (base / "daemon.json").write_text("{}")  # not the host's /etc/docker/daemon.json (its "hosts" would clash)
    proc = subprocess.Popen([DOCKERD, "-H", f"unix://{sock}", "--data-root", str(base / "data"),
                             "--exec-root", str(base / "exec"), "--pidfile", str(base / "d.pid"),
                             "--config-file", str(base / "daemon.json"),
                             "--bridge", "none", "--iptables=false", "--ip-masq=false", "--storage-driver", storage_driver],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    peer = PeerDockerd(base, sock, proc)
    try:
        deadline = time.monotonic() + ready_timeout
        while not answers_ping(sock):
            assert proc.poll() is None and time.monotonic() < deadline, peer.log_tail()
            time.sleep(0.2)
        yield peer
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for mp in mounts_under(str(base)):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
