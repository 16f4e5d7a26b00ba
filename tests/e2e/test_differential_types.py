"""Hashes, sets, sorted sets and lists: the same scripts against kvserver and redis-server, byte for byte.

Only replies with a defined order are compared (random picks are checked by count in test_types.py).
"""

from __future__ import annotations

import shlex

import pytest

from tests.support import ServerProcess, assert_same_replies


def script(text: str) -> list[tuple[str, ...]]:
    return [tuple(shlex.split(line)) for line in text.strip().splitlines()]


# Hashes: every command, the increments' errors, HRANDFIELD's ranges, WRONGTYPE, empty hash removal.
HASHES = script(
    """
FLUSHALL
HSET h f1 v1 f2 v2
HSET h f1 x
HSET h f1
HGET h f1
HGET h nope
HGET nokey f
HMGET h f1 nope f2
HMGET nokey a b
HGETALL h
HGETALL nokey
HKEYS h
HVALS h
HLEN h
HEXISTS h f1
HEXISTS h zz
HSTRLEN h f1
HSTRLEN h zz
HSETNX h f1 y
HSETNX h f3 y
HINCRBY h n 5
HINCRBY h n -7
HINCRBY h f1 1
HINCRBY h n abc
HINCRBY h n 9223372036854775807
HINCRBYFLOAT h fl 1.5
HINCRBYFLOAT h fl 0.1
HINCRBYFLOAT h f1 1
HINCRBYFLOAT h fl abc
HINCRBYFLOAT h fl inf
HDEL h f1 f2 nope
HDEL h f1
HMSET h a 1 b 2
HMSET h a
HSCAN h 0
HSCAN h 0 MATCH f*
HSCAN h 0 COUNT 0
HSCAN h abc
HSCAN h 0 FOO bar
HRANDFIELD nokey
HRANDFIELD nokey 5
HRANDFIELD h 0
HRANDFIELD h 1 WITHVALUES foo
HRANDFIELD h 1 FOO
HRANDFIELD h abc
HRANDFIELD h -9223372036854775808
HRANDFIELD h -9223372036854775807 WITHVALUES
OBJECT ENCODING h
SET s v
HGET s f
HSET s f v
HGETALL s
HLEN s
TYPE h
DEL h
HSET h only v
HDEL h only
EXISTS h
HGETALL h
"""
)


# Sets: small integer sets (Redis replies with them in order), the algebra and its STORE forms, SINTERCARD.
SETS = script(
    """
FLUSHALL
SADD s 3 1 2
SADD s 2 4
SADD s
SMEMBERS s
SMEMBERS nokey
SISMEMBER s 1
SISMEMBER s 9
SISMEMBER nokey 9
SMISMEMBER s 1 9 2
SMISMEMBER nokey 1
SCARD s
SCARD nokey
SREM s 1 9
SREM nokey 1
SPOP nokey
SPOP nokey 3
SPOP s 0
SPOP s -1
SPOP s abc
SPOP s 1 2
SRANDMEMBER nokey
SRANDMEMBER nokey 3
SRANDMEMBER s 0
SRANDMEMBER s abc
SRANDMEMBER s 1 2
SRANDMEMBER s -9223372036854775808
SADD t 2 3 10
SINTER s t
SINTER s t nokey
SUNION s t
SUNION s nokey
SDIFF s t
SDIFF nokey s
SINTERSTORE d s t
SMEMBERS d
SUNIONSTORE d s t
SMEMBERS d
SDIFFSTORE d s t
SMEMBERS d
SDIFFSTORE d nokey s
EXISTS d
SINTERCARD 2 s t
SINTERCARD 2 s t LIMIT 1
SINTERCARD 0 s
SINTERCARD 3 s t
SINTERCARD abc s
SINTERCARD 2 s t LIMIT -1
SINTERCARD 2 s t LIMIT
SINTERCARD 2 s t FOO 1
SINTERCARD 1 nokey
SMOVE s t 4
SMOVE s t 4
SMOVE nokey t 4
SMOVE s s 2
SMOVE s newset 2
SMEMBERS newset
EXISTS s
SET str v
SADD str a
SINTER s str
SINTER nokey str
SUNION str
SMOVE s str 3
SMOVE t str 3
SINTERSTORE str t
TYPE str
SSCAN t 0
SSCAN t 0 MATCH 1*
SSCAN nokey 0
OBJECT ENCODING t
SADD big a b c
OBJECT ENCODING big
SCARD big
"""
)


