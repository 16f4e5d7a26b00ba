"""commands/args.py: the one integer parser, floats, timeouts and the option parsers, with
Redis's error texts (the replies themselves are compared with redis-server in
tests/e2e/test_differential_args.py)."""

from __future__ import annotations

import itertools
import re

import pytest

from kvserver.commands.args import (
    INT64_MAX,
    INT64_MIN,
    MUST_BE_POSITIVE,
    Flag,
    int64_or_none,
    keyword_options,
    leading_flags,
    parse_flags,
    parse_float,
    parse_int,
    parse_timeout,
    range_error,
)
from kvserver.commands.registry import NOT_FLOAT, NOT_INTEGER, SYNTAX, CommandError

_CANONICAL = re.compile(rb"0|-?[1-9][0-9]*")


def reference_int64(raw: bytes) -> int | None:
    """Redis's string2ll, spelled differently: a canonical decimal in the signed 64-bit range."""
    if len(raw) > 20 or _CANONICAL.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if -(2**63) <= value < 2**63 else None


def error_of(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(CommandError) as caught:
        call(*args, **kwargs)
    return caught.value.text


def test_int64_matches_string2ll_on_every_short_string() -> None:
    alphabet = b"-+0 19a."
    for length in range(5):
        for chars in itertools.product(alphabet, repeat=length):
            raw = bytes(chars)
            assert int64_or_none(raw) == reference_int64(raw), raw


@pytest.mark.parametrize(
    "raw",
    [
        b"999999999999999999",  # 18 digits, the most that is in range without comparing
        b"-999999999999999999",
        b"1000000000000000000",
        b"-1000000000000000000",
        b"9223372036854775807",
        b"9223372036854775808",
        b"9999999999999999999",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"-9999999999999999999",
        b"10000000000000000000",
        b"09223372036854775807",
        b"-0",
        b"1" * 5000,
        b"\xd9\xa3",  # an Arabic-Indic digit: bytes.isdigit() is ASCII-only, int() would accept it as text
    ],
    ids=lambda raw: repr(raw[:24]),
)
def test_int64_bounds(raw: bytes) -> None:
    assert int64_or_none(raw) == reference_int64(raw)


def test_parse_int_errors_and_ranges() -> None:
    assert parse_int(b"-9223372036854775808") == INT64_MIN
    assert parse_int(b"9223372036854775807") == INT64_MAX
    assert error_of(parse_int, b"9999999999999999999") == NOT_INTEGER
    assert error_of(parse_int, b"1.5") == NOT_INTEGER
    assert error_of(parse_int, b"x", "ERR numkeys should be greater than 0", low=1) == (
        "ERR numkeys should be greater than 0"
    )
    assert error_of(parse_int, b"0", "ERR numkeys should be greater than 0", low=1) == (
        "ERR numkeys should be greater than 0"
    )
    assert error_of(parse_int, b"-1", MUST_BE_POSITIVE, low=0) == "ERR value is out of range, must be positive"
    assert parse_int(b"0", MUST_BE_POSITIVE, low=0) == 0
    # a separate text for the range (SCAN's COUNT 0 is a syntax error, COUNT x is not an integer)
    assert error_of(parse_int, b"0", low=1, out_of_range=SYNTAX) == SYNTAX
    assert error_of(parse_int, b"x", low=1, out_of_range=SYNTAX) == NOT_INTEGER
    assert error_of(parse_int, b"%d" % INT64_MIN, low=-INT64_MAX, out_of_range=range_error(-INT64_MAX, INT64_MAX)) == (
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    )


@pytest.mark.parametrize("raw", [b"1.5", b"-inf", b"+inf", b"1e3", b"-0", b".5", b"5."])
def test_parse_float_accepts(raw: bytes) -> None:
    assert parse_float(raw) == float(raw)


@pytest.mark.parametrize("raw", [b"", b"nan", b"-NaN", b"+nan", b"NAN", b" 1", b"1 ", b"1_000", b"abc", b"1e", b"0x10"])
def test_parse_float_refuses(raw: bytes) -> None:
    assert error_of(parse_float, raw) == NOT_FLOAT


def test_parse_timeout() -> None:
    assert parse_timeout(b"0") == 0
    assert parse_timeout(b"0.5") == 0.5
    assert error_of(parse_timeout, b"x") == "ERR timeout is not a float or out of range"
    assert error_of(parse_timeout, b"nan") == "ERR timeout is not a float or out of range"
    assert error_of(parse_timeout, b"-1") == "ERR timeout is negative"
    assert error_of(parse_timeout, b"inf") == "ERR timeout is negative"  # Redis 7.0's overflow, as it says
    assert error_of(parse_timeout, b"1e17") == "ERR timeout is negative"


A, B, C, V = 1, 2, 4, 8
TABLE = {
    b"A": Flag(A, excludes=B),
    b"B": Flag(B, excludes=A),
    b"C": Flag(C),
    b"V": Flag(V, excludes=C, takes_value=True),
}


def argv(*words: str) -> list[bytes]:
    return [w.encode() for w in words]


def test_parse_flags() -> None:
    assert parse_flags(argv("CMD", "key"), 2, TABLE) == (0, None)
    assert parse_flags(argv("CMD", "key", "a", "c", "C"), 2, TABLE) == (A | C, None)
    assert parse_flags(argv("CMD", "key", "v", "1", "V", "2", "a"), 2, TABLE) == (V | A, b"2")  # the last value wins
    for bad in (("a", "b"), ("b", "a"), ("d",), ("v",), ("c", "v", "1"), ("a", "v")):
        assert error_of(parse_flags, argv("CMD", "key", *bad), 2, TABLE) == SYNTAX, bad


def test_leading_flags_stop_at_the_first_other_argument() -> None:
    table = {b"NX": 1, b"XX": 2, b"CH": 4}
    assert leading_flags(argv("ZADD", "z", "nx", "CH", "1", "a"), 2, table) == (1 | 4, 4)
    assert leading_flags(argv("ZADD", "z", "1", "a", "XX"), 2, table) == (0, 2)
    assert leading_flags(argv("ZADD", "z", "xx"), 2, table) == (2, 3)


def test_keyword_options_are_read_lazily() -> None:
    names = (b"COUNT", b"MATCH")
    assert list(keyword_options(argv("SCAN", "0", "count", "5", "MATCH", "k*"), 2, names)) == [
        (b"COUNT", b"5"),
        (b"MATCH", b"k*"),
    ]
    assert list(keyword_options(argv("SCAN", "0"), 2, names)) == []
    assert error_of(list, keyword_options(argv("SCAN", "0", "COUNT"), 2, names)) == SYNTAX
    assert error_of(list, keyword_options(argv("SCAN", "0", "TYPE", "x"), 2, names)) == SYNTAX
    # as Redis's loops: what comes first is converted (and fails) before a later bad name is seen
    options = keyword_options(argv("LPOS", "l", "e", "COUNT", "-1", "FOO"), 3, (b"COUNT",))
    assert next(options) == (b"COUNT", b"-1")
    assert error_of(next, options) == SYNTAX
