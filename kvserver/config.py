"""Server configuration: one typed object, option names as in redis.conf, validated with clear messages.

``PARAMETERS`` describes each option once: how to parse and show it, and whether CONFIG SET may
change it at run time. The command line, CONFIG GET and CONFIG SET all read that table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# enum values in Redis's order: its error message lists them so
APPENDFSYNC_POLICIES = ("everysec", "always", "no")
LOGLEVELS = ("debug", "verbose", "notice", "warning")
MAXMEMORY_POLICIES = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}
INT_MAX = 2**31 - 1
UINT_MAX = 2**32 - 1
LLONG_MAX = 2**63 - 1
ULLONG_MAX = 2**64 - 1
_NOT_AN_INTEGER = "argument couldn't be parsed into an integer"
_NOT_MEMORY = "argument must be a memory value"


class ConfigError(ValueError):
    """A bad option value; the message names the option."""


def string2ll(text: str) -> int | None:
    """A signed 64-bit integer exactly as Redis's string2ll reads it (no sign, space or 0 prefix)."""
    if len(text) > 20:  # never an int64: don't even convert it
        return None
    digits = text[1:] if text[:1] == "-" else text
    if not digits.isascii() or not digits.isdigit() or (digits[0] == "0" and text != "0"):
        return None
    value = int(text)
    return value if -(2**63) <= value <= LLONG_MAX else None


def memtoull(text: str) -> int | None:
    """A memory size as Redis's memtoull reads it: digits and a unit (b, k, kb, m, mb, g, gb).

    Like Redis, no digits means 0, a number too large saturates, and the product wraps at 2**64.
    """
    if text.startswith("-"):
        return None
    digits = text[: len(text) - len(text.lstrip("0123456789"))]
    unit = text[len(digits) :].lower()
    if unit not in _MEMORY_UNITS or len(digits) >= 128:
        return None
    value = min(int(digits), ULLONG_MAX) if digits else 0
    return (value * _MEMORY_UNITS[unit]) & ULLONG_MAX


def parse_memory(text: str) -> int:
    """Parse a redis.conf memory size: 64mb, 1gb, 100 (bytes)."""
    value = memtoull(text)
    if value is None:
        raise ValueError(_NOT_MEMORY)
    return value


def _bounded(value: int, low: int, high: int, unsigned: bool) -> int:
    """Redis's numericBoundaryCheck: unsigned types see a negative value as a huge one."""
    checked = value & ULLONG_MAX if unsigned else value
    if not low <= checked <= high:
        raise ValueError(f"argument must be between {low} and {high} inclusive")
    return checked


def _int_in(low: int, high: int, unsigned: bool = False) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = string2ll(text)
        if value is None:
            raise ValueError(_NOT_AN_INTEGER)
        return _bounded(value, low, high, unsigned)

    return parse


def _memory_in(low: int, high: int, unsigned: bool = False) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = memtoull(text)
        if value is None:
            raise ValueError(_NOT_MEMORY)
        if not unsigned and value > LLONG_MAX:
            value -= 2**64  # stored in a signed type, as Redis does
        return _bounded(value, low, high, unsigned)

    return parse


def _memory_or_percent(text: str) -> int:
    """Redis's MEMORY_CONFIG | PERCENT_CONFIG numbers (maxmemory-clients): a memory size, or
    ``N%`` kept as -N; at most 100%."""
    value = memtoull(text)
    if value is None:
        percent = string2ll(text[:-1]) if len(text) > 1 and text.endswith("%") else None
        if percent is None or percent < 0:
            raise ValueError("argument must be a memory or percent value")
        value = -percent
    elif value > LLONG_MAX:
        value -= 2**64  # stored in a signed type, as Redis does: a negative, so a percentage
    if value < -100:
        raise ValueError("percentage argument must be less or equal to 100")
    return value


def _show_percent(value: int) -> str:
    return f"{-value}%" if value < 0 else str(value)


def _hz(text: str) -> int:
    """Redis accepts any int for hz and caps it to 1..500 (a hint, not a contract)."""
    return min(max(_int_in(0, INT_MAX)(text), 1), 500)


