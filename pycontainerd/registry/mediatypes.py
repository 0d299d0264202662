"""Media types of Docker schema2 and OCI images (containerd ``images/mediatypes.go``)."""
from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

INDEX_TYPES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
MANIFEST_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED})
CONFIG_TYPES = frozenset({DOCKER_CONFIG, OCI_CONFIG})
LAYER_TYPES = frozenset({
    DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_FOREIGN_LAYER_GZIP, DOCKER_LAYER_ZSTD,
    OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, OCI_LAYER_ND, OCI_LAYER_ND_GZIP, OCI_LAYER_ND_ZSTD,
})

# Sent on every manifest request. Without the OCI types distribution 2.8 answers MANIFEST_UNKNOWN for
# OCI content; without schema2 it down-converts to schema1 when asked by tag.
MANIFEST_ACCEPT = ", ".join([DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX])

MAX_MANIFEST_SIZE = 4 << 20  # containerd's images.MaxManifestSize


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_layer(media_type: str) -> bool:
    return media_type in LAYER_TYPES


def zstd_available() -> bool:
    """zstd layers need the optional ``zstandard`` module (the stdlib has no zstd before 3.14)."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def layer_compression(media_type: str) -> str:
    """'gzip', 'zstd' or 'none' as the media type declares it (Docker ``…diff.tar`` may still be gzip: sniff it)."""
    if media_type.endswith("zstd"):
        return "zstd"
    if media_type.endswith("gzip"):
        return "gzip"
    return "none"


def sniff_compression(head: bytes) -> str:
    """Compression from the first bytes of a layer: gzip (1f 8b), zstd (28 b5 2f fd) or none."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"
