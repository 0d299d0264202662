"""Errors of the registry client.

Every message names what failed (the reference, the blob digest, the host) and, where Docker has a
well-known wording, uses it, so pydockerd can pass ``str(err)`` to users unchanged.
"""
from __future__ import annotations


class RegistryError(Exception):
    """Base class of every error raised by ``pycontainerd.registry``."""


class InvalidReferenceError(RegistryError, ValueError):
    """A reference string that does not parse (Docker: ``invalid reference format``)."""


class UnauthorizedError(RegistryError):
    """The registry (or its token server) refused the credentials, or asked for some we do not have."""


class NotFoundError(RegistryError):
    """A manifest, blob or repository the registry does not have."""


class ManifestUnsupportedError(RegistryError):
    """A manifest we will not handle: schema1, an unknown media type, or one too large."""


class NoMatchingPlatformError(RegistryError):
    """An index or manifest list without an entry for the wanted platform."""


class VerificationError(RegistryError):
    """Downloaded content whose size or digest is not the one the descriptor promised."""


class DigestMismatchError(VerificationError):
    def __init__(self, what: str, expected: str, actual: str):
        super().__init__(f"digest mismatch for {what}: expected {expected}, got {actual}")
        self.expected = expected
        self.actual = actual


class SizeMismatchError(VerificationError):
    """Content shorter (truncated) or longer than its descriptor."""

    def __init__(self, what: str, expected: int, actual: int, *, truncated: bool):
        kind = "truncated" if truncated else "larger than its descriptor"
        super().__init__(f"{what} {kind}: expected {expected} bytes, got {actual}")
        self.expected = expected
        self.actual = actual
        self.truncated = truncated


class RegistryUnavailableError(RegistryError):
    """The registry could not be reached (connection refused, DNS, TLS, timeout)."""


class RegistryProtocolError(RegistryError):
    """The registry answered something the distribution spec does not allow (bad status, bad header)."""