def _choice(options: tuple[str, ...], extra: tuple[str, ...] = ()) -> Callable[[str], str]:
    """An enum; ``extra`` values are accepted but, being kvserver's, not listed in the error."""

    def parse(text: str) -> str:
        value = text.lower()
        if value not in options and value not in extra:
            raise ValueError(f"argument(s) must be one of the following: {', '.join(options)}")
        return value

    return parse


def _yes_no(text: str) -> bool:
    value = text.lower()
    if value not in ("yes", "no"):
        raise ValueError("argument must be 'yes' or 'no'")
    return value == "yes"


def _text(text: str) -> str:
    return text


def _octal(text: str) -> int:
    """Redis reads unixsocketperm with strtol base 8 and checks 0..0777."""
    try:
        value = int(text, 8)
    except ValueError:
        raise ValueError(_NOT_AN_INTEGER) from None
    return _bounded(value, 0, 0o777, False)


# keyspace notifications: Redis's class letters and bits (server.h NOTIFY_*); "A" is every class
# but "m" (key miss) and "n" (new key)
KEYSPACE_EVENT_BITS = {
    "K": 1 << 0,
    "E": 1 << 1,
    "g": 1 << 2,
    "$": 1 << 3,
    "l": 1 << 4,
    "s": 1 << 5,
    "h": 1 << 6,
    "z": 1 << 7,
    "x": 1 << 8,
    "e": 1 << 9,
    "t": 1 << 10,
    "m": 1 << 11,
    "d": 1 << 13,
    "n": 1 << 14,
}
NOTIFY_ALL = sum(KEYSPACE_EVENT_BITS[c] for c in "g$lshzxetd")


