"""The console socket: a pty made inside the container, its master sent to the caller."""
from __future__ import annotations

import fcntl
import os
import _socket as socket
import struct

TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430
TIOCSWINSZ = 0x5414
TIOCSCTTY = 0x540E


def connect(path: str):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def new_pty() -> tuple[int, str]:
    """Open /dev/ptmx (the container's devpts after pivot_root); return (master fd, slave path)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    return master, f"/dev/pts/{n}"


def set_size(fd: int, size: dict | None) -> None:
    if size and (size.get("height") or size.get("width")):
        fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", size.get("height", 0),
                                                size.get("width", 0), 0, 0))


def send_master(sock, master: int) -> None:
    """One SCM_RIGHTS message named /dev/ptmx, the shape go-runc's recvFd checks."""
    sock.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", master))])


def become_ctty(slave_path: str) -> None:
    """Make the slave the controlling terminal and fds 0-2 (we are already a session leader)."""
    fd = os.open(slave_path, os.O_RDWR)
    fcntl.ioctl(fd, TIOCSCTTY, 0)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    if fd > 2:
        os.close(fd)
