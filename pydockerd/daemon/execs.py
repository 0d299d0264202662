"""`docker exec`: exec instances, run as extra processes of the container's task."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..errors import Conflict, DockerError, InvalidParameter, NotFound
from . import oci
from .streams import FifoSet, StreamHub

if TYPE_CHECKING:
    from .daemon import Daemon

log = logging.getLogger("pydockerd.exec")

Output = Callable[[str, bytes], None]


@dataclass(eq=False)
class ExecInstance:
    id: str
    container_id: str
    cmd: list[str]
    tty: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    env: list[str]
    user: str
    workdir: str
    privileged: bool
    detach_keys: str
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    size: tuple[int, int] | None = None  # (height, width), kept until the process exists
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def inspect(self) -> dict[str, Any]:
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": self.tty, "entrypoint": self.cmd[0], "arguments": self.cmd[1:],
                                  "privileged": self.privileged, "user": self.user},
                "OpenStdin": self.attach_stdin, "OpenStderr": self.attach_stderr,
                "OpenStdout": self.attach_stdout, "CanRemove": False, "ContainerID": self.container_id,
                "DetachKeys": self.detach_keys, "Pid": self.pid}


class _Sink:
    """Adapts the FIFO copier's hub interface to an output callback (exec output is not logged)."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def publish(self, stream: str, data: bytes) -> None:
        self.out(stream, data)


