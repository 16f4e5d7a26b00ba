"""INFO: the server's state as "# Section" blocks of key:value lines.

Each section is one function registered in ``SECTIONS`` with ``@section(name)``, in the order
INFO prints them; a new section (commandstats, errorstats...) is one more decorated function.
``INFO`` alone, ``default``, ``all`` and ``everything`` select as Redis does: the default
sections, or every one (those declared with ``default=False`` too).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kvserver import __version__
from kvserver.commands.connection import REDIS_VERSION
from kvserver.commands.registry import LOADING, STALE, Context, command
from kvserver.protocol import Verbatim
from kvserver.state import ClientState

SERVER: Final = "server"

SectionFields = Callable[[Context], dict[str, object]]


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
        "multiplexing_api": "epoll",
        "python_version": platform.python_version(),
        "process_id": os.getpid(),
        "tcp_port": ctx.config.port,
        "server_time_usec": time.time_ns() // 1000,
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
        "hz": ctx.config.hz,
        "configured_hz": ctx.config.hz,
        "executable": sys.argv[0] if sys.argv else "",
        "config_file": ctx.config.config_file,
    }


@section("clients")
def _clients(ctx: Context) -> dict[str, object]:
    return {
        "connected_clients": len(ctx.clients),
        "maxclients": ctx.config.maxclients,
        "blocked_clients": sum(1 for c in ctx.clients.by_id.values() if c.blocked is not None),
        "tracking_clients": 0,
    }


@section("memory")
def _memory(ctx: Context) -> dict[str, object]:
    # used_memory: the RSS less what eviction freed that the OS doesn't show yet (memory.py)
    used = ctx.memory.used()
    rss = ctx.memory.rss()
    maxmemory = ctx.config.maxmemory
    return {
        "used_memory": used,
        "used_memory_human": _human(used),
        "used_memory_rss": rss,
        "used_memory_rss_human": _human(rss),
        "maxmemory": maxmemory,
        "maxmemory_human": _human(maxmemory),
        "maxmemory_policy": ctx.config.maxmemory_policy,
        "mem_fragmentation_ratio": f"{rss / used:.2f}" if used else "1.00",
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
        "rejected_connections": stats.rejected_connections,
        "expired_keys": stats.expired_keys,
        "evicted_keys": stats.evicted_keys,
        "keyspace_hits": stats.keyspace_hits,
        "keyspace_misses": stats.keyspace_misses,
        "total_error_replies": stats.total_error_replies,
    }


@section("replication")
def _replication(ctx: Context) -> dict[str, object]:
    return {"role": "master", "connected_slaves": 0, "master_repl_offset": 0}


@section("cpu", title="CPU")
def _cpu(ctx: Context) -> dict[str, object]:
    times = os.times()
    return {"used_cpu_sys": f"{times.system:.6f}", "used_cpu_user": f"{times.user:.6f}"}


@section("commandstats", default=False)
def _commandstats(ctx: Context) -> dict[str, object]:
    return _as_fields(ctx.monitoring.commandstats_lines())


@section("errorstats")
def _errorstats(ctx: Context) -> dict[str, object]:
    return _as_fields(ctx.monitoring.errorstats_lines())


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
    ks = ctx.keyspace
    if not len(ks):
        return {}
    return {"db0": f"keys={len(ks)},expires={len(ks.expires)},avg_ttl=0"}


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
