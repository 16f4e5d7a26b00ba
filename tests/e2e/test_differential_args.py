"""Argument conversion (commands/args.py) against a real redis-server, byte for byte: integers and
their ranges, floats, timeouts, one-word options (SET, GETEX, ZADD) and NAME value options (SCAN,
LPOS, SINTERCARD), in the order Redis checks them."""

from __future__ import annotations

import pytest

from tests.support import ServerProcess, assert_same_replies

TOO_BIG = "9999999999999999999"  # 19 digits, above 2**63 - 1
INT64_MIN = "-9223372036854775808"

SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("RPUSH", "l", "a", "b", "a"),
    ("SADD", "s", "1", "2"),
    ("HSET", "h", "f", "v"),
    ("ZADD", "z", "1", "a"),
    ("SET", "k", "v"),
    # --- integers: string2ll, 64-bit range (19 digits can still be out of range)
    ("LRANGE", "l", "0", TOO_BIG),
    ("LRANGE", "l", "0", "9223372036854775807"),
    ("LINDEX", "l", TOO_BIG),
    ("INCRBY", "n", TOO_BIG),
    ("EXPIRE", "k", TOO_BIG),
    ("SETRANGE", "k", TOO_BIG, "x"),
    ("GETRANGE", "k", "0", "-0"),
    ("GETRANGE", "k", "+0", "1"),
    ("GETRANGE", "k", "00", "1"),
    ("SET", "k", "v", "EX", TOO_BIG),
    ("ZRANGE", "z", "0", "-1", "BYSCORE", "LIMIT", "0", TOO_BIG),
    # --- counts with a range
    ("LPOP", "l", "-1"),
    ("LPOP", "l", "x"),
    ("LPOP", "l", TOO_BIG),
    ("SPOP", "s", "-1"),
    ("ZPOPMIN", "z", "x"),
    ("SRANDMEMBER", "s", INT64_MIN),
    ("HRANDFIELD", "h", INT64_MIN),
    ("ZRANDMEMBER", "z", "x"),
    ("SINTERCARD", "0", "s"),
    ("SINTERCARD", "x", "s"),
    ("SINTERCARD", "1", "s", "LIMIT", "-1"),
    ("SINTERCARD", "1", "s", "LIMIT", "x"),
    ("SINTERCARD", "1", "s", "LIMIT"),
    ("SINTERCARD", "1", "s", "LIMIT", "1"),
    # --- floats and timeouts
    ("ZADD", "z", "nan", "a"),
    ("ZADD", "z", " 1", "a"),
    ("ZINCRBY", "z", "abc", "a"),
    ("BLPOP", "l", "x"),
    ("BLPOP", "l", "-1"),
    ("BLPOP", "l", "inf"),
    ("BZPOPMIN", "z", "nan"),
    ("BLPOP", "l", "0.01"),
    # --- SET / GETEX one-word options
    ("SET", "k", "v", "NX", "NX"),
    ("SET", "k", "v", "GET", "GET"),
    ("SET", "k", "v", "ex", "10", "px", "10"),
    ("SET", "k", "v", "PX", "10", "PX"),
    ("SET", "k", "v", "PX", "10", "PX", "20"),
    ("SET", "k", "v", "KEEPTTL", "KEEPTTL"),
    ("SET", "k", "v", "PERSIST"),
    ("GETEX", "k", "PERSIST", "PERSIST"),
    ("GETEX", "k", "EX", "10", "EX", "20"),
    ("GETEX", "k", "KEEPTTL"),
    ("GETEX", "k", "PERSIST", "EX", "1"),
    ("GETEX", "k", "ex"),
    # --- ZADD's leading flags, then its pairs
    ("ZADD", "z", "NX", "XX", "1", "a"),
    ("ZADD", "z", "GT", "LT", "1", "a"),
    ("ZADD", "z", "GT", "NX", "1", "a"),
    ("ZADD", "z", "CH", "CH", "2", "a"),
    ("ZADD", "z", "INCR", "1", "a", "2", "b"),
    ("ZADD", "z", "incr", "5", "a"),
    ("ZADD", "z", "xx", "ch", "gt", "9", "a", "1", "new"),
    ("ZADD", "z", "nx"),
    ("ZADD", "z", "1", "a", "2"),
    ("ZADD", "z", "NX", "1", "a", "XX"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    # --- NAME value options, converted as they are read
    ("SCAN", "0", "COUNT", "0"),
    ("SCAN", "0", "COUNT", "x"),
    ("SCAN", "0", "COUNT"),
    ("SCAN", "0", "MATCH", "*", "COUNT", TOO_BIG),
    ("SCAN", "0", "COUNT", "0", "FOO"),
    ("SCAN", "0", "TYPE", "string", "FOO", "1"),
    ("SCAN", "0", "count", "100", "match", "k", "type", "STRING"),
    ("HSCAN", "h", "0", "TYPE", "string"),
    ("SSCAN", "s", "0", "COUNT", "-1"),
    ("ZSCAN", "z", "0", "MATCH", "a"),
    ("LPOS", "l", "a", "COUNT", "-1", "FOO"),
    ("LPOS", "l", "a", "FOO", "1", "COUNT", "-1"),
    ("LPOS", "l", "a", "MAXLEN", "x"),
    ("LPOS", "l", "a", "MAXLEN", "-1"),
    ("LPOS", "l", "a", "RANK", "0"),
    ("LPOS", "l", "a", "RANK"),
    ("LPOS", "l", "a", "RANK", INT64_MIN),
    ("LPOS", "l", "a", "count", "0", "rank", "-1"),
    ("LPOS", "l", "a", "RANK", "1", "RANK", "2"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_argument_errors_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPT)
