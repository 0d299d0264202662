"""The one error type every subcommand raises; main() turns it into a log line and an exit code."""


class RuncError(Exception):
    """An error reported to the caller with runc's wording.

    ``code`` is the process exit status (runc exits 1, ``exec`` 255).
    """

    def __init__(self, msg: str, code: int = 1) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code

    def __str__(self) -> str:
        return self.msg


class InitError(RuncError):
    """A failure reported by the container's init (runc: "unable to start container process")."""


def oserror_text(e: OSError) -> str:
    """Go-style text for an OSError: ``no such file or directory`` (lower case, no errno)."""
    import os
    text = os.strerror(e.errno) if e.errno else str(e)
    return text[:1].lower() + text[1:]
