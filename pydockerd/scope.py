"""Paths inside a container's tree, seen from the host: its symlinks resolve inside that tree."""
from __future__ import annotations

import errno
import os

MAX_LINKS = 255  # moby's maxSymlinkLimit


def in_scope(root: str, path: str, max_links: int = MAX_LINKS) -> str:
    """`path` of the tree at `root` with its symlinks followed inside that tree (moby's
    FollowSymlinkInScope): a link in the container to /etc names the container's /etc, not the host's.
    More than `max_links` links: OSError ELOOP."""
    parts, done, hops = [p for p in path.split("/") if p], root, 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            done = os.path.dirname(done) if done != root else root
            continue
        nxt = os.path.join(done, name)
        if os.path.islink(nxt):
            hops += 1
            if hops > max_links:
                raise OSError(errno.ELOOP, f"too many links in {path}")
            link = os.readlink(nxt)
            parts = [p for p in link.split("/") if p] + parts
            if link.startswith("/"):
                done = root
            continue
        done = nxt
    return done
