"""Startup order and the data directory: one server per directory (a lock), the port bound
before the log is replayed, a log that is not a regular file refused."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from kvserver.aof_format import HEADER, encode_frame
from tests.support import ServerProcess, free_port, kvserver_process, load_keys, wait_for

Spawn = Callable[..., ServerProcess]


def run_to_exit(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    server = kvserver_process(data_dir, *extra)
    return subprocess.run(server.argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.slow
def test_second_server_on_the_same_directory_stops_before_reading_the_log(spawn: Spawn, tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    first = spawn(data_dir=data_dir)
    r = redis.Redis(port=first.port)
    for i in range(100):
        r.set(f"k{i}", i)
    log_path = data_dir / "appendonly.aof"
    image = log_path.read_bytes()
    for port in (str(first.port), "0"):  # the same port (Redis would fail on the bind) or another
        second = run_to_exit(data_dir, "--port", port)
        assert second.returncode == 1
        assert f"The data directory '{data_dir}' is in use by another kvserver (pid {first.pid}" in second.stdout
        assert "DB loaded" not in second.stdout  # it never replayed the live log
        assert log_path.read_bytes() == image
    r.set("still", "served")
    assert r.dbsize() == 101
    r.close()
    first.kill9()  # the lock goes with the process, even on kill -9
    restarted = spawn(data_dir=data_dir)
    assert redis.Redis(port=restarted.port).get("still") == b"served"


def test_a_fifo_in_place_of_the_log_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "fifo"
    data_dir.mkdir()
    os.mkfifo(data_dir / "appendonly.aof")
    result = run_to_exit(data_dir)
    assert result.returncode == 1
    assert f"The append only file {data_dir / 'appendonly.aof'} is not a regular file, aborting" in result.stdout


@pytest.mark.slow
def test_the_port_is_bound_before_the_replay_and_early_clients_are_served_after_it(
    spawn: Spawn, tmp_path: Path
) -> None:
    data_dir = tmp_path / "early"
    server = spawn(data_dir=data_dir)
    load_keys(server.port, 200_000, 2_000_000_000_000)
    server.kill9()
    port = free_port()
    restarting = kvserver_process(data_dir, "--port", str(port))
    log_offset = restarting.log_path.stat().st_size
    with restarting.log_path.open("ab") as log:  # started by hand: the test races the replay
        proc = subprocess.Popen(restarting.argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "Running mode=standalone" in restarting.log()[log_offset:], timeout=20, interval=0.001)
        early = socket.create_connection(("127.0.0.1", port), timeout=30)  # accepted by the backlog
        early.sendall(b"*1\r\n$6\r\nDBSIZE\r\n")
        assert early.recv(64) == b":200000\r\n"  # answered once the whole log is loaded
        early.close()
        text = restarting.log()[log_offset:]
        assert text.index("Running mode=standalone") < text.index("DB loaded") < text.index("Ready to accept")
    finally:
        proc.kill()
        proc.wait()


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/<pid>/status")


@pytest.mark.slow
def test_replay_streams_the_log_instead_of_reading_it_whole(spawn: Spawn, tmp_path: Path) -> None:
    """128 MB of log over 1000 keys: the replay holds one frame at a time, not the file."""
    data_dir = tmp_path / "stream"
    data_dir.mkdir()
    value = b"x" * 1000
    size = 0
    with (data_dir / "appendonly.aof").open("wb") as log:
        log.write(HEADER)
        i = 0
        while size < 128 << 20:
            frame = encode_frame([[b"SET", b"key:%d" % ((i + j) % 1000), value] for j in range(64)])
            log.write(frame)
            size += len(frame)
            i += 64
    server = spawn(data_dir=data_dir)
    assert redis.Redis(port=server.port).dbsize() == 1000
    peak_mb = peak_rss_kb(server.pid) / 1024
    print(f"\npeak RSS after replaying a {size >> 20} MB log: {peak_mb:.0f} MB")
    assert peak_mb < 96  # reading the file whole took more than the file's 128 MB


@pytest.mark.slow
def test_check_aof_fix_refuses_a_log_a_running_server_appends_to(spawn: Spawn, tmp_path: Path) -> None:
    import sys

    data_dir = tmp_path / "live"
    server = spawn(data_dir=data_dir)
    redis.Redis(port=server.port).set("k", "v")
    log_path = data_dir / "appendonly.aof"
    with log_path.open("ab") as log:
        log.write(b"\x01\x02")  # a torn tail --fix would cut
    image = log_path.read_bytes()
    command = [sys.executable, "-m", "kvserver", "check-aof", "--fix", str(log_path)]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 1
    assert f"is in use by a running kvserver (pid {server.pid})" in refused.stdout
    assert log_path.read_bytes() == image
    server.kill9()
    fixed = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert fixed.returncode == 0, fixed.stdout
