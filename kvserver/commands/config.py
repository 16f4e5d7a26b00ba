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
from kvserver.directives import FIXED, rewritten
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
    """CONFIG GET pattern [pattern ...], as Redis's configGetCommand: a name without glob
    characters is looked up (case-insensitively) and answered under the name as given, even a
    hidden one; a pattern matches every name and alias except the hidden ones. Each parameter is
    listed once."""
    result: dict[bytes, bytes] = {}
    seen: set[str] = set()
    for raw in argv[2:]:
        if not any(c in raw for c in b"[*?"):
            name = raw.decode("utf-8", "surrogateescape").lower()
            if name not in seen and (name in BY_NAME or name in FIXED):
                seen.add(name)
                result[raw] = _value(ctx, name).encode()
            continue
        match = compile_glob(raw.lower())
        for name in _GETTABLE:
            if name not in seen and match(name.encode()):
                seen.add(name)
                result[name.encode()] = _value(ctx, name).encode()
    return result


# what a CONFIG GET pattern can match: kvserver's parameters (aliases too), then Redis's fixed ones
_GETTABLE: Final = [p.name for p in PARAMETERS if not p.hidden] + list(FIXED)


def _value(ctx: Context, name: str) -> str:
    return ctx.config.get(name) if name in BY_NAME else FIXED[name]


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
    """CONFIG SET name value [name value ...] in the phases of Redis's configSetCommand:

    1. names, in order, the first error wins: unknown, immutable or protected, duplicate (the same
       parameter twice, in any case; an alias and its main name are two configs for Redis 7.0);
    2. values, in order: the first invalid one is the error, nothing has changed yet;
    3. all values are set, then applied in order; when an apply fails (maxclients beyond the open
       file limit, a parameter kvserver can't change while running) every value goes back to what
       it was and the ones already applied are applied again.
    """
    if len(argv) % 2:
        raise CommandError(SYNTAX)
    named: list[tuple[Parameter, str]] = []
    for j in range(2, len(argv), 2):
        given = argv[j].decode("utf-8", "surrogateescape")
        param = BY_NAME.get(given.lower())
        failed = f"ERR CONFIG SET failed (possibly related to argument '{given}') -"
        if param is None:
            if given.lower() in FIXED:
                raise CommandError(f"{failed} can't set immutable config")
            raise CommandError(f"ERR Unknown option or number of arguments for CONFIG SET - '{given}'")
        if param.name in _PROTECTED_CONFIGS:
            raise CommandError(f"{failed} can't set protected config")
        if not param.mutable and not param.redis_mutable:
            raise CommandError(f"{failed} can't set immutable config")
        if any(param is seen for seen, _ in named):
            raise CommandError(f"{failed} duplicate parameter")
        named.append((param, argv[j + 1].decode("utf-8", "surrogateescape")))
    values: list[object] = []
    for param, text in named:
        try:
            values.append(param.parse(text))
        except ValueError as exc:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{param.name}') - {exc}") from None
    _set_and_apply(ctx, [param for param, _ in named], values)
    return OK


def _set_and_apply(ctx: Context, params: list[Parameter], values: list[object]) -> None:
    """Set every value, then apply the changed ones in order; on a failed apply put every value
    back, apply again the ones already applied, and raise that apply's error."""
    config = ctx.config
    old = [getattr(config, param.attr) for param in params]
    for param, value in zip(params, values, strict=True):
        setattr(config, param.attr, value)
    applied: list[Parameter] = []
    try:
        for param, before in zip(params, old, strict=True):
            if getattr(config, param.attr) == before:
                continue  # unchanged: nothing to apply, as Redis
            if not param.mutable:  # a value Redis could take at run time, but kvserver can't
                raise CommandError(
                    f"ERR CONFIG SET failed (possibly related to argument '{param.name}') - can't set immutable config"
                )
            ctx.config_changed(param.name)
            applied.append(param)
    except CommandError:
        for param, before in zip(params, old, strict=True):
            setattr(config, param.attr, before)
        for param in applied:
            ctx.config_changed(param.name)
        raise


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
