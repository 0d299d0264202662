"""Build planning: step numbering, build args, stage resolution, config mutations and cache keys.

The classic builder's dispatcher (moby builder/dockerfile) as pure logic. `driver.BuildDriver`
drives it (and is the reference for the exact order of output); in outline:

    plan = make_plan(dockerfile, options)
    builder = Builder(plan)
    for step in plan.steps:                      # print step.header()
        if step.kind == "meta_arg":  builder.process_meta_arg(step.instruction)
        elif step.kind == "from":
            ref = builder.resolve_from(step.stage)          # scratch / earlier stage / image
            state = builder.begin_stage(step.stage, image_id, image_config)
            for inst in builder.take_triggers(state): action = builder.dispatch(state, inst) …
        else:
            action = builder.dispatch(state, step.instruction)
            # look up action.cache_key(state.image_id); on a miss run/commit it, then
            state.image_id = <new image id>
        (after the last step of a stage) builder.end_stage(state)
    builder.unused_args_warning()

Every action carries the new image `config`, the `container_config` Docker records (its Cmd is
the `#(nop)` comment or the RUN command, and is what the cache compares) and `created_by`.
"""
from __future__ import annotations

import copy
import hashlib
import json
import signal as _signal
from dataclasses import dataclass, field
from typing import Union

from . import gofmt
from .context import CopySources, Source, normalize_dest, resolve_sources
from .dockerignore import clean
from .dockerfile import (Add, Arg, Cmd, Copy, Dockerfile, Entrypoint, Env, Expose, Healthcheck,
                         Instruction, Label, Maintainer, Onbuild, Run, Shell, Stage, StopSignal,
                         User, Volume, Workdir, parse, parse_instruction, parse_trigger)
from .errors import BuildError, DockerfileError, TargetNotFound
from .shell_lex import Lexer

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SCRATCH = "scratch"
BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                "ftp_proxy", "NO_PROXY", "no_proxy")
NEEDS_BUILDKIT = ("the --{} option requires BuildKit. Refer to "
                  "https://docs.docker.com/go/buildkit/ to learn how to build images with "
                  "BuildKit enabled")


# ---------------------------------------------------------------------------------------------
# Plan: which stages are built and how the steps are numbered
# ---------------------------------------------------------------------------------------------

@dataclass
class BuildOptions:
    """The parts of the `/build` query the planner needs."""

    build_args: dict[str, str | None] = field(default_factory=dict)
    target: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    platform: str = ""


@dataclass
class PlannedStep:
    number: int
    total: int
    kind: str                       # meta_arg | from | command
    instruction: Union[Instruction, Stage]
    stage: Stage | None = None

    @property
    def text(self) -> str:
        return str(self.instruction)

    def header(self) -> str:
        """`Step N/M : <instruction as written>` (no newline)."""
        return f"Step {self.number}/{self.total} : {self.text}"


@dataclass
class BuildPlan:
    dockerfile: Dockerfile
    options: BuildOptions
    stages: list[Stage]
    meta_args: list[Arg]
    steps: list[PlannedStep]

    @property
    def total(self) -> int:
        return len(self.steps)


def make_plan(dockerfile: Dockerfile, options: BuildOptions | None = None) -> BuildPlan:
    """Stages up to `--target` (every earlier stage is built too, as the classic builder does),
    the `labels=` option appended to the last one as LABEL steps, and the steps numbered over
    global ARGs + FROMs + instructions."""
    options = options or BuildOptions()
    stages = [copy.copy(s) for s in dockerfile.stages]
    for s in stages:
        s.commands = list(s.commands)
    if options.target:
        idx = next((i for i, s in enumerate(stages) if s.name == options.target.lower()), -1)
        if idx < 0:
            raise TargetNotFound(f"failed to reach build target {options.target} in Dockerfile")
        stages = stages[:idx + 1]
    if stages:
        for key in sorted(options.labels):
            value = options.labels[key]
            code = f"LABEL {key}={value}"
            stages[-1].commands.append(Label(name="label", code=code, line=0,
                                             pairs=[(key, value)], no_expand=True))
    total = len(dockerfile.meta_args) + len(stages) + sum(len(s.commands) for s in stages)
    steps: list[PlannedStep] = []
    n = 0
    for a in dockerfile.meta_args:
        n += 1
        steps.append(PlannedStep(n, total, "meta_arg", a))
    for s in stages:
        n += 1
        steps.append(PlannedStep(n, total, "from", s, s))
        for c in s.commands:
            n += 1
            steps.append(PlannedStep(n, total, "command", c, s))
    return BuildPlan(dockerfile=dockerfile, options=options, stages=stages,
                     meta_args=list(dockerfile.meta_args), steps=steps)


