"""Local volumes (the `local` driver): `<data-root>/volumes/<name>/_data` plus a JSON record."""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import Conflict, InvalidParameter, NotFound
from .container import now_rfc3339
from .rootfs import is_mounted

VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@dataclass
class Volume:
    Name: str
    CreatedAt: str
    Labels: dict[str, str] = field(default_factory=dict)
    Options: dict[str, str] = field(default_factory=dict)
    Anonymous: bool = False


@dataclass
class VolumeMount:
    """A volume used by a container (from `-v name:/dst`, `--mount type=volume`, or `VOLUME`)."""

    Name: str
    Destination: str
    RW: bool = True
    Anonymous: bool = False
    Mode: str = ""  # as inspect shows it: `-v name:/dst[:mode]` gives the mode or "z", the others ""


MOUNT_OPTIONS = ("type", "device", "o")
NEEDS = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_options(name: str, options: dict[str, str]) -> None:
    """moby's local driver: only type, device and o (size needs an xfs quota), each with its partners."""
    for key in options:
        if key not in MOUNT_OPTIONS:
            raise InvalidParameter(f'create {name}: invalid option: "{key}"')
    for key, partners in NEEDS.items():
        if key in options:
            for partner in partners:
                if partner not in options:
                    raise InvalidParameter(f'create {name}: missing required option: "{partner}"')


class VolumeStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._options: dict[str, dict[str, str]] = {}  # mount_argv's memo, dropped at remove
        os.makedirs(root, mode=0o701, exist_ok=True)

    def _dir(self, name: str) -> str:
        return os.path.join(self.root, name)

    def mountpoint(self, name: str) -> str:
        return os.path.join(self._dir(name), "_data")

    def get(self, name: str) -> Volume:
        try:
            with open(os.path.join(self._dir(name), "volume.json")) as f:
                return Volume(**json.load(f))
        except (FileNotFoundError, NotADirectoryError, ValueError, TypeError):
            raise NotFound(f"get {name}: no such volume") from None

    def list(self) -> list[Volume]:
        out = []
        for name in sorted(os.listdir(self.root)):
            try:
                out.append(self.get(name))
            except NotFound:
                continue
        return out

    def create(self, name: str = "", labels: dict[str, str] | None = None, options: dict[str, str] | None = None,
               driver: str = "local") -> tuple[Volume, bool]:
        """Create (or return the existing) volume; the bool says whether it is new. `options`: the local
        driver's `type`, `device` and `o`, what mount(8) takes (tmpfs, a bind, nfs, ...), mounted on the
        volume's directory while a container uses it."""
        if driver not in ("", "local"):
            raise NotFound(f"create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        anonymous = not name
        if anonymous:
            name = secrets.token_hex(32)
        elif len(name) < 2:
            raise InvalidParameter("volume name is too short, names should be at least two alphanumeric characters")
        elif not VALID_NAME.match(name):
            raise InvalidParameter(f"create {name}: \"{name}\" includes invalid characters for a local volume "
                                   "name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to "
                                   "pass a host directory, use absolute path")
        try:
            return self.get(name), False  # (with other options too, as dockerd: the existing one)
        except NotFound:
            pass
        check_options(name, options or {})
        vol = Volume(name, now_rfc3339(), dict(labels or {}), dict(options or {}), anonymous)
        os.makedirs(self.mountpoint(name), mode=0o755, exist_ok=True)
        tmp = os.path.join(self._dir(name), ".volume.json.tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(vol), f)
        os.rename(tmp, os.path.join(self._dir(name), "volume.json"))
        return vol, True

    def remove(self, name: str, users: list[str]) -> None:
        self.get(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        if is_mounted(self.mountpoint(name)):  # (a crash left it mounted: never delete through a mount)
            subprocess.run(["umount", self.mountpoint(name)], capture_output=True, check=False)
            if is_mounted(self.mountpoint(name)):
                raise Conflict(f"remove {name}: volume is still mounted at {self.mountpoint(name)}")
        shutil.rmtree(self._dir(name))
        self._options.pop(name, None)

    def mount_argv(self, name: str) -> list[str] | None:
        """The mount(8) command that puts a volume with options on its directory (None: a plain one).
        Options never change after create: each volume's record is read once (every start asks)."""
        if name not in self._options:
            self._options[name] = dict(self.get(name).Options)
        options = self._options[name]
        if not options:
            return None
        argv = ["mount", "-t", options["type"]]
        if options.get("o"):
            argv += ["-o", options["o"]]
        return argv + [options["device"], self.mountpoint(name)]

    def to_json(self, v: Volume) -> dict[str, Any]:
        # (no labels or options: null, as dockerd answers)
        return {"CreatedAt": v.CreatedAt, "Driver": "local", "Labels": v.Labels or None,
                "Mountpoint": self.mountpoint(v.Name), "Name": v.Name, "Options": v.Options or None,
                "Scope": "local"}


def parse_binds(binds: list[str]) -> tuple[list[str], list[tuple[str, str, bool, str]]]:
    """Split HostConfig.Binds into host binds (absolute source) and (volume, destination, rw, mode as
    moby shows it: the one given, else "z")."""
    host, vols = [], []
    for b in binds or []:
        parts = b.split(":")
        if len(parts) < 2 or len(parts) > 3:
            raise InvalidParameter(f"invalid volume specification: '{b}'")
        src, dst = parts[0], parts[1]
        mode = parts[2].split(",") if len(parts) == 3 else []
        if not dst.startswith("/"):
            raise InvalidParameter(f"invalid volume specification: '{b}': invalid mount config for type "
                                   f"\"volume\": invalid mount path: '{dst}' mount path must be absolute")
        if src.startswith("/"):
            host.append(b)
        else:
            vols.append((src, dst, "ro" not in mode, parts[2] if len(parts) == 3 else "z"))
    return host, vols
