"""`docker build` with the classic builder: tar the context (honouring .dockerignore), POST /build."""
from __future__ import annotations

import io
import os
import re
import sys

from cli import flags as F
from cli import jsoncodec as json
from cli.errors import CLIError
from cli.progress import StreamError, display_stream
from cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

    from cli.context import Context

S, L, B = F.STR, F.LIST, F.BOOL


# -- .dockerignore ------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern:
    """A Go filepath.Match pattern plus `**`, anchored to the whole slash-separated path."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i:i + 2] == "**":
                i += 2
                if pattern[i:i + 1] == "/":
                    out.append("(?:.*/)?")  # zero or more directories
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j < 0:
                raise CLIError(f"syntax error in pattern: {pattern}")
            body = pattern[i + 1:j]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def read_dockerignore(context_dir: str) -> list[str]:
    try:
        with open(os.path.join(context_dir, ".dockerignore"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    patterns = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        p = line[1:].strip() if neg else line
        p = os.path.normpath(p).lstrip("/")
        if p == ".":
            continue
        patterns.append(("!" if neg else "") + p)
    return patterns


class IgnoreMatcher:
    """patternmatcher.Matches: the last pattern matching the path or one of its parents decides."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.rules = [(p.startswith("!"), _pattern_regex(p.lstrip("!"))) for p in patterns]

    def excluded(self, rel: str) -> bool:
        parts = rel.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        result = False
        for negate, rx in self.rules:
            if rx.match(rel) or any(rx.match(p) for p in parents):
                result = not negate
        return result


def context_tar(context_dir: str, dockerfile_rel: str, extra: dict[str, bytes] | None = None) -> bytes:
    """The build context as a tar (root-owned entries, sorted), without the ignored files."""
    import tarfile
    patterns = read_dockerignore(context_dir)
    # The Dockerfile and .dockerignore are always sent (TrimBuildFilesFromExcludes).
    patterns += ["!" + dockerfile_rel, "!.dockerignore"] if patterns else []
    matcher = IgnoreMatcher(patterns)
    buf = io.BytesIO()

    def reset(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = ""
        return ti

    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    with tf:
        for root, dirs, files in os.walk(context_dir):
            dirs.sort()
            rel_root = os.path.relpath(root, context_dir)
            rel_root = "" if rel_root == "." else rel_root.replace(os.sep, "/")
            for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                rel = f"{rel_root}/{name}" if rel_root else name
                if matcher.excluded(rel):
                    continue
                tf.add(os.path.join(root, name), arcname=rel, recursive=False, filter=reset)
            kept = []
            has_exceptions = any(neg for neg, _ in matcher.rules)
            for d in dirs:
                rel = f"{rel_root}/{d}" if rel_root else d
                full = os.path.join(root, d)
                if os.path.islink(full):
                    continue  # added above as a file entry
                if not matcher.excluded(rel):
                    tf.add(full, arcname=rel, recursive=False, filter=reset)
                elif not has_exceptions:
                    continue  # nothing below an excluded dir can come back: skip the walk
                kept.append(d)
            dirs[:] = kept
        for name, data in (extra or {}).items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o600
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()[:tf.offset]  # Go's tar writer does not pad to a 10 KiB record


def _single_file_tar(name: str, data: bytes) -> bytes:
    import tarfile
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT)
    with tf:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode = len(data), 0o600
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()[:tf.offset]


def _looks_like_archive(data: bytes) -> bool:
    return data[257:262] == b"ustar" or data[:2] == b"\x1f\x8b" or data[:3] == b"BZh" or data[:6] == b"\xfd7zXZ\x00"


def prepare_context(path: str, dockerfile: str) -> tuple[bytes, str]:
    """Return (tar bytes, dockerfile name inside the tar) for a directory, `-` or `-f -`."""
    if path == "-":
        if dockerfile == "-":
            raise CLIError("invalid argument: can't use stdin for both build context and dockerfile")
        data = sys.stdin.buffer.read()
        if _looks_like_archive(data):
            return data, dockerfile or "Dockerfile"
        return _single_file_tar("Dockerfile", data), "Dockerfile"
    if path.startswith(("http://", "https://", "git://", "git@")):
        raise CLIError(f"unable to prepare context: remote contexts are not supported by pydocker: {path}")
    if not os.path.isdir(path):
        raise CLIError(f'unable to prepare context: path "{path}" not found')
    context_dir = os.path.abspath(path)
    if dockerfile == "-":
        name = ".dockerfile." + os.urandom(10).hex()[:20]
        return context_tar(context_dir, name, {name: sys.stdin.buffer.read()}), name
    df = os.path.join(context_dir, "Dockerfile") if not dockerfile else os.path.abspath(dockerfile)
    if not dockerfile and not os.path.exists(df) and os.path.exists(os.path.join(context_dir, "dockerfile")):
        df = os.path.join(context_dir, "dockerfile")
    if not os.path.exists(df):
        raise CLIError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                       f"lstat {df}: no such file or directory")
    rel = os.path.relpath(df, context_dir).replace(os.sep, "/")
    if rel.startswith("../"):
        # A Dockerfile outside the context travels inside the tar under a random name.
        name = ".dockerfile." + os.urandom(10).hex()[:20]
        with open(df, "rb") as f:
            return context_tar(context_dir, name, {name: f.read()}), name
    return context_tar(context_dir, rel), rel


