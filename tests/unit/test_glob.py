"""The glob matcher against a line-by-line reference of Redis 7.0's stringmatchlen.

The reference below is the recursive algorithm of util.c (pointer walks, the NUL read past the
end, signed ``char`` ranges as on x86), exponential on purpose: it is only run on small inputs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kvserver.glob import compile_glob, glob_match


def _signed(c: int) -> int:
    return c - 256 if c >= 128 else c


def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


def reference(pattern: bytes, subject: bytes, nocase: bool = False) -> bool:
    """stringmatchlen(pattern, subject, nocase), as written in Redis 7.0.15's util.c."""
    pat = pattern + b"\x00"  # sds strings end with a NUL, which the C code reads
    sub = subject + b"\x00"

    def impl(p: int, plen: int, s: int, slen: int) -> bool:
        while plen and slen:
            c = pat[p]
            if c == ord("*"):
                while plen and pat[p + 1] == ord("*"):
                    p += 1
                    plen -= 1
                if plen == 1:
                    return True
                while slen:
                    if impl(p + 1, plen - 1, s, slen):
                        return True
                    s += 1
                    slen -= 1
                return False
            if c == ord("?"):
                s += 1
                slen -= 1
            elif c == ord("["):
                p += 1
                plen -= 1
                negate = pat[p] == ord("^")
                if negate:
                    p += 1
                    plen -= 1
                match = False
                while True:
                    if pat[p] == ord("\\") and plen >= 2:
                        p += 1
                        plen -= 1
                        if pat[p] == sub[s]:
                            match = True
                    elif pat[p] == ord("]"):
                        break
                    elif plen == 0:
                        p -= 1
                        plen += 1
                        break
                    elif plen >= 3 and pat[p + 1] == ord("-"):
                        start, end, ch = _signed(pat[p]), _signed(pat[p + 2]), _signed(sub[s])
                        if start > end:
                            start, end = end, start
                        if nocase:
                            start, end, ch = _lower(start), _lower(end), _lower(ch)
                        p += 2
                        plen -= 2
                        if start <= ch <= end:
                            match = True
                    elif nocase:
                        if _lower(pat[p]) == _lower(sub[s]):
                            match = True
                    elif pat[p] == sub[s]:
                        match = True
                    p += 1
                    plen -= 1
                if negate:
                    match = not match
                if not match:
                    return False
                s += 1
                slen -= 1
            else:
                if c == ord("\\") and plen >= 2:
                    p += 1
                    plen -= 1
                if nocase:
                    if _lower(pat[p]) != _lower(sub[s]):
                        return False
                elif pat[p] != sub[s]:
                    return False
                s += 1
                slen -= 1
            p += 1
            plen -= 1
            if slen == 0:
                while pat[p] == ord("*"):
                    p += 1
                    plen -= 1
                break
        return plen == 0 and slen == 0

    return impl(0, len(pattern), 0, len(subject))


# small alphabets so that patterns and subjects actually meet; \x80 and \xff test signed ranges
_PATTERN_BYTES = st.sampled_from(b"ab*?[]^-\\Az\x80\xff")
_SUBJECT_BYTES = st.sampled_from(b"ab-]^\\Az\x80\xff\x00")


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(
    st.lists(_PATTERN_BYTES, max_size=10).map(bytes),
    st.lists(_SUBJECT_BYTES, max_size=8).map(bytes),
    st.booleans(),
)
def test_matches_redis_reference(pattern: bytes, subject: bytes, nocase: bool) -> None:
    assert compile_glob(pattern, nocase)(subject) == reference(pattern, subject, nocase)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=8), st.binary(max_size=6))
def test_matches_redis_reference_on_any_bytes(pattern: bytes, subject: bytes) -> None:
    assert glob_match(pattern, subject) == reference(pattern, subject)


def test_known_cases() -> None:
    assert glob_match(b"h?llo", b"hello")
    assert glob_match(b"h*llo", b"heeeello")
    assert glob_match(b"h[ae]llo", b"hallo")
    assert not glob_match(b"h[^e]llo", b"hello")
    assert glob_match(b"h[a-b]llo", b"hbllo")
    assert glob_match(b"h[b-a]llo", b"hbllo")  # Redis accepts a reversed range
    assert glob_match(b"\\*", b"*")
    assert not glob_match(b"*", b"")  # only the empty pattern matches the empty subject
    assert glob_match(b"", b"")
    assert glob_match(b"[^", b"x")  # an open class ends with the pattern
    assert glob_match(b"[a-]x]", b"]")  # [a-] is the range a..]
    assert not glob_match(b"[\x00-\xff]", b"a")  # signed chars: the range is \xff..\x00


def test_pathological_patterns_are_polynomial() -> None:
    """CVE-2022-36021's patterns: exponential for a backtracking matcher, instant here."""
    subject = b"a" * 40
    for pattern in (b"a*" * 12 + b"b", b"*a" * 20 + b"*b", b"[a]*" * 30 + b"[b]", b"?*" * 25 + b"b"):
        assert not compile_glob(pattern)(subject)
        assert reference(pattern[:9], subject[:12]) == compile_glob(pattern[:9])(subject[:12])
    long_pattern = b"*" + b"?" * 100_000 + b"*x"
    assert not compile_glob(long_pattern)(b"y" * 50)
    assert compile_glob(long_pattern)(b"y" * 100_001 + b"x")
