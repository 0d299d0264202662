"""The default OCI runtime's command server, when it has one (`pyrunc serve`).

A shim runs the runtime four times per container (create, start, kill, delete); exec'd, each pyrunc
call costs an interpreter start for about a millisecond of work. A runtime whose `features` carry the
annotation below can instead serve the commands that start no process (start, kill, delete, state,
pause, resume, update, ps) on a unix socket: the shim sends the same command line and stdio there
(`--runtime-server PATH`), and execs the runtime when nobody answers. `create` and `exec` cannot be
served, since the shim must be the parent of the processes they start: `create` (then `start`) goes to
a standby (`serve --once`) that the spare shim started as its child (zygote.py), `exec` is exec'd.
runc has no server: with it, every command is exec'd, as before.

The socket is bound here (mode 0600, `<state>/runtime.sock`) and handed over as an inherited fd, so no
client can arrive before the server listens; the server's stdin is a pipe whose other end only this
process holds, so it ends with pycontainerd, even after a SIGKILL. Shims that outlive pycontainerd keep
the path and reach the next daemon's server. PYCONTAINERD_RUNTIME_SERVER=0 turns both off,
PYCONTAINERD_RUNTIME_STANDBY=0 only the standbys.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import subprocess

log = logging.getLogger("pycontainerd.runtimeserver")
FEATURE = "org.pydocker.pyrunc.serve"
SOCKET = "runtime.sock"


class RuntimeServer:
    """Starts `<runtime> serve` beside the daemon when the runtime offers it."""

    def __init__(self, state: str, runtime: str) -> None:
        self.path = os.path.join(state, SOCKET)
        self.runtime = runtime
        self._proc: subprocess.Popen | None = None
        self._hold: int | None = None  # the write end of the server's stdin

    def start(self) -> None:
        if os.environ.get("PYCONTAINERD_RUNTIME_SERVER", "1") == "0" or not self._offered():
            return
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        r = w = -1
        try:
            try:
                os.unlink(self.path)  # a previous daemon's
            except FileNotFoundError:
                pass
            listener.bind(self.path)
            os.chmod(self.path, 0o600)  # before listen: until then a connect is refused
            listener.listen(256)
            r, w = os.pipe2(os.O_CLOEXEC)
            self._proc = subprocess.Popen([self.runtime, "serve", "--fd", str(listener.fileno())],
                                          stdin=r, stdout=subprocess.DEVNULL, pass_fds=(listener.fileno(),),
                                          cwd="/")
            self._hold, w = w, -1
        except OSError as exc:
            log.warning("runtime server not started (shims exec %s for every command): %s", self.runtime, exc)
            self._unlink()
        finally:
            listener.close()
            for fd in (r, w):
                if fd >= 0:
                    os.close(fd)

    def _offered(self) -> bool:
        try:
            out = subprocess.run([self.runtime, "features"], capture_output=True, timeout=30).stdout
            return (json.loads(out).get("annotations") or {}).get(FEATURE) == "1"
        except (OSError, ValueError, AttributeError, subprocess.SubprocessError):
            return False  # runc 1.0 has no `features`; runc 1.1's has no such annotation

    def socket_for(self, binary: str) -> str:
        """The socket a shim running `binary` may send commands to, or "" (exec every command)."""
        if binary != self.runtime or self._proc is None or self._proc.poll() is not None:
            return ""
        return self.path

    def standby_runtime(self) -> str:
        """The runtime each spare shim should start a standby of (`serve --once`), or ""."""
        if os.environ.get("PYCONTAINERD_RUNTIME_STANDBY") == "0" or not self.socket_for(self.runtime):
            return ""
        return self.runtime

    def close(self, timeout: float = 5.0) -> None:
        """Let the server finish the commands in flight and exit; shims exec the runtime meanwhile."""
        self._unlink()  # first: a shim that connects from now on finds no socket and execs
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _unlink(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
