"""The planner against what dockerd 20.10's classic builder printed and recorded for the same input.

`simulate` drives `Builder` the way the executor does, with made-up image IDs (a base image with
an empty config stands for the busybox image used in the reference runs).
"""
from __future__ import annotations

import io

import pytest
from buildtars import cli_tar

from pydockerd.builder import plan as P
from pydockerd.builder.context import BuildContext, read_context
from pydockerd.builder.dockerfile import parse_dockerfile
from pydockerd.builder.errors import BuildError, DockerfileError

REFERENCE_DOCKERFILE = """\
ARG BASE=busybox
ARG UNUSED_G
FROM $BASE AS first
ENV A=1 B="two words"
ENV OLD value here
LABEL x=y "z"="w w"
ARG FOO=default
RUN echo $FOO
ARG BAR
RUN echo hi
COPY a.txt /a.txt
COPY dir /d/
COPY --chown=1:2 a.txt dir/b.txt /multi/
COPY *.txt link /glob/
ADD a.txt /added
WORKDIR app
WORKDIR /abs/x/../y
USER nobody
EXPOSE 80 53/udp 8000-8001
VOLUME ["/data", "/x"]
VOLUME /v1 /v2
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=3 CMD wget -q -O- http://x/ || exit 1
ONBUILD RUN echo trig
SHELL ["/bin/sh", "-xc"]
CMD echo shell form
ENTRYPOINT ["/bin/echo"]
MAINTAINER me
CMD ["a", "b c"]
FROM busybox
RUN ["echo", "exec"]
ENTRYPOINT []
HEALTHCHECK NONE
"""

# `docker build --target first --build-arg FOO=given --build-arg NOTUSED=1 --build-arg HTTP_PROXY=x`
DOCKER_HISTORY_FIRST = [
    '/bin/sh -c #(nop)  ENV A=1 B=two words',
    '/bin/sh -c #(nop)  ENV OLD=value here',
    '/bin/sh -c #(nop)  LABEL x=y z=w w',
    '/bin/sh -c #(nop)  ARG FOO=default',
    '|1 FOO=given /bin/sh -c echo $FOO',
    '/bin/sh -c #(nop)  ARG BAR',
    '|1 FOO=given /bin/sh -c echo hi',
    '/bin/sh -c #(nop) COPY file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda in /a.txt ',
    '/bin/sh -c #(nop) COPY dir:7a601ef858379b54c08cb9366aa5927442eec3c24e0bfca869d314d092cdf1f9 in /d/ ',
    '/bin/sh -c #(nop) COPY --chown=1:2multi:269da4646ffc5332e6092e296b7c1133858d50034339928077ef89f367b8aaba in /multi/ ',
    '/bin/sh -c #(nop) COPY multi:da884cede234f645929a7e0b45458d50c481a9dba4114539ff25a09b2166b566 in /glob/ ',
    '/bin/sh -c #(nop) ADD file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda in /added ',
    '/bin/sh -c #(nop) WORKDIR /app',
    '/bin/sh -c #(nop) WORKDIR /abs/x/../y',
    '/bin/sh -c #(nop)  USER nobody',
    '/bin/sh -c #(nop)  EXPOSE 53/udp 80 8000-8001',
    '/bin/sh -c #(nop)  VOLUME [/data /x]',
    '/bin/sh -c #(nop)  VOLUME [/v1 /v2]',
    '/bin/sh -c #(nop)  STOPSIGNAL SIGTERM',
    '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "wget -q -O- http://x/ || exit 1"] "5s" "0s" "0s" \'\\x03\'}',
    '/bin/sh -c #(nop)  ONBUILD RUN echo trig',
    '/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]',
    '/bin/sh -xc #(nop)  CMD ["/bin/sh" "-xc" "echo shell form"]',
    '/bin/sh -xc #(nop)  ENTRYPOINT ["/bin/echo"]',
    '/bin/sh -xc #(nop)  MAINTAINER me',
    '/bin/sh -xc #(nop)  CMD ["a" "b c"]',
]

# the same build without --target: the second stage
DOCKER_HISTORY_LAST = [
    '|0 echo exec',   # HTTP_PROXY was given but never declared: counted out, yet the |N is there
    '/bin/sh -c #(nop)  ENTRYPOINT []',
    '/bin/sh -c #(nop)  HEALTHCHECK &{["NONE"] "0s" "0s" "0s" \'\\x00\'}',
]

CONTEXT = {"a.txt": b"hello\n", "dir": None, "dir/b.txt": b"b\n", "dir/sub": None,
           "dir/sub/c": b"c\n", "link": ("->", "a.txt")}


