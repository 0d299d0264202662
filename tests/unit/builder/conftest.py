"""Fixtures for the builder unit tests; the tar helpers live in buildtars.py (importable by name)."""
from buildtars import make_tar, reference_tar  # noqa: F401  (fixtures)
