"""The testing helper shipped with the library (kvsession.testing), used as an application would:
the pytest fixture and the context manager, kill -9, restart on the same data, a stall."""

from __future__ import annotations

import pytest

from kvsession import SessionStore, StoreTimeout
from kvsession.testing import KvServer, ephemeral_range_start, free_port, kvserver, running_kvserver

__all__ = ["kvserver"]  # the fixture, imported as a user's conftest.py would


@pytest.mark.slow
def test_the_fixture_restarts_on_the_same_port_and_data(kvserver: KvServer) -> None:
    with SessionStore.from_url(kvserver.url, timeout=0.5) as store:
        session = store.create("alice", {"cart": ["book"]})
        port = kvserver.port
        kvserver.kill9()
        assert not kvserver.alive()
        kvserver.start()
        assert kvserver.port == port
        assert store.get(session.token).data == {"cart": ["book"]}  # type: ignore[arg-type, union-attr]
        kvserver.pause()
        try:
            with pytest.raises(StoreTimeout):
                store.get(session.token)  # type: ignore[arg-type]
        finally:
            kvserver.resume()
        assert kvserver.restart().url == f"redis://127.0.0.1:{port}/0"
        assert store.get(session.token) is not None  # type: ignore[arg-type]


def test_the_context_manager_cleans_up() -> None:
    with running_kvserver() as server:
        data_dir = server.data_dir
        with SessionStore.from_url(server.url) as store:
            assert store.get(store.create("bob").token) is not None  # type: ignore[arg-type]
        assert data_dir.exists()
    assert not server.alive()
    assert not data_dir.exists()


def test_a_free_port_is_below_the_ephemeral_range() -> None:
    """So a server restarted on it gets it back: no parallel test's ``--port 0`` server or
    outgoing connection can be given a port below the range while that server is down."""
    low = ephemeral_range_start()
    if low == 0:
        pytest.skip("no /proc/sys/net/ipv4/ip_local_port_range here")
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= port < low for port in ports)
    assert len(ports) > 1  # random in the range, not one fixed port two tests could share
