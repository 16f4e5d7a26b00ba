"""The torn-tail property of the log, in-process: a log cut at ANY byte offset replays exactly the
frames that were complete before the cut (the acknowledged prefix) and reports the torn rest.

The log is made by a real Database (the canonical records its commands log) framed by the log
writer's ``encode_frame``; it is replayed by ``kvserver.replay.load_log``, as at startup. One
end-to-end run in tests/e2e/test_durability.py checks the server's own log lines.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from kvserver.aof_format import HEADER, OK, TORN, FrameScanner, encode_frame
from kvserver.keyspace import dump_key
from kvserver.replay import CorruptLog, load_log, replay
from tests.support import NOW, Harness

Snapshot = dict[tuple[int, bytes], list[tuple[bytes, ...]]]

# every command logs exactly one unit (one frame); MULTI/EXEC makes a frame of several records
SCRIPT: list[tuple[str, ...]] = [
    ("SET", "s", "first"),
    ("SET", "ttl", "v", "PX", "3600000"),
    ("RPUSH", "l", "a", "b", "c"),
    ("HSET", "h", "f1", "v1", "f2", "v2"),
    ("SADD", "set", "m1", "m2", "m3"),
    ("ZADD", "z", "1", "one", "2", "two"),
    ("INCR", "n"),
    ("SELECT", "2"),  # logs nothing itself: the next write's unit starts with SELECT 2
    ("SET", "s", "in db 2"),
    ("RPUSH", "l", "db2"),
    ("SELECT", "0"),
    ("LPOP", "l"),
    ("SET", "big", "x" * 300),  # a frame longer than the others: many cuts inside one payload
    ("SREM", "set", "m2"),
    ("EXPIRE", "s", "100"),
    ("DEL", "h"),
    ("APPEND", "s", "-more"),
]
TRANSACTION: list[tuple[str, ...]] = [
    ("SET", "tx1", "a"),
    ("INCRBY", "n", "10"),
    ("SELECT", "5"),
    ("RPUSH", "l", "z"),
    ("SELECT", "0"),
]


def snapshot(h: Harness) -> Snapshot:
    """Every key of every database with the canonical commands that recreate it (value and deadline)."""
    return {
        (db, key): [tuple(record) for record in dump_key(keyspace, key, keyspace.data[key])]
        for db, keyspace in h.db.keyspaces()
        for key in sorted(keyspace.data)
    }


def build_log() -> tuple[bytes, list[int], list[Snapshot]]:
    """The log image, the offset where each frame ends (after the header: 0 frames) and the
    state after each prefix of frames."""
    h = Harness()
    image = bytearray(HEADER)
    ends = [len(image)]
    states = [snapshot(h)]

    def logged(unit_count_before: int) -> None:
        units = h.log.units[unit_count_before:]
        assert len(units) == 1, units  # one acknowledged unit per step
        image.extend(encode_frame(units[0]))
        ends.append(len(image))
        states.append(snapshot(h))

    for step in SCRIPT:
        before = len(h.log.units)
        h(*step)
        if step[0] != "SELECT":
            logged(before)
    before = len(h.log.units)
    assert h("MULTI") == b"OK"
    for step in TRANSACTION:
        assert h(*step) == b"QUEUED"
    h("EXEC")
    logged(before)
    # one frame holds the whole transaction, with the SELECT before its write in db 5 (the last
    # SELECT writes nothing, so it is not logged: the next write says its own database)
    assert len(h.log.units[-1]) == len(TRANSACTION) - 1
    return bytes(image), ends, states


def test_the_log_replays_whole_to_the_state_that_made_it() -> None:
    image, ends, states = build_log()
    loader = Harness()
    result = replay(loader.db, image, progress=False)
    assert (result.status, result.valid_up_to, result.frames) == (OK, len(image), len(ends) - 1)
    assert snapshot(loader) == states[-1]
    assert states[-1][0, b"tx1"] == [(b"SET", b"tx1", b"a")]
    assert states[-1][2, b"s"] == [(b"SET", b"s", b"in db 2")]
    assert states[-1][5, b"l"] == [(b"RPUSH", b"l", b"z")]


@pytest.mark.slow
def test_a_cut_at_any_offset_loads_exactly_the_complete_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image, ends, states = build_log()
    path = tmp_path / "appendonly.aof"
    assert len(ends) == sum(step[0] != "SELECT" for step in SCRIPT) + 2  # the header, one frame per write
    assert len(image) > 700  # frames of several sizes
    for cut in range(len(image) + 1):
        path.write_bytes(image[:cut])
        complete = sum(1 for end in ends[1:] if end <= cut)  # frames wholly before the cut
        good = ends[complete] if cut >= len(HEADER) else 0
        loader = Harness()
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kvserver"):
            loaded = load_log(loader.db, str(path))
        # neither a torn frame accepted nor a complete one lost
        assert snapshot(loader) == states[complete], cut
        assert loaded == good, cut
        assert path.stat().st_size == good, cut  # the torn tail is cut off the file
        truncations = [r.getMessage() for r in caplog.records if "Truncating the AOF" in r.getMessage()]
        if cut == good:
            assert truncations == [], cut
        else:
            assert truncations == [f"!!! Truncating the AOF appendonly.aof at offset {good} !!!"], cut
        # and the scanner itself calls the rest torn, never corrupt
        scanner = FrameScanner(image[:cut])
        assert sum(1 for _ in scanner) == complete
        assert scanner.status == (OK if cut == good else TORN), cut


def test_a_canonical_set_after_a_select_lands_in_that_database() -> None:
    """``SET k v PXAT ms`` takes replay's fast path, which stores into the selected database's
    dicts: a SELECT just before it must have switched them (it landed in db 0 before)."""
    far = b"%d" % (NOW + 86_400_000)
    image = HEADER + encode_frame([[b"SELECT", b"3"], [b"SET", b"meta", b"r", b"PXAT", far]])
    image += encode_frame([[b"SELECT", b"0"], [b"SET", b"plain", b"p"]])
    loader = Harness()
    replay(loader.db, image, progress=False)
    assert loader("DBSIZE") == 1
    assert loader("GET", "plain") == b"p"
    assert loader("SELECT", "3") is not None
    assert loader("GET", "meta") == b"r"
    assert loader("PEXPIRETIME", "meta") == int(far)


def test_a_log_selecting_a_database_this_server_lacks_is_refused(tmp_path: Path) -> None:
    """A log written with more databases than this server has: rather than replay db 20's keys
    into another database, nothing is loaded and the server does not start."""
    path = tmp_path / "appendonly.aof"
    path.write_bytes(
        HEADER + encode_frame([[b"SET", b"a", b"0"]]) + encode_frame([[b"SELECT", b"20"], [b"SET", b"b", b"20"]])
    )
    with pytest.raises(CorruptLog, match="selects database 20"):
        load_log(Harness().db, str(path))
