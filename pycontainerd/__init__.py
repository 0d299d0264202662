"""pycontainerd: containerd's gRPC API in Python (content, images, snapshots, containers, tasks).

Kept import-free: the shim runs as `python -m pycontainerd.shim` and must load nothing but the stdlib.
"""
