"""The command families. Importing this package registers every command in ``TABLE``."""

from kvserver.commands import connection, diagnostics, hashes, keys, lists, server, sets, strings, transactions, zsets
from kvserver.commands.registry import TABLE, CommandError, CommandSpec

__all__ = [
    "TABLE",
    "CommandError",
    "CommandSpec",
    "connection",
    "diagnostics",
    "hashes",
    "keys",
    "lists",
    "server",
    "sets",
    "strings",
    "transactions",
    "zsets",
]
