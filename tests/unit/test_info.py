"""INFO's sections are a table (commands/info.py): which ones print for which arguments, in order."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvserver.commands import info
from kvserver.commands.registry import Context
from kvserver.database import Database
from kvserver.protocol import Verbatim

DEFAULT = [
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Modules",
    "Errorstats",
    "Cluster",
    "Keyspace",
]
EVERY = [*DEFAULT[:8], "Commandstats", "Errorstats", "Latencystats", *DEFAULT[9:]]


def headers(db: Database, *args: bytes) -> list[str]:
    client = db.clients.new()
    reply = db.execute(client, [b"INFO", *args])
    assert isinstance(reply, Verbatim)
    return [line[2:] for line in reply.decode().split("\r\n") if line.startswith("# ")]


@pytest.fixture
def extra_section() -> Iterator[None]:
    """A non-default section, as the next ones (commandstats, errorstats) will be."""

    @info.section("extrastats", default=False)
    def extrastats(ctx: Context) -> dict[str, object]:
        return {"answer": 42}

    yield
    del info.SECTIONS["extrastats"]


def test_default_sections_in_order() -> None:
    db = Database()
    assert headers(db) == DEFAULT
    assert headers(db, b"default") == DEFAULT
    assert headers(db, b"KEYSPACE", b"server") == ["Server", "Keyspace"]  # the table's order, not the request's
    assert headers(db, b"nosuchsection") == []


@pytest.mark.usefixtures("extra_section")
def test_a_declared_section_prints_only_when_asked_for() -> None:
    db = Database()
    assert headers(db) == DEFAULT
    assert headers(db, b"extrastats") == ["Extrastats"]
    assert headers(db, b"all") == [*EVERY, "Extrastats"]
    assert headers(db, b"everything") == [*EVERY, "Extrastats"]
    assert headers(db, b"default", b"extrastats") == [*DEFAULT, "Extrastats"]
    reply = db.execute(db.clients.new(), [b"INFO", b"extrastats"])
    assert reply == b"# Extrastats\r\nanswer:42\r\n"
