"""The live log on a real file and a real event loop, without a server: sealing units into
frames, group commit, and both fsync paths (inline while the disk is fast, a thread when slow)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kvserver.aof import SLOW_FSYNC_SECONDS, AppendOnlyLog, Rewrite
from kvserver.aof_format import FRAME_HEADER, HEADER, FrameScanner, decode_payload, encode_frame
from kvserver.config import Config
from kvserver.replay import replay
from tests.support import Harness


def opened_log(tmp_path: Path, policy: str) -> AppendOnlyLog:
    """A new log in ``tmp_path``, open for appending, with ``appendfsync policy``."""
    log = AppendOnlyLog(Config(dir=str(tmp_path), appendfsync=policy))
    log.open(0)
    return log


def read_records(path: Path) -> list[list[list[bytes]]]:
    """The log's frames, each as its list of records."""
    return [decode_payload(payload) for _, payload in FrameScanner(path.read_bytes())]


@pytest.mark.parametrize("slow_disk", [False, True], ids=["inline-fsync", "thread-fsync"])
def test_units_written_in_one_loop_iteration_share_a_frame_and_an_fsync(tmp_path: Path, slow_disk: bool) -> None:
    config = Config(dir=str(tmp_path), appendfsync="always")
    log = AppendOnlyLog(config)
    log.open(0)
    durable: list[int] = []

    async def scenario() -> None:
        synced = asyncio.Event()

        def on_durable(position: int) -> None:
            durable.append(position)
            synced.set()

        log.attach(asyncio.get_running_loop(), on_durable)
        if slow_disk:
            log._fsync_seconds = SLOW_FSYNC_SECONDS * 10  # as if recent fsyncs were slow
        log.write([[b"SET", b"a", b"1"]])
        log.write([[b"MULTI-1", b"x"], [b"MULTI-2", b"y"]])  # one transaction: two records
        assert log.barrier() == 2  # replies sent now must wait for both units
        await asyncio.wait_for(synced.wait(), 10)
        synced.clear()
        log.write([[b"SET", b"b", b"2"]])
        await asyncio.wait_for(synced.wait(), 10)
        assert log.barrier() == 0
        await log.close()

    asyncio.run(scenario())
    assert durable == [2, 3]  # one fsync for the first iteration's two units, one for the next
    assert read_records(config.aof_path) == [
        [[b"SET", b"a", b"1"], [b"MULTI-1", b"x"], [b"MULTI-2", b"y"]],
        [[b"SET", b"b", b"2"]],
    ]


def test_everysec_writes_at_once_and_syncs_later(tmp_path: Path) -> None:
    config = Config(dir=str(tmp_path), appendfsync="everysec")
    log = AppendOnlyLog(config)
    log.open(0)

    released: list[int] = []

    async def scenario() -> None:
        log.attach(asyncio.get_running_loop(), released.append)
        log.write([[b"SET", b"k", b"v"]])
        # a reply waits for the write(2), not for the fsync: a process crash loses nothing it saw
        assert log.barrier() == 1
        assert read_records(config.aof_path) == []
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert read_records(config.aof_path) == [[[b"SET", b"k", b"v"]]]  # written, not yet fsynced
        assert released == [1]
        assert log.barrier() == 0
        assert log.durable == 0
        await log.close()
        assert log.durable == 1

    asyncio.run(scenario())


def test_fsyncs_of_a_slow_disk_still_run_inline(tmp_path: Path) -> None:
    """With fsyncs of 5 ms the flush syncs on the loop (no job left in flight) and releases at
    once: a thread there lost to inline fsyncs (clients waiting on an fsync send nothing)."""
    log = opened_log(tmp_path, "always")
    durable: list[int] = []

    async def scenario() -> None:
        log.attach(asyncio.get_running_loop(), durable.append)
        log._fsync_seconds = 0.005  # as if recent fsyncs took 5 ms
        log.write([[b"SET", b"a", b"1"]])
        log._flush()
        assert log._io is None
        assert durable == [1]
        await log.close()

    asyncio.run(scenario())
    assert read_records(log.config.aof_path) == [[[b"SET", b"a", b"1"]]]


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_the_reply_barrier_is_an_attribute_kept_current_through_a_write_failure(tmp_path: Path, policy: str) -> None:
    """``hold`` (what the server reads per reply batch) is ``barrier()`` at every step: set by a
    write, cleared when the write is released, cleared while writes are refused (reads are
    served), and set again when the retried write succeeds, until it is released."""
    log = opened_log(tmp_path, policy)
    released: list[int] = []
    steps: list[tuple[int, int]] = []

    def step() -> None:
        steps.append((log.hold, log.barrier()))

    async def scenario() -> None:
        log.attach(asyncio.get_running_loop(), released.append)
        good_fd = log.fd
        log.write([[b"SET", b"a", b"1"]])
        step()
        await asyncio.sleep(0)
        step()
        log.fd = os.open(tmp_path / "read-only", os.O_RDONLY | os.O_CREAT)  # a real EBADF on write
        log.write([[b"SET", b"b", b"2"]])
        step()
        await asyncio.sleep(0)
        assert log.refusal is not None
        step()
        os.close(log.fd)
        log.fd = good_fd
        log.cron()  # the retry succeeds: the held unit is released
        step()
        await log.close()

    asyncio.run(scenario())
    assert steps == [(1, 1), (0, 0), (2, 2), (0, 0), (0, 0)]
    assert released == [1, 2]
    assert read_records(log.config.aof_path) == [[[b"SET", b"a", b"1"]], [[b"SET", b"b", b"2"]]]


