"""Task manager: bundles, shims and the processes they run.

A task is a container's running state. Create writes the bundle
`<state>/io.containerd.runtime.v2.task/<ns>/<id>/` (config.json, rootfs/ mounted from the given
mounts), starts a shim (forked by the shim zygote, or `python -m pycontainerd.shim start …`: see
shimlaunch.py) and asks it to run `RUNTIME create`. Shims outlive the daemon; `restore()` reconnects to
them after a restart.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .containers import AnyValue, ContainerStore
from .errdefs import AlreadyExists, ContainerdError, FailedPrecondition, InvalidArgument, NotFound, Unknown
from .mount import Mount, mount_all, unmount_all
from .runtimeserver import RuntimeServer
from .shimlaunch import ShimLauncher, ShimStartError

log = logging.getLogger("pycontainerd.tasks")
RUNTIME_DIR = "io.containerd.runtime.v2.task"
# An exit is reported at least this long after the Start call of its process returned. containerd's own
# event path (shim → `containerd publish` → exchange) is at least this slow, and dockerd depends on it:
# it records a container's pid only after Start returns and drops exits whose pid it does not know yet.
# Once the client deletes the process it has long handled Start's reply: the exit goes out at once then.
EXIT_AFTER_START = 0.05
RUNC_OPTIONS_TYPE = "containerd.runc.v1.Options"
_KINDS: dict[str, type[ContainerdError]] = {"not found": NotFound, "already exists": AlreadyExists,
                                            "failed precondition": FailedPrecondition,
                                            "invalid argument": InvalidArgument}


class ShimGone(Unknown):
    """The shim's socket refused the connection or closed without a reply: the shim is dead."""


ExitCallback = Callable[[str, str, str, int, int, float], None]  # ns, container id, exec id, pid, status, at
OomCallback = Callable[[str, str], None]  # ns, container id


class ShimClient:
    """One JSON request per connection to `<bundle>/shim.sock`."""

    def __init__(self, bundle: str) -> None:
        self.bundle = bundle

    async def call(self, op: str, **kw: Any) -> dict[str, Any]:
        fd = os.open(self.bundle, os.O_PATH | os.O_DIRECTORY)
        try:
            try:
                reader, writer = await asyncio.open_unix_connection(f"/proc/self/fd/{fd}/shim.sock")
            except OSError as exc:
                raise ShimGone(f"connect to shim: {exc.strerror or exc}", raw=True) from None
        finally:
            os.close(fd)
        try:
            writer.write(json.dumps({"op": op, **kw}).encode() + b"\n")
            await writer.drain()
            line = await reader.readline()
        except OSError:  # reset or broken pipe: the shim died mid-call
            line = b""
        finally:
            writer.close()
        if not line:
            raise ShimGone("ttrpc: closed", raw=True)  # what containerd reports when a shim dies
        reply = json.loads(line)
        if not reply.pop("ok"):
            cls = _KINDS.get(reply.get("kind", ""), Unknown)
            raise cls(reply.get("error", ""))
        return reply


@dataclass
class Watch:
    """How one process of a task (the init is exec id "") has its exit reported."""
    monitor: asyncio.Task | None = None  # waits for the exit in the shim and reports it
    started: asyncio.Event | None = None  # made by Start, set once it answered (no exit reported before)
    started_at: float = 0.0  # loop time Start answered
    hurry: asyncio.Event = field(default_factory=asyncio.Event)  # being deleted: report the exit at once


@dataclass
class Task:
    ns: str
    id: str
    bundle: str
    shim: ShimClient
    pid: int = 0
    watches: dict[str, Watch] = field(default_factory=dict)  # by exec id
    oom_watch: asyncio.Task | None = None
    deleting: bool = False
    init_exited: bool = False  # the shim reported the init's exit
    # The rootfs may be unmounted as soon as the init has exited: its own pid namespace took every
    # process of the container with it, and no poststop hook will look at the rootfs.
    early_unmount: bool = False

    def watch(self, exec_id: str) -> Watch:
        return self.watches.setdefault(exec_id, Watch())

    def monitors(self) -> list[asyncio.Task]:
        return [w.monitor for w in self.watches.values() if w.monitor is not None]


