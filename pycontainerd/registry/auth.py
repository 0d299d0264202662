"""Registry authentication: challenges, Docker auth configs, Bearer tokens and Basic auth.

Follows the distribution token spec (``docs/spec/auth/token.md``) and Docker's handling of credentials:
``X-Registry-Auth`` (base64url JSON) as pydockerd receives it, and ``~/.docker/config.json`` ``auths``
entries as ``docker login`` writes them.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping

import aiohttp

from .errors import RegistryProtocolError, RegistryUnavailableError, UnauthorizedError

DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"  # the key `docker login` uses for Docker Hub
MIN_TOKEN_LIFETIME = 60  # seconds; distribution's default and Docker's floor for expires_in
TOKEN_CLIENT_ID = "pydocker"

# ---------------------------------------------------------------------------------------------------
# WWW-Authenticate


@dataclass(frozen=True)
class Challenge:
    scheme: str                     # lowercased: "bearer", "basic"
    params: Mapping[str, str] = field(default_factory=dict)


_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
# Unquoted values are tokens by the RFC; some servers send URLs unquoted, so take anything up to a comma.
_PARAM_RE = re.compile(rf"\s*({_TOKEN})\s*=\s*(?:{_QUOTED}|([^,\s\"]+))\s*")
_SCHEME_RE = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)")


def parse_www_authenticate(headers: str | Iterable[str]) -> list[Challenge]:
    """Parse one or more ``WWW-Authenticate`` values (RFC 7235) into challenges.

    Several challenges may share one header (``Bearer realm="a",service="b", Basic realm="c"``); a new one
    starts wherever a bare token is not followed by ``=``. Quoted values may hold commas and escapes.
    """
    values = [headers] if isinstance(headers, str) else list(headers)
    out: list[Challenge] = []
    for value in values:
        pos, current = 0, None
        while pos < len(value):
            if value[pos] in ", \t":
                pos += 1
                continue
            m = _PARAM_RE.match(value, pos)
            if m and current is not None:
                raw = m.group(2)
                current[1][m.group(1).lower()] = (re.sub(r"\\(.)", r"\1", raw) if raw is not None
                                                  else m.group(3))
                pos = m.end()
                continue
            s = _SCHEME_RE.match(value, pos)
            if not s:
                break  # malformed tail: keep what parsed
            current = (s.group(1).lower(), {})
            out.append(Challenge(current[0], current[1]))
            pos = s.end()
    return out


# ---------------------------------------------------------------------------------------------------
# Credentials


@dataclass
class AuthConfig:
    """Docker's ``AuthConfig`` (api/types/registry): what ``X-Registry-Auth`` and config.json carry."""

    username: str = ""
    password: str = ""
    auth: str = ""            # base64("user:pass"), as in config.json
    email: str = ""
    serveraddress: str = ""
    identitytoken: str = ""   # an OAuth2 refresh token (docker login against token servers)
    registrytoken: str = ""   # a bearer token sent to the registry as is

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AuthConfig":
        # Go's encoding/json matches keys case-insensitively; clients send "Username", "username" …
        lower = {str(k).lower(): v for k, v in d.items()}
        cfg = cls(**{f: str(lower.get(f) or "") for f in cls.__dataclass_fields__})
        if cfg.auth and not cfg.username:
            cfg.username, cfg.password = decode_auth_field(cfg.auth)
        return cfg

    def to_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}

    @property
    def empty(self) -> bool:
        return not (self.username or self.password or self.identitytoken or self.registrytoken)


CredentialsProvider = Callable[[str], "AuthConfig | None"]


def static_credentials(cfg: AuthConfig | None) -> CredentialsProvider:
    """A provider that answers ``cfg`` for every host (one pull/push with the client's X-Registry-Auth)."""
    return lambda host: None if cfg is None or cfg.empty else cfg


def decode_auth_field(value: str) -> tuple[str, str]:
    """Split a config.json ``auth`` field (base64 of ``user:password``)."""
    try:
        text = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError(f"invalid auth field in docker config: {e}") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError("invalid auth field in docker config: no ':' between username and password")
    return user, password


def decode_registry_auth_header(value: str | None) -> AuthConfig | None:
    """Decode the ``X-Registry-Auth`` header pydockerd receives: base64url(JSON AuthConfig).

    Padding may be missing and old clients use the standard alphabet; both are accepted as Docker does.
    An empty header or ``{}`` means no credentials (None).
    """
    if not value or not value.strip():
        return None
    value = value.strip()
    raw = None
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            raw = decode(value + "=" * (-len(value) % 4))
            break
        except (binascii.Error, ValueError):
            continue
    if raw is None:
        raise ValueError("invalid X-Registry-Auth header: must be a valid base64url-encoded string")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"invalid X-Registry-Auth header: invalid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("invalid X-Registry-Auth header: not a base64url-encoded JSON object")
    cfg = AuthConfig.from_dict(data)
    return None if cfg.empty else cfg


