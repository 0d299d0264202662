"""registry.feed: reading a layer while its download appends to it (extract while downloading)."""
from __future__ import annotations

import os
import threading
import time

import pytest

from pycontainerd.registry.errors import DigestMismatchError
from pycontainerd.registry.feed import LayerFeed

D = "sha256:" + "a" * 64


def _reader_thread(reader, out: list, errors: list):
    def run():
        try:
            while chunk := reader.read(7):
                out.append(chunk)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_reader_follows_the_file_and_ends_only_after_verification(tmp_path):
    path = tmp_path / "blob.partial"
    feed = LayerFeed([(D, 20)])
    tail = feed.get(D)
    f = open(path, "wb", buffering=0)
    tail.attach(str(path), 0)
    out, errors = [], []
    t = _reader_thread(tail.reader(), out, errors)
    f.write(b"0123456789")
    tail.grew(10)
    deadline = time.monotonic() + 5
    while b"".join(out) != b"0123456789" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b"".join(out) == b"0123456789"  # seen before the download ended
    f.write(b"abcdefghij")
    tail.grew(20)
    time.sleep(0.1)
    assert t.is_alive()  # every byte read, but no end until the digest matched and the blob is stored
    f.close()
    final = tmp_path / "blob"
    os.replace(path, final)
    tail.finish(str(final))
    t.join(5)
    assert not t.is_alive() and not errors and b"".join(out) == b"0123456789abcdefghij"
    feed.close()


def test_failed_download_reaches_the_reader_and_settle(tmp_path):
    path = tmp_path / "blob.partial"
    feed = LayerFeed([(D, 10)])
    tail = feed.get(D)
    path.write_bytes(b"")
    tail.attach(str(path), 0)
    reader = tail.reader()
    out, errors = [], []
    t = _reader_thread(reader, out, errors)
    err = DigestMismatchError(f"blob {D}", D, "sha256:" + "b" * 64)
    feed.fail(err)
    t.join(5)
    assert errors == [err]
    with pytest.raises(DigestMismatchError):
        reader.settle()
    feed.close()


def test_a_resumed_download_shows_nothing_until_verified(tmp_path):
    # a registry may ignore Range and send the blob again from byte 0: a reader must not have seen
    # the bytes of the earlier attempt
    path = tmp_path / "blob.partial"
    path.write_bytes(b"01234")
    feed = LayerFeed([(D, 10)])
    tail = feed.get(D)
    tail.attach(str(path), 5)
    with open(path, "ab") as f:
        f.write(b"56789")
    tail.grew(10)
    out, errors = [], []
    t = _reader_thread(tail.reader(), out, errors)
    time.sleep(0.1)
    assert out == [] and t.is_alive()
    tail.finish(str(path))
    t.join(5)
    assert b"".join(out) == b"0123456789" and not errors
    feed.close()


def test_each_reader_has_its_own_position_and_closing_fails_waiters(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"xyz")
    feed = LayerFeed([(D, 3), ("sha256:" + "c" * 64, 1)])
    tail = feed.get(D)
    tail.finish(str(path))  # brought by another pull: never attached
    r1, r2 = tail.reader(), tail.reader()
    assert r1.read(2) == b"xy" and r2.read(10) == b"xyz" and r1.read(10) == b"z" and r1.read(10) == b""
    assert feed.get("sha256:" + "d" * 64) is None  # not downloaded by this pull: read it from the store
    waiting = feed.get("sha256:" + "c" * 64).reader()
    feed.close()
    with pytest.raises(RuntimeError, match="ended"):
        waiting.read(1)
