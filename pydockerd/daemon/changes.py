"""Dockerfile instructions allowed in `docker import --change` / `docker commit --change`."""
from __future__ import annotations

import json
import shlex
from typing import Any

from ..errors import InvalidParameter

ALLOWED = {"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER",
           "VOLUME", "WORKDIR"}


def _json_or_shell(arg: str, shell: bool) -> list[str]:
    arg = arg.strip()
    if arg.startswith("["):
        try:
            val = json.loads(arg)
            if isinstance(val, list) and all(isinstance(x, str) for x in val):
                return val
        except ValueError:
            pass
    return ["/bin/sh", "-c", arg] if shell else shlex.split(arg)


def _pairs(instr: str, arg: str) -> list[tuple[str, str]]:
    words = shlex.split(arg)
    if not words:
        raise InvalidParameter(f"{instr} requires at least one argument")
    if "=" not in words[0]:
        # legacy form: KEY value with spaces
        key, _, value = arg.strip().partition(" ")
        return [(key, value.strip())]
    out = []
    for w in words:
        if "=" not in w:
            raise InvalidParameter(f"Syntax error - can't find = in \"{w}\". Must be of the form: name=value")
        k, v = w.split("=", 1)
        out.append((k, v))
    return out


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply instructions to an OCI image config's `config` section (returned, modified)."""
    for line in changes:
        line = line.strip()
        if not line:
            continue
        instr, _, arg = line.partition(" ")
        instr = instr.upper()
        if instr not in ALLOWED:
            raise InvalidParameter(f"{instr} is not a valid change command")
        if instr == "CMD":
            config["Cmd"] = _json_or_shell(arg, True)
        elif instr == "ENTRYPOINT":
            config["Entrypoint"] = _json_or_shell(arg, True)
        elif instr == "ENV":
            env = [e for e in config.get("Env") or []]
            for k, v in _pairs(instr, arg):
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            config["Env"] = env
        elif instr == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(dict(_pairs(instr, arg)))
            config["Labels"] = labels
        elif instr == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            for p in arg.split():
                ports[p if "/" in p else p + "/tcp"] = {}
            config["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = dict(config.get("Volumes") or {})
            for v in _json_or_shell(arg, False):
                vols[v] = {}
            config["Volumes"] = vols
        elif instr == "USER":
            config["User"] = arg.strip()
        elif instr == "WORKDIR":
            config["WorkingDir"] = arg.strip()
        elif instr == "STOPSIGNAL":
            config["StopSignal"] = arg.strip()
        elif instr == "ONBUILD":
            config["OnBuild"] = (config.get("OnBuild") or []) + [arg.strip()]
    return config
