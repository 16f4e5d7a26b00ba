"""The command table as data: every command's name, arity, flags, key positions and docs.

Each family module registers its handlers with ``@command(...)``, the only way to declare one (a
list of ``Variant`` for a handler serving several commands, ``parent=`` for a subcommand, ``help=``
for a container's HELP; ``container(...)`` for a parent without a handler of its own); the
database dispatches through ``TABLE``; COMMAND, COMMAND INFO / DOCS / COUNT and docs/commands.md
are generated from it. A handler is ``(ctx, client, argv) -> reply``; it raises ``CommandError``
for an error reply and calls ``ctx.propagate`` with the canonical form of every write it makes.
Arguments are converted with ``kvserver.commands.args``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, overload

from kvserver.blocking import Block

if TYPE_CHECKING:
    from kvserver.config import Config
    from kvserver.keyspace import Keyspace
    from kvserver.memory import MemoryMeter
    from kvserver.monitoring import Monitoring
    from kvserver.pubsub import PubSub
    from kvserver.state import ClientRegistry, ClientState, Stats

__all__ = ["Block", "CommandError", "CommandSpec", "Context", "Handler", "KeyFinder", "KeyNum", "command"]


class CommandError(Exception):
    """An error reply. ``text`` is the whole reply line without the leading '-'."""

    def __init__(self, text: str, counted: bool = False) -> None:
        super().__init__(text)
        self.text = text
        # the error was counted already (a script's error from a command it ran): only the
        # command's failed_calls counts it again, not the error stats
        self.counted = counted


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
    memory: MemoryMeter
    pubsub: PubSub
    monitoring: Monitoring

    @property
    def persistence(self) -> Persistence:
        """The log (read-only here: the dispatcher's is a wider interface)."""

    def propagate(self, argv: list[bytes], touched: list[bytes] | None = None) -> None: ...

    def config_changed(self, name: str) -> None: ...

    def call(self, client: ClientState, argv: list[bytes]) -> object: ...

    def begin_unit(self) -> None: ...

    def end_unit(self) -> None: ...

    def watch(self, client: ClientState, key: bytes) -> None: ...

    def unwatch(self, client: ClientState) -> None: ...

    def expire_watched(self, client: ClientState) -> None: ...

    def keyspaces(self) -> list[tuple[int, Keyspace]]: ...

    def keyspace_of(self, index: int) -> Keyspace: ...

    def serve_db(self, index: int) -> None: ...

    def swap_dbs(self, first: int, second: int) -> None: ...

    def request_shutdown(self, save: bool | None) -> str | None: ...

    def flush_all(self, every_db: bool = True) -> None: ...

    @property
    def in_transaction(self) -> bool:
        """True while EXEC runs its queue (blocking commands then never block)."""

    def unblock(self, client: ClientState, reply: object) -> bool: ...

    def serve_while_busy(self) -> None:
        """A script ran past busy-reply-threshold: answer the other clients meanwhile (BUSY)."""


# mypy checks every registered handler against this, and database.py checks that ``Database``
# is a ``Context``: the command families and the dispatcher meet only here.
Handler = Callable[[Context, "ClientState", list[bytes]], object]
# a handler serving several commands (``Variant``) takes their keyword arguments after these three
VariantHandler = TypeVar("VariantHandler", bound=Callable[..., object])
# the keys in argv of a movablekeys command with an irregular grammar (SORT, GEORADIUS, XREAD)
KeyFinder = Callable[[list[bytes]], list[bytes]]


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
SKIP_MONITOR = "skip_monitor"


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
    find_keys: KeyNum | KeyFinder | None = None  # the keys of a movablekeys command
    # plain attributes read for every command executed
    is_write: bool = field(init=False)
    guarded: bool = field(init=False)  # refused while the disk fails or memory is full
    denyoom: bool = field(init=False)
    no_multi: bool = field(init=False)
    admin: bool = field(init=False)  # also: not shown to MONITOR

    def __post_init__(self) -> None:
        self.is_write = WRITE in self.flags
        self.admin = ADMIN in self.flags
        self.denyoom = DENYOOM in self.flags
        self.no_multi = NO_MULTI in self.flags
        # PING is refused with MISCONF too, as in Redis's processCommand
        self.guarded = self.is_write or self.denyoom or self.name == "ping"

    def arity_ok(self, argc: int) -> bool:
        arity = self.arity
        return argc == arity if arity > 0 else argc >= -arity

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The keys named in ``argv`` according to the key positions."""
        if self.find_keys is not None:
            return self.find_keys(argv)
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key : last + 1 : self.step]


TABLE: dict[str, CommandSpec] = {}


@dataclass(frozen=True, slots=True)
class KeyNum:
    """Keys counted by an argument, as Redis's ``keynum`` key spec: ``argv[index]`` is the count,
    the keys follow it (LMPOP, ZUNION, SINTERCARD...); with ``dest``, ``argv[1]`` is a key too
    (ZUNIONSTORE). A bad count names no key at all, as in Redis's COMMAND GETKEYS."""

    index: int
    dest: bool = False

    def __call__(self, argv: list[bytes]) -> list[bytes]:
        raw = argv[self.index] if self.index < len(argv) else b""
        if not raw.isdigit():
            return []
        count = int(raw)
        first = self.index + 1
        if count <= 0 or first + count > len(argv):
            return []
        keys = argv[first : first + count]
        return [argv[1], *keys] if self.dest else keys


class Variant:
    """One of the commands a handler serves, with the keyword arguments it gets for it
    (LPUSH and RPUSH are ``push(..., left=True)`` and ``push(..., left=False)``). ``summary``
    is the variant's; ``since`` and ``complexity`` the decorator's unless given here."""

    __slots__ = ("bind", "complexity", "name", "since", "summary")

    def __init__(
        self, name: str, summary: str, *, since: str | None = None, complexity: str | None = None, **bind: object
    ) -> None:
        self.name = name
        self.summary = summary
        self.since = since
        self.complexity = complexity
        self.bind = bind


HELP_SUMMARY: Final = "Show helpful text about the different subcommands"
DEPENDS_ON_SUBCOMMAND: Final = "Depends on subcommand."


@overload
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
    help: Sequence[str] = (),
    help_since: str = "5.0.0",
    find_keys: KeyNum | KeyFinder | None = None,
) -> Callable[[Handler], Handler]: ...


