"""Streams: the same scripts against kvserver and redis-server, byte for byte, RESP2 and RESP3.

Ids are explicit (``*`` depends on the clock; its shape is checked in test_streams.py), and
replies that hold times (idle, seen-time, delivery times) are left out.
"""

from __future__ import annotations

import shlex

import pytest

from tests.support import ServerProcess, assert_same_replies


def script(text: str) -> list[tuple[str, ...]]:
    return [tuple(shlex.split(line)) for line in text.strip().splitlines() if not line.startswith("#")]


BASIC = script(
    """
FLUSHALL
XADD s 1-1 a 1
XADD s 1-1 a 1
XADD s 1-0 a 1
XADD s 0-0 a 1
XADD fresh 0-0 a 1
EXISTS fresh
XADD s 1-* b 2
XADD s 2 c 3
XADD s 2-* d 4
XADD s 3-5 e 5 f 6
XADD s 3-5
XADD s 4-0 a
XADD s abc a 1
XADD s 1-x a 1
XADD s - a 1
XADD s + a 1
XADD s 18446744073709551616-0 a 1
XADD lenient 01 a 1
XADD lenient +2 a 1
XADD lenient " 3" a 1
XADD lenient "4- 5" a 1
XADD lenient 0x5 a 1
XADD lenient "6 " a 1
XRANGE lenient 02 +03
XRANGE lenient "(+1" 000004
XADD s NOMKSTREAM 5-0 g 7
XADD nokey NOMKSTREAM 5-0 g 7
EXISTS nokey
XADD s MAXLEN -1 6-0 a 1
XADD s MAXLEN abc 6-0 a 1
XADD s MAXLEN 10 MINID 0 6-0 a 1
XADD s LIMIT 10 6-0 a 1
XADD s MAXLEN 10 LIMIT 10 6-0 a 1
XADD s MAXLEN = 10 LIMIT 10 6-0 a 1
XADD s MAXLEN ~ 10 LIMIT -1 6-0 a 1
XADD s MINID abc 6-0 a 1
XADD s BOGUS 6-0 a 1
XLEN s
XLEN nokey
XRANGE s - +
XRANGE s - + COUNT 2
XRANGE s - + COUNT 0
XRANGE s - + COUNT -5
XRANGE s - + COUNT
XRANGE s - + FOO 1
XRANGE s 2 2
XRANGE s (1-1 +
XRANGE s - (3-5
XRANGE s (- +
XRANGE s - (+
XRANGE s (18446744073709551615-18446744073709551615 +
XRANGE s - (0-0
XRANGE s 3 +
XRANGE s x +
XRANGE nokey - +
XREVRANGE s + -
XREVRANGE s + - COUNT 1
XREVRANGE s (3-5 -
XREVRANGE s - +
XDEL s 2-0 9-9
XDEL s bad
XDEL nokey 1-1
XRANGE s - +
XSETID s 1-0
XSETID s 9-9
XSETID nokey 1-0
XSETID s 10-0 ENTRIESADDED 1
XSETID s 10-0 ENTRIESADDED -1
XSETID s 10-0 MAXDELETEDID 11-0
XSETID s 10-0 ENTRIESADDED 100 MAXDELETEDID 5-0
XSETID s 10-0 FOO
XSETID s 10-0 ENTRIESADDED
XADD s 9-9 x y
XADD s 10-* x y
SET str v
XADD str 1-1 a b
XRANGE str - +
XLEN str
XTRIM str MAXLEN 1
XTRIM s MAXLEN 2
XRANGE s - +
XTRIM s
XTRIM s FOO 1
XTRIM s MAXLEN 1 LIMIT 1
XTRIM s MINID 10-1
XRANGE s - +
XTRIM nokey MAXLEN 0
XADD e MAXLEN 0 1-1 a b
XLEN e
TYPE e
OBJECT ENCODING e
XINFO STREAM e
XINFO STREAM nokey
XINFO STREAM str
XINFO
XINFO FOO s
XINFO STREAM e BAR
XINFO STREAM e FULL COUNT
XINFO STREAM e FULL COUNT x
XINFO HELP
XGROUP HELP
"""
)

