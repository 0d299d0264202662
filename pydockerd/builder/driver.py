"""The classic build loop: runs a plan against a backend and prints exactly what dockerd prints.

The endpoint supplies a `BuildBackend` (images, containers, layers through pycontainerd) and an
`Output` (which turns writes into JSON messages with `json_stream`/`json_aux`/`json_error`); the
driver owns the order of things: step headers, cache probes, `---> Running in`, container output,
`Removing intermediate container`, `---> <id>`, the `aux` ID after each stage, the unused
build-arg warning, `Successfully built` and `Successfully tagged` (moby 20.10's wording, one
message per write as its stream formatter does).
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import AsyncIterable
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

from .context import UNNAMED_DOWNLOAD, BuildContext, Source, read_context
from .errors import BuildError, DockerfileError
from ..errors import DockerError
from .plan import (Action, BuildOptions, Builder, BuildPlan, CommitAction, CopyAction, FromRef,
                   RunAction, StageState, make_plan)


# ---------------------------------------------------------------------------------------------
# JSON messages, byte-compatible with Go's encoding/json (which escapes <, > and &)
# ---------------------------------------------------------------------------------------------

def _go_json(obj: object) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text.encode("utf-8", "replace") + b"\n"


def json_stream(text: str) -> bytes:
    return _go_json({"stream": text})


def json_stderr(text: str) -> bytes:
    """moby's StderrFormatter paints what a step writes on stderr red."""
    return _go_json({"stream": "\033[91m" + text + "\033[0m"})


def json_aux(obj: object) -> bytes:
    return _go_json({"aux": obj})


def json_error(message: str, code: int | None = None) -> bytes:
    """Both `errorDetail` (the Go CLI) and `error` (docker-py) as streamformatter.FormatError."""
    detail: dict[str, object] = {}
    if code:
        detail["code"] = code
    detail["message"] = message
    return _go_json({"errorDetail": detail, "error": message})


def short_id(image_id: str) -> str:
    """stringid.TruncateID: no algorithm prefix, 12 characters ('' stays '')."""
    return image_id.split(":", 1)[-1][:12]


# ---------------------------------------------------------------------------------------------
# What the endpoint provides
# ---------------------------------------------------------------------------------------------

class Output(Protocol):
    async def stdout(self, text: str) -> None: ...
    async def stderr(self, text: str) -> None: ...
    async def aux(self, obj: object) -> None: ...

    async def progress(self, message: bytes) -> None:
        """One Docker JSON message of another operation (a FROM image's pull), written as it is."""


@dataclass
class BaseImage:
    image_id: str            # '' for scratch
    config: dict | None      # the image's container config (None for scratch)


@dataclass
class Container:
    id: str
    warnings: list[str] = field(default_factory=list)


class BuildBackend(Protocol):
    """Primitive operations on images, containers and layers."""

    async def get_base(self, ref: FromRef, progress: Callable[[bytes], Awaitable[None]]) -> BaseImage:
        """The image for FROM (pulling as the `pull` option says; scratch gives image_id ''); a pull's
        JSON messages go to `progress`, into the build output as moby's classic builder shows them."""

    async def probe_cache(self, parent_id: str, cache_key: str) -> str | None:
        """An image built before from `parent_id` with this key, if any."""

    async def create(self, parent_id: str, config: dict) -> Container:
        """A build container on `parent_id` (its rootfs) with `config`; not started."""

    async def run(self, container_id: str, stdout: Callable[[bytes], Awaitable[None]],
                  stderr: Callable[[bytes], Awaitable[None]]) -> int:
        """Start it, stream its output, wait; the exit code."""

    async def mkdir(self, container_id: str, path: str) -> None:
        """WORKDIR: create `path` in the container's rootfs (copier.make_workdir does it)."""

    async def commit(self, container_id: str, parent_id: str, config: dict,
                     container_config: dict, author: str | None, cache_key: str) -> str:
        """Image from the container's changes; records `cache_key` for `probe_cache`."""

    async def remove(self, container_id: str) -> None: ...

    async def source(self, ref: FromRef) -> Source:
        """A readable root for `COPY --from` (a stage's result or an image)."""

    async def download(self, url: str) -> str:
        """ADD <url>: fetch to a temp file named as context.download_filename says
        (`__unnamed__` when there is no name)."""

    async def copy(self, parent_id: str, action: CopyAction, source: Source | None,
                   downloads: dict[str, str], cache_key: str) -> str:
        """A new layer on `parent_id` with copier.perform_copy(action, source, rootfs,
        downloads=…) applied, committed with action.config / action.container_config /
        action.author."""

    async def tag(self, image_id: str, reference: str) -> None: ...

    async def cleanup(self) -> None:
        """The build is over: release what `source` mounted and what `download` wrote."""


