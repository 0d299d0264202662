"""Docker CLI contexts: which daemon endpoint to talk to (read from the CLI's context store)."""
from __future__ import annotations

import os

from cli import jsoncodec as json
from cli.config import config_dir, setting
from cli.errors import CLIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cli.client import TLSConfig


def context_name(flag: str, hosts: list[str]) -> str:
    """resolveContextName: --context, else -H/DOCKER_HOST mean "default", else DOCKER_CONTEXT, config."""
    if flag:
        if hosts:
            raise CLIError("conflicting options: cannot specify both --host and --context")
        return flag
    if hosts or os.environ.get("DOCKER_HOST"):
        return "default"
    return os.environ.get("DOCKER_CONTEXT") or setting("currentContext") or "default"


def store_root(kind: str) -> str:
    """contexts/meta or contexts/tls under the config directory."""
    return os.path.join(config_dir(), "contexts", kind)


def store_dir(name: str, kind: str) -> str:
    """A context's directory: the store keys contexts by the SHA-256 of their name."""
    import hashlib
    return os.path.join(store_root(kind), hashlib.sha256(name.encode()).hexdigest())


def resolve(name: str) -> tuple[str, TLSConfig | None]:
    """The docker endpoint (host, TLS settings) of a stored context."""
    meta_path = os.path.join(store_dir(name, "meta"), "meta.json")
    try:
        with open(meta_path, encoding="utf-8") as f:
            meta = json.loads(f.read())
    except FileNotFoundError:
        raise CLIError(f'Failed to initialize: unable to resolve docker endpoint: context "{name}": '
                       f"context not found: open {meta_path}: no such file or directory") from None
    except (OSError, ValueError) as e:
        raise CLIError(f"Failed to initialize: unable to resolve docker endpoint: {e}") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host") or ""
    tls_dir = os.path.join(store_dir(name, "tls"), "docker")
    tls = None
    if os.path.isdir(tls_dir):
        from cli.client import TLSConfig
        tls = TLSConfig(not endpoint.get("SkipTLSVerify"), os.path.join(tls_dir, "ca.pem"),
                        os.path.join(tls_dir, "cert.pem"), os.path.join(tls_dir, "key.pem"))
    return host, tls