READ = script(
    """
FLUSHALL
XADD a 1-1 f 1
XADD a 2-1 f 2
XADD b 5-5 g 1
XREAD STREAMS a 0
XREAD COUNT 1 STREAMS a b 0 0
XREAD STREAMS a b 1-1 5-5
XREAD STREAMS a b 2-1 0
XREAD STREAMS a $
XREAD STREAMS nokey 0
XREAD STREAMS a
XREAD STREAMS a b 0
XREAD COUNT x STREAMS a 0
XREAD COUNT -1 STREAMS a 0
XREAD BLOCK -1 STREAMS a 0
XREAD BLOCK x STREAMS a 0
XREAD BLOCK 10 STREAMS a 9-9
XREAD GROUP g c STREAMS a 0
XREAD NOACK STREAMS a 0
XREAD STREAMS a >
XREAD STREAMS a bad
XREAD FOO STREAMS a 0
XREAD COUNT 1
XREAD STREAMS a a 0 1-1
SET str v
XREAD STREAMS str 0
XREAD STREAMS a str 0 0
MULTI
XREAD BLOCK 0 STREAMS a $
XADD a 3-1 f 3
EXEC
"""
)

GROUPS = script(
    """
FLUSHALL
XGROUP CREATE s g $
XGROUP CREATE s g $ MKSTREAM
XGROUP CREATE s g $ MKSTREAM
XGROUP CREATE s g2 bad
XGROUP CREATE s g2 0 ENTRIESREAD -2
XGROUP CREATE s g2 0 ENTRIESREAD x
XGROUP CREATE s g2 0 FOO
XGROUP CREATE s g2 0 ENTRIESREAD 0 MKSTREAM BAR
XINFO GROUPS s
XADD s 1-1 a 1
XADD s 2-1 b 2
XADD s 3-1 c 3
XADD s 4-1 d 4
XGROUP CREATE s g3 0
XINFO GROUPS s
XINFO STREAM s
XINFO STREAM s FULL
XINFO STREAM s FULL COUNT 1
XINFO STREAM s FULL COUNT -1
XINFO STREAM s FULL COUNT 0
XREADGROUP GROUP g alice STREAMS s >
XREADGROUP GROUP g3 alice COUNT 2 STREAMS s >
XREADGROUP GROUP g3 bob NOACK COUNT 1 STREAMS s >
XREADGROUP GROUP g3 carol STREAMS s >
XREADGROUP GROUP g3 carol STREAMS s >
XREADGROUP GROUP g3 alice STREAMS s 0
XREADGROUP GROUP g3 alice COUNT 1 STREAMS s 1-1
XREADGROUP GROUP g3 bob STREAMS s 0
XREADGROUP GROUP nogroup alice STREAMS s >
XREADGROUP GROUP g3 alice STREAMS nokey >
XREADGROUP GROUP g3 alice STREAMS s $
XREADGROUP GROUP g3 alice STREAMS s
XREADGROUP STREAMS s >
XREADGROUP GROUP g3 STREAMS s >
XINFO GROUPS s
XINFO CONSUMERS s nogroup
XPENDING s g3
XPENDING s g
XPENDING s nogroup
XPENDING nokey g
XPENDING s g3 IDLE 100000000 - + 10 alice
XPENDING s g3 - + 10 nobody
XPENDING s g3 - +
XPENDING s g3 - + x
XPENDING s g3 bad + 10
XPENDING s g3 IDLE x - + 10
XPENDING s g3 IDLE 0 - +
XPENDING s g3 IDLE 100000000 (1-1 + 1
XACK s g3 1-1 9-9
XACK s g3 1-1
XACK s g3 bad
XACK s nogroup 1-1
XACK nokey g 1-1
XPENDING s g3
XCLAIM s g3 dave 0 2-1 JUSTID
XCLAIM s g3 dave 0 2-1 RETRYCOUNT 7 JUSTID
XCLAIM s g3 erin 0 4-1
XCLAIM s g3 erin 0 1-1 FORCE JUSTID
XCLAIM s g3 erin 0 3-1 FORCE LASTID 4-1 JUSTID
XCLAIM s g3 erin x 3-1
XCLAIM s g3 erin 0 3-1 BOGUS
XCLAIM s g3 erin 0 3-1 IDLE x
XCLAIM s g3 erin 0 3-1 TIME x
XCLAIM s g3 erin 0 3-1 RETRYCOUNT x
XCLAIM s g3 erin 0 3-1 LASTID bad
XCLAIM s nogroup erin 0 3-1
XCLAIM nokey g erin 0 3-1
XPENDING s g3
XAUTOCLAIM s g3 frank 0 0 COUNT 2
XAUTOCLAIM s g3 frank 0 0 COUNT 2 JUSTID
XAUTOCLAIM s g3 frank 0 (2-1 JUSTID
XAUTOCLAIM s g3 frank 0 0 COUNT 0
XAUTOCLAIM s g3 frank 0 0 COUNT x
XAUTOCLAIM s g3 frank x 0
XAUTOCLAIM s g3 frank 0 bad
XAUTOCLAIM s g3 frank 0 0 FOO
XAUTOCLAIM s nogroup frank 0 0
XDEL s 3-1
XAUTOCLAIM s g3 gina 0 0
XPENDING s g3
XINFO GROUPS s
XGROUP CREATECONSUMER s g3 hank
XGROUP CREATECONSUMER s g3 hank
XGROUP CREATECONSUMER s nogroup hank
XGROUP CREATECONSUMER nokey g3 hank
XGROUP DELCONSUMER s g3 frank
XGROUP DELCONSUMER s g3 nobody
XGROUP DELCONSUMER s nogroup frank
XGROUP SETID s g3 0
XGROUP SETID s g3 $ ENTRIESREAD 3
XGROUP SETID s g3 bad
XGROUP SETID s nogroup 0
XGROUP SETID s g3 0 FOO
XGROUP SETID s g3 0 ENTRIESREAD
XINFO GROUPS s
XGROUP DESTROY s g3
XGROUP DESTROY s g3
XGROUP DESTROY nokey g3
XGROUP FOO s g
XGROUP CREATE s
XINFO GROUPS s
XINFO GROUPS nokey
SET str v
XGROUP CREATE str g $
XINFO GROUPS str
"""
)

