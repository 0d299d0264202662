"""Image build through the classic /build endpoint, driven by the real docker CLIs (28 and Debian's
20.10, DOCKER_BUILDKIT=0), docker-py's images.build and `pydocker build`.

The module has its own stack so that it can restart pydockerd (the layer cache must survive it).
"""
from __future__ import annotations

import http.server
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import docker
import pytest

from stacklib import DOCKER, DOCKER20, stack_session, unique


@pytest.fixture(scope="module")
def bstack(busybox_rootfs_tar):
    yield from stack_session("pydocker-build-", busybox_rootfs_tar, env={"DOCKER_BUILDKIT": "0"})


@pytest.fixture
def tags(bstack):
    """Image references the test creates; removed (forced) at the end."""
    made: list[str] = []
    yield made
    if made:
        bstack.docker("rmi", "-f", *made)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data)
    return root


def steps(stdout: str) -> dict[int, str]:
    """Step number -> "cache" / "run" (how the classic builder reported it)."""
    out: dict[int, str] = {}
    cur = None
    for line in stdout.splitlines():
        m = re.match(r"Step (\d+)/\d+ : ", line)
        if m:
            cur = int(m.group(1))
            out[cur] = "run"
        elif line == " ---> Using cache" and cur is not None:
            out[cur] = "cache"
    return out


def cached(stdout: str) -> set[int]:
    return {n for n, how in steps(stdout).items() if how == "cache"}


def image(stack, ref: str) -> dict:
    return json.loads(stack.docker("image", "inspect", ref, check=True).stdout)[0]


def containers(stack) -> set[str]:
    return set(stack.docker("ps", "-aq", "--no-trunc", check=True).stdout.split())


def build(stack, ctx: Path | str, *args: str, cli: str = "docker", input=None, check: bool = True,
          cwd: Path | None = None):
    """`docker build ARGS CTX`; with cwd, run from that directory (as `docker build -f x .` is)."""
    argv = [DOCKER if cli == "docker" else DOCKER20, "build", *args, str(ctx)]
    cp = subprocess.run(argv, env=stack.env, input=input, capture_output=True, text=True, timeout=180,
                        cwd=cwd)
    if check and cp.returncode != 0:
        raise AssertionError(f"{argv} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}\n"
                             f"pydockerd log:\n{stack.log_tail()}")
    return cp


# -- the guide's layer-caching example ------------------------------------------------------------
def test_layer_cache_follows_instruction_order(bstack, tmp_path, tags):
    tag = unique("cache") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {
        "package.json": '{"deps": 1}\n',
        "src/app.js": "console.log(1)\n",
        # dependencies first, sources last: a source change keeps the dependency step cached
        "Dockerfile": "FROM busybox\nWORKDIR /app\nCOPY package.json .\n"
                      "RUN cat package.json > /deps && echo installing\n"
                      "COPY src ./src\nRUN ls src > /built\nCMD [\"cat\", \"/deps\"]\n",
    })
    before = containers(bstack)
    first = build(bstack, ctx, "-t", tag)
    assert cached(first.stdout) == set()
    assert "\ninstalling\n" in first.stdout and " ---> Running in " in first.stdout
    assert re.search(r"^Successfully built [0-9a-f]{12}$", first.stdout, re.M)
    assert f"Successfully tagged {tag}" in first.stdout
    assert containers(bstack) == before  # --rm is the default: no build container left
    (ctx / "src/app.js").write_text("console.log(2)\n")
    second = build(bstack, ctx, "-t", tag)
    assert cached(second.stdout) == {2, 3, 4}  # WORKDIR, COPY package.json, RUN install
    assert steps(second.stdout)[5] == steps(second.stdout)[6] == steps(second.stdout)[7] == "run"
    assert "\ninstalling\n" not in second.stdout
    # a changed dependency file invalidates its step and every later one
    (ctx / "package.json").write_text('{"deps": 2}\n')
    third = build(bstack, ctx, "-t", tag)
    assert cached(third.stdout) == {2}
    assert bstack.docker("run", "--rm", tag, check=True).stdout == '{"deps": 2}\n'
    # sources copied before the dependency step: a source change now re-runs it
    (ctx / "Dockerfile").write_text("FROM busybox\nWORKDIR /app\nCOPY . .\n"
                                    "RUN cat package.json > /deps && echo installing\n")
    build(bstack, ctx, "-t", tag)
    (ctx / "src/app.js").write_text("console.log(3)\n")
    fourth = build(bstack, ctx, "-t", tag)
    assert cached(fourth.stdout) == {2} and "\ninstalling\n" in fourth.stdout
    # unchanged: everything from cache; --no-cache: nothing
    assert cached(build(bstack, ctx, "-t", tag).stdout) == {2, 3, 4}
    nocache = build(bstack, ctx, "-t", tag, "--no-cache")
    assert cached(nocache.stdout) == set() and "\ninstalling\n" in nocache.stdout


