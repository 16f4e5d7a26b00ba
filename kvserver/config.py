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

APPENDFSYNC_POLICIES = ("always", "everysec", "no")
LOGLEVELS = ("debug", "verbose", "notice", "warning", "nothing")
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2, "g": 1000**3, "gb": 1024**3}


class ConfigError(ValueError):
    """A bad option value; the message names the option."""


def parse_memory(text: str) -> int:
    """Parse a redis.conf memory size: 64mb, 1gb, 100 (bytes)."""
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", text.strip())
    if not match or match.group(2).lower() not in _MEMORY_UNITS:
        raise ValueError(f"'{text}' is not a memory size (e.g. 64mb)")
    return int(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"'{text}' is not an integer") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range ({low} to {high})")
        return value

    return parse


def _memory_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = parse_memory(text)
        if not low <= value <= high:
            raise ValueError(f"argument must be between {low} and {high} inclusive")
        return value

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.lower()
        if value not in options:
            raise ValueError(f"'{text}' must be one of {', '.join(options)}")
        return value

    return parse


def _yes_no(text: str) -> bool:
    value = text.lower()
    if value not in ("yes", "no"):
        raise ValueError(f"'{text}' must be yes or no")
    return value == "yes"


def _text(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str  # as in redis.conf
    attr: str  # the Config attribute
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str
    mutable: bool = False  # CONFIG SET may change it
    help: str = ""


def _show_bool(value: bool) -> str:
    return "yes" if value else "no"


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("port", "port", _int_in(0, 65535), help="TCP port (0 picks a free one)"),
    Parameter("bind", "bind", _text, help="address to listen on"),
    Parameter("dir", "dir", _text, help="directory of the append-only log"),
    Parameter("appendfilename", "appendfilename", _text, help="name of the log file in --dir"),
    Parameter("appendonly", "appendonly", _yes_no, _show_bool, help="keep the log (yes|no)"),
    Parameter(
        "appendfsync",
        "appendfsync",
        _choice(APPENDFSYNC_POLICIES),
        mutable=True,
        help="when to fsync the log: always|everysec|no",
    ),
    Parameter("requirepass", "requirepass", _text, mutable=True, help="password for AUTH"),
    Parameter("maxclients", "maxclients", _int_in(1, 1_000_000), mutable=True, help="client limit"),
    Parameter("loglevel", "loglevel", _choice(LOGLEVELS), mutable=True, help="log verbosity"),
    Parameter("logfile", "logfile", _text, help="log file ('' logs to stderr)"),
    Parameter(
        "proto-max-bulk-len",
        "proto_max_bulk_len",
        parse_memory,
        mutable=True,
        help="largest bulk string accepted",
    ),
    Parameter("hz", "hz", _int_in(1, 500), mutable=True, help="background task frequency"),
    Parameter("timeout", "timeout", _int_in(0, 2**31 - 1), mutable=True, help="idle client timeout (0: off)"),
    Parameter(
        "auto-aof-rewrite-percentage",
        "auto_aof_rewrite_percentage",
        _int_in(0, 2**31 - 1),
        mutable=True,
        help="log growth that triggers a rewrite (0: off)",
    ),
    Parameter(
        "auto-aof-rewrite-min-size",
        "auto_aof_rewrite_min_size",
        parse_memory,
        mutable=True,
        help="smallest log that is rewritten automatically",
    ),
    Parameter(
        "save",
        "save",
        _text,
        mutable=True,
        help="accepted for compatibility; kvserver persists through the log only",
    ),
    Parameter("databases", "databases", _int_in(1, 1), help="always 1"),
    # --- protocol and connections
    Parameter(
        "client-query-buffer-limit",
        "client_query_buffer_limit",
        _memory_in(1024 * 1024, 2**63 - 1),
        mutable=True,
        help="unparsed input a client may accumulate before it is closed",
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
    databases: int = 1
    client_query_buffer_limit: int = 1024 * 1024 * 1024
    protected_mode: bool = True
    extra: dict[str, str] = field(default_factory=dict)

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
            raise ConfigError(f"--{name}: {exc}") from None
        setattr(self, param.attr, value)

    def get(self, name: str) -> str:
        param = BY_NAME[name]
        return param.show(getattr(self, param.attr))
