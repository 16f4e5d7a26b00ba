"""Command-line parsing, logging in Redis's format, and the startup sequence."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import logging
import os
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from kvserver import __version__
from kvserver.aof import AppendOnlyLog
from kvserver.config import PARAMETERS, Config, ConfigError
from kvserver.database import Database
from kvserver.replay import CorruptLog, check_aof, export, load_log

log = logging.getLogger("kvserver")

LOCK_FILE = "kvserver.lock"

_LEVELS = {
    "debug": logging.DEBUG,
    "verbose": logging.DEBUG + 5,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "nothing": logging.CRITICAL + 10,
}
_MARKS = {logging.DEBUG: ".", logging.DEBUG + 5: "-", logging.INFO: "*", logging.WARNING: "#"}


class RedisFormatter(logging.Formatter):
    """``pid:M 27 Nov 2026 16:00:00.123 * message``, as redis-server writes its log."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(record.created))
        millis = int(record.msecs)
        mark = _MARKS.get(record.levelno, "#")
        return f"{os.getpid()}:M {stamp}.{millis:03d} {mark} {record.getMessage()}"


def setup_logging(config: Config) -> None:
    handler: logging.Handler
    handler = logging.FileHandler(config.logfile) if config.logfile else logging.StreamHandler(sys.stdout)
    handler.setFormatter(RedisFormatter())
    root = logging.getLogger("kvserver")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[config.loglevel])
    root.propagate = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one clear line, naming the option; no usage dump
        self.exit(2, f"kvserver: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kvserver",
        description="A persistent, Redis-compatible key-value server. Option names follow redis.conf.",
    )
    parser.add_argument("--version", action="version", version=f"kvserver {__version__}")
    for param in PARAMETERS:
        parser.add_argument(f"--{param.name}", dest=param.attr, metavar="VALUE", help=param.help)
    return parser


def parse_config(argv: Sequence[str]) -> Config:
    args = build_parser().parse_args(argv)
    config = Config()
    for param in PARAMETERS:
        text = getattr(args, param.attr)
        if text is not None:
            try:
                config.set(param.name, text)
            except ConfigError as exc:
                raise SystemExit(f"kvserver: error: {exc}") from None
    return config


def serve(config: Config) -> int:
    setup_logging(config)
    log.info("kvserver is starting")
    log.info(
        "kvserver version=%s, python=%s, pid=%d, just started",
        __version__,
        sys.version.split()[0],
        os.getpid(),
    )
    from kvserver.server import run

    try:
        Path(config.dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("Can't create the data directory '%s': %s", config.dir, exc.strerror)
        return 1
    if config.appendonly and lock_data_dir(config) is None:
        return 1
    db = Database(config)

    def load() -> bool:
        """Runs once the port is bound: connections wait in the backlog until it returns."""
        if config.appendonly:
            aof = open_log(config, db)
            if aof is None:
                return False
            db.persistence = aof
        # Everything alive now (the loaded keyspace included) lives as long as the process: move
        # it out of the collector's sight. A full collection then no longer walks every loaded
        # key (about 18 ms per million keys, and it never finds garbage there).
        gc.collect()
        gc.freeze()
        return True

    return _run_loop(run(config, db, load))


_held_locks: list[int] = []  # the data directory's lock, held (open) for the process lifetime


def lock_data_dir(config: Config) -> int | None:
    """Take the exclusive lock of the data directory, or say who holds it and return None.

    A second server on the same directory would replay (and cut the tail of) a log another
    process is appending to; the lock stops it before it reads anything.
    """
    path = os.path.join(config.dir, LOCK_FILE)
    try:
        fd, owner = take_lock(path)
    except OSError as exc:
        log.warning("Can't open the lock file %s: %s", path, exc.strerror)
        return None
    if fd is None:
        log.warning(
            "The data directory '%s' is in use by another kvserver (pid %s, lock file %s), aborting",
            config.dir,
            owner,
            path,
        )
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    _held_locks.append(fd)
    return fd


def take_lock(path: str) -> tuple[int | None, str]:
    """``flock`` the lock file at ``path``: (its descriptor, "") or (None, the holder's pid)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        return None, owner
    return fd, ""


def open_log(config: Config, db: Database) -> AppendOnlyLog | None:
    """Replay the log into ``db`` and open it for appending; None if it can't be used."""
    path = str(config.aof_path)
    stale = Path(path + ".rewrite.tmp")
    if stale.exists():
        log.warning("Removing %s left by an interrupted rewrite", stale)
        stale.unlink()
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("Can't read the append only file %s: %s", path, exc.strerror)
        return None
    else:
        if not stat.S_ISREG(mode):
            log.warning("The append only file %s is not a regular file, aborting", path)
            return None
    try:
        valid_size = load_log(db, path)
    except CorruptLog as exc:
        log.warning(
            "Bad file format reading the append only file %s at offset %d: %s",
            path,
            exc.result.valid_up_to,
            exc.result.problem,
        )
        log.warning(
            "Refusing to start. Make a backup of the file, then run: kvserver check-aof --fix %s "
            "(it keeps every record before offset %d)",
            path,
            exc.result.valid_up_to,
        )
        return None
    except OSError as exc:
        log.warning("Can't read the append only file %s: %s", path, exc.strerror)
        return None
    aof = AppendOnlyLog(config)
    try:
        aof.open(valid_size)
    except OSError as exc:
        log.warning("Can't open the append only file %s: %s", path, exc.strerror)
        return None
    aof.bind(db)
    return aof


def _run_loop(main: object) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but keep working without it
        return asyncio.run(main)  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)  # type: ignore[arg-type]


def tool_main(args: list[str]) -> int:
    """``kvserver check-aof [--fix] FILE`` and ``kvserver export [--dir DIR] [--appendfilename NAME]``."""
    if args[0] == "check-aof":
        parser = _Parser(prog="kvserver check-aof", description="Check (and optionally repair) a log file.")
        parser.add_argument("--fix", action="store_true", help="keep a backup, then cut at the last good record")
        parser.add_argument("file")
        ns = parser.parse_args(args[1:])
        lock = os.path.join(os.path.dirname(os.path.abspath(ns.file)), LOCK_FILE)
        if ns.fix and os.path.exists(lock):  # never cut a log a running server appends to
            fd, owner = take_lock(lock)
            if fd is None:
                sys.stdout.write(f"{ns.file} is in use by a running kvserver (pid {owner}): stop it before --fix\n")
                return 1
            _held_locks.append(fd)
        return check_aof(ns.file, ns.fix)
    parser = _Parser(prog="kvserver export", description="Print the keyspace as RESP commands (for redis-cli --pipe).")
    parser.add_argument("--dir", default="./data")
    parser.add_argument("--appendfilename", default="appendonly.aof")
    ns = parser.parse_args(args[1:])
    return export(os.path.join(ns.dir, ns.appendfilename), sys.stdout.buffer)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("check-aof", "export"):
        return tool_main(args)
    return serve(parse_config(args))
