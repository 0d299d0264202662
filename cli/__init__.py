"""pydocker: a Docker-compatible command-line client that speaks the Engine API."""
