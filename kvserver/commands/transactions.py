"""MULTI / EXEC / DISCARD / WATCH / UNWATCH with Redis's semantics.

Commands sent after MULTI are queued by the database (after the same arity and auth checks as
outside a transaction); a rejected one marks the transaction so EXEC answers EXECABORT. EXEC runs
the queue as one unit: its writes reach the log together or not at all.
"""

from __future__ import annotations

from typing import Final

from kvserver.commands.registry import (
    ALLOW_BUSY,
    FAST,
    LOADING,
    NOSCRIPT,
    SKIP_SLOWLOG,
    STALE,
    CommandError,
    Context,
    command,
)
from kvserver.protocol import OK, NullArray
from kvserver.state import ClientState

TRANSACTIONS: Final = "transactions"


@command(
    "multi",
    1,
    (NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=TRANSACTIONS,
    since="1.2.0",
    summary="Mark the start of a transaction block",
)
def multi_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if client.multi is not None:
        raise CommandError("ERR MULTI calls can not be nested")
    client.multi = []
    client.exec_error = False
    return OK


@command(
    "discard",
    1,
    (NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=TRANSACTIONS,
    since="2.0.0",
    complexity="O(N), when N is the number of queued commands",
    summary="Discard all commands issued after MULTI",
)
def discard_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if client.multi is None:
        raise CommandError("ERR DISCARD without MULTI")
    client.multi = None
    client.exec_error = False
    ctx.unwatch(client)
    return OK


@command(
    "exec",
    1,
    (NOSCRIPT, LOADING, STALE, SKIP_SLOWLOG),
    keys=(0, 0, 0),
    group=TRANSACTIONS,
    since="1.2.0",
    complexity="Depends on commands in the transaction",
    summary="Execute all commands issued after MULTI",
)
def exec_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    queued = client.multi
    if queued is None:
        raise CommandError("ERR EXEC without MULTI")
    client.multi = None
    if client.exec_error:
        client.exec_error = False
        ctx.unwatch(client)
        raise CommandError("EXECABORT Transaction discarded because of previous errors.")
    ctx.expire_watched(client)  # a watched key that expired since WATCH is a change too
    if client.watch_dirty:
        ctx.unwatch(client)
        return NullArray
    ctx.unwatch(client)
    replies: list[object] = []
    ctx.begin_unit()
    try:
        for queued_argv in queued:
            reply = ctx.call(client, queued_argv)
            replies.append(reply)
    finally:
        ctx.end_unit()
    return replies


@command(
    "watch",
    -2,
    (NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY),
    keys=(1, -1, 1),
    group=TRANSACTIONS,
    since="2.2.0",
    complexity="O(1) for every key.",
    summary="Watch the given keys to determine execution of the MULTI/EXEC block",
)
def watch_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if client.multi is not None:
        raise CommandError("ERR WATCH inside MULTI is not allowed")
    for key in argv[1:]:
        ctx.keyspace.get(key)  # an already-expired key is removed now, not counted as a change later
        ctx.watch(client, key)
    return OK


@command(
    "unwatch",
    1,
    (NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=TRANSACTIONS,
    since="2.2.0",
    summary="Forget about all watched keys",
)
def unwatch_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ctx.unwatch(client)
    return OK
