"""Running our own pycontainerd when no `--containerd` address is given (as dockerd runs containerd)."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

log = logging.getLogger("pydockerd.supervisor")


class ContainerdProcess:
    def __init__(self, address: str, root: str, state: str, runtime: str, debug: bool = False,
                 extra_args: list[str] | None = None) -> None:
        self.address, self.root, self.state, self.runtime = address, root, state, runtime
        self.debug = debug
        self.extra_args = list(extra_args or [])
        self.proc: asyncio.subprocess.Process | None = None

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "pycontainerd.main", "--address", self.address, "--root", self.root,
                "--state", self.state, "--runtime", self.runtime]
        # containerd's debug log (netlink dumps and all) would drown ours: info unless asked for.
        return argv + ["--log-level", "info"] + self.extra_args

    async def start(self) -> None:
        for d in (os.path.dirname(self.address), self.root, self.state):
            os.makedirs(d, mode=0o711, exist_ok=True)
        env = dict(os.environ)
        # `-m pycontainerd.main` must find the project whatever our working directory is.
        project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = project + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        log.info("starting containerd: %s", " ".join(self.argv()))
        # Our stdout/stderr are inherited so its log lands next to ours.
        self.proc = await asyncio.create_subprocess_exec(*self.argv(), env=env, stdin=asyncio.subprocess.DEVNULL,
                                                         start_new_session=True)

    async def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("containerd did not exit within %ss; killing it", timeout)
            self.proc.kill()
            await self.proc.wait()