def encode_registry_auth_header(cfg: AuthConfig) -> str:
    """The ``X-Registry-Auth`` value the docker CLI sends for ``cfg``."""
    return base64.urlsafe_b64encode(json.dumps(cfg.to_dict()).encode()).decode()


def config_key(host: str) -> str:
    """The config.json ``auths`` key for a registry host (Docker Hub has its legacy URL)."""
    if host in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        return DOCKER_HUB_AUTH_KEY
    return host


def _key_hostname(key: str) -> str:
    # Docker's ConvertToHostname: keys may be URLs ("https://host/v1/") or bare hosts.
    key = re.sub(r"^https?://", "", key)
    return key.split("/", 1)[0]


def default_docker_config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def load_docker_config(path: str | None = None) -> dict[str, Any]:
    path = path or default_docker_config_path()
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid docker config {path}: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"invalid docker config {path}: not a JSON object")
    return data


def credentials_from_config(config: Mapping[str, Any], host: str) -> AuthConfig | None:
    """Credentials for ``host`` from a loaded config.json (``auths`` only; credential helpers are not run)."""
    auths = config.get("auths") or {}
    wanted = config_key(host)
    for key, entry in auths.items():
        if key == wanted or _key_hostname(key) == _key_hostname(wanted):
            if not isinstance(entry, dict):
                continue
            cfg = AuthConfig.from_dict(entry)
            cfg.serveraddress = cfg.serveraddress or key
            return None if cfg.empty else cfg
    return None


def config_credentials(path: str | None = None) -> CredentialsProvider:
    """A provider reading ``path`` (default ``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``)."""
    config = load_docker_config(path)
    return lambda host: credentials_from_config(config, host)


def store_credentials(host: str, cfg: AuthConfig, path: str | None = None) -> None:
    """Save credentials as ``docker login`` does: ``auths[key].auth = base64(user:pass)``, file mode 0600."""
    path = path or default_docker_config_path()
    config = load_docker_config(path)
    entry: dict[str, str] = {}
    if cfg.username or cfg.password:
        entry["auth"] = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
    if cfg.identitytoken:
        entry["identitytoken"] = cfg.identitytoken
    config.setdefault("auths", {})[config_key(host)] = entry
    _write_config(path, config)


def remove_credentials(host: str, path: str | None = None) -> bool:
    """Forget the credentials of ``host`` (``docker logout``); False when there were none."""
    path = path or default_docker_config_path()
    config = load_docker_config(path)
    auths = config.get("auths") or {}
    keys = [k for k in auths if k == config_key(host) or _key_hostname(k) == _key_hostname(config_key(host))]
    for k in keys:
        del auths[k]
    if keys:
        _write_config(path, config)
    return bool(keys)


def _write_config(path: str, config: Mapping[str, Any]) -> None:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config.json.", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "w") as f:  # mkstemp makes it 0600: credentials stay private
            json.dump(config, f, indent="\t")
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# ---------------------------------------------------------------------------------------------------
# Authorizer: turns challenges into Authorization headers, caching tokens


def repository_scope(path: str, actions: str = "pull") -> str:
    return f"repository:{path}:{actions}"


@dataclass
class _Token:
    value: str
    expires_at: float


