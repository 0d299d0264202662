"""`docker context` commands over the CLI's context store (shared with the real docker CLI)."""
from __future__ import annotations

import os
import shutil

from cli import flags as F
from cli import formatter as fmt
from cli import jsoncodec as json
from cli.config import load_config, save_config, setting
from cli.contexts import store_dir, store_root
from cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context

S, L, B = F.STR, F.LIST, F.BOOL
DEFAULT_DESCRIPTION = "Current DOCKER_HOST based configuration"


def _current() -> str:
    return os.environ.get("DOCKER_CONTEXT") or setting("currentContext") or "default"


def _default_meta() -> dict:
    from cli.client import DEFAULT_HOST
    return {"Name": "default", "Metadata": {"Description": DEFAULT_DESCRIPTION},
            "Endpoints": {"docker": {"Host": os.environ.get("DOCKER_HOST") or DEFAULT_HOST, "SkipTLSVerify": False}},
            "TLSMaterial": {}, "Storage": {"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}}


def _load(name: str) -> dict:
    if name == "default":
        return _default_meta()
    path = os.path.join(store_dir(name, "meta"), "meta.json")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.loads(f.read())
    except FileNotFoundError:
        raise CLIError(f'context "{name}": context not found: open {path}: no such file or directory') from None
    tls_dir = store_dir(name, "tls")
    material = {}
    if os.path.isdir(os.path.join(tls_dir, "docker")):
        material["docker"] = sorted(os.listdir(os.path.join(tls_dir, "docker")))
    meta["TLSMaterial"] = material
    meta["Storage"] = {"MetadataPath": store_dir(name, "meta"), "TLSPath": tls_dir}
    return meta


def _names() -> list[str]:
    base = store_root("meta")
    names = []
    try:
        for d in os.listdir(base):
            try:
                with open(os.path.join(base, d, "meta.json"), encoding="utf-8") as f:
                    names.append(json.loads(f.read()).get("Name", ""))
            except (OSError, ValueError):
                continue
    except FileNotFoundError:
        pass
    return sorted(n for n in names if n)


def run_ls(ctx: Context, opts: Any, args: list[str]) -> int:
    current = _current()
    rows = []
    for name in sorted(["default"] + _names()):
        meta = _load(name)
        endpoint = ((meta.get("Endpoints") or {}).get("docker") or {}).get("Host", "")
        rows.append(fmt.Row(Name=name + (" *" if name == current and not opts.format else ""),
                            Current=name == current,
                            Description=(meta.get("Metadata") or {}).get("Description", ""),
                            DockerEndpoint=endpoint, Error=""))
    if opts.quiet:
        ctx.write("".join(r["Name"].rstrip(" *") + "\n" for r in rows))
        return 0
    form = opts.format or "table {{.Name}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}"
    ctx.write(fmt.render(form, rows, {"Name": "NAME", "Description": "DESCRIPTION",
                                      "DockerEndpoint": "DOCKER ENDPOINT", "Error": "ERROR", "Current": "CURRENT"},
                         row_type="*formatter.ClientContext"))
    return 0


LS = F.Command("ls", "[OPTIONS]", "List contexts", [
    F.Flag("format", "", S, "", "Format output using a custom template"),
    F.Flag("quiet", "q", B, False, "Only show context names"),
], max_args=0, run=run_ls)


def run_show(ctx: Context, opts: Any, args: list[str]) -> int:
    ctx.line(_current())
    return 0


SHOW = F.Command("show", "", "Print the name of the current context", [], max_args=0, run=run_show)


def run_use(ctx: Context, opts: Any, args: list[str]) -> int:
    name = args[0]
    if name != "default":
        _load(name)
    cfg = load_config()
    if name == "default":
        cfg.pop("currentContext", None)
    else:
        cfg["currentContext"] = name
    save_config(cfg)
    ctx.line(name)
    ctx.err.write(f'Current context is now "{name}"\n')
    if os.environ.get("DOCKER_HOST"):
        ctx.err.write("Warning: DOCKER_HOST environment variable overrides the active context. "
                      "To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.\n")
    return 0


USE = F.Command("use", "CONTEXT", "Set the current docker context", [], min_args=1, max_args=1, run=run_use)


def run_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    from cli.commands.container import print_inspect
    names = args or [_current()]
    items = [_load(n) for n in names]
    print_inspect(ctx, items, opts.format)
    return 0


INSPECT = F.Command("inspect", "[OPTIONS] [CONTEXT] [CONTEXT...]",
                    "Display detailed information on one or more contexts", [
                        F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
                    ], run=run_inspect)


def _parse_docker_endpoint(spec: str) -> dict:
    endpoint: dict[str, Any] = {"Host": "", "SkipTLSVerify": False}
    tls: dict[str, str] = {}
    for field in spec.split(","):
        if not field:
            continue
        key, eq, value = field.partition("=")
        if not eq:
            raise CLIError(f"unable to parse docker endpoint: invalid field '{field}'")
        if key == "host":
            endpoint["Host"] = value
        elif key == "skip-tls-verify":
            endpoint["SkipTLSVerify"] = value.lower() in ("1", "t", "true")
        elif key in ("ca", "cert", "key"):
            tls[key] = value
        else:
            raise CLIError(f"unable to parse docker endpoint: unrecognized config key: {key}")
    return {"endpoint": endpoint, "tls": tls}


def run_create(ctx: Context, opts: Any, args: list[str]) -> int:
    import re
    name = args[0]
    if name == "default":
        raise CLIError('"default" is a reserved context name')
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+", name):
        raise CLIError(f'context name "{name}" is invalid, names are validated against regexp '
                       '"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$"')
    if name in _names():
        raise CLIError(f'context "{name}" already exists')
    if opts.docker:
        parsed = _parse_docker_endpoint(opts.docker)
    elif opts["from"]:
        src = _load(opts["from"])
        parsed = {"endpoint": src["Endpoints"]["docker"], "tls": {}}
    else:
        src = _load(_current())
        parsed = {"endpoint": src["Endpoints"]["docker"], "tls": {}}
    meta = {"Name": name, "Metadata": {"Description": opts.description} if opts.description else {},
            "Endpoints": {"docker": parsed["endpoint"]}}
    meta_dir = store_dir(name, "meta")
    os.makedirs(meta_dir, mode=0o755, exist_ok=True)
    with open(os.path.join(meta_dir, "meta.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(meta, separators=(",", ":")))
    if parsed["tls"]:
        tls_dir = os.path.join(store_dir(name, "tls"), "docker")
        os.makedirs(tls_dir, mode=0o700, exist_ok=True)
        for key, src_path in parsed["tls"].items():
            shutil.copyfile(src_path, os.path.join(tls_dir, f"{key}.pem"))
    ctx.line(name)
    ctx.err.write(f'Successfully created context "{name}"\n')
    return 0


CREATE = F.Command("create", "[OPTIONS] CONTEXT", "Create a context", [
    F.Flag("description", "", S, "", "Description of the context"),
    F.Flag("docker", "", S, "", "set the docker endpoint", type_name="stringToString"),
    F.Flag("from", "", S, "", "create context from a named context"),
], min_args=1, max_args=1, run=run_create)


def run_rm(ctx: Context, opts: Any, args: list[str]) -> int:
    errors = []
    current = _current()
    for name in args:
        if name == "default":
            errors.append('context "default" cannot be removed')
            continue
        if name == current and not opts.force:
            errors.append(f'context "{name}" is in use, set -f flag to force remove')
            continue
        if name not in _names():
            errors.append(f'context "{name}" does not exist')
            continue
        shutil.rmtree(store_dir(name, "meta"), ignore_errors=True)
        shutil.rmtree(store_dir(name, "tls"), ignore_errors=True)
        if name == current:
            cfg = load_config()
            cfg.pop("currentContext", None)
            save_config(cfg)
        ctx.line(name)
    if errors:
        raise CLIError("\n".join(errors))
    return 0


RM = F.Command("rm", "CONTEXT [CONTEXT...]", "Remove one or more contexts", [
    F.Flag("force", "f", B, False, "Force the removal of a context in use"),
], min_args=1, run=run_rm)
