"""Keyspace notifications in-process: the notify-keyspace-events flags, when the listener is
subscribed, and the events a subscriber receives for the commands whose translation is not a
plain name (holding "new" and "del" until the command's event, two-key commands, expiry,
eviction). The same events against redis-server: tests/e2e/test_notifications.py."""

from __future__ import annotations

import pytest

from kvserver.config import Config, parse_keyspace_events, show_keyspace_events
from kvserver.protocol import OK, ErrorReply
from kvserver.state import ClientState
from tests.support import Harness, read_all
from tests.unit.test_config_set import config_set, refusing


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("", ""),
        ("K", "K"),
        ("KEA", "AKE"),
        ("AKE", "AKE"),
        ("gK", "gK"),
        ("Kn", "nK"),
        ("An", "A"),  # as redis-server: no "n" after "A"
        ("g$lshzxetdnKEm", "AKEm"),
        ("Elx", "lxE"),
        ("KKgg", "gK"),
    ],
)
def test_flags_are_shown_as_redis_writes_them(given: str, shown: str) -> None:
    assert show_keyspace_events(parse_keyspace_events(given)) == shown


@pytest.mark.parametrize("given", ["xyz", "KEA ", "a", "KEAq"])
def test_an_unknown_class_letter_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match=r"^Invalid event class character\. Use 'Ag\$lshzxeKEtmdn'\.$"):
        parse_keyspace_events(given)


class Subscriber:
    """A client psubscribed to every keyspace channel; ``take`` gives (channel, message) pairs."""

    def __init__(self, h: Harness, pattern: str = "__key*__:*") -> None:
        self.h = h
        self.pushed: list[bytes] = []
        self.state: ClientState = h.new_client()
        self.state.push = self.pushed.append
        h("PSUBSCRIBE", pattern, client=self.state)
        self.pushed.clear()

    def take(self) -> list[tuple[bytes, bytes]]:
        frames = read_all(b"".join(self.pushed))
        self.pushed.clear()
        pairs = []
        for frame in frames:
            assert isinstance(frame, list)
            assert frame[0] == b"pmessage"
            pairs.append((frame[2], frame[3]))
        return pairs

    def events(self) -> list[tuple[str, str]]:
        """The keyevent messages only: (event, key)."""
        prefix = b"__keyevent@0__:"
        return [
            (channel[len(prefix) :].decode(), key.decode())
            for channel, key in self.take()
            if channel.startswith(prefix)
        ]


def notified(flags: str) -> tuple[Harness, Subscriber]:
    h = Harness(Config(notify_keyspace_events=parse_keyspace_events(flags)))
    return h, Subscriber(h)


def test_off_by_default_and_then_not_subscribed_to_the_keyspace() -> None:
    h = Harness()
    sub = Subscriber(h)
    assert h("CONFIG", "GET", "notify-keyspace-events") == {b"notify-keyspace-events": b""}
    assert h.db.notifications not in h.db.keyspace.listeners
    h("SET", "k", "v")
    assert sub.take() == []


@pytest.mark.parametrize(
    ("flags", "subscribed"), [("KEA", True), ("K", False), ("E", False), ("g", False), ("Em", False), ("Kx", True)]
)
def test_subscribed_only_when_the_flags_publish_something(flags: str, subscribed: bool) -> None:
    h = Harness()
    assert h("CONFIG", "SET", "notify-keyspace-events", flags) == OK
    assert (h.db.notifications in h.db.keyspace.listeners) is subscribed
    h("CONFIG", "SET", "notify-keyspace-events", "")
    assert h.db.notifications not in h.db.keyspace.listeners


