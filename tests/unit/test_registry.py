"""The one way to declare a command (commands/registry.py): ``@command`` for one command, for the
variants of one handler, for a subcommand, with its HELP as data; ``container`` for a parent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kvserver.commands import TABLE
from kvserver.commands.registry import DEPENDS_ON_SUBCOMMAND, Variant, command, container
from kvserver.database import Database
from kvserver.protocol import SimpleString
from kvserver.state import ClientState

NAMES = ("xpushl", "xpushr", "xparent")


@pytest.fixture
def scratch() -> Iterator[None]:
    yield
    for name in NAMES:
        TABLE.pop(name, None)


@pytest.mark.usefixtures("scratch")
def test_variants_are_commands_of_one_handler() -> None:
    @command(
        [
            Variant("xpushl", "Push on the left", left=True),
            Variant("xpushr", "Push on the right", since="2.0.0", complexity="O(N)", left=False),
        ],
        -3,
        ("write", "fast"),
        group="list",
        since="1.0.0",
    )
    def push(ctx: object, client: ClientState, argv: list[bytes], *, left: bool) -> object:
        return b"left" if left else b"right"

    left, right = TABLE["xpushl"], TABLE["xpushr"]
    assert (left.summary, left.since, left.complexity) == ("Push on the left", "1.0.0", "O(1)")
    assert (right.summary, right.since, right.complexity) == ("Push on the right", "2.0.0", "O(N)")
    assert left.flags == right.flags == frozenset({"write", "fast"})
    assert (left.arity, left.first_key, left.last_key, left.step) == (-3, 1, 1, 1)
    db = Database()
    client = db.clients.new()
    assert db.execute(client, [b"XPUSHL", b"k", b"v"]) == b"left"
    assert db.execute(client, [b"xpushr", b"k", b"v"]) == b"right"


@pytest.mark.usefixtures("scratch")
def test_a_container_declares_its_help_which_stays_the_last_subcommand() -> None:
    container("xparent", -2, group="server", since="1.0.0", summary="A container", help=["ONE", "    The first."])

    @command("one", 2, keys=(0, 0, 0), group="server", parent="xparent", summary="The first")
    def one(ctx: object, client: ClientState, argv: list[bytes]) -> object:
        return 1

    @command("two", 2, keys=(0, 0, 0), group="server", parent="xparent", summary="The second")
    def two(ctx: object, client: ClientState, argv: list[bytes]) -> object:
        return 2

    parent = TABLE["xparent"]
    assert parent.handler is None
    assert parent.complexity == DEPENDS_ON_SUBCOMMAND
    assert list(parent.subcommands) == [b"one", b"two", b"help"]
    helper = parent.subcommands[b"help"]
    assert (helper.name, helper.arity, helper.since, helper.flags) == (
        "xparent|help",
        2,
        "5.0.0",
        frozenset({"loading", "stale"}),
    )
    db = Database()
    client = db.clients.new()
    assert db.execute(client, [b"XPARENT", b"two"]) == 2
    assert db.execute(client, [b"xparent", b"HELP"]) == [
        SimpleString(b"XPARENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"),
        SimpleString(b"ONE"),
        SimpleString(b"    The first."),
        SimpleString(b"HELP"),
        SimpleString(b"    Prints this help."),
    ]


def test_every_command_in_the_table_is_declared_whole() -> None:
    """Nothing is left for code to fill in after registration: a spec without a handler only
    dispatches to subcommands, and every parent has its HELP, last (as COMMAND DOCS lists it)."""
    for spec in TABLE.values():
        assert spec.handler is not None or spec.subcommands, spec.name
        if spec.subcommands:
            assert list(spec.subcommands)[-1] == b"help", spec.name
            assert spec.complexity == DEPENDS_ON_SUBCOMMAND, spec.name
            assert all(sub.handler is not None for sub in spec.subcommands.values()), spec.name
