"""The build driver over a fake backend: the JSON stream must be what dockerd 20.10 sent for the
same requests (captured with curl against /v1.41/build; IDs are masked for the comparison)."""
from __future__ import annotations

import hashlib
import io
import os
import re
import shutil

import pytest
from buildtars import cli_tar

from pydockerd.builder import copier
from pydockerd.builder.context import Source, read_context
from pydockerd.builder.driver import (BaseImage, BuildDriver, Container, DriverOptions,
                                      familiar_tag, json_aux, json_error, json_stderr, json_stream,
                                      short_id)
from pydockerd.builder.errors import BuildError
from pydockerd.builder.plan import BuildOptions

BUSYBOX = "sha256:" + "3d80c1765f47" + "0" * 52


class FakeBackend:
    """Images are directories; containers are copies of their parent's directory."""

    def __init__(self, tmp, images: dict[str, dict] | None = None, outputs=None) -> None:
        self.tmp = tmp
        self.images: dict[str, dict] = {}    # id -> {"config", "dir", "parent", "key"}
        self.by_ref: dict[str, str] = {}
        self.containers: dict[str, dict] = {}
        self.removed: list[str] = []
        self.tags: dict[str, str] = {}
        self.outputs = outputs or {}         # command string -> (stdout, stderr, code)
        self.n = 0
        busybox_dir = os.path.join(tmp, "busybox")
        os.makedirs(os.path.join(busybox_dir, "etc"))
        self.images[BUSYBOX] = {"config": {}, "dir": busybox_dir, "parent": "", "key": None}
        self.by_ref["busybox"] = BUSYBOX
        for ref, cfg in (images or {}).items():
            iid = self._new_id()
            self.images[iid] = {"config": cfg, "dir": busybox_dir, "parent": "", "key": None}
            self.by_ref[ref] = iid

    def _new_id(self) -> str:
        self.n += 1
        return "sha256:" + hashlib.sha256(str(self.n).encode()).hexdigest()

    def _clone(self, parent_id: str) -> str:
        self.n += 1
        d = os.path.join(self.tmp, f"fs{self.n}")
        if parent_id:
            shutil.copytree(self.images[parent_id]["dir"], d, symlinks=True)
        else:
            os.makedirs(d)
        return d

    async def get_base(self, ref, progress):
        if ref.kind == "scratch":
            return BaseImage("", None)
        iid = ref.image_id if ref.kind == "stage" else self.by_ref.get(ref.name)
        if iid is None:
            raise BuildError(f"pull access denied for {ref.name}")
        return BaseImage(iid, self.images[iid]["config"])

    async def probe_cache(self, parent_id, cache_key):
        for iid, img in self.images.items():
            if img["parent"] == parent_id and img["key"] == cache_key:
                return iid
        return None

    async def create(self, parent_id, config):
        cid = hashlib.sha256(f"c{self.n}".encode()).hexdigest()
        self.containers[cid] = {"dir": self._clone(parent_id), "config": config}
        return Container(cid)

    async def run(self, cid, stdout, stderr):
        cmd = " ".join(self.containers[cid]["config"]["Cmd"])
        out, err, code = self.outputs.get(cmd, ("", "", 0))
        if out:
            await stdout(out.encode())
        if err:
            await stderr(err.encode())
        return code

    async def mkdir(self, cid, path):
        copier.make_workdir(self.containers[cid]["dir"], path)

    async def commit(self, cid, parent_id, config, container_config, author, cache_key):
        iid = self._new_id()
        self.images[iid] = {"config": config, "dir": self.containers[cid]["dir"],
                            "parent": parent_id, "key": cache_key, "author": author,
                            "created_by": " ".join(container_config["Cmd"])}
        return iid

    async def remove(self, cid):
        self.removed.append(cid)

    async def source(self, ref):
        return Source(self.images[ref.image_id]["dir"])

    async def download(self, url):
        from pydockerd.builder.context import UNNAMED_DOWNLOAD, download_filename
        name = download_filename(url.split("://", 1)[1].partition("/")[2] and
                                 "/" + url.split("://", 1)[1].partition("/")[2]) or UNNAMED_DOWNLOAD
        d = os.path.join(self.tmp, f"dl{self.n}")
        self.n += 1
        os.makedirs(d)
        with open(os.path.join(d, name), "wb") as f:
            f.write(b"downloaded " + url.encode())
        return os.path.join(d, name)

    async def copy(self, parent_id, action, source, downloads, cache_key):
        d = self._clone(parent_id)
        copier.perform_copy(action, source, d, downloads=downloads)
        iid = self._new_id()
        self.images[iid] = {"config": action.config, "dir": d, "parent": parent_id,
                            "key": cache_key, "created_by": action.created_by}
        return iid

    async def tag(self, image_id, reference):
        self.tags[reference] = image_id

    async def cleanup(self):
        self.cleaned = True


