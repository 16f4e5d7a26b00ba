"""The command table as data: every command's name, arity, flags, key positions and docs.

Each family module registers its handlers with ``@command(...)``; the database dispatches through
``TABLE``; COMMAND, COMMAND INFO / DOCS / COUNT and docs/commands.md are generated from it.
A handler is ``(ctx, client, argv) -> reply``; it raises ``CommandError`` for an error reply and
calls ``ctx.propagate`` with the canonical form of every write it makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kvserver.config import Config
    from kvserver.keyspace import Keyspace
    from kvserver.memory import MemoryMeter
    from kvserver.monitoring import Monitoring
    from kvserver.state import ClientRegistry, ClientState, Stats


class CommandError(Exception):
    """An error reply. ``text`` is the whole reply line without the leading '-'."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


# Error texts are a contract that clients match on: these are Redis's, byte for byte.
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
SYNTAX = "ERR syntax error"
NO_SUCH_KEY = "ERR no such key"
OVERFLOW = "ERR increment or decrement would overflow"


class Persistence(Protocol):
    """What the commands see of the log (INFO persistence, BGREWRITEAOF, SAVE, BGSAVE, LASTSAVE)."""

    last_save: float  # the time of the last SAVE or successful rewrite, or of the startup
    rewrite_scheduled: bool

    @property
    def rewrite(self) -> object:
        """The rewrite in progress, or None."""

    def info(self) -> dict[str, int | str]: ...

    def start_rewrite(self) -> str: ...

    def save(self) -> None: ...


class Context(Protocol):
    """What a handler may use: implemented by ``kvserver.database.Database``."""

    keyspace: Keyspace
    config: Config
    clients: ClientRegistry
    stats: Stats
    persistence: Persistence
    memory: MemoryMeter
    monitor: Monitoring

    def propagate(self, argv: list[bytes], touched: list[bytes] | None = None) -> None: ...

    def config_changed(self, name: str) -> None: ...

    def call(self, client: ClientState, argv: list[bytes]) -> object: ...

    def begin_unit(self) -> None: ...

    def end_unit(self) -> None: ...

    def watch(self, client: ClientState, key: bytes) -> None: ...

    def unwatch(self, client: ClientState) -> None: ...

    def request_shutdown(self, save: bool | None) -> str | None: ...

    def flush_all(self) -> None: ...

    def signal_ready(self, key: bytes) -> None:
        """A list was pushed to: clients blocked on ``key`` may now be served."""

    @property
    def in_transaction(self) -> bool:
        """True while EXEC runs its queue (blocking commands then never block)."""

    def unblock(self, client: ClientState, reply: object) -> bool: ...


Handler = Callable[[Any, "ClientState", list[bytes]], object]


@dataclass(slots=True)
class Block:
    """A handler's answer when the client must wait (BLPOP on empty lists...).

    The database parks the client on ``keys``; when one of them is pushed to, ``serve`` is
    called with that key and returns the reply, or None if the client must keep waiting.
    After ``timeout`` seconds (0: never) the client gets ``timeout_reply``.
    """

    keys: list[bytes]
    timeout: float
    serve: Callable[[Any, ClientState, bytes], object | None]
    timeout_reply: object
    argv: list[bytes]  # the blocking command (a rewrite dumps its keys before it is served)


# flag names as COMMAND INFO reports them
WRITE = "write"
READONLY = "readonly"
FAST = "fast"
ADMIN = "admin"
NOSCRIPT = "noscript"
LOADING = "loading"
STALE = "stale"
NO_AUTH = "no_auth"
ALLOW_BUSY = "allow_busy"
DENYOOM = "denyoom"
NO_MULTI = "no_multi"
BLOCKING = "blocking"
MOVABLEKEYS = "movablekeys"
NO_ASYNC_LOADING = "no_async_loading"
SKIP_SLOWLOG = "skip_slowlog"


