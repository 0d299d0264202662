"""pydockerd: the Docker Engine API daemon of pydocker.

HTTP (aiohttp, `server.py` + `routers/`) in front of a backend (`daemon/`) that keeps Docker-level
objects and drives pycontainerd over gRPC.
"""
