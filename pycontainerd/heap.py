"""glibc malloc knobs: the daemon's RSS should stay flat over pulls instead of keeping each peak."""
from __future__ import annotations

M_ARENA_MAX = -8


def _glibc(name: str, *args: int) -> None:
    import ctypes  # noqa: PLC0415  (only the daemon's start and the end of a pull need it)
    try:
        getattr(ctypes.CDLL(None), name)(*args)
    except (OSError, AttributeError):
        pass  # not glibc


def limit_arenas(n: int = 2) -> None:
    """Cap malloc's arenas: each worker thread (gRPC, unpack pool) otherwise gets one that keeps its peak,
    so idle RSS creeps up over the first pulls."""
    _glibc("mallopt", M_ARENA_MAX, n)


def trim() -> None:
    """Give freed heap memory back to the system (glibc keeps it in each thread's arena): after a pull's
    megabyte buffers are freed."""
    _glibc("malloc_trim", 0)
