"""The command families. Importing this package registers every command in ``TABLE``."""

from kvserver.commands import (
    bitmaps,
    config,
    connection,
    diagnostics,
    hashes,
    hyperloglog,
    info,
    introspection,
    keys,
    lists,
    pubsub,
    server,
    sets,
    strings,
    transactions,
    zsets,
)
from kvserver.commands.registry import TABLE, CommandError, CommandSpec

__all__ = [
    "TABLE",
    "CommandError",
    "CommandSpec",
    "bitmaps",
    "config",
    "connection",
    "diagnostics",
    "hashes",
    "hyperloglog",
    "info",
    "introspection",
    "keys",
    "lists",
    "pubsub",
    "server",
    "sets",
    "strings",
    "transactions",
    "zsets",
]
