"""Command-line parsing, logging in Redis's format, and the startup sequence."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import gc
import glob
import logging
import logging.handlers
import os
import signal
import stat
import sys
import time
from collections.abc import Coroutine, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from kvserver import COMPILED, __version__
from kvserver.aof import AppendOnlyLog
from kvserver.commands.connection import REDIS_VERSION
from kvserver.commands.scripting import library_records
from kvserver.conffile import ConfFileError, command_line_to_text
from kvserver.config import Config
from kvserver.database import Database
from kvserver.directives import Loaded, directive_rows
from kvserver.directives import load as load_text
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
    # a log file is reopened when it was moved away (as Redis, which opens it for every line) and
    # on SIGHUP (reopen_log)
    handler = (
        logging.handlers.WatchedFileHandler(config.logfile) if config.logfile else logging.StreamHandler(sys.stdout)
    )
    handler.setFormatter(RedisFormatter())
    root = logging.getLogger("kvserver")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[config.loglevel])
    root.propagate = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # one clear line, naming the option; no usage dump
        self.exit(2, f"kvserver: error: {message}\n")


# what tools parsing Redis's `redis-server --version` read (pytest-redis takes the first dotted
# number), then kvserver's own name and version
VERSION_LINE = f"Redis server v={REDIS_VERSION} sha=00000000:0 malloc=libc bits=64 build=0 (kvserver {__version__})"


def usage() -> str:
    lines = [
        "Usage: kvserver [/path/to/kvserver.conf] [--name value ...]",
        "       kvserver - (read the config from standard input)",
        "       kvserver check-aof [--fix] FILE",
        "       kvserver export [--dir DIR] [--appendfilename NAME]",
        "       kvserver -v or --version",
        "       kvserver -h or --help",
        "",
        "As redis-server: the config file (redis.conf syntax) is read first, then each --name value",
        "is a line appended after it, so the command line overrides the file; the last occurrence wins.",
        "",
        "Examples:",
        "       kvserver (run with the defaults)",
        "       kvserver /etc/kvserver/kvserver.conf",
        "       kvserver --port 7777 --appendfsync everysec",
        "       kvserver /etc/mykvserver.conf --loglevel verbose --logfile /var/log/kvserver.log",
        "",
        "Directives (default; whether CONFIG SET can change it; what kvserver does with it):",
    ]
    for row in directive_rows():
        lines.append(f"  {row.name} [{row.default}] CONFIG SET: {row.config_set}. {row.what}")
    return "\n".join(lines) + "\n"


def _read_file(path: str) -> str:
    """A config file's text; Redis reads several when the name is a glob (an include of conf.d/*)."""
    if any(ch in path for ch in "*?["):
        return "".join(Path(match).read_text() for match in sorted(glob.glob(path)))
    return Path(path).read_text()


def _can_not_open(path: str, exc: OSError) -> NoReturn:
    """Redis's message for a config file it can't open: a log line on standard output, exit 1."""
    stamp = time.strftime("%d %b %Y %H:%M:%S")
    print(f"{os.getpid()}:C {stamp}.000 # Fatal error, can't open config file '{path}': {exc.strerror}", flush=True)
    raise SystemExit(1)


def _include(path: str) -> tuple[str, str]:
    try:
        return "", _read_file(path)
    except OSError as exc:
        _can_not_open(path, exc)


def load_command_line(argv: Sequence[str], stdin: str = "") -> Loaded:
    """The configuration redis-server's way: the file, standard input if asked, then the options.

    Exits with Redis's fatal config error on a bad line.
    """
    args = list(argv)
    from_stdin = (bool(args) and args[0] == "-") or (len(args) > 1 and args[-1] == "-")
    if from_stdin:
        args.remove("-")
    config_file, options = command_line_to_text(args)
    text = ""
    if config_file is not None:
        try:
            text = _read_file(config_file)
        except OSError as exc:
            _can_not_open(config_file, exc)
    if from_stdin:
        text += stdin
    try:
        loaded = load_text(text + "\n" + options, _include)
    except ConfFileError as exc:
        raise SystemExit(str(exc)) from None
    if config_file is not None:
        loaded.config.config_file = os.path.abspath(config_file)
    loaded.configured = bool(argv)
    return loaded


