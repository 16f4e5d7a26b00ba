"""Reading a log back: startup replay, ``kvserver check-aof`` and ``kvserver export``.

Replay runs every record through the same ``Database.call`` path as live commands, with logging
off and expiry paused (the log records every deletion where it happened). Keys whose deadline
passed while the server was down are dropped once the replay is done.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO, Final

from kvserver.aof_format import CORRUPT, OK, TORN, FrameScanner, decode_payload
from kvserver.database import Database
from kvserver.keyspace import dump_key
from kvserver.protocol import ErrorReply, encode_command

log = logging.getLogger("kvserver")

PROGRESS_SECONDS: Final = 3.0
READ_BUFFER: Final = 1 << 20  # the log is streamed: memory for one frame plus this buffer


@dataclass(slots=True)
class LoadResult:
    status: str  # OK, TORN or CORRUPT
    valid_up_to: int
    size: int
    frames: int
    records: int
    problem: str
    seconds: float


class CorruptLog(Exception):
    def __init__(self, path: str, result: LoadResult) -> None:
        super().__init__(f"{path} at offset {result.valid_up_to}: {result.problem}")
        self.path = path
        self.result = result


def replay(db: Database, data: bytes | BinaryIO, progress: bool = True) -> LoadResult:
    """Apply every whole frame of a log (a file, streamed, or an image) to ``db``; stop at a
    torn tail or corruption."""
    started = time.monotonic()
    next_report = started + PROGRESS_SECONDS
    client = db.clients.new()
    db.logging = False
    db.loading = True
    for slot in db.dbs.values():
        slot.keyspace.start_loading()
    call = db.call
    keyspace = db.keyspace
    values, deadlines = keyspace.data, keyspace.expires
    scanner = FrameScanner(data)
    last_raw, last_deadline = b"", 0
    records = 0
    errors = 0
    try:
        for offset, payload in scanner:
            try:
                units = decode_payload(payload)
            except ValueError as exc:
                scanner.status, scanner.valid_up_to, scanner.problem = CORRUPT, offset, f"undecodable record: {exc}"
                break
            for argv in units:
                # fast path for the commonest record, a canonical SET key value PXAT ms: exactly
                # what the general path does for it, minus dispatch and option parsing
                if len(argv) == 5 and argv[0] == b"SET" and argv[3] == b"PXAT" and argv[4].isdigit():
                    values[argv[1]] = argv[2]
                    if argv[4] != last_raw:  # a run of equal deadlines shares one int (and one parse)
                        last_raw, last_deadline = argv[4], int(argv[4])
                    deadlines[argv[1]] = last_deadline
                elif type(reply := call(client, argv)) is ErrorReply:
                    if argv[0] == b"SELECT":  # into db 0 instead would mix two databases' keys
                        problem = f"it selects database {argv[1].decode('ascii', 'replace')}: {reply.decode()}"
                        scanner.status, scanner.valid_up_to, scanner.problem = CORRUPT, offset, problem
                        break
                    errors += 1
                elif client.db != db.index or db.keyspace is not keyspace:
                    # a SELECT: the dispatcher would switch at the next command, but the fast path
                    # above stores into the selected database's dicts now
                    db.use(client.db)
                    keyspace = db.keyspace
                    values, deadlines = keyspace.data, keyspace.expires
            if scanner.status == CORRUPT:
                break
            records += len(units)
            if progress and records % 4096 == 0 and time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_SECONDS
                log.info("Loading the AOF: %d%% (%d records)", offset * 100 // max(scanner.size, 1), records)
    finally:
        db.loading = False
        selected = db.index
        for index, slot in list(db.dbs.items()):
            db.use(index)  # an expiry is logged in its own database
            keyspace = slot.keyspace
            keyspace.finish_loading()
            keyspace.purge_expired(keyspace.clock(), len(keyspace) + 1)  # dead on arrival: dropped
        db.use(selected)
        db.logging = True
        db.forget_logged_db()  # the log's last SELECT is the replay's business: the next unit says its own
        # as Redis skips them while loading: the replayed records are no commands of a client
        db.monitoring.reset_stats()
        db.monitoring.slowlog.clear()
    if errors:
        log.warning("%d records of the AOF were rejected on replay", errors)
    return LoadResult(
        scanner.status,
        scanner.valid_up_to,
        scanner.size,
        scanner.frames,
        records,
        scanner.problem,
        time.monotonic() - started,
    )


def load_log(db: Database, path: str) -> int:
    """Startup: replay the log at ``path`` into ``db``; return the size of its good prefix.

    A torn tail is cut off with a warning (as Redis's aof-load-truncated); corruption before the
    tail raises ``CorruptLog`` and nothing is started.
    """
    try:
        handle = open(path, "rb", buffering=READ_BUFFER)  # noqa: SIM115 - closed just below
    except FileNotFoundError:
        return 0
    with handle:
        result = replay(db, handle)
    if result.status == CORRUPT:
        raise CorruptLog(path, result)
    if result.status == TORN:
        name = os.path.basename(path)
        log.warning("!!! Warning: short read while loading the AOF file %s (%s) !!!", name, result.problem)
        log.warning("!!! Truncating the AOF %s at offset %d !!!", name, result.valid_up_to)
        os.truncate(path, result.valid_up_to)
    log.info(
        "DB loaded from append only file: %d records, %d keys, %d bytes in %.3f seconds",
        result.records,
        sum(len(ks) for _, ks in db.keyspaces()),
        result.valid_up_to,
        result.seconds,
    )
    return result.valid_up_to


# --- kvserver check-aof ------------------------------------------------------------------------


def check_aof(path: str, fix: bool, out: BinaryIO | None = None) -> int:
    """Report on a log file; with ``fix``, keep a backup and cut it at the last good record."""
    stream = out or sys.stdout.buffer

    def say(text: str) -> None:
        stream.write(text.encode() + b"\n")

    db = Database()
    try:
        with open(path, "rb", buffering=READ_BUFFER) as handle:
            result = replay(db, handle, progress=False)
    except OSError as exc:
        say(f"Cannot open {path}: {exc.strerror}")
        return 1
    say(
        f"AOF analyzed: filename={path}, size={result.size}, records={result.records}, "
        f"keys={sum(len(ks) for _, ks in db.keyspaces())}, ok_up_to={result.valid_up_to}, "
        f"diff={result.size - result.valid_up_to}"
    )
    if result.status == OK:
        say("AOF is valid")
        return 0
    kind = "has a torn tail" if result.status == TORN else "is corrupt"
    say(f"AOF {kind} at offset {result.valid_up_to}: {result.problem}")
    if not fix:
        say(f"Use --fix to keep a backup and truncate the file at offset {result.valid_up_to}")
        return 1
    backup = f"{path}.bak-{time.strftime('%Y%m%d-%H%M%S')}"
    shutil.copyfile(path, backup)
    os.truncate(path, result.valid_up_to)
    lost = result.size - result.valid_up_to
    say(f"Backup written to {backup}")
    say(f"Successfully truncated AOF {path} at offset {result.valid_up_to} ({lost} bytes removed)")
    return 0


# --- kvserver export ---------------------------------------------------------------------------


def export(path: str, out: BinaryIO) -> int:
    """Print the live keyspace as RESP commands with absolute deadlines (for redis-cli --pipe)."""
    db = Database()
    try:
        with open(path, "rb", buffering=READ_BUFFER) as handle:
            result = replay(db, handle, progress=False)
    except FileNotFoundError:
        result = replay(db, b"", progress=False)
    if result.status == CORRUPT:
        sys.stderr.write(f"kvserver: {path} is corrupt at offset {result.valid_up_to}: {result.problem}\n")
        return 1
    chunks: list[bytes] = []
    for index, ks in db.keyspaces():
        if index:  # redis-cli --pipe starts in database 0
            chunks.append(encode_command(b"SELECT", b"%d" % index))
        for key, value in ks.data.items():
            chunks.extend(encode_command(*argv) for argv in dump_key(ks, key, value))
            if len(chunks) >= 1024:
                out.write(b"".join(chunks))
                chunks.clear()
    out.write(b"".join(chunks))
    out.flush()
    return 0