@pytest.fixture
def reference_context():
    ctx = read_context(io.BytesIO(cli_tar({"Dockerfile": REFERENCE_DOCKERFILE.encode(), **CONTEXT})))
    yield ctx
    ctx.cleanup()


class Sim:
    """Runs a plan with fake image IDs and records what an executor would print and commit."""

    def __init__(self, plan: P.BuildPlan, ctx: BuildContext | None = None,
                 bases: dict[str, dict | None] | None = None) -> None:
        self.plan, self.ctx = plan, ctx
        self.bases = bases or {}
        self.builder = P.Builder(plan)
        self.lines: list[str] = []
        self.images: dict[str, tuple[P.Action, str]] = {}
        self.actions: list[P.Action] = []
        self.state: P.StageState | None = None

    def commit(self, action: P.Action) -> None:
        if isinstance(action, P.CopyAction):
            action.resolve(self.ctx.source if self.ctx else None)
        iid = f"sha256:img{len(self.images) + 1}"
        self.images[iid] = (action, self.state.image_id)
        self.actions.append(action)
        self.state.image_id = iid

    def run(self) -> Sim:
        b = self.builder
        for step in self.plan.steps:
            self.lines.append(step.header())
            if step.kind == "meta_arg":
                b.process_meta_arg(step.instruction)
            elif step.kind == "from":
                if self.state:
                    b.end_stage(self.state)
                ref = b.resolve_from(step.stage)
                if ref.kind == "stage":
                    self.state = b.begin_stage(step.stage, ref.image_id,
                                               b.results[ref.stage_index].config, ref)
                else:
                    cfg = self.bases.get(ref.name, {}) if ref.kind == "image" else None
                    self.state = b.begin_stage(step.stage, "sha256:" + ref.name, cfg, ref)
                if self.state.triggers:
                    self.lines.append(b.triggers_header(len(self.state.triggers)))
                    for inst in b.take_triggers(self.state):
                        self.commit(b.dispatch(self.state, inst))
            else:
                self.commit(b.dispatch(self.state, step.instruction))
        b.end_stage(self.state)
        warning = b.unused_args_warning()
        if warning:
            self.lines.append(warning)
        return self

    def history(self) -> list[str]:
        out = []
        iid = self.state.image_id
        while iid in self.images:
            action, iid = self.images[iid]
            out.append(action.created_by)
        return out[::-1]

    @property
    def config(self) -> dict:
        return self.state.config


def plan_for(src: str, **opts) -> P.BuildPlan:
    return P.make_plan(parse_dockerfile(src), P.BuildOptions(**opts))


ARGS = {"FOO": "given", "NOTUSED": "1", "HTTP_PROXY": "x"}


def test_reference_build_target_first(reference_context):
    plan = P.make_plan(reference_context.dockerfile, P.BuildOptions(build_args=ARGS, target="first"))
    sim = Sim(plan, reference_context).run()
    assert sim.lines[0] == "Step 1/29 : ARG BASE=busybox"
    assert sim.lines[2] == "Step 3/29 : FROM $BASE AS first"
    assert sim.lines[22] == ("Step 23/29 : HEALTHCHECK --interval=5s --retries=3 CMD wget -q -O- "
                             "http://x/ || exit 1")
    assert sim.lines[-2:] == ['Step 29/29 : CMD ["a", "b c"]',
                              "[Warning] One or more build-args [NOTUSED] were not consumed"]
    assert sim.history() == DOCKER_HISTORY_FIRST
    # the image config docker inspect showed for that image
    cfg = sim.config
    assert cfg["User"] == "nobody"
    assert cfg["ExposedPorts"] == {"53/udp": {}, "80/tcp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                          "A=1", "B=two words", "OLD=value here"]
    assert cfg["Entrypoint"] == ["/bin/echo"] and cfg["Cmd"] == ["a", "b c"]
    assert cfg["Volumes"] == {"/data": {}, "/v1": {}, "/v2": {}, "/x": {}}
    assert cfg["WorkingDir"] == "/abs/x/../y"
    assert cfg["Labels"] == {"x": "y", "z": "w w"}
    assert cfg["StopSignal"] == "SIGTERM"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q -O- http://x/ || exit 1"],
                                  "Interval": 5000000000, "Retries": 3}
    assert cfg["OnBuild"] == ["RUN echo trig"] and cfg["Shell"] == ["/bin/sh", "-xc"]
    # MAINTAINER is the Author of its own image and of every later one in the stage
    assert [a.author for a in sim.actions][-3:] == [None, "me", "me"]
    assert sim.actions[-1].container_config["Cmd"] == ["/bin/sh", "-xc", "#(nop) ", 'CMD ["a" "b c"]']