def parse_keyspace_events(text: str) -> int:
    """``notify-keyspace-events``: the class letters as Redis's keyspaceEventsStringToFlags reads them."""
    flags = 0
    for char in text:
        if char == "A":
            flags |= NOTIFY_ALL
        elif char in KEYSPACE_EVENT_BITS:
            flags |= KEYSPACE_EVENT_BITS[char]
        else:
            raise ValueError("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
    return flags


def show_keyspace_events(flags: int) -> str:
    """The canonical letters, as Redis's keyspaceEventsFlagsToString writes them (CONFIG GET)."""
    bits = KEYSPACE_EVENT_BITS
    # (after "A" Redis writes no "n": CONFIG GET shows "A" for "An", as redis-server does)
    text = "A" if flags & NOTIFY_ALL == NOTIFY_ALL else "".join(c for c in "g$lshzxetdn" if flags & bits[c])
    return text + "".join(c for c in "KEm" if flags & bits[c])


def _save(text: str) -> str:
    """Redis's check of ``save``: "" or pairs of <seconds >= 1> <changes >= 0>."""
    fields = text.split()
    if len(fields) % 2 or not all(re.fullmatch(r"[+-]?\d+", f) for f in fields):
        raise ValueError("Invalid save parameters")
    if any(int(f) < (1 if j % 2 == 0 else 0) for j, f in enumerate(fields)):
        raise ValueError("Invalid save parameters")
    return " ".join(fields)


OUTPUT_BUFFER_CLASSES = ("normal", "slave", "pubsub")
_CLASS_ALIASES = {"normal": "normal", "slave": "slave", "replica": "slave", "pubsub": "pubsub"}
OutputLimits = dict[str, tuple[int, int, int]]  # class -> (hard bytes, soft bytes, soft seconds)


def default_output_limits() -> OutputLimits:
    return {"normal": (0, 0, 0), "slave": (256 << 20, 64 << 20, 60), "pubsub": (32 << 20, 8 << 20, 60)}


def _output_limits(text: str) -> OutputLimits:
    """``client-output-buffer-limit``: groups of <class> <hard> <soft> <soft seconds>, as Redis
    7.0 reads them; only the classes named change (the Config merges them)."""
    args = text.split()
    if len(args) % 4:
        raise ValueError("Wrong number of arguments in buffer limit configuration.")
    limits: OutputLimits = {}
    for j in range(0, len(args), 4):
        kind = _CLASS_ALIASES.get(args[j].lower())
        if kind is None:
            raise ValueError("Invalid client class specified in buffer limit configuration.")
        hard, soft = memtoull(args[j + 1]), memtoull(args[j + 2])
        soft_seconds = string2ll(args[j + 3])
        if hard is None or soft is None or soft_seconds is None or soft_seconds < 0:
            raise ValueError("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
        limits[kind] = (hard, soft, soft_seconds)
    return limits


def _show_output_limits(limits: OutputLimits) -> str:
    return " ".join(f"{kind} {limits[kind][0]} {limits[kind][1]} {limits[kind][2]}" for kind in OUTPUT_BUFFER_CLASSES)


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str  # as in redis.conf
    attr: str  # the Config attribute
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str
    mutable: bool = False  # CONFIG SET may change it
    help: str = ""
    # Redis may change it at run time but kvserver can't (port, bind, dir, appendonly): CONFIG SET
    # checks the value as Redis does, then answers "can't set immutable config"
    redis_mutable: bool = False
    # another name for the parameter ``alias_of`` (Redis 7.0's *-ziplist-* names of *-listpack-*):
    # CONFIG GET shows both, as Redis does; CONFIG REWRITE and the docs use the main name
    alias_of: str = ""
    # as Redis's HIDDEN_CONFIG: CONFIG GET shows it only when asked by its exact name, not a pattern
    hidden: bool = False


def _show_bool(value: bool) -> str:
    return "yes" if value else "no"


def _show_octal(value: int) -> str:
    return f"{value:o}"


PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "port",
        "port",
        _int_in(0, 65535),
        redis_mutable=True,
        help="TCP port (0 picks a free one; 0 with a unixsocket: no TCP, as in Redis)",
    ),
    Parameter("bind", "bind", _text, redis_mutable=True, help="address to listen on"),
    Parameter("dir", "dir", _text, help="directory of the append-only log"),
    Parameter("appendfilename", "appendfilename", _text, help="name of the log file in --dir"),
    Parameter("appendonly", "appendonly", _yes_no, _show_bool, redis_mutable=True, help="keep the log (yes|no)"),
    Parameter(
        "appendfsync",
        "appendfsync",
        _choice(APPENDFSYNC_POLICIES),
        mutable=True,
        help="when to fsync the log: always|everysec|no",
    ),
    Parameter("requirepass", "requirepass", _text, mutable=True, help="password for AUTH"),
    Parameter("maxclients", "maxclients", _int_in(1, UINT_MAX, unsigned=True), mutable=True, help="client limit"),
    Parameter(
        "loglevel",
        "loglevel",
        _choice(LOGLEVELS, extra=("nothing",)),
        mutable=True,
        help="log verbosity: debug|verbose|notice|warning|nothing",
    ),
    Parameter("logfile", "logfile", _text, help="log file ('' logs to standard output); reopened on SIGHUP"),
    Parameter(
        "proto-max-bulk-len",
        "proto_max_bulk_len",
        _memory_in(1024 * 1024, LLONG_MAX),
        mutable=True,
        help="largest bulk string accepted (at least 1mb)",
    ),
    Parameter("hz", "hz", _hz, mutable=True, help="background task frequency (capped to 1..500)"),
    Parameter("timeout", "timeout", _int_in(0, INT_MAX), mutable=True, help="idle client timeout (0: off)"),
    Parameter(
        "auto-aof-rewrite-percentage",
        "auto_aof_rewrite_percentage",
        _int_in(0, INT_MAX),
        mutable=True,
        help="log growth that triggers a rewrite (0: off)",
    ),
    Parameter(
        "auto-aof-rewrite-min-size",
        "auto_aof_rewrite_min_size",
        _memory_in(0, LLONG_MAX),
        mutable=True,
        help="smallest log that is rewritten automatically",
    ),
    Parameter(
        "save",
        "save",
        _save,
        mutable=True,
        help="accepted for compatibility; kvserver persists through the log only",
    ),
    Parameter("databases", "databases", _int_in(1, INT_MAX), help="the number of databases (SELECT 0 to N-1)"),
    # --- running as a service (docs/configuration.md)
    Parameter("daemonize", "daemonize", _yes_no, _show_bool, help="detach and run in the background (yes|no)"),
    Parameter("pidfile", "pidfile", _text, help="write the process id here at startup ('' none)"),
    Parameter(
        "unixsocket", "unixsocket", _text, help="listen on this Unix socket too ('' none; with port 0: only there)"
    ),
    Parameter(
        "unixsocketperm",
        "unixsocketperm",
        _octal,
        _show_octal,
        help="permissions of the Unix socket, in octal (0: umask)",
    ),
    # --- memory (docs/limits.md "Memory")
    Parameter(
        "maxmemory",
        "maxmemory",
        _memory_in(0, ULLONG_MAX, unsigned=True),
        mutable=True,
        help="memory limit in bytes, e.g. 512mb (0: none)",
    ),
    Parameter(
        "maxmemory-policy",
        "maxmemory_policy",
        _choice(MAXMEMORY_POLICIES),
        mutable=True,
        help="what a write does over maxmemory: noeviction|allkeys-random|volatile-ttl|...",
    ),
    Parameter(
        "maxmemory-samples",
        "maxmemory_samples",
        _int_in(1, INT_MAX),
        mutable=True,
        help="accepted for compatibility (eviction picks keys without sampling)",
    ),
    # --- protocol and connections
    Parameter(
        "client-query-buffer-limit",
        "client_query_buffer_limit",
        _memory_in(1024 * 1024, LLONG_MAX),
        mutable=True,
        help="unparsed input a client may accumulate before it is closed",
    ),
    Parameter(
        "client-output-buffer-limit",
        "client_output_buffer_limit",
        _output_limits,
        _show_output_limits,
        mutable=True,
        help="groups of: class (normal, replica, pubsub), hard, soft, soft seconds; a subscriber past them is closed",
    ),
    Parameter(
        "notify-keyspace-events",
        "notify_keyspace_events",
        parse_keyspace_events,
        show_keyspace_events,
        mutable=True,
        help="keyspace notification classes, Redis's letters (K E g $ l s h z x e n A; '' is off)",
    ),
    Parameter(
        "protected-mode",
        "protected_mode",
        _yes_no,
        _show_bool,
        mutable=True,
        help="without a password, refuse clients not on 127.0.0.1 or ::1 (yes|no)",
    ),
)