# Sorted sets: ZADD's flags, score and lex ranges with every bound form, LIMIT, REV, pops, score formatting.
SORTED_SETS = script(
    """
FLUSHALL
ZADD z 1 a 2 b 3 c
ZADD z 1.5 a
ZADD z NX 9 a 4 d
ZADD z XX 9 a 4 e
ZADD z XX NX 1 a
ZADD z GT LT 1 a
ZADD z GT NX 1 a
ZADD z INCR 1 a 2 b
ZADD z INCR 1 a
ZADD z INCR NX 1 a
ZADD z XX INCR 1 zz
ZADD z GT CH 1 a 100 b
ZADD z LT CH 1 a 100 b
ZADD z CH 5 c 6 newm
ZADD z 1
ZADD z abc a
ZADD z nan a
ZADD z 1 a 2
ZADD z inf top -inf bottom
ZADD z INCR -inf top
ZADD nz XX 1 a
ZADD nz XX INCR 1 a
EXISTS nz
ZADD z GT INCR -1 a
ZRANGE z 0 -1 WITHSCORES
ZSCORE z a
ZSCORE z nope
ZSCORE nokey a
ZMSCORE z a nope top
ZMSCORE nokey a
ZCARD z
ZCARD nokey
ZINCRBY z 1.1 a
ZINCRBY z abc a
ZINCRBY z 1 newmember
ZINCRBY z -inf top
ZCOUNT z -inf +inf
ZCOUNT z (1 3
ZCOUNT z 1 (3
ZCOUNT z abc 3
ZCOUNT z (inf +inf
ZCOUNT z -inf (-inf
ZCOUNT nokey 0 1
ZRANK z a
ZRANK z nope
ZREVRANK z a
ZRANK nokey a
ZRANGE z 0 -1
ZRANGE z 1 2 WITHSCORES
ZRANGE z -2 -1
ZRANGE z 5 1
ZRANGE z 0 100
ZRANGE z -100 0
ZRANGE z 0 -1 REV WITHSCORES
ZRANGE z 0 1 REV
ZRANGE z -inf +inf BYSCORE
ZRANGE z +inf -inf BYSCORE REV
ZRANGE z (1 3 BYSCORE WITHSCORES
ZRANGE z 1 3 BYSCORE LIMIT 1 1
ZRANGE z 1 3 BYSCORE LIMIT 0 -1
ZRANGE z 1 3 BYSCORE LIMIT -1 1
ZRANGE z 3 1 BYSCORE REV LIMIT 1 2
ZRANGE z 0 -1 LIMIT 0 1
ZRANGE z - + BYLEX WITHSCORES
ZRANGE z 0 -1 BYSCORE BYLEX
ZRANGE z 0 -1 FOO
ZRANGE z a b
ZRANGE z a b BYSCORE
ZRANGE z a b BYLEX
ZRANGE z 0 -1 WITHSCORES WITHSCORES
ZRANGE z 0 -1 LIMIT 1
ZRANGE nokey 0 -1
ZRANGEBYSCORE z -inf +inf WITHSCORES
ZRANGEBYSCORE z 2 (100 LIMIT 1 2 WITHSCORES
ZRANGEBYSCORE z 0 -1 REV
ZREVRANGEBYSCORE z +inf -inf
ZREVRANGEBYSCORE z 3 1 WITHSCORES LIMIT 0 2
ZREVRANGE z 0 2 WITHSCORES
ZREVRANGE z 0 2 LIMIT 0 1
DEL lex
ZADD lex 0 a 0 b 0 c 0 d 0 e
ZRANGEBYLEX lex - +
ZRANGEBYLEX lex [b (d
ZRANGEBYLEX lex (b [d LIMIT 1 5
ZRANGEBYLEX lex + -
ZRANGEBYLEX lex b d
ZRANGEBYLEX lex - + WITHSCORES
ZREVRANGEBYLEX lex + -
ZREVRANGEBYLEX lex [d (a LIMIT 1 2
ZRANGE lex [e [b BYLEX REV
ZLEXCOUNT lex [b +
ZLEXCOUNT lex x y
ZREMRANGEBYLEX lex [b (d
ZRANGE lex 0 -1
ZREMRANGEBYLEX lex x y
ZREMRANGEBYRANK lex 0 0
ZREMRANGEBYRANK lex 5 10
ZREMRANGEBYRANK lex a 1
ZREMRANGEBYRANK lex 0 -1
EXISTS lex
ZREMRANGEBYSCORE z (1 2
ZREMRANGEBYSCORE z abc 2
ZREMRANGEBYSCORE nokey 0 1
ZRANGE z 0 -1 WITHSCORES
ZREM z a nope
ZREM nokey a
ZPOPMIN z
ZPOPMAX z
ZPOPMIN z 2
ZPOPMAX z 1
ZPOPMIN z 0
ZPOPMIN z -1
ZPOPMIN z abc
ZPOPMIN nokey
ZPOPMIN nokey 2
ZPOPMIN z 1 2
ZPOPMAX z 100
EXISTS z
ZADD z 1 a 2 b
ZRANGESTORE dst z 0 -1
ZRANGE dst 0 -1 WITHSCORES
ZRANGESTORE dst z 5 6
EXISTS dst
ZRANGESTORE dst z 0 -1 WITHSCORES
ZRANDMEMBER nokey
ZRANDMEMBER nokey 2
ZRANDMEMBER z 0
ZRANDMEMBER z 1 FOO
ZRANDMEMBER z -9223372036854775808
ZSCAN z 0
ZSCAN z 0 MATCH a
ZSCAN nokey 0
OBJECT ENCODING z
SET str v
ZADD str 1 a
ZRANGE str 0 -1
ZSCORE str a
ZCARD str
ZRANGEBYSCORE str 0 1
ZADD z 0.1 f 1.1 g 1e300 h -0 zero 1e-5 tiny 12345678901234567890 big
ZRANGE z 0 -1 WITHSCORES
ZSCORE z g
ZINCRBY z 0.2 f
ZSCAN z 0
DEL z
ZADD z 1 a 2 b 3 c
BZPOPMIN z 0
BZPOPMAX z 0
BZPOPMIN nokey z 0
EXISTS z
BZPOPMIN z abc
BZPOPMIN z -1
BZPOPMIN str 0
ZADD y 1 a
BZPOPMAX nokey y 1
MULTI
BZPOPMIN empty 1
BZPOPMAX empty 0
EXEC
"""
)