@overload
def command(
    name: Sequence[Variant],
    arity: int,
    flags: Iterable[str] = (),
    *,
    keys: tuple[int, int, int] = (1, 1, 1),
    group: str,
    since: str = "1.0.0",
    complexity: str = "O(1)",
    find_keys: KeyNum | KeyFinder | None = None,
) -> Callable[[VariantHandler], VariantHandler]: ...


def command(
    name: str | Sequence[Variant],
    arity: int,
    flags: Iterable[str] = (),
    *,
    keys: tuple[int, int, int] = (1, 1, 1),
    group: str,
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "O(1)",
    parent: str | None = None,
    help: Sequence[str] = (),
    help_since: str = "5.0.0",
    find_keys: KeyNum | KeyFinder | None = None,
) -> Callable[[Any], Any]:
    """Register a handler: the one way a command is declared.

    ``name`` is the command's, or a list of ``Variant`` for a handler that serves several
    commands with different keyword arguments. ``keys`` is (first, last, step); last -1 means
    the final argument. ``parent`` makes it a subcommand (``CONFIG GET`` is "get" under
    "config"). ``help`` declares the command's HELP subcommand: the lines of its reply.
    ``find_keys`` finds the keys of a command whose keys move: ``KeyNum`` when their count is an
    argument, or a function of argv for an irregular grammar (SORT's STORE, XREAD's STREAMS);
    ``keys`` then gives only what COMMAND INFO reports as its first, last key and step.
    """
    flag_set = frozenset(flags)

    def register(handler: Any) -> Any:
        if not isinstance(name, str):
            for variant in name:
                bound = partial(handler, **variant.bind)
                TABLE[variant.name] = CommandSpec(
                    variant.name,
                    arity,
                    flag_set,
                    *keys,
                    group,
                    variant.summary,
                    variant.since or since,
                    variant.complexity or complexity,
                    bound,
                    find_keys=find_keys,
                )
            return handler
        spec = CommandSpec(
            f"{parent}|{name}" if parent else name,
            arity,
            flag_set,
            *keys,
            group,
            summary,
            since,
            complexity,
            handler,
            find_keys=find_keys,
        )
        if parent:
            _add_subcommand(TABLE[parent], name, spec)
        else:
            TABLE[name] = spec
        if help:
            _add_help(spec, help, help_since)
        return handler

    return register


def container(
    name: str,
    arity: int,
    flags: Iterable[str] = (),
    *,
    group: str,
    summary: str,
    since: str,
    help: Sequence[str] = (),
    help_since: str = "5.0.0",
) -> None:
    """Declare a command that has no handler of its own and only dispatches to its subcommands
    (CLIENT, CONFIG, OBJECT). One that also answers alone (COMMAND) is an ``@command`` with
    ``complexity=DEPENDS_ON_SUBCOMMAND``. Subcommands are ``@command(..., parent=name)``."""
    spec = CommandSpec(name, arity, frozenset(flags), 0, 0, 0, group, summary, since, DEPENDS_ON_SUBCOMMAND, None)
    TABLE[name] = spec
    if help:
        _add_help(spec, help, help_since)


def _add_subcommand(parent: CommandSpec, name: str, spec: CommandSpec) -> None:
    """HELP stays the last subcommand (COMMAND INFO and DOCS list them in this order)."""
    help_spec = parent.subcommands.pop(b"help", None)
    parent.subcommands[name.encode()] = spec
    if help_spec is not None:
        parent.subcommands[b"help"] = help_spec


def _add_help(parent: CommandSpec, lines: Sequence[str], since: str) -> None:
    """``<PARENT> HELP``: ``lines`` in Redis's help layout (a header, the lines, HELP's own)."""
    reply = help_reply(parent.name.upper(), list(lines))

    def help_command(ctx: Any, client: ClientState, argv: list[bytes]) -> object:
        return list(reply)

    parent.subcommands[b"help"] = CommandSpec(
        f"{parent.name}|help",
        2,
        frozenset((LOADING, STALE)),
        0,
        0,
        0,
        parent.group,
        HELP_SUMMARY,
        since,
        "O(1)",
        help_command,
    )


# --- helpers shared by the families ------------------------------------------------------------


def typed_value(ctx: Context, key: bytes, kind: type) -> Any:
    """The live value at ``key`` if it is a ``kind``, None if the key is missing; else WRONGTYPE."""
    value = ctx.keyspace.get(key)
    if value is None or type(value) is kind:
        return value
    raise CommandError(WRONGTYPE)


def arity_error(name: str) -> CommandError:
    return CommandError(f"ERR wrong number of arguments for '{name}' command")


def help_reply(name: str, lines: list[str]) -> list[bytes]:
    """The reply to X HELP: a header line, the given lines, and the HELP line."""
    from kvserver.protocol import SimpleString

    header = f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    return [SimpleString(line.encode()) for line in [header, *lines, "HELP", "    Prints this help."]]