def test_cache_survives_daemon_restart(bstack, tmp_path, tags):
    tag = unique("restart") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {"f.txt": "x\n",
                           "Dockerfile": "FROM busybox\nCOPY f.txt /f.txt\nRUN echo ran > /ran\n"})
    first = build(bstack, ctx, "-t", tag)
    built = re.search(r"Successfully built ([0-9a-f]{12})", first.stdout).group(1)
    bstack.stop()
    bstack.start()
    again = build(bstack, ctx, "-t", tag)
    assert cached(again.stdout) == {2, 3}
    assert f"Successfully built {built}" in again.stdout


# -- multi-stage ----------------------------------------------------------------------------------
MULTI = """\
# syntax=docker/dockerfile:1
FROM busybox AS build
WORKDIR /src
COPY main.c .
RUN mkdir -p /out && cp main.c /out/app && echo compiled >> /out/app

FROM busybox AS tests
RUN echo tested > /report

FROM busybox
COPY --from=build /out/app /usr/local/bin/app
COPY --from=1 /report /report
CMD ["cat", "/usr/local/bin/app", "/report"]
"""


def test_multi_stage(bstack, tmp_path, tags):
    final, target = unique("multi") + ":final", unique("multi") + ":build"
    tags.extend([final, target])
    ctx = write(tmp_path, {"main.c": "int main;\n", "Dockerfile": MULTI})
    cp = build(bstack, ctx, "-t", final)
    assert "Step 10/10 : CMD " in cp.stdout  # `# syntax=` is a comment to the classic builder
    out = bstack.docker("run", "--rm", final, check=True).stdout
    assert out == "int main;\ncompiled\ntested\n"
    # only the final stage became the image: busybox + its two COPY layers, nothing of the build stage
    assert bstack.docker("run", "--rm", final, "ls", "/src").returncode != 0
    assert len(image(bstack, final)["RootFS"]["Layers"]) == 3
    tagged = bstack.docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=True).stdout.split()
    assert final in tagged and not any(t.startswith(("build:", "tests:")) for t in tagged)
    # the earlier stages' results stay untagged; as with dockerd, `docker images` lists them as <none>
    # (nothing builds on them) while the steps below them stay hidden
    stage_ends = re.findall(r" ---> ([0-9a-f]{12})\nStep \d+/10 : FROM ", cp.stdout)
    assert len(stage_ends) == 2
    dangling = bstack.docker("images", "-f", "dangling=true", "--format", "{{.ID}}", check=True).stdout.split()
    assert set(stage_ends) <= set(dangling)
    every = re.findall(r" ---> ([0-9a-f]{12})\n", cp.stdout)
    assert not (set(every) - set(stage_ends)) & set(dangling)
    # --target stops at the named stage; the later stages are not built
    cp = build(bstack, ctx, "-t", target, "--target", "build", cli="docker20")
    assert "Step 4/4 : RUN " in cp.stdout and "tested" not in cp.stdout  # steps counted up to the target
    assert bstack.docker("run", "--rm", target, "cat", "/src/main.c", "/out/app", check=True).stdout == \
        "int main;\nint main;\ncompiled\n"
    assert bstack.docker("run", "--rm", target, "ls", "/usr/local/bin/app").returncode != 0
    bad = build(bstack, ctx, "-t", target, "--target", "nosuch", check=False)
    assert bad.returncode == 1
    # found while planning, before any output: an HTTP error, as moby's errdefs.NotFound
    assert "Error response from daemon: failed to reach build target nosuch in Dockerfile" in bad.stderr