class Recorder:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    async def stdout(self, text):
        self.lines.append(json_stream(text))

    async def stderr(self, text):
        self.lines.append(json_stderr(text))

    async def aux(self, obj):
        self.lines.append(json_aux(obj))

    async def progress(self, message):
        self.lines.append(message + b"\r\n")


def mask(lines: list[bytes]) -> list[str]:
    out = []
    for ln in lines:
        s = ln.decode().rstrip("\n")
        s = re.sub(r"[0-9a-f]{64}", "<ID64>", s)
        s = re.sub(r"(?<![0-9a-f])[0-9a-f]{12}(?![0-9a-f])", "<ID12>", s)
        out.append(s)
    return out


async def run_build(tmp_path, dockerfile: str, files=None, backend=None, **opts):
    data = {"Dockerfile": dockerfile.encode(), **(files or {})}
    ctx = read_context(io.BytesIO(cli_tar(data)))
    backend = backend or FakeBackend(str(tmp_path))
    rec = Recorder()
    build_opts = opts.pop("build", BuildOptions())
    driver = BuildDriver(ctx, backend, rec, DriverOptions(build=build_opts, **opts))
    try:
        image_id = await driver.build()
        error = None
    except BuildError as exc:
        image_id, error = None, exc
        rec.lines.append(json_error(exc.message, exc.code))
    finally:
        ctx.cleanup()
    return image_id, mask(rec.lines), backend, error


# curl -X POST --data-binary @ctx.tar '/v1.41/build?t=c8:1&rm=1'
DOCKER_C8 = r'''{"stream":"Step 1/6 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 2/6 : RUN echo out \u0026\u0026 echo err \u003e\u00262"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"out\n"}
{"stream":"\u001b[91merr\n\u001b[0m"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 3/6 : ENV A=1"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 4/6 : COPY a /a"}
{"stream":"\n"}
{"stream":" ---\u003e <ID12>\n"}
{"aux":{"ID":"sha256:<ID64>"}}
{"stream":"Step 5/6 : FROM scratch"}
{"stream":"\n"}
{"stream":" ---\u003e \n"}
{"stream":"Step 6/6 : COPY a /"}
{"stream":"\n"}
{"stream":" ---\u003e <ID12>\n"}
{"aux":{"ID":"sha256:<ID64>"}}
{"stream":"Successfully built <ID12>\n"}
{"stream":"Successfully tagged c8:1\n"}'''.splitlines()

C8 = "FROM busybox\nRUN echo out && echo err >&2\nENV A=1\nCOPY a /a\nFROM scratch\nCOPY a /\n"
C8_OUTPUTS = {"/bin/sh -c echo out && echo err >&2": ("out\n", "err\n", 0)}


async def test_stream_matches_dockerd(tmp_path):
    backend = FakeBackend(str(tmp_path), outputs=C8_OUTPUTS)
    image_id, lines, backend, error = await run_build(tmp_path, C8, {"a": b"hi\n"}, backend,
                                                      tags=["c8:1"])
    assert error is None
    assert lines == DOCKER_C8
    assert backend.tags == {"c8:1": image_id}
    assert open(os.path.join(backend.images[image_id]["dir"], "a")).read() == "hi\n"
    assert len(backend.removed) == 2


async def test_second_build_uses_the_cache(tmp_path):
    backend = FakeBackend(str(tmp_path), outputs=C8_OUTPUTS)
    first, *_ = await run_build(tmp_path, C8, {"a": b"hi\n"}, backend)
    second, lines, _, _ = await run_build(tmp_path, C8, {"a": b"hi\n"}, backend)
    assert second == first
    assert lines[3:7] == ['{"stream":"Step 2/6 : RUN echo out \\u0026\\u0026 echo err \\u003e\\u00262"}',
                          '{"stream":"\\n"}', '{"stream":" ---\\u003e Using cache\\n"}',
                          '{"stream":" ---\\u003e <ID12>\\n"}']
    assert not any("Running in" in ln for ln in lines)
    # a changed file misses from its COPY on
    third, lines, _, _ = await run_build(tmp_path, C8, {"a": b"changed\n"}, backend)
    assert third != first
    assert sum("Using cache" in ln for ln in lines) == 2    # RUN and ENV still hit
    _, lines, _, _ = await run_build(tmp_path, C8, {"a": b"hi\n"}, backend, no_cache=True)
    assert not any("Using cache" in ln for ln in lines)


