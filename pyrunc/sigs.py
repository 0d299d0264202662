"""Signal helpers on the C-level ``_signal`` module (``signal`` pulls in enum: ~3 ms of start-up)."""
from __future__ import annotations

import _signal

NSIG = _signal.NSIG
SIGKILL = _signal.SIGKILL
NUMBERS = {name: getattr(_signal, name) for name in dir(_signal)
           if name.startswith("SIG") and not name.startswith("SIG_")
           and name not in ("SIGRTMIN", "SIGRTMAX")}


def describe(num: int) -> str:
    """Go's wording for a signal in "signal: …" errors ("killed", "bad system call")."""
    try:
        text = _signal.strsignal(num)
    except ValueError:
        text = None
    if not text:
        return f"signal {num}"
    return text[:1].lower() + text[1:]


def reset_all() -> None:
    """Default dispositions and an empty mask: ignored signals survive execve otherwise."""
    for s in range(1, NSIG):
        if s in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(s, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def forward_all(handler, skip: set[int]) -> None:
    for s in range(1, NSIG):
        if s in skip or s in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(s, handler)
        except (OSError, ValueError):
            pass
