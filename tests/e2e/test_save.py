"""SAVE, BGSAVE, LASTSAVE without an RDB: they save the append-only log (fsync, then compaction)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.support import ServerProcess, command, wait_for

Spawn = Callable[..., ServerProcess]


def info(r: redis.Redis, field: str) -> int:
    return int(r.info("persistence")[field])


@pytest.mark.slow
def test_save_and_bgsave_compact_the_log_and_move_lastsave(spawn: Spawn, tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = spawn("--appendfsync", "everysec", data_dir=data)
    r = redis.Redis(port=server.port)
    started = r.lastsave()
    for i in range(300):
        r.set("k", f"value-{i}")  # 300 records for one key: a rewrite keeps one
    log_file = data / "appendonly.aof"
    before = log_file.stat().st_size
    wait_for(lambda: int(time.time()) > started.timestamp())  # LASTSAVE counts seconds: a later save shows a later one
    assert r.bgsave() is True  # "Background saving started"
    wait_for(lambda: info(r, "aof_rewrites") == 1 and info(r, "aof_rewrite_in_progress") == 0)
    assert log_file.stat().st_size < before / 10
    assert r.lastsave() > started
    r.set("k", "last")
    assert r.save() is True
    wait_for(lambda: info(r, "aof_rewrites") == 2 and info(r, "aof_rewrite_in_progress") == 0)
    assert r.bgsave(schedule=True) is True
    wait_for(lambda: info(r, "aof_rewrites") == 3 and info(r, "aof_rewrite_in_progress") == 0)
    assert not list(data.glob("*.rdb"))  # never an RDB file
    r.close()
    assert server.terminate() == 0
    again = spawn("--appendfsync", "everysec", data_dir=data)
    assert redis.Redis(port=again.port).get("k") == b"last"


def test_without_a_log_there_is_nothing_to_save_to(spawn: Spawn) -> None:
    server = spawn("--appendonly", "no")
    r = redis.Redis(port=server.port)
    expected = "nothing to save to: appendonly is no and kvserver writes no RDB snapshot"
    for argv in (("SAVE",), ("BGSAVE",), ("BGSAVE", "SCHEDULE")):
        with pytest.raises(redis.ResponseError, match=expected):
            command(r, *argv)
    assert abs(r.lastsave().timestamp() - time.time()) < 60  # the startup
    r.close()


@pytest.mark.parametrize("server", ["kv_server", "real_redis"])
def test_bad_arguments_as_in_redis(server: str, request: pytest.FixtureRequest) -> None:
    process: ServerProcess = request.getfixturevalue(server)
    r = redis.Redis(port=process.port)
    with pytest.raises(redis.ResponseError) as info_:
        command(r, "BGSAVE", "NOW")
    assert str(info_.value) == "syntax error"
    with pytest.raises(redis.ResponseError) as info_:
        command(r, "SAVE", "x")
    assert str(info_.value) == "wrong number of arguments for 'save' command"
    with pytest.raises(redis.ResponseError) as info_:
        command(r, "LASTSAVE", "x")
    assert str(info_.value) == "wrong number of arguments for 'lastsave' command"
    r.close()
