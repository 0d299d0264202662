"""Compose operations against the Engine API: networks, volumes and containers found by labels."""
from __future__ import annotations

import sys
import threading
import time

from cli import jsoncodec as json
from cli.compose.model import LABEL, VERSION, Project, Service
from cli.errors import APIError, CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context


class Engine:
    """Runs a Project against the daemon, reporting progress lines the way `docker compose` does."""

    def __init__(self, ctx: Context, project: Project) -> None:
        self.ctx, self.project = ctx, project
        self.client = ctx.client

    # -- progress -----------------------------------------------------------------------------
    def event(self, kind: str, name: str, status: str) -> None:
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
        if service.config.get("build") and (build or not self.image_exists(service.image)):
            self.build(service)
        elif not self.image_exists(service.image):
            self.pull(service)

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

    def wait_dependencies(self, service: Service, timeout: float | None = None) -> None:
        for dep, spec in service.depends_on().items():
            condition = spec.get("condition", "service_started")
            if condition == "service_started":
                continue
            cont = self.container_for(self.project.services[dep])
            if cont is None:
                continue
            name = cont["Names"][0].lstrip("/")
            self.event("Container", name, "Waiting")
            bound = timeout if timeout is not None else (
                self.health_bound(self.project.services[dep]) if condition == "service_healthy" else 3600)
            deadline = time.monotonic() + bound
            while True:
                state = (self.client.get_json(f"/containers/{cont['Id']}/json") or {}).get("State") or {}
                if condition == "service_healthy":
                    health = (state.get("Health") or {}).get("Status")
                    if health == "healthy":
                        self.event("Container", name, "Healthy")
                        break
                    if health is None:
                        raise CLIError(f"dependency failed to start: container {name} has no healthcheck configured")
                    if health == "unhealthy" or not state.get("Running"):
                        raise CLIError(f"dependency failed to start: container {name} is unhealthy")
                elif condition == "service_completed_successfully":
                    if not state.get("Running") and state.get("Status") == "exited":
                        if state.get("ExitCode") != 0:
                            raise CLIError(f"service \"{dep}\" didn't complete successfully: exit {state.get('ExitCode')}")
                        self.event("Container", name, "Exited")
                        break
                if time.monotonic() > deadline:
                    raise CLIError(f"dependency failed to start: container {name} did not become "
                                   f"{'healthy' if condition == 'service_healthy' else 'complete'} within {bound:.0f}s")
                time.sleep(0.2)

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

    def up_service(self, service: Service, force: bool = False, build: bool = False,
                   stop_timeout: int | None = None) -> str:
        """Create, recreate or start the service's container so it runs the current config."""
        self.wait_dependencies(service)
        existing = self.container_for(service)
        name = service.container_name
        if existing is not None:
            same = existing.get("Labels", {}).get(LABEL + "config-hash") == service.config_hash()
            if same and not force:
                if existing.get("State") == "running":
                    self.event("Container", name, "Running")
                else:
                    self.start(existing["Id"], name)
                return existing["Id"]
            self.event("Container", name, "Recreate")
            self.remove(existing, stop_timeout)
            self.event("Container", name, "Recreated")
        self.ensure_image(service, build)
        cid = self.create(service)
        self.start(cid, name)
        return cid

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