class TaskManager:
    def __init__(self, state: str, runtime: str, containers: ContainerStore, on_exit: ExitCallback,
                 on_oom: OomCallback = lambda ns, cid: None) -> None:
        self.state = state
        self.root = os.path.join(state, RUNTIME_DIR)
        self.runtime = runtime
        self.containers = containers
        self.on_exit = on_exit  # called once per process exit (the daemon publishes /tasks/exit)
        self.on_oom = on_oom  # called per OOM kill in the task's memory cgroup (/tasks/oom)
        self.tasks: dict[tuple[str, str], Task] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.launcher = ShimLauncher(state, use_zygote=os.environ.get("PYCONTAINERD_SHIM_ZYGOTE", "1") != "0")
        self.runtime_server = RuntimeServer(state, runtime)

    def lock(self, ns: str, cid: str) -> asyncio.Lock:
        return self._locks.setdefault((ns, cid), asyncio.Lock())

    def get(self, ns: str, cid: str) -> Task:
        t = self.tasks.get((ns, cid))
        if t is None:
            raise NotFound(f"task {cid} not found")
        return t

    def list(self, ns: str) -> list[Task]:
        return [t for (n, _), t in self.tasks.items() if n == ns]

    def _runtime_for(self, c: Any, runtime_path: str, ns: str,
                     task_options: AnyValue | None) -> tuple[str, str, bool]:
        """The runtime binary, its --root and --systemd-cgroup: the container's runc options, overridden by
        the task's (CreateTaskRequest.options), then by runtime_path; else the daemon's --runtime."""
        binary, root, systemd = self.runtime, os.path.join(self.state, "runc", ns), False
        for opts_any in (c.runtime_options, task_options):
            if opts_any and opts_any.type_url.endswith(RUNC_OPTIONS_TYPE):
                from protos.containerd.types.runc.options import oci_pb2
                opts = oci_pb2.Options.FromString(opts_any.value)
                binary = opts.binary_name or binary
                root = os.path.join(opts.root, ns) if opts.root else root
                systemd = opts.systemd_cgroup or systemd
        if runtime_path:
            binary = runtime_path
        return binary, root, systemd

    async def create(self, ns: str, cid: str, mounts: list[Mount], stdin: str, stdout: str, stderr: str,
                     terminal: bool, runtime_path: str = "", options: AnyValue | None = None) -> Task:
        async with self.lock(ns, cid):
            c = self.containers.get(ns, cid)
            if (ns, cid) in self.tasks:
                raise AlreadyExists(f"task {cid}")
            if c.spec is None:
                raise FailedPrecondition(f"container {cid} has no spec", raw=True)
            try:
                spec = json.loads(c.spec.value)
            except ValueError as exc:
                raise InvalidArgument(f"container {cid}: spec is not JSON: {exc}", raw=True) from None
            binary, rroot, systemd = self._runtime_for(c, runtime_path, ns, options)
            bundle = os.path.join(self.root, ns, cid)
            if os.path.exists(bundle):
                raise AlreadyExists(f"bundle {bundle}")
            os.makedirs(os.path.dirname(bundle), exist_ok=True)
            os.makedirs(rroot, mode=0o711, exist_ok=True)
            os.mkdir(bundle, 0o711)
            shim = ShimClient(bundle)
            # The shim needs only the bundle directory: it starts while a thread writes the bundle and
            # mounts the rootfs (file system calls that would otherwise hold up the event loop).
            launch = asyncio.ensure_future(self._start_shim(ns, cid, bundle, binary, rroot, systemd))
            runtime = json.dumps({"binary": binary, "root": rroot, "systemd_cgroup": systemd}).encode()
            prep = asyncio.ensure_future(asyncio.to_thread(_prepare_bundle, bundle, c.spec.value, runtime, mounts))
            try:
                try:
                    await asyncio.shield(prep)  # cancelling us must not forget the thread, which goes on
                finally:
                    # never leave a shim starting, or a thread mounting, behind our back (cancelled)
                    await asyncio.wait([launch, prep])
                launch.result()
                reply = await shim.call("create", stdin=stdin, stdout=stdout, stderr=stderr, terminal=terminal)
            except BaseException as exc:
                if not launch.done():  # cancelled while waiting for it
                    await asyncio.wait([launch])
                if not launch.cancelled() and launch.exception() is None:
                    await self._stop_shim(shim)
                await asyncio.to_thread(_remove_bundle, bundle)
                if isinstance(exc, ContainerdError) and "OCI runtime" in exc.message:
                    # containerd's runtime v2 manager wraps shim errors this way; the message already ends
                    # with the shim's ": unknown" kind, and Docker shows it verbatim
                    raise Unknown(f"failed to create shim task: {exc.message}", raw=True) from None
                raise
            task = Task(ns, cid, bundle, shim, reply["pid"], early_unmount=_early_unmount(spec))
            self.tasks[(ns, cid)] = task
            self._monitor(task, "")
            self._watch_oom(task)
            return task

    async def _start_shim(self, ns: str, cid: str, bundle: str, binary: str, rroot: str, systemd: bool) -> None:
        argv = ["start", "--namespace", ns, "--id", cid, "--bundle", bundle, "--runtime", binary,
                "--runtime-root", rroot]
        if systemd:
            argv.append("--systemd-cgroup")
        served = self.runtime_server.socket_for(binary)
        if served:
            argv += ["--runtime-server", served]
        try:
            await self.launcher.launch(argv)
        except ShimStartError as exc:
            raise Unknown(f"failed to start shim: {exc}", raw=True) from None

    def _monitor(self, task: Task, exec_id: str) -> None:
        """Watch one process and report its exit; a shim that dies reports 255, as containerd does."""

        async def watch() -> None:
            try:
                r = await task.shim.call("wait", exec_id=exec_id)
            except ShimGone:
                if task.deleting:
                    return
                log.warning("shim of task %s/%s died", task.ns, task.id)
                self.on_exit(task.ns, task.id, exec_id, task.pid if not exec_id else 0, 255, time.time())
                return
            except ContainerdError as exc:
                log.warning("task %s/%s: waiting for %s failed: %s", task.ns, task.id, exec_id or "init", exc)
                return
            if not exec_id:
                task.init_exited = True
            w = task.watches.get(exec_id)
            if w is not None and w.started is not None:  # never report an exit before its Start has answered
                await w.started.wait()
                left = w.started_at + EXIT_AFTER_START - asyncio.get_running_loop().time()
                if left > 0:
                    try:
                        await asyncio.wait_for(w.hurry.wait(), left)
                    except asyncio.TimeoutError:
                        pass
            self.on_exit(task.ns, task.id, exec_id, r["pid"], r["exit_status"], r["exited_at"])

        task.watch(exec_id).monitor = asyncio.ensure_future(watch())

    def _watch_oom(self, task: Task) -> None:
        async def watch() -> None:
            seen = 0
            while True:
                try:
                    r = await task.shim.call("oom_wait", seen=seen)
                except ContainerdError:
                    return
                if r["count"] <= seen:
                    return  # the shim is shutting down
                seen = r["count"]
                self.on_oom(task.ns, task.id)

        task.oom_watch = asyncio.ensure_future(watch())

    async def exec(self, ns: str, cid: str, exec_id: str, spec: dict[str, Any], stdin: str, stdout: str,
                   stderr: str, terminal: bool) -> None:
        task = self.get(ns, cid)
        await task.shim.call("exec", exec_id=exec_id, spec=spec, stdin=stdin, stdout=stdout, stderr=stderr,
                             terminal=terminal)

    async def start(self, ns: str, cid: str, exec_id: str) -> int:
        task = self.get(ns, cid)
        w = task.watch(exec_id)
        w.started = asyncio.Event()
        try:
            r = await task.shim.call("start", exec_id=exec_id)
        finally:
            w.started_at = asyncio.get_running_loop().time()
            w.started.set()
        if exec_id:
            self._monitor(task, exec_id)
        return r["pid"]

    async def delete(self, ns: str, cid: str) -> dict[str, Any]:
        async with self.lock(ns, cid):
            task = self.get(ns, cid)
            rootfs = os.path.join(task.bundle, "rootfs")
            unmount: asyncio.Future | None = None
            if task.init_exited and task.early_unmount:
                # Nothing runs in the rootfs any more and no hook will look at it: unmount it while the
                # runtime deletes the container (one runtime process start, the slowest step here).
                unmount = asyncio.ensure_future(asyncio.to_thread(unmount_all, rootfs))
            try:
                r = await task.shim.call("delete", exec_id="")
            except ShimGone:
                # The shim died: clean up after it as containerd does, reporting exit status 255.
                log.warning("task %s/%s: shim is gone, cleaning up", ns, cid)
                task.deleting = True
                if unmount is not None:
                    await asyncio.wait([unmount])
                await self._cleanup_dead(ns, cid, task.bundle)
                self._forget(task)
                return {"pid": task.pid, "exit_status": 255, "exited_at": time.time()}
            except BaseException:
                if unmount is not None:
                    await asyncio.wait([unmount])
                raise
            # Let the monitors deliver the exit they are being told about before the shim goes.
            await self._flush_exits(task, list(task.watches))
            task.deleting = True
            # The shim lives in the bundle but not in its rootfs: unmount while it is told to exit, then
            # remove the bundle while it exits (its socket has answered; it touches no file of it after).
            pidfd, unmounted = await asyncio.gather(
                self._ask_shim_to_exit(task.shim),
                unmount if unmount is not None else asyncio.to_thread(unmount_all, rootfs),
                return_exceptions=True)
            if isinstance(pidfd, BaseException):
                pidfd = -1
            if isinstance(unmounted, BaseException):
                await self._shim_gone(task.shim, pidfd)
                raise unmounted
            await asyncio.gather(self._shim_gone(task.shim, pidfd),
                                 asyncio.to_thread(_remove_bundle, task.bundle, unmounted=True))
            self._forget(task)
            return r

    async def delete_process(self, ns: str, cid: str, exec_id: str) -> dict[str, Any]:
        """Delete a stopped exec, after its exit has been reported."""
        task = self.get(ns, cid)
        r = await task.shim.call("delete", exec_id=exec_id)
        await self._flush_exits(task, [exec_id])
        task.watches.pop(exec_id, None)
        return r

    @staticmethod
    async def _flush_exits(task: Task, exec_ids: list[str]) -> None:
        """Let the monitors of processes being deleted publish their exits now (the shim has them)."""
        watches = [w for e, w in task.watches.items() if e in exec_ids]
        for w in watches:
            w.hurry.set()
        pending = [w.monitor for w in watches if w.monitor is not None and not w.monitor.done()]
        if pending:
            await asyncio.wait(pending, timeout=1)
        for m in pending:
            if not m.done():
                m.cancel()

    def _forget(self, task: Task) -> None:
        for m in task.monitors() + ([task.oom_watch] if task.oom_watch else []):
            m.cancel()
        self.tasks.pop((task.ns, task.id), None)

    async def _stop_shim(self, shim: ShimClient, timeout: float = 5.0) -> None:
        """Ask the shim to exit and wait until it has, so nothing of the task outlives the call."""
        await self._shim_gone(shim, await self._ask_shim_to_exit(shim), timeout)

    @staticmethod
    async def _ask_shim_to_exit(shim: ShimClient) -> int:
        """Send the shim `shutdown`; return a pidfd of it (-1 if its pid is unknown)."""
        pidfd = -1
        try:
            with open(os.path.join(shim.bundle, "shim.pid")) as f:
                pidfd = os.pidfd_open(int(f.read().strip()))  # taken before it exits: no pid reuse race
        except (OSError, ValueError):
            pass
        try:
            await shim.call("shutdown", force=True)
        except ContainerdError:
            pass
        return pidfd

    @staticmethod
    async def _shim_gone(shim: ShimClient, pidfd: int, timeout: float = 5.0) -> None:
        """Wait (up to `timeout`) until the shim behind `pidfd` has exited; closes the pidfd."""
        if pidfd < 0:
            return
        # A pidfd turns readable when the process exits: no polling, no latency.
        loop = asyncio.get_running_loop()
        gone = loop.create_future()
        loop.add_reader(pidfd, lambda: gone.done() or gone.set_result(None))
        try:
            await asyncio.wait_for(gone, timeout)
        except asyncio.TimeoutError:
            log.warning("shim of %s did not exit within %ss of shutdown", shim.bundle, timeout)
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)

    async def _cleanup_bundle(self, bundle: str) -> None:
        await asyncio.to_thread(_remove_bundle, bundle)

    def close(self) -> None:
        """Stop the shim zygote (shims and their tasks live on, as after a crash)."""
        self.launcher.close()
        self.runtime_server.close()

    async def restore(self) -> None:
        """Start the shim zygote; reconnect to shims that survived a restart; clean up bundles whose shim
        is gone."""
        self.runtime_server.start()
        self.launcher.standby = self.runtime_server.standby_runtime()
        self.launcher.start()
        if not os.path.isdir(self.root):
            return
        for ns in sorted(os.listdir(self.root)):
            for cid in sorted(os.listdir(os.path.join(self.root, ns))):
                bundle = os.path.join(self.root, ns, cid)
                shim = ShimClient(bundle)
                try:
                    state = await shim.call("state")
                except ContainerdError:
                    log.warning("cleaning up dead shim bundle %s", bundle)
                    await self._cleanup_dead(ns, cid, bundle)
                    continue
                init = next((p for p in state["processes"] if p["id"] == ""), None)
                if init is None:  # the daemon died during Tasks.Create: finish undoing it
                    await self._stop_shim(shim)
                    await self._cleanup_dead(ns, cid, bundle)
                    continue
                task = Task(ns, cid, bundle, shim, init["pid"])
                self.tasks[(ns, cid)] = task
                self._watch_oom(task)
                for p in state["processes"]:
                    if p["status"] != "stopped":
                        self._monitor(task, p["id"])

    async def _cleanup_dead(self, ns: str, cid: str, bundle: str) -> None:
        """Force-delete the container with the runtime that created it, then unmount and remove the bundle."""
        choice = {"binary": self.runtime, "root": os.path.join(self.state, "runc", ns), "systemd_cgroup": False}
        try:
            with open(os.path.join(bundle, "runtime.json")) as f:
                choice.update(json.load(f))
        except (OSError, ValueError):
            pass
        argv = [choice["binary"], "--root", choice["root"]]
        if choice["systemd_cgroup"]:
            argv.append("--systemd-cgroup")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, "delete", "--force", cid, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            await proc.wait()
        except OSError as exc:
            log.warning("cannot run %s to delete %s: %s", choice["binary"], cid, exc)
        await self._cleanup_bundle(bundle)


