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


def pair():
    """A connected socket pair standing in for a console socket when pyrunc itself is the
    terminal's consumer (``run``/``exec`` in the foreground without --console-socket)."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)


def recv_master(sock) -> int:
    space = socket.CMSG_SPACE(4)
    _msg, anc, _flags, _addr = sock.recvmsg(4096, space)
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= 4:
            return struct.unpack("i", data[:4])[0]
    raise OSError(5, "no pty master received on the console socket")


def _copy_winsize(src: int, dst: int) -> None:
    try:
        size = fcntl.ioctl(src, 0x5413, b"\0" * 8)  # TIOCGWINSZ
        fcntl.ioctl(dst, TIOCSWINSZ, size)
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    import select
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])


def _drain(master: int) -> None:
    """Copy what is queued on the pty to our stdout, without waiting for more: once every slave fd
    is closed the master reads EIO after the queued data; a slave still held (a process left in the
    container) just has nothing ready."""
    import select
    while True:
        try:
            if not select.select([master], [], [], 0)[0]:
                return
            data = os.read(master, 65536)
        except (OSError, InterruptedError):
            return  # EIO: the slave side is gone and nothing is left
        if not data:
            return
        try:
            _write_all(1, data)
        except OSError:
            return


def proxy(master: int, pid: int) -> int:
    """Copy our stdin to the pty and the pty to our stdout until ``pid`` exits; return its
    wait status. Our terminal (if any) is raw meanwhile, and follows window size changes."""
    import _signal
    import select
    termios_saved = None
    if os.isatty(0):
        import termios
        import tty
        termios_saved = termios.tcgetattr(0)
        tty.setraw(0, termios.TCSANOW)  # TCSAFLUSH would drop typed-ahead input
        _copy_winsize(0, master)
        _signal.signal(_signal.SIGWINCH, lambda *_: _copy_winsize(0, master))
    status = None
    stdin_open = True
    try:
        while True:
            fds = [master] + ([0] if stdin_open else [])
            try:
                r, _, _ = select.select(fds, [], [], 0.1)
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if data:
                    _write_all(1, data)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    stdin_open = False
            got, st = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                status = st
                # its last output may have been queued after our select: copy what is left
                _drain(master)
                break
    finally:
        if termios_saved is not None:
            import termios
            termios.tcsetattr(0, termios.TCSADRAIN, termios_saved)
        os.close(master)
    return status if status is not None else 0