def _build_args(items: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        k, eq, v = item.partition("=")
        out[k] = v if eq else os.environ.get(k)
    return out


def run_build(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli import refs
    for t in opts.tag or []:
        refs.parse(t, default_tag=False)
    body, dockerfile = prepare_context(args[0], opts.file)
    params: list[tuple[str, Any]] = [("t", t) for t in opts.tag or []]
    params += [("dockerfile", dockerfile), ("version", "1")]
    if opts.quiet:
        params.append(("q", "1"))
    if opts.no_cache:
        params.append(("nocache", "1"))
    if "rm" in opts.changed and not opts.rm:
        params.append(("rm", "0"))
    if opts.force_rm:
        params.append(("forcerm", "1"))
    if opts.pull:
        params.append(("pull", "1"))
    if opts.build_arg:
        params.append(("buildargs", json.dumps(_build_args(opts.build_arg))))
    if opts.label:
        params.append(("labels", json.dumps(dict(lbl.partition("=")[::2] for lbl in opts.label))))
    if opts.cache_from:
        params.append(("cachefrom", json.dumps(opts.cache_from)))
    for key, val in (("target", opts.target), ("platform", opts.platform),
                     ("networkmode", "" if opts.network == "default" else opts.network)):
        if val:
            params.append((key, val))
    if opts.add_host:
        params.append(("extrahosts", ",".join(opts.add_host)))
    if not opts.quiet:
        # The Go CLI's raw progress formatter ends the line with "\r", then the stream adds "\r\n".
        ctx.out.write(f"Sending build context to Docker daemon {human_size(len(body), 4):>8}\r\r\n")
        ctx.out.flush()
    image_id: list[str] = []
    quiet_out = io.StringIO()
    resp = ctx.client.request("POST", "/build", params, body=_chunks(body),
                              headers={"Content-Type": "application/x-tar", "X-Registry-Config": "e30="})
    try:
        display_stream(resp.iter_json(), quiet_out if opts.quiet else ctx.out,
                       terminal=False if opts.quiet else None,
                       aux=lambda a: image_id.append(a.get("ID", "")) if isinstance(a, dict) else None)
    except StreamError as e:
        if opts.quiet:
            ctx.err.write(quiet_out.getvalue())
        raise CLIError(e.message, e.code or 1) from None
    if opts.quiet:
        ctx.out.write(quiet_out.getvalue())
    if opts.iidfile:
        if not image_id or not image_id[-1]:
            raise CLIError(f"Server did not provide an image ID. Cannot write {opts.iidfile}")
        with open(opts.iidfile, "w") as f:
            f.write(image_id[-1])
    return 0


def _chunks(data: bytes, size: int = 1 << 16) -> Iterable[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


BUILD = F.Command("build", "[OPTIONS] PATH | URL | -", "Build an image from a Dockerfile", [
    F.Flag("add-host", "", L, help="Add a custom host-to-IP mapping (\"host:ip\")"),
    F.Flag("build-arg", "", L, help="Set build-time variables"),
    F.Flag("cache-from", "", L, help="Images to consider as cache sources", type_name="strings"),
    F.Flag("file", "f", S, "", "Name of the Dockerfile (Default is \"PATH/Dockerfile\")"),
    F.Flag("force-rm", "", B, False, "Always remove intermediate containers"),
    F.Flag("iidfile", "", S, "", "Write the image ID to the file"),
    F.Flag("label", "", L, help="Set metadata for an image"),
    F.Flag("network", "", S, "default", "Set the networking mode for the RUN instructions during build"),
    F.Flag("no-cache", "", B, False, "Do not use cache when building the image"),
    F.Flag("platform", "", S, "", "Set platform if server is multi-platform capable"),
    F.Flag("pull", "", B, False, "Always attempt to pull a newer version of the image"),
    F.Flag("quiet", "q", B, False, "Suppress the build output and print image ID on success"),
    F.Flag("rm", "", B, True, "Remove intermediate containers after a successful build"),
    F.Flag("tag", "t", L, help="Name and optionally a tag in the \"name:tag\" format"),
    F.Flag("target", "", S, "", "Set the target build stage to build."),
], min_args=1, max_args=1, run=run_build)