class Authorizer:
    """Per-client auth state: the challenges each host sent and tokens per (realm, service, scopes).

    Hosts answer a first request with 401 and a challenge; later requests to the same host get the
    header up front, so request bodies are sent once.
    """

    def __init__(self, credentials: CredentialsProvider | None = None, *, clock: Callable[[], float] = time.monotonic):
        self._credentials = credentials or static_credentials(None)
        self._challenges: dict[str, list[Challenge]] = {}
        self._tokens: dict[tuple[str, str, tuple[str, ...], str], _Token] = {}
        self._clock = clock

    def credentials_for(self, host: str) -> AuthConfig | None:
        return self._credentials(host)

    def add_challenges(self, host: str, www_authenticate: Iterable[str]) -> bool:
        """Remember the challenges of a 401; True when one of them is a scheme we can answer."""
        usable = [c for c in parse_www_authenticate(www_authenticate) if c.scheme in ("bearer", "basic")]
        if usable:
            self._challenges[host] = usable
        return bool(usable)

    def has_challenge(self, host: str) -> bool:
        return host in self._challenges

    def invalidate(self, host: str, scopes: Iterable[str]) -> None:
        """Drop cached tokens for a host's scopes (a token that was refused)."""
        wanted = tuple(sorted(set(scopes)))
        for c in self._challenges.get(host, []):
            for key in [k for k in self._tokens if k[0] == c.params.get("realm") and k[2] == wanted]:
                del self._tokens[key]

    async def header(self, session: aiohttp.ClientSession, host: str, scopes: Iterable[str]) -> str | None:
        """The ``Authorization`` value for a request to ``host`` needing ``scopes``; None for anonymous."""
        challenges = self._challenges.get(host)
        if not challenges:
            return None
        creds = self._credentials(host)
        for c in challenges:  # prefer bearer: registries offering both want tokens
            if c.scheme == "bearer":
                return "Bearer " + await self._token(session, host, c, scopes, creds)
        if creds is None or not (creds.username or creds.password):
            raise UnauthorizedError("no basic auth credentials")  # docker/distribution errNoBasicAuthCredentials
        return basic_header(creds.username, creds.password)

    async def _token(self, session: aiohttp.ClientSession, host: str, c: Challenge,
                     scopes: Iterable[str], creds: AuthConfig | None) -> str:
        if creds is not None and creds.registrytoken:
            return creds.registrytoken
        realm = c.params.get("realm")
        if not realm:
            raise RegistryProtocolError(f"registry {host} sent a Bearer challenge without realm")
        service = c.params.get("service", "")
        wanted = set(scopes)
        if c.params.get("scope"):
            wanted.update(c.params["scope"].split())
        scope_key = tuple(sorted(wanted))
        identity = "" if creds is None else f"{creds.username}\0{creds.identitytoken}"
        key = (realm, service, scope_key, identity)
        cached = self._tokens.get(key)
        if cached and cached.expires_at > self._clock():
            return cached.value
        token, lifetime = await self._fetch_token(session, realm, service, scope_key, creds)
        # Renew a little early so a token does not expire between header and request.
        self._tokens[key] = _Token(token, self._clock() + max(lifetime, MIN_TOKEN_LIFETIME) - 5)
        return token

    async def _fetch_token(self, session: aiohttp.ClientSession, realm: str, service: str,
                           scopes: tuple[str, ...], creds: AuthConfig | None) -> tuple[str, int]:
        if creds is not None and creds.identitytoken:
            # OAuth2 refresh-token grant, as Docker does for identity tokens from `docker login`.
            form = {"grant_type": "refresh_token", "refresh_token": creds.identitytoken,
                    "client_id": TOKEN_CLIENT_ID, "scope": " ".join(scopes)}
            if service:
                form["service"] = service
            return await self._token_request(session, "POST", realm, data=form)
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        headers = {}
        if creds is not None and (creds.username or creds.password):
            params.append(("account", creds.username))
            headers["Authorization"] = basic_header(creds.username, creds.password)
        return await self._token_request(session, "GET", realm, params=params, headers=headers)

    async def _token_request(self, session: aiohttp.ClientSession, method: str, realm: str, **kw: Any) -> tuple[str, int]:
        try:
            async with session.request(method, realm, allow_redirects=True, **kw) as resp:
                body = await resp.read()
                if resp.status in (401, 403):
                    raise UnauthorizedError(_error_text(body, "unauthorized", resp.status, f"token server {realm}"))
                if resp.status != 200:
                    raise RegistryProtocolError(
                        f"token server {realm} answered {resp.status}: {body[:200].decode(errors='replace')}")
        except aiohttp.ClientError as e:
            raise RegistryUnavailableError(f"token server {realm} unreachable: {e}") from None
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            raise RegistryProtocolError(f"token server {realm} returned invalid JSON") from None
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryProtocolError(f"token server {realm} returned no token")
        try:
            lifetime = int(data.get("expires_in") or MIN_TOKEN_LIFETIME)
        except (TypeError, ValueError):
            lifetime = MIN_TOKEN_LIFETIME
        return str(token), lifetime


def _error_text(body: bytes, default_code: str, status: int, who: str) -> str:
    """``code: message`` from a distribution errcode body (``{"errors":[…]}``), else a generic line."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict):
        errs = data.get("errors")
        if isinstance(errs, list) and errs:
            return "; ".join(format_errcode(e) for e in errs if isinstance(e, dict))
        detail = data.get("details") or data.get("detail") or data.get("message") or data.get("error")
        if detail:
            return f"{default_code}: {detail}"
    text = body[:200].decode(errors="replace").strip()
    return f"{default_code}: {who} answered {status}" + (f": {text}" if text else "")


def format_errcode(err: Mapping[str, Any]) -> str:
    """distribution errcode ``Error.Error()``: ``manifest unknown: manifest unknown``."""
    code = str(err.get("code") or "unknown").lower().replace("_", " ")
    message = str(err.get("message") or "")
    return f"{code}: {message}" if message else code
