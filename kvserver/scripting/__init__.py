"""Lua scripting (EVAL, EVALSHA, FUNCTION, FCALL): the engine, on lupa's Lua 5.1.

lupa is an optional dependency (the extra ``kvserver[lua]``): nothing here imports it until a
script runs, and without it every scripting command answers ``UNAVAILABLE`` while the rest of the
server works as before. The engine knows nothing of commands, sockets or asyncio: it runs Lua and
converts values; ``kvserver.commands.scripting`` gives it a host that runs ``redis.call``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

UNAVAILABLE: Final = (
    "ERR Lua scripting is not available: install the optional extra kvserver[lua] (pip install 'kvserver[lua]')"
)

_lupa: ModuleType | None = None
_missing = False


def lupa_lua51() -> ModuleType | None:
    """``lupa.lua51``, imported on first use; None when lupa is not installed."""
    global _lupa, _missing
    if _lupa is None and not _missing:
        try:
            import lupa.lua51
        except ImportError:
            _missing = True
        else:
            _lupa = lupa.lua51
    return _lupa


def available() -> bool:
    return lupa_lua51() is not None
