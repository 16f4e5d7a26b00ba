"""kvserver.blocking driven in-process: parking in arrival order, readiness from the keyspace's
change signal, serving, unparking, timeouts as data, and waiters woken without consuming."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from kvserver.blocking import Block, Blocking
from kvserver.keyspace import Keyspace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Client:
    """A parked client as the module sees it: its Block, and where its reply goes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.blocked: Block | None = None
        self.replies: list[object] = []
        self.on_unblocked: Callable[[object], None] = self.replies.append


def popper(keyspace: Keyspace) -> Callable[[object, object, bytes], object | None]:
    """A consuming serve: one element from the list at the key, None while there is none."""

    def serve(ctx: object, client: object, key: bytes) -> object | None:
        value = keyspace.get(key)
        if isinstance(value, deque) and len(value):
            element = value.popleft()
            if not len(value):
                keyspace.delete(key)
            return [key, element]
        return None

    return serve


def reader(keyspace: Keyspace) -> Callable[[object, object, bytes], object | None]:
    """A non-consuming serve (XREAD BLOCK's shape): what the key holds, taking nothing."""

    def serve(ctx: object, client: object, key: bytes) -> object | None:
        value = keyspace.get(key)
        return None if value is None else [key, list(value)]  # type: ignore[call-overload]

    return serve


def setup() -> tuple[Keyspace, Blocking, Clock]:
    keyspace = Keyspace()
    clock = Clock()
    return keyspace, Blocking(keyspace, clock), clock


def test_waiters_are_served_in_arrival_order_while_there_is_something_to_take() -> None:
    ks, blocking, _ = setup()
    first, second, third = Client("1"), Client("2"), Client("3")
    for client in (first, second, third):
        blocking.park(client, Block([b"q"], 0, popper(ks), None, [b"BLPOP", b"q", b"0"]))
    ks.set(b"q", deque([b"a", b"b"]))
    assert list(blocking.ready) == [b"q"]
    blocking.serve(None)
    assert first.replies == [[b"q", b"a"]]
    assert second.replies == [[b"q", b"b"]]
    assert third.replies == []
    assert third.blocked is not None
    assert list(blocking.waiting[b"q"]) == [third]
    assert not blocking.ready


def test_it_listens_to_the_keyspace_only_while_somebody_waits() -> None:
    ks, blocking, _ = setup()
    assert ks.listeners == []
    client = Client("c")
    blocking.park(client, Block([b"a", b"b"], 0, popper(ks), None, []))
    assert ks.listeners == [blocking]
    ks.set(b"unrelated", b"v")
    assert not blocking.ready  # a key nobody waits on is not ready
    blocking.unpark(client)
    assert ks.listeners == []
    assert blocking.waiting == {}
    assert client.blocked is None


def test_a_key_of_another_type_keeps_the_waiter_waiting() -> None:
    ks, blocking, _ = setup()
    client = Client("c")
    blocking.park(client, Block([b"q"], 0, popper(ks), None, []))
    ks.set(b"q", b"a string")
    blocking.serve(None)
    assert client.blocked is not None
    assert client.replies == []


def test_waiters_woken_without_consuming_are_all_served_on_a_change() -> None:
    ks, blocking, _ = setup()
    readers = [Client(str(i)) for i in range(3)]
    for client in readers:
        blocking.park(client, Block([b"s"], 0, reader(ks), None, [b"XREAD"], consume=False))
    ks.set(b"s", deque([b"e1"]))
    blocking.serve(None)
    assert [client.replies for client in readers] == [[[b"s", [b"e1"]]]] * 3
    assert ks.get(b"s") == deque([b"e1"])  # nobody took it
    assert blocking.waiting == {}


def test_a_consuming_waiter_behind_readers_still_gets_its_turn() -> None:
    ks, blocking, _ = setup()
    watcher, taker = Client("r"), Client("t")
    blocking.park(watcher, Block([b"s"], 0, reader(ks), None, [], consume=False))
    blocking.park(taker, Block([b"s"], 0, popper(ks), None, []))
    ks.set(b"s", deque([b"x"]))
    blocking.serve(None)
    assert watcher.replies == [[b"s", [b"x"]]]
    assert taker.replies == [[b"s", b"x"]]


def test_timeouts_are_data_the_caller_schedules_from() -> None:
    ks, blocking, _ = setup()
    short, long_, never = Client("s"), Client("l"), Client("n")
    assert blocking.park(short, Block([b"k"], 0.5, popper(ks), "timed out", [])) == 100.5
    assert blocking.park(long_, Block([b"k"], 2, popper(ks), "timed out", [])) == 102.0
    assert blocking.park(never, Block([b"k"], 0, popper(ks), "timed out", [])) is None
    assert blocking.deadline(short) == 100.5
    assert blocking.expire(100.4) == 0
    assert blocking.expire(100.5) == 1
    assert short.replies == ["timed out"]
    assert short.blocked is None
    assert list(blocking.waiting[b"k"]) == [long_, never]
    assert blocking.time_out(long_) is True
    assert blocking.time_out(long_) is False  # no longer blocked
    assert long_.replies == ["timed out"]


def test_unblock_answers_once_and_unpark_answers_nothing() -> None:
    ks, blocking, _ = setup()
    unblocked, closed = Client("u"), Client("c")
    blocking.park(unblocked, Block([b"k"], 0, popper(ks), None, []))
    blocking.park(closed, Block([b"k"], 0, popper(ks), None, []))
    assert blocking.unblock(unblocked, "UNBLOCKED") is True
    assert blocking.unblock(unblocked, "again") is False
    blocking.unpark(closed)
    assert unblocked.replies == ["UNBLOCKED"]
    assert closed.replies == []
    assert len(blocking) == 0
    assert ks.listeners == []


def test_a_serve_that_raises_becomes_that_waiters_reply() -> None:
    ks, blocking, _ = setup()

    def broken(ctx: object, client: object, key: bytes) -> object | None:
        raise ValueError("bug")

    failing, next_one = Client("f"), Client("n")
    blocking.park(failing, Block([b"q"], 0, broken, None, []))
    blocking.park(next_one, Block([b"q"], 0, popper(ks), None, []))
    ks.set(b"q", deque([b"a"]))
    blocking.serve(None, on_error=lambda client, exc: f"error: {exc}")
    assert failing.replies == ["error: bug"]
    assert next_one.replies == [[b"q", b"a"]]