def _early_unmount(spec: Any) -> bool:
    """Whether the init's exit ends everything that runs in the rootfs (a private pid namespace) and
    nothing runs after it that may use the rootfs (no poststop hooks)."""
    if not isinstance(spec, dict) or (spec.get("hooks") or {}).get("poststop"):
        return False
    namespaces = (spec.get("linux") or {}).get("namespaces") or []
    return any(n.get("type") == "pid" and not n.get("path") for n in namespaces if isinstance(n, dict))


def _prepare_bundle(bundle: str, spec: bytes, runtime: bytes, mounts: list[Mount]) -> None:
    """config.json (the container's spec as given), runtime.json (the runtime and root it uses, for
    cleaning up after a shim that died) and rootfs/ with the mounts (in a thread)."""
    for name, data in (("config.json", spec), ("runtime.json", runtime)):
        with open(os.path.join(bundle, name), "wb") as f:
            f.write(data)
    rootfs = os.path.join(bundle, "rootfs")
    os.mkdir(rootfs, 0o711)
    if mounts:
        mount_all(mounts, rootfs)


def _remove_bundle(bundle: str, unmounted: bool = False) -> None:
    """Unmount the rootfs (whatever is mounted there, unless the caller just did) and remove the bundle
    (in a thread)."""
    rootfs = os.path.join(bundle, "rootfs")
    if not unmounted and os.path.isdir(rootfs):
        unmount_all(rootfs)
    shutil.rmtree(bundle, ignore_errors=True)
