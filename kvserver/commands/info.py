"""INFO: the server's state as "# Section" blocks of key:value lines.

Each section is one function registered in ``SECTIONS`` with ``@section(name)``, in the order
INFO prints them; a new section (commandstats, errorstats...) is one more decorated function.
``INFO`` alone, ``default``, ``all`` and ``everything`` select as Redis does: the default
sections, or every one (those declared with ``default=False`` too).
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kvserver import __version__
from kvserver.commands.connection import REDIS_VERSION
from kvserver.commands.registry import LOADING, STALE, Context, command
from kvserver.commands.scripting import script_memory
from kvserver.protocol import Verbatim
from kvserver.state import ClientState

SERVER: Final = "server"

SectionFields = Callable[[Context], dict[str, object]]
# this process's identity, new at each start, as Redis's run_id and master_replid
_RUN_ID: Final = os.urandom(20).hex()
_REPLID: Final = os.urandom(20).hex()
_LRU_CLOCK_MAX: Final = (1 << 24) - 1  # Redis's lru_clock: seconds, on 24 bits


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    fields: SectionFields
    default: bool  # printed by INFO with no argument (and "default"); else only by "all"/"everything"
    title: str  # the "# Title" header


SECTIONS: dict[str, Section] = {}


def section(name: str, *, default: bool = True, title: str = "") -> Callable[[SectionFields], SectionFields]:
    """Declare an INFO section; sections print in the order they are declared. ``title``: the
    header, when it is not the name capitalised (Redis's "# CPU")."""

    def register(fields: SectionFields) -> SectionFields:
        SECTIONS[name] = Section(name, fields, default, title or name.capitalize())
        return fields

    return register


def _human(size: int) -> str:
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size}{unit}" if unit == "B" else f"{size:.2f}{unit}"
        size /= 1024  # type: ignore[assignment]
    return f"{size}"


@section("server")
def _server(ctx: Context) -> dict[str, object]:
    uptime = int(time.monotonic() - ctx.stats.started_monotonic)
    return {
        "redis_version": REDIS_VERSION,
        "kvserver_version": __version__,
        "redis_mode": "standalone",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "arch_bits": 64 if sys.maxsize > 2**32 else 32,
        "monotonic_clock": "POSIX clock_gettime",
        "multiplexing_api": "epoll",
        "python_version": platform.python_version(),
        "process_id": os.getpid(),
        "process_supervised": "no",
        "run_id": _RUN_ID,
        "tcp_port": ctx.config.port,
        "server_time_usec": time.time_ns() // 1000,
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
        "hz": ctx.config.hz,
        "configured_hz": ctx.config.hz,
        "lru_clock": int(time.time()) & _LRU_CLOCK_MAX,
        "executable": sys.argv[0] if sys.argv else "",
        "config_file": ctx.config.config_file,
        "io_threads_active": 0,
    }


@section("clients")
def _clients(ctx: Context) -> dict[str, object]:
    blocked = [c.blocked for c in ctx.clients.by_id.values() if c.blocked is not None]
    return {
        "connected_clients": len(ctx.clients),
        "cluster_connections": 0,
        "maxclients": ctx.config.maxclients,
        "blocked_clients": len(blocked),
        "tracking_clients": 0,
        "clients_in_timeout_table": sum(1 for block in blocked if block.timeout),
    }


@section("memory")
def _memory(ctx: Context) -> dict[str, object]:
    # used_memory: the RSS less what eviction freed that the OS doesn't show yet (memory.py)
    used = ctx.memory.used()
    rss = ctx.memory.rss()
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, used)  # the peak RSS
    system = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    maxmemory = ctx.config.maxmemory
    return {
        "used_memory": used,
        "used_memory_human": _human(used),
        "used_memory_rss": rss,
        "used_memory_rss_human": _human(rss),
        "used_memory_peak": peak,
        "used_memory_peak_human": _human(peak),
        "used_memory_peak_perc": f"{used * 100 / peak:.2f}%" if peak else "100.00%",
        "total_system_memory": system,
        "total_system_memory_human": _human(system),
        **script_memory(ctx),
        "maxmemory": maxmemory,
        "maxmemory_human": _human(maxmemory),
        "maxmemory_policy": ctx.config.maxmemory_policy,
        "mem_fragmentation_ratio": f"{rss / used:.2f}" if used else "1.00",
        "mem_fragmentation_bytes": rss - used,
        "active_defrag_running": 0,
        "lazyfree_pending_objects": 0,  # kvserver frees synchronously
        "lazyfreed_objects": 0,
    }


@section("persistence")
def _persistence(ctx: Context) -> dict[str, object]:
    return {"loading": 0, "async_loading": 0, **ctx.persistence.info()}