@dataclass(slots=True)
class CommandSpec:
    name: str  # lower case; "config|get" for a subcommand
    arity: int  # N: exactly N arguments including the name; -N: at least N
    flags: frozenset[str]
    first_key: int
    last_key: int
    step: int
    group: str
    summary: str
    since: str
    complexity: str
    handler: Handler | None
    subcommands: dict[bytes, CommandSpec] = field(default_factory=dict)
    # plain attributes read for every command executed
    is_write: bool = field(init=False)
    guarded: bool = field(init=False)  # refused while the disk fails or memory is full
    denyoom: bool = field(init=False)
    no_multi: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_write = WRITE in self.flags
        self.denyoom = DENYOOM in self.flags
        self.no_multi = NO_MULTI in self.flags
        # PING is refused with MISCONF too, as in Redis's processCommand
        self.guarded = self.is_write or self.denyoom or self.name == "ping"

    def arity_ok(self, argc: int) -> bool:
        arity = self.arity
        return argc == arity if arity > 0 else argc >= -arity

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The keys named in ``argv`` according to the key positions."""
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key : last + 1 : self.step]


TABLE: dict[str, CommandSpec] = {}


def command(
    name: str,
    arity: int,
    flags: Iterable[str] = (),
    *,
    keys: tuple[int, int, int] = (1, 1, 1),
    group: str,
    summary: str,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    parent: str | None = None,
) -> Callable[[Handler], Handler]:
    """Register a handler. ``keys`` is (first, last, step); last -1 means the final argument."""

    def register(handler: Handler) -> Handler:
        full = f"{parent}|{name}" if parent else name
        spec = CommandSpec(full, arity, frozenset(flags), *keys, group, summary, since, complexity, handler)
        if parent:
            TABLE[parent].subcommands[name.encode()] = spec
        else:
            TABLE[name] = spec
        return handler

    return register


def container(name: str, arity: int, flags: Iterable[str] = (), *, group: str, summary: str, since: str) -> None:
    """Register a command that only dispatches to subcommands (CLIENT, CONFIG, COMMAND...)."""
    TABLE[name] = CommandSpec(
        name, arity, frozenset(flags), 0, 0, 0, group, summary, since, "Depends on subcommand.", None
    )


# --- helpers shared by the families ------------------------------------------------------------


def typed_value(ctx: Context, key: bytes, kind: type) -> Any:
    """The live value at ``key`` if it is a ``kind``, None if the key is missing; else WRONGTYPE."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is kind:
        return value
    raise CommandError(WRONGTYPE)


def parse_timeout(raw: bytes) -> float:
    """A blocking command's timeout in seconds, as Redis validates it (0: wait forever)."""
    value = parse_float(raw, "ERR timeout is not a float or out of range")
    # Redis 7.0 converts a huge timeout to a negative integer, and says so
    if value < 0 or value * 1000 > 2**63 - 1:
        raise CommandError("ERR timeout is negative")
    return value


# --- argument helpers shared by the families --------------------------------------------------


def parse_int(raw: bytes, error: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer, strictly as Redis's string2ll accepts it."""
    if raw.isdigit() and (raw[0] != 48 or len(raw) == 1) and len(raw) < 20:
        return int(raw)
    digits = raw[1:] if raw[:1] == b"-" else b""
    if not digits.isdigit() or (digits[0] == 48) or len(digits) > 19:
        raise CommandError(error)
    value = int(raw)
    if not -(2**63) <= value < 2**63:
        raise CommandError(error)
    return value


def parse_float(raw: bytes, error: str = NOT_FLOAT) -> float:
    """A double as Redis's strtod-based parsing accepts it (inf allowed, nan and spaces not)."""
    text = raw.lower()
    if not raw or raw[:1].isspace() or raw[-1:].isspace() or b"nan" in text or b"_" in raw:
        raise CommandError(error)
    try:
        return float(raw)
    except ValueError:
        raise CommandError(error) from None


def arity_error(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def help_reply(name: str, lines: list[str]) -> list[bytes]:
    """The reply to X HELP: a header line, the given lines, and the HELP line."""
    from kvserver.protocol import SimpleString

    header = f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(line.encode()) for line in [header, *lines, "HELP", "    Prints this help."]]


def register_help(parent: str, since: str, lines: list[str]) -> None:
    """Register ``<PARENT> HELP``, answering with ``lines`` in Redis's help layout."""
    reply = help_reply(parent.upper(), lines)

    @command(
        "help",
        2,
        ("loading", "stale"),
        keys=(0, 0, 0),
        group=TABLE[parent].group,
        since=since,
        parent=parent,
        summary="Show helpful text about the different subcommands",
    )
    def help_command(ctx: Any, client: ClientState, argv: list[bytes]) -> object:
        return list(reply)
