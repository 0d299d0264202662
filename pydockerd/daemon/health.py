"""Healthchecks (`HEALTHCHECK`, `--health-cmd`): probes run as execs, State.Health as moby keeps it."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .container import now_rfc3339

if TYPE_CHECKING:
    from .container import Container
    from .daemon import Daemon

log = logging.getLogger("pydockerd.health")

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_LOG = 5
MAX_OUTPUT = 4096


def _seconds(ns: Any, default: float) -> float:
    return float(ns) / 1e9 if ns else default


def probe_argv(test: list[str]) -> list[str] | None:
    """`["CMD", …]` / `["CMD-SHELL", "…"]`; `["NONE"]` or empty: no healthcheck."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)  # a bare command list (old clients)


class HealthMonitor:
    """One probe loop per running container with a healthcheck."""

    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.tasks: dict[str, asyncio.Task] = {}

    def start(self, c: "Container") -> None:
        hc = c.Config.get("Healthcheck") or {}
        argv = probe_argv(hc.get("Test") or [])
        if argv is None:
            return
        c.Health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.stop(c.ID)
        self.tasks[c.ID] = asyncio.create_task(self._loop(c, argv, hc))

    def stop(self, cid: str) -> None:
        task = self.tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    async def _loop(self, c: "Container", argv: list[str], hc: dict[str, Any]) -> None:
        interval = _seconds(hc.get("Interval"), DEFAULT_INTERVAL)
        timeout = _seconds(hc.get("Timeout"), DEFAULT_TIMEOUT)
        retries = int(hc.get("Retries") or DEFAULT_RETRIES)
        start_period = _seconds(hc.get("StartPeriod"), 0.0)
        start_interval = _seconds(hc.get("StartInterval"), interval)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while c.State.Running:
                in_start = loop.time() - started < start_period
                await asyncio.sleep(start_interval if in_start and c.Health.get("Status") == "starting"
                                    else interval)
                if not c.State.Running:
                    break
                await self._probe(c, argv, timeout, retries, in_start)
        except asyncio.CancelledError:
            pass
        except Exception:  # a broken probe loop must not take the daemon down
            log.exception("healthcheck of %s", c.ID[:12])

    async def _probe(self, c: "Container", argv: list[str], timeout: float, retries: int, in_start: bool) -> None:
        start = now_rfc3339()
        output = bytearray()

        def out(_stream: str, data: bytes) -> None:
            if len(output) < MAX_OUTPUT:
                output.extend(data[:MAX_OUTPUT - len(output)])

        try:
            exec_id = self.d.execs.create(c.ID, {"Cmd": argv, "AttachStdout": True, "AttachStderr": True})
            try:
                code = await asyncio.wait_for(self.d.execs.start(exec_id, out, None), timeout)
            finally:
                self.d.execs.execs.pop(exec_id, None)
        except asyncio.TimeoutError:
            code, output[:] = -1, f"Health check exceeded timeout ({timeout:g}s)".encode()
        except Exception as exc:
            code, output[:] = -1, str(exc).encode()
        health = c.Health
        health.setdefault("Log", []).append({"Start": start, "End": now_rfc3339(), "ExitCode": code,
                                             "Output": output.decode(errors="replace")})
        health["Log"] = health["Log"][-MAX_LOG:]
        old = health.get("Status")
        if code == 0:
            health["Status"], health["FailingStreak"] = "healthy", 0
        elif not in_start:
            health["FailingStreak"] = int(health.get("FailingStreak", 0)) + 1
            if health["FailingStreak"] >= retries:
                health["Status"] = "unhealthy"
        if health["Status"] != old:
            self.d.container_event(c, f"health_status: {health['Status']}")
        self.d.store.save(c)
