"""Loading and validating config.json before anything touches the system (runc's order)."""
from __future__ import annotations

import os

from . import jsonlite as json
from .errors import RuncError, oserror_text
from .namespaces import NS_FLAGS

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
_IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def load_spec(bundle: str) -> dict:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            spec = json.load(f)
    except FileNotFoundError:
        raise RuncError("JSON specification file config.json not found") from None
    except ValueError as e:
        raise RuncError(f"invalid character in config.json: {e}") from None
    except OSError as e:
        raise RuncError(f"open {path}: {oserror_text(e)}") from None
    if not isinstance(spec, dict):
        raise RuncError("json: cannot unmarshal config.json into Go value of type specs.Spec")
    return spec


def namespaces(spec: dict) -> list[dict]:
    return (spec.get("linux") or {}).get("namespaces") or []


def has_ns(spec: dict, kind: str, new_only: bool = False) -> bool:
    for ns in namespaces(spec):
        if ns.get("type") == kind and (not new_only or not ns.get("path")):
            return True
    return False


def rootfs_path(spec: dict, bundle: str) -> str:
    root = (spec.get("root") or {}).get("path") or "rootfs"
    return os.path.normpath(root if os.path.isabs(root) else os.path.join(bundle, root))


def validate(spec: dict, bundle: str, need_process: bool = True) -> str:
    """Validate the whole spec; return the absolute rootfs path. Raises RuncError."""
    proc = spec.get("process")
    if need_process:
        if not isinstance(proc, dict):
            raise RuncError("process property must not be empty")
        validate_process(proc)
    linux = spec.get("linux")
    if linux is None:
        raise RuncError("linux section must not be empty")
    seen = set()
    for ns in namespaces(spec):
        kind = ns.get("type")
        if kind not in NS_FLAGS:
            # Go's %q of the spec struct
            raise RuncError(f'namespace {{"{kind}" "{ns.get("path") or ""}"}} does not exist')
        if kind in seen:
            raise RuncError(f"malformed spec file: duplicated ns {kind!r}")
        seen.add(kind)
        path = ns.get("path")
        if path and not os.path.exists(path):
            raise RuncError(f"stat {path}: no such file or directory")
    rootfs = rootfs_path(spec, bundle)
    try:
        st = os.stat(rootfs)
    except OSError as e:
        raise RuncError(f"invalid rootfs: stat {rootfs}: {oserror_text(e)}") from None
    import stat as _stat
    if not _stat.S_ISDIR(st.st_mode):
        raise RuncError(f"invalid rootfs: not a directory: {rootfs}")
    if spec.get("hostname") and "uts" not in seen:
        raise RuncError("unable to set hostname without a private UTS namespace")
    if spec.get("domainname") and "uts" not in seen:
        raise RuncError("unable to set domainname without a private UTS namespace")
    if "user" in seen:
        user_path = next(ns.get("path") for ns in namespaces(spec) if ns["type"] == "user")
        if not user_path and not (linux.get("uidMappings") and linux.get("gidMappings")):
            raise RuncError("user namespaces enabled, but no uid/gid mappings found")
    elif linux.get("uidMappings") or linux.get("gidMappings"):
        raise RuncError("user namespaces not enabled in config")
    for key in (linux.get("sysctl") or {}):
        validate_sysctl(key, seen)
    prop = linux.get("rootfsPropagation")
    if prop and prop not in ("private", "rprivate", "slave", "rslave", "shared", "rshared",
                             "unbindable", "runbindable"):
        raise RuncError(f"invalid rootfs propagation value: {prop}")
    mounts = spec.get("mounts") or []
    if not isinstance(mounts, list):
        raise _type_error("Spec.mounts", "[]specs.Mount", mounts)
    for m in mounts:
        if not isinstance(m, dict):
            raise _type_error("Spec.mounts", "specs.Mount", m)
        _strings(m.get("options"), "Mount.mounts.options")
        dest = m.get("destination", "")
        if not isinstance(dest, str):
            raise _type_error("Mount.mounts.destination", "string", dest)
        if not os.path.isabs(dest):
            raise RuncError(f"invalid mount destination: {dest!r}: mount destination must be "
                            "absolute")
    return rootfs


def _type_error(field: str, want: str, got) -> RuncError:
    kinds = {str: "string", int: "number", float: "number", bool: "bool", list: "array",
             dict: "object", type(None): "null"}
    return RuncError(f"json: cannot unmarshal {kinds.get(type(got), 'value')} into Go struct "
                     f"field {field} of type {want}")


def _strings(value, field: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _type_error(field, "[]string", value)
    for v in value:
        if not isinstance(v, str):
            raise _type_error(field, "string", v)


def validate_process(proc: dict) -> None:
    _strings(proc.get("args"), "Process.process.args")
    _strings(proc.get("env"), "Process.process.env")
    if not isinstance(proc.get("cwd", ""), str):
        raise _type_error("Process.process.cwd", "string", proc.get("cwd"))
    user = proc.get("user") or {}
    if not isinstance(user, dict):
        raise _type_error("Process.process.user", "specs.User", user)
    for k in ("uid", "gid"):
        if not isinstance(user.get(k, 0), int) or isinstance(user.get(k, 0), bool):
            raise _type_error(f"User.process.user.{k}", "uint32", user.get(k))
    args = proc.get("args") or []
    if not args:
        raise RuncError("args must not be empty")
    cwd = proc.get("cwd")
    if not cwd:
        raise RuncError("Cwd property must not be empty")
    if not os.path.isabs(cwd):
        raise RuncError(f"cwd {cwd!r} must be an absolute path")
    for rl in proc.get("rlimits") or []:
        if rl.get("type") not in RLIMITS:
            raise RuncError(f"wrong rlimit value: {rl.get('type')}")


def validate_sysctl(key: str, ns: set) -> None:
    if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
        if "ipc" not in ns:
            raise RuncError(f"sysctl {key!r} is not allowed in the hosts ipc namespace")
        return
    if key.startswith("net."):
        if "network" not in ns:
            raise RuncError(f"sysctl {key!r} is not allowed in the hosts network namespace")
        return
    if key in ("kernel.hostname", "kernel.domainname"):
        if "uts" not in ns:
            raise RuncError(f"sysctl {key!r} is not allowed in the hosts uts namespace")
        return
    raise RuncError(f"sysctl {key!r} is not in a separate kernel namespace")
