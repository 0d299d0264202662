"""The client config file (~/.docker/config.json or $DOCKER_CONFIG/config.json)."""
from __future__ import annotations

import os

from cli import jsoncodec as json

_cache: list[dict] = []


def config_dir() -> str:
    return os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def load_config() -> dict:
    """The parsed config, {} when it is missing or unreadable (the CLI then uses its defaults)."""
    try:
        with open(config_path(), encoding="utf-8") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def setting(key: str) -> str:
    """A string setting such as psFormat or detachKeys ("" when unset); read once per process."""
    if not _cache:
        _cache.append(load_config())
    value = _cache[0].get(key)
    return value if isinstance(value, str) else ""


def save_config(cfg: dict) -> None:
    """Write atomically with 0600 permissions, since it holds credentials."""
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(cfg, indent=4))
    os.replace(tmp, path)
    _cache.clear()
