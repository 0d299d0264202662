"""Metadata store: namespaced JSON records in SQLite (atomic, survives kill -9).

One table holds every kind of record (namespace, image, container, lease, content, snapshot),
keyed by (namespace, kind, key). Callers serialise their own dataclasses to dicts.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .errdefs import AlreadyExists, FailedPrecondition, NotFound

NAMESPACE = "namespace"


class Store:
    """A thread-safe wrapper around one SQLite connection (WAL, autocommit per transaction)."""

    def __init__(self, path: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS records (ns TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
            " value TEXT NOT NULL, PRIMARY KEY (ns, kind, key))"
        )
        self._lock = threading.RLock()
        self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def tx(self) -> Iterator["Store"]:
        """A (re-entrant) transaction: all or nothing."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def get(self, ns: str, kind: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM records WHERE ns=? AND kind=? AND key=?", (ns, kind, key)
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def list(self, ns: str, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT value FROM records WHERE ns=? AND kind=? ORDER BY key", (ns, kind)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def keys(self, ns: str, kind: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT key FROM records WHERE ns=? AND kind=? ORDER BY key", (ns, kind)).fetchall()
        return [r[0] for r in rows]

    def put(self, ns: str, kind: str, key: str, value: dict[str, Any]) -> None:
        with self.tx():
            self._db.execute(
                "INSERT OR REPLACE INTO records (ns, kind, key, value) VALUES (?, ?, ?, ?)",
                (ns, kind, key, json.dumps(value, sort_keys=True)),
            )

    def delete(self, ns: str, kind: str, key: str) -> bool:
        with self.tx():
            cur = self._db.execute("DELETE FROM records WHERE ns=? AND kind=? AND key=?", (ns, kind, key))
        return cur.rowcount > 0

    def kinds_in(self, ns: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT kind FROM records WHERE ns=? ORDER BY kind", (ns,)).fetchall()
        return [r[0] for r in rows]

    def namespaces_referencing(self, kind: str, key: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT ns FROM records WHERE kind=? AND key=?", (kind, key)).fetchall()
        return [r[0] for r in rows]

    # Namespaces are records in the "" namespace; they are created implicitly on first use.

    def ensure_namespace(self, ns: str) -> None:
        with self.tx():
            if self.get("", NAMESPACE, ns) is None:
                self.put("", NAMESPACE, ns, {"name": ns, "labels": {}})

    def create_namespace(self, ns: str, labels: dict[str, str]) -> dict[str, Any]:
        with self.tx():
            if self.get("", NAMESPACE, ns) is not None:
                raise AlreadyExists(f'namespace "{ns}"')
            rec = {"name": ns, "labels": dict(labels)}
            self.put("", NAMESPACE, ns, rec)
        return rec

    def delete_namespace(self, ns: str) -> None:
        with self.tx():
            if self.get("", NAMESPACE, ns) is None:
                raise NotFound(f'namespace "{ns}"')
            used = [k for k in self.kinds_in(ns) if k != "lease"]
            if used:
                # containerd's wording, with its bucket names
                names = {"content": "blobs", "image": "images", "container": "containers",
                         "snapshot": "snapshots"}
                raise FailedPrecondition(
                    f'namespace "{ns}" must be empty, but it still has {", ".join(names.get(k, k) for k in used)}'
                )
            with self._lock:
                self._db.execute("DELETE FROM records WHERE ns=?", (ns,))
            self.delete("", NAMESPACE, ns)