DOCKER_TRIGGERS = r'''{"stream":"Step 1/2 : FROM trig:1"}
{"stream":"\n"}
{"stream":"# Executing 2 build trigger"}
{"stream":"s"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"one\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 2/2 : RUN echo $X"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"1\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"aux":{"ID":"sha256:<ID64>"}}
{"stream":"Successfully built <ID12>\n"}'''.splitlines()


async def test_onbuild_triggers(tmp_path):
    backend = FakeBackend(str(tmp_path), images={"trig:1": {"OnBuild": ["RUN echo one", "ENV X=1"]}},
                          outputs={"/bin/sh -c echo one": ("one\n", "", 0),
                                   "/bin/sh -c echo $X": ("1\n", "", 0)})
    image_id, lines, backend, error = await run_build(tmp_path, "FROM trig:1\nRUN echo $X\n",
                                                      backend=backend)
    assert error is None and lines == DOCKER_TRIGGERS
    assert backend.images[image_id]["config"]["OnBuild"] is None


DOCKER_FAIL = r'''{"stream":"Step 1/2 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 2/2 : RUN exit 3"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}'''.splitlines()


async def test_failing_run(tmp_path):
    backend = FakeBackend(str(tmp_path), outputs={"/bin/sh -c exit 3": ("", "", 3)})
    _, lines, backend, error = await run_build(tmp_path, "FROM busybox\nRUN exit 3\n", backend=backend)
    assert lines == DOCKER_FAIL and error.code == 3
    assert backend.removed == []            # rm=1 keeps the failed step's container…
    backend2 = FakeBackend(str(tmp_path / "b2"), outputs={"/bin/sh -c exit 3": ("", "", 3)})
    _, lines, backend2, _ = await run_build(tmp_path, "FROM busybox\nRUN exit 3\n", backend=backend2,
                                            force_remove=True)
    assert len(backend2.removed) == 1        # …forcerm=1 does not
    assert lines[-2].startswith('{"stream":"Removing intermediate container ')


DOCKER_NOTE_AND_WARNING = r'''{"stream":"Step 1/4 : FROM busybox"}
{"stream":"\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 2/4 : HEALTHCHECK CMD a"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 3/4 : HEALTHCHECK CMD b"}
{"stream":"\n"}
{"stream":"Note: overriding previous HEALTHCHECK: [CMD-SHELL a]\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"stream":"Step 4/4 : ARG U"}
{"stream":"\n"}
{"stream":" ---\u003e Running in <ID12>\n"}
{"stream":"Removing intermediate container <ID12>\n"}
{"stream":" ---\u003e <ID12>\n"}
{"aux":{"ID":"sha256:<ID64>"}}
{"stream":"[Warning] One or more build-args [X] were not consumed\n"}
{"stream":"Successfully built <ID12>\n"}'''.splitlines()


async def test_note_and_unused_arg_warning(tmp_path):
    # buildargs={"X":"1","U":null}
    _, lines, _, _ = await run_build(
        tmp_path, "FROM busybox\nHEALTHCHECK CMD a\nHEALTHCHECK CMD b\nARG U\n",
        build=BuildOptions(build_args={"X": "1", "U": None}), force_remove=True)
    assert lines == DOCKER_NOTE_AND_WARNING


async def test_parser_warnings_go_to_stderr_first(tmp_path):
    _, lines, _, _ = await run_build(tmp_path, "FROM busybox\nRUN a \\\n\n b\n")
    assert lines[0] == ('{"stream":"\\u001b[91m[WARNING]: Empty continuation line found in:\\n'
                        '    RUN a  b\\n[WARNING]: Empty continuation lines will become errors in a '
                        'future release.\\n\\u001b[0m"}')
    assert lines[1] == '{"stream":"Step 1/2 : FROM busybox"}'


async def test_quiet_prints_only_the_id(tmp_path):
    image_id, lines, _, _ = await run_build(tmp_path, "FROM busybox\nENV A=1\n", quiet=True,
                                            tags=["x"])
    assert lines == ['{"stream":"sha256:<ID64>\\n"}']
    assert image_id.startswith("sha256:")


