"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP: the running configuration (``kvserver.config``)."""

from __future__ import annotations

import os
from typing import Final

from kvserver.commands.registry import (
    ADMIN,
    LOADING,
    NOSCRIPT,
    STALE,
    SYNTAX,
    CommandError,
    Context,
    command,
    container,
)
from kvserver.config import BY_NAME, PARAMETERS, Parameter
from kvserver.directives import rewritten
from kvserver.glob import compile_glob
from kvserver.protocol import OK
from kvserver.state import ClientState

SERVER: Final = "server"
# Redis 7.0 refuses CONFIG SET of these unless enable-protected-configs allows it (off by default)
_PROTECTED_CONFIGS: Final = frozenset({"dir"})

_CONFIG_HELP: Final = [
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
]

container(
    "config",
    -2,
    group=SERVER,
    since="2.0.0",
    summary="A container for server configuration commands",
    help=_CONFIG_HELP,
)


@command(
    "get",
    -3,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.0.0",
    parent="config",
    summary="Get the values of configuration parameters",
)
def config_get_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    result: dict[bytes, bytes] = {}
    for raw in argv[2:]:
        match = compile_glob(raw.lower())
        for param in PARAMETERS:
            if match(param.name.encode()):
                result[param.name.encode()] = ctx.config.get(param.name).encode()
    return result


@command(
    "set",
    -4,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.0.0",
    parent="config",
    summary="Set configuration parameters to the given values",
)
def config_set_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """CONFIG SET name value [name value ...], checked in the order of Redis's configSetCommand:
    names first (unknown, immutable, protected, duplicate), then every value, then all applied."""
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    changes: list[tuple[Parameter, str]] = []
    for j in range(2, len(argv), 2):
        given = argv[j].decode("utf-8", "surrogateescape")
        param = BY_NAME.get(given.lower())
        if param is None:
            raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
        failed = f"ERR CONFIG SET failed (possibly related to argument '{given}') -"
        if param.name in _PROTECTED_CONFIGS:
            raise CommandError(f"{failed} can't set protected config")
        if not param.mutable and not param.redis_mutable:
            raise CommandError(f"{failed} can't set immutable config")
        if any(param is seen for seen, _ in changes):
            raise CommandError(f"{failed} duplicate parameter")
        changes.append((param, argv[j + 1].decode("utf-8", "surrogateescape")))
    for param, text in changes:  # validate everything before changing anything
        try:
            param.parse(text)
        except ValueError as exc:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{param.name}') - {exc}") from None
        if not param.mutable:  # a valid value for Redis, but kvserver can't change this one while running
            raise CommandError(
                f"ERR CONFIG SET failed (possibly related to argument '{param.name}') - can't set immutable config"
            )
    for param, text in changes:
        ctx.config.set(param.name, text)
        ctx.config_changed(param.name)
    return OK


@command(
    "resetstat",
    2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.0.0",
    parent="config",
    summary="Reset the stats returned by INFO",
)
def config_resetstat_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    stats = ctx.stats
    for name in (
        "total_commands_processed",
        "expired_keys",
        "evicted_keys",
        "keyspace_hits",
        "keyspace_misses",
        "total_error_replies",
        "rejected_connections",
        "total_connections_received",
        "total_net_input_bytes",
        "total_net_output_bytes",
    ):
        setattr(stats, name, 0)
    ctx.monitoring.reset_stats()
    return OK


@command(
    "rewrite",
    2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.0",
    parent="config",
    summary="Rewrite the configuration file with the in memory configuration",
)
def config_rewrite_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """Write the running configuration into the file the server started with (as Redis: in place,
    so a symlinked file stays one), keeping its comments and order."""
    path = ctx.config.config_file
    if not path:
        raise CommandError("ERR The server is running without a config file")
    try:
        with open(path, "r+", encoding="utf-8") as file:
            new = rewritten(ctx.config, file.read())
            file.seek(0)
            file.write(new)
            file.truncate()
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:
        raise CommandError(f"ERR Rewriting config file: {exc.strerror}") from None
    return OK
