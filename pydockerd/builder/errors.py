"""Build errors, carrying Docker's texts and the HTTP status moby's errdefs class gives them."""
from __future__ import annotations

from pydockerd.errors import DockerError, InvalidParameter


class BuildError(DockerError):
    """A failure during a build step (moby returns these in-band, status 500 class)."""

    status = 500

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        # `code` is the exit status of a failed RUN: the CLI exits with it (errorDetail.code).
        self.code = code


class DockerfileError(InvalidParameter):
    """The Dockerfile or the build's parameters are invalid (errdefs.InvalidParameter, 400)."""


class TargetNotFound(DockerfileError):
    """`--target` names no stage (errdefs.NotFound, 404, before any output)."""

    status = 404


class ParseError(DockerfileError):
    """A syntax error found by the line parser; `line` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line