# -- COPY / ADD -----------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture
def http_dir(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **kw: _Quiet(*a, directory=str(root), **kw)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_add_versus_copy_and_url(bstack, tmp_path, tags, http_dir):
    www, url = http_dir
    (www / "remote.tar.gz").write_bytes(tar_bytes({"inside-remote.txt": b"r\n"}))
    (www / "page.txt").write_text("served\n")
    tag = unique("addcopy") + ":1"
    tags.append(tag)
    ctx = write(tmp_path / "ctx", {
        "app.tar.gz": tar_bytes({"pkg/one.txt": b"one\n"}),
        "plain.tar": tar_bytes({"two.txt": b"two\n"}, "w"),
        "Dockerfile": "FROM busybox\n"
                      "ADD app.tar.gz /added/\n"
                      "ADD plain.tar /added/\n"
                      "COPY app.tar.gz /copied/\n"
                      f"ADD {url}/remote.tar.gz /url/\n"
                      f"ADD {url}/page.txt /url/page.txt\n",
    })
    build(bstack, ctx, "-t", tag)
    ls = bstack.docker("run", "--rm", tag, "sh", "-c",
                       "cat /added/pkg/one.txt /added/two.txt /url/page.txt; ls /copied; ls /url",
                       check=True).stdout
    assert ls == "one\ntwo\nserved\napp.tar.gz\npage.txt\nremote.tar.gz\n"
    assert bstack.docker("run", "--rm", tag, "ls", "/added/app.tar.gz").returncode != 0
    # the downloaded tarball is kept as it came
    cp = bstack.docker("run", "--rm", tag, "tar", "-tzf", "/url/remote.tar.gz", check=True)
    assert cp.stdout == "inside-remote.txt\n"
    # a changed remote file invalidates the ADD of it
    (www / "page.txt").write_text("served again\n")
    again = build(bstack, ctx, "-t", tag)
    assert cached(again.stdout) == {2, 3, 4, 5}
    assert bstack.docker("run", "--rm", tag, "cat", "/url/page.txt", check=True).stdout == "served again\n"
    # remote files are 0600 (Docker's rule); failures say what went wrong, in dockerd's words
    assert bstack.docker("run", "--rm", tag, "stat", "-c", "%a", "/url/page.txt", check=True).stdout == "600\n"
    for line, err in ((f"ADD {url}/missing /m", f"ADD failed: failed to GET {url}/missing with status 404 "),
                      ("ADD http://127.0.0.1:9/nothing /x",
                       'ADD failed: Get "http://127.0.0.1:9/nothing": dial tcp 127.0.0.1:9: connect: connection refused')):
        bad = write(tmp_path / f"bad{len(err)}", {"Dockerfile": f"FROM busybox\n{line}\n"})
        cp = build(bstack, bad, "-t", unique("addfail"), check=False)
        assert cp.returncode == 1 and err in cp.stdout + cp.stderr, cp.stdout + cp.stderr
    assert "cannot size layer" not in bstack.log.read_text(errors="replace")  # sized on its snapshot as made


def test_dockerfile_paths_stdin_and_dockerignore(bstack, tmp_path, tags):
    tag = unique("paths") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {
        "docker/Dockerfile": "FROM busybox\nCOPY . /ctx\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n",
        "app/main.py": "print(1)\n",
        "app/x.log": "log\n",
        "app/deep/er/y.log": "log\n",
        "keep.log": "kept\n",
        "secret.env": "nope\n",
        ".dockerignore": "**/*.log\n!keep.log\nsecret.env\n",
    })
    build(bstack, ".", "-f", "docker/Dockerfile", "-t", tag, cwd=ctx)
    files = sorted(bstack.docker("run", "--rm", tag, check=True).stdout.split())
    assert files == ["/ctx/.dockerignore", "/ctx/app/main.py", "/ctx/docker/Dockerfile", "/ctx/keep.log"]
    # -f - : the Dockerfile on stdin, the context from the directory
    cp = build(bstack, ctx, "-f", "-", "-t", tag, cli="docker20",
               input="FROM busybox\nCOPY keep.log /k\nCMD [\"cat\", \"/k\"]\n")
    assert "Step 3/3 :" in cp.stdout
    assert bstack.docker("run", "--rm", tag, check=True).stdout == "kept\n"
    # an excluded file is not in the context for COPY either
    bad = build(bstack, ctx, "-f", "-", "-t", tag, input="FROM busybox\nCOPY secret.env /\n", check=False)
    assert bad.returncode == 1
    assert "file not found in build context or excluded by .dockerignore" in bad.stderr


