"""The command families. Importing this package registers every command in ``TABLE``."""

from kvserver.commands import (
    config,
    connection,
    diagnostics,
    hashes,
    info,
    introspection,
    keys,
    lists,
    pubsub,
    scripting,
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
    "config",
    "connection",
    "diagnostics",
    "hashes",
    "info",
    "introspection",
    "keys",
    "lists",
    "pubsub",
    "scripting",
    "server",
    "sets",
    "strings",
    "transactions",
    "zsets",
]
