"""Exceptions that map to the CLI's messages and exit codes."""
from __future__ import annotations


class CLIError(Exception):
    """A failure printed to stderr as-is, exiting with `status` (Docker's cli.StatusError)."""

    def __init__(self, message: str = "", status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class UsageError(CLIError):
    """Bad flags or argument count; printed with the command's usage line.

    Flag errors exit 125 (cobra's FlagErrorFunc); arity errors exit 1 and say "docker: …".
    """

    def __init__(self, message: str, arity: bool = False, see: bool = False) -> None:
        super().__init__(message, 1 if arity else 125)
        self.arity = arity
        self.see = see


class APIError(CLIError):
    """An HTTP error from the daemon: `Error response from daemon: <message>`."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"Error response from daemon: {message}", 1)
        self.status_code = status_code
        self.explanation = message

    @property
    def not_found(self) -> bool:
        return self.status_code == 404


class ConnectError(CLIError):
    """The daemon socket could not be reached."""
