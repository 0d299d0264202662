"""Registry credentials in the client config file (`auths`), kept as the CLI keeps them."""
from __future__ import annotations

import base64

from cli import jsoncodec as json
from cli.config import load_config, save_config

DEFAULT_INDEX = "https://index.docker.io/v1/"


def server_key(registry: str) -> str:
    """The key credentials are stored under: Docker Hub uses the v1 index URL."""
    if registry in ("", "docker.io", "index.docker.io", "registry-1.docker.io", DEFAULT_INDEX):
        return DEFAULT_INDEX
    return registry.removeprefix("https://").removeprefix("http://").rstrip("/")


def get_auth(registry: str) -> dict:
    entry = (load_config().get("auths") or {}).get(server_key(registry)) or {}
    if not entry.get("auth"):
        return {}
    try:
        user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return {}
    return {"username": user, "password": password, "serveraddress": server_key(registry)}


def store_auth(registry: str, username: str, password: str) -> None:
    cfg = load_config()
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    cfg.setdefault("auths", {})[server_key(registry)] = {"auth": token}
    save_config(cfg)


def remove_auth(registry: str) -> bool:
    cfg = load_config()
    auths = cfg.get("auths") or {}
    if server_key(registry) not in auths:
        return False
    del auths[server_key(registry)]
    save_config(cfg)
    return True


def registry_auth_header(registry: str) -> dict[str, str]:
    """X-Registry-Auth: base64url(JSON); "e30=" ({}) when there are no stored credentials."""
    auth = get_auth(registry)
    data = json.dumps(auth, separators=(",", ":")).encode() if auth else b"{}"
    return {"X-Registry-Auth": base64.urlsafe_b64encode(data).decode()}
