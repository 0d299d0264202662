"""`docker cp`: copy between a container and the local filesystem through the archive endpoints."""
from __future__ import annotations

import base64
import os
import sys

from cli import flags as F
from cli import jsoncodec as json
from cli.errors import APIError, CLIError
from cli.units import human_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cli.context import Context

GO_MODE_DIR = 1 << 31


def split_arg(arg: str) -> tuple[str, str]:
    """splitCpArg: ("", path) for a local path, (container, path) for CONTAINER:PATH."""
    if os.path.isabs(arg) or arg.startswith("."):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep:
        return "", arg
    return container, path


def decode_stat(header: str) -> dict:
    """X-Docker-Container-Path-Stat: base64 JSON with a Go os.FileMode."""
    try:
        return json.loads(base64.b64decode(header)) if header else {}
    except ValueError:
        return {}


def _safe_member(name: str) -> str:
    """Reject absolute or escaping paths in archives coming from the daemon."""
    norm = os.path.normpath(name.lstrip("/"))
    if norm.startswith("..") or os.path.isabs(norm):
        raise CLIError(f"invalid archive entry: {name}")
    return "" if norm == "." else norm


def extract(tar_path: str, dest_dir: str, rebase: tuple[str, str] | None, follow: bool = False) -> None:
    """Extract an archive into dest_dir, renaming its root entry old → new when rebase is given."""
    import tarfile
    with tarfile.open(tar_path, "r|*") as tf:
        for m in tf:
            name = _safe_member(m.name)
            if rebase:
                old, new = rebase
                if name == old or name.startswith(old + "/"):
                    name = new + name[len(old):]
            if not name:
                continue
            m.name = name
            target = os.path.join(dest_dir, name)
            if m.isdir() and os.path.isdir(target):
                continue
            if m.issym() or m.islnk():
                if m.islnk():
                    m.linkname = _safe_member(m.linkname)
                    if rebase and (m.linkname == rebase[0] or m.linkname.startswith(rebase[0] + "/")):
                        m.linkname = rebase[1] + m.linkname[len(rebase[0]):]
                if os.path.lexists(target) and not os.path.isdir(target):
                    os.unlink(target)
            tf.extract(m, dest_dir, set_attrs=True, numeric_owner=os.geteuid() == 0)


def copy_from_container(ctx: Context, container: str, src: str, dst: str, follow: bool) -> int:
    import tempfile
    if follow:
        resp = ctx.client.request("HEAD", f"/containers/{container}/archive", {"path": src})
        stat = decode_stat(resp.headers.get("x-docker-container-path-stat", ""))
        resp.close()
        if stat.get("linkTarget"):
            src = stat["linkTarget"]
    resp = ctx.client.request("GET", f"/containers/{container}/archive", {"path": src})
    stat = decode_stat(resp.headers.get("x-docker-container-path-stat", ""))
    if dst == "-":
        out = sys.stdout.buffer
        for chunk in resp:
            out.write(chunk)
        out.flush()
        return 0
    src_is_dir = bool(stat.get("mode", 0) & GO_MODE_DIR)
    src_base = stat.get("name") or os.path.basename(src.rstrip("/")) or "/"
    copy_contents = src.endswith("/.")
    size = 0
    with tempfile.TemporaryFile() as tmp:
        for chunk in resp:
            tmp.write(chunk)
            size += len(chunk)
        tmp.flush()
        path = f"/proc/self/fd/{tmp.fileno()}"
        if os.path.isdir(dst):
            if copy_contents and src_is_dir:
                extract(path, dst, (src_base, ""))
            else:
                extract(path, dst, None)
        elif os.path.exists(dst):
            if src_is_dir:
                raise CLIError(f"cannot copy directory to a file: {dst}")
            extract(path, os.path.dirname(os.path.abspath(dst)), (src_base, os.path.basename(dst)))
        else:
            if dst.endswith("/"):
                raise CLIError(f"destination directory {dst} does not exist" if src_is_dir
                               else f"no such directory: {dst}")
            parent = os.path.dirname(os.path.abspath(dst))
            if not os.path.isdir(parent):
                raise CLIError(f"stat {parent}: no such file or directory")
            extract(path, parent, (src_base, os.path.basename(os.path.abspath(dst))))
    if os.isatty(sys.stderr.fileno()):
        ctx.err.write(f"Successfully copied {human_size(size)} to {dst}\n")
    return 0


