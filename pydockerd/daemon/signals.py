"""Signal names as the API receives them: `KILL`, `SIGKILL` or `9`."""
from __future__ import annotations

import signal as _signal

from ..errors import InvalidParameter

_BY_NAME = {s.name[3:]: int(s) for s in _signal.Signals if s.name.startswith("SIG") and not s.name.startswith("SIG_")}
# Linux real-time signals are accepted as RTMIN+n / RTMAX-n too.
_RTMIN, _RTMAX = _signal.SIGRTMIN, _signal.SIGRTMAX


def parse_signal(raw: str | int) -> int:
    if isinstance(raw, int):
        value = raw
    else:
        s = str(raw).strip().upper()
        if s.isdigit():
            value = int(s)
        else:
            s = s[3:] if s.startswith("SIG") else s
            if s in _BY_NAME:
                return _BY_NAME[s]
            if s.startswith("RTMIN+") and s[6:].isdigit():
                return int(_RTMIN) + int(s[6:])
            if s.startswith("RTMAX-") and s[6:].isdigit():
                return int(_RTMAX) - int(s[6:])
            raise InvalidParameter(f"Invalid signal: {raw}")
    if value <= 0 or value > int(_RTMAX):
        raise InvalidParameter(f"Invalid signal: {raw}")
    return value