# Lists: pushes, ranges, LPOS options, LREM/LTRIM, moves, and the blocking forms when they need not block.
LISTS = script(
    """
FLUSHALL
LPUSH l a b c
RPUSH l d e
LPUSH l
LPUSHX nokey a
RPUSHX nokey a
LPUSHX l z
RPUSHX l y
LRANGE l 0 -1
LRANGE l -2 -1
LRANGE l 5 1
LRANGE l 0 100
LRANGE l a 1
LRANGE nokey 0 -1
LLEN l
LLEN nokey
LINDEX l 0
LINDEX l -1
LINDEX l 100
LINDEX l abc
LINDEX nokey 0
LSET l 0 first
LSET l 100 x
LSET nokey 0 x
LSET l abc x
LINSERT l BEFORE c newc
LINSERT l AFTER c afterc
LINSERT l AFTER nope x
LINSERT l MIDDLE c x
LINSERT nokey BEFORE a b
LRANGE l 0 -1
RPUSH r x a x b x c x
LREM r 2 x
LRANGE r 0 -1
LREM r -1 x
LRANGE r 0 -1
LREM r 0 x
LREM r 0 nope
LREM nokey 0 x
LREM r abc x
LTRIM r 1 1
LRANGE r 0 -1
LTRIM r 5 10
EXISTS r
LTRIM nokey 0 1
LTRIM l a 1
RPUSH p a b c a b c a
LPOS p a
LPOS p a RANK 2
LPOS p a RANK -1
LPOS p a RANK -2 COUNT 0
LPOS p a COUNT 0
LPOS p a COUNT 2
LPOS p a COUNT 0 MAXLEN 4
LPOS p nope
LPOS p nope COUNT 0
LPOS nokey a
LPOS nokey a COUNT 1
LPOS p a RANK 0
LPOS p a COUNT -1
LPOS p a MAXLEN -1
LPOS p a RANK
LPOS p a FOO 1
LPOS p a RANK abc
LPOS p a COUNT abc
LPOS p a RANK -9223372036854775808
LPOP p
RPOP p
LPOP p 2
RPOP p 0
LPOP p -1
LPOP p abc
LPOP p 1 2
LPOP nokey
LPOP nokey 2
RPOP nokey 0
RPOP p 100
EXISTS p
RPUSH src 1 2 3
LMOVE src dst LEFT RIGHT
LMOVE src dst RIGHT LEFT
LMOVE src dst UP LEFT
LMOVE nokey dst LEFT LEFT
LRANGE dst 0 -1
RPOPLPUSH src dst
RPOPLPUSH src dst
EXISTS src
LMOVE dst dst LEFT RIGHT
LRANGE dst 0 -1
SET str v
LMOVE dst str LEFT LEFT
LMOVE str dst LEFT LEFT
LPUSH str a
LRANGE str 0 1
LLEN str
BLPOP str 0
RPUSH bl 1 2
BLPOP nokey bl 0
BRPOP bl 0
BLPOP bl abc
BLPOP bl -1
BLPOP bl 1e300
BLPOP str bl 0
RPUSH bm 1
BLMOVE bm bmd LEFT RIGHT 0
BLMOVE bm bmd FOO RIGHT 0
BLMOVE bm bmd LEFT RIGHT abc
BRPOPLPUSH bmd bm 0
MULTI
BLPOP empty 1
BRPOP empty 1
BLMOVE empty e2 LEFT LEFT 1
BRPOPLPUSH empty e2 1
EXEC
OBJECT ENCODING bm
TYPE bm
"""
)


