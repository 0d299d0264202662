"""containerd's identifier rules (namespaces, container IDs, leases)."""
from __future__ import annotations

import re

from .errdefs import InvalidArgument

_IDENT = re.compile(r"^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$")
MAX_LENGTH = 76


def validate(value: str) -> None:
    """Raise InvalidArgument with containerd's wording when `value` is not a valid identifier."""
    if not value:
        raise InvalidArgument("identifier must not be empty")
    if len(value) > MAX_LENGTH:
        raise InvalidArgument(f"identifier {value!r} greater than maximum length ({MAX_LENGTH} characters)")
    if not _IDENT.match(value):
        raise InvalidArgument(f"identifier {value!r} must match {_IDENT.pattern}")
