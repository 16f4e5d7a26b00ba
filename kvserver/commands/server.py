"""Server commands: TIME, LASTSAVE, SAVE, BGSAVE, BGREWRITEAOF, ROLE, WAIT, SHUTDOWN.

INFO, CONFIG and COMMAND have their own modules (info.py, config.py, introspection.py)."""

from __future__ import annotations

import time
from typing import Final

from kvserver.commands.registry import (
    ADMIN,
    ALLOW_BUSY,
    FAST,
    LOADING,
    NO_ASYNC_LOADING,
    NO_MULTI,
    NOSCRIPT,
    STALE,
    SYNTAX,
    CommandError,
    Context,
    command,
)
from kvserver.protocol import NO_REPLY, OK, SimpleString
from kvserver.state import ClientState

SERVER: Final = "server"


@command(
    "time",
    1,
    (LOADING, STALE, FAST),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.6.0",
    summary="Return the current server time",
)
def time_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    now_us = time.time_ns() // 1000
    return [b"%d" % (now_us // 1_000_000), b"%d" % (now_us % 1_000_000)]


@command(
    "lastsave",
    1,
    (LOADING, STALE, FAST),
    keys=(0, 0, 0),
    group=SERVER,
    summary="Get the UNIX time stamp of the last successful save to disk",
)
def lastsave_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """The last SAVE or successful log rewrite (kvserver's saves), else the startup."""
    return int(ctx.persistence.last_save)


# kvserver writes no RDB snapshot: SAVE and BGSAVE save what a persistent store should, the
# append-only log (fsynced now, then compacted by a rewrite); docs/compatibility.md
@command(
    "save",
    1,
    (ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI),
    keys=(0, 0, 0),
    group=SERVER,
    since="1.0.0",
    summary="Synchronously save the dataset to disk",
)
def save_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ctx.persistence.save()
    return OK


@command(
    "bgsave",
    -1,
    (ADMIN, NOSCRIPT, NO_ASYNC_LOADING),
    keys=(0, 0, 0),
    group=SERVER,
    since="1.0.0",
    summary="Asynchronously save the dataset to disk",
)
def bgsave_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """BGSAVE [SCHEDULE]: compact the log in the background (a rewrite, fsynced before it is used)."""
    if len(argv) > 2 or (len(argv) == 2 and argv[1].upper() != b"SCHEDULE"):
        raise CommandError(SYNTAX)
    persistence = ctx.persistence
    if persistence.rewrite is not None:
        if len(argv) == 2:
            persistence.rewrite_scheduled = True
            return SimpleString(b"Background saving scheduled")
        raise CommandError(
            "ERR An AOF log rewriting in progress: can't BGSAVE right now. "
            "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible."
        )
    if not ctx.config.appendonly:
        persistence.save()  # refused: there is nothing to save to
    persistence.start_rewrite()
    return SimpleString(b"Background saving started")


@command(
    "role",
    1,
    (NOSCRIPT, LOADING, STALE, FAST),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.12",
    summary="Return the role of the instance in the context of replication",
)
def role_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return [b"master", 0, []]


@command(
    "wait",
    3,
    (NOSCRIPT,),
    keys=(0, 0, 0),
    group="generic",
    since="3.0.0",
    summary="Wait for the synchronous replication of all the write commands sent in the context of the "
    "current connection",
)
def wait_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return 0  # there are no replicas to wait for


@command(
    "shutdown",
    -1,
    (ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY),
    keys=(0, 0, 0),
    group=SERVER,
    summary="Synchronously save the dataset to disk and then shut down the server",
)
def shutdown_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]"""
    save: bool | None = None
    for raw in argv[1:]:
        opt = raw.upper()
        if opt == b"NOSAVE":
            save = False
        elif opt == b"SAVE":
            save = True
        elif opt not in (b"NOW", b"FORCE", b"ABORT"):
            raise CommandError(SYNTAX)
    if b"ABORT" in (raw.upper() for raw in argv[1:]):
        raise CommandError("ERR No shutdown in progress.")
    failure = ctx.request_shutdown(save)
    if failure:
        raise CommandError(failure)
    return NO_REPLY


@command(
    "bgrewriteaof",
    1,
    (ADMIN, NOSCRIPT, NO_ASYNC_LOADING),
    keys=(0, 0, 0),
    group=SERVER,
    since="1.0.0",
    summary="Asynchronously rewrite the append-only file",
)
def bgrewriteaof_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return SimpleString(ctx.persistence.start_rewrite().encode())