def test_reference_build_all_stages(reference_context):
    plan = P.make_plan(reference_context.dockerfile, P.BuildOptions(build_args=ARGS))
    sim = Sim(plan, reference_context).run()
    assert plan.total == 33
    assert [ln for ln in sim.lines if ln.startswith("Step 3")][-4:] == [
        "Step 30/33 : FROM busybox", 'Step 31/33 : RUN ["echo", "exec"]',
        "Step 32/33 : ENTRYPOINT []", "Step 33/33 : HEALTHCHECK NONE"]
    assert sim.history() == DOCKER_HISTORY_LAST
    assert sim.config["Entrypoint"] is None and sim.config["Healthcheck"] == {"Test": ["NONE"]}


def test_target_errors_and_counting():
    src = "ARG X\nFROM busybox AS a\nRUN a\nFROM busybox AS b\nRUN b\nRUN b2\nFROM busybox\nRUN c\n"
    assert plan_for(src).total == 8     # 1 global ARG + 3 FROMs + 4 instructions
    p = plan_for(src, target="A")        # stage names are case-insensitive
    assert p.total == 3 and [s.name for s in p.stages] == ["a"]
    p = plan_for(src, target="b")        # every stage before the target is built too
    assert p.total == 6 and p.steps[-1].header() == "Step 6/6 : RUN b2"
    with pytest.raises(DockerfileError, match="^failed to reach build target nope in Dockerfile$"):
        plan_for(src, target="nope")


def test_label_option_adds_counted_unexpanded_steps():
    p = plan_for("FROM busybox\nRUN x\n", labels={"z": "$HOME", "a": "1"})
    assert [s.header() for s in p.steps] == ["Step 1/4 : FROM busybox", "Step 2/4 : RUN x",
                                             "Step 3/4 : LABEL a=1", "Step 4/4 : LABEL z=$HOME"]
    sim = Sim(p).run()
    assert sim.config["Labels"] == {"a": "1", "z": "$HOME"}
    assert sim.history()[-1] == "/bin/sh -c #(nop)  LABEL z=$HOME"


def test_build_arg_scoping():
    src = ("ARG G=global\nARG G2\nARG IMG=busy\nFROM ${IMG}box\n"
           'RUN echo "$G"\nARG G\nRUN echo "$G"\nARG G2\nRUN echo $G2\n'
           "ENV G=envwins\nRUN echo $G\nARG NODEF\nARG HTTP_PROXY\nRUN true\n")
    sim = Sim(plan_for(src, build_args={"G2": "x", "HTTP_PROXY": "p", "FTP_PROXY": "f"})).run()
    assert sim.state.base.name == "busybox"
    runs = [a for a in sim.actions if isinstance(a, P.RunAction)]
    assert [a.created_by for a in runs] == [
        '|0 /bin/sh -c echo "$G"',                 # the global ARG is not visible in the stage
        '|1 G=global /bin/sh -c echo "$G"',        # re-declared: it takes the global default
        "|2 G2=x G=global /bin/sh -c echo $G2",    # sorted bytewise, as Go does
        "|1 G2=x /bin/sh -c echo $G",              # ENV shadows the ARG
        "|2 G2=x HTTP_PROXY=p /bin/sh -c true",    # a declared proxy arg counts
    ]
    # what the container really gets: the undeclared proxy args too
    assert runs[0].run_config["Env"][-2:] == ["FTP_PROXY=f", "HTTP_PROXY=p"]
    assert runs[0].run_config["Entrypoint"] == [""]
    assert runs[0].run_config["Healthcheck"] == {"Test": ["NONE"]}
    assert runs[0].container_config["Entrypoint"] is None
    assert runs[0].failure_message(2) == "The command '/bin/sh -c echo \"$G\"' returned a non-zero code: 2"
    assert sim.builder.unused_args_warning() == ""


def test_run_without_build_args_has_no_prefix():
    sim = Sim(plan_for('FROM busybox\nRUN echo hi\nSHELL ["/bin/bash", "-c"]\nRUN x\nRUN ["a"]\n')).run()
    runs = [a.created_by for a in sim.actions if isinstance(a, P.RunAction)]
    assert runs == ["/bin/sh -c echo hi", "/bin/bash -c x", "a"]


