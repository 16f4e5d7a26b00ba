"""Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET): * ? [abc] [^a] [a-z] and \\ escapes.

The semantics are those of Redis 7.0's ``stringmatchlen`` (util.c), quirks included: a range
compares C ``char`` values (signed on x86, so bytes >= 0x80 sort below 0), a class left open
at the end of the pattern ends there, ``[a-]`` is the range a..], an empty subject is matched
only by the empty pattern, and an escape inside a class ignores ``nocase``.

Every token but ``*`` matches exactly one byte, so a pattern is ``S0 * S1 * ... * Sk`` where
each segment ``Si`` is a fixed-length run of one-byte tests. The subject matches iff S0 matches
at its start, Sk at its end, and S1..Sk-1 can be found in order in between; taking the leftmost
occurrence of each middle segment is optimal. The cost is O(len(pattern) * len(subject)) at
worst (and a C-speed ``bytes.find`` for literal segments), never exponential: Redis's own
recursion needed a fix for that (CVE-2022-36021). A pattern is compiled once per command by
the caller; nothing is cached here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

# A one-byte test: a byte value (literal) or a 256-byte table (nonzero: accepted).
Test = int | bytes
_ANY: Final = b"\x01" * 256


def _lower(c: int) -> int:
    """C's tolower in the C locale, on a (signed) char value."""
    return c + 32 if 65 <= c <= 90 else c


def _signed(c: int) -> int:
    return c - 256 if c >= 128 else c


def _set_range(table: bytearray, start: int, end: int) -> None:
    """Accept every byte whose signed value is in [start, end] (signed chars, as Redis compares)."""
    if start >= 0:
        table[start : end + 1] = b"\x01" * (end - start + 1)
    elif end < 0:
        table[start + 256 : end + 257] = b"\x01" * (end - start + 1)
    else:
        table[0 : end + 1] = b"\x01" * (end + 1)
        table[start + 256 : 256] = b"\x01" * (-start)


def _class(pattern: bytes, i: int, nocase: bool) -> tuple[bytes, int]:
    """The table of a ``[...]`` class whose body starts at ``i``; the index after the class.

    Walks the pattern exactly as stringmatchlen does (reading a NUL past the end, as C does).
    """
    n = len(pattern)

    def at(k: int) -> int:
        return pattern[k] if k < n else 0

    negate = at(i) == 94  # ^
    if negate:
        i += 1
    exact = bytearray(256)  # escapes: compared exactly, even with nocase
    folded = bytearray(256)  # literals and ranges, indexed by tolower(c) when nocase
    while True:
        c = at(i)
        if c == 92 and n - i >= 2:  # \x
            i += 1
            exact[pattern[i]] = 1
        elif c == 93:  # ]
            break
        elif i >= n:
            i -= 1
            break
        elif n - i >= 3 and pattern[i + 1] == 45:  # a-z
            start, end = _signed(c), _signed(pattern[i + 2])
            if start > end:
                start, end = end, start
            if nocase:
                start, end = _lower(start), _lower(end)
            if start <= end:
                _set_range(folded, start, end)
            i += 2
        else:
            folded[_lower(c) if nocase else c] = 1
        i += 1
    if nocase:
        folded = bytearray(folded[_lower(c)] for c in range(256))
    table = bytes(a | b for a, b in zip(exact, folded, strict=True))
    if negate:
        table = bytes(1 - v for v in table)
    return table, i + 1


def _tokens(pattern: bytes, nocase: bool) -> list[Test | None]:
    """The pattern as tests of one byte each, with None for ``*``."""
    out: list[Test | None] = []
    n = len(pattern)
    i = 0
    while i < n:
        c = pattern[i]
        if c == 42:  # *
            if not out or out[-1] is not None:
                out.append(None)
            i += 1
            continue
        if c == 63:  # ?
            out.append(_ANY)
        elif c == 91:  # [
            table, i = _class(pattern, i + 1, nocase)
            out.append(table)
            continue
        else:
            if c == 92 and n - i >= 2:  # \x
                i += 1
                c = pattern[i]
            if nocase and 97 <= _lower(c) <= 122:
                out.append(bytes(1 if _lower(v) == _lower(c) else 0 for v in range(256)))
            else:
                out.append(c)
        i += 1
    return out


class _Segment:
    """A fixed-length run of one-byte tests; a plain literal when every test is one byte."""

    __slots__ = ("literal", "size", "tests")

    def __init__(self, tests: list[Test]) -> None:
        self.size = len(tests)
        self.tests = tests
        self.literal: bytes | None = bytes(tests) if all(type(t) is int for t in tests) else None  # type: ignore[arg-type]

    def at(self, subject: bytes, pos: int) -> bool:
        """Whether the segment matches ``subject[pos : pos + size]`` (the caller checks length)."""
        if self.literal is not None:
            return subject.startswith(self.literal, pos)
        for test, c in zip(self.tests, subject[pos : pos + self.size], strict=True):
            if not (test == c if type(test) is int else test[c]):  # type: ignore[index]
                return False
        return True

    def find(self, subject: bytes, start: int, stop: int) -> int:
        """The leftmost position >= start where the segment fits before ``stop``, or -1."""
        if self.literal is not None:
            return subject.find(self.literal, start, stop)
        for pos in range(start, stop - self.size + 1):
            if self.at(subject, pos):
                return pos
        return -1


Matcher = Callable[[bytes], bool]


def compile_glob(pattern: bytes, nocase: bool = False) -> Matcher:
    """A function telling whether a subject matches ``pattern`` (Redis's stringmatchlen)."""
    if pattern == b"*":
        return lambda subject: len(subject) > 0
    if not pattern:
        return lambda subject: not subject
    segments: list[_Segment] = []
    run: list[Test] = []
    for token in _tokens(pattern, nocase):
        if token is None:
            segments.append(_Segment(run))
            run = []
        else:
            run.append(token)
    segments.append(_Segment(run))
    if len(segments) == 1:
        only = segments[0]
        return lambda subject: len(subject) == only.size and only.at(subject, 0)
    head, middle, tail = segments[0], segments[1:-1], segments[-1]
    minimum = sum(segment.size for segment in segments)

    def match(subject: bytes) -> bool:
        size = len(subject)
        if size < minimum or not size:
            return False
        end = size - tail.size
        if not head.at(subject, 0) or not tail.at(subject, end):
            return False
        pos = head.size
        for segment in middle:
            found = segment.find(subject, pos, end)
            if found < 0:
                return False
            pos = found + segment.size
        return True

    return match


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """One match (compile once with ``compile_glob`` to test many subjects)."""
    return compile_glob(pattern, nocase)(subject)