@section("stats")
def _stats(ctx: Context) -> dict[str, object]:
    stats = ctx.stats
    return {
        "total_connections_received": stats.total_connections_received,
        "total_commands_processed": stats.total_commands_processed,
        "instantaneous_ops_per_sec": 0,
        "total_net_input_bytes": stats.total_net_input_bytes,
        "total_net_output_bytes": stats.total_net_output_bytes,
        "total_net_repl_input_bytes": 0,  # no replication
        "total_net_repl_output_bytes": 0,
        "rejected_connections": stats.rejected_connections,
        "sync_full": 0,
        "sync_partial_ok": 0,
        "sync_partial_err": 0,
        "expired_keys": stats.expired_keys,
        "evicted_keys": stats.evicted_keys,
        "evicted_clients": 0,  # kvserver never evicts clients
        "keyspace_hits": stats.keyspace_hits,
        "keyspace_misses": stats.keyspace_misses,
        "pubsub_channels": len(ctx.pubsub.channels),
        "pubsub_patterns": len(ctx.pubsub.patterns),
        "pubsubshard_channels": len(ctx.pubsub.shard),
        "migrate_cached_sockets": 0,
        "slave_expires_tracked_keys": 0,
        "tracking_total_keys": 0,  # no client-side caching (CLIENT TRACKING)
        "tracking_total_items": 0,
        "tracking_total_prefixes": 0,
        "unexpected_error_replies": 0,  # only replicas and the AOF loader see those in Redis
        "total_error_replies": stats.total_error_replies,
    }


@section("replication")
def _replication(ctx: Context) -> dict[str, object]:
    return {
        "role": "master",
        "connected_slaves": 0,
        "master_failover_state": "no-failover",
        "master_replid": _REPLID,
        "master_replid2": "0" * 40,
        "master_repl_offset": 0,
        "second_repl_offset": -1,
        "repl_backlog_active": 0,
        "repl_backlog_size": ctx.config.repl_backlog_size,
        "repl_backlog_first_byte_offset": 0,
        "repl_backlog_histlen": 0,
    }


@section("cpu", title="CPU")
def _cpu(ctx: Context) -> dict[str, object]:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    thread = resource.getrusage(resource.RUSAGE_THREAD)  # INFO runs on the event loop's thread
    return {
        "used_cpu_sys": f"{own.ru_stime:.6f}",
        "used_cpu_user": f"{own.ru_utime:.6f}",
        "used_cpu_sys_children": f"{children.ru_stime:.6f}",
        "used_cpu_user_children": f"{children.ru_utime:.6f}",
        "used_cpu_sys_main_thread": f"{thread.ru_stime:.6f}",
        "used_cpu_user_main_thread": f"{thread.ru_utime:.6f}",
    }


@section("modules")
def _modules(ctx: Context) -> dict[str, object]:
    return {}  # MODULE LIST is empty: Redis prints the header alone


@section("commandstats", default=False)
def _commandstats(ctx: Context) -> dict[str, object]:
    return _as_fields(ctx.monitoring.commandstats_lines())


@section("errorstats")
def _errorstats(ctx: Context) -> dict[str, object]:
    return _as_fields(sorted(ctx.monitoring.errorstats_lines()))  # by error code, as Redis's radix tree


@section("latencystats", default=False)
def _latencystats(ctx: Context) -> dict[str, object]:
    return _as_fields(ctx.monitoring.latencystats_lines())


@section("cluster")
def _cluster(ctx: Context) -> dict[str, object]:
    return {"cluster_enabled": 0}


def _as_fields(lines: list[str]) -> dict[str, object]:
    """``key:value`` lines (monitoring.py's form) as a section's fields."""
    fields: dict[str, object] = {}
    for line in lines:
        key, value = line.split(":", 1)
        fields[key] = value
    return fields


@section("keyspace")
def _keyspace(ctx: Context) -> dict[str, object]:
    return {f"db{index}": f"keys={len(ks)},expires={len(ks.expires)},avg_ttl=0" for index, ks in ctx.keyspaces()}


def selected(wanted: list[str]) -> list[Section]:
    """The sections INFO prints for the (lower-cased) arguments, in declaration order: those
    named, plus the default ones for "default" (or no argument), plus all for "all"/"everything"."""
    every = "all" in wanted or "everything" in wanted
    defaults = not wanted or "default" in wanted
    return [s for s in SECTIONS.values() if every or (defaults and s.default) or s.name in wanted]


def render_info(ctx: Context, sections: list[Section]) -> str:
    """INFO's text: "# Section" headers and key:value lines, sections separated by a blank line."""
    chunks = []
    for entry in sections:
        lines = [f"# {entry.title}"] + [f"{key}:{value}" for key, value in entry.fields(ctx).items()]
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
    return Verbatim(render_info(ctx, selected(wanted)).encode())
