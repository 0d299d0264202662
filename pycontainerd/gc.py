"""Garbage collection of one namespace's content and committed snapshots (after image/lease deletes).

Roots, as in containerd: every image's target, every lease's resources, content labelled
`containerd.io/gc.root`. From content, references follow the manifest/index structure and the
`containerd.io/gc.ref.content.*` / `containerd.io/gc.ref.snapshot.overlayfs` labels; an image
also holds the chain IDs of its layers. Active and view snapshots are never collected (clients
such as pydockerd prepare them before creating the container that references them), and
neither are their ancestors nor content and snapshots younger than GRACE seconds, which protects
clients (and imports) that write content before naming it in an image without a lease.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from .content import ContentStore
from .errdefs import NotFound
from .images import ImageStore, chain_ids
from .leases import LeaseManager
from .snapshots.overlay import KIND_COMMITTED, OverlaySnapshotter

log = logging.getLogger("pycontainerd.gc")
GRACE = 60.0
LABEL_ROOT = "containerd.io/gc.root"
LABEL_REF_CONTENT = "containerd.io/gc.ref.content"
LABEL_REF_SNAPSHOT = "containerd.io/gc.ref.snapshot.overlayfs"
LABEL_EXPIRE = "containerd.io/gc.expire"  # RFC 3339 time after which a lease no longer holds anything


def _expired(value: str, now: float) -> bool:
    """True when an RFC 3339 `containerd.io/gc.expire` time is in the past (unparsable: never)."""
    from datetime import datetime
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Go prints nanoseconds; Python parses at most microseconds
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = head + "." + digits[:6].ljust(6, "0") + rest[len(digits):]
    try:
        return datetime.fromisoformat(text).timestamp() < now
    except ValueError:
        return False


@dataclass
class Collected:
    content: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)


def _children(cs: ContentStore, ns: str, digest: str, labels: dict[str, str]) -> tuple[set[str], set[str]]:
    """(content digests, snapshot keys) that `digest` references."""
    content, snaps = set(), set()
    for k, v in labels.items():
        if k.startswith(LABEL_REF_CONTENT):
            content.add(v)
        elif k.startswith(LABEL_REF_SNAPSHOT):
            snaps.add(v)
    try:
        with cs.open(ns, digest) as f:
            head = f.read(4 << 20)
    except NotFound:
        return content, snaps
    if not head.lstrip().startswith(b"{"):
        return content, snaps  # a layer
    try:
        doc = json.loads(head)
    except ValueError:
        return content, snaps
    if not isinstance(doc, dict):
        return content, snaps
    for m in doc.get("manifests") or []:
        if isinstance(m, dict) and "digest" in m:
            content.add(m["digest"])
    cfg = doc.get("config")
    if isinstance(cfg, dict) and "digest" in cfg:
        content.add(cfg["digest"])
    for layer in doc.get("layers") or []:
        if isinstance(layer, dict) and "digest" in layer:
            content.add(layer["digest"])
    diff_ids = (doc.get("rootfs") or {}).get("diff_ids") if isinstance(doc.get("rootfs"), dict) else None
    if isinstance(diff_ids, list) and all(isinstance(d, str) for d in diff_ids):
        snaps.update(chain_ids(diff_ids))  # an image config holds its unpacked layers
    return content, snaps


def _reachable(cs: ContentStore, ns: str, roots: set[str], infos: dict) -> tuple[set[str], set[str]]:
    """Content and snapshots reachable from ``roots``."""
    content: set[str] = set()
    snaps: set[str] = set()
    todo = list(roots)
    while todo:
        d = todo.pop()
        if d in content or d not in infos:
            continue
        content.add(d)
        c, s = _children(cs, ns, d, infos[d].labels)
        todo.extend(c - content)
        snaps |= s
    return content, snaps


def collect(ns: str, cs: ContentStore, sn: "OverlaySnapshotter | list", images: ImageStore, leases: LeaseManager,
            now: float | None = None, released: set[str] | frozenset[str] = frozenset()) -> Collected:
    """One collection: content once, then the snapshots of ``sn`` (a snapshotter or a list of them).
    ``released``: targets of images just deleted; what they reached loses the young-object grace
    (it was named by an image, so it is no unnamed in-flight write) and goes now unless still referenced."""
    now = time.time() if now is None else now
    infos = {i.digest: i for i in cs.list(ns)}
    freed_content, freed_snaps = _reachable(cs, ns, set(released), infos) if released else (set(), set())
    todo = [img.target.digest for img in images.list(ns)]
    keep_snaps: set[str] = set()
    for lease in leases.list(ns):
        if LABEL_EXPIRE in lease.labels and _expired(lease.labels[LABEL_EXPIRE], now):
            leases.delete(ns, lease.id)  # containerd's collector drops expired leases too
            continue
        for rid, rtype in lease.resources:
            if rtype == "content":
                todo.append(rid)
            elif rtype.startswith("snapshots/"):
                keep_snaps.add(rid)
    todo += [d for d, i in infos.items()
             if i.labels.get(LABEL_ROOT) or (now - i.created_at < GRACE and d not in freed_content)]
    keep: set[str] = set()
    while todo:
        d = todo.pop()
        if d in keep:
            continue
        keep.add(d)
        if d in infos:
            content, snaps = _children(cs, ns, d, infos[d].labels)
            todo.extend(content - keep)
            keep_snaps |= snaps
    out = Collected()
    for d in infos:
        if d not in keep:
            try:
                cs.delete(ns, d)
                out.content.append(d)
            except NotFound:
                pass
    for one in (sn if isinstance(sn, list) else [sn]):
        _collect_snapshots(ns, one, keep_snaps, freed_snaps, now, out)
    if out.content or out.snapshots:
        log.info("gc %s: removed %d blobs, %d snapshots", ns, len(out.content), len(out.snapshots))
    return out

def _collect_snapshots(ns: str, sn: OverlaySnapshotter, keep_snaps: set[str], freed_snaps: set[str], now: float,
                       out: Collected) -> None:
    # Snapshots: keep referenced ones, every active/view snapshot, and all their ancestors.
    snaps = {s.name: s for s in sn.list(ns)}
    stack = [k for k in keep_snaps if k in snaps] + [k for k, s in snaps.items()
                                                      if s.kind != KIND_COMMITTED
                                                      or (now - s.created_at < GRACE and k not in freed_snaps)]
    live: set[str] = set()
    while stack:
        k = stack.pop()
        if k in live or k not in snaps:
            continue
        live.add(k)
        if snaps[k].parent:
            stack.append(snaps[k].parent)
    # Remove leaves first: a parent goes only once its children are gone.
    dead = [k for k in snaps if k not in live]
    while dead:
        progressed = False
        for k in list(dead):
            if not any(s.parent == k for s in snaps.values()):
                sn.remove(ns, k)
                out.snapshots.append(k)
                del snaps[k]
                dead.remove(k)
                progressed = True
        if not progressed:
            break