# Generic commands on every type: TYPE, SCAN TYPE, COPY, RENAME, expiry, OBJECT ENCODING, WRONGTYPE.
EVERY_TYPE = script(
    """
FLUSHALL
HSET h f v
SADD s 1
SADD s2 a
ZADD z 1 m
RPUSH l a
SET str v
TYPE h
TYPE s
TYPE z
TYPE l
TYPE str
GET h
INCR l
APPEND z x
STRLEN s
GETRANGE h 0 1
SETRANGE l 0 x
GETDEL h
GETEX z
SCAN 0 TYPE hash
SCAN 0 TYPE list
SCAN 0 TYPE zset
SCAN 0 TYPE string
COPY h h2
HGETALL h2
COPY z z2
ZRANGE z2 0 -1 WITHSCORES
COPY l l2
LRANGE l2 0 -1
COPY s s3
SMEMBERS s3
HSET h2 g w
HGETALL h
RENAME l lnew
LRANGE lnew 0 -1
EXPIRE h 100
TTL h
PERSIST h
OBJECT ENCODING h
OBJECT ENCODING s
OBJECT ENCODING s2
OBJECT ENCODING z
OBJECT ENCODING lnew
DEL h s z lnew
EXISTS h s z lnew
SET h x
MSET l 1
SET z v GET
HSET counters a 1
INCRBYFLOAT counters 1
"""
)


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
@pytest.mark.parametrize(
    "steps",
    [HASHES, SETS, SORTED_SETS, LISTS, EVERY_TYPE],
    ids=["hashes", "sets", "sorted-sets", "lists", "every-type"],
)
def test_replies_match_redis(
    kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool, steps: list[tuple[str, ...]]
) -> None:
    assert_same_replies(kv_server, real_redis, resp3, steps)
