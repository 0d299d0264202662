"""Image commands: images, pull, push, tag, rmi, load, save, import, history, inspect, prune."""
from __future__ import annotations

import functools
import os
import sys
import time

from cli import flags as F
from cli import formatter as fmt
from cli import jsoncodec as json
from cli import refs
from cli.commands.container import confirm, fetch_raw, filters_param, inspect_each, write_stream
from cli.errors import APIError, CLIError
from cli.progress import display_stream
from cli.units import go_time_string, human_size, since

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

    from cli.context import Context

S, L, B, I = F.STR, F.LIST, F.BOOL, F.INT


def short_id(image_id: str) -> str:
    """stringid.TruncateID: drop the algorithm prefix, keep 12 hex digits."""
    return image_id.split(":", 1)[-1][:12]


# -- images -------------------------------------------------------------------------------------
IMAGES_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
                  "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
                  "VirtualSize": "VIRTUAL SIZE"}


def image_row(img: dict, repo: str, tag: str, digest: str, trunc: bool, now: float) -> fmt.Row:
    """The values of one image row (`docker images`, `system df -v`), keyed by the --format field names."""
    created = img.get("Created") or 0
    shared = img.get("SharedSize", -1)
    size = img.get("Size") or 0
    containers = img.get("Containers", -1)
    return fmt.Row(
        Containers="N/A" if containers == -1 else str(containers),
        CreatedAt=go_time_string(created), CreatedSince=since(created, now),
        Digest=digest, ID=short_id(img.get("Id", "")) if trunc else img.get("Id", ""),
        # (Size to three digits, the shared and unique sizes to four: units.HumanSize, as the CLI's)
        Repository=repo, SharedSize="N/A" if shared == -1 else human_size(shared, 4),
        Size=human_size(size), Tag=tag,
        UniqueSize="N/A" if shared == -1 else human_size(size - shared, 4),
        VirtualSize=human_size(img.get("VirtualSize") or size, 4))


def split_tag(ref: str) -> tuple[str, str] | None:
    """A RepoTags entry as (familiar name, tag); None for `<none>:<none>` and what is not name:tag."""
    name, _, tag = ref.rpartition(":")
    if ref == "<none>:<none>" or "/" in tag or not name:
        return None
    return refs.familiar_name(name), tag


def image_rows(images: list[dict], trunc: bool, digests: bool, now: float) -> list[fmt.Row]:
    """One row per repository:tag (and per digest with --digests), like the CLI's imageFormat."""
    rows = []
    for img in images:
        tags: dict[str, list[str]] = {}
        dgsts: dict[str, list[str]] = {}
        for repo, tag in filter(None, map(split_tag, img.get("RepoTags") or [])):
            tags.setdefault(repo, []).append(tag)
        for r in img.get("RepoDigests") or []:
            if r == "<none>@<none>":
                continue
            name, _, dg = r.partition("@")
            dgsts.setdefault(refs.familiar_name(name), []).append(dg)

        row = functools.partial(image_row, img, trunc=trunc, now=now)
        for repo in sorted(tags):
            ds = dgsts.pop(repo, [])  # digests of a tagged repo never get rows of their own
            if not digests:
                ds = []
            for tag in tags[repo]:
                if not ds:
                    rows.append(row(repo, tag, "<none>"))
                for d in ds:
                    rows.append(row(repo, tag, d))
        for repo in sorted(dgsts):
            if digests:
                rows += [row(repo, "<none>", d) for d in dgsts[repo]]
            else:
                rows.append(row(repo, "<none>", "<none>"))
        if not tags and not dgsts:
            rows.append(row("<none>", "<none>", "<none>"))
    return rows


