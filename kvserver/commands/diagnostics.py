"""What tools ask about the server: SLOWLOG, LATENCY, MEMORY and MODULE.

The measurements live in ``kvserver.monitoring`` (sans-IO, filled by the database's timing hook);
these handlers only read and reset them. MEMORY's numbers are honest estimates: Python has no
exact per-object accounting, so MEMORY USAGE sums ``sys.getsizeof`` over a sample of a value's
elements (5 by default, as Redis samples), and MEMORY STATS reports the process's memory as
``kvserver.memory`` measures it.
"""

from __future__ import annotations

import resource
import sys
from collections import deque
from itertools import islice
from typing import Final

from kvserver.commands.args import parse_int
from kvserver.commands.registry import (
    ADMIN,
    LOADING,
    NOSCRIPT,
    STALE,
    SYNTAX,
    TABLE,
    CommandError,
    Context,
    command,
    container,
)
from kvserver.memory import contents_size
from kvserver.monitoring import cumulative_usec
from kvserver.protocol import OK, Verbatim
from kvserver.state import ClientState
from kvserver.zset import ZSet

SERVER: Final = "server"
_READ: Final = ("readonly",)
MEMORY_DOCTOR_MIN: Final = 5 * 1024 * 1024  # Redis's doctor says nothing below 5 MB
# a key's share of the keyspace dict (hash, key and value pointers) and of its own objects' headers
KEY_OVERHEAD: Final = 3 * 8

# --- SLOWLOG -----------------------------------------------------------------------------------

_SLOWLOG_HELP: Final = [
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
]

container(
    "slowlog",
    -2,
    group=SERVER,
    since="2.2.12",
    summary="A container for slow log commands",
    help=_SLOWLOG_HELP,
    help_since="6.2.0",
)