async def test_copy_from_and_workdir(tmp_path):
    src = ("FROM busybox AS one\nWORKDIR /app\nCOPY a .\nFROM busybox\n"
           "COPY --from=one /app/a /b\nMAINTAINER me\nCMD x\n")
    image_id, lines, backend, error = await run_build(tmp_path, src, {"a": b"A"})
    assert error is None
    img = backend.images[image_id]
    assert open(os.path.join(img["dir"], "b")).read() == "A"
    assert img["author"] == "me" and img["created_by"] == '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "x"]'


async def test_step_errors_are_raised_after_the_header(tmp_path):
    _, lines, _, error = await run_build(tmp_path, "FROM busybox\nCOPY nope /\n")
    assert lines[-1] == ('{"errorDetail":{"message":"COPY failed: file not found in build context '
                         'or excluded by .dockerignore: stat nope: file does not exist"},"error":'
                         '"COPY failed: file not found in build context or excluded by .dockerignore: '
                         'stat nope: file does not exist"}')
    assert lines[-2] == '{"stream":"\\n"}'


def test_helpers():
    assert short_id("sha256:" + "ab" * 32) == "abababababab" and short_id("") == ""
    assert familiar_tag("foo") == "foo:latest"
    assert familiar_tag("docker.io/library/foo:1") == "foo:1"
    assert familiar_tag("localhost:5000/x") == "localhost:5000/x:latest"
    assert familiar_tag("x@sha256:" + "0" * 64) == "x@sha256:" + "0" * 64
    assert json_stream("a<b>&") == b'{"stream":"a\\u003cb\\u003e\\u0026"}\n'
    assert json_error("boom") == b'{"errorDetail":{"message":"boom"},"error":"boom"}\n'
    assert json_stream("é") == '{"stream":"é"}\n'.encode()


def test_options_from_query():
    from multidict import MultiDict

    from pydockerd.builder.driver import options_from_query
    from pydockerd.builder.errors import DockerfileError
    q = MultiDict([("t", "a:1"), ("t", "b"), ("dockerfile", "sub/Df"), ("q", "1"),
                   ("buildargs", '{"A":"1","B":null}'), ("labels", '{"l":"v"}'),
                   ("target", "build"), ("nocache", "true")])
    opts, dockerfile = options_from_query(q)
    assert dockerfile == "sub/Df" and opts.tags == ["a:1", "b"] and opts.quiet and opts.no_cache
    assert opts.build.build_args == {"A": "1", "B": None} and opts.build.labels == {"l": "v"}
    assert opts.build.target == "build"
    assert opts.remove and not opts.force_remove            # rm defaults to true
    assert not options_from_query({"rm": "0"})[0].remove
    assert options_from_query({"rm": "0", "forcerm": "1"})[0].remove
    with pytest.raises(DockerfileError, match="^error reading build args: "):
        options_from_query({"buildargs": "{nope"})


async def test_read_context_async_spools_the_body(tmp_path):
    from pydockerd.builder.driver import read_context_async
    body = cli_tar({"Dockerfile": b"FROM busybox\n", "a": b"x" * 300000})

    async def chunks():
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]
    ctx = await read_context_async(chunks(), "", str(tmp_path))
    try:
        assert ctx.dockerfile.stages[0].base_name == "busybox"
        assert os.path.getsize(os.path.join(ctx.source.root, "a")) == 300000
    finally:
        ctx.cleanup()
    assert os.listdir(tmp_path) == []


async def test_add_url(tmp_path):
    image_id, lines, backend, error = await run_build(
        tmp_path, "FROM busybox\nADD http://example.com/dir/file.txt /u/\nADD http://example.com/ /named\n")
    assert error is None and backend.cleaned
    d = backend.images[image_id]["dir"]
    assert open(os.path.join(d, "u", "file.txt"), "rb").read() == b"downloaded http://example.com/dir/file.txt"
    assert os.path.isfile(os.path.join(d, "named"))
    created = [img.get("created_by", "") for img in backend.images.values()]
    assert any(re.fullmatch(r"/bin/sh -c #\(nop\) ADD file:[0-9a-f]{64} in /u/ ", c) for c in created)
    _, lines, backend, error = await run_build(tmp_path, "FROM busybox\nADD http://example.com/ /u/\n",
                                               backend=FakeBackend(str(tmp_path / "second")))
    assert error.message == "ADD failed: cannot determine filename for source http://example.com/"
    assert backend.cleaned
