"""The pydockerd backend: Docker-level objects and their lifecycle, driving pycontainerd."""
