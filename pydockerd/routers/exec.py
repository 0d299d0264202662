"""/containers/{id}/exec and /exec/{id}/*: not served yet (see the report); kept out of the routes."""
from __future__ import annotations


def setup(router, d) -> None:
    """No exec routes are registered yet: unknown routes answer 404 `page not found` like moby's."""