def test_args_labels_iidfile_quiet(bstack, tmp_path, tags):
    tag = unique("args") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {"Dockerfile": (
        "ARG BASE=nosuchbase\nFROM ${BASE}\nARG WHO=world\nARG UNUSED\n"
        "LABEL greeting=\"hello ${WHO}\" plain=${NOPE:-dflt}${WHO:+-set}\n"
        "RUN echo \"hi $WHO\" > /who\n")})
    iid = tmp_path / "iid"
    cp = build(bstack, ctx, "--build-arg", "BASE=busybox", "--build-arg", "WHO=there",
               "--label", "from.cli=yes", "--iidfile", str(iid), "-t", tag)
    assert cp.stdout.startswith("Sending build context to Docker daemon")
    cfg = image(bstack, tag)
    assert iid.read_text() == cfg["Id"]
    assert cfg["Config"]["Labels"] == {"greeting": "hello there", "plain": "dflt-set", "from.cli": "yes"}
    assert bstack.docker("run", "--rm", tag, "cat", "/who", check=True).stdout == "hi there\n"
    assert not any(e.startswith("WHO=") for e in cfg["Config"]["Env"])  # ARG is not ENV
    hist = bstack.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag, check=True).stdout
    assert "|1 WHO=there /bin/sh -c echo \"hi $WHO\" > /who" in hist
    # the build arg is part of the RUN step's cache key
    cp = build(bstack, ctx, "--build-arg", "BASE=busybox", "--build-arg", "WHO=other", "-t", tag,
               "--label", "from.cli=yes")
    assert cached(cp.stdout) == {3, 4}
    # -q prints only the image ID
    cp = build(bstack, ctx, "-q", "--build-arg", "BASE=busybox", "--build-arg", "WHO=there", "-t", tag,
               "--label", "from.cli=yes")
    assert cp.stdout.strip() == cfg["Id"]
    # an unused --build-arg is a warning, not a failure
    cp = build(bstack, ctx, "--build-arg", "BASE=busybox", "--build-arg", "NEVER=1", "-t", tag)
    assert "[Warning] One or more build-args [NEVER] were not consumed" in cp.stdout + cp.stderr


# -- every instruction ----------------------------------------------------------------------------
EVERY = """\
# escape=`
ARG VER=7
FROM busybox AS base
ARG VER
SHELL ["/bin/sh", "-ec"]
ENV APP_HOME=/srv/app `
    MODE=prod
WORKDIR $APP_HOME
RUN echo "shell is $0" > /shell
COPY --chown=1234:5678 a.txt ./
ADD --chown=1234:5678 b.tar.gz c.txt ./
EXPOSE 8080 53/udp
LABEL ver=$VER "two words"="x y"
VOLUME ["/data"]
HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD ["true"]
STOPSIGNAL SIGUSR1
ONBUILD RUN echo onbuild-ran > /tmp/onbuild
USER 1234:5678
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["id -u; id -g; pwd"]
"""


