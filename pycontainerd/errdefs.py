"""Error kinds shared by the core modules, mapped to gRPC codes as containerd's errdefs does.

Messages end with containerd's suffix (": not found", ...) because containerd formats its
errors as "<context>: <kind>" and clients show that text verbatim.
"""
from __future__ import annotations


class ContainerdError(Exception):
    """Base class; `kind` is the errdefs suffix, `code` the gRPC status code name."""

    kind = "unknown"
    code = "UNKNOWN"

    def __init__(self, context: str = "", *, raw: bool = False) -> None:
        if raw or not context:
            msg = context or self.kind
        else:
            msg = f"{context}: {self.kind}"
        super().__init__(msg)
        self.message = msg


class NotFound(ContainerdError):
    kind = "not found"
    code = "NOT_FOUND"


class AlreadyExists(ContainerdError):
    kind = "already exists"
    code = "ALREADY_EXISTS"


class FailedPrecondition(ContainerdError):
    kind = "failed precondition"
    code = "FAILED_PRECONDITION"


class InvalidArgument(ContainerdError):
    kind = "invalid argument"
    code = "INVALID_ARGUMENT"


class Unavailable(ContainerdError):
    kind = "unavailable"
    code = "UNAVAILABLE"


class NotImplementedErr(ContainerdError):
    kind = "not implemented"
    code = "UNIMPLEMENTED"


class Unknown(ContainerdError):
    kind = "unknown"
    code = "UNKNOWN"