# ---------------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------------

@dataclass
class DriverOptions:
    build: BuildOptions = field(default_factory=BuildOptions)
    tags: list[str] = field(default_factory=list)
    no_cache: bool = False
    remove: bool = True          # rm=1 (the default): remove containers of successful steps
    force_remove: bool = False   # forcerm=1: always remove them
    quiet: bool = False          # q=1: only the image ID at the end
    host_config: dict = field(default_factory=dict)  # RUN containers': networkmode, shmsize, extrahosts
    pull: bool = False           # pull=1: pull FROM images even when present (moby's PullOptionForcePull)


async def read_context_async(chunks: AsyncIterable[bytes], dockerfile: str = "",
                             tmp_root: str | None = None) -> BuildContext:
    """Take the whole request body first (as moby does), then extract it in a thread."""
    spool = tempfile.TemporaryFile(dir=tmp_root)
    try:
        async for chunk in chunks:
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        return await asyncio.to_thread(read_context, spool, dockerfile, tmp_root)
    finally:
        spool.close()


def _bool(value: str | None) -> bool:
    """httputils.BoolValue."""
    v = (value or "").strip().lower()
    return v not in ("", "0", "no", "false", "none")


def _getall(query, key: str) -> list[str]:
    if hasattr(query, "getall"):
        return list(query.getall(key, []))
    v = query.get(key)
    return v if isinstance(v, list) else ([] if v is None else [v])


def _json_param(query, key: str, what: str, kind: type):
    raw = query.get(key) or ""
    if raw == "":
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise DockerfileError(f"error reading {what}: {exc}") from None
    if value is None:
        return None
    if not isinstance(value, kind):
        raise DockerfileError(f"error reading {what}: json: cannot unmarshal "
                              f"{type(value).__name__} into a {kind.__name__}")
    return value


def options_from_query(query) -> tuple[DriverOptions, str]:
    """The classic-builder parts of a `/build` query (moby's newImageBuildOptions, API >= 1.24):
    the driver's options and the `dockerfile` parameter."""
    build_args = _json_param(query, "buildargs", "build args", dict) or {}
    for k, v in build_args.items():
        if v is not None and not isinstance(v, str):
            raise DockerfileError("error reading build args: json: cannot unmarshal number into "
                                  "Go value of type string")
    labels = _json_param(query, "labels", "labels", dict) or {}
    force = _bool(query.get("forcerm"))
    rm = query.get("rm")
    options = DriverOptions(
        build=BuildOptions(build_args=build_args, target=query.get("target") or "",
                           labels={str(k): str(v) for k, v in labels.items()},
                           platform=query.get("platform") or ""),
        tags=_getall(query, "t"),
        no_cache=_bool(query.get("nocache")),
        remove=True if force or not rm else _bool(rm),
        force_remove=force,
        quiet=_bool(query.get("q")),
        host_config=_host_config(query),
        pull=_bool(query.get("pull")),
    )
    return options, query.get("dockerfile") or ""


