"""Paths inside a container's tree, seen from the host: its symlinks resolve inside that tree."""
from __future__ import annotations

import os


def in_scope(root: str, path: str) -> str:
    """`path` of the tree at `root` with its symlinks followed inside that tree (moby's
    FollowSymlinkInScope): a link in the container to /etc names the container's /etc, not the host's."""
    parts, done, hops = [p for p in path.split("/") if p], root, 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            done = os.path.dirname(done) if done != root else root
            continue
        nxt = os.path.join(done, name)
        if os.path.islink(nxt):
            hops += 1
            if hops > 40:
                raise OSError(40, f"too many links in {path}")
            link = os.readlink(nxt)
            parts = [p for p in link.split("/") if p] + parts
            if link.startswith("/"):
                done = root
            continue
        done = nxt
    return done
