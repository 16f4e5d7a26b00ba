"""Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): * ? [abc] [^a] [a-z] and \\ escapes."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=256)
def compile_glob(pattern: bytes) -> re.Pattern[bytes]:
    """Translate a Redis glob to a compiled bytes regex that must match the whole subject."""
    out = bytearray()
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out += b".*"
        elif c == b"?":
            out += b"."
        elif c == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif c == b"[":
            i, cls = _char_class(pattern, i + 1)
            out += cls
            continue
        else:
            out += re.escape(c)
        i += 1
    return re.compile(bytes(out), re.DOTALL)


def _char_class(pattern: bytes, i: int) -> tuple[int, bytes]:
    """Translate a [...] class starting after the bracket; return the index after it."""
    n = len(pattern)
    negate = i < n and pattern[i : i + 1] == b"^"
    if negate:
        i += 1
    parts = bytearray()
    while i < n and pattern[i : i + 1] != b"]":
        c = pattern[i : i + 1]
        if c == b"\\" and i + 1 < n:
            i += 1
            parts += re.escape(pattern[i : i + 1])
        elif i + 2 < n and pattern[i + 1 : i + 2] == b"-" and pattern[i + 2 : i + 3] != b"]":
            low, high = sorted((pattern[i], pattern[i + 2]))  # Redis accepts reversed ranges
            parts += re.escape(bytes([low])) + b"-" + re.escape(bytes([high]))
            i += 2
        else:
            parts += re.escape(c)
        i += 1
    # like Redis, a class left open at the end of the pattern simply ends there
    body = bytes(parts)
    if not body:
        return i + 1, b"[^\\s\\S]" if not negate else b"[\\s\\S]"
    return i + 1, b"[" + (b"^" if negate else b"") + body + b"]"


def glob_match(pattern: bytes, subject: bytes) -> bool:
    if pattern == b"*":
        return True
    return compile_glob(pattern).fullmatch(subject) is not None
