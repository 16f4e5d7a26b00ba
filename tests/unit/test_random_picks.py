"""SRANDMEMBER, SPOP, HRANDFIELD, ZRANDMEMBER on large containers never walk the whole container:
every way of iterating it raises here, so a pick that is not O(count) fails."""

from __future__ import annotations

from typing import NoReturn

import pytest

from kvserver.commands.containers import IndexedHash, IndexedSet
from kvserver.protocol import ErrorReply
from kvserver.zset import ZSet
from tests.support import Harness

SIZE = 5000  # past the compact sizes: the containers are indexed


def _walked(*args: object) -> NoReturn:
    raise AssertionError("the whole container was walked")


class UnwalkableScores(dict[bytes, float]):
    __iter__ = keys = values = items = _walked


@pytest.fixture
def h(monkeypatch: pytest.MonkeyPatch) -> Harness:
    h = Harness()
    members = [b"m%d" % i for i in range(SIZE)]
    h("SADD", "s", *members)
    h("HSET", "h", *[part for m in members for part in (m, b"v" + m)])
    h("ZADD", "z", *[part for i, m in enumerate(members) for part in (b"%d" % i, m)])
    ks = h.db.keyspace
    assert type(ks.get(b"s")) is IndexedSet
    assert type(ks.get(b"h")) is IndexedHash
    monkeypatch.setattr(IndexedSet, "__iter__", _walked)
    for name in ("__iter__", "keys", "values", "items"):
        monkeypatch.setattr(IndexedHash, name, _walked)
    zset = ks.get(b"z")
    assert isinstance(zset, ZSet)
    zset.scores = UnwalkableScores(dict.items(zset.scores))
    return h


@pytest.mark.parametrize(
    "command",
    [
        ("SRANDMEMBER", "s"),
        ("SRANDMEMBER", "s", "10"),
        ("SRANDMEMBER", "s", "-10"),
        ("SRANDMEMBER", "s", "-5000"),  # repeats, encoded by the handler
        ("SPOP", "s"),
        ("SPOP", "s", "10"),
        ("HRANDFIELD", "h"),
        ("HRANDFIELD", "h", "10", "WITHVALUES"),
        ("HRANDFIELD", "h", "-3000", "WITHVALUES"),
        ("ZRANDMEMBER", "z"),
        ("ZRANDMEMBER", "z", "10", "WITHSCORES"),
        ("ZRANDMEMBER", "z", "-3000", "WITHSCORES"),
    ],
)
def test_a_random_pick_costs_its_count_not_the_container(h: Harness, command: tuple[str, ...]) -> None:
    reply = h(*command)
    assert isinstance(reply, bytes | list | memoryview)
    assert not isinstance(reply, ErrorReply)


def test_picks_follow_redis_rules_for_counts(h: Harness) -> None:
    distinct = h("SRANDMEMBER", "s", "10")
    assert isinstance(distinct, list)
    assert len(set(distinct)) == 10
    repeated = h("ZRANDMEMBER", "z", "-20")
    assert isinstance(repeated, list)
    assert len(repeated) == 20
    assert h("SPOP", "s", "-1") == h("SPOP", "s", "x")  # both "must be positive"
