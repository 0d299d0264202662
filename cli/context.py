"""What every command gets: the API client (created on first use) and the standard streams."""
from __future__ import annotations

import sys

from cli.client import Client, TLSConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


class Context:
    def __init__(self, host: str | None = None, stdout: TextIO | None = None,
                 stderr: TextIO | None = None, stdin: TextIO | None = None, debug: bool = False,
                 tls: TLSConfig | None = None) -> None:
        self.host = host
        self.tls = tls
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.stdin = stdin or sys.stdin
        self.debug = debug
        self._client: Client | None = None
        self.cmd_path = ""  # e.g. "run" or "container ls", for messages

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.host, tls=self.tls)
        return self._client

    def write(self, text: str) -> None:
        self.out.write(text)

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def warn(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()
