"""Pub/sub and MONITOR, sans-IO: who is subscribed to what, and the bytes each one receives.

Three namespaces, global (not per database) as in Redis: channels (SUBSCRIBE, PUBLISH),
patterns (PSUBSCRIBE, matched against every PUBLISH) and shard channels (SSUBSCRIBE,
SPUBLISH). A subscriber is any object with the ``Subscriber`` attributes (``ClientState`` is
one); what it receives goes to its ``push`` callable as ready RESP bytes, which the server
delivers behind the same durability barrier as the publisher's reply.

A publish encodes its frame at most once per protocol, whatever the number of receivers. A
pattern is compiled once, when it is first subscribed to, with ``kvserver.glob`` (polynomial,
never exponential); a publish tests each distinct pattern once: O(patterns x channel length).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from kvserver.glob import Matcher, compile_glob
from kvserver.protocol import PushReply, encode_reply
from kvserver.state import quote_repr


class Subscriptions:
    """One client's subscriptions (insertion-ordered, as UNSUBSCRIBE with no argument lists them)."""

    __slots__ = ("channels", "patterns", "shard")

    def __init__(self) -> None:
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.shard: dict[bytes, None] = {}

    @property
    def count(self) -> int:
        """The count SUBSCRIBE and PSUBSCRIBE confirmations report (shard channels apart)."""
        return len(self.channels) + len(self.patterns)

    def __bool__(self) -> bool:
        return bool(self.channels or self.patterns or self.shard)


class Subscriber(Protocol):
    subs: Subscriptions | None  # None: subscribed to nothing (not in subscribed mode)
    resp3: bool
    monitor: bool
    push: Callable[[bytes], None]  # hands ready RESP bytes to the client's connection


@dataclass(slots=True)
class _Pattern:
    match: Matcher
    subscribers: dict[Subscriber, None]


# the kinds of subscription: (dict name on Subscriptions, confirm verb, unsubscribe verb)
CHANNEL: Final = "channel"
PATTERN: Final = "pattern"
SHARD: Final = "shard"
_VERBS: Final = {
    CHANNEL: (b"subscribe", b"unsubscribe"),
    PATTERN: (b"psubscribe", b"punsubscribe"),
    SHARD: (b"ssubscribe", b"sunsubscribe"),
}


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


class PubSub:
    """The server-wide registry: channel / pattern / shard channel -> subscribers, and the monitors."""

    def __init__(self) -> None:
        self.channels: dict[bytes, dict[Subscriber, None]] = {}
        self.shard: dict[bytes, dict[Subscriber, None]] = {}
        self.patterns: dict[bytes, _Pattern] = {}
        self.monitors: dict[Subscriber, None] = {}

    # --- subscribing -----------------------------------------------------------------------------

    def subscribe(self, client: Subscriber, names: Iterable[bytes], kind: str) -> bytes:
        """Subscribe ``client`` to each name; the confirmations, encoded for its protocol."""
        subs = client.subs
        if subs is None:
            subs = client.subs = Subscriptions()
        mine = _own(subs, kind)
        verb = _VERBS[kind][0]
        out: list[bytes] = []
        for name in names:
            if name not in mine:
                mine[name] = None
                if kind == PATTERN:
                    entry = self.patterns.get(name)
                    if entry is None:
                        entry = self.patterns[name] = _Pattern(compile_glob(name), {})
                    entry.subscribers[client] = None
                else:
                    registry = self.channels if kind == CHANNEL else self.shard
                    registry.setdefault(name, {})[client] = None
            count = len(mine) if kind == SHARD else subs.count
            encode_reply(PushReply([verb, name, count]), client.resp3, out)
        return b"".join(out)

    def unsubscribe(self, client: Subscriber, names: list[bytes], kind: str) -> bytes:
        """Unsubscribe from each name (every one of that kind if none); the confirmations."""
        subs = client.subs
        mine = _own(subs, kind) if subs is not None else {}
        verb = _VERBS[kind][1]
        out: list[bytes] = []
        for name in names or list(mine):
            if name in mine:
                del mine[name]
                self._forget(client, name, kind)
            count = (len(mine) if kind == SHARD else subs.count) if subs is not None else 0
            encode_reply(PushReply([verb, name, count]), client.resp3, out)
        if not out:  # nothing to unsubscribe from: Redis still answers once, with a nil name
            count = subs.count if subs is not None and kind != SHARD else 0
            encode_reply(PushReply([verb, None, count]), client.resp3, out)
        if subs is not None and not subs:
            client.subs = None
        return b"".join(out)

    def _forget(self, client: Subscriber, name: bytes, kind: str) -> None:
        if kind == PATTERN:
            entry = self.patterns.get(name)
            if entry is not None:
                entry.subscribers.pop(client, None)
                if not entry.subscribers:
                    del self.patterns[name]
            return
        registry = self.channels if kind == CHANNEL else self.shard
        subscribers = registry.get(name)
        if subscribers is not None:
            subscribers.pop(client, None)
            if not subscribers:
                del registry[name]

    def drop(self, client: Subscriber) -> None:
        """Forget everything about a client (disconnect, RESET): no confirmations are sent."""
        subs = client.subs
        if subs is not None:
            for kind in (CHANNEL, PATTERN, SHARD):
                for name in _own(subs, kind):
                    self._forget(client, name, kind)
            client.subs = None
        if client.monitor:
            client.monitor = False
            self.monitors.pop(client, None)

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to the channel's subscribers, then to every matching pattern's; the receiver count."""
        tail = _bulk(channel) + _bulk(message)
        frames = _Frames(b"message\r\n" + tail, 3, b"$7\r\n")
        receivers = 0
        subscribers = self.channels.get(channel)
        if subscribers:
            for client in subscribers:
                client.push(frames.get(client.resp3))
            receivers = len(subscribers)
        if self.patterns:
            for pattern, entry in list(self.patterns.items()):
                if entry.match(channel):
                    pframes = _Frames(b"pmessage\r\n" + _bulk(pattern) + tail, 4, b"$8\r\n")
                    for client in entry.subscribers:
                        client.push(pframes.get(client.resp3))
                    receivers += len(entry.subscribers)
        return receivers

    def spublish(self, channel: bytes, message: bytes) -> int:
        subscribers = self.shard.get(channel)
        if not subscribers:
            return 0
        frames = _Frames(b"smessage\r\n" + _bulk(channel) + _bulk(message), 3, b"$8\r\n")
        for client in subscribers:
            client.push(frames.get(client.resp3))
        return len(subscribers)

    # --- PUBSUB introspection ----------------------------------------------------------------------

    def active(self, kind: str, pattern: bytes | None) -> list[bytes]:
        registry = self.channels if kind == CHANNEL else self.shard
        if pattern is None:
            return list(registry)
        match = compile_glob(pattern)
        return [name for name in registry if match(name)]

    def numsub(self, kind: str, names: list[bytes]) -> list[object]:
        registry = self.channels if kind == CHANNEL else self.shard
        reply: list[object] = []
        for name in names:
            reply += (name, len(registry.get(name, ())))
        return reply

    # --- MONITOR ---------------------------------------------------------------------------------

    def feed_monitors(self, db: int, origin: str, argv: list[bytes]) -> None:
        """One MONITOR line to every monitor, as Redis's replicationFeedMonitors writes it."""
        now = time.time()
        seconds = int(now)
        line = b"+%d.%06d [%d %b] %b\r\n" % (
            seconds,
            int((now - seconds) * 1_000_000),
            db,
            origin.encode(),
            b" ".join(quote_repr(arg) for arg in redacted(argv)),
        )
        for client in self.monitors:
            client.push(line)


