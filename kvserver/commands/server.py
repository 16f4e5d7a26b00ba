"""Server commands: INFO, CONFIG, COMMAND (generated from the table), SHUTDOWN, TIME and friends."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Final

from kvserver import __version__
from kvserver.commands.connection import REDIS_VERSION
from kvserver.commands.registry import (
    ADMIN,
    ALLOW_BUSY,
    BLOCKING,
    FAST,
    LOADING,
    NO_ASYNC_LOADING,
    NO_MULTI,
    NOSCRIPT,
    READONLY,
    STALE,
    SYNTAX,
    TABLE,
    WRITE,
    CommandError,
    CommandSpec,
    Context,
    command,
    container,
    register_help,
)
from kvserver.config import BY_NAME, PARAMETERS, Parameter
from kvserver.directives import rewritten
from kvserver.glob import compile_glob
from kvserver.protocol import NO_REPLY, OK, SetReply, SimpleString, Verbatim
from kvserver.state import ClientState

SERVER: Final = "server"
# Redis 7.0 refuses CONFIG SET of these unless enable-protected-configs allows it (off by default)
_PROTECTED_CONFIGS: Final = frozenset({"dir"})


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


# --- INFO --------------------------------------------------------------------------------------

_DEFAULT_SECTIONS: Final = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu", "keyspace")


def _human(size: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size}{unit}" if unit == "B" else f"{size:.2f}{unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size}"


def _section(ctx: Context, name: str) -> dict[str, object] | None:
    stats = ctx.stats
    if name == "server":
        uptime = int(time.monotonic() - stats.started_monotonic)
        return {
            "redis_version": REDIS_VERSION,
            "kvserver_version": __version__,
            "redis_mode": "standalone",
            "os": f"{platform.system()} {platform.release()} {platform.machine()}",
            "arch_bits": 64 if sys.maxsize > 2**32 else 32,
            "multiplexing_api": "epoll",
            "python_version": platform.python_version(),
            "process_id": os.getpid(),
            "tcp_port": ctx.config.port,
            "server_time_usec": time.time_ns() // 1000,
            "uptime_in_seconds": uptime,
            "uptime_in_days": uptime // 86400,
            "hz": ctx.config.hz,
            "configured_hz": ctx.config.hz,
            "executable": sys.argv[0] if sys.argv else "",
            "config_file": ctx.config.config_file,
        }
    if name == "clients":
        return {
            "connected_clients": len(ctx.clients),
            "maxclients": ctx.config.maxclients,
            "blocked_clients": sum(1 for c in ctx.clients.by_id.values() if c.blocked is not None),
            "tracking_clients": 0,
        }
    if name == "memory":
        # used_memory: the RSS less what eviction freed that the OS doesn't show yet (memory.py)
        used = ctx.memory.used()
        rss = ctx.memory.rss()
        maxmemory = ctx.config.maxmemory
        return {
            "used_memory": used,
            "used_memory_human": _human(used),
            "used_memory_rss": rss,
            "used_memory_rss_human": _human(rss),
            "maxmemory": maxmemory,
            "maxmemory_human": _human(maxmemory),
            "maxmemory_policy": ctx.config.maxmemory_policy,
            "mem_fragmentation_ratio": f"{rss / used:.2f}" if used else "1.00",
        }
    if name == "persistence":
        return {"loading": 0, "async_loading": 0, **ctx.persistence.info()}
    if name == "stats":
        return {
            "total_connections_received": stats.total_connections_received,
            "total_commands_processed": stats.total_commands_processed,
            "instantaneous_ops_per_sec": 0,
            "total_net_input_bytes": stats.total_net_input_bytes,
            "total_net_output_bytes": stats.total_net_output_bytes,
            "rejected_connections": stats.rejected_connections,
            "expired_keys": stats.expired_keys,
            "evicted_keys": stats.evicted_keys,
            "keyspace_hits": stats.keyspace_hits,
            "keyspace_misses": stats.keyspace_misses,
            "total_error_replies": stats.total_error_replies,
        }
    if name == "replication":
        return {"role": "master", "connected_slaves": 0, "master_repl_offset": 0}
    if name == "cpu":
        times = os.times()
        return {
            "used_cpu_sys": f"{times.system:.6f}",
            "used_cpu_user": f"{times.user:.6f}",
        }
    if name == "keyspace":
        ks = ctx.keyspace
        if not len(ks):
            return {}
        return {"db0": f"keys={len(ks)},expires={len(ks.expires)},avg_ttl=0"}
    return None


def render_info(ctx: Context, sections: list[str]) -> str:
    """INFO's text: "# Section" headers and key:value lines, sections separated by a blank line."""
    chunks = []
    for name in sections:
        fields = _section(ctx, name)
        if fields is None:
            continue
        lines = [f"# {name.capitalize()}"] + [f"{key}:{value}" for key, value in fields.items()]
        chunks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(chunks)


@command(
    "info",
    -1,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    summary="Get information and statistics about the server",
)
def info_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """INFO [section [section ...]]"""
    wanted = [raw.decode("utf-8", "replace").lower() for raw in argv[1:]]
    if not wanted or "default" in wanted or "all" in wanted or "everything" in wanted:
        sections = list(_DEFAULT_SECTIONS)
    else:
        sections = [name for name in _DEFAULT_SECTIONS if name in wanted]
    return Verbatim(render_info(ctx, sections).encode())


# --- CONFIG ------------------------------------------------------------------------------------

container("config", -2, group=SERVER, since="2.0.0", summary="A container for server configuration commands")


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