def test_every_instruction(bstack, tmp_path, tags):
    tag, child, scratch = unique("every") + ":1", unique("child") + ":1", unique("scratch") + ":1"
    tags.extend([tag, child, scratch])
    ctx = write(tmp_path, {"a.txt": "a\n", "c.txt": "c\n", "b.tar.gz": tar_bytes({"b.txt": b"b\n"}),
                           "Dockerfile": EVERY})
    build(bstack, ctx, "-t", tag)
    c = image(bstack, tag)["Config"]
    assert "APP_HOME=/srv/app" in c["Env"] and "MODE=prod" in c["Env"]
    assert c["WorkingDir"] == "/srv/app"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Labels"] == {"ver": "7", "two words": "x y"}
    assert c["Volumes"] == {"/data": {}}
    assert c["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 5_000_000_000,
                                "Timeout": 3_000_000_000, "Retries": 2}
    assert c["StopSignal"] == "SIGUSR1"
    assert c["OnBuild"] == ["RUN echo onbuild-ran > /tmp/onbuild"]
    assert c["User"] == "1234:5678"
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ["id -u; id -g; pwd"]
    assert c["Shell"] == ["/bin/sh", "-ec"]
    assert bstack.docker("run", "--rm", tag, check=True).stdout == "1234\n5678\n/srv/app\n"
    # --chown applies to copied files, not to what an archive extracts (moby's UntarPath keeps its owners)
    own = bstack.docker("run", "--rm", "--entrypoint", "stat", tag, "-c", "%n %u:%g",
                        "a.txt", "b.txt", "c.txt", "/shell", check=True).stdout
    assert own == "a.txt 1234:5678\nb.txt 0:0\nc.txt 1234:5678\n/shell 0:0\n"
    assert bstack.docker("run", "--rm", "--entrypoint", "cat", tag, "/shell", check=True).stdout == \
        "shell is /bin/sh\n"
    hist = bstack.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}\t{{.Size}}", tag,
                         check=True).stdout.splitlines()
    assert hist[0] == '/bin/sh -ec #(nop)  CMD ["id -u; id -g; pwd"]\t0B'  # the SHELL, as moby writes it
    assert any(h.startswith('|1 VER=7 /bin/sh -ec echo "shell is $0" > /shell\t') for h in hist)
    # (moby writes the chown comment and the source hash without a space between them)
    assert any(re.match(r"/bin/sh -ec #\(nop\) COPY --chown=1234:5678file:[0-9a-f]{64} in \./ \t2B$", h)
               for h in hist)
    # ONBUILD triggers run in the child build
    ctx2 = write(tmp_path / "child", {"Dockerfile": f"FROM {tag}\nUSER 0\n"})
    cp = build(bstack, ctx2, "-t", child)
    assert "# Executing 1 build trigger" in cp.stdout
    assert bstack.docker("run", "--rm", "--entrypoint", "cat", child, "/tmp/onbuild", check=True).stdout == \
        "onbuild-ran\n"
    assert image(bstack, child)["Config"]["OnBuild"] in (None, [])
    # FROM scratch: a single layer, the busybox binary copied from an image
    ctx3 = write(tmp_path / "scratch", {"Dockerfile": "FROM scratch\nCOPY --from=busybox /bin/busybox /busybox\n"
                                                      "CMD [\"/busybox\", \"echo\", \"from scratch\"]\n"})
    build(bstack, ctx3, "-t", scratch)
    img = image(bstack, scratch)
    assert len(img["RootFS"]["Layers"]) == 1  # and, as moby's setDefaultPath, the default PATH
    assert img["Config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert bstack.docker("run", "--rm", scratch, check=True).stdout == "from scratch\n"


def test_malformed_json_is_shell_form(bstack, tmp_path, tags):
    tag = unique("json") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {"Dockerfile": 'FROM busybox\nCMD ["echo", "hi"\n'})
    build(bstack, ctx, "-t", tag)
    assert image(bstack, tag)["Config"]["Cmd"] == ["/bin/sh", "-c", '["echo", "hi"']
    (tmp_path / "Dockerfile").write_text('FROM busybox\nSHELL ["/bin/sh", "-c"\n')
    bad = build(bstack, tmp_path, "-t", unique("json"), check=False)
    assert bad.returncode == 1 and "SHELL requires the arguments to be in JSON form" in bad.stderr


