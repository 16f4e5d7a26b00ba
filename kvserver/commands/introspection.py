"""COMMAND and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, HELP): the command table as
Redis 7 reports it, generated from ``TABLE``."""

from __future__ import annotations

from typing import Final

from kvserver.commands.registry import (
    ADMIN,
    BLOCKING,
    DEPENDS_ON_SUBCOMMAND,
    FAST,
    LOADING,
    READONLY,
    STALE,
    SYNTAX,
    TABLE,
    WRITE,
    CommandError,
    CommandSpec,
    Context,
    KeyNum,
    command,
)
from kvserver.glob import compile_glob
from kvserver.protocol import SetReply, SimpleString
from kvserver.state import ClientState

SERVER: Final = "server"

_ACL_GROUPS: Final = {
    "geo": "@geo",
    "string": "@string",
    "generic": "@keyspace",
    "connection": "@connection",
    "server": "@admin",
    "transactions": "@transaction",
    "hash": "@hash",
    "list": "@list",
    "set": "@set",
    "sorted-set": "@sortedset",
    "bitmap": "@bitmap",
    "hyperloglog": "@hyperloglog",
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
    if isinstance(spec.find_keys, KeyNum):
        key_specs = _keynum_specs(spec.find_keys, spec.flags)
    elif spec.first_key > 0:
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


def _keynum_specs(keynum: KeyNum, flags: frozenset[str]) -> list[object]:
    """The key specs of a command whose keys are counted by an argument (Redis's ``keynum``)."""
    flag = SimpleString(b"RW" if WRITE in flags else b"RO")
    specs: list[object] = []
    if keynum.dest:
        specs.append(
            {
                b"flags": SetReply([SimpleString(b"OW")]),
                b"begin_search": {b"type": b"index", b"spec": {b"index": 1}},
                b"find_keys": {b"type": b"range", b"spec": {b"lastkey": 0, b"keystep": 1, b"limit": 0}},
            }
        )
        flag = SimpleString(b"RO")
    specs.append(
        {
            b"flags": SetReply([flag]),
            b"begin_search": {b"type": b"index", b"spec": {b"index": keynum.index}},
            b"find_keys": {b"type": b"keynum", b"spec": {b"keynumidx": 0, b"firstkey": 1, b"keystep": 1}},
        }
    )
    return specs


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


_COMMAND_HELP: Final = [
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
]


@command(
    "command",
    -1,
    (LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    complexity=DEPENDS_ON_SUBCOMMAND,
    summary="Get array of Redis command details",
    help=_COMMAND_HELP,
)
def command_all(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """COMMAND with no subcommand: every command's info."""
    return [command_info(spec) for spec in TABLE.values()]


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
    """COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every command
    and each subcommand (``object|freq``), as Redis 7.0 lists them."""
    specs = [s for spec in TABLE.values() for s in (spec, *spec.subcommands.values())]
    names = [spec.name.encode() for spec in specs]
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
            for spec in specs
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
    if not keys and "no_mandatory_keys" in spec.flags:
        return []  # EVAL "..." 0: a command whose keys may be none (Redis's CMD_NO_MANDATORY_KEYS)
    if not keys and spec.find_keys is not None:
        raise CommandError("ERR Invalid arguments specified for command")
    if not keys:
        raise CommandError("ERR The command has no key arguments")
    return keys