def test_expansion_rules():
    src = ("ARG V=1\nFROM busybox\nARG V\nENV E=e${V} W=/w\nWORKDIR $W/$E\nUSER ${U:-app}\n"
           "LABEL k$V=v$E\nVOLUME /v/$E\nEXPOSE ${P:-80} $V$V\nSTOPSIGNAL ${S:-SIGINT}\n"
           "RUN echo $E\nCMD echo $E\nONBUILD RUN echo $E\nCOPY ${F:-a.txt} /dst/$E/\n")
    ctx = read_context(io.BytesIO(cli_tar({"Dockerfile": src.encode(), "a.txt": b"x"})))
    try:
        sim = Sim(P.make_plan(ctx.dockerfile), ctx).run()
    finally:
        ctx.cleanup()
    c = sim.config
    assert "E=e1" in c["Env"] and c["WorkingDir"] == "/w/e1" and c["User"] == "app"
    assert c["Labels"] == {"k1": "ve1"} and c["Volumes"] == {"/v/e1": {}}
    assert set(c["ExposedPorts"]) == {"80/tcp", "11/tcp"} and c["StopSignal"] == "SIGINT"
    assert c["Cmd"] == ["/bin/sh", "-c", "echo $E"] and c["OnBuild"] == ["RUN echo $E"]
    copy = sim.actions[-1]
    assert copy.sources == ["a.txt"] and copy.dest == "/dst/e1/" and copy.dest_path == "/dst/e1/"
    assert copy.created_by.endswith(" in /dst/e1/ ")


def test_entrypoint_resets_inherited_cmd_only():
    base = {"Cmd": ["from-base"], "Env": ["PATH=/custom"]}
    sim = Sim(plan_for('FROM img\nENTRYPOINT ["ep"]\n'), bases={"img": base}).run()
    assert sim.config["Cmd"] is None and sim.config["Env"] == ["PATH=/custom"]
    sim = Sim(plan_for('FROM img\nCMD ["own"]\nENTRYPOINT ["ep"]\n'), bases={"img": base}).run()
    assert sim.config["Cmd"] == ["own"]
    sim = Sim(plan_for("FROM img\nCMD\nENTRYPOINT ep\n"), bases={"img": base}).run()
    assert sim.config["Cmd"] is None  # a bare CMD sets Cmd to the shell but does not count as set
    assert sim.config["Entrypoint"] == ["/bin/sh", "-c", "ep"]


def test_onbuild_triggers_run_first_in_declared_order(tmp_path):
    src = ("FROM busybox AS base\nCMD [\"from-base\"]\nONBUILD RUN echo first\n"
           "ONBUILD ENV TRIG=1\nFROM base\nRUN echo $TRIG\n")
    sim = Sim(plan_for(src)).run()
    assert sim.lines == ["Step 1/6 : FROM busybox AS base", 'Step 2/6 : CMD ["from-base"]',
                         "Step 3/6 : ONBUILD RUN echo first", "Step 4/6 : ONBUILD ENV TRIG=1",
                         "Step 5/6 : FROM base", "# Executing 2 build triggers",
                         "Step 6/6 : RUN echo $TRIG"]
    assert sim.history()[-3:] == ["/bin/sh -c echo first", "/bin/sh -c #(nop)  ENV TRIG=1",
                                  "/bin/sh -c echo $TRIG"]
    assert sim.config["OnBuild"] is None  # triggers are consumed, not inherited
    assert P.Builder.triggers_header(1) == "# Executing 1 build trigger"


def test_copy_from_resolution():
    src = "FROM busybox AS one\nRUN x\nFROM busybox\nCOPY --from=one /a /b\nCOPY --from=0 /a /c\n" \
          "COPY --from=alpine:3 /a /d\n"
    plan = plan_for(src)
    b = P.Builder(plan)
    st = b.begin_stage(plan.stages[0], "sha256:bb", {})
    st.image_id = "sha256:one"
    b.end_stage(st)
    st = b.begin_stage(plan.stages[1], "sha256:bb", {})
    by_name = b.dispatch(st, plan.stages[1].commands[0])
    by_index = b.dispatch(st, plan.stages[1].commands[1])
    image = b.dispatch(st, plan.stages[1].commands[2])
    assert (by_name.from_ref.kind, by_name.from_ref.image_id) == ("stage", "sha256:one")
    assert (by_index.from_ref.kind, by_index.from_ref.stage_index) == ("stage", 0)
    assert (image.from_ref.kind, image.from_ref.name) == ("image", "alpine:3")
    assert by_name.preserve_ownership and not by_name.allow_decompress
    with pytest.raises(BuildError, match="^invalid from flag value 1: refers to current build stage$"):
        b.resolve_copy_from("1")
    with pytest.raises(BuildError, match="^invalid from flag value 5: index out of bounds$"):
        b.resolve_copy_from("5")