def test_config_set_refuses_a_bad_letter_with_redis_text_and_keeps_the_old_value() -> None:
    h = Harness()
    h("CONFIG", "SET", "notify-keyspace-events", "KEA")
    assert h("CONFIG", "SET", "notify-keyspace-events", "KEAq") == ErrorReply(
        b"ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - "
        b"Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    )
    assert h("CONFIG", "GET", "notify-keyspace-events") == {b"notify-keyspace-events": b"AKE"}


def test_keyspace_and_keyevent_channels_carry_the_event_and_the_key() -> None:
    h, sub = notified("KEA")
    h("SET", "k", "v")
    assert sub.take() == [(b"__keyspace@0__:k", b"set"), (b"__keyevent@0__:set", b"k")]


def test_only_the_channel_kinds_and_classes_asked_for() -> None:
    h, sub = notified("K$")
    h("SET", "k", "v")
    h("EXPIRE", "k", "100")  # generic: not asked for
    h("LPUSH", "l", "a")  # list: not asked for
    assert sub.take() == [(b"__keyspace@0__:k", b"set")]
    h("CONFIG", "SET", "notify-keyspace-events", "Eg")
    h("SET", "k", "v", "EX", "10")
    assert sub.take() == [(b"__keyevent@0__:expire", b"k")]


def test_a_new_key_is_announced_where_the_command_adds_it() -> None:
    h, sub = notified("KEAn")
    h("SADD", "s", "a")
    h("SMOVE", "s", "t", "a")  # Redis: the source's events, then the destination's "new"
    assert sub.events() == [("new", "s"), ("sadd", "s"), ("srem", "s"), ("del", "s"), ("new", "t"), ("sadd", "t")]


def test_a_pop_that_empties_a_key_is_the_pop_then_del() -> None:
    h, sub = notified("KEA")
    h("RPUSH", "l", "a", "b")
    h("RPOPLPUSH", "l", "m")
    h("LMOVE", "l", "m", "LEFT", "RIGHT")
    h("HSET", "h", "f", "1")
    h("HDEL", "h", "f")
    assert sub.events() == [
        ("rpush", "l"),
        ("lpush", "m"),
        ("rpop", "l"),
        ("rpush", "m"),
        ("lpop", "l"),
        ("del", "l"),
        ("hset", "h"),
        ("hdel", "h"),
        ("del", "h"),
    ]


def test_removals_that_are_del_alone() -> None:
    h, sub = notified("KEA")
    h("MSET", "a", "1", "b", "2", "c", "3")
    sub.take()
    h("DEL", "a", "missing", "b")
    h("EXPIRE", "c", "0")  # a deadline in the past deletes
    h("SADD", "s", "x")
    h("SET", "dest", "v")
    h("SDIFFSTORE", "dest", "s", "s")  # an empty result removes the destination
    h("SDIFFSTORE", "dest", "s", "s")  # and then there is nothing to remove
    assert sub.events() == [("del", "a"), ("del", "b"), ("del", "c"), ("sadd", "s"), ("set", "dest"), ("del", "dest")]


def test_commands_whose_event_depends_on_their_arguments() -> None:
    h, sub = notified("KEA")
    h("SET", "k", "v", "PX", "100000")
    h("SET", "k", "v", "KEEPTTL")
    h("INCR", "n")
    h("GETEX", "k", "PERSIST")
    h("ZADD", "z", "INCR", "1", "a")
    h("ZADD", "z", "1", "incr")  # a member named like the option
    h("SET", "r", "v")
    h("RENAME", "r", "k")
    h("COPY", "k", "c")
    assert sub.events() == [
        ("set", "k"),
        ("expire", "k"),
        ("set", "k"),
        ("incrby", "n"),
        ("persist", "k"),
        ("zincr", "z"),
        ("zadd", "z"),
        ("set", "r"),
        ("rename_from", "r"),
        ("rename_to", "k"),
        ("copy_to", "c"),
    ]


def test_expired_keys_lazily_and_actively() -> None:
    h, sub = notified("Ex")
    h("SET", "lazy", "v", "PX", "100")
    h("SET", "active", "v", "PX", "200")
    h.clock.now += 150
    assert h("GET", "lazy") is None
    h.clock.now += 100
    assert h.db.keyspace.purge_expired(h.clock.now, 10) == 1
    assert sub.events() == [("expired", "lazy"), ("expired", "active")]


@pytest.mark.parametrize("write", [("SET", "k", "w"), ("SET", "k", "w", "KEEPTTL"), ("MSET", "k", "w")])
def test_a_write_over_a_key_past_its_deadline_expires_it_first(write: tuple[str, ...]) -> None:
    """As Redis: "expired", then the key is new (and KEEPTTL keeps no dead deadline)."""
    h, sub = notified("KEAn")
    h("SET", "k", "v", "PX", "100")
    sub.take()
    h.clock.now += 200
    h(*write)
    assert sub.events() == [("expired", "k"), ("new", "k"), ("set", "k")]
    assert h("PTTL", "k") == -1
    assert h.records()[-2] == [b"DEL", b"k"]  # the log has the expiry too


def test_a_transaction_announces_each_command_in_order() -> None:
    h, sub = notified("KEA")
    h("MULTI")
    h("SET", "m", "1")
    h("INCRBY", "m", "2")
    h("DEL", "m")
    h("EXEC")
    assert sub.events() == [("set", "m"), ("incrby", "m"), ("del", "m")]


def test_a_served_blocked_pop_is_announced_after_the_push() -> None:
    h, sub = notified("KEA")
    waiter = h.new_client()
    h("BLPOP", "q", "0", client=waiter)
    h("RPUSH", "q", "job")
    assert sub.events() == [("rpush", "q"), ("lpop", "q"), ("del", "q")]


def test_an_evicted_key_is_evicted_not_del() -> None:
    h = Harness(Config(notify_keyspace_events=parse_keyspace_events("KEA"), maxmemory_policy="allkeys-random"))
    sub = Subscriber(h)
    h("SET", "k", "v")
    h("CONFIG", "SET", "maxmemory", "1")  # below what any process uses: every key goes
    assert h("SET", "k2", "v") == ErrorReply(b"OOM command not allowed when used memory > 'maxmemory'.")
    assert sub.events() == [("set", "k"), ("evicted", "k")]


def test_rpoplpush_of_a_one_element_list_onto_itself_keeps_it() -> None:
    h = Harness()
    h("RPUSH", "q", "a")
    assert h("RPOPLPUSH", "q", "q") == b"a"
    assert h("LMOVE", "q", "q", "LEFT", "RIGHT") == b"a"
    assert h("LRANGE", "q", "0", "-1") == [b"a"]


def test_a_config_set_rolled_back_unsubscribes_again() -> None:
    """CONFIG SET notify-keyspace-events KEA with another parameter the server refuses: the old
    flags are back, and the listener with them."""
    applied: list[tuple[str, str]] = []
    db = refusing("maxclients", applied)
    reply = config_set(db, "notify-keyspace-events", "KEA", "maxclients", "100")
    assert isinstance(reply, ErrorReply)
    assert db.config.notify_keyspace_events == 0
    assert db.notifications not in db.keyspace.listeners
    assert config_set(db, "notify-keyspace-events", "KEA") == OK
    assert db.notifications in db.keyspace.listeners
