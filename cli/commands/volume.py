"""`docker volume` commands: create, ls, inspect, rm, prune."""
from __future__ import annotations

from cli import flags as F
from cli import formatter as fmt
from cli import jsoncodec as json
from cli.commands.container import confirm, fetch_raw, filters_param, for_each, inspect_each
from cli.errors import CLIError
from cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context

S, L, B = F.STR, F.LIST, F.BOOL


def natural_key(s: str) -> list:
    """sortorder.NaturalLess: digit runs compare as numbers."""
    import re
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s) if p]


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def run_create(ctx: Context, opts: Any, args: list[str]) -> int:
    if args and opts.name and args[0] != opts.name:
        raise CLIError("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
    body: dict[str, Any] = {"Driver": opts.driver or "local"}
    if opts.opt:
        body["DriverOpts"] = _kv(opts.opt)
    if opts.label:
        body["Labels"] = _kv(opts.label)
    name = args[0] if args else opts.name
    if name:
        body["Name"] = name
    vol = ctx.client.post_json("/volumes/create", None, body) or {}
    ctx.line(vol.get("Name", ""))
    return 0


CREATE = F.Command("create", "[OPTIONS] [VOLUME]", "Create a volume", [
    F.Flag("driver", "d", S, "local", "Specify volume driver name"),
    F.Flag("label", "", L, help="Set metadata for a volume"),
    F.Flag("name", "", S, "", "Specify volume name", hidden=True),
    F.Flag("opt", "o", L, help="Set driver specific options", type_name="map"),
], max_args=1, run=run_create)

HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
           "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "Group": "GROUP",
           "Availability": "AVAILABILITY", "Status": "STATUS"}


def volume_row(v: dict) -> fmt.Row:
    usage = v.get("UsageData") or {}
    labels = v.get("Labels") or {}
    return fmt.Row(Availability="N/A", Driver=v.get("Driver", ""), Group="N/A",
                   Labels=",".join(f"{k}={labels[k]}" for k in sorted(labels)),
                   Links=str(usage["RefCount"]) if usage.get("RefCount", -1) >= 0 else "N/A",
                   Mountpoint=v.get("Mountpoint", ""), Name=v.get("Name", ""), Scope=v.get("Scope", ""),
                   # units.HumanSize, four digits, as the CLI's volume context
                   Size=human_size(usage["Size"], 4) if usage.get("Size", -1) >= 0 else "N/A", Status="N/A")


def run_ls(ctx: Context, opts: Any, args: list[str]) -> int:
    data = ctx.client.get_json("/volumes", {"filters": filters_param(opts.filter)}) or {}
    vols = sorted(data.get("Volumes") or [], key=lambda v: natural_key(v.get("Name", "")))
    rows = [volume_row(v) for v in vols]
    from cli.config import setting
    form = "{{.Name}}" if opts.quiet else (opts.format or setting("volumesFormat") or "table {{.Driver}}\t{{.Name}}")
    if form == "table":
        form = "table {{.Driver}}\t{{.Name}}"
    if form.strip() == "{{json .}}":
        ctx.write("".join(fmt.go_json(dict(sorted(r.items()))) + "\n" for r in rows))
        return 0
    ctx.write(fmt.render(form, rows, HEADERS, row_type="*formatter.volumeContext"))
    for w in data.get("Warnings") or []:
        ctx.err.write(w + "\n")
    return 0


LS = F.Command("ls", "[OPTIONS]", "List volumes", [
    F.Flag("cluster", "", B, False, "Display only cluster volumes, and use cluster volume list formatting"),
    F.Flag("filter", "f", L, help="Provide filter values (e.g. \"dangling=true\")", type_name="filter"),
    F.Flag("format", "", S, "", F.FORMAT_HELP),
    F.Flag("quiet", "q", B, False, "Only display volume names"),
], max_args=0, run=run_ls)


def run_inspect(ctx: Context, opts: Any, args: list[str]) -> int:
    return inspect_each(ctx, args, lambda n: fetch_raw(ctx, f"/volumes/{n}"), opts.format)


INSPECT = F.Command("inspect", "[OPTIONS] VOLUME [VOLUME...]",
                    "Display detailed information on one or more volumes", [
                        F.Flag("format", "f", S, "", F.INSPECT_FORMAT_HELP),
                    ], min_args=1, run=run_inspect)


def run_rm(ctx: Context, opts: Any, args: list[str]) -> int:
    params = {"force": 1 if opts.force else None}
    return for_each(ctx, args, lambda n: ctx.client.request("DELETE", f"/volumes/{n}", params).read())


RM = F.Command("rm", "[OPTIONS] VOLUME [VOLUME...]",
               "Remove one or more volumes. You cannot remove a volume that is in use by a container.", [
    F.Flag("force", "f", B, False, "Force the removal of one or more volumes"),
], min_args=1, run=run_rm)


def run_prune(ctx: Context, opts: Any, args: list[str]) -> int:
    new_api = ctx.client.api_at_least("1.42")  # older daemons prune named volumes too
    if opts.all and not new_api:
        raise CLIError(f'"--all" requires API version 1.42, but the Docker daemon API version is {ctx.client.version}')
    warning = ("WARNING! This will remove all local volumes not used by at least one container."
               if opts.all or not new_api
               else "WARNING! This will remove anonymous local volumes not used by at least one container.")
    if not opts.force and not confirm(ctx, warning):
        return 0
    filters = json.loads(filters_param(opts.filter) or "{}")
    if opts.all:
        filters["all"] = {"true": True}
    report = ctx.client.request("POST", "/volumes/prune",
                                {"filters": json.dumps(filters) if filters else None}).json() or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        ctx.line("Deleted Volumes:")
        for v in deleted:
            ctx.line(v)
        ctx.line()
    ctx.line(f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}")
    return 0


PRUNE = F.Command("prune", "[OPTIONS]", "Remove unused local volumes", [
    F.Flag("all", "a", B, False, "Remove all unused volumes, not just anonymous ones"),
    F.Flag("filter", "", L, help="Provide filter values (e.g. \"label=<label>\")", type_name="filter"),
    F.Flag("force", "f", B, False, "Do not prompt for confirmation"),
], max_args=0, run=run_prune)
