"""The dispatcher's checks against a real redis-server: MISCONF in MULTI/EXEC on a full disk,
no-multi commands, the command flags, and INCRBYFLOAT's long double arithmetic.

Each test runs the same commands against kvserver and redis-server 7.0 and compares the replies.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.commands import TABLE
from kvserver.protocol import encode_command
from tests.support import (
    RawClient,
    ServerProcess,
    assert_same_replies,
    fill_disk,
    read_raw_reply,
    redis_server_process,
    request,
    wait_for,
)

Spawn = Callable[..., ServerProcess]


# --- MISCONF inside MULTI / EXEC (a full disk) -------------------------------------------------


def misconf_script(port: int, data_dir: Path) -> list[bytes]:
    """Queue a write, fill the disk, make a write fail, then EXEC and try again: every reply."""
    queued_before, admin = RawClient(port), RawClient(port)
    replies = [request(admin, "SET", "before", "ok")]
    replies += [request(queued_before, "MULTI"), request(queued_before, "INCR", "ctr")]
    filler = fill_disk(data_dir)
    failing = RawClient(port)
    failing.send(encode_command("SET", "big", "x" * 100_000))  # its log write hits the full disk
    r = redis.Redis(port=port)
    wait_for(lambda: r.info("persistence")["aof_last_write_status"] == "err", timeout=20)
    replies.append(request(queued_before, "EXEC"))  # checked again at EXEC time
    replies += [request(admin, "MULTI"), request(admin, "INCR", "ctr"), request(admin, "PING")]
    replies += [request(admin, "GET", "before"), request(admin, "EXEC")]
    replies += [request(admin, "INCR", "ctr"), request(admin, "PING"), request(admin, "GET", "before")]
    replies += [request(admin, "MULTI"), request(admin, "GET", "before"), request(admin, "EXEC")]
    filler.unlink()
    wait_for(lambda: r.info("persistence")["aof_last_write_status"] == "ok", timeout=20)
    replies.append(read_raw_reply(failing))  # acknowledged once it is on disk
    replies.append(request(admin, "EXISTS", "ctr"))
    for client in (queued_before, admin, failing):
        client.close()
    r.close()
    return replies


@pytest.mark.external
@pytest.mark.slow
def test_misconf_refuses_queued_writes_and_exec_like_redis(spawn: Spawn, tmpfs: Callable[[str], Path]) -> None:
    kv_dir = tmpfs("512k")
    kv = spawn("--appendfsync", "always", data_dir=kv_dir)
    ours = misconf_script(kv.port, kv_dir)
    # Redis exits on an AOF write error with appendfsync always; everysec refuses writes like ours
    redis_dir = tmpfs("512k")
    real = redis_server_process(redis_dir, "--appendonly", "yes", "--appendfsync", "everysec").start()
    try:
        theirs = misconf_script(real.port, redis_dir)
    finally:
        real.terminate()
    misconf = b"-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    assert ours[3] == b"-EXECABORT Transaction discarded because of: " + misconf[1:]
    assert ours[5:7] == [misconf, misconf]  # the queued write and PING, refused at queue time
    assert ours == theirs
    kv.kill9()  # nothing of the refused transactions may come back
    restarted = spawn(data_dir=kv_dir)
    r = redis.Redis(port=restarted.port)
    assert r.exists("ctr") == 0
    assert r.get("before") == b"ok"
    r.close()


# --- commands not allowed in MULTI ---------------------------------------------------------------

NO_MULTI_SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    ("MULTI",),
    ("SET", "k", "1"),
    ("SHUTDOWN",),
    ("SHUTDOWN", "NOSAVE"),
    ("WATCH", "k"),
    ("MULTI",),
    ("EXEC",),
    ("EXISTS", "k"),
    ("MULTI",),
    ("WATCH", "k"),  # an error of WATCH itself: the transaction still runs
    ("SET", "k", "2"),
    ("EXEC",),
    ("GET", "k"),
]


@pytest.mark.external
def test_shutdown_inside_multi_is_refused_and_aborts_exec(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    assert_same_replies(kv_server, real_redis, False, NO_MULTI_SCRIPT)
    assert kv_server.alive()
    assert real_redis.alive()


# --- the command table's flags ---------------------------------------------------------------------


def command_info(port: int, names: list[str]) -> dict[str, tuple[object, ...]]:
    client = RawClient(port)
    client.send(encode_command("COMMAND", "INFO", *names))
    reply = client.read_reply()
    client.close()
    assert isinstance(reply, list)
    result: dict[str, tuple[object, ...]] = {}
    for name, entry in zip(names, reply, strict=True):
        if entry is not None:
            arity, flags, first, last, step = entry[1], entry[2], entry[3], entry[4], entry[5]
            result[name] = (arity, sorted(bytes(flag) for flag in flags), first, last, step)
    return result


@pytest.mark.external
def test_every_command_has_redis_flags_arity_and_key_positions(
    kv_server: ServerProcess, real_redis: ServerProcess
) -> None:
    names = [name for spec in TABLE.values() for name in [spec.name, *(s.name for s in spec.subcommands.values())]]
    ours = command_info(kv_server.port, names)
    theirs = command_info(real_redis.port, names)
    assert len(theirs) > 150
    mismatches = [
        f"{name}: redis {theirs[name]} kvserver {ours[name]}"
        for name in theirs  # (kvserver's few post-7.0 commands are not in Redis 7.0's table)
        if ours[name] != theirs[name]
    ]
    assert not mismatches, "\n".join(mismatches)


# --- INCRBYFLOAT: strtold parsing, long double sums, %.17Lf ----------------------------------------

INCRBYFLOAT_INPUTS = [
    "1e-1000000",  # underflows to zero: not a valid float
    "1e1000000",  # overflows: not a valid float (it raised decimal.Overflow and dropped the client)
    "0x1p3",
    "0X1.8P1",
    "0x.8",
    "0x",
    "1e400",  # fine in a long double
    "1e4932",
    "1.2e4932",
    "1e-4940",  # subnormal
    "1e-4952",
    "0x1p-16445",
    "0x1p-16446",  # exactly half the smallest subnormal: ties to even, so zero
    "0x1.8p-16446",
    "inf",
    "-Infinity",
    "nan",
    "0.1",
    "5.0e3",
    "3.0000000000000000000001",
    "0.000003814697265625",  # a tie at the 17th decimal
    "0.000011444091796875",
    "+5",
    "-0",
    ".5",
    "5.",
    ".",
    "1e",
    " 1",
    "1 ",
    "1_0",
    "infinit",
    "9007199254740993",
    "18446744073709551617",
    "1" * 5119,  # too long for a long double in any case
    "1" * 5120,  # past Redis's MAX_LONG_DOUBLE_CHARS
    "0." + "0" * 5000 + "1",
]


def incrbyfloat_script() -> list[tuple[str, ...]]:
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    for value in INCRBYFLOAT_INPUTS:
        script += [("DEL", "f"), ("INCRBYFLOAT", "f", value)]
    for base, delta in [("0.1", "0.2"), ("1e400", "1"), ("1e4932", "1e4932"), ("3", "-3.0000000000000000001")]:
        script += [("SET", "f", base), ("INCRBYFLOAT", "f", delta), ("GET", "f")]
    script += [("SET", "f", "0x10"), ("INCRBYFLOAT", "f", "1")]  # a stored hex float is read by strtold too
    script += [("SET", "f", "1e5000"), ("INCRBYFLOAT", "f", "1"), ("PING",)]
    return script


@pytest.mark.external
def test_incrbyfloat_matches_redis_long_double(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    assert_same_replies(kv_server, real_redis, False, incrbyfloat_script())