def parse_config(argv: Sequence[str]) -> Config:
    return load_command_line(argv).config


def serve(loaded: Loaded) -> int:
    config = loaded.config
    if config.daemonize:
        daemonize()
    setup_logging(config)
    log.info("kvserver is starting")
    log.info(
        "kvserver version=%s, python=%s, pid=%d, just started",
        __version__,
        sys.version.split()[0],
        os.getpid(),
    )
    # which build runs (kvserver/__init__.py): KVSERVER_PURE_PYTHON=1 or a stale build says pure
    log.info("kvserver runs %s", "compiled modules (mypyc)" if COMPILED else "pure Python")
    if loaded.configured:
        log.info("Configuration loaded")
    else:  # Redis's hint, naming kvserver
        log.info(
            "Warning: no config file specified, using the default config. "
            "In order to specify a config file use kvserver /path/to/kvserver.conf"
        )
    for line in notices(loaded):
        log.warning("%s", line)
    if config.pidfile:
        write_pidfile(config.pidfile)
    try:
        return _serve(config)
    finally:
        if config.pidfile:
            remove_pidfile(config.pidfile)


def notices(loaded: Loaded) -> list[str]:
    """One line per accepted-but-ignored directive, and per value kvserver honours only in part."""
    lines = list(loaded.ignored.values())
    config = loaded.config
    if config.save:
        lines.append(f"save '{config.save}': kvserver writes no RDB snapshots; its append-only log is the persistence")
    return lines


def daemonize() -> None:
    """Detach as redis-server does, with a double fork: the parent exits, the grandchild serves."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def write_pidfile(path: str) -> None:
    try:
        Path(path).write_text(f"{os.getpid()}\n")
    except OSError as exc:  # as Redis: a warning, not a reason to stop
        log.warning("Failed to write PID file: %s", exc.strerror)


def remove_pidfile(path: str) -> None:
    try:
        if Path(path).read_text().strip() == str(os.getpid()):
            Path(path).unlink()
    except OSError:
        pass


def reopen_log() -> None:
    """SIGHUP: reopen the log file (logrotate moved it away), as redis-server does."""
    for handler in logging.getLogger("kvserver").handlers:
        if isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                handler.close()
                handler.stream = handler._open()
            finally:
                handler.release()
    log.info("Received SIGHUP, reopened the log file")


def _serve(config: Config) -> int:
    """The composition root: the object graph is built here, each object given what it needs."""
    from kvserver.server import Lifecycle, run

    try:
        Path(config.dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("Can't create the data directory '%s': %s", config.dir, exc.strerror)
        return 1
    if config.appendonly and lock_data_dir(config) is None:
        return 1
    lifecycle = Lifecycle(config)  # SHUTDOWN and CONFIG SET reach the server through it
    db = Database(config, server=lifecycle)

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

    return _run_loop(_with_sighup(run(config, db, load, lifecycle)))


async def _with_sighup(main: Coroutine[Any, Any, int]) -> int:
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reopen_log)
    return await main


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
    aof = AppendOnlyLog(config, db.keyspace_of(0))
    aof.databases = db.keyspaces
    aof.on_rewrite = db.forget_logged_db
    aof.preamble = partial(library_records, db)  # functions first, as Redis's RDB preamble
    try:
        aof.open(valid_size)
    except OSError as exc:
        log.warning("Can't open the append only file %s: %s", path, exc.strerror)
        return None
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
    if len(args) == 1 and args[0] in ("-v", "--version"):
        print(VERSION_LINE)
        return 0
    if len(args) == 1 and args[0] in ("-h", "--help"):
        sys.stdout.write(usage())
        return 0
    stdin = sys.stdin.read() if "-" in (args[:1] + args[-1:]) else ""
    return serve(load_command_line(args, stdin))