# -- commit and history ---------------------------------------------------------------------------
def test_commit_change_and_history(bstack, tags, busybox_rootfs_tar):
    n = unique("commit")
    repo = unique("committed") + ":1"
    tags.append(repo)
    try:
        bstack.docker("run", "--name", n, "busybox", "sh", "-c", "echo state > /saved", check=True)
        bstack.docker("commit", "--change", 'CMD ["cat", "/saved"]', "--change", "ENV A=b",
                      "--change", "EXPOSE 80", "--change", "WORKDIR /tmp", n, repo, check=True)
    finally:
        bstack.docker("rm", "-f", n)
    c = image(bstack, repo)["Config"]
    assert c["Cmd"] == ["cat", "/saved"] and "A=b" in c["Env"] and c["ExposedPorts"] == {"80/tcp": {}}
    assert c["WorkingDir"] == "/tmp"
    assert bstack.docker("run", "--rm", repo, check=True).stdout == "state\n"
    hist = bstack.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Size}}", repo,
                         check=True).stdout.splitlines()
    assert hist[0] == 'sh -c echo state > /saved|6B'  # the container's command, its layer's size
    # every entry names its local image (the commit's parent is busybox); sizes as overlay2's DiffSize:
    # the files' sizes plus the symlinks' target lengths
    rows = bstack.docker("history", "--no-trunc", "--human=false", "--format", "{{.ID}} {{.Size}}", repo,
                         check=True).stdout.split("\n")[:2]
    with tarfile.open(busybox_rootfs_tar) as t:
        expect = sum(len(m.linkname) if m.issym() else m.size for m in t.getmembers())
    assert rows == [f"{image(bstack, repo)['Id']} 6", f"{image(bstack, 'busybox')['Id']} {expect}"]
    bad = bstack.docker("commit", "--change", "RUN true", unique("c"), repo)
    assert bad.returncode == 1


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile,message", [
    ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM busybox\nCOPY nope.txt /\n", "COPY failed: file not found in build context or excluded by "
                                        ".dockerignore: stat nope.txt: file does not exist"),
    ("FROM busybox\nCOPY ../x /\n", "COPY failed: forbidden path outside the build context: ../x ()"),
    ("FROM busybox\nRUN exit 3\n", "The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
    ("FROM busybox\nCOPY --from=nosuchstage /x /\n", "invalid from flag value nosuchstage: "),
    ("FROM busybox AS one\nFROM busybox\nCOPY --from=5 /x /\n", "invalid from flag value 5: index out of bounds"),
])
def test_bad_input(bstack, tmp_path, dockerfile, message):
    tag = unique("bad") + ":1"
    ctx = write(tmp_path, {"Dockerfile": dockerfile, "ok.txt": "ok\n"})
    before = containers(bstack)
    for cli in ("docker", "docker20"):
        cp = build(bstack, ctx, "-t", tag, "--force-rm", cli=cli, check=False)
        assert message in cp.stderr, cp.stderr
        assert cp.returncode == (3 if "exit 3" in dockerfile else 1)
        # nothing tagged, no build container left (--force-rm)
        assert bstack.docker("image", "inspect", tag).returncode == 1
        assert containers(bstack) == before


def test_rm_false_keeps_the_build_containers(bstack, tmp_path, tags):
    tag = unique("keep") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN echo one\nRUN echo two\n"})
    before = containers(bstack)
    build(bstack, ctx, "-t", tag, "--rm=false", "--no-cache")
    kept = containers(bstack) - before
    try:
        assert len(kept) == 2
    finally:
        if kept:
            bstack.docker("rm", "-f", *kept)
    # the default keeps the failed step's container; --force-rm does not (test_bad_input)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 4\n")
    cp = build(bstack, ctx, "-t", unique("keep"), check=False)
    kept = containers(bstack) - before
    try:
        assert cp.returncode == 4 and len(kept) == 1
    finally:
        if kept:
            bstack.docker("rm", "-f", *kept)


