"""Generated gRPC modules for containerd's API (and pycontainerd's own services).

The .proto files keep containerd's package, service, message and field names, so method paths and
Any type URLs are wire-identical. Run scripts/genprotos.sh to (re)generate the *_pb2 modules.
"""
