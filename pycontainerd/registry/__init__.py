"""Registry client for pycontainerd: references, auth, pull and push over the OCI distribution API.

A plain asyncio + aiohttp package with no gRPC: the Images/Transfer services call ``RegistryClient``
with a ``BlobStore`` (the content store) and turn ``ProgressEvent``s into Docker's JSON progress lines
with ``progress.PullProgress`` / ``progress.PushProgress``.
"""
from .auth import (AuthConfig, config_credentials, decode_registry_auth_header, encode_registry_auth_header,
                   load_docker_config, credentials_from_config, remove_credentials, static_credentials,
                   store_credentials)
from .client import PullResult, RegistryClient
from .descriptors import Descriptor
from .errors import (DigestMismatchError, InvalidReferenceError, ManifestUnsupportedError,
                     NoMatchingPlatformError, NotFoundError, RegistryError, RegistryProtocolError,
                     RegistryUnavailableError, SizeMismatchError, UnauthorizedError, VerificationError)
from .layout import BlobStore, LayoutStore
from .platforms import DEFAULT_PLATFORM, Platform, parse_platform
from .progress import ProgressEvent, PullProgress, PushProgress
from .reference import Reference, familiar, parse_reference

__all__ = [
    "AuthConfig", "BlobStore", "DEFAULT_PLATFORM", "Descriptor", "DigestMismatchError", "InvalidReferenceError",
    "LayoutStore", "ManifestUnsupportedError", "NoMatchingPlatformError", "NotFoundError", "Platform",
    "ProgressEvent", "PullProgress", "PullResult", "PushProgress", "Reference", "RegistryClient",
    "RegistryError", "RegistryProtocolError", "RegistryUnavailableError", "SizeMismatchError",
    "UnauthorizedError", "VerificationError", "config_credentials", "credentials_from_config",
    "decode_registry_auth_header", "encode_registry_auth_header", "familiar", "load_docker_config",
    "parse_platform", "parse_reference", "remove_credentials", "static_credentials", "store_credentials",
]