@pytest.mark.parametrize(
    ("damage", "status", "problem"),
    [
        (lambda image, frames: image + bytes(5000), "torn", "zero-filled tail"),
        (lambda image, frames: image[: frames[-1] + 20], "torn", "incomplete record at the end of the file"),
        (lambda image, frames: _flip(image, frames[2] + 14), "corrupt", "bad record checksum"),
        (lambda image, frames: _flip(image, frames[2] + 1), "corrupt", "bad frame header checksum"),
        (lambda image, frames: image[:-1] + b"\0", "torn", "zero-filled last record"),
    ],
    ids=["zero-tail", "cut", "payload-flip", "header-flip", "zeroed-last-byte"],
)
def test_a_log_streamed_from_a_file_is_judged_as_its_image(
    tmp_path: Path, damage: Callable[[bytes, list[int]], bytes], status: str, problem: str
) -> None:
    image = HEADER + b"".join(encode_frame([[b"SET", b"k%d" % i, b"v" * 100]]) for i in range(6))
    offsets = [offset for offset, _ in FrameScanner(image)]
    damaged = damage(image, offsets)
    path = tmp_path / "log"
    path.write_bytes(damaged)
    with path.open("rb", buffering=64) as handle:  # a buffer smaller than a frame
        streamed = FrameScanner(handle)
        payloads = list(streamed)
    in_memory = FrameScanner(damaged)
    assert payloads == [(offset, bytes(payload)) for offset, payload in in_memory]
    assert (streamed.status, streamed.problem, streamed.valid_up_to) == (
        in_memory.status,
        in_memory.problem,
        in_memory.valid_up_to,
    )
    assert (streamed.status, streamed.problem) == (status, problem)


def _flip(image: bytes, offset: int) -> bytes:
    return image[:offset] + bytes([image[offset] ^ 0xFF]) + image[offset + 1 :]


def test_the_rewrite_copies_on_write_through_the_change_signal(tmp_path: Path) -> None:
    config = Config(dir=str(tmp_path))
    h = Harness(config)
    h("SET", "a", "old")
    h("SET", "b", "untouched")
    ks = h.db.keyspace
    log = AppendOnlyLog(config, ks)
    rewrite = Rewrite(log, ks)
    (part,) = rewrite.parts
    assert ks.listeners == [part]
    h("SET", "a", "new")  # not dumped yet: its old value is dumped first
    h("GET", "b")  # a read dumps nothing
    assert part.dumped == {b"a"}
    assert [decode_payload(frame[FRAME_HEADER.size :]) for frame in rewrite.out] == [[[b"SET", b"a", b"old"]]]
    h("FLUSHALL")  # the carried FLUSHALL clears whatever the dump holds: nothing more to dump
    assert part.position == len(part.keys)
    rewrite.abort()
    assert ks.listeners == []
    assert not (tmp_path / "appendonly.aof.rewrite.tmp").exists()


def test_the_rewrite_dumps_every_database_each_frame_in_its_own(tmp_path: Path) -> None:
    config = Config(dir=str(tmp_path))
    h = Harness(config)
    for db in ("3", "0", "7"):
        h("SELECT", db)
        h("SET", "k", f"db{db}")
        h("RPUSH", "l", db)
    log = AppendOnlyLog(config, h.db.keyspace_of(0))
    log.databases = h.db.keyspaces
    rewrite = Rewrite(log, h.db.keyspaces())
    assert [part.index for part in rewrite.parts] == [0, 3, 7]
    h("SELECT", "7")
    h("SET", "k", "changed")  # copy-on-write in database 7 before database 0 is dumped
    for part in rewrite.parts:
        for key in part.keys:
            if key not in part.dumped:
                part.dump(key)
    frames = [decode_payload(frame[FRAME_HEADER.size :]) for frame in rewrite.out]
    assert frames[0][0] == [b"SELECT", b"7"]
    assert frames[1][0] == [b"SELECT", b"0"]
    rewrite.abort()
    loader = Harness()
    replay(loader.db, HEADER + b"".join(rewrite.out), progress=False)
    for db, value in (("0", b"db0"), ("3", b"db3"), ("7", b"db7")):  # the dump is the keyspace at the start
        loader("SELECT", db)
        assert loader("GET", "k") == value
        assert loader("LRANGE", "l", "0", "-1") == [db.encode()]


def test_frames_share_one_packer_until_a_big_one_would_keep_its_buffer() -> None:
    """``msgpack.packb`` allocates a packer per frame; the encoder keeps one, except after a frame
    bigger than it may keep (a packer holds on to the largest buffer it needed)."""
    import kvserver.aof_format as aof_format

    encoder = aof_format._ENCODER
    small = [[b"SET", b"k", b"v"]]
    first = encoder.packer
    frame = encode_frame(small)
    assert encoder.packer is first
    big = [[b"SET", b"k", b"v" * (encoder.KEEP + 1)]]
    big_frame = encode_frame(big)
    assert encoder.packer is not first
    scanned = list(FrameScanner(HEADER + frame + big_frame))
    assert [decode_payload(payload) for _, payload in scanned] == [small, big]
    assert encode_frame(small) == frame