# -- docker-py and pydocker -----------------------------------------------------------------------
def test_docker_py_images_build(bstack, tmp_path, tags):
    tag = unique("dockerpy") + ":1"
    tags.append(tag)
    write(tmp_path, {"docker/Dockerfile": "FROM busybox AS b\nRUN echo py > /py\nFROM busybox\n"
                                          "ARG X\nCOPY --from=b /py /py\nLABEL x=$X\n",
                     ".dockerignore": "**/*.tmp\n", "junk.tmp": "x"})
    client = docker.DockerClient(base_url=bstack.host, timeout=120)
    try:
        img, logs = client.images.build(path=str(tmp_path), dockerfile="docker/Dockerfile", tag=tag,
                                        buildargs={"X": "1"}, labels={"l": "2"}, rm=True)
        logs = list(logs)
        assert img.labels == {"x": "1", "l": "2"}
        assert any("aux" in x and x["aux"]["ID"] == img.id for x in logs)
        img2, logs2 = client.images.build(path=str(tmp_path), dockerfile="docker/Dockerfile", tag=tag,
                                          buildargs={"X": "1"}, labels={"l": "2"})
        assert img2.id == img.id
        assert sum(1 for x in logs2 if x.get("stream") == " ---> Using cache\n") == 5
        with pytest.raises(docker.errors.BuildError) as ei:
            client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 5\n"), forcerm=True)
        assert "returned a non-zero code: 5" in str(ei.value)
    finally:
        client.close()


def test_pydocker_build(bstack, tmp_path, tags):
    tag = unique("pyd") + ":1"
    tags.append(tag)
    ctx = write(tmp_path, {"docker/Dockerfile": "FROM busybox\nCOPY m.txt /m\nRUN cat /m\n", "m.txt": "m\n"})
    cp = bstack.pydocker("build", "-f", str(ctx / "docker/Dockerfile"), "-t", tag, str(ctx), timeout=180,
                         check=True)
    assert "Step 3/3 : RUN cat /m" in cp.stdout and f"Successfully tagged {tag}" in cp.stdout
    cp = bstack.pydocker("build", "-f", str(ctx / "docker/Dockerfile"), "-t", tag, str(ctx), timeout=180,
                         check=True)
    assert cached(cp.stdout) == {2, 3}
    cp = bstack.pydocker("build", "-q", "-f", str(ctx / "docker/Dockerfile"), str(ctx), timeout=180,
                         check=True)
    assert cp.stdout.strip() == image(bstack, tag)["Id"]


def test_run_steps_get_network_hosts_and_shm(bstack, tmp_path):
    ctx = write(tmp_path, {"Dockerfile": "FROM busybox\nRUN grep myhost /etc/hosts; df -k /dev/shm | tail -1; "
                                         "ls /sys/class/net | tr '\\n' ' '; echo\n"})
    cp = build(bstack, ctx, "--network", "none", "--add-host", "myhost:10.1.2.3", "--shm-size", "32m",
               "--no-cache", "-t", unique("net") + ":1", cli="docker20")
    assert "10.1.2.3\tmyhost\n" in cp.stdout
    assert re.search(r"^shm +32768 ", cp.stdout, re.M)
    assert "\nlo \n" in cp.stdout  # only the loopback: --network none
    bstack.docker("rmi", re.search(r"Successfully tagged (\S+)", cp.stdout).group(1), check=True)


