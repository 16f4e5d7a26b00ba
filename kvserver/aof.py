"""The live append-only log: buffering, the fsync policies, group commit, disk errors, rewrite.

Positions here are logical: ``appended`` counts the units (a command's records, or a whole
transaction's) handed to the log, ``durable`` the units known to be on disk. The server holds
each reply batch until the ``barrier`` it was tagged with is passed: by ``durable`` with
``appendfsync always``, by the units written to the OS with ``everysec`` and ``no`` (so a
process crash loses nothing acknowledged, as with Redis, which writes its AOF buffer before
sending replies). Units are buffered as plain records and sealed into one frame per flush
(once per event loop iteration), so the per-command cost is a list append; a frame is atomic on
replay, so the units in it are too. One write+fdatasync covers a whole flush (group commit), so one fsync
acknowledges every client that wrote in between. It runs inline, as Redis's does, unless fsyncs
take a tenth of a second; then in the log's thread, and units appended while it runs go out in
the next one.

A failed write or fsync keeps the unwritten frames in memory, cuts any partial frame off the
file, refuses new writes with MISCONF, and is retried from the cron until the disk accepts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from kvserver.aof_format import HEADER, encode_frame
from kvserver.commands.registry import CommandError
from kvserver.keyspace import KeyListener, Keyspace, copy_value, dump_key, iter_dump
from kvserver.protocol import ErrorReply

if TYPE_CHECKING:
    from kvserver.config import Config

log = logging.getLogger("kvserver")

REWRITE_BATCH_KEYS: Final = 256
REWRITE_SLICE_SECONDS: Final = 0.002
REWRITE_FLUSH_BYTES: Final = 1 << 20
BIG_KEY_ELEMENTS: Final = 4096  # a bigger container is dumped in slices (copied if written meanwhile)
BIG_KEY_FRAME_RECORDS: Final = 8  # records (of up to 512 elements) per frame of a big key's dump
# Above this (moving average), fsyncs leave the event loop. Inline won on every disk measured
# (fsyncs of 0.5 to 50 ms: docs/benchmarks.md): every client waiting on an fsync sends nothing
# until it ends, so overlapping the next one gains nothing and splits the clients into smaller
# groups per fsync. Only a disk this slow makes a frozen loop worth avoiding (timers, the cron).
SLOW_FSYNC_SECONDS: Final = 0.1
AUTO_REWRITE_MAX_DELAY: Final = 60.0  # failed automatic rewrites back off up to this
REWRITE_REFUSED: Final = (
    "ERR Can't execute an AOF background rewriting. Please check the server logs for more information."
)


def write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def snapshot(value: object) -> object:
    """A private copy of a big value for the rewrite to dump, at C speed where it can be: a
    plain dict or set for a hash or set (its position index is not needed to dump it)."""
    if isinstance(value, dict):
        return dict.copy(value)
    if isinstance(value, set):
        return set.copy(value)
    return copy_value(value)


class SyncThread:
    """A long-lived thread that runs the log's fdatasync while the loop goes on serving.

    One queue hand-off and one ``call_soon_threadsafe`` per fsync, no executor: the thread
    waits on its queue (without the GIL) and settles the loop's future when the sync is done.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[int, asyncio.Future[float], asyncio.AbstractEventLoop] | None]
        self._jobs = queue.SimpleQueue()
        self._worker: threading.Thread | None = None

    def sync(self, loop: asyncio.AbstractEventLoop, fd: int) -> asyncio.Future[float]:
        """fdatasync ``fd`` in the thread; the future gets the seconds it took (or its OSError)."""
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="kvserver-aof-sync", daemon=True)
            self._worker.start()
        future = loop.create_future()
        self._jobs.put((fd, future, loop))
        return future

    def stop(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker = None

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            fd, future, loop = job
            started = time.perf_counter()
            try:
                os.fdatasync(fd)
            except OSError as exc:
                loop.call_soon_threadsafe(_settle, future, 0.0, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, time.perf_counter() - started, None)


def _settle(future: asyncio.Future[float], seconds: float, error: OSError | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(seconds)


def fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AppendOnlyLog:
    """The LogWriter behind ``appendonly yes``."""

    def __init__(self, config: Config, keyspace: Keyspace | None = None) -> None:
        self.config = config
        self.keyspace = keyspace  # what a rewrite dumps (None: no rewrite possible)
        # the databases holding keys, what a rewrite dumps (unset: ``keyspace``, as database 0)
        self.databases: Callable[[], list[tuple[int, Keyspace]]] | None = None
        # called as a rewrite starts: the writer's next unit must say its database (SELECT)
        self.on_rewrite: Callable[[], None] = lambda: None
        # records the rewrite writes before the keys (the function libraries: FUNCTION LOAD ...)
        self.preamble: Callable[[], list[list[bytes]]] = list
        self.path = str(config.aof_path)
        self.fd = -1
        self.appended = 0
        self.durable = 0
        self.file_size = 0
        self.base_size = 0
        self.refusal: ErrorReply | None = None
        # what ``barrier()`` returns, kept current (by ``write`` and as units are released) so the
        # server reads one attribute per reply batch; recomputed on each release, so a change of
        # appendfsync takes effect from the next write or flush
        self.hold = 0
        self.rewrite: Rewrite | None = None
        self.rewrites = 0
        self.last_rewrite_status = "ok"
        self.last_save = time.time()  # LASTSAVE: startup, then each SAVE and successful rewrite
        self.rewrite_scheduled = False  # BGSAVE SCHEDULE during a rewrite: another one after it
        self._records: list[list[bytes]] = []  # units not yet sealed into a frame
        self._sealed = 0  # the units sealed into frames so far
        self._written = 0  # the units whose frames were written to the file
        self._pending: list[bytes] = []  # sealed frames not yet written
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_durable: Callable[[int], None] = lambda offset: None
        self._flush_scheduled = False
        self._io: asyncio.Future[Any] | None = None  # the fsync in the log's thread, in flight (always)
        self._sync_thread = SyncThread()
        self._bg_fsync: asyncio.Future[Any] | None = None  # everysec's fdatasync in a thread
        self._released = 0  # replies tagged up to here may go out (written; with always: fsynced)
        self._generation = 0  # bumped when a rewrite swaps files: late callbacks are ignored
        self._last_fsync = time.monotonic()
        self._fsync_seconds = 0.0  # moving average of recent fsync durations
        self._dir_unsynced = False  # a rewrite's rename is not known to be on disk yet
        self._next_auto_rewrite = 0.0  # after a failed automatic rewrite: not before this time
        self._auto_rewrite_failures = 0

    # --- lifecycle -----------------------------------------------------------------------------

    def open(self, valid_size: int) -> None:
        """Open the log for appending; it holds ``valid_size`` good bytes (0: start a new one)."""
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if valid_size == 0:
            os.ftruncate(self.fd, 0)
            write_all(self.fd, HEADER)
            os.fsync(self.fd)
            fsync_dir(self.path)
            valid_size = len(HEADER)
        self.file_size = self.base_size = valid_size

    def attach(self, loop: asyncio.AbstractEventLoop, on_durable: Callable[[int], None]) -> None:
        self._loop = loop
        self._on_durable = on_durable

    async def close(self) -> None:
        """Graceful stop: write and fsync everything, then close the file."""
        if self.rewrite is not None:
            self.rewrite.abort()
        while (job := self._io or self._bg_fsync) is not None:
            await asyncio.shield(job)
        self._seal()
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            try:
                await asyncio.get_running_loop().run_in_executor(None, self._write_and_sync, self.fd, data, True)
                self.file_size += len(data)
            except OSError as exc:
                log.warning("Could not write the last %d bytes of the AOF on shutdown: %s", len(data), exc)
        else:
            os.fsync(self.fd)
        self.durable = self.appended
        self.hold = 0
        self._sync_thread.stop()
        os.close(self.fd)
        self.fd = -1

    # --- the write path ------------------------------------------------------------------------

    def write(self, records: list[list[bytes]]) -> None:
        self._records += records
        self.appended += 1
        if self.refusal is None:
            self.hold = self.appended
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _seal(self) -> None:
        """Turn the buffered units into one frame (carried into a running rewrite too)."""
        if not self._records:
            return
        frame = encode_frame(self._records)
        self._records = []
        self._sealed = self.appended
        self._pending.append(frame)
        if self.rewrite is not None:
            self.rewrite.carry(frame)

    def barrier(self) -> int:
        """A reply sent now follows every unit appended so far: with ``always`` it waits until
        they are fsynced, with ``everysec`` and ``no`` until they are written to the OS (so a
        process crash loses nothing acknowledged)."""
        done = self.durable if self.config.appendfsync == "always" else self._released
        if self.appended > done and self.refusal is None:
            return self.appended
        return 0

    def _flush(self) -> None:
        """Send the sealed frames to disk: written (everysec, no) or written and fsynced (always).

        With ``always`` the fsync runs inline, as Redis does, unless recent fsyncs took
        SLOW_FSYNC_SECONDS or more: then it moves to the log's thread, so the loop's timers and
        cron keep running; either way, the units that arrive meanwhile share the next fsync.
        """
        self._flush_scheduled = False
        if self._io is not None or self.fd < 0:
            return
        self._seal()
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        target = self._sealed
        sync = self.config.appendfsync == "always"
        if sync and self._fsync_seconds >= SLOW_FSYNC_SECONDS:
            assert self._loop is not None
            try:
                self._write(self.fd, data)  # on the loop: a write is cheap, and fails at once
            except OSError as exc:
                self._failed(data, exc)
                return
            future = self._sync_thread.sync(self._loop, self.fd)
            self._io = future
            generation = self._generation
            future.add_done_callback(lambda done: self._io_done(done, data, target, generation))
            return
        try:
            seconds = self._write_and_sync(self.fd, data, sync)
        except OSError as exc:
            self._failed(data, exc)
            return
        self._written_out(data, target, seconds if sync else None)

    def _write(self, fd: int, data: bytes) -> None:
        good_size = self.file_size
        try:
            write_all(fd, data)
        except OSError:
            os.ftruncate(fd, good_size)  # never leave a partial frame for the next append to follow
            raise

    def _write_and_sync(self, fd: int, data: bytes, sync: bool) -> float:
        """Write (and fdatasync); returns the seconds the fsync took. In a thread, nothing else
        touches ``fd`` while it runs."""
        self._write(fd, data)
        if not sync:
            return 0.0
        started = time.perf_counter()
        try:
            os.fdatasync(fd)
        except OSError:  # written but not known to be on disk: cut, it is written again on retry
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self.file_size)
            raise
        return time.perf_counter() - started

    def _io_done(self, future: asyncio.Future[float], data: bytes, target: int, generation: int) -> None:
        if generation != self._generation:
            return  # a rewrite replaced the file; its fsync already covered these bytes
        self._io = None
        exc = future.exception()
        if exc is not None:
            with contextlib.suppress(OSError):  # written but not synced: cut, to be written again
                os.ftruncate(self.fd, self.file_size)
            self._failed(data, exc)
            return
        self._written_out(data, target, future.result())

    def _written_out(self, data: bytes, target: int, fsync_seconds: float | None) -> None:
        """Bookkeeping after a successful write; ``fsync_seconds`` is None when nothing was synced."""
        self.file_size += len(data)
        self._written = target
        self._recovered()
        if fsync_seconds is None:
            if self.config.appendfsync == "no":
                self._advance(target)
            else:
                self._release(target)  # everysec: written to the OS, fsynced by the cron later
            return
        self._last_fsync = time.monotonic()
        self._fsync_seconds = 0.8 * self._fsync_seconds + 0.2 * fsync_seconds  # a moving average
        if self._pending or self._records:
            self._flush()  # start the next fsync first: it runs while these replies go out
        self._advance(target)

    def _advance(self, offset: int) -> None:
        if offset > self.durable:
            self.durable = offset
        self._release(offset)
        self.hold = self.barrier()

    def _release(self, offset: int) -> None:
        if offset > self._released:
            self._released = offset
            self.hold = self.barrier()
            self._on_durable(offset)

    def _failed(self, data: bytes, exc: BaseException) -> None:
        self._pending.insert(0, data)  # keep it: it is retried once the disk takes writes again
        self._refuse(exc)

    def _refuse(self, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if self.refusal is None:
            log.warning("Error writing to the AOF file: %s; refusing writes until it succeeds", reason)
        self.refusal = ErrorReply(f"MISCONF Errors writing to the AOF file: {reason}".encode())
        self.hold = 0  # reads are served meanwhile (the replies already held stay held)

    def _recovered(self) -> None:
        if self.refusal is not None and not self._dir_unsynced:
            log.warning("AOF write error is over: the log is being written again")
            self.refusal = None
            self.hold = self.barrier()

    def _sync_dir(self) -> None:
        """Retry the directory fsync a rewrite's rename needs (writes are refused until then)."""
        try:
            fsync_dir(self.path)
        except OSError as exc:
            self._refuse(exc)
            return
        self._dir_unsynced = False
        self._recovered()

    # --- periodic work -------------------------------------------------------------------------

    def cron(self) -> None:
        if self._dir_unsynced:
            self._sync_dir()
        if self.rewrite_scheduled and self.rewrite is None:
            self.rewrite_scheduled = False
            try:
                self.start_rewrite()
            except CommandError as exc:
                log.warning("The scheduled log rewrite (BGSAVE SCHEDULE) can't start: %s", exc)
        if self.refusal is not None and self._io is None:
            self._flush()  # retry the failed write
        if (
            self.config.appendfsync == "everysec"
            and self._io is None
            and self._bg_fsync is None
            and self.durable < self._written
            and time.monotonic() - self._last_fsync >= 1.0
        ):
            self._fsync_in_background()
        if self.rewrite is None and time.monotonic() >= self._next_auto_rewrite and self._should_rewrite():
            log.info("Starting automatic rewriting of AOF on %d%% growth", self._growth())
            try:
                self.start_rewrite(automatic=True)
            except CommandError:  # logged by start_rewrite; try again later, less and less often
                self._auto_rewrite_failed()

    def _auto_rewrite_failed(self) -> None:
        self._auto_rewrite_failures += 1
        delay = min(AUTO_REWRITE_MAX_DELAY, 2.0 ** (self._auto_rewrite_failures - 1))
        self._next_auto_rewrite = time.monotonic() + delay

    def _fsync_in_background(self) -> None:
        assert self._loop is not None
        target = self._written
        future = self._loop.run_in_executor(None, os.fdatasync, self.fd)
        self._bg_fsync = future  # writes go on meanwhile: write(2) and fdatasync may overlap
        generation = self._generation

        def done(finished: asyncio.Future[None]) -> None:
            if generation != self._generation:
                return
            self._bg_fsync = None
            self._last_fsync = time.monotonic()
            if finished.exception() is None:
                self._advance(target)
            else:
                self._failed(b"", finished.exception() or OSError("fsync failed"))

        future.add_done_callback(done)

    def _growth(self) -> int:
        return (self.file_size * 100 // max(self.base_size, 1)) - 100

    def _should_rewrite(self) -> bool:
        percentage = self.config.auto_aof_rewrite_percentage
        return bool(
            percentage
            and self.refusal is None
            and self.file_size > self.config.auto_aof_rewrite_min_size
            and self._growth() >= percentage
        )

    # --- INFO and BGREWRITEAOF -----------------------------------------------------------------

    def info(self) -> dict[str, int | str]:
        return {
            "aof_enabled": 1,
            "aof_rewrite_in_progress": int(self.rewrite is not None),
            "aof_rewrite_scheduled": int(self.rewrite_scheduled),
            "aof_rewrites": self.rewrites,
            "aof_last_bgrewrite_status": self.last_rewrite_status,
            "aof_last_write_status": "err" if self.refusal is not None else "ok",
            "aof_current_size": self.file_size + sum(len(f) for f in self._pending),
            "aof_base_size": self.base_size,
            "aof_pending_rewrite": 0,
            "aof_buffer_length": sum(len(f) for f in self._pending),
            "aof_pending_bio_fsync": int(self._io is not None or self._bg_fsync is not None),
            "aof_delayed_fsync": 0,
        }

    def save(self) -> None:
        """SAVE: everything appended so far written and fsynced before the reply (which the
        durability barrier holds until then), then the log compacted by a background rewrite."""
        if self._io is None and self.fd >= 0:
            self._flush()
        if self.refusal is not None or self.fd < 0:
            raise CommandError("ERR")  # Redis's reply to a failed SAVE; the log says why
        try:
            os.fsync(self.fd)
        except OSError as exc:
            log.warning("SAVE can't fsync the append only file: %s", exc.strerror)
            raise CommandError("ERR") from None
        if self._io is None:
            self._advance(self._written)
        self.last_save = time.time()
        log.info("DB saved on disk (the append only file is fsynced)")
        if self.rewrite is None:
            self.start_rewrite()

    def start_rewrite(self, automatic: bool = False) -> str:
        if self.rewrite is not None:
            raise CommandError("ERR Background append only file rewriting already in progress")
        if self.keyspace is None or self._loop is None:
            raise CommandError("ERR Background append only file rewriting is not available now")
        self._seal()  # what was written before the start is in the dump, so it must not be carried
        try:
            dumped = self.keyspace if self.databases is None else self.databases()
            self.rewrite = Rewrite(self, dumped, automatic)
            self.on_rewrite()  # the carried frames start in database 0, the dump's
        except OSError as exc:
            log.warning("Can't rewrite append only file in background: %s", exc.strerror or exc)
            self.last_rewrite_status = "err"
            raise CommandError(REWRITE_REFUSED) from None
        self._loop.create_task(self._run_rewrite(self.rewrite))
        return "Background append only file rewriting started"

    async def _run_rewrite(self, rewrite: Rewrite) -> None:
        started = time.monotonic()
        try:
            await rewrite.run()
        except Exception as exc:  # a failed rewrite leaves the current log untouched
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            log.warning("Background AOF rewrite terminated with error: %s", reason)
            rewrite.abort()
            self.last_rewrite_status = "err"
            if rewrite.automatic:
                self._auto_rewrite_failed()
        else:
            if rewrite.aborted:  # stopped by a shutdown: nothing was switched
                return
            self.last_rewrite_status = "ok"
            self.rewrites += 1
            self._auto_rewrite_failures = 0
            self.last_save = time.time()
            log.info("Background AOF rewrite finished successfully in %.3f seconds", time.monotonic() - started)
        finally:
            self.rewrite = None
            rewrite.unsubscribe()

    def switch_to(self, fd: int, size: int) -> None:
        """Adopt a rewritten, fsynced log that holds every sealed frame (units still buffered as
        records go to it next). Bookkeeping only: nothing here can fail once the rename is done."""
        old_fd = self.fd
        self._generation += 1
        in_flight = [job for job in (self._io, self._bg_fsync) if job is not None]
        self._io = self._bg_fsync = None
        self.fd = fd
        self._pending.clear()
        self.file_size = self.base_size = size
        self._last_fsync = time.monotonic()
        self._written = self._sealed
        self._advance(self._sealed)
        if not in_flight:
            with contextlib.suppress(OSError):
                os.close(old_fd)
        else:  # a thread still writes to the old file: close it when the last job finishes
            remaining = [len(in_flight)]

            def finished(_: object) -> None:
                remaining[0] -= 1
                if not remaining[0]:
                    with contextlib.suppress(OSError):
                        os.close(old_fd)

            for job in in_flight:
                job.add_done_callback(finished)


class Rewrite:
    """Compaction without fork: dump the keyspace as of the start, in slices, then the writes since.

    Consistency comes from copy-on-write at key granularity: the rewrite subscribes to each
    database's change signal (a ``DbDump`` per database holding keys), and before a command
    writes a key that hasn't been dumped yet (``writing``), it dumps that key's current value
    first. Every frame appended after the start is also carried into the new file after the
    dump, so replay gives exactly the live keyspace. Until the atomic rename the old log stays
    complete. A frame of another database than the frame before it starts with ``SELECT``.
    """

    def __init__(
        self, owner: AppendOnlyLog, keyspaces: Keyspace | list[tuple[int, Keyspace]], automatic: bool = False
    ) -> None:
        self.owner = owner
        self.carried: list[bytes] = []
        self.carried_size = 0
        self.out: list[bytes] = []
        self.out_size = 0
        self.out_db = 0  # the database of the last frame output (a new file starts in db 0)
        self.tmp_path = owner.path + ".rewrite.tmp"
        self.size = 0
        self.aborted = False
        self.automatic = automatic
        if isinstance(keyspaces, Keyspace):
            keyspaces = [(0, keyspaces)]
        self.parts = [DbDump(self, index, keyspace) for index, keyspace in keyspaces]
        # Every descriptor the switch needs is opened now: once the new file is renamed over the
        # log nothing may fail, or the server would go on appending to an unlinked file. The
        # temporary file's own descriptor (O_APPEND) becomes the live log's.
        self.fd = self.dir_fd = -1
        try:
            self.fd = os.open(self.tmp_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
            self.dir_fd = os.open(os.path.dirname(os.path.abspath(owner.path)), os.O_RDONLY)
            self._emit([HEADER])
            preamble = owner.preamble()
            if preamble:
                self._emit([encode_frame(preamble)])
        except OSError:
            self._release_files()
            raise
        for part in self.parts:  # last: a rewrite that could not start leaves no listener
            part.keyspace.subscribe(part)

    # --- called from the write path ------------------------------------------------------------

    def carry(self, frame: bytes) -> None:
        self.carried.append(frame)
        self.carried_size += len(frame)

    # --- the dump ------------------------------------------------------------------------------

    def output(self, db: int, records: list[list[bytes]]) -> None:
        if db != self.out_db:
            self.out_db = db
            records = [[b"SELECT", b"%d" % db], *records]
        frame = encode_frame(records)
        self.out.append(frame)
        self.out_size += len(frame)

    def _emit(self, chunks: list[bytes]) -> None:
        data = b"".join(chunks)
        write_all(self.fd, data)
        self.size += len(data)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for part in self.parts:
            keys = part.keys
            while part.position < len(keys) or part.big:
                stop = time.perf_counter() + REWRITE_SLICE_SECONDS
                while (part.position < len(keys) or part.big) and time.perf_counter() < stop:
                    if part.big:  # copies of big keys first: they hold memory until dumped
                        part.dump_big(stop)
                        if self.out_size >= REWRITE_FLUSH_BYTES:
                            break
                        continue
                    for key in keys[part.position : part.position + REWRITE_BATCH_KEYS]:
                        if key not in part.dumped:
                            part.dump(key)
                    part.position += REWRITE_BATCH_KEYS
                if self.out_size >= REWRITE_FLUSH_BYTES:
                    await self._write_out(loop)
                await asyncio.sleep(0)
                if self.aborted:
                    return
        await self._write_out(loop)
        self.unsubscribe()  # every key is dumped; from here only carried frames matter
        while self.carried_size >= REWRITE_FLUSH_BYTES:
            chunks, self.carried, self.carried_size = self.carried, [], 0
            await loop.run_in_executor(None, self._emit, chunks)
        await loop.run_in_executor(None, os.fdatasync, self.fd)
        if self.aborted:
            return
        self._finish()

    def unsubscribe(self) -> None:
        for part in self.parts:
            part.keyspace.unsubscribe(part)

    async def _write_out(self, loop: asyncio.AbstractEventLoop) -> None:
        chunks, self.out, self.out_size = self.out, [], 0
        if chunks:
            await loop.run_in_executor(None, self._emit, chunks)

    def _finish(self) -> None:
        """The last step runs on the loop without yielding, so no frame can slip in between."""
        self._emit(self.carried)
        self.carried = []
        os.fdatasync(self.fd)
        os.rename(self.tmp_path, self.owner.path)  # until here a failure leaves the old log in use
        fd, self.fd = self.fd, -1
        self.owner.switch_to(fd, self.size)
        try:
            os.fsync(self.dir_fd)
        except OSError as exc:  # the rename may not survive a power loss: refuse writes until it does
            self.owner._dir_unsynced = True
            self.owner._refuse(exc)
        with contextlib.suppress(OSError):
            os.close(self.dir_fd)
        self.dir_fd = -1

    def abort(self) -> None:
        for part in self.parts:
            part.big.clear()
            part.walking.clear()
        if self.aborted:
            return
        self.aborted = True
        self.unsubscribe()
        self._release_files()

    def _release_files(self) -> None:
        for fd in (self.fd, self.dir_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.dir_fd = -1
        with contextlib.suppress(OSError):
            os.unlink(self.tmp_path)


class DbDump(KeyListener):
    """One database's part of a rewrite: its keys as of the start, those dumped, its big keys."""

    def __init__(self, rewrite: Rewrite, index: int, keyspace: Keyspace) -> None:
        self.rewrite = rewrite
        self.index = index
        self.keyspace = keyspace
        self.keys = list(keyspace.data)
        self.position = 0
        self.dumped: set[bytes] = set()
        self.big: deque[BigKeyDump] = deque()  # big keys being dumped, a slice at a time
        self.walking: dict[bytes, BigKeyDump] = {}  # those whose dump still walks the live value

    def flushed(self, keyspace: Keyspace) -> None:
        self.position = len(self.keys)  # the carried FLUSHALL/FLUSHDB clears whatever the dump holds
        self.big.clear()
        self.walking.clear()

    def writing(self, key: bytes) -> None:
        if key not in self.dumped:
            self.dump(key, written=True)
        elif key in self.walking:  # half dumped from the live value, which changes now
            self.walking.pop(key).detach()

    def dump(self, key: bytes, written: bool = False) -> None:
        """Dump a key as it is now. A big container is dumped later, in slices: from the live
        value while nothing writes it, from a copy once something does (``written``: a command
        is about to change it). A copy runs at C speed (a 2M-field hash: ~75 ms); serialising
        the value at once would stall every client for the whole key (~0.9 s)."""
        self.dumped.add(key)
        ks = self.keyspace
        value = ks.data.get(key)
        if value is None or ks.is_expired(key, ks.clock()):
            return
        if type(value) is not bytes and len(value) > BIG_KEY_ELEMENTS:  # type: ignore[arg-type]
            dump = BigKeyDump(key, snapshot(value) if written else value, ks.deadline(key))
            self.big.append(dump)
            if not written:
                self.walking[key] = dump
            return
        self.rewrite.output(self.index, dump_key(ks, key, value))

    def dump_big(self, stop: float) -> None:
        """Serialise the oldest big key until ``stop`` (or 1 MB of output); it resumes there next slice."""
        dump = self.big[0]
        rewrite = self.rewrite
        group: list[list[bytes]] = []
        for record in dump.records:
            group.append(record)
            if len(group) >= BIG_KEY_FRAME_RECORDS:
                rewrite.output(self.index, group)
                group = []
                if time.perf_counter() >= stop or rewrite.out_size >= REWRITE_FLUSH_BYTES:
                    return
        else:
            self.big.popleft()
            self.walking.pop(dump.key, None)
        if group:
            rewrite.output(self.index, group)


class BigKeyDump:
    """The records of one big key, produced lazily: from the live value until a command is about
    to change it, then (``detach``) from a copy, after a DEL that undoes the records already out.
    Nothing but a write command (announced as ``writing`` first) changes a value in place."""

    __slots__ = ("deadline", "key", "records", "value")

    def __init__(self, key: bytes, value: object, deadline: int | None) -> None:
        self.key = key
        self.value = value
        self.deadline = deadline
        self.records: Iterator[list[bytes]] = iter_dump(key, value, deadline)

    def detach(self) -> None:
        copy = snapshot(self.value)
        self.value = copy
        self.records = itertools.chain([[b"DEL", self.key]], iter_dump(self.key, copy, self.deadline))