class ExecManager:
    def __init__(self, daemon: "Daemon") -> None:
        self.d = daemon
        self.execs: dict[str, ExecInstance] = {}
        self._background: set[asyncio.Task] = set()  # detached execs (referenced until done)

    def get(self, exec_id: str) -> ExecInstance:
        ex = self.execs.get(exec_id)
        if ex is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return ex

    def for_container(self, cid: str) -> list[str]:
        return [e.id for e in self.execs.values() if e.container_id == cid]

    def forget_container(self, cid: str) -> None:
        for eid in self.for_container(cid):
            self.execs.pop(eid, None)

    def create(self, ref: str, body: dict[str, Any]) -> str:
        c = self.d.get(ref)
        if not c.State.Running:
            raise Conflict(f"container {c.ID} is not running")
        if c.State.Paused:
            raise Conflict(f"Container {c.ID} is paused, unpause the container before exec")
        cmd = body.get("Cmd") or []
        if isinstance(cmd, str):
            cmd = [cmd]
        if not cmd:
            raise InvalidParameter("No exec command specified")
        ex = ExecInstance(
            id=secrets.token_hex(32), container_id=c.ID, cmd=list(cmd), tty=bool(body.get("Tty")),
            attach_stdin=bool(body.get("AttachStdin")), attach_stdout=bool(body.get("AttachStdout")),
            attach_stderr=bool(body.get("AttachStderr")), env=list(body.get("Env") or []),
            user=body.get("User") or "", workdir=body.get("WorkingDir") or "",
            privileged=bool(body.get("Privileged")), detach_keys=body.get("DetachKeys") or "")
        size = body.get("ConsoleSize")
        if size and len(size) == 2 and all(size):
            ex.size = (int(size[0]), int(size[1]))
        self.execs[ex.id] = ex
        self.d.container_event(c, "exec_create: " + _event_cmd(ex.cmd), execID=ex.id)
        return ex.id

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        ex = self.get(exec_id)
        ex.size = (height, width)
        if ex.running:
            await self.d.client.resize_pty(ex.container_id, width, height, exec_id=ex.id)

    async def _process(self, ex: ExecInstance) -> dict[str, Any]:
        c = self.d.get(ex.container_id)
        mounts = await self.d.client.snapshot_mounts(c.ID)
        cfg = dict(c.Config)
        if ex.user:
            cfg["User"] = ex.user
        user = await self.d.resolve_user(c, mounts, cfg.get("User") or "")
        env = oci.replace_or_append_env(oci.process_env({**c.Config, "Tty": ex.tty}), ex.env)
        caps = oci.ALL_CAPS if ex.privileged else oci.capabilities(c.HostConfig)
        process: dict[str, Any] = {
            "terminal": ex.tty, "user": {"uid": user.uid, "gid": user.gid}, "args": ex.cmd, "env": env,
            "cwd": ex.workdir or c.Config.get("WorkingDir") or "/",
            "capabilities": {"bounding": list(caps), "effective": list(caps), "permitted": list(caps)},
        }
        if user.additional_gids:
            process["user"]["additionalGids"] = user.additional_gids
        if ex.tty and ex.size:
            process["consoleSize"] = {"height": ex.size[0], "width": ex.size[1]}
        return process

    def start_background(self, exec_id: str) -> asyncio.Task:
        """`docker exec -d`: run without a client attached."""
        task = asyncio.create_task(self.start(exec_id, None, None))
        self._background.add(task)

        def done(t: asyncio.Task) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("detached exec %s failed: %s", exec_id[:12], t.exception())

        task.add_done_callback(done)
        return task

    async def start(self, exec_id: str, output: Output | None, stdin: asyncio.Queue | None) -> int:
        """Run the exec to completion; `output(stream, data)` gets its output. Returns the exit code.

        Errors before the process runs are raised (with exit code 126 recorded, as dockerd).
        """
        ex = self.get(exec_id)
        if ex.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        c = self.d.get(ex.container_id)
        if not c.State.Running:
            raise Conflict(f"container {c.ID} is not running")
        ex.started = True
        fifos = FifoSet.create(os.path.join(self.d.fifo_root, c.ID), ex.id,
                               with_stdin=ex.attach_stdin and stdin is not None, with_stderr=not ex.tty)
        stdin_task: asyncio.Task | None = None
        client = self.d.client
        try:
            process = await self._process(ex)
            log.debug("exec %s: registering in %s", ex.id[:12], c.ID[:12])
            await client.exec_process(c.ID, ex.id, process, fifos.stdin, fifos.stdout, fifos.stderr, ex.tty)
            await fifos.start_copy(_Sink(output or (lambda s, d: None)))  # type: ignore[arg-type]
            waiter = asyncio.create_task(client.wait_task(c.ID, exec_id=ex.id))
            # (dockerd announces the start before the runtime tries it, so a failed one has it too)
            self.d.container_event(c, "exec_start: " + _event_cmd(ex.cmd), execID=ex.id)
            try:
                ex.pid = await client.start_task(c.ID, exec_id=ex.id)
            except DockerError as exc:
                waiter.cancel()
                await self.d.ignore_missing(client.delete_process(c.ID, ex.id))
                err = self.d.start_error_text(exc.message.replace("failed to create task for container: ", ""))
                # an exec that did not start exits 126 whatever the cause (dockerd's; `run` has 127 too)
                ex.exit_code = 126
                raise err[0] from None
            ex.running = True
            log.debug("exec %s: started, pid %d", ex.id[:12], ex.pid)
            if ex.size and ex.tty:
                await self.d.ignore_missing(client.resize_pty(c.ID, ex.size[1], ex.size[0], exec_id=ex.id))
            if fifos.stdin and stdin is not None:
                hub = StreamHub("")
                hub.stdin = stdin
                stdin_task = await fifos.start_stdin(
                    hub, lambda: self.d.ignore_missing(client.close_stdin(c.ID, exec_id=ex.id)))
            try:
                code = await waiter
            except DockerError:
                code = 128 + 9
            await fifos.wait_drained(timeout=5)
            await self.d.ignore_missing(client.delete_process(c.ID, ex.id))
            # Recorded before the caller closes the stream: `docker exec` reads it right after EOF.
            ex.exit_code = code
            self.d.container_event(c, "exec_die", execID=ex.id, exitCode=str(code))
            log.debug("exec %s in %s exited with %d", ex.id[:12], c.ID[:12], code)
            return code
        except BaseException:
            if ex.exit_code is None:
                ex.exit_code = 126
            raise
        finally:
            ex.running = False
            if stdin_task is not None:
                stdin_task.cancel()
            fifos.close()
            ex.done.set()


def _event_cmd(cmd: list[str]) -> str:
    """moby's exec event name: the entrypoint, a space, the joined args (so "pwd " for a lone command)."""
    return f"{cmd[0] if cmd else ''} {' '.join(cmd[1:])}"
