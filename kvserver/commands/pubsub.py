"""Pub/sub commands (SUBSCRIBE, PUBLISH, PUBSUB ..., the sharded forms) and MONITOR.

The registry and the frames are ``kvserver.pubsub``; these handlers parse arguments and answer.
(Un)subscribe confirmations are several frames for one command, so they come back encoded for
the client's protocol (a memoryview the reply encoder passes through as it is).
"""

from __future__ import annotations

from typing import Final

from kvserver.commands.registry import (
    ADMIN,
    FAST,
    LOADING,
    NOSCRIPT,
    STALE,
    CommandError,
    Context,
    Variant,
    command,
    container,
)
from kvserver.protocol import NO_REPLY, OK, Pushes, SimpleString
from kvserver.pubsub import CHANNEL, PATTERN, SHARD
from kvserver.state import ClientState

PUBSUB: Final = "pubsub"  # the group, and the flag COMMAND INFO shows
_SUBSCRIBING: Final = (PUBSUB, NOSCRIPT, LOADING, STALE)
_INTROSPECTION: Final = (PUBSUB, LOADING, STALE)


def _confirmations(frames: bytes) -> Pushes:
    return Pushes(frames)


# the shard forms name their channels as keys (a cluster routes them by slot)
@command(
    [
        Variant(
            "subscribe",
            "Listen for messages published to the given channels",
            complexity="O(N) where N is the number of channels to subscribe to.",
            kind=CHANNEL,
        ),
        Variant(
            "psubscribe",
            "Listen for messages published to channels matching the given patterns",
            complexity="O(N) where N is the number of patterns the client is already subscribed to.",
            kind=PATTERN,
        ),
    ],
    -2,
    _SUBSCRIBING,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.0.0",
)
@command(
    [
        Variant(
            "ssubscribe",
            "Listen for messages published to the given shard channels",
            complexity="O(N) where N is the number of shard channels to subscribe to.",
            kind=SHARD,
        )
    ],
    -2,
    _SUBSCRIBING,
    keys=(1, -1, 1),
    group=PUBSUB,
    since="7.0.0",
)
def _subscribe(ctx: Context, client: ClientState, argv: list[bytes], kind: str) -> object:
    return _confirmations(ctx.pubsub.subscribe(client, argv[1:], kind))


@command(
    [
        Variant(
            "unsubscribe",
            "Stop listening for messages posted to the given channels",
            complexity="O(N) where N is the number of clients already subscribed to a channel.",
            kind=CHANNEL,
        ),
        Variant(
            "punsubscribe",
            "Stop listening for messages posted to channels matching the given patterns",
            complexity="O(N+M) where N is the number of patterns the client is already subscribed and M is the "
            "number of total patterns subscribed in the system (by any client).",
            kind=PATTERN,
        ),
    ],
    -1,
    _SUBSCRIBING,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.0.0",
)
@command(
    [
        Variant(
            "sunsubscribe",
            "Stop listening for messages posted to the given shard channels",
            complexity="O(N) where N is the number of clients already subscribed to a shard channel.",
            kind=SHARD,
        )
    ],
    -1,
    _SUBSCRIBING,
    keys=(1, -1, 1),
    group=PUBSUB,
    since="7.0.0",
)
def _unsubscribe(ctx: Context, client: ClientState, argv: list[bytes], kind: str) -> object:
    return _confirmations(ctx.pubsub.unsubscribe(client, argv[1:], kind))


@command(
    "publish",
    3,
    (PUBSUB, LOADING, STALE, FAST),
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.0.0",
    complexity="O(N+M) where N is the number of clients subscribed to the receiving channel and M is the "
    "total number of subscribed patterns (by any client).",
    summary="Post a message to a channel",
)
def publish_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.publish(argv[1], argv[2])


@command(
    "spublish",
    3,
    (PUBSUB, LOADING, STALE, FAST),
    keys=(1, 1, 1),
    group=PUBSUB,
    since="7.0.0",
    complexity="O(N) where N is the number of clients subscribed to the receiving shard channel.",
    summary="Post a message to a shard channel",
)
def spublish_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.spublish(argv[1], argv[2])


# --- PUBSUB ----------------------------------------------------------------------------------------

container("pubsub", -2, group=PUBSUB, since="2.8.0", summary="A container for Pub/Sub commands")


def _pattern_argument(argv: list[bytes]) -> bytes | None:
    if len(argv) > 3:  # Redis's text for CHANNELS / SHARDCHANNELS with more than one pattern
        name = argv[1].decode("utf-8", "surrogateescape")
        raise CommandError(f"ERR unknown subcommand or wrong number of arguments for '{name}'. Try PUBSUB HELP.")
    return argv[2] if len(argv) == 3 else None


@command(
    "channels",
    -2,
    _INTROSPECTION,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.8.0",
    parent="pubsub",
    complexity="O(N) where N is the number of active channels, and assuming constant time pattern matching "
    "(relatively short channels and patterns)",
    summary="List active channels",
)
def pubsub_channels_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.active(CHANNEL, _pattern_argument(argv))


@command(
    "shardchannels",
    -2,
    _INTROSPECTION,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="7.0.0",
    parent="pubsub",
    complexity="O(N) where N is the number of active shard channels, and assuming constant time pattern "
    "matching (relatively short shard channels).",
    summary="List active shard channels",
)
def pubsub_shardchannels_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.active(SHARD, _pattern_argument(argv))


@command(
    "numsub",
    -2,
    _INTROSPECTION,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.8.0",
    parent="pubsub",
    complexity="O(N) for the NUMSUB subcommand, where N is the number of requested channels",
    summary="Get the count of subscribers for channels",
)
def pubsub_numsub_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.numsub(CHANNEL, argv[2:])


@command(
    "shardnumsub",
    -2,
    _INTROSPECTION,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="7.0.0",
    parent="pubsub",
    complexity="O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels",
    summary="Get the count of subscribers for shard channels",
)
def pubsub_shardnumsub_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.pubsub.numsub(SHARD, argv[2:])


@command(
    "numpat",
    2,
    _INTROSPECTION,
    keys=(0, 0, 0),
    group=PUBSUB,
    since="2.8.0",
    parent="pubsub",
    summary="Get the count of unique patterns pattern subscriptions",
)
def pubsub_numpat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(ctx.pubsub.patterns)


_PUBSUB_HELP: Final = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


@command(
    "help",
    2,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=PUBSUB,
    since="6.2.0",
    parent="pubsub",
    summary="Show helpful text about the different subcommands",
)
def pubsub_help_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return [SimpleString(line.encode()) for line in _PUBSUB_HELP]


# --- MONITOR ---------------------------------------------------------------------------------------


@command(
    "monitor",
    1,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group="server",
    since="1.0.0",
    summary="Listen for all requests received by the server in real time",
)
def monitor_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if ctx.in_transaction:  # queued in MULTI: refused at EXEC, as in Redis
        raise CommandError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    if client.monitor:
        return NO_REPLY  # Redis ignores a second MONITOR
    client.monitor = True
    ctx.pubsub.monitors[client] = None
    return OK