_STORED = "stored and reported; changes nothing in kvserver, which has no compact encodings (docs/compatibility.md)"
_LAZYFREE = "stored and reported; kvserver frees memory synchronously (docs/compatibility.md)"
_DEFRAG = "stored and reported; kvserver has no active defragmentation (docs/compatibility.md)"


def _stored(name: str, attr: str, parse: Callable[[str], Any], help: str = _STORED, alias: str = "") -> list[Parameter]:
    """A Redis tuning parameter that CONFIG SET/GET accept and kvserver only keeps (Redis's own
    tests set the encoding ones at the top of a block); with its Redis 7.0 alias, if any."""
    show: Callable[[Any], str] = _show_bool if parse is _yes_no else str
    main = Parameter(name, attr, parse, show, mutable=True, help=help)
    return [main] + ([Parameter(alias, attr, parse, show, mutable=True, help=help, alias_of=name)] if alias else [])


_REPLICATION = "stored and reported; kvserver has no replication (docs/compatibility.md)"
_CLIENT_MEMORY = "stored and reported; kvserver doesn't evict clients for their memory (docs/compatibility.md)"
_LOADING = "stored and reported (a Redis test knob, hidden from CONFIG GET patterns); no effect in kvserver"


LONG_MAX = LLONG_MAX
PARAMETERS += (
    # --- the slow log and the latency monitor (docs/compatibility.md "Introspection")
    Parameter(
        "slowlog-log-slower-than",
        "slowlog_log_slower_than",
        _int_in(-1, LLONG_MAX),
        mutable=True,
        help="log commands taking at least this many microseconds in SLOWLOG (-1: none, 0: all)",
    ),
    Parameter(
        "slowlog-max-len",
        "slowlog_max_len",
        _int_in(0, LONG_MAX),
        mutable=True,
        help="entries the slow log keeps (the oldest go first)",
    ),
    Parameter(
        "busy-reply-threshold",
        "busy_reply_threshold",
        _int_in(0, LLONG_MAX),
        mutable=True,
        help="milliseconds a script runs before other clients get -BUSY and SCRIPT KILL may end it (0: never)",
    ),
    Parameter(
        "lua-time-limit",
        "busy_reply_threshold",
        _int_in(0, LLONG_MAX),
        mutable=True,
        help="the old name of busy-reply-threshold",
        alias_of="busy-reply-threshold",
    ),
    Parameter(
        "latency-monitor-threshold",
        "latency_monitor_threshold",
        _int_in(0, LLONG_MAX),
        mutable=True,
        help="record a LATENCY event for commands taking at least this many milliseconds (0: off)",
    ),
    # --- encodings and other tuning kvserver has no equivalent of: kept, reported, no effect
    *_stored(
        "hash-max-listpack-entries", "hash_max_listpack_entries", _int_in(0, LONG_MAX), alias="hash-max-ziplist-entries"
    ),
    *_stored(
        "hash-max-listpack-value", "hash_max_listpack_value", _memory_in(0, LONG_MAX), alias="hash-max-ziplist-value"
    ),
    *_stored(
        "list-max-listpack-size", "list_max_listpack_size", _int_in(-(2**31), INT_MAX), alias="list-max-ziplist-size"
    ),
    *_stored("list-compress-depth", "list_compress_depth", _int_in(0, INT_MAX)),
    *_stored("set-max-intset-entries", "set_max_intset_entries", _int_in(0, LONG_MAX)),
    *_stored(
        "zset-max-listpack-entries", "zset_max_listpack_entries", _int_in(0, LONG_MAX), alias="zset-max-ziplist-entries"
    ),
    *_stored(
        "zset-max-listpack-value", "zset_max_listpack_value", _memory_in(0, LONG_MAX), alias="zset-max-ziplist-value"
    ),
    Parameter(
        "hll-sparse-max-bytes",
        "hll_sparse_max_bytes",
        _memory_in(0, LONG_MAX),
        mutable=True,
        help="size above which a sparse HyperLogLog becomes dense (as Redis's)",
    ),
    *_stored("stream-node-max-bytes", "stream_node_max_bytes", _memory_in(0, LONG_MAX)),
    *_stored("stream-node-max-entries", "stream_node_max_entries", _int_in(0, LLONG_MAX)),
    *_stored("activedefrag", "activedefrag", _yes_no, _DEFRAG),
    *_stored("active-defrag-cycle-min", "active_defrag_cycle_min", _int_in(1, 99), _DEFRAG),
    *_stored("active-defrag-cycle-max", "active_defrag_cycle_max", _int_in(1, 99), _DEFRAG),
    *_stored("active-defrag-threshold-lower", "active_defrag_threshold_lower", _int_in(0, 1000), _DEFRAG),
    *_stored("active-defrag-threshold-upper", "active_defrag_threshold_upper", _int_in(0, 1000), _DEFRAG),
    *_stored("active-defrag-ignore-bytes", "active_defrag_ignore_bytes", _memory_in(1, LLONG_MAX), _DEFRAG),
    *_stored("active-defrag-max-scan-fields", "active_defrag_max_scan_fields", _int_in(1, LONG_MAX), _DEFRAG),
    *_stored("lazyfree-lazy-eviction", "lazyfree_lazy_eviction", _yes_no, _LAZYFREE),
    *_stored("lazyfree-lazy-expire", "lazyfree_lazy_expire", _yes_no, _LAZYFREE),
    *_stored("lazyfree-lazy-server-del", "lazyfree_lazy_server_del", _yes_no, _LAZYFREE),
    *_stored("lazyfree-lazy-user-del", "lazyfree_lazy_user_del", _yes_no, _LAZYFREE),
    *_stored("lazyfree-lazy-user-flush", "lazyfree_lazy_user_flush", _yes_no, _LAZYFREE),
    *_stored("repl-backlog-size", "repl_backlog_size", _memory_in(1, LLONG_MAX), _REPLICATION),
    Parameter(
        "maxmemory-clients",
        "maxmemory_clients",
        _memory_or_percent,
        _show_percent,
        mutable=True,
        help=_CLIENT_MEMORY,
    ),
    Parameter("key-load-delay", "key_load_delay", _int_in(-(2**31), INT_MAX), mutable=True, help=_LOADING, hidden=True),
)
BY_NAME = {p.name: p for p in PARAMETERS}


