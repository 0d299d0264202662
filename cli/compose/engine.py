"""Compose operations against the Engine API: networks, volumes and containers found by labels."""
from __future__ import annotations

import sys
import threading
import time
from functools import partial

from cli import jsoncodec as json
from cli.compose.model import LABEL, VERSION, Project, Service
from cli.errors import APIError, CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from cli.context import Context


class Engine:
    """Runs a Project against the daemon, reporting progress lines the way `docker compose` does."""

    def __init__(self, ctx: Context, project: Project) -> None:
        self.ctx, self.project = ctx, project
        self.client = ctx.client
        self._out_lock = threading.Lock()  # services converge in threads: one progress line at a time

    # -- progress -----------------------------------------------------------------------------
    def event(self, kind: str, name: str, status: str) -> None:
        with self._out_lock:
            self.ctx.err.write(f" {kind} {name}  {status}\n")
            self.ctx.err.flush()

    # -- lookup -------------------------------------------------------------------------------
    def containers(self, all_: bool = True, service: str | None = None, oneoff: bool = False) -> list[dict]:
        labels = [f"{LABEL}project={self.project.name}", f"{LABEL}oneoff={'True' if oneoff else 'False'}"]
        if service:
            labels.append(f"{LABEL}service={service}")
        filters = json.dumps({"label": {lbl: True for lbl in labels}}, separators=(",", ":"))
        found = self.client.get_json("/containers/json", {"all": 1 if all_ else None, "filters": filters}) or []
        return sorted(found, key=lambda c: (c.get("Labels", {}).get(LABEL + "service", ""), c["Names"][0]))

    def container_for(self, service: Service) -> dict | None:
        found = self.containers(True, service.name)
        return found[0] if found else None

    # -- resources ----------------------------------------------------------------------------
    def ensure_network(self, key: str) -> None:
        name = self.project.network_name(key)
        cfg = self.project.networks.get(key) or {}
        try:
            self.client.get_json(f"/networks/{name}")
            return
        except APIError as e:
            if not e.not_found:
                raise
        if cfg.get("external"):
            raise CLIError(f"network {name} declared as external, but could not be found")
        self.event("Network", name, "Creating")
        ipam = cfg.get("ipam") or {}
        body = {"Name": name, "Driver": cfg.get("driver") or "bridge", "CheckDuplicate": True,
                "Internal": bool(cfg.get("internal")), "Attachable": bool(cfg.get("attachable")),
                "Options": cfg.get("driver_opts") or {},
                "IPAM": {"Driver": ipam.get("driver") or "default",
                         "Config": [{"Subnet": c.get("subnet"), "Gateway": c.get("gateway"), "IPRange": c.get("ip_range")}
                                    for c in ipam.get("config") or []]},
                "Labels": {**(cfg.get("labels") or {}), LABEL + "project": self.project.name,
                           LABEL + "network": key, LABEL + "version": VERSION}}
        self.client.post_json("/networks/create", None, body)
        self.event("Network", name, "Created")

    def ensure_volume(self, key: str) -> None:
        name = self.project.volume_name(key)
        cfg = self.project.volumes.get(key) or {}
        try:
            self.client.get_json(f"/volumes/{name}")
            return
        except APIError as e:
            if not e.not_found:
                raise
        if cfg.get("external"):
            raise CLIError(f"external volume \"{name}\" not found")
        self.event("Volume", f'"{name}"', "Creating")
        body = {"Name": name, "Driver": cfg.get("driver") or "local", "DriverOpts": cfg.get("driver_opts") or {},
                "Labels": {**(cfg.get("labels") or {}), LABEL + "project": self.project.name,
                           LABEL + "volume": key, LABEL + "version": VERSION}}
        self.client.post_json("/volumes/create", None, body)
        self.event("Volume", f'"{name}"', "Created")

    # -- images -------------------------------------------------------------------------------
    def image_exists(self, image: str) -> bool:
        try:
            self.client.get_json(f"/images/{image}/json")
            return True
        except APIError as e:
            if e.not_found:
                return False
            raise

    def pull(self, service: Service, quiet: bool = False) -> None:
        from cli import refs
        from cli.auth import registry_auth_header
        from cli.progress import display_stream
        ref = refs.parse(service.image)
        self.ctx.err.write(f" {service.name} Pulling \n")
        resp = self.client.request("POST", "/images/create", {"fromImage": ref.name, "tag": ref.digest or ref.tag},
                                   body=b"", headers=registry_auth_header(ref.domain))
        import os
        with open(os.devnull, "w") as devnull:
            display_stream(resp.iter_json(), devnull, terminal=False)
        self.ctx.err.write(f" {service.name} Pulled \n")

    def push(self, service: Service, quiet: bool = False) -> None:
        from cli import refs
        from cli.auth import registry_auth_header
        from cli.progress import display_stream
        ref = refs.parse(service.image)
        self.ctx.err.write(f" {service.name} Pushing \n")
        resp = self.client.request("POST", f"/images/{ref.name}/push", {"tag": ref.tag or "latest"}, body=b"",
                                   headers=registry_auth_header(ref.domain))
        import os
        with open(os.devnull, "w") as devnull:
            display_stream(resp.iter_json(), devnull if quiet else self.ctx.out, terminal=False)
        self.ctx.err.write(f" {service.name} Pushed \n")

    def build(self, service: Service) -> None:
        import os

        from cli.commands.build import prepare_context
        from cli.progress import display_stream
        build = service.config.get("build")
        if isinstance(build, str):
            build = {"context": build}
        context = os.path.join(self.project.working_dir, build.get("context") or ".")
        dockerfile = build.get("dockerfile") or ""
        if dockerfile and not os.path.isabs(dockerfile):
            dockerfile = os.path.join(context, dockerfile)
        body, name = prepare_context(context, dockerfile)
        params: list[tuple[str, Any]] = [("t", service.image), ("dockerfile", name), ("version", "1")]
        if build.get("args"):
            args = build["args"]
            if isinstance(args, list):
                args = dict(a.partition("=")[::2] for a in args)
            params.append(("buildargs", json.dumps({k: None if v is None else str(v) for k, v in args.items()})))
        if build.get("target"):
            params.append(("target", build["target"]))
        params.append(("labels", json.dumps({LABEL + "project": self.project.name, LABEL + "service": service.name})))
        resp = self.client.request("POST", "/build", params, body=body,
                                   headers={"Content-Type": "application/x-tar", "X-Registry-Config": "e30="})
        display_stream(resp.iter_json(), self.ctx.out, terminal=False)

    def ensure_image(self, service: Service, build: bool = False) -> None:
        if service.config.get("build") and build:
            self.build(service)
        elif not self.image_exists(service.image):
            self.build(service) if service.config.get("build") else self.pull(service)

    # -- containers ---------------------------------------------------------------------------
    def health_bound(self, service: Service) -> float:
        """How long a healthcheck can take to settle: start period, then retries+1 probes (Docker's defaults)."""
        from cli.compose.model import _ns
        hc = service.config.get("healthcheck") or {}
        interval = (_ns(hc.get("interval")) or 30_000_000_000) / 1e9
        timeout = (_ns(hc.get("timeout")) or 30_000_000_000) / 1e9
        start = (_ns(hc.get("start_period")) or 0) / 1e9
        retries = hc.get("retries") or 3
        return start + (interval + timeout) * (int(retries) + 1) + 10

    def wait_dependencies(self, service: Service, timeout: float | None = None,
                          find: Callable[[str], tuple[str, str] | None] | None = None) -> None:
        """Wait until every dependency of service meets its depends_on condition (errors as compose's).
        `find` gives a dependency's (container id, name); by default, whatever container it has."""
        for dep, spec in service.depends_on().items():
            condition = spec.get("condition", "service_started")
            if condition == "service_started":
                continue
            found = (find or self._container_of)(dep)
            if found is not None:
                self.wait_condition(dep, found[0], found[1], condition, timeout)

    def _container_of(self, service_name: str) -> tuple[str, str] | None:
        cont = self.container_for(self.project.services[service_name])
        return (cont["Id"], cont["Names"][0].lstrip("/")) if cont else None

    @staticmethod
    def needs_new_container(service: Service, cont: dict | None, force: bool) -> bool:
        """Whether up creates the service's container anew: forced, none yet, or made from another config."""
        return force or cont is None or cont.get("Labels", {}).get(LABEL + "config-hash") != service.config_hash()

    def wait_healthy(self, services: list[Service], timeout: float | None = None) -> None:
        """`up --wait`: every service's container healthy, waited for side by side."""
        jobs = []
        for s in services:
            cont = self.container_for(s)
            if cont is not None:
                jobs.append(partial(self.wait_condition, s.name, cont["Id"], cont["Names"][0].lstrip("/"),
                                    "service_healthy", timeout))
        run_parallel(jobs)

    def wait_condition(self, dep: str, cid: str, name: str, condition: str, timeout: float | None = None) -> None:
        """Block until container cid is healthy (service_healthy) or exited 0 (service_completed_successfully).

        Rather than sleep-polling, it listens to the daemon's events for that container (health_status, die)
        and inspects when one arrives, so it notices the change at once; the stream is opened before the
        first inspect, so no change can fall between the two."""
        bound = timeout if timeout is not None else (
            self.health_bound(self.project.services[dep]) if condition == "service_healthy" else 3600)
        deadline = time.monotonic() + bound
        self.event("Container", name, "Waiting")
        flt = json.dumps({"container": [cid], "event": ["health_status", "die", "destroy"]}, separators=(",", ":"))
        events = self.client.request("GET", "/events", {"filters": flt})
        live = True
        try:
            while True:
                state = (self.client.get_json(f"/containers/{cid}/json") or {}).get("State") or {}
                if condition == "service_healthy":
                    health = (state.get("Health") or {}).get("Status")
                    if health == "healthy":
                        self.event("Container", name, "Healthy")
                        return
                    if health is None:
                        raise CLIError(f"dependency failed to start: container {name} has no healthcheck configured")
                    if health == "unhealthy" or not state.get("Running"):
                        raise CLIError(f"dependency failed to start: container {name} is unhealthy")
                elif not state.get("Running") and state.get("Status") == "exited":
                    if state.get("ExitCode") != 0:
                        raise CLIError(f"service \"{dep}\" didn't complete successfully: exit {state.get('ExitCode')}")
                    self.event("Container", name, "Exited")
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CLIError(f"dependency failed to start: container {name} did not become "
                                   f"{'healthy' if condition == 'service_healthy' else 'complete'} within {bound:.0f}s")
                if not live:  # the daemon ended the stream: fall back to a short poll
                    time.sleep(min(left, 0.1))
                    continue
                # an event for the container (or, as a safety net, a second without one) means: inspect again
                if events.wait_readable(min(left, 1.0)):
                    try:
                        live = bool(events.read_chunk())
                    except OSError:
                        live = False
        finally:
            events.close()

    def create(self, service: Service) -> str:
        body = service.create_body()
        name = service.container_name
        self.event("Container", name, "Creating")
        created = self.client.post_json("/containers/create", {"name": name}, body)
        cid = created["Id"]
        for key, opts in list(service.networks().items())[1:]:
            self.client.request("POST", f"/networks/{self.project.network_name(key)}/connect", json_body={
                "Container": cid, "EndpointConfig": {"Aliases": [service.name, name] + list((opts or {}).get("aliases") or [])}}).read()
        self.event("Container", name, "Created")
        return cid

    def remove(self, cont: dict, stop_timeout: int | None = None, volumes: bool = False) -> None:
        name = cont["Names"][0].lstrip("/")
        if cont.get("State") in ("running", "restarting", "paused"):
            self.event("Container", name, "Stopping")
            self.client.request("POST", f"/containers/{cont['Id']}/stop",
                                {"t": stop_timeout} if stop_timeout is not None else None).read()
            self.event("Container", name, "Stopped")
        self.event("Container", name, "Removing")
        self.client.request("DELETE", f"/containers/{cont['Id']}", {"force": 1, "v": 1 if volumes else None}).read()
        self.event("Container", name, "Removed")

    def start(self, cid: str, name: str) -> None:
        self.event("Container", name, "Starting")
        self.client.request("POST", f"/containers/{cid}/start").read()
        self.event("Container", name, "Started")

    def up(self, services: list[Service], force: bool = False, build: bool = False,
           stop_timeout: int | None = None, remove_orphans: bool = False) -> None:
        """Converge services as `docker compose up` does: networks, volumes and image checks side by side,
        then each service in its own thread, created once its dependencies are created and started once
        they are started and meet their conditions, so independent services are created and started
        concurrently and a dependent's container is ready before its dependencies are healthy."""
        existing = self.containers()  # one listing for orphans and every service (negotiates first)
        known = set(self.project.services) | set(self.project.inactive)
        current: dict[str, dict] = {}
        orphans = []
        for c in existing:
            svc = c.get("Labels", {}).get(LABEL + "service")
            if svc not in known:
                orphans.append(c)
            else:
                current.setdefault(svc, c)
        used_volumes = set()
        for s in services:
            for v in s.config.get("volumes") or []:
                src = v.get("source") if isinstance(v, dict) else (str(v).split(":")[0] if ":" in str(v) else "")
                if src in self.project.volumes:
                    used_volumes.add(src)
        jobs: list[Callable[[], Any]] = [partial(self.ensure_network, k)
                                         for k in sorted({k for s in services for k in s.networks()})]
        jobs += [partial(self.ensure_volume, k) for k in sorted(used_volumes)]
        # which services get a new container, and so need their image
        fresh = {s.name for s in services if self.needs_new_container(s, current.get(s.name), force)}
        to_build = [s for s in services if s.name in fresh and s.config.get("build") and build]
        images = sorted({s.image for s in services if s.name in fresh and s not in to_build})
        found: dict[str, bool] = {}
        jobs += [partial(lambda i: found.__setitem__(i, self.image_exists(i)), i) for i in images]
        run_parallel(jobs)
        if remove_orphans:
            run_parallel([partial(self.remove, c, stop_timeout) for c in orphans])
        elif orphans:
            names = " ".join(c["Names"][0].lstrip("/") for c in orphans)
            self.ctx.err.write(f"WARN[0000] Found orphan containers ([{names}]) for this project. If you removed or "
                               "renamed this service in your compose file, you can run this command with the "
                               "--remove-orphans flag to clean it up. \n")
        for s in services:
            if s in to_build or (s.name in fresh and not found.get(s.image, True)):
                if s.config.get("build"):
                    self.build(s)
                else:
                    self.pull(s)
                found[s.image] = True
        Convergence(self, services, current, fresh, stop_timeout).run()

    def up_service(self, service: Service, force: bool = False, build: bool = False,
                   stop_timeout: int | None = None) -> None:
        """Create, recreate or start one service's container so it runs the current config."""
        cont = self.container_for(service)
        fresh = {service.name} if self.needs_new_container(service, cont, force) else set()
        if fresh:
            self.ensure_image(service, build)
        Convergence(self, [service], {service.name: cont} if cont else {}, fresh, stop_timeout).run()

    def follow_logs(self, containers: list[dict], follow: bool, tail: str = "all", timestamps: bool = False,
                    prefix: bool = True) -> None:
        """Print each container's log lines as `name  | line`, interleaved as they arrive."""
        from cli.streams import demux
        width = max((len(c["Names"][0]) - 1 for c in containers), default=0)
        lock = threading.Lock()

        class LineWriter:
            def __init__(self, label: str, stream: Any) -> None:
                self.label, self.stream, self.buf = label, stream, b""

            def write(self, data: bytes) -> None:
                self.buf += data
                while b"\n" in self.buf:
                    line, self.buf = self.buf.split(b"\n", 1)
                    self.emit(line)

            def emit(self, line: bytes) -> None:
                with lock:
                    head = f"{self.label:<{width}}  | ".encode() if prefix else b""
                    self.stream.write(head + line + b"\n")
                    self.stream.flush()

            def flush(self) -> None:
                pass

        def one(cont: dict) -> None:
            label = cont["Names"][0].lstrip("/")
            out = LineWriter(label, sys.stdout.buffer)
            params = {"stdout": 1, "stderr": 1, "follow": 1 if follow else None, "tail": tail,
                      "timestamps": 1 if timestamps else None}
            try:
                resp = self.client.request("GET", f"/containers/{cont['Id']}/logs", params)
            except CLIError:
                return
            if cont.get("_tty"):
                while True:
                    data = resp.read_chunk()
                    if not data:
                        break
                    out.write(data)
            else:
                demux(resp.read_chunk, out, out)
            if out.buf:
                out.emit(out.buf)
            resp.close()

        for c in containers:
            info = self.client.get_json(f"/containers/{c['Id']}/json") or {}
            c["_tty"] = bool((info.get("Config") or {}).get("Tty"))
        threads = [threading.Thread(target=one, args=(c,), daemon=True) for c in containers]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)


