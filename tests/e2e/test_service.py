"""Running as a service: pidfile, daemonize, logfile reopening, clean shutdown on signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.support import ServerProcess, kvserver_process, process_gone, wait_for


def test_pidfile_is_written_at_startup_and_removed_at_shutdown(tmp_path: Path) -> None:
    pidfile = tmp_path / "kv.pid"
    server = kvserver_process(tmp_path / "data", "--appendonly", "no", "--pidfile", str(pidfile)).start()
    assert pidfile.read_text() == f"{server.pid}\n"
    assert server.terminate() == 0
    assert not pidfile.exists()


@pytest.mark.slow
def test_daemonize_detaches_then_writes_the_pidfile(tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "kv.pid", tmp_path / "kv.log"
    argv = [sys.executable, "-m", "kvserver", "--daemonize", "yes", "--pidfile", str(pidfile)]
    argv += ["--logfile", str(logfile), "--port", "0", "--dir", str(tmp_path / "data"), "--appendonly", "no"]
    # the command returns at once (the parent exits); the daemon serves on
    launcher = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert launcher.returncode == 0
    assert launcher.stdout == launcher.stderr == ""
    wait_for(lambda: pidfile.exists() and pidfile.read_text().endswith("\n"))
    pid = int(pidfile.read_text())
    try:
        # detached: a session of its own (a double fork: not its leader, so it can't get a terminal)
        assert os.getsid(pid) != os.getsid(0)
        assert os.getsid(pid) != pid
        wait_for(lambda: "Ready to accept connections" in logfile.read_text())
        match = re.search(r"port=(\d+)\.", logfile.read_text())
        assert match is not None
        assert f"{pid}:M " in logfile.read_text()
        r = redis.Redis(port=int(match.group(1)))
        assert r.set("k", "v")
        r.close()
    finally:
        os.kill(pid, signal.SIGTERM)  # stopped by the pid it wrote
    wait_for(lambda: process_gone(pid))
    assert not pidfile.exists()
    assert "ready to exit, bye bye" in logfile.read_text()


def test_sighup_reopens_the_log_file(tmp_path: Path) -> None:
    logfile = tmp_path / "kv.log"
    argv = kvserver_process(tmp_path / "data", "--appendonly", "no", "--logfile", str(logfile)).argv
    server = ServerProcess(argv, logfile, r"port=(\d+)\.").start()  # (its standard output: nothing)
    try:
        rotated = tmp_path / "kv.log.1"
        logfile.rename(rotated)  # what logrotate does, then it sends SIGHUP
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: logfile.exists() and "Received SIGHUP, reopened the log file" in logfile.read_text())
        assert server.alive()
        assert "Ready to accept connections" in rotated.read_text()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0
        assert "ready to exit, bye bye" in logfile.read_text()
        assert "bye bye" not in rotated.read_text()
    finally:
        if server.alive():
            server.kill9()