def _host_config(query) -> dict:
    """The HostConfig of the build's RUN containers (moby's builder: NetworkMode, ShmSize, ExtraHosts)."""
    hc: dict = {"NetworkMode": query.get("networkmode") or "default"}
    shm = query.get("shmsize")
    if shm:
        try:
            hc["ShmSize"] = int(shm)
        except ValueError:
            raise DockerfileError(f'strconv.ParseInt: parsing "{shm}": invalid syntax') from None
    hosts = [h for v in _getall(query, "extrahosts") for h in v.split(",") if h]
    if hosts:
        hc["ExtraHosts"] = hosts
    return hc


def familiar_tag(ref: str) -> str:
    """What `Successfully tagged` shows: the familiar name with `:latest` when no tag."""
    name = ref
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in name:
        name += ":latest"
    return name


class _Quiet:
    async def stdout(self, text: str) -> None:
        pass

    async def stderr(self, text: str) -> None:
        pass

    async def aux(self, obj: object) -> None:
        pass

    async def progress(self, message: bytes) -> None:
        pass


class BuildDriver:
    def __init__(self, ctx: BuildContext, backend: BuildBackend, out: Output,
                 options: DriverOptions | None = None) -> None:
        self.ctx = ctx
        self.backend = backend
        self.options = options or DriverOptions()
        self.real_out = out
        self.out: Output = _Quiet() if self.options.quiet else out
        self.plan: BuildPlan = make_plan(ctx.dockerfile, self.options.build)
        self.builder = Builder(self.plan)
        self._pending: list[str] = []   # containers of the current step

    async def build(self) -> str:
        """Run every step; returns the final image ID (`sha256:…`)."""
        try:
            return await self._build()
        finally:
            await self.backend.cleanup()

    async def _build(self) -> str:
        out, b = self.out, self.builder
        warnings = self.ctx.dockerfile.warning_text()
        if warnings:
            await out.stderr(warnings)
        state: StageState | None = None
        for step in self.plan.steps:
            if step.kind == "from":
                # the previous stage ends (aux ID) before the next FROM is printed
                if state is not None:
                    await self._end_stage(state)
                    state = None
                b.check_stage_name(step.stage)
            await out.stdout(step.header())
            await out.stdout("\n")
            if step.kind == "meta_arg":
                b.process_meta_arg(step.instruction)
                continue
            if step.kind == "from":
                ref = b.resolve_from(step.stage)
                base = await self.backend.get_base(ref, self.out.progress)
                state = b.begin_stage(step.stage, base.image_id, base.config, ref)
                if state.triggers:
                    triggers = b.take_triggers(state)
                    count = len(triggers)
                    await out.stdout(f"# Executing {count} build trigger")
                    if count > 1:
                        await out.stdout("s")
                    await out.stdout("\n")
                    for inst in triggers:
                        await self._run_action(state, b.dispatch(state, inst))
                await out.stdout(f" ---> {short_id(state.image_id)}\n")
                continue
            assert state is not None
            await self._run_action(state, b.dispatch(state, step.instruction))
            await out.stdout(f" ---> {short_id(state.image_id)}\n")
        if state is None:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        last_stage_id = await self._end_stage(state)
        warning = b.unused_args_warning()
        if warning:
            await out.stdout(warning + "\n")
        if not last_stage_id:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        await out.stdout(f"Successfully built {short_id(last_stage_id)}\n")
        for tag in self.options.tags:
            await self.backend.tag(last_stage_id, tag)
            await out.stdout(f"Successfully tagged {familiar_tag(tag)}\n")
        if self.options.quiet:
            await self.real_out.stdout(last_stage_id + "\n")
        return last_stage_id

    async def _end_stage(self, state: StageState) -> str:
        if state.image_id:
            await self.out.aux({"ID": state.image_id})
        self.builder.end_stage(state)
        return state.image_id

    async def _cached(self, state: StageState, key: str) -> bool:
        if self.options.no_cache:
            return False
        hit = await self.backend.probe_cache(state.image_id, key)
        if not hit:
            return False
        await self.out.stdout(" ---> Using cache\n")
        state.image_id = hit
        state.config["Image"] = hit
        return True

    async def _create(self, parent_id: str, config: dict) -> str:
        container = await self.backend.create(parent_id, config)
        for w in container.warnings:
            await self.out.stdout(f" ---> [Warning] {w}\n")
        await self.out.stdout(f" ---> Running in {short_id(container.id)}\n")
        self._pending.append(container.id)
        return container.id

    async def _cleanup(self, success: bool) -> None:
        if self.options.force_remove or (self.options.remove and success):
            for cid in self._pending:
                await self.backend.remove(cid)
                await self.out.stdout(f"Removing intermediate container {short_id(cid)}\n")
        self._pending = []

    async def _run_action(self, state: StageState, action: Action) -> None:
        for note in action.notes:
            await self.out.stdout(note + "\n")
        ok = False
        try:
            if isinstance(action, CopyAction):
                await self._copy(state, action)
            elif isinstance(action, RunAction):
                await self._run(state, action)
            else:
                assert isinstance(action, CommitAction)
                await self._commit(state, action)
            ok = True
        finally:
            await self._cleanup(ok)

    def _set_image(self, state: StageState, image_id: str) -> None:
        state.image_id = image_id
        state.config["Image"] = image_id

    async def _commit(self, state: StageState, action: CommitAction) -> None:
        key = action.cache_key(state.image_id)
        if await self._cached(state, key):
            return
        cid = await self._create(state.image_id, action.container_config)
        if action.make_workdir:
            await self.backend.mkdir(cid, action.make_workdir)
        image_id = await self.backend.commit(cid, state.image_id, action.config,
                                             action.container_config, action.author, key)
        self._set_image(state, image_id)

    async def _run(self, state: StageState, action: RunAction) -> None:
        key = action.cache_key(state.image_id)
        if await self._cached(state, key):
            return
        cid = await self._create(state.image_id, action.run_config)

        async def to_stdout(data: bytes) -> None:
            await self.out.stdout(data.decode("utf-8", "replace"))

        async def to_stderr(data: bytes) -> None:
            await self.out.stderr(data.decode("utf-8", "replace"))

        code = await self.backend.run(cid, to_stdout, to_stderr)
        if code != 0:
            raise BuildError(action.failure_message(code), code=code)
        image_id = await self.backend.commit(cid, state.image_id, action.config,
                                             action.container_config, action.author, key)
        self._set_image(state, image_id)

    async def _copy(self, state: StageState, action: CopyAction) -> None:
        source: Source | None = self.ctx.source
        if action.from_ref is not None:
            try:
                source = await self.backend.source(action.from_ref)
            except (BuildError, DockerError) as exc:  # moby: errors.Wrapf(err, "invalid from flag value %s")
                raise BuildError(f"invalid from flag value {action.from_ref.name}: {exc.message}") from None
        downloads: dict[str, str] = {}
        url_hashes: dict[str, str] = {}
        for url in action.urls():
            path = await self.backend.download(url)
            if os.path.basename(path) == UNNAMED_DOWNLOAD and action.dest.endswith("/"):
                raise BuildError(f"ADD failed: cannot determine filename for source {url}")
            downloads[url] = path
            # moby hashes a download as a file on disk named as it will be in the image
            url_hashes[url] = "file:" + await asyncio.to_thread(
                Source(os.path.dirname(path)).hash, os.path.basename(path))
        # checksumming a large context reads every file: keep it off the event loop
        await asyncio.to_thread(action.resolve, source, url_hashes)
        key = action.cache_key(state.image_id)
        if await self._cached(state, key):
            return
        image_id = await self.backend.copy(state.image_id, action, source, downloads, key)
        self._set_image(state, image_id)
