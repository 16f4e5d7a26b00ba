"""The command families. Importing this package registers every command in ``TABLE``."""

from kvserver.commands import connection, keys, server, strings, transactions
from kvserver.commands.registry import TABLE, CommandError, CommandSpec

__all__ = ["TABLE", "CommandError", "CommandSpec", "connection", "keys", "server", "strings", "transactions"]