def run_parallel(jobs: list[Callable[[], Any]]) -> None:
    """Run independent API calls side by side; raise the first error once all are done."""
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    errors: list[BaseException] = []

    def one(job: Callable[[], Any]) -> None:
        try:
            job()
        except BaseException as e:  # re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(j,), daemon=True) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)  # a bare join() would not let Ctrl-C through
    if errors:
        raise errors[0]


class _DependencyFailed(Exception):
    """A dependency failed: the service stops without an error of its own."""


class Convergence:
    """One thread per service: create (after its dependencies' creation), then start (after they are
    started and meet their depends_on conditions), as compose v2's dependency-ordered visitor does."""

    def __init__(self, eng: Engine, services: list[Service], current: dict[str, dict], fresh: set[str],
                 stop_timeout: int | None) -> None:
        self.eng, self.services, self.current, self.fresh = eng, services, current, fresh
        self.stop_timeout = stop_timeout
        self.names = {s.name for s in services}
        self.created = {s.name: threading.Event() for s in services}
        self.started = {s.name: threading.Event() for s in services}
        self.ok: dict[str, bool] = {}
        self.cids: dict[str, tuple[str, str]] = {}  # service -> (container id, name) once created
        self.errors: list[BaseException] = []

    def run(self) -> None:
        run_parallel([partial(self.service, s) for s in self.services])
        if self.errors:
            raise self.errors[0]

    def _after(self, events: dict[str, threading.Event], deps: list[str]) -> None:
        for dep in deps:
            if dep in self.names:
                events[dep].wait()
                if not self.ok.get(dep, True):
                    raise _DependencyFailed(dep)

    def service(self, s: Service) -> None:
        eng, name, deps = self.eng, s.container_name, s.depends_on()
        cid, running = "", False
        try:
            self._after(self.created, list(deps))
            cont = self.current.get(s.name)
            if s.name not in self.fresh and cont is not None:
                cid, running = cont["Id"], cont.get("State") == "running"
                name = cont["Names"][0].lstrip("/")
                if running:
                    eng.event("Container", name, "Running")
            else:
                if cont is not None:
                    eng.event("Container", name, "Recreate")
                    eng.remove(cont, self.stop_timeout)
                    eng.event("Container", name, "Recreated")
                cid = eng.create(s)
            self.cids[s.name] = (cid, name)
            self.created[s.name].set()
            self._after(self.started, list(deps))
            eng.wait_dependencies(s, find=self.container_of)
            if not running:
                eng.start(cid, name)
            self.ok[s.name] = True
        except BaseException as e:
            # A container created for a start its dependencies never allowed stays Created, as in
            # compose v2 (`ps -a` shows it; the next `up` starts or recreates it).
            self.ok[s.name] = False
            if not isinstance(e, _DependencyFailed):
                self.errors.append(e)
        finally:
            self.created[s.name].set()
            self.started[s.name].set()

    def container_of(self, dep: str) -> tuple[str, str] | None:
        """(id, name) of a dependency's container: the one converged here, else whatever exists."""
        return self.cids[dep] if dep in self.cids else self.eng._container_of(dep)
