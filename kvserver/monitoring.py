"""What the server measures about the commands it runs, sans-IO: the slow log, latency events,
per-command and per-error counters, and per-command latency percentiles.

``Monitoring.record`` is called once per executed command with its duration in nanoseconds; it
must stay cheap (a dict lookup, a few additions, two comparisons). Everything else (SLOWLOG,
LATENCY, INFO commandstats / errorstats / latencystats) reads what it kept. As Redis does:

- the slow log keeps the newest ``slowlog-max-len`` commands that took at least
  ``slowlog-log-slower-than`` microseconds (-1: none, 0: all), their arguments trimmed to 32 and
  each to 128 bytes, secrets redacted;
- a latency event ("command", "fast-command") gets a sample when a command took at least
  ``latency-monitor-threshold`` milliseconds (0: off); one sample per second per event (the
  largest), the newest 160 kept;
- errorstats counts error replies by their first word (at most 128 distinct ones, so a client
  can't grow the table without bound).

Latency percentiles come from a log-linear histogram (4 buckets per power of two of
nanoseconds): a percentile is reported as the upper bound of its bucket, at most 25% above the true
value, where Redis's HdrHistogram is within 1%.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

SLOWLOG_MAX_ARGC: Final = 32
SLOWLOG_MAX_STRING: Final = 128
LATENCY_SAMPLES: Final = 160  # Redis's LATENCY_TS_LEN
ERRORSTATS_LIMIT: Final = 128
PERCENTILES: Final = (50.0, 99.0, 99.9)  # Redis's latency-tracking-info-percentiles default
_SUB_BUCKETS: Final = 4  # per power of two
REDACTED: Final = b"(redacted)"
# CONFIG SET values Redis hides from the slow log (and MONITOR)
SENSITIVE_CONFIGS: Final = frozenset({b"requirepass", b"masterauth", b"masteruser"})


@dataclass(slots=True)
class SlowEntry:
    id: int
    time: int  # unix seconds
    usec: int
    argv: list[bytes]
    addr: str
    name: bytes

    def reply(self) -> list[object]:
        return [self.id, self.time, self.usec, list(self.argv), self.addr.encode(), self.name]


@dataclass(slots=True)
class LatencyEvent:
    samples: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    max: int = 0  # the largest latency ever recorded (ms)


HISTOGRAM_BUCKETS: Final = 256  # bucket_of(2**63 - 1) is 251


@dataclass(slots=True)
class CommandStat:
    nsec: int = 0  # the total; INFO shows it in microseconds
    rejected_calls: int = 0
    failed_calls: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BUCKETS)  # count per bucket_of

    @property
    def calls(self) -> int:
        return sum(self.histogram)  # each call is in one bucket: one addition less per command

    @property
    def usec(self) -> int:
        return self.nsec // 1000


class Client(Protocol):
    """What the slow log keeps of the client that ran a command (kvserver.state.ClientState)."""

    addr: str
    name: bytes


def bucket_of(nsec: int) -> int:
    """The histogram bucket of a duration: 4 per power of two."""
    if nsec < _SUB_BUCKETS:
        return nsec
    shift = nsec.bit_length() - 3  # keep the top 3 bits: the leading 1 and 2 bits of sub-bucket
    return ((shift + 1) << 2) | ((nsec >> shift) & 3)


def bucket_upper(bucket: int) -> int:
    """The largest duration (ns) that falls into ``bucket``."""
    if bucket < _SUB_BUCKETS:
        return bucket
    shift, sub = (bucket >> 2) - 1, bucket & 3
    return ((4 | sub) + 1 << shift) - 1


def trim_argv(argv: list[bytes]) -> list[bytes]:
    """The arguments as the slow log keeps them (Redis's slowlogCreateEntry)."""
    argc = len(argv)
    kept = min(argc, SLOWLOG_MAX_ARGC)
    out: list[bytes] = []
    for j in range(kept):
        arg = argv[j]
        if kept != argc and j == kept - 1:
            out.append(b"... (%d more arguments)" % (argc - kept + 1))
        elif len(arg) > SLOWLOG_MAX_STRING:
            out.append(arg[:SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (len(arg) - SLOWLOG_MAX_STRING))
        else:
            out.append(arg)
    return out


def redact(name: str, argv: list[bytes]) -> list[bytes]:
    """Hide passwords as Redis does before a command reaches the slow log."""
    if name == "auth":
        return [argv[0]] + [REDACTED] * (len(argv) - 1)
    if name == "hello":
        out = list(argv)
        for j in range(2, len(out) - 2):
            if out[j].upper() == b"AUTH":
                out[j + 1] = out[j + 2] = REDACTED
                break
        return out
    if name == "config|set":
        out = list(argv)
        for j in range(2, len(out) - 1, 2):
            if out[j].lower() in SENSITIVE_CONFIGS:
                out[j + 1] = REDACTED
        return out
    return argv


_REDACTED_COMMANDS: Final = frozenset({"auth", "hello", "config|set"})


def error_code(text: bytes) -> str:
    """The errorstats name of an error reply: its first word (Redis looks at 32 bytes)."""
    head = text[:32]
    space = head.find(b" ")
    return (head if space < 0 else head[:space]).decode("ascii", "replace")


class Monitoring:
    """The counters and logs; ``settings`` reads the three thresholds from the configuration."""

    def __init__(self, settings: Callable[[], tuple[int, int, int]], clock: Callable[[], float] = time.time) -> None:
        # (slowlog-log-slower-than µs, slowlog-max-len, latency-monitor-threshold ms)
        self.settings = settings
        self.clock = clock
        self.slowlog: deque[SlowEntry] = deque()
        self.slowlog_next_id = 0
        self.latency: dict[str, LatencyEvent] = {}
        self.commands: dict[str, CommandStat] = {}
        self.errors: dict[str, int] = {}
        self.startup_memory = 0  # bytes in use once the server started (MEMORY STATS, DOCTOR)
        self.slower_than = self.slowlog_max = self.latency_threshold = 0
        self._slow_ns = self._latency_ns = self._alert_ns = 0  # thresholds in ns (unreachable when off)
        self.reconfigure()

    def reconfigure(self) -> None:
        """Read the thresholds again (after CONFIG SET); trims the slow log to its new length."""
        self.slower_than, self.slowlog_max, self.latency_threshold = self.settings()
        never = 1 << 80
        self._slow_ns = self.slower_than * 1000 if self.slower_than >= 0 and self.slowlog_max > 0 else never
        self._latency_ns = self.latency_threshold * 1_000_000 if self.latency_threshold > 0 else never
        self._alert_ns = min(self._slow_ns, self._latency_ns)
        while len(self.slowlog) > self.slowlog_max:
            self.slowlog.pop()

    # --- per command (the hot path) --------------------------------------------------------------

    def record(self, name: str, flags: Collection[str], nsec: int, argv: list[bytes], client: Client) -> None:
        """A command (its flags as COMMAND INFO shows them) ran for ``nsec`` nanoseconds."""
        stat = self.commands.get(name)
        if stat is None:
            stat = self.commands[name] = CommandStat()
        stat.nsec += nsec
        # bucket_of, inlined: this runs for every command
        if nsec < _SUB_BUCKETS:
            stat.histogram[nsec] += 1
        else:
            shift = nsec.bit_length() - 3
            stat.histogram[((shift + 1) << 2) | ((nsec >> shift) & 3)] += 1
        if nsec >= self._alert_ns:
            self._slow(name, flags, nsec, argv, client)

    def _slow(self, name: str, flags: Collection[str], nsec: int, argv: list[bytes], client: Client) -> None:
        """A command took at least one of the thresholds: the slow log, a latency sample."""
        if nsec >= self._slow_ns and name != "exec":
            self.log_slow(name, nsec // 1000, argv, client.addr, client.name)
        if nsec >= self._latency_ns:
            self.add_latency_sample("fast-command" if "fast" in flags else "command", nsec // 1_000_000)

    def failed(self, name: str) -> None:
        """The command ran and answered an error (called before ``record``)."""
        stat = self.commands.get(name)
        if stat is None:
            stat = self.commands[name] = CommandStat()
        stat.failed_calls += 1

    def rejected(self, name: str | None) -> None:
        """The command was refused before it ran (arity, auth, OOM, MISCONF...)."""
        if name is not None:
            stat = self.commands.get(name)
            if stat is None:
                stat = self.commands[name] = CommandStat()
            stat.rejected_calls += 1

    def error(self, text: bytes) -> None:
        """An error reply went to a client."""
        code = error_code(text)
        errors = self.errors
        if code in errors:
            errors[code] += 1
        elif len(errors) < ERRORSTATS_LIMIT:
            errors[code] = 1

    # --- slow log --------------------------------------------------------------------------------

    def log_slow(self, name: str, usec: int, argv: list[bytes], addr: str, client_name: bytes) -> None:
        if name in _REDACTED_COMMANDS:
            argv = redact(name, argv)
        entry = SlowEntry(self.slowlog_next_id, int(self.clock()), usec, trim_argv(argv), addr, client_name)
        self.slowlog_next_id += 1
        self.slowlog.appendleft(entry)
        while len(self.slowlog) > self.slowlog_max:
            self.slowlog.pop()

    def slowlog_get(self, count: int) -> list[object]:
        """The newest ``count`` entries (-1: all), newest first."""
        entries: Iterable[SlowEntry] = self.slowlog if count < 0 else list(self.slowlog)[:count]
        return [entry.reply() for entry in entries]

    # --- latency events --------------------------------------------------------------------------

    def add_latency_sample(self, event: str, ms: int) -> None:
        """Redis's latencyAddSample: one sample a second per event, the largest of that second."""
        now = int(self.clock())
        entry = self.latency.get(event)
        if entry is None:
            entry = self.latency[event] = LatencyEvent()
        entry.max = max(entry.max, ms)
        samples = entry.samples
        if samples and samples[-1][0] == now:
            if ms > samples[-1][1]:
                samples[-1] = (now, ms)
            return
        samples.append((now, ms))

    def latency_latest(self) -> list[object]:
        """LATENCY LATEST: [event, time of the latest sample, its latency, the maximum] per event."""
        out: list[object] = []
        for name, entry in self.latency.items():
            if entry.samples:
                last_time, last_ms = entry.samples[-1]
                out.append([name.encode(), last_time, last_ms, entry.max])
        return out

    def latency_history(self, event: str) -> list[object]:
        entry = self.latency.get(event)
        return [] if entry is None else [[t, ms] for t, ms in entry.samples]

    def latency_reset(self, events: list[str]) -> int:
        """Forget the given events (all if none given); the number of events reset."""
        if not events:
            count = len(self.latency)
            self.latency.clear()
            return count
        return sum(self.latency.pop(event, None) is not None for event in events)

    # --- INFO sections ---------------------------------------------------------------------------

    def commandstats_lines(self) -> list[str]:
        """INFO commandstats: cmdstat_<name>:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=.."""
        lines = []
        for name, stat in self.commands.items():
            per_call = stat.usec / stat.calls if stat.calls else 0.0
            lines.append(
                f"cmdstat_{name}:calls={stat.calls},usec={stat.usec},usec_per_call={per_call:.2f},"
                f"rejected_calls={stat.rejected_calls},failed_calls={stat.failed_calls}"
            )
        return lines

    def errorstats_lines(self) -> list[str]:
        """INFO errorstats: errorstat_<CODE>:count=.."""
        return [f"errorstat_{code}:count={count}" for code, count in self.errors.items()]

    def latencystats_lines(self) -> list[str]:
        """INFO latencystats: latency_percentiles_usec_<name>:p50=..,p99=..,p99.9=.. (µs)."""
        lines = []
        for name, stat in self.commands.items():
            if not stat.calls:
                continue
            values = ",".join(f"p{_percentile_name(p)}={percentile(stat.histogram, p) / 1000:.3f}" for p in PERCENTILES)
            lines.append(f"latency_percentiles_usec_{name}:{values}")
        return lines

    def reset_stats(self) -> None:
        """CONFIG RESETSTAT: the command and error counters and the latency histograms (as in
        Redis, neither the slow log nor the latency events: SLOWLOG RESET and LATENCY RESET)."""
        self.commands.clear()
        self.errors.clear()


def percentile(histogram: Sequence[int], p: float) -> int:
    """The ``p``th percentile (ns) of a histogram (counts per bucket_of): the upper bound of the
    bucket it falls in."""
    total = sum(histogram)
    if not total:
        return 0
    wanted = max(1, -(-int(total * p * 1000) // 100000))  # ceil(total * p / 100), exact for p.d
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= wanted:
            return bucket_upper(bucket)
    raise AssertionError("unreachable: the counts add up to total")


def cumulative_usec(histogram: Sequence[int]) -> dict[int, int]:
    """LATENCY HISTOGRAM's histogram_usec: for each power of two 2**k (in units of 1024 ns, as
    Redis's), how many calls took less than 1024 * 2**k ns; only where the count grows."""
    out: dict[int, int] = {}
    seen = 0
    for bucket, count in enumerate(histogram):
        if count:
            seen += count
            out[1 << max(0, bucket_upper(bucket).bit_length() - 10)] = seen
    return out


def _percentile_name(p: float) -> str:
    """50.0 -> "50", 99.9 -> "99.9", as Redis prints them."""
    return f"{p:g}"