def run_images(ctx: Context, opts: Any, args: list[str]) -> int:
    filters = list(opts.filter or [])
    if args:
        filters.append(f"reference={args[0]}")
    params = {"all": 1 if opts.all else None, "filters": filters_param(filters)}
    images = ctx.client.get_json("/images/json", params) or []
    rows = image_rows(images, not opts.no_trunc, opts.digests, time.time())
    from cli.config import setting
    form = opts.format or setting("imagesFormat")
    if opts.quiet:
        form = "{{.ID}}"
    if not form or form == "table":
        form = ("table {{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if opts.digests else "")
                + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    if form.strip() == "{{json .}}":
        ctx.write("".join(fmt.go_json(dict(sorted(r.items()))) + "\n" for r in rows))
        return 0
    ctx.write(fmt.render(form, rows, IMAGES_HEADERS, row_type="*formatter.imageContext"))
    return 0


IMAGES = F.Command("images", "[OPTIONS] [REPOSITORY[:TAG]]", "List images", [
    F.Flag("all", "a", B, False, "Show all images (default hides intermediate images)"),
    F.Flag("digests", "", B, False, "Show digests"),
    F.Flag("filter", "f", L, help="Filter output based on conditions provided", type_name="filter"),
    F.Flag("format", "", S, "", F.FORMAT_HELP),
    F.Flag("no-trunc", "", B, False, "Don't truncate output"),
    F.Flag("quiet", "q", B, False, "Only show image IDs"),
], max_args=1, run=run_images)


# -- pull / push / tag --------------------------------------------------------------------------
def _auth_header(ref: refs.Reference) -> dict[str, str]:
    from cli.auth import registry_auth_header
    return registry_auth_header(ref.domain)


def run_pull(ctx: Context, opts: Any, args: list[str]) -> int:
    raw = args[0]
    try:
        ref = refs.parse(raw, default_tag=False)
    except CLIError as e:
        raise CLIError(e.message) from None
    if opts.all_tags and (ref.tag or ref.digest):
        raise CLIError("tag can't be used with --all-tags/-a")
    if not ref.tag and not ref.digest and not opts.all_tags:
        ref.tag = "latest"
        if not opts.quiet:
            ctx.line("Using default tag: latest")
    params = {"fromImage": ref.name, "tag": None if opts.all_tags else (ref.digest or ref.tag),
              "platform": opts.platform or None}
    resp = ctx.client.request("POST", "/images/create", params, body=b"", headers=_auth_header(ref))
    if opts.quiet:
        with open(os.devnull, "w") as devnull:
            display_stream(resp.iter_json(), devnull, terminal=False)
    else:
        display_stream(resp.iter_json(), ctx.out)
    ctx.line(ref.name if opts.all_tags else str(ref))
    return 0


PULL = F.Command("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry", [
    F.Flag("all-tags", "a", B, False, "Download all tagged images in the repository"),
    F.Flag("disable-content-trust", "", B, True, "Skip image verification"),
    F.Flag("platform", "", S, "", "Set platform if server is multi-platform capable"),
    F.Flag("quiet", "q", B, False, "Suppress verbose output"),
], min_args=1, max_args=1, run=run_pull)


def run_push(ctx: Context, opts: Any, args: list[str]) -> int:
    ref = refs.parse(args[0], default_tag=False)
    if opts.all_tags and (ref.tag or ref.digest):
        raise CLIError("tag can't be used with --all-tags/-a")
    if not opts.all_tags and not ref.tag and not ref.digest:
        ref.tag = "latest"
        if not opts.quiet:
            ctx.line("Using default tag: latest")
    params = {"tag": ref.tag if not opts.all_tags else None, "platform": opts.platform or None}
    resp = ctx.client.request("POST", f"/images/{ref.name}/push", params, body=b"",
                              headers=_auth_header(ref))
    if opts.quiet:
        with open(os.devnull, "w") as devnull:
            display_stream(resp.iter_json(), devnull, terminal=False)
        ctx.line(str(ref))
    else:
        display_stream(resp.iter_json(), ctx.out)
    return 0


PUSH = F.Command("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry", [
    F.Flag("all-tags", "a", B, False, "Push all tags of an image to the repository"),
    F.Flag("disable-content-trust", "", B, True, "Skip image signing"),
    F.Flag("platform", "", S, "", "Push a platform-specific manifest as a single-platform image to the registry."),
    F.Flag("quiet", "q", B, False, "Suppress verbose output"),
], min_args=1, max_args=1, run=run_push)


def run_tag(ctx: Context, opts: Any, args: list[str]) -> int:
    try:
        target = refs.parse(args[1], default_tag=False)
    except CLIError as e:
        raise CLIError(f'Error parsing reference: "{args[1]}" is not a valid repository/tag: {e.message}') from None
    if target.digest:
        raise CLIError("refusing to create a tag with a digest reference")
    ctx.client.request("POST", f"/images/{args[0]}/tag",
                       {"repo": target.name, "tag": target.tag or "latest"}).read()
    return 0


TAG = F.Command("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", [], min_args=2, max_args=2, run=run_tag)


# -- rmi ----------------------------------------------------------------------------------------
def run_rmi(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"force": 1 if opts.force else None, "noprune": 1 if opts.no_prune else None}
    errors, fatal = [], False
    for name in args:
        try:
            report = ctx.client.request("DELETE", f"/images/{name}", params).json() or []
        except APIError as e:
            fatal = fatal or not e.not_found
            errors.append(e.message)
            continue
        for item in report:
            if item.get("Deleted"):
                ctx.line(f"Deleted: {item['Deleted']}")
            else:
                ctx.line(f"Untagged: {item.get('Untagged', '')}")
    if errors:
        msg = "\n".join(errors)
        if not opts.force or fatal:
            raise CLIError(msg)
        ctx.err.write(msg + "\n")
    return 0


RMI = F.Command("rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", [
    F.Flag("force", "f", B, False, "Force removal of the image"),
    F.Flag("no-prune", "", B, False, "Do not delete untagged parents"),
], min_args=1, run=run_rmi)


# -- load / save / import -----------------------------------------------------------------------
def file_chunks(f: Any, size: int = 1 << 16) -> Iterator[bytes]:
    while True:
        data = f.read(size)
        if not data:
            return
        yield data


def platform_param(ctx: Context, value: str) -> str | None:
    """--platform os[/arch[/variant]] as the JSON OCI platform the API takes (1.48+)."""
    if not value:
        return None
    if not ctx.client.api_at_least("1.48"):
        raise CLIError(f'"--platform" requires API version 1.48, but the Docker daemon API version is {ctx.client.version}')
    parts = value.lower().split("/")
    plat = {"architecture": parts[1] if len(parts) > 1 else "", "os": parts[0]}
    if len(parts) > 2:
        plat["variant"] = parts[2]
    return json.dumps(plat, separators=(",", ":"))


def _open_input(path: str) -> Any:
    if not path or path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise CLIError(f"open {path}: {(e.strerror or str(e)).lower()}") from None


def show_stream_or_raw(ctx: Context, resp: Any) -> None:
    """Decode a JSON message stream only when the response says application/json (as the CLI does)."""
    if resp.headers.get("content-type", "") == "application/json":
        display_stream(resp.iter_json(), ctx.out)
    else:
        out = sys.stdout.buffer
        for chunk in resp:
            out.write(chunk)
        out.flush()


def run_load(ctx: Context, opts: Any, args: list[str]) -> int:
    if not opts.input and os.isatty(sys.stdin.fileno()):
        raise CLIError("requested load from stdin, but stdin is empty")
    platform = platform_param(ctx, opts.platform)
    src = _open_input(opts.input)
    quiet = opts.quiet or not os.isatty(sys.stdout.fileno())
    try:
        resp = ctx.client.request("POST", "/images/load", {"quiet": 1 if quiet else 0, "platform": platform},
                                  body=file_chunks(src),
                                  headers={"Content-Type": "application/x-tar"})
        show_stream_or_raw(ctx, resp)
    finally:
        if src is not sys.stdin.buffer:
            src.close()
    return 0


LOAD = F.Command("load", "[OPTIONS]", "Load an image from a tar archive or STDIN", [
    F.Flag("input", "i", S, "", "Read from tar archive file, instead of STDIN"),
    F.Flag("platform", "", S, "", "Load only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"),
    F.Flag("quiet", "q", B, False, "Suppress the load output"),
], max_args=0, run=run_load)


def run_save(ctx: Context, opts: Any, args: list[str]) -> int:
    if not opts.output and os.isatty(sys.stdout.fileno()):
        raise CLIError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    params: list[tuple[str, Any]] = [("names", n) for n in args]
    platform = platform_param(ctx, opts.platform)
    if platform:
        params.append(("platform", platform))
    resp = ctx.client.request("GET", "/images/get", params)
    write_stream(resp, opts.output)
    return 0


SAVE = F.Command("save", "[OPTIONS] IMAGE [IMAGE...]",
                 "Save one or more images to a tar archive (streamed to STDOUT by default)", [
                     F.Flag("output", "o", S, "", "Write to a file, instead of STDOUT"),
                     F.Flag("platform", "", S, "", "Save only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")"),
                 ], min_args=1, run=run_save)


def run_import(ctx: Context, opts: Any, args: list[str]) -> int:
    source = args[0]
    repo = args[1] if len(args) > 1 else ""
    if repo:
        refs.parse(repo, default_tag=False)  # validate as the client does
    params: list[tuple[str, Any]] = []
    body: Any = b""
    src = None
    if source == "-":
        params.append(("fromSrc", "-"))
        src = sys.stdin.buffer
        body = file_chunks(src)
    elif source.startswith(("http://", "https://")):
        params.append(("fromSrc", source))
    else:
        params.append(("fromSrc", "-"))
        src = _open_input(source)
        body = file_chunks(src)
    if repo:
        params.append(("repo", repo))
    if opts.message:
        params.append(("message", opts.message))
    if opts.platform:
        params.append(("platform", opts.platform.lower()))
    params += [("changes", c) for c in opts.change or []]
    try:
        resp = ctx.client.request("POST", "/images/create", params, body=body,
                                  headers={"Content-Type": "application/x-tar"} if src else None)
        display_stream(resp.iter_json(), ctx.out)
    finally:
        if src is not None and src is not sys.stdin.buffer:
            src.close()
    return 0


IMPORT = F.Command("import", "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
                   "Import the contents from a tarball to create a filesystem image", [
                       F.Flag("change", "c", L, help="Apply Dockerfile instruction to the created image"),
                       F.Flag("message", "m", S, "", "Set commit message for imported image"),
                       F.Flag("platform", "", S, "", "Set platform if server is multi-platform capable"),
                   ], min_args=1, max_args=2, run=run_import)


# -- history / inspect / prune ------------------------------------------------------------------
def run_history(ctx: Context, opts: Any, args: list[str]) -> int:
    items = ctx.client.get_json(f"/images/{args[0]}/history") or []
    now = time.time()
    rows = []
    for h in items:
        hid = h.get("Id") or "<missing>"
        created_by = (h.get("CreatedBy") or "").replace("\t", " ")
        created = h.get("Created") or 0
        rfc3339 = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(created)) + _tz(created)
        rows.append(fmt.Row(
            ID=short_id(hid) if (not opts.no_trunc and hid != "<missing>") else hid,
            CreatedSince=since(created, now) if opts.human else rfc3339,
            CreatedAt=rfc3339,
            CreatedBy=fmt.ellipsis(created_by, 45) if not opts.no_trunc else created_by,
            Size=human_size(h.get("Size") or 0) if opts.human else str(h.get("Size") or 0),
            Comment=h.get("Comment") or ""))
    form = opts.format
    if opts.quiet:
        form = "{{.ID}}"
    if not form or form == "table":
        created_col = "{{.CreatedSince}}" if opts.human else "{{.CreatedAt}}"
        form = f"table {{{{.ID}}}}\t{created_col}\t{{{{.CreatedBy}}}}\t{{{{.Size}}}}\t{{{{.Comment}}}}"
    ctx.write(fmt.render(form, rows, {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                                      "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}))
    return 0


def _tz(unix: float) -> str:
    off = time.strftime("%z", time.localtime(unix))
    return "Z" if off in ("+0000", "-0000") else f"{off[:3]}:{off[3:]}"


HISTORY = F.Command("history", "[OPTIONS] IMAGE", "Show the history of an image", [
    F.Flag("format", "", S, "", "Format output using a custom template"),
    F.Flag("human", "H", B, True, "Print sizes and dates in human readable format"),
    F.Flag("no-trunc", "", B, False, "Don't truncate output"),
    F.Flag("platform", "", S, "", "Show history for the given platform."),
    F.Flag("quiet", "q", B, False, "Only show image IDs"),
], min_args=1, max_args=1, run=run_history)


def run_image_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    return inspect_each(ctx, args, lambda n: fetch_raw(ctx, f"/images/{n}/json"), opts.format)


INSPECT = F.Command("inspect", "[OPTIONS] IMAGE [IMAGE...]", "Display detailed information on one or more images", [
    F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
], min_args=1, run=run_image_inspect)


def run_image_prune(ctx: Context, opts: Any, args: list[str]) -> int:
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if opts.all else "WARNING! This will remove all dangling images.")
    if not opts.force and not confirm(ctx, warning):
        return 0
    filters = json.loads(filters_param(opts.filter) or "{}")
    filters["dangling"] = {"false" if opts.all else "true": True}
    report = ctx.client.request("POST", "/images/prune", {"filters": json.dumps(filters)}).json() or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        ctx.line("Deleted Images:")
        for d in deleted:
            for k in ("Untagged", "Deleted"):
                if d.get(k):
                    ctx.line(f"{k.lower()}: {d[k]}")
        ctx.line()
    ctx.line(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")
    return 0


PRUNE = F.Command("prune", "[OPTIONS]", "Remove unused images", [
    F.Flag("all", "a", B, False, "Remove all unused images, not just dangling ones"),
    F.Flag("filter", "", L, help="Provide filter values (e.g. \"until=<timestamp>\")", type_name="filter"),
    F.Flag("force", "f", B, False, "Do not prompt for confirmation"),
], max_args=0, run=run_image_prune)