@pytest.fixture
def registry(tmp_path):
    """Debian's docker-registry on 127.0.0.1 with a throwaway storage dir."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "registry"))
    from registry_helpers import start_registry
    reg = start_registry(tmp_path / "reg")
    try:
        yield reg.host
    finally:
        reg.stop()


def test_pull_refreshes_the_base_image(bstack, tmp_path, tags, registry):
    base, built = f"{registry}/{unique('base')}:1", unique("pulled") + ":1"
    tags.extend([base, built])
    for marker in ("old", "new"):
        (tmp_path / marker).mkdir()
        write(tmp_path / marker, {"Dockerfile": f"FROM busybox\nRUN echo {marker} > /marker\n"})
        build(bstack, tmp_path / marker, "-t", base)
        bstack.docker("push", base, check=True)
        if marker == "old":
            old_id = image(bstack, base)["Id"]
    # locally `base` is the "new" image again only after a pull: point the tag back at the old one
    bstack.docker("tag", old_id, base, check=True)
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"FROM {base}\nRUN cat /marker\n"})
    assert "\nold\n" in build(bstack, ctx, "-t", built).stdout     # present locally: used as it is
    pulled = build(bstack, ctx, "-t", built, "--pull").stdout
    assert "\nnew\n" in pulled  # --pull: the registry's
    # the pull's own lines inside the build output, between the FROM step and its image ID, as Docker's
    repo, tag = base.rsplit(":", 1)
    from_step = pulled[pulled.index(f"Step 1/2 : FROM {base}\n"):pulled.index(" ---> ")]
    assert f"{tag}: Pulling from {repo.split('/', 1)[1]}\n" in from_step, pulled
    assert re.search(r"^Digest: sha256:[0-9a-f]{64}$", from_step, re.M), pulled
    assert f"Status: Downloaded newer image for {base}\n" in from_step, pulled


def test_rmi_takes_the_build_steps_along(bstack, tmp_path):
    tag = unique("steps") + ":1"
    ctx = write(tmp_path, {"f": "f\n", "Dockerfile": "FROM busybox\nCOPY f /f\nENV A=1\nCMD [\"cat\", \"/f\"]\n"})
    cp = build(bstack, ctx, "-t", tag)
    step_ids = re.findall(r" ---> ([0-9a-f]{12})\n", cp.stdout)[1:]  # after the FROM's
    assert len(step_ids) == 3
    out = bstack.docker("rmi", tag, check=True).stdout
    # as moby: the image and its untagged parents down to busybox (tagged) are deleted
    assert len(re.findall(r"^Deleted: sha256:", out, re.M)) == 3
    left = bstack.docker("images", "-a", "-q", check=True).stdout.split()
    assert not set(step_ids) & set(left) and image(bstack, "busybox")


def test_inspect_of_a_built_image_names_its_parent_and_engine(bstack, tmp_path, tags):
    """As dockerd's classic builds: Parent and Config.Image are the image the last step started from,
    DockerVersion the engine's, LastTagTime when it was tagged; a commit's parent is its container's image."""
    tag = unique("parent") + ":1"
    tags.append(tag)
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo a > /a\nCMD [\"cat\", \"/a\"]\n"})
    build(bstack, ctx, "-t", tag)
    info = json.loads(bstack.docker("image", "inspect", tag, check=True).stdout)[0]
    history = bstack.docker("history", "-q", tag, check=True).stdout.split()
    step = json.loads(bstack.docker("image", "inspect", history[1], check=True).stdout)[0]["Id"]
    assert info["Parent"] == step and info["Config"]["Image"] == step
    version = bstack.docker("version", "-f", "{{.Server.Version}}", check=True).stdout.strip()
    assert info["DockerVersion"] == version and not info["Metadata"]["LastTagTime"].startswith("0001-")
    busybox = json.loads(bstack.docker("image", "inspect", "busybox", check=True).stdout)[0]
    assert busybox["Parent"] == "" and busybox["DockerVersion"] == ""  # imported: no parent, no engine


def test_copy_keeps_hard_links(bstack, tmp_path, tags):
    """Two names of one file in the context stay one file in the image, as Docker's tar keeps them."""
    tag = unique("hardlink") + ":1"
    tags.append(tag)
    ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n", "top.md": "same\n"})
    os.link(ctx / "top.md", ctx / "hard.md")
    build(bstack, ctx, "-t", tag)
    out = bstack.docker("run", "--rm", tag, "sh", "-c", "stat -c '%h %i' /ctx/top.md /ctx/hard.md", check=True).stdout
    (links1, ino1), (links2, ino2) = (line.split() for line in out.splitlines())
    assert links1 == links2 == "2" and ino1 == ino2, out