@command(
    "get",
    -2,
    (ADMIN, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.2.12",
    complexity="O(N) where N is the number of entries returned",
    parent="slowlog",
    summary="Get the slow log's entries",
)
def slowlog_get_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """SLOWLOG GET [count]: the newest entries first (10 by default, -1: all)."""
    if len(argv) > 3:
        sub = argv[1].decode("utf-8", "surrogateescape")
        raise CommandError(f"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try SLOWLOG HELP.")
    count = 10
    if len(argv) == 3:
        count = parse_int(argv[2], "ERR count should be greater than or equal to -1")
        if count < -1:
            raise CommandError("ERR count should be greater than or equal to -1")
    return ctx.monitoring.slowlog_get(count)


@command(
    "len",
    2,
    (ADMIN, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.2.12",
    parent="slowlog",
    summary="Get the slow log's length",
)
def slowlog_len_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return len(ctx.monitoring.slowlog)


@command(
    "reset",
    2,
    (ADMIN, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.2.12",
    complexity="O(N) where N is the number of entries in the slowlog",
    parent="slowlog",
    summary="Clear all entries from the slow log",
)
def slowlog_reset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    ctx.monitoring.slowlog.clear()
    return OK


# --- LATENCY -----------------------------------------------------------------------------------

_LATENCY_HELP: Final = [
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
]

container(
    "latency",
    -2,
    group=SERVER,
    since="2.8.13",
    summary="A container for latency diagnostics commands",
    help=_LATENCY_HELP,
    help_since="2.8.13",
)


@command(
    "latest",
    2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="latency",
    summary="Return the latest latency samples for all events.",
)
def latency_latest_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.monitoring.latency_latest()


@command(
    "history",
    3,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="latency",
    summary="Return timestamp-latency samples for the event.",
)
def latency_history_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.monitoring.latency_history(argv[2].decode("utf-8", "surrogateescape"))


@command(
    "reset",
    -2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="latency",
    summary="Reset latency data for one or more events.",
)
def latency_reset_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return ctx.monitoring.latency_reset([raw.decode("utf-8", "surrogateescape") for raw in argv[2:]])


@command(
    "histogram",
    -2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="7.0.0",
    complexity="O(N) where N is the number of commands with latency information being retrieved.",
    parent="latency",
    summary="Return the cumulative distribution of latencies of a subset of commands or all commands.",
)
def latency_histogram_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """LATENCY HISTOGRAM [command ...]: per command (a container: each of its subcommands), its
    calls and the cumulative count of calls under each power of two of microseconds; unknown
    names and commands never called are left out."""
    stats = ctx.monitoring.commands
    if len(argv) == 2:
        names: list[str] = list(stats)
    else:
        names = []
        for raw in argv[2:]:
            names += _full_names(raw.decode("utf-8", "surrogateescape").lower())
    reply: dict[bytes, object] = {}
    for name in names:
        stat = stats.get(name)
        if stat is not None and stat.calls:
            reply[name.encode()] = {b"calls": stat.calls, b"histogram_usec": cumulative_usec(stat.histogram)}
    return reply


def _full_names(name: str) -> list[str]:
    """A command's full name, or all of a container's subcommands' ("client" -> "client|id"...)."""
    parent, _, sub = name.partition("|")
    spec = TABLE.get(parent)
    if spec is None:
        return []
    if sub:
        child = spec.subcommands.get(sub.encode())
        return [] if child is None else [child.name]
    if spec.subcommands:
        return [child.name for child in spec.subcommands.values()]
    return [spec.name]


_DISABLED: Final = (
    "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may "
    'use "CONFIG SET latency-monitor-threshold <milliseconds>." in order to enable it. If we weren\'t in '
    "a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
)
_NO_SPIKES: Final = (
    "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the "
    "slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
)


@command(
    "doctor",
    2,
    (ADMIN, NOSCRIPT, LOADING, STALE),
    keys=(0, 0, 0),
    group=SERVER,
    since="2.8.13",
    parent="latency",
    summary="Return a human readable latency analysis report.",
)
def latency_doctor_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """A short report of each event's spikes; unlike Redis's, no advice (kvserver's causes differ)."""
    if not ctx.config.latency_monitor_threshold:
        return Verbatim(_DISABLED.encode())
    events = [(name, entry) for name, entry in ctx.monitoring.latency.items() if entry.samples]
    if not events:
        return Verbatim(_NO_SPIKES.encode())
    lines = ["Dave, I have observed latency spikes in this kvserver instance.", ""]
    for j, (name, entry) in enumerate(events, 1):
        values = [ms for _, ms in entry.samples]
        average = sum(values) / len(values)
        deviation = sum(abs(v - average) for v in values) / len(values)
        first, last = entry.samples[0][0], entry.samples[-1][0]
        period = (last - first) / (len(values) - 1) if len(values) > 1 else 0
        lines.append(
            f"{j}. {name}: {len(values)} latency spikes (average {average:.0f}ms, mean deviation "
            f"{deviation:.0f}ms, period {period:.2f} sec). Worst all time event {entry.max}ms."
        )
    lines += [
        "",
        "kvserver runs every command on one event loop: a slow command delays every client. "
        "SLOWLOG GET shows which commands were slow.",
    ]
    return Verbatim(("\n".join(lines) + "\n").encode())


# --- MEMORY ------------------------------------------------------------------------------------

_MEMORY_HELP: Final = [
    "DOCTOR",
    "    Return memory problems reports.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
]

container(
    "memory",
    -2,
    group=SERVER,
    since="4.0.0",
    summary="A container for memory diagnostics commands",
    help=_MEMORY_HELP,
    help_since="4.0.0",
)


def sampled_size(key: bytes, value: object, samples: int) -> int:
    """An estimate of the bytes ``key`` and ``value`` take, looking at ``samples`` elements of a
    container (0: all of them) and extrapolating to its length, as Redis's objectComputeSize."""
    size = sys.getsizeof(key) + sys.getsizeof(value) + KEY_OVERHEAD
    if isinstance(value, (bytes, bytearray)):
        return size
    limit = samples or None
    if isinstance(value, dict):
        seen = [sys.getsizeof(f) + sys.getsizeof(v) for f, v in islice(value.items(), limit)]
    elif isinstance(value, (set, frozenset, deque)):
        seen = [sys.getsizeof(member) for member in islice(value, limit)]
    elif isinstance(value, ZSet):
        size += sys.getsizeof(value.scores)
        # the member and its float in the dict, the (score, member) tuple in the index
        seen = [sys.getsizeof(m) + 24 + 56 + 8 for m in islice(value.scores, limit)]
    else:  # a type that registered its sizer (kvserver.memory.register_size)
        return size + contents_size(value, limit)
    if seen:
        size += sum(seen) * len(value) // len(seen)
    return size


@command(
    "usage",
    -3,
    _READ,
    keys=(2, 2, 1),
    group=SERVER,
    since="4.0.0",
    complexity="O(N) where N is the number of samples.",
    parent="memory",
    summary="Estimate the memory usage of a key",
)
def memory_usage_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """MEMORY USAGE key [SAMPLES count]"""
    samples = 5
    j = 3
    while j < len(argv):
        if argv[j].lower() == b"samples" and j + 1 < len(argv):
            samples = parse_int(argv[j + 1])
            if samples < 0:
                raise CommandError(SYNTAX)
            j += 2
        else:
            raise CommandError(SYNTAX)
    value = ctx.keyspace.get(argv[2])
    if value is None:
        return None
    return sampled_size(argv[2], value, samples)


def _peak() -> int:
    """The process's peak resident set size (bytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@command(
    "stats",
    2,
    (),
    keys=(0, 0, 0),
    group=SERVER,
    since="4.0.0",
    parent="memory",
    summary="Show memory usage details",
)
def memory_stats_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """Redis's field names; values from the process's memory (there is no allocator to ask)."""
    total = ctx.memory.used()
    rss = ctx.memory.rss()
    startup = min(ctx.monitoring.startup_memory, total)
    peak = max(_peak(), total)
    ks = ctx.keyspace
    main = sys.getsizeof(ks.data)
    expires = sys.getsizeof(ks.expires)
    overhead = startup + main + expires
    dataset = max(total - overhead, 0)
    keys = len(ks)
    net = total - startup
    stats: dict[bytes, object] = {
        b"peak.allocated": peak,
        b"total.allocated": total,
        b"startup.allocated": startup,
        b"replication.backlog": 0,
        b"clients.slaves": 0,
        b"clients.normal": 0,
        b"cluster.links": 0,
        b"aof.buffer": 0,
        b"lua.caches": 0,
        b"functions.caches": 0,
    }
    if keys:
        stats[b"db.0"] = {b"overhead.hashtable.main": main, b"overhead.hashtable.expires": expires}
    stats.update(
        {
            b"overhead.hashtable.slot-to-keys": 0,
            b"overhead.total": overhead,
            b"keys.count": keys,
            b"keys.bytes-per-key": net // keys if keys else 0,
            b"dataset.bytes": dataset,
            b"dataset.percentage": dataset * 100 / net if net > 0 else 0.0,
            b"peak.percentage": total * 100 / peak if peak else 0.0,
            b"allocator.allocated": total,
            b"allocator.active": total,
            b"allocator.resident": rss,
            b"allocator-fragmentation.ratio": 1.0,
            b"allocator-fragmentation.bytes": 0,
            b"allocator-rss.ratio": rss / total if total else 1.0,
            b"allocator-rss.bytes": rss - total,
            b"rss-overhead.ratio": 1.0,
            b"rss-overhead.bytes": 0,
            b"fragmentation": rss / total if total else 1.0,
            b"fragmentation.bytes": rss - total,
        }
    )
    return stats


_DOCTOR_EMPTY: Final = (
    "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used "
    "in these conditions. Please, leave for your mission on Earth and fill it with some data. The new "
    "Sam and I will be back to our programming as soon as I finished rebooting."
)
_DOCTOR_FINE: Final = (
    "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
)


@command(
    "doctor",
    2,
    (),
    keys=(0, 0, 0),
    group=SERVER,
    since="4.0.0",
    parent="memory",
    summary="Outputs memory problems report",
)
def memory_doctor_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """Redis's two texts for an instance with no issue; kvserver looks for none of Redis's
    allocator problems (docs/compatibility.md)."""
    used = ctx.memory.used() - ctx.monitoring.startup_memory
    return Verbatim((_DOCTOR_EMPTY if used < MEMORY_DOCTOR_MIN else _DOCTOR_FINE).encode())


# --- MODULE ------------------------------------------------------------------------------------

_MODULE_HELP: Final = [
    "LIST",
    "    Return a list of loaded modules.",
]

container(
    "module",
    -2,
    group=SERVER,
    since="4.0.0",
    summary="A container for module commands",
    help=_MODULE_HELP,
    help_since="5.0.0",
)


@command(
    "list",
    2,
    (ADMIN, NOSCRIPT),
    keys=(0, 0, 0),
    group=SERVER,
    since="4.0.0",
    complexity="O(N) where N is the number of loaded modules.",
    parent="module",
    summary="List all modules loaded by the server",
)
def module_list_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    return []  # kvserver loads no modules