GETKEYS = script(
    """
COMMAND GETKEYS XREAD STREAMS a b 0 0
COMMAND GETKEYS XREAD COUNT 2 BLOCK 0 streams a b c 0 0 0
COMMAND GETKEYS XREAD STREAMS a 0 0
COMMAND GETKEYS XREAD STREAMS a b c d e f g
COMMAND GETKEYS XREAD COUNT STREAMS a 0
COMMAND GETKEYS XREAD foo STREAMS a 0
COMMAND GETKEYS XREAD STREAMS STREAMS a 0 0
COMMAND GETKEYS XREAD COUNT 1 STREAMS a
COMMAND GETKEYS XREAD a b c d
COMMAND GETKEYS XREAD STREAMS a
COMMAND GETKEYS XREADGROUP GROUP g c STREAMS a 0
COMMAND GETKEYS XREADGROUP GROUP g c COUNT 1 NOACK STREAMS x y 1 2
COMMAND GETKEYS XREADGROUP GROUP streams c STREAMS a 0
COMMAND GETKEYS XREADGROUP GROUP g STREAMS STREAMS a 0
COMMAND GETKEYS XREADGROUP GROUP g c STREAMS a
COMMAND GETKEYS XREADGROUP STREAMS a 0
"""
)

SCRIPTS = {"basic": BASIC, "read": READ, "groups": GROUPS, "getkeys": GETKEYS}


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_stream_replies_match_redis(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool, name: str
) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPTS[name])


def approximate_trims() -> list[tuple[str, ...]]:
    """``~`` trims remove whole listpack nodes: the lengths left must be Redis's, for nodes closed
    by their entry count (100) and by their size in bytes (4096), with small and big values."""
    steps: list[tuple[str, ...]] = [("FLUSHALL",)]
    steps += [("XADD", "t", f"{i}-0", "f", f"v{i}") for i in range(1, 251)]
    steps += [("XTRIM", "t", "MAXLEN", "~", "120"), ("XLEN", "t"), ("XTRIM", "t", "MINID", "~", "200"), ("XLEN", "t")]
    steps += [("XADD", "t", "MAXLEN", "~", "10", "LIMIT", "50", "300-0", "f", "v"), ("XLEN", "t")]
    for size in (20, 100, 300, 1000, 5000):
        key = f"b{size}"
        steps += [("XADD", key, f"{i}-0", "field", "x" * size) for i in range(1, 121)]
        steps += [("XTRIM", key, "MAXLEN", "~", "50"), ("XLEN", key), ("XTRIM", key, "MAXLEN", "~", "0"), ("XLEN", key)]
    steps += [("XADD", "mixed", f"{i}-0", f"f{i % 3}", "y" * (i % 200)) for i in range(1, 301)]
    steps += [("XADD", "numbers", f"{i}-0", "n", str(i * 7919 - 10**6), "z", "0" + str(i)) for i in range(1, 401)]
    steps += [("XTRIM", "numbers", "MAXLEN", "~", "100"), ("XLEN", "numbers")]
    steps += [("XTRIM", "mixed", "MAXLEN", "~", "100"), ("XLEN", "mixed")]
    return steps


def test_approximate_trims_leave_redis_lengths(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    assert_same_replies(kv_server, real_redis, False, approximate_trims())