register_help(
    "config",
    "5.0.0",
    [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ],
)


# --- COMMAND -----------------------------------------------------------------------------------

container("command", -1, (LOADING, STALE), group=SERVER, since="2.8.13", summary="Get array of Redis command details")

_ACL_GROUPS: Final = {
    "string": "@string",
    "generic": "@keyspace",
    "connection": "@connection",
    "server": "@admin",
    "transactions": "@transaction",
    "hash": "@hash",
    "list": "@list",
    "set": "@set",
    "sorted-set": "@sortedset",
}


def command_info(spec: CommandSpec) -> list[object]:
    """One entry of COMMAND / COMMAND INFO, in Redis 7's ten-field shape."""
    categories = []
    if WRITE in spec.flags:
        categories.append("@write")
    if READONLY in spec.flags:
        categories.append("@read")
    if spec.group in _ACL_GROUPS:
        categories.append(_ACL_GROUPS[spec.group])
    categories.append("@fast" if FAST in spec.flags else "@slow")
    if BLOCKING in spec.flags:
        categories.append("@blocking")
    if ADMIN in spec.flags:
        categories.append("@dangerous")
    key_specs: list[object] = []
    if spec.first_key > 0:
        last = spec.last_key - spec.first_key if spec.last_key >= 0 else spec.last_key
        key_specs.append(
            {
                b"flags": SetReply([SimpleString(b"RW" if WRITE in spec.flags else b"RO")]),
                b"begin_search": {b"type": b"index", b"spec": {b"index": spec.first_key}},
                b"find_keys": {
                    b"type": b"range",
                    b"spec": {b"lastkey": last, b"keystep": spec.step, b"limit": 0},
                },
            }
        )
    return [
        spec.name.encode(),
        spec.arity,
        SetReply([SimpleString(flag.encode()) for flag in sorted(spec.flags)]),
        spec.first_key,
        spec.last_key,
        spec.step,
        SetReply([SimpleString(c.encode()) for c in categories]),
        SetReply(),
        key_specs,
        [command_info(sub) for sub in spec.subcommands.values()],
    ]


def command_docs(spec: CommandSpec) -> dict[bytes, object]:
    docs: dict[bytes, object] = {
        b"summary": spec.summary.encode(),
        b"since": spec.since.encode(),
        b"group": spec.group.encode(),
        b"complexity": spec.complexity.encode(),
    }
    if spec.subcommands:
        docs[b"subcommands"] = {sub.name.encode(): command_docs(sub) for sub in spec.subcommands.values()}
    return docs


def _lookup(name: bytes) -> CommandSpec | None:
    text = name.decode("utf-8", "replace").lower()
    if "|" in text:
        parent, _, sub = text.partition("|")
        container_spec = TABLE.get(parent)
        return container_spec.subcommands.get(sub.encode()) if container_spec else None
    return TABLE.get(text)


@command(
    "count",
    2,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="command",
    summary="Get total number of Redis commands",
)
def command_count_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(TABLE)


@command(
    "info",
    -2,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="command",
    summary="Get array of specific Redis command details, or all when no argument is given",
)
def command_info_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    if len(argv) == 2:
        return [command_info(spec) for spec in TABLE.values()]
    return [None if (spec := _lookup(raw)) is None else command_info(spec) for raw in argv[2:]]


@command(
    "docs",
    -2,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="7.0.0",
    parent="command",
    summary="Get array of specific Redis command documentation",
)
def command_docs_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    specs = list(TABLE.values()) if len(argv) == 2 else [s for raw in argv[2:] if (s := _lookup(raw))]
    return {spec.name.encode(): command_docs(spec) for spec in specs}


@command(
    "list",
    -2,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="7.0.0",
    parent="command",
    summary="Get an array of Redis command names",
)
def command_list_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]"""
    names = [spec.name.encode() for spec in TABLE.values()]
    if len(argv) == 2:
        return names
    if len(argv) != 5 or argv[2].upper() != b"FILTERBY":
        raise CommandError(SYNTAX)
    kind, value = argv[3].upper(), argv[4]
    if kind == b"PATTERN":
        match = compile_glob(value.lower())
        return [name for name in names if match(name)]
    if kind == b"MODULE":
        return []
    if kind == b"ACLCAT":
        category = b"@" + value.lower().lstrip(b"@")
        return [
            spec.name.encode()
            for spec in TABLE.values()
            if SimpleString(category) in command_info(spec)[6]  # type: ignore[operator]
        ]
    raise CommandError(SYNTAX)


@command(
    "getkeys",
    -4,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="command",
    summary="Extract keys given a full Redis command",
)
def command_getkeys_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    spec = _lookup(argv[2])
    if spec is None:
        raise CommandError("ERR Invalid command specified")
    target = argv[2:]
    if not spec.arity_ok(len(target)):
        raise CommandError("ERR Invalid number of arguments specified for command")
    keys = spec.keys(target)
    if not keys:
        raise CommandError("ERR The command has no key arguments")
    return keys


register_help(
    "command",
    "5.0.0",
    [
        "(no subcommand)",
        "    Return details about all Redis commands.",
        "COUNT",
        "    Return the total number of commands in this Redis server.",
        "LIST",
        "    Return a list of all commands in this Redis server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple Redis commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "GETKEYS <full-command>",
        "    Return the keys from a full Redis command.",
    ],
)


def command_all(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """COMMAND with no subcommand: every command's info."""
    return [command_info(spec) for spec in TABLE.values()]


__all__ = ["NOSCRIPT", "command_all", "render_info"]


TABLE["command"].handler = command_all
