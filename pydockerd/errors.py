"""Error classes carrying the HTTP status Docker uses for them (moby's errdefs)."""
from __future__ import annotations


class DockerError(Exception):
    """An error with Docker's message text; `status` is the HTTP code the API answers with."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(DockerError):
    status = 400


class Unauthorized(DockerError):
    """401: `docker pull` then asks for credentials and retries."""

    status = 401


class Forbidden(DockerError):
    status = 403


class NotFound(DockerError):
    status = 404


class Conflict(DockerError):
    status = 409


class NotModified(DockerError):
    """304: start of a running container, stop of a stopped one."""

    status = 304


class Unavailable(DockerError):
    status = 503


class NotImplementedYet(DockerError):
    status = 501


class SystemError_(DockerError):
    status = 500


class AlreadyExists(Conflict):
    """containerd's ALREADY_EXISTS (a Conflict for HTTP)."""


class TooLarge(DockerError):
    status = 413


class FailedPrecondition(DockerError):
    status = 412


def no_such_container(name: str) -> NotFound:
    return NotFound(f"No such container: {name}")


def no_such_image(ref: str) -> NotFound:
    return NotFound(f"No such image: {ref}")
