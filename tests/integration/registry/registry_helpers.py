"""Helpers for registry client tests: Debian's docker-registry on 127.0.0.1 and image builders.

Every registry runs with its own config (random free port, temp storage, access log off) and is
stopped by its owner. No test talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from pycontainerd.registry import mediatypes as mt
from pycontainerd.registry.descriptors import Descriptor
from pycontainerd.registry.layout import LayoutStore

REGISTRY_BIN = "/usr/bin/docker-registry"
USER, PASSWORD = "alice", "wonderland"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Registry:
    host: str          # 127.0.0.1:PORT
    proc: subprocess.Popen
    root: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_registry(base: Path, htpasswd: bool = False) -> Registry:
    if not os.path.exists(REGISTRY_BIN):
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if htpasswd:
        if not shutil.which("htpasswd"):
            pytest.skip("htpasswd missing (apt-get install apache2-utils)")
        line = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True).stdout
        (base / "htpasswd").write_text(line.strip() + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: pydocker-test\n    path: {base / 'htpasswd'}\n"
    (base / "config.yml").write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {base / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n" + auth)
    with open(base / "registry.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([REGISTRY_BIN, "serve", str(base / "config.yml")], stdout=log, stderr=log)
    reg = Registry(f"127.0.0.1:{port}", proc, base)
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"http://{reg.host}/v2/", timeout=1)
            break
        except urllib.error.HTTPError as e:
            if e.code == 401:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            reg.stop()
            raise RuntimeError(f"docker-registry did not start: {(base / 'registry.log').read_text()[-2000:]}")
        time.sleep(0.1)
    return reg


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def small_layer(name: str, content: bytes) -> bytes:
    """A gzip layer holding one file."""
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as tf:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tf.addfile(info, io.BytesIO(content))
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(tbuf.getvalue())
    return buf.getvalue()


def add_image(store: LayoutStore, layers: list[bytes], *, arch: str = "amd64", oci: bool = False,
              variant: str = "") -> Descriptor:
    """Write layers, a config and a schema2 (or OCI) manifest into ``store``; return the manifest descriptor."""
    layer_descs = []
    diff_ids = []
    for data in layers:
        d = sha256_digest(data)
        store.write(data, d)
        layer_descs.append({"mediaType": mt.OCI_LAYER_GZIP if oci else mt.DOCKER_LAYER_GZIP, "digest": d, "size": len(data)})
        diff_ids.append(sha256_digest(gzip.decompress(data)))
    config = {"architecture": arch, "os": "linux", "config": {"Cmd": ["sh"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    if variant:
        config["variant"] = variant
    cbytes = json.dumps(config, sort_keys=True).encode()
    store.write(cbytes, sha256_digest(cbytes))
    manifest = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
                "config": {"mediaType": mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, "digest": sha256_digest(cbytes),
                           "size": len(cbytes)},
                "layers": layer_descs}
    mbytes = json.dumps(manifest, indent=3).encode()
    store.write(mbytes, sha256_digest(mbytes))
    return Descriptor(manifest["mediaType"], sha256_digest(mbytes), len(mbytes))


def add_index(store: LayoutStore, manifests: list[tuple[Descriptor, dict]], *, oci: bool = True) -> Descriptor:
    """An OCI index (or a Docker manifest list) of ``(manifest, platform)`` pairs."""
    media_type = mt.OCI_INDEX if oci else mt.DOCKER_MANIFEST_LIST
    idx = {"schemaVersion": 2, "mediaType": media_type,
           "manifests": [dict(d.to_dict(), platform=p) for d, p in manifests]}
    raw = json.dumps(idx).encode()
    store.write(raw, sha256_digest(raw))
    return Descriptor(media_type, sha256_digest(raw), len(raw))
