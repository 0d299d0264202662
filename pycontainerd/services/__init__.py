"""Thin gRPC servicers over the core modules, one module per containerd service."""
