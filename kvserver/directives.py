"""Every directive of redis-server 7.0.15, and what kvserver does with it; loads a configuration.

``DIRECTIVES`` is the catalogue: each name (and alias) of Redis 7.0.15's config.c, its Redis
default, whether Redis's CONFIG SET can change it, and either ``KVSERVER`` (kvserver implements
it: the parameter in kvserver.config.PARAMETERS takes effect) or the reason kvserver accepts and
ignores it. A few values make no sense for kvserver (``cluster-enabled yes``, a non-zero
``tls-port``, a ``replicaof`` master): they are refused, naming the directive. A name in neither
table is refused as Redis refuses it ("Bad directive or wrong number of arguments").

``load`` turns a config file's text and the command line's options into a Config, following
redis-server: the options are appended after the file, the last occurrence wins, and an error is
Redis's FATAL CONFIG FILE ERROR. Sans-IO: the caller reads the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from kvserver.conffile import ConfFileError, Directive, parse, rewrite, split_args
from kvserver.config import BY_NAME, PARAMETERS, Config, Parameter

MUTABLE: Final = 1  # Redis's CONFIG SET can change it
MULTI: Final = 2  # takes several arguments (save 900 1, bind a b)

KVSERVER: Final = ""  # implemented: see kvserver.config.PARAMETERS
RDB: Final = "kvserver keeps no RDB snapshot: the append-only log is its only persistence"
AOF: Final = "kvserver's log has its own format and rewrite (docs/persistence.md); Redis's AOF tuning doesn't apply"
REPLICATION: Final = "kvserver has no replication"
CLUSTER: Final = "kvserver has no cluster mode"
TLS: Final = "kvserver has no TLS (put a TLS proxy such as stunnel in front)"
TUNING: Final = "tunes Redis's C internals (encodings, allocator, threads, kernel); kvserver has no equivalent"
ACL: Final = "kvserver has no ACL users; requirepass is its only authentication"
DEBUG: Final = "kvserver has no DEBUG or MODULE commands"
LATENCY: Final = "kvserver always tracks per-command latency (INFO latencystats), at the percentiles 50, 99 and 99.9"
PROCESS: Final = "a Redis process option kvserver has no equivalent for"
SYSLOG: Final = "kvserver logs to logfile or standard output only, not to syslog"
DEPRECATED: Final = "deprecated in Redis 7.0, which ignores it too"


@dataclass(frozen=True, slots=True)
class Redis:
    name: str
    alias: str | None
    default: str  # Redis's built-in default, as CONFIG GET shows it
    flags: int
    reason: str  # KVSERVER, or why kvserver ignores it

    @property
    def redis_mutable(self) -> bool:
        return bool(self.flags & MUTABLE)


DIRECTIVES: tuple[Redis, ...] = (
    Redis("acl-pubsub-default", None, "resetchannels", MUTABLE, ACL),
    Redis("aclfile", None, "", 0, ACL),
    Redis("acllog-max-len", None, "128", MUTABLE, ACL),
    Redis("active-defrag-cycle-max", None, "25", MUTABLE, KVSERVER),
    Redis("active-defrag-cycle-min", None, "1", MUTABLE, KVSERVER),
    Redis("active-defrag-ignore-bytes", None, "104857600", MUTABLE, KVSERVER),
    Redis("active-defrag-max-scan-fields", None, "1000", MUTABLE, KVSERVER),
    Redis("active-defrag-threshold-lower", None, "10", MUTABLE, KVSERVER),
    Redis("active-defrag-threshold-upper", None, "100", MUTABLE, KVSERVER),
    Redis("active-expire-effort", None, "1", MUTABLE, TUNING),
    Redis("activedefrag", None, "no", MUTABLE, KVSERVER),
    Redis("activerehashing", None, "yes", MUTABLE, TUNING),
    Redis("always-show-logo", None, "no", 0, PROCESS),
    Redis("aof-disable-auto-gc", None, "no", MUTABLE, AOF),
    Redis("aof-load-truncated", None, "yes", MUTABLE, AOF),
    Redis("aof-rewrite-incremental-fsync", None, "yes", MUTABLE, AOF),
    Redis("aof-timestamp-enabled", None, "no", MUTABLE, AOF),
    Redis("aof-use-rdb-preamble", None, "yes", MUTABLE, AOF),
    Redis("aof_rewrite_cpulist", None, "", 0, AOF),
    Redis("appenddirname", None, "appendonlydir", 0, AOF),
    Redis("appendfilename", None, "appendonly.aof", 0, KVSERVER),
    Redis("appendfsync", None, "everysec", MUTABLE, KVSERVER),
    Redis("appendonly", None, "no", MUTABLE, KVSERVER),
    Redis("auto-aof-rewrite-min-size", None, "67108864", MUTABLE, KVSERVER),
    Redis("auto-aof-rewrite-percentage", None, "100", MUTABLE, KVSERVER),
    Redis("bgsave_cpulist", None, "", 0, RDB),
    Redis("bind", None, "* -::*", MUTABLE | MULTI, KVSERVER),
    Redis("bind-source-addr", None, "", MUTABLE, TUNING),
    Redis("bio_cpulist", None, "", 0, TUNING),
    Redis("busy-reply-threshold", "lua-time-limit", "5000", MUTABLE, KVSERVER),
    Redis(
        "client-output-buffer-limit",
        None,
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        MUTABLE | MULTI,
        KVSERVER,
    ),
    Redis("client-query-buffer-limit", None, "1073741824", MUTABLE, KVSERVER),
    Redis("cluster-allow-pubsubshard-when-down", None, "yes", MUTABLE, CLUSTER),
    Redis("cluster-allow-reads-when-down", None, "no", MUTABLE, CLUSTER),
    Redis("cluster-allow-replica-migration", None, "yes", MUTABLE, CLUSTER),
    Redis("cluster-announce-bus-port", None, "0", MUTABLE, CLUSTER),
    Redis("cluster-announce-hostname", None, "", MUTABLE, CLUSTER),
    Redis("cluster-announce-ip", None, "", MUTABLE, CLUSTER),
    Redis("cluster-announce-port", None, "0", MUTABLE, CLUSTER),
    Redis("cluster-announce-tls-port", None, "0", MUTABLE, CLUSTER),
    Redis("cluster-config-file", None, "nodes.conf", 0, CLUSTER),
    Redis("cluster-enabled", None, "no", 0, CLUSTER),
    Redis("cluster-link-sendbuf-limit", None, "0", MUTABLE, CLUSTER),
    Redis("cluster-migration-barrier", None, "1", MUTABLE, CLUSTER),
    Redis("cluster-node-timeout", None, "15000", MUTABLE, CLUSTER),
    Redis("cluster-port", None, "0", 0, CLUSTER),
    Redis("cluster-preferred-endpoint-type", None, "ip", MUTABLE, CLUSTER),
    Redis("cluster-replica-no-failover", "cluster-slave-no-failover", "no", MUTABLE, CLUSTER),
    Redis("cluster-replica-validity-factor", "cluster-slave-validity-factor", "10", MUTABLE, CLUSTER),
    Redis("cluster-require-full-coverage", None, "yes", MUTABLE, CLUSTER),
    Redis("crash-log-enabled", None, "yes", MUTABLE, PROCESS),
    Redis("crash-memcheck-enabled", None, "yes", MUTABLE, PROCESS),
    Redis("daemonize", None, "no", 0, KVSERVER),
    Redis("databases", None, "16", 0, KVSERVER),
    Redis("dbfilename", None, "dump.rdb", MUTABLE, RDB),
    Redis("dir", None, "", MUTABLE, KVSERVER),
    Redis("disable-thp", None, "yes", 0, TUNING),
    Redis("dynamic-hz", None, "yes", MUTABLE, TUNING),
    Redis("enable-debug-command", None, "no", 0, DEBUG),
    Redis("enable-module-command", None, "no", 0, DEBUG),
    Redis("enable-protected-configs", None, "no", 0, PROCESS),
    Redis("hash-max-listpack-entries", "hash-max-ziplist-entries", "512", MUTABLE, KVSERVER),
    Redis("hash-max-listpack-value", "hash-max-ziplist-value", "64", MUTABLE, KVSERVER),
    Redis("hll-sparse-max-bytes", None, "3000", MUTABLE, KVSERVER),
    Redis("hz", None, "10", MUTABLE, KVSERVER),
    Redis("ignore-warnings", None, "", MUTABLE, PROCESS),
    Redis("io-threads", None, "1", 0, TUNING),
    Redis("io-threads-do-reads", None, "no", 0, TUNING),
    Redis("jemalloc-bg-thread", None, "yes", MUTABLE, TUNING),
    Redis("key-load-delay", None, "0", MUTABLE, KVSERVER),
    Redis("latency-monitor-threshold", None, "0", MUTABLE, KVSERVER),
    Redis("latency-tracking", None, "yes", MUTABLE, LATENCY),
    Redis("latency-tracking-info-percentiles", None, "50 99 99.9", MUTABLE | MULTI, LATENCY),
    Redis("lazyfree-lazy-eviction", None, "no", MUTABLE, KVSERVER),
    Redis("lazyfree-lazy-expire", None, "no", MUTABLE, KVSERVER),
    Redis("lazyfree-lazy-server-del", None, "no", MUTABLE, KVSERVER),
    Redis("lazyfree-lazy-user-del", None, "no", MUTABLE, KVSERVER),
    Redis("lazyfree-lazy-user-flush", None, "no", MUTABLE, KVSERVER),
    Redis("lfu-decay-time", None, "1", MUTABLE, TUNING),
    Redis("lfu-log-factor", None, "10", MUTABLE, TUNING),
    Redis("list-compress-depth", None, "0", MUTABLE, KVSERVER),
    Redis("list-max-listpack-size", "list-max-ziplist-size", "-2", MUTABLE, KVSERVER),
    Redis("loading-process-events-interval-bytes", None, "2097152", MUTABLE, RDB),
    Redis("logfile", None, "", 0, KVSERVER),
    Redis("loglevel", None, "notice", MUTABLE, KVSERVER),
    Redis("masterauth", None, "", MUTABLE, REPLICATION),
    Redis("masteruser", None, "", MUTABLE, REPLICATION),
    Redis("maxclients", None, "10000", MUTABLE, KVSERVER),
    Redis("maxmemory", None, "0", MUTABLE, KVSERVER),
    Redis("maxmemory-clients", None, "0", MUTABLE, KVSERVER),
    Redis("maxmemory-eviction-tenacity", None, "10", MUTABLE, TUNING),
    Redis("maxmemory-policy", None, "noeviction", MUTABLE, KVSERVER),
    Redis("maxmemory-samples", None, "5", MUTABLE, KVSERVER),
    Redis("min-replicas-max-lag", "min-slaves-max-lag", "10", MUTABLE, REPLICATION),
    Redis("min-replicas-to-write", "min-slaves-to-write", "0", MUTABLE, REPLICATION),
    Redis("no-appendfsync-on-rewrite", None, "no", MUTABLE, AOF),
    Redis("notify-keyspace-events", None, "", MUTABLE, KVSERVER),
    Redis("oom-score-adj", None, "no", MUTABLE, TUNING),
    Redis("oom-score-adj-values", None, "0 200 800", MUTABLE | MULTI, TUNING),
    Redis("pidfile", None, "", 0, KVSERVER),
    Redis("port", None, "6379", MUTABLE, KVSERVER),
    Redis("proc-title-template", None, "{title} {listen-addr} {server-mode}", MUTABLE, PROCESS),
    Redis("propagation-error-behavior", None, "ignore", MUTABLE, PROCESS),
    Redis("protected-mode", None, "yes", MUTABLE, KVSERVER),
    Redis("proto-max-bulk-len", None, "536870912", MUTABLE, KVSERVER),
    Redis("rdb-del-sync-files", None, "no", MUTABLE, RDB),
    Redis("rdb-key-save-delay", None, "0", MUTABLE, RDB),
    Redis("rdb-save-incremental-fsync", None, "yes", MUTABLE, RDB),
    Redis("rdbchecksum", None, "yes", 0, RDB),
    Redis("rdbcompression", None, "yes", MUTABLE, RDB),
    Redis("repl-backlog-size", None, "1048576", MUTABLE, KVSERVER),
    Redis("repl-backlog-ttl", None, "3600", MUTABLE, REPLICATION),
    Redis("repl-disable-tcp-nodelay", None, "no", MUTABLE, REPLICATION),
    Redis("repl-diskless-load", None, "disabled", MUTABLE, REPLICATION),
    Redis("repl-diskless-sync", None, "yes", MUTABLE, REPLICATION),
    Redis("repl-diskless-sync-delay", None, "5", MUTABLE, REPLICATION),
    Redis("repl-diskless-sync-max-replicas", None, "0", MUTABLE, REPLICATION),
    Redis("repl-ping-replica-period", "repl-ping-slave-period", "10", MUTABLE, REPLICATION),
    Redis("repl-timeout", None, "60", MUTABLE, REPLICATION),
    Redis("replica-announce-ip", "slave-announce-ip", "", MUTABLE, REPLICATION),
    Redis("replica-announce-port", "slave-announce-port", "0", MUTABLE, REPLICATION),
    Redis("replica-announced", None, "yes", MUTABLE, REPLICATION),
    Redis("replica-ignore-disk-write-errors", None, "no", MUTABLE, REPLICATION),
    Redis("replica-ignore-maxmemory", "slave-ignore-maxmemory", "yes", MUTABLE, REPLICATION),
    Redis("replica-lazy-flush", "slave-lazy-flush", "no", MUTABLE, REPLICATION),
    Redis("replica-priority", "slave-priority", "100", MUTABLE, REPLICATION),
    Redis("replica-read-only", "slave-read-only", "yes", MUTABLE, REPLICATION),
    Redis("replica-serve-stale-data", "slave-serve-stale-data", "yes", MUTABLE, REPLICATION),
    Redis("replicaof", "slaveof", "", MULTI, REPLICATION),
    Redis("requirepass", None, "", MUTABLE, KVSERVER),
    Redis("sanitize-dump-payload", None, "no", MUTABLE, RDB),
    Redis("save", None, "3600 1 300 100 60 10000", MUTABLE | MULTI, KVSERVER),
    Redis("server_cpulist", None, "", 0, TUNING),
    Redis("set-max-intset-entries", None, "512", MUTABLE, KVSERVER),
    Redis("set-proc-title", None, "yes", 0, PROCESS),
    Redis("shutdown-on-sigint", None, "default", MUTABLE | MULTI, PROCESS),
    Redis("shutdown-on-sigterm", None, "default", MUTABLE | MULTI, PROCESS),
    Redis("shutdown-timeout", None, "10", MUTABLE, PROCESS),
    Redis("slowlog-log-slower-than", None, "10000", MUTABLE, KVSERVER),
    Redis("slowlog-max-len", None, "128", MUTABLE, KVSERVER),
    Redis("socket-mark-id", None, "0", 0, TUNING),
    Redis("stop-writes-on-bgsave-error", None, "yes", MUTABLE, RDB),
    Redis("stream-node-max-bytes", None, "4096", MUTABLE, KVSERVER),
    Redis("stream-node-max-entries", None, "100", MUTABLE, KVSERVER),
    Redis("supervised", None, "no", 0, PROCESS),
    Redis("syslog-enabled", None, "no", 0, SYSLOG),
    Redis("syslog-facility", None, "local0", 0, SYSLOG),
    Redis("syslog-ident", None, "redis", 0, SYSLOG),
    Redis("tcp-backlog", None, "511", 0, TUNING),
    Redis("tcp-keepalive", None, "300", MUTABLE, TUNING),
    Redis("timeout", None, "0", MUTABLE, KVSERVER),
    Redis("tls-auth-clients", None, "yes", MUTABLE, TLS),
    Redis("tls-ca-cert-dir", None, "", MUTABLE, TLS),
    Redis("tls-ca-cert-file", None, "", MUTABLE, TLS),
    Redis("tls-cert-file", None, "", MUTABLE, TLS),
    Redis("tls-ciphers", None, "", MUTABLE, TLS),
    Redis("tls-ciphersuites", None, "", MUTABLE, TLS),
    Redis("tls-client-cert-file", None, "", MUTABLE, TLS),
    Redis("tls-client-key-file", None, "", MUTABLE, TLS),
    Redis("tls-client-key-file-pass", None, "", MUTABLE, TLS),
    Redis("tls-cluster", None, "no", MUTABLE, TLS),
    Redis("tls-dh-params-file", None, "", MUTABLE, TLS),
    Redis("tls-key-file", None, "", MUTABLE, TLS),
    Redis("tls-key-file-pass", None, "", MUTABLE, TLS),
    Redis("tls-port", None, "0", MUTABLE, TLS),
    Redis("tls-prefer-server-ciphers", None, "no", MUTABLE, TLS),
    Redis("tls-protocols", None, "", MUTABLE, TLS),
    Redis("tls-replication", None, "no", MUTABLE, TLS),
    Redis("tls-session-cache-size", None, "20480", MUTABLE, TLS),
    Redis("tls-session-cache-timeout", None, "300", MUTABLE, TLS),
    Redis("tls-session-caching", None, "yes", MUTABLE, TLS),
    Redis("tracking-table-max-keys", None, "1000000", MUTABLE, TUNING),
    Redis("unixsocket", None, "", 0, KVSERVER),
    Redis("unixsocketperm", None, "0", 0, KVSERVER),
    Redis("use-exit-on-panic", None, "no", MUTABLE, PROCESS),
    Redis("watchdog-period", None, "0", MUTABLE, PROCESS),
    Redis("zset-max-listpack-entries", "zset-max-ziplist-entries", "128", MUTABLE, KVSERVER),
    Redis("zset-max-listpack-value", "zset-max-ziplist-value", "64", MUTABLE, KVSERVER),
    # handled by Redis's loader outside its config table
    Redis("list-max-ziplist-entries", None, "", 0, DEPRECATED),
    Redis("list-max-ziplist-value", None, "", 0, DEPRECATED),
    Redis("lua-replicate-commands", None, "", 0, DEPRECATED),
    Redis("rename-command", None, "", MULTI, "refused: kvserver can't rename or disable commands"),
    Redis("user", None, "", MULTI, "refused: " + ACL),
    Redis("loadmodule", None, "", MULTI, "refused: kvserver can't load Redis modules"),
    Redis("sentinel", None, "", MULTI, "refused: kvserver has no sentinel mode"),
)
_REFUSED_ALWAYS: Final = {"rename-command", "user", "loadmodule", "sentinel"}
BY_REDIS_NAME: Final = {name: d for d in DIRECTIVES for name in (d.name, d.alias) if name is not None}


# Redis directives kvserver ignores that Redis's CONFIG SET can't change either (io-threads,
# replicaof...): CONFIG GET shows Redis's default and CONFIG SET refuses them as immutable, as Redis
# does. The loader-only names (rename-command, the deprecated ones) are no configs for Redis either.
FIXED: Final = {
    name: d.default
    for d in DIRECTIVES
    if not d.redis_mutable and d.reason not in (KVSERVER, DEPRECATED) and not d.reason.startswith("refused")
    for name in (d.name, d.alias)
    if name is not None and name not in BY_NAME
}


def _refusal(name: str, written: str, args: tuple[str, ...]) -> str | None:
    """Why a value makes no sense for kvserver (None: it is fine to ignore); ``written`` as in the file."""
    value = " ".join(args).lower()
    if name in _REFUSED_ALWAYS:
        return f"'{written}' is not supported: {BY_REDIS_NAME[name].reason.removeprefix('refused: ')}"
    if name == "cluster-enabled" and value == "yes":
        return "'cluster-enabled yes' is not supported: kvserver has no cluster mode"
    if name == "tls-port" and value != "0":
        return f"'tls-port {value}' is not supported: kvserver has no TLS (set tls-port 0)"
    if name in ("replicaof", "slaveof") and value != "no one":
        return f"'{written} {' '.join(args)}' is not supported: kvserver has no replication"
    return None


def lookup(name: str) -> Parameter | Redis | None:
    """kvserver's parameter for a directive (preferred), else Redis's catalogue entry."""
    param = BY_NAME.get(name)
    if param is not None:
        return param
    entry = BY_REDIS_NAME.get(name)
    if entry is not None and entry.reason == KVSERVER:
        return BY_NAME.get(entry.name)
    return entry


@dataclass(slots=True)
class Loaded:
    config: Config
    ignored: dict[str, str]  # directive -> the log line saying it is ignored and why
    configured: bool = False  # a config file or options were given (else: the defaults)


def _multi(param: Parameter) -> bool:
    entry = BY_REDIS_NAME.get(param.name)
    return entry is not None and bool(entry.flags & MULTI)


def load(text: str, read_include: Callable[[str], tuple[str, str]] | None = None) -> Loaded:
    """A Config from redis.conf text (the file's, then the options'); raises ConfFileError."""
    config = Config()
    ignored: dict[str, str] = {}
    for directive in parse(text, "", read_include):
        _apply(config, ignored, directive)
    return Loaded(config, ignored)


def _apply(config: Config, ignored: dict[str, str], d: Directive) -> None:
    def fail(reason: str) -> ConfFileError:
        return ConfFileError("", d.line, d.text, reason)

    target = lookup(d.name)
    if target is None:
        raise fail("Bad directive or wrong number of arguments")
    if isinstance(target, Parameter):
        multi = _multi(target)
        if not d.args or (len(d.args) != 1 and not multi):
            raise fail("wrong number of arguments")
        try:
            config.set_value(target, " ".join(d.args))
        except ValueError as exc:
            raise fail(str(exc)) from None
        return
    refusal = _refusal(target.name, d.name, d.args)
    if refusal is not None:
        raise fail(refusal)
    if len(d.args) != 1 and not target.flags & MULTI:
        raise fail("wrong number of arguments")
    if target.default in ("yes", "no") and len(d.args) == 1 and d.args[0].lower() not in ("yes", "no"):
        raise fail("argument must be 'yes' or 'no'")
    shown = " ".join(d.args)
    ignored[target.name] = f"Ignoring '{d.name} {shown}': {target.reason}"


def rewritten(config: Config, old: str) -> str:
    """CONFIG REWRITE's new file text, as Redis chooses what to write.

    A parameter is written when its value differs from the default or it already stands in the
    file (its first line is rewritten in place, later ones dropped); the other lines, comments and
    the directives kvserver ignores, stay as they are.
    """
    in_file = set()
    for line in old.split("\n"):
        args = split_args(line.strip(" \t\r\n"))
        if args and not args[0].startswith("#"):
            in_file.add(args[0].lower())
    defaults = Config()
    values: dict[str, list[list[str]]] = {}
    for param in PARAMETERS:
        if param.alias_of:
            continue
        value = config.get(param.name)
        if value == defaults.get(param.name) and param.name not in in_file:
            continue
        values[param.name] = [value.split() if _multi(param) and value else [value]]
    return rewrite(old, values)


@dataclass(frozen=True, slots=True)
class Row:
    name: str  # with its alias, if any
    default: str
    config_set: str  # whether kvserver's CONFIG SET can change it
    what: str  # what kvserver does with it


def directive_rows() -> list[Row]:
    """Every directive, kvserver's own first (in PARAMETERS order), then Redis's others by name."""
    defaults = Config()
    aliases = {p.alias_of: p.name for p in PARAMETERS if p.alias_of}
    rows = [
        Row(
            f"{p.name} (alias {aliases[p.name]})" if p.name in aliases else p.name,
            p.show(getattr(defaults, p.attr)) or '""',
            "yes" if p.mutable else "no",
            p.help,
        )
        for p in PARAMETERS
        if not p.alias_of
    ]
    for entry in sorted(DIRECTIVES, key=lambda e: e.name):
        if entry.name in BY_NAME:
            continue
        name = f"{entry.name} (alias {entry.alias})" if entry.alias else entry.name
        what = entry.reason if entry.reason.startswith("refused") else f"ignored: {entry.reason}"
        if entry.name in _REFUSABLE:
            what += f"; refused: {_REFUSABLE[entry.name]}"
        rows.append(Row(name, entry.default or '""', "no", what))
    return rows


_REFUSABLE: Final = {
    "cluster-enabled": "cluster-enabled yes",
    "tls-port": "a tls-port other than 0",
    "replicaof": "any master (only replicaof no one)",
}


def render_markdown() -> str:
    """docs/configuration.md: ``python -m kvserver.directives > docs/configuration.md``."""
    lines = [
        "# Configuration",
        "",
        "Generated from the directive catalogue (`python -m kvserver.directives > docs/configuration.md`);",
        "a test fails when this file and the tables disagree.",
        "",
        "kvserver reads its configuration as redis-server does: `kvserver [configfile] [--name value ...]`.",
        "The config file is in redis.conf syntax (one directive a line, `#` comments, double or single",
        "quoted arguments, `include other.conf` and `include conf.d/*.conf`); each `--name value` on the",
        "command line is a line appended after the file, so the command line overrides the file and the",
        "last occurrence wins. `kvserver -` reads the file from standard input. A bad line stops the",
        "server with Redis's `FATAL CONFIG FILE ERROR` message, naming the line. `CONFIG REWRITE` writes",
        "the running configuration back into the file the server was started with, keeping its",
        "comments and order. `kvserver --help` prints the table below.",
        "",
        "Every directive of redis-server 7.0.15 is understood. The ones kvserver implements take",
        "effect; the others are accepted, and the log says once, at startup, that each is ignored",
        "and why. A value that makes no sense for kvserver (`cluster-enabled yes`, a `tls-port`",
        "other than 0, a `replicaof` master, `rename-command`, `user`, `loadmodule`, `sentinel`) is",
        "refused, naming the directive. A name Redis doesn't know either is refused, as Redis does.",
        "",
        "## Directives kvserver implements",
        "",
        "| Directive | Default | CONFIG SET | What it does |",
        "|---|---|---|---|",
    ]
    rows = directive_rows()
    own = sum(not p.alias_of for p in PARAMETERS)
    lines += [_table_row(r) for r in rows[:own]]
    lines += [
        "",
        "## Redis directives kvserver accepts and ignores (or refuses)",
        "",
        "The default is Redis's. Those Redis's own CONFIG SET can't change either (`io-threads`,",
        "`replicaof`...) are shown by CONFIG GET with Redis's default, and CONFIG SET refuses them as",
        "immutable, as Redis does; CONFIG SET and CONFIG GET don't know the others.",
        "",
        "| Directive | Redis default | CONFIG SET | What kvserver does |",
        "|---|---|---|---|",
    ]
    lines += [_table_row(r) for r in rows[own:]]
    lines += ["", *_SERVICE_SECTION]
    return "\n".join(lines) + "\n"


def _table_row(row: Row) -> str:
    what = row.what.replace("|", "\\|")
    return f"| `{row.name}` | `{row.default}` | {row.config_set} | {what} |"


_SERVICE_SECTION: Final = (
    "## Running as a service",
    "",
    "- `daemonize yes` detaches as redis-server does (a double fork; the parent exits at once),",
    "  then writes `pidfile` if set. Without a `logfile` a daemon's log goes nowhere.",
    "- `pidfile` is written at startup also when not daemonized, and removed at a clean shutdown.",
    "- `logfile` is reopened on SIGHUP, for logrotate (`postrotate kill -HUP $(cat /run/kvserver.pid)`).",
    "- SIGTERM and SIGINT shut down cleanly: the log is flushed and synced, then the process exits 0.",
    "- `syslog-enabled`, `syslog-ident` and `syslog-facility` are accepted and ignored: kvserver logs",
    "  to `logfile` or standard output only (under systemd, standard output goes to the journal).",
    "",
    "A systemd unit (`/etc/systemd/system/kvserver.service`); systemd supervises the process, so",
    "it runs in the foreground and logs to the journal:",
    "",
    "```ini",
    "[Unit]",
    "Description=kvserver, a persistent Redis-compatible key-value server",
    "After=network.target",
    "",
    "[Service]",
    "Type=simple",
    "User=kvserver",
    "Group=kvserver",
    "ExecStart=/usr/local/bin/kvserver /etc/kvserver/kvserver.conf --daemonize no",
    "ExecReload=/bin/kill -HUP $MAINPID",
    "Restart=on-failure",
    "StateDirectory=kvserver",
    "WorkingDirectory=/var/lib/kvserver",
    "LimitNOFILE=10032",
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "```",
    "",
    "With `daemonize yes` instead, use `Type=forking` and `PIDFile=` set to the config's `pidfile`.",
)


if __name__ == "__main__":
    print(render_markdown(), end="")