@dataclass(slots=True)
class Config:
    port: int = 6379
    bind: str = "127.0.0.1"
    dir: str = "./data"
    appendfilename: str = "appendonly.aof"
    appendonly: bool = True
    appendfsync: str = "always"
    requirepass: str = ""
    maxclients: int = 10000
    loglevel: str = "notice"
    logfile: str = ""
    proto_max_bulk_len: int = 512 * 1024 * 1024
    hz: int = 10
    timeout: int = 0
    auto_aof_rewrite_percentage: int = 100
    auto_aof_rewrite_min_size: int = 64 * 1024 * 1024
    save: str = ""
    databases: int = 16
    maxmemory: int = 0
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 5
    client_query_buffer_limit: int = 1024 * 1024 * 1024
    protected_mode: bool = True
    notify_keyspace_events: int = 0
    output_limits: OutputLimits = field(default_factory=default_output_limits)
    daemonize: bool = False
    pidfile: str = ""
    unixsocket: str = ""
    unixsocketperm: int = 0
    slowlog_log_slower_than: int = 10000
    slowlog_max_len: int = 128
    latency_monitor_threshold: int = 0
    busy_reply_threshold: int = 5000
    hash_max_listpack_entries: int = 512
    hash_max_listpack_value: int = 64
    list_max_listpack_size: int = -2
    list_compress_depth: int = 0
    set_max_intset_entries: int = 512
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    hll_sparse_max_bytes: int = 3000
    stream_node_max_bytes: int = 4096
    stream_node_max_entries: int = 100
    activedefrag: bool = False
    active_defrag_cycle_min: int = 1
    active_defrag_cycle_max: int = 25
    active_defrag_threshold_lower: int = 10
    active_defrag_threshold_upper: int = 100
    active_defrag_ignore_bytes: int = 100 * 1024 * 1024
    active_defrag_max_scan_fields: int = 1000
    lazyfree_lazy_eviction: bool = False
    lazyfree_lazy_expire: bool = False
    lazyfree_lazy_server_del: bool = False
    lazyfree_lazy_user_del: bool = False
    lazyfree_lazy_user_flush: bool = False
    repl_backlog_size: int = 1024 * 1024
    maxmemory_clients: int = 0
    key_load_delay: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    config_file: str = ""  # the file the server was started with (absolute), for CONFIG REWRITE

    @property
    def client_output_buffer_limit(self) -> OutputLimits:
        return self.output_limits

    @client_output_buffer_limit.setter
    def client_output_buffer_limit(self, limits: OutputLimits) -> None:
        """Setting some classes (CONFIG SET, a config line) leaves the others as they were."""
        self.output_limits = {**self.output_limits, **limits}

    @property
    def aof_path(self) -> Path:
        return Path(self.dir) / self.appendfilename

    def set(self, name: str, text: str) -> None:
        """Set an option from its text form; raises ConfigError naming the option."""
        param = BY_NAME.get(name)
        if param is None:
            raise ConfigError(f"unknown option '{name}'")
        try:
            value = param.parse(text)
        except ValueError as exc:
            raise ConfigError(f"--{name} '{text}': {exc}") from None
        setattr(self, param.attr, value)

    def set_value(self, param: Parameter, text: str) -> None:
        """Set a parameter from its text; raises ValueError with Redis's bare reason."""
        setattr(self, param.attr, param.parse(text))

    def get(self, name: str) -> str:
        param = BY_NAME[name]
        return param.show(getattr(self, param.attr))