def copy_to_container(ctx: Context, src: str, container: str, dst: str, copy_uid: bool, follow: bool) -> int:
    import tarfile
    import tempfile
    params_base = {"noOverwriteDirNonDir": "true", "copyUIDGID": "true" if copy_uid else None}
    if src == "-":
        from cli.commands.image import file_chunks
        ctx.client.request("PUT", f"/containers/{container}/archive", {"path": dst, **params_base},
                           body=file_chunks(sys.stdin.buffer),
                           headers={"Content-Type": "application/x-tar"}).read()
        return 0
    src_path = os.path.realpath(src) if follow else src
    try:
        st = os.lstat(src_path)
    except OSError as e:
        raise CLIError(f"lstat {src_path}: {(e.strerror or str(e)).lower()}") from None
    import stat as stat_mod
    src_is_dir = stat_mod.S_ISDIR(st.st_mode)
    dst_exists, dst_is_dir = False, False
    try:
        head = ctx.client.request("HEAD", f"/containers/{container}/archive", {"path": dst})
        head.close()
        info = decode_stat(head.headers.get("x-docker-container-path-stat", ""))
        dst_exists, dst_is_dir = True, bool(info.get("mode", 0) & GO_MODE_DIR)
    except APIError as e:
        if not e.not_found:
            raise
    copy_contents = src.endswith("/.") or src.endswith("/./")
    if dst_exists and dst_is_dir:
        put_dir, root = dst, os.path.basename(os.path.normpath(src_path))
    elif dst_exists:
        if src_is_dir:
            raise CLIError("cannot copy a directory to a file")
        put_dir, root = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    else:
        put_dir, root = os.path.dirname(dst.rstrip("/")) or "/", os.path.basename(dst.rstrip("/"))
    with tempfile.TemporaryFile() as tmp:
        with tarfile.open(fileobj=tmp, mode="w", format=tarfile.PAX_FORMAT) as tf:
            if copy_contents and src_is_dir and dst_exists and dst_is_dir:
                for entry in sorted(os.listdir(src_path)):
                    tf.add(os.path.join(src_path, entry), arcname=entry)
            else:
                tf.add(src_path, arcname=root)
        size = tmp.tell()
        tmp.seek(0)
        from cli.commands.image import file_chunks
        ctx.client.request("PUT", f"/containers/{container}/archive", {"path": put_dir, **params_base},
                           body=file_chunks(tmp), headers={"Content-Type": "application/x-tar"}).read()
    if os.isatty(sys.stderr.fileno()):
        ctx.err.write(f"Successfully copied {human_size(size)} to {container}:{dst}\n")
    return 0


def run_cp(ctx: Context, opts: Any, args: list[str]) -> int:
    src_c, src = split_arg(args[0])
    dst_c, dst = split_arg(args[1])
    if src_c and dst_c:
        raise CLIError("copying between containers is not supported")
    if not src_c and not dst_c:
        raise CLIError("must specify at least one container source")
    if not (src if src_c else dst):
        raise CLIError("filepath cannot be empty")
    if src_c:
        return copy_from_container(ctx, src_c, src, dst, opts.follow_link)
    return copy_to_container(ctx, src, dst_c, dst, opts.archive, opts.follow_link)


CP = F.Command("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tdocker cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
               "Copy files/folders between a container and the local filesystem", [
                   F.Flag("archive", "a", F.BOOL, False, "Archive mode (copy all uid/gid information)"),
                   F.Flag("follow-link", "L", F.BOOL, False, "Always follow symbol link in SRC_PATH"),
                   F.Flag("quiet", "q", F.BOOL, False, "Suppress progress output during copy"),
               ], min_args=2, max_args=2, run=run_cp)
