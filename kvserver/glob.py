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

import re
from collections.abc import Callable
from typing import Final

# A one-byte test: a byte value (a literal, < 256), or a class as a bit mask of the accepted
# bytes with bit 256 set (so that every mask is >= 256): 60 bytes a class, not a 256-byte table.
Test = int
_MARK: Final = 1 << 256
_ALL: Final = _MARK - 1
_ANY: Final = _MARK | _ALL
_SPECIAL: Final = re.compile(rb"[*?\[\\]")  # one fixed regex, to skip plain runs at C speed
# A class without escapes whose every "-" is a range x-y with y not "]": it ends at the first
# "]", exactly where stringmatchlen's walk ends it (so the regex finds its extent, not its meaning).
_SIMPLE_CLASS: Final = re.compile(rb"\[\^?(?:[^\]\\\-]-[^\]\\]|[^\]\\\-])*\]")


def _lower(c: int) -> int:
    """C's tolower in the C locale, on a (signed) char value."""
    return c + 32 if 65 <= c <= 90 else c


def _signed(c: int) -> int:
    return c - 256 if c >= 128 else c


def _span(low: int, high: int) -> int:
    """The mask of the bytes low..high (unsigned, inclusive)."""
    return ((1 << (high + 1)) - 1) ^ ((1 << low) - 1)


def _range_mask(start: int, end: int) -> int:
    """The bytes whose signed value is in [start, end] (signed chars, as Redis compares)."""
    if start >= 0:
        return _span(start, end)
    if end < 0:
        return _span(start + 256, end + 256)
    return _span(0, end) | _span(start + 256, 255)


def _class(pattern: bytes, i: int, nocase: bool) -> tuple[int, int]:
    """The mask of a ``[...]`` class whose body starts at ``i``; the index after the class.

    Walks the pattern exactly as stringmatchlen does (reading a NUL past the end, as C does).
    """
    n = len(pattern)

    def at(k: int) -> int:
        return pattern[k] if k < n else 0

    negate = at(i) == 94  # ^
    if negate:
        i += 1
    exact = 0  # escapes: compared exactly, even with nocase
    folded = 0  # literals and ranges; with nocase, over tolower(c)
    while True:
        c = at(i)
        if c == 92 and n - i >= 2:  # \x
            i += 1
            exact |= 1 << pattern[i]
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
                folded |= _range_mask(start, end)
            i += 2
        else:
            folded |= 1 << (_lower(c) if nocase else c)
        i += 1
    if nocase:  # accept c when tolower(c) is in the folded set
        folded = sum(1 << c for c in range(256) if folded >> _lower(c) & 1)
    mask = exact | folded
    return _MARK | ((mask ^ _ALL) if negate else mask), i + 1


def _tokens(pattern: bytes, nocase: bool) -> list[Test | None]:
    """The pattern as tests of one byte each, with None for ``*``."""
    out: list[Test | None] = []
    classes: dict[bytes, int] = {}
    n = len(pattern)
    i = 0
    while i < n:
        if not nocase:  # a run of plain bytes is copied at C speed
            special = _SPECIAL.search(pattern, i)
            stop = n if special is None else special.start()
            out.extend(pattern[i:stop])
            i = stop
            if i >= n:
                break
        c = pattern[i]
        if c == 42:  # *
            if not out or out[-1] is not None:
                out.append(None)
            i += 1
            continue
        if c == 63:  # ?
            stop = i + 1
            while stop < n and pattern[stop] == 63:
                stop += 1
            out.extend([_ANY] * (stop - i))
            i = stop
            continue
        if c == 91:  # [
            simple = _SIMPLE_CLASS.match(pattern, i)
            if simple is None:
                mask, i = _class(pattern, i + 1, nocase)
            else:  # the same class again (an adversary's 1 MB of "[a]"): parsed once
                source = simple.group()
                mask = classes.get(source, 0)
                if not mask:
                    mask = classes[source] = _class(pattern, i + 1, nocase)[0]
                i = simple.end()
            out.append(mask)
            continue
        else:
            if c == 92 and n - i >= 2:  # \x
                i += 1
                c = pattern[i]
            if nocase and 97 <= _lower(c) <= 122:
                out.append(_MARK | 1 << _lower(c) | 1 << (_lower(c) - 32))
            else:
                out.append(c)
        i += 1
    return out


# A segment: ``bytes`` when every test is a literal byte, else a tuple of tests.
Segment = bytes | tuple[int, ...]


def _segments(pattern: bytes, nocase: bool) -> list[Segment]:
    """The segments between the stars (``S0 * S1 * ... * Sk``)."""
    if not nocase and _SPECIAL.search(pattern.replace(b"*", b"")) is None:
        return list[Segment](pattern.split(b"*"))  # literals and stars only: all at C speed
    segments: list[Segment] = []
    run: list[Test] = []
    for token in (*_tokens(pattern, nocase), None):
        if token is not None:
            run.append(token)
            continue
        segments.append(bytes(run) if all(t < 256 for t in run) else tuple(run))
        run = []
    return segments


def _at(segment: Segment, subject: bytes, pos: int) -> bool:
    """Whether ``segment`` matches ``subject`` at ``pos`` (the caller checks the length)."""
    if type(segment) is bytes:
        return subject.startswith(segment, pos)
    for test, c in zip(segment, subject[pos : pos + len(segment)], strict=True):
        if not (test == c if test < 256 else test >> c & 1):
            return False
    return True


def _find(segment: Segment, subject: bytes, start: int, stop: int) -> int:
    """The leftmost position >= start where ``segment`` fits before ``stop``, or -1."""
    if type(segment) is bytes:
        return subject.find(segment, start, stop)
    for pos in range(start, stop - len(segment) + 1):
        if _at(segment, subject, pos):
            return pos
    return -1


Matcher = Callable[[bytes], bool]


def compile_glob(pattern: bytes, nocase: bool = False) -> Matcher:
    """A function telling whether a subject matches ``pattern`` (Redis's stringmatchlen)."""
    if pattern == b"*":
        return lambda subject: len(subject) > 0
    if not pattern:
        return lambda subject: not subject
    segments = _segments(pattern, nocase)
    if len(segments) == 1:
        only = segments[0]
        return lambda subject: len(subject) == len(only) and _at(only, subject, 0)
    head, middle, tail = segments[0], segments[1:-1], segments[-1]
    middle = [segment for segment in middle if segment]  # "**" leaves empty segments
    minimum = sum(map(len, segments))

    def match(subject: bytes) -> bool:
        size = len(subject)
        if size < minimum or not size:
            return False
        end = size - len(tail)
        if not _at(head, subject, 0) or not _at(tail, subject, end):
            return False
        pos = len(head)
        for segment in middle:
            found = _find(segment, subject, pos, end)
            if found < 0:
                return False
            pos = found + len(segment)
        return True

    return match


def glob_match(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """One match (compile once with ``compile_glob`` to test many subjects)."""
    return compile_glob(pattern, nocase)(subject)
