"""Registry client for pycontainerd: references, auth, pull and push over the OCI distribution API.

A plain asyncio + aiohttp package (no gRPC), used by pycontainerd's Images/Transfer services:

    from pycontainerd.registry import RegistryClient, PullProgress, decode_registry_auth_header, static_credentials
    from pycontainerd.registry.contentstore import ContentStoreBlobs

    ref = parse_reference("busybox")                        # docker.io/library/busybox:latest
    creds = static_credentials(decode_registry_auth_header(x_registry_auth))
    progress = PullProgress(send_json, repository_path=ref.path, tag_or_digest=ref.tag or ref.digest,
                            familiar_ref=ref.familiar_string())
    async with RegistryClient(creds, insecure_registries=daemon_insecure) as rc:
        result = await rc.pull(ref, ContentStoreBlobs(content_store, "moby"), platform=None, progress=progress)
    # unpack result.layers (check result.diff_ids), create the image record name=str(ref) target=result.target,
    # then progress.done(result.target.digest, updated=<record changed>)

Every blob reaches the store only after its size and digest were verified. A session passed in must be
created with ``auto_decompress=False`` (blobs are stored as served).
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