def test_from_resolution_and_errors():
    plan = plan_for("FROM busybox AS a\nFROM a\nFROM scratch\nFROM ${NOPE}\n")
    b = P.Builder(plan)
    refs = []
    for stage in plan.stages[:3]:
        ref = b.resolve_from(stage)
        refs.append(ref.kind)
        b.end_stage(b.begin_stage(stage, "sha256:x", None if ref.kind == "scratch" else {}))
    assert refs == ["image", "stage", "scratch"]
    with pytest.raises(BuildError, match=r"^base name \(\$\{NOPE\}\) should not be blank$"):
        b.resolve_from(plan.stages[3])
    plan = plan_for("FROM busybox AS a\nFROM busybox AS a\n")
    b = P.Builder(plan)
    b.end_stage(b.begin_stage(plan.stages[0], "sha256:x", {}))
    with pytest.raises(BuildError, match="^a stage name already used$"):
        b.resolve_from(plan.stages[1])


@pytest.mark.parametrize("line,message", [
    ("EXPOSE abc", "Invalid containerPort: abc"),
    ("EXPOSE 80/xyz", "Invalid proto: xyz"),
    ("STOPSIGNAL FOO", "Invalid signal: FOO"),
    ("COPY --chmod=755 a /", "the --chmod option requires BuildKit. Refer to "
     "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"),
    ("RUN --mount=type=cache,target=/x echo", "the --mount option requires BuildKit. Refer to "
     "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"),
    ("ENV X=${Y", "failed to process \"${Y\": missing ':' in substitution"),
])
def test_dispatch_errors_match_docker(line, message):
    with pytest.raises(BuildError) as exc:
        Sim(plan_for("FROM busybox\n" + line + "\n")).run()
    assert exc.value.message == message


def test_healthcheck_override_note_and_signal_forms():
    sim = Sim(plan_for("FROM busybox\nHEALTHCHECK CMD a\nHEALTHCHECK NONE\nHEALTHCHECK CMD b\n"
                       "STOPSIGNAL 9\nSTOPSIGNAL sigusr1\n")).run()
    notes = [a.notes for a in sim.actions]
    assert notes[1] == ["Note: overriding previous HEALTHCHECK: [CMD-SHELL a]"]
    assert notes[2] == []  # NONE is not reported as overridden
    assert sim.config["StopSignal"] == "sigusr1"


def test_cache_keys_follow_parent_and_content():
    src = "FROM busybox\nENV A=1\nCOPY f /f\nRUN echo\n"

    def keys(content: bytes) -> list[str]:
        ctx = read_context(io.BytesIO(cli_tar({"Dockerfile": src.encode(), "f": content})))
        try:
            sim = Sim(P.make_plan(ctx.dockerfile), ctx).run()
        finally:
            ctx.cleanup()
        parents = ["sha256:busybox", "sha256:img1", "sha256:img2"]
        return [a.cache_key(p) for a, p in zip(sim.actions, parents)]

    k1, k2 = keys(b"one"), keys(b"two")
    assert k1[0] == k2[0]            # ENV: same parent, same instruction
    assert k1[1] != k2[1]            # COPY of a changed file misses the cache
    assert k1[2] == k2[2]            # same instruction on the same parent ID hits…
    # …but in a real build its parent (the new COPY layer) is new, so it misses too
    assert P.cache_key("sha256:other", {"Cmd": ["x"]}) != P.cache_key("sha256:img2", {"Cmd": ["x"]})
    assert P.cache_key("p", {"Cmd": ["x"], "Image": "a"}) == P.cache_key("p", {"Cmd": ["x"], "Image": "b"})


def test_workdir_and_dest_normalisation():
    sim = Sim(plan_for("FROM busybox\nWORKDIR a\nWORKDIR b/../c\nWORKDIR /x/./y/\n")).run()
    assert [a.make_workdir for a in sim.actions] == ["/a", "/a/c", "/x/./y/"]
    assert P.normalize_workdir("", "rel") == "/rel"
    with pytest.raises(DockerfileError, match="cannot normalize nothing"):
        P.normalize_workdir("/", "")


def test_parse_helpers():
    assert P.parse_signal("SIGKILL") == 9 and P.parse_signal("term") == 15 and P.parse_signal("RTMIN+3") == 37
    assert P.parse_exposed_ports(["80", "53/UDP", "1-2/sctp", "127.0.0.1:8080:80"]) == \
        ["80/tcp", "53/udp", "1/sctp", "2/sctp", "80/tcp"]
    assert P.health_comment({"Test": ["CMD", "x"], "Interval": 90_000_000_000, "Timeout": 1_500_000,
                             "Retries": 65}) == '&{["CMD" "x"] "1m30s" "1.5ms" "0s" \'A\'}'