class _Frames:
    """A message's frame in RESP2 (``*n``) and RESP3 (``>n``), each built on first use."""

    __slots__ = ("body", "resp2", "resp3")

    def __init__(self, body: bytes, length: int, verb_header: bytes) -> None:
        self.body = b"%d\r\n%b%b" % (length, verb_header, body)
        self.resp2: bytes | None = None
        self.resp3: bytes | None = None

    def get(self, resp3: bool) -> bytes:
        if resp3:
            if self.resp3 is None:
                self.resp3 = b">" + self.body
            return self.resp3
        if self.resp2 is None:
            self.resp2 = b"*" + self.body
        return self.resp2


def _own(subs: Subscriptions, kind: str) -> dict[bytes, None]:
    return subs.channels if kind == CHANNEL else subs.patterns if kind == PATTERN else subs.shard


# --- MONITOR lines ---------------------------------------------------------------------------------

REDACTED: Final = b"(redacted)"


def redacted(argv: list[bytes]) -> list[bytes]:
    """The arguments a monitor sees: Redis 7.0 hides AUTH's and HELLO ... AUTH's credentials."""
    name = argv[0].lower()
    if name == b"auth":
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == b"hello":
        shown = list(argv)
        for j in range(2, len(argv) - 2):
            if argv[j].lower() == b"auth":
                shown[j + 1] = shown[j + 2] = REDACTED
                break
        return shown
    return argv


# --- client-output-buffer-limit ---------------------------------------------------------------------


def output_limit_exceeded(limits: tuple[int, int, int], size: int, now: float, soft_since: float) -> tuple[bool, float]:
    """(disconnect?, the new soft_since) for a client whose unread output is ``size`` bytes, under
    ``limits`` = (hard, soft, soft seconds), 0 meaning none, as Redis's checkClientOutputBufferLimits;
    ``soft_since`` is when it went over the soft limit (0: it is under)."""
    hard, soft, soft_seconds = limits
    if hard and size >= hard:
        return True, soft_since
    if soft and size >= soft:
        if not soft_since:
            return False, now
        return now - soft_since > soft_seconds, soft_since
    return False, 0.0


__all__ = [
    "CHANNEL",
    "PATTERN",
    "SHARD",
    "output_limit_exceeded",
    "PubSub",
    "Subscriber",
    "Subscriptions",
    "redacted",
]