# ---------------------------------------------------------------------------------------------
# Build args
# ---------------------------------------------------------------------------------------------

class BuildArgs:
    """moby's BuildArgs: values from `--build-arg`, ARGs declared so far, global (meta) ARGs."""

    def __init__(self, from_options: dict[str, str | None]) -> None:
        self.from_options = dict(from_options)
        self.allowed: dict[str, str | None] = {}
        self.meta: dict[str, str | None] = {}
        self.referenced: set[str] = set()

    def clone(self) -> BuildArgs:
        c = BuildArgs(self.from_options)
        c.allowed = dict(self.allowed)
        c.meta = dict(self.meta)
        c.referenced = set(self.referenced)
        return c

    def add_arg(self, key: str, value: str | None) -> None:
        self.allowed[key] = value
        self.referenced.add(key)

    def add_meta_arg(self, key: str, value: str | None) -> None:
        self.meta[key] = value

    def _get(self, key: str, mapping: dict[str, str | None]) -> tuple[str, bool]:
        v = self.from_options.get(key)
        if v is not None:
            return v, True
        default = mapping.get(key)
        if default is None:
            meta = self.meta.get(key)
            if meta is not None:
                return meta, True
            return "", False
        return default, key in mapping

    def _all(self, mapping: dict[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in list(mapping) + [k for k in BUILTIN_ARGS if k not in mapping]:
            value, ok = self._get(key, mapping)
            if ok:
                out[key] = value
        return out

    def all_allowed(self) -> dict[str, str]:
        return self._all(self.allowed)

    def all_meta(self) -> dict[str, str]:
        return self._all(self.meta)

    def filter_allowed(self, env: list[str]) -> list[str]:
        """`K=V` for the visible args not shadowed by an ENV of the same name (sorted)."""
        env_keys = {e.split("=", 1)[0] for e in env}
        return sorted(f"{k}={v}" for k, v in self.all_allowed().items() if k not in env_keys)

    def is_referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed or key not in BUILTIN_ARGS

    def unused(self) -> list[str]:
        return [k for k in self.from_options if k not in BUILTIN_ARGS and k not in self.referenced]


# ---------------------------------------------------------------------------------------------
# Config helpers
# ---------------------------------------------------------------------------------------------

def new_config() -> dict:
    """An empty container.Config as Docker's JSON spells it."""
    return {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
            "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
            "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
            "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None}


def shell_of(config: dict) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def with_comment(config: dict, comment: str, single: bool = False) -> dict:
    """runConfig whose Cmd records a metadata step: `[shell…, "#(nop) ", comment]` (withCmdComment)
    or, for WORKDIR/COPY/ADD, `[shell…, "#(nop) " + comment]` (withCmdCommentString)."""
    c = copy.deepcopy(config)
    c["Cmd"] = shell_of(config) + (["#(nop) " + comment] if single else ["#(nop) ", comment])
    return c


def created_by(container_config: dict) -> str:
    """The image history's `created_by`: the recorded Cmd joined with spaces."""
    return " ".join(container_config.get("Cmd") or [])


def cache_key(parent_id: str, container_config: dict) -> str:
    """Cache identity of a step: the parent image plus the recorded container config (Docker's
    image cache matches a child of the parent whose ContainerConfig equals it)."""
    cfg = {k: v for k, v in container_config.items() if k not in ("Image", "Hostname")}
    blob = parent_id + "\n" + json.dumps(cfg, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


def _health_config(health: dict) -> dict:
    """HealthConfig JSON: zero durations and retries are omitted (omitempty)."""
    out = {"Test": list(health["Test"])}
    for k in ("Interval", "Timeout", "StartPeriod", "Retries"):
        if health.get(k):
            out[k] = health[k]
    return out


def _quote_rune(n: int) -> str:
    """Go's %q of an int: strconv.QuoteRune."""
    if n == 0x27:
        return "'\\''"
    q = gofmt.quote(chr(n)) if 0 <= n <= 0x10FFFF else gofmt.quote("\ufffd")
    return "'" + q[1:-1].replace('\\"', '"') + "'"


def health_comment(health: dict) -> str:
    """`HEALTHCHECK %q` of moby's *HealthConfig: `&{["CMD-SHELL" "x"] "5s" "0s" "0s" '\\x03'}`."""
    durations = " ".join(gofmt.quote(gofmt.format_duration(health.get(k, 0)))
                         for k in ("Interval", "Timeout", "StartPeriod"))
    return f"&{{{gofmt.quote_slice(health['Test'])} {durations} {_quote_rune(health.get('Retries', 0))}}}"


_SIGNALS = {name[3:]: int(num) for name, num in _signal.Signals.__members__.items()
            if name.startswith("SIG") and not name.startswith("SIG_")}
_SIGNALS.update({"CLD": 17, "IOT": 6, "POLL": 29, "STKFLT": 16, "PWR": 30, "UNUSED": 31})
for _i in range(1, 15):
    _SIGNALS[f"RTMIN+{_i}"] = 34 + _i
    _SIGNALS[f"RTMAX-{_i}"] = 64 - _i
_SIGNALS.update({"RTMIN": 34, "RTMAX": 64})


def parse_signal(raw: str) -> int:
    """moby's signal.ParseSignal: a number, or a name with or without SIG."""
    try:
        n = int(raw, 10)
    except ValueError:
        n = None
    if n is not None:
        if n == 0:
            raise DockerfileError(f"Invalid signal: {raw}")
        return n
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise DockerfileError(f"Invalid signal: {raw}")
    return _SIGNALS[name]


_PROTOS = ("tcp", "udp", "sctp")


def _parse_port_range(spec: str) -> tuple[int, int]:
    if spec == "":
        raise ValueError("empty string specified for ports")
    lo, sep, hi = spec.partition("-")
    start = int(lo) if lo.isdigit() else None
    end = int(hi) if sep and hi.isdigit() else start
    if start is None or end is None or start > 65535 or end > 65535 or end < start:
        raise ValueError(spec)
    return start, end


def parse_exposed_ports(ports: list[str]) -> list[str]:
    """go-connections nat.ParsePortSpecs for EXPOSE: `80`, `80/udp`, `8000-8002`, `ip:host:ctr`."""
    out: list[str] = []
    for raw in ports:
        spec, _, proto = raw.rpartition("/") if "/" in raw else (raw, "", "tcp")
        proto = proto or "tcp"
        if proto.lower() not in _PROTOS:
            raise DockerfileError(f"Invalid proto: {proto}")
        container_port = spec.rsplit(":", 1)[-1] if spec.count(":") <= 2 else spec
        try:
            start, end = _parse_port_range(container_port)
        except ValueError:
            raise DockerfileError(f"Invalid containerPort: {container_port}") from None
        out += [f"{p}/{proto.lower()}" for p in range(start, end + 1)]
    return out


def normalize_workdir(current: str, requested: str) -> str:
    if requested == "":
        raise DockerfileError("cannot normalize nothing")
    if not requested.startswith("/"):
        return clean("/" + (current or "") + "/" + requested)
    return requested


def resolve_cmd_line(cmd_line: list[str] | None, prepend_shell: bool, config: dict) -> list[str] | None:
    if prepend_shell and cmd_line is not None:
        return shell_of(config) + cmd_line
    return cmd_line


# ---------------------------------------------------------------------------------------------
# Actions
# ---------------------------------------------------------------------------------------------

@dataclass
class Action:
    """What one step does. `config` is the image config after the step."""

    config: dict
    container_config: dict
    notes: list[str] = field(default_factory=list)   # lines Docker prints before running it
    author: str | None = None                         # the stage's MAINTAINER so far

    @property
    def created_by(self) -> str:
        return created_by(self.container_config)

    def cache_key(self, parent_id: str) -> str:
        return cache_key(parent_id, self.container_config)


@dataclass
class CommitAction(Action):
    """A metadata step: commit an image with `config` and no filesystem change, except WORKDIR
    (`make_workdir`: create that directory in the container first)."""

    make_workdir: str = ""


@dataclass
class RunAction(Action):
    """RUN: start a container with `run_config` (Cmd, Env with the build args, Entrypoint [""],
    no healthcheck), then commit its changes with `container_config`."""

    run_config: dict = field(default_factory=dict)

    def failure_message(self, exit_code: int) -> str:
        cmd = " ".join(self.run_config.get("Cmd") or [])
        return f"The command '{cmd}' returned a non-zero code: {exit_code}"


@dataclass
class FromRef:
    """A base for FROM or COPY --from: scratch, an earlier stage of this build, or an image."""

    kind: str                 # scratch | stage | image
    name: str                 # image reference, or the stage's name/index as written
    stage_index: int = -1
    image_id: str = ""        # for stages: the stage's result
    platform: str = ""


@dataclass
class CopyAction(Action):
    """COPY/ADD: `sources`/`dest` are expanded; the executor gives the Source (the context, or
    the rootfs of `from_ref`) and downloads URLs, then calls `resolve()`, which sets the
    checksummed Cmd in `container_config` (so the cache key and created_by are known)."""

    cmd_name: str = "COPY"
    sources: list[str] = field(default_factory=list)
    dest: str = ""                  # as written (expanded)
    dest_path: str = ""             # absolute in the image, relative ones joined to WORKDIR
    chown: str = ""
    from_ref: FromRef | None = None
    allow_decompress: bool = False  # ADD extracts local archives
    preserve_ownership: bool = False
    resolved: CopySources | None = None

    def urls(self) -> list[str]:
        return [s for s in self.sources if s.startswith(("http://", "https://"))]

    def resolve(self, source: Source | None, url_hashes: dict[str, str] | None = None) -> CopySources:
        res = resolve_sources(source, self.sources + [self.dest], self.cmd_name,
                              allow_urls=self.cmd_name == "ADD",
                              from_image=self.from_ref is not None, url_hashes=url_hashes)
        chown = f"--chown={self.chown}" if self.chown else ""
        comment = f"{self.cmd_name} {chown}{res.hash} in {self.dest} "
        self.container_config = with_comment(self.config, comment, single=True)
        self.resolved = res
        return res


# ---------------------------------------------------------------------------------------------
# The dispatcher
# ---------------------------------------------------------------------------------------------

@dataclass
class StageState:
    stage: Stage
    config: dict
    image_id: str = ""
    base: FromRef | None = None
    build_args: BuildArgs | None = None
    cmd_set: bool = False
    maintainer: str = ""
    triggers: list[str] = field(default_factory=list)


@dataclass
class StageResult:
    name: str
    image_id: str
    config: dict


class Builder:
    """Drives a plan: expansion, build args, stage bookkeeping and every instruction's effect."""

    def __init__(self, plan: BuildPlan) -> None:
        self.plan = plan
        self.args = BuildArgs(plan.options.build_args)
        self.lex = Lexer(plan.dockerfile.escape_token)
        self.results: list[StageResult] = []

    # -- global ARGs and stages ---------------------------------------------------------------

    def process_meta_arg(self, arg: Arg) -> None:
        env = self.args.all_allowed()
        for pair in arg.args:
            key = self._expand(pair.key, env)
            value = None if pair.value is None else self._expand(pair.value, env)
            self.args.add_arg(key, value)
            self.args.add_meta_arg(key, value)

    def _stage_by_name(self, name: str) -> int:
        for i, r in enumerate(self.results):
            if r.name and r.name == name.lower():
                return i
        return -1

    def check_stage_name(self, stage: Stage) -> None:
        """Docker checks this before printing the FROM step."""
        if stage.name and self._stage_by_name(stage.name) >= 0:
            raise BuildError(f"{stage.name} stage name already used")

    def resolve_from(self, stage: Stage) -> FromRef:
        """The base of a stage: FROM's argument expanded with the global ARGs only."""
        self.check_stage_name(stage)
        meta = self.args.all_meta()
        platform = ""
        if stage.platform:
            platform = self._expand(stage.platform, meta)
        name = self._expand(stage.base_name, meta)
        if name == "":
            raise BuildError(f"base name ({stage.base_name}) should not be blank")
        idx = self._stage_by_name(name)
        if idx >= 0:
            return FromRef("stage", name, idx, self.results[idx].image_id, platform)
        if name == SCRATCH:
            return FromRef("scratch", name, platform=platform)
        return FromRef("image", name, platform=platform)

    def begin_stage(self, stage: Stage, image_id: str, image_config: dict | None,
                    base: FromRef | None = None) -> StageState:
        """Start a stage on its base image's config; the base's ONBUILD triggers are taken out
        of the config and queued (`take_triggers`)."""
        args = self.args.clone()
        args.allowed = {}
        config = copy.deepcopy(image_config) if image_config else new_config()
        env = list(config.get("Env") or [])
        if not any(e.split("=", 1)[0] == "PATH" for e in env):
            env.append("PATH=" + DEFAULT_PATH)
        config["Env"] = env
        config["OpenStdin"] = False
        config["StdinOnce"] = False
        triggers = list(config.get("OnBuild") or [])
        config["OnBuild"] = None if triggers else config.get("OnBuild")
        config["Image"] = image_id
        return StageState(stage=stage, config=config, image_id=image_id, base=base,
                          build_args=args, triggers=triggers)

    @staticmethod
    def triggers_header(count: int) -> str:
        return f"# Executing {count} build trigger{'s' if count > 1 else ''}"

    def take_triggers(self, state: StageState) -> list:
        """Parse the queued ONBUILD triggers, in the order they were declared."""
        out = [parse_trigger(t) for t in state.triggers]
        state.triggers = []
        return out

    def end_stage(self, state: StageState) -> StageResult:
        assert state.build_args is not None
        self.args.referenced |= state.build_args.referenced
        cfg = copy.deepcopy(state.config)
        cfg["Image"] = state.image_id
        result = StageResult(state.stage.name, state.image_id, cfg)
        self.results.append(result)
        return result

    def unused_args_warning(self) -> str:
        unused = self.args.unused()
        return f"[Warning] One or more build-args {gofmt.value_slice(unused)} were not consumed" if unused else ""

    def resolve_copy_from(self, value: str) -> FromRef:
        """`COPY --from=`: an earlier stage by name or index, else an image reference."""
        idx = self._stage_by_name(value)
        if idx < 0:
            try:
                n = int(value, 10)
            except ValueError:
                return FromRef("image", value)
            if n == len(self.results):
                raise BuildError(f"invalid from flag value {value}: refers to current build stage")
            if n < 0 or n > len(self.results):
                raise BuildError(f"invalid from flag value {value}: index out of bounds")
            idx = n
        r = self.results[idx]
        return FromRef("stage", value, idx, r.image_id)

    # -- instructions -------------------------------------------------------------------------

    def _expand(self, word: str, env: list[str] | dict[str, str]) -> str:
        return self.lex.process_word(word, env)

    def visible_env(self, state: StageState) -> list[str]:
        """What `$VAR` sees: the stage's ENV, then declared ARGs (with their build-arg values)."""
        env = list(state.config.get("Env") or [])
        assert state.build_args is not None
        return env + state.build_args.filter_allowed(env)

    def dispatch(self, state: StageState, inst) -> Action:
        """Expand the instruction's words, apply it to the stage's config, say what to do."""
        action = self._dispatch(state, inst)
        action.author = state.maintainer or None
        return action

    def _dispatch(self, state: StageState, inst) -> Action:
        env = self.visible_env(state)
        try:
            inst = expand_instruction(inst, self.lex, env)
        except DockerfileError as exc:
            raise BuildError(exc.message) from None
        state.config["Image"] = state.image_id
        if isinstance(inst, Run):
            return self._run(state, inst)
        if isinstance(inst, (Copy, Add)):
            return self._copy_action(state, inst, "COPY" if isinstance(inst, Copy) else "ADD")
        if isinstance(inst, Arg):
            assert state.build_args is not None
            for a in inst.args:
                state.build_args.add_arg(a.key, a.value)
        try:
            m = apply_instruction(state.config, inst, cmd_set=state.cmd_set, lexer=self.lex, env=env)
        except DockerfileError as exc:
            raise BuildError(exc.message) from None
        state.config = m.config
        state.cmd_set = m.cmd_set
        if isinstance(inst, Maintainer):
            state.maintainer = inst.maintainer
        return CommitAction(config=copy.deepcopy(m.config),
                            container_config=with_comment(m.config, m.comment, single=m.single),
                            notes=m.notes, make_workdir=m.config["WorkingDir"] if m.single else "")

    def _copy_action(self, state: StageState, inst, cmd_name: str) -> CopyAction:
        if inst.chmod:
            raise BuildError(NEEDS_BUILDKIT.format("chmod"))
        from_ref = None
        if cmd_name == "COPY" and inst.from_:
            from_ref = self.resolve_copy_from(inst.from_)
        cfg = copy.deepcopy(state.config)
        return CopyAction(config=cfg, container_config={}, cmd_name=cmd_name,
                          sources=list(inst.sources), dest=inst.dest,
                          dest_path=normalize_dest(state.config.get("WorkingDir", ""), inst.dest),
                          chown=inst.chown, from_ref=from_ref,
                          allow_decompress=cmd_name == "ADD",
                          preserve_ownership=from_ref is not None and not inst.chown)

    def _run(self, state: StageState, inst: Run) -> RunAction:
        assert state.build_args is not None
        if inst.flags_used:
            raise BuildError(NEEDS_BUILDKIT.format(inst.flags_used[0]))
        cmd = resolve_cmd_line(inst.cmd_line, inst.prepend_shell, state.config) or []
        build_args = state.build_args.filter_allowed(state.config.get("Env") or [])
        save_cmd = list(cmd)
        if build_args:
            # The cache key shows the args in use; undeclared proxy args stay out of it.
            kept = sorted(a for a in build_args
                          if state.build_args.is_referenced_or_not_builtin(a.split("=", 1)[0]))
            save_cmd = [f"|{len(kept)}"] + kept + cmd
        probe = copy.deepcopy(state.config)
        probe["Cmd"] = save_cmd
        probe["ArgsEscaped"] = False
        if save_cmd:
            probe["Entrypoint"] = None
        run = copy.deepcopy(state.config)
        run["Cmd"] = cmd
        run["ArgsEscaped"] = False
        run["Env"] = list(state.config.get("Env") or []) + build_args
        if save_cmd:
            run["Entrypoint"] = [""]
        run["Healthcheck"] = {"Test": ["NONE"]}
        return RunAction(config=copy.deepcopy(state.config), container_config=probe, run_config=run)


# ---------------------------------------------------------------------------------------------
# Pure functions: word expansion and the config change each metadata instruction makes
# ---------------------------------------------------------------------------------------------

def expand_instruction(inst, lexer: Lexer, env: list[str] | dict[str, str]):
    """A copy of `inst` with its words expanded, for the instructions Docker expands
    (ENV LABEL ADD COPY WORKDIR USER VOLUME STOPSIGNAL ARG; EXPOSE is split at apply time)."""
    ex = lambda w: lexer.process_word(w, env)  # noqa: E731
    inst = copy.copy(inst)
    if isinstance(inst, Env):
        inst.pairs = [(ex(k), ex(v)) for k, v in inst.pairs]
    elif isinstance(inst, Label) and not inst.no_expand:
        inst.pairs = [(ex(k), ex(v)) for k, v in inst.pairs]
    elif isinstance(inst, (Copy, Add)):
        inst.chown = ex(inst.chown)
        inst.sources = [ex(src) for src in inst.sources]
        inst.dest = ex(inst.dest)
    elif isinstance(inst, Workdir):
        inst.path = ex(inst.path)
    elif isinstance(inst, User):
        inst.user = ex(inst.user)
    elif isinstance(inst, Volume):
        inst.volumes = [ex(v) for v in inst.volumes]
    elif isinstance(inst, StopSignal):
        inst.signal = ex(inst.signal)
    elif isinstance(inst, Arg):
        inst.args = [type(a)(ex(a.key), None if a.value is None else ex(a.value)) for a in inst.args]
    return inst


@dataclass
class Mutation:
    """A metadata instruction's effect: the new config and the comment Docker records."""

    config: dict
    comment: str
    single: bool = False          # recorded as one "#(nop) …" word (WORKDIR)
    cmd_set: bool = False         # whether this stage has set CMD (ENTRYPOINT keeps it then)
    notes: list[str] = field(default_factory=list)


def apply_instruction(config: dict, inst, *, cmd_set: bool = False, lexer: Lexer | None = None,
                      env: list[str] | dict[str, str] | None = None) -> Mutation:
    """Apply an (already expanded) metadata instruction to a copy of `config`.

    Handles ENV LABEL MAINTAINER ONBUILD WORKDIR CMD ENTRYPOINT HEALTHCHECK EXPOSE USER VOLUME
    STOPSIGNAL ARG SHELL. EXPOSE splits its words with `lexer` and `env` when given.
    """
    c = copy.deepcopy(config)
    if isinstance(inst, Env):
        cfg_env = list(c.get("Env") or [])
        parts = ["ENV"]
        for k, v in inst.pairs:
            new = f"{k}={v}"
            parts.append(new)
            for i, e in enumerate(cfg_env):
                if e.split("=", 1)[0] == k:
                    cfg_env[i] = new
                    break
            else:
                cfg_env.append(new)
        c["Env"] = cfg_env
        return Mutation(c, " ".join(parts), cmd_set=cmd_set)
    if isinstance(inst, Maintainer):
        return Mutation(c, "MAINTAINER " + inst.maintainer, cmd_set=cmd_set)
    if isinstance(inst, Label):
        labels = dict(c.get("Labels") or {})
        parts = ["LABEL"]
        for k, v in inst.pairs:
            labels[k] = v
            parts.append(f"{k}={v}")
        c["Labels"] = labels
        return Mutation(c, " ".join(parts), cmd_set=cmd_set)
    if isinstance(inst, Onbuild):
        c["OnBuild"] = list(c.get("OnBuild") or []) + [inst.expression]
        return Mutation(c, "ONBUILD " + inst.expression, cmd_set=cmd_set)
    if isinstance(inst, Workdir):
        c["WorkingDir"] = normalize_workdir(c.get("WorkingDir", ""), inst.path)
        return Mutation(c, "WORKDIR " + c["WorkingDir"], single=True, cmd_set=cmd_set)
    if isinstance(inst, Cmd):
        cmd = resolve_cmd_line(inst.cmd_line, inst.prepend_shell, c)
        c["Cmd"] = cmd
        c["ArgsEscaped"] = False
        return Mutation(c, "CMD " + gofmt.quote_slice(cmd), cmd_set=cmd_set or bool(inst.cmd_line))
    if isinstance(inst, Entrypoint):
        ep = resolve_cmd_line(inst.cmd_line, inst.prepend_shell, c)
        c["Entrypoint"] = ep
        c["ArgsEscaped"] = False
        if not cmd_set:
            # ENTRYPOINT discards a CMD inherited from the base, not one set in this stage.
            c["Cmd"] = None
        return Mutation(c, "ENTRYPOINT " + gofmt.quote_slice(ep), cmd_set=cmd_set)
    if isinstance(inst, Healthcheck):
        notes = []
        old = c.get("Healthcheck")
        if old and old.get("Test") and old["Test"][0] != "NONE":
            notes.append(f"Note: overriding previous HEALTHCHECK: {gofmt.value_slice(old['Test'])}")
        c["Healthcheck"] = _health_config(inst.health)
        return Mutation(c, "HEALTHCHECK " + health_comment(inst.health), cmd_set=cmd_set,
                        notes=notes)
    if isinstance(inst, Expose):
        ports: list[str] = []
        for p in inst.ports:
            ports += lexer.process_words(p, env or []) if lexer else [p]
        exposed = dict(c.get("ExposedPorts") or {})
        for spec in parse_exposed_ports(ports):
            exposed[spec] = {}
        c["ExposedPorts"] = exposed
        return Mutation(c, "EXPOSE " + " ".join(ports), cmd_set=cmd_set)
    if isinstance(inst, User):
        c["User"] = inst.user
        return Mutation(c, "USER " + inst.user, cmd_set=cmd_set)
    if isinstance(inst, Volume):
        vols = dict(c.get("Volumes") or {})
        for v in inst.volumes:
            if v == "":
                raise DockerfileError("VOLUME specified can not be an empty string")
            vols[v] = {}
        c["Volumes"] = vols
        return Mutation(c, "VOLUME " + gofmt.value_slice(inst.volumes), cmd_set=cmd_set)
    if isinstance(inst, StopSignal):
        parse_signal(inst.signal)
        c["StopSignal"] = inst.signal
        return Mutation(c, "STOPSIGNAL " + inst.signal, cmd_set=cmd_set)
    if isinstance(inst, Arg):
        words = [a.key if a.value is None else f"{a.key}={a.value}" for a in inst.args]
        return Mutation(c, "ARG " + " ".join(words), cmd_set=cmd_set)
    if isinstance(inst, Shell):
        c["Shell"] = list(inst.shell)
        return Mutation(c, "SHELL " + gofmt.value_slice(inst.shell), cmd_set=cmd_set)
    raise DockerfileError(f"{inst.name} does not change the image config")


# `docker commit --change` / `docker import --change` accept only these (moby BuildFromConfig).
CHANGE_COMMANDS = ("cmd", "entrypoint", "healthcheck", "env", "expose", "label", "onbuild", "user",
                   "volume", "workdir")


def apply_changes(config: dict, changes: list[str]) -> dict:
    """Apply `--change` Dockerfile instructions to an image config, as moby's BuildFromConfig."""
    if not changes:
        return config
    result = parse("\n".join(changes))
    for node in result.nodes:
        if node.value not in CHANGE_COMMANDS:
            raise DockerfileError(f"{node.value} is not a valid change command")
    instructions = [parse_instruction(n) for n in result.nodes]
    lexer = Lexer(result.escape_token)
    c = copy.deepcopy(config)
    for inst in instructions:
        env = list(c.get("Env") or [])
        inst = expand_instruction(inst, lexer, env)
        c = apply_instruction(c, inst, lexer=lexer, env=env).config
    return c
