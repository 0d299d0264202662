"""Errors of the networking core, classed like Docker's errdefs so each layer maps them to its status.

The message is always Docker's own text: pydockerd passes it through to the user unchanged.
"""
from __future__ import annotations


class NetworkError(Exception):
    """Base class; ``kind`` names the errdefs class (and the gRPC code the service returns)."""

    kind = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(NetworkError):
    kind = "not_found"            # HTTP 404 / NOT_FOUND


class Conflict(NetworkError):
    kind = "conflict"             # HTTP 409 / ALREADY_EXISTS


class Forbidden(NetworkError):
    kind = "forbidden"            # HTTP 403 / PERMISSION_DENIED (moby's ForbiddenErrorf)


class InvalidArgument(NetworkError):
    kind = "invalid_argument"     # HTTP 400 / INVALID_ARGUMENT


class Unavailable(NetworkError):
    kind = "unavailable"          # e.g. no free subnet or address left (HTTP 503 / RESOURCE_EXHAUSTED)
