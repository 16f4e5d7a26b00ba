"""CONFIG SET's phases in-process (commands/config.py): a failed apply puts every value of the
command back and applies again the ones already applied; unchanged values are not applied."""

from __future__ import annotations

from kvserver.commands.registry import CommandError
from kvserver.config import Config
from kvserver.database import Database
from kvserver.protocol import OK, ErrorReply


class Refusing:
    """The server's side of CONFIG SET (a ``ServerControl``): records each apply, refuses ``name``'s."""

    def __init__(self, name: str, applied: list[tuple[str, str]], config: Config) -> None:
        self.name = name
        self.applied = applied
        self.config = config

    def request_shutdown(self, save: bool | None) -> str | None:
        return "ERR not in this test"

    def config_changed(self, changed: str) -> None:
        self.applied.append((changed, self.config.get(changed)))
        if changed == self.name:
            raise CommandError(f"ERR CONFIG SET failed (possibly related to argument '{self.name}') - refused")


def refusing(name: str, applied: list[tuple[str, str]]) -> Database:
    """A Database whose server refuses ``name``'s new value."""
    config = Config()
    return Database(config, server=Refusing(name, applied, config))


def config_set(db: Database, *args: str) -> object:
    return db.execute(db.clients.new(), [b"CONFIG", b"SET", *(a.encode() for a in args)])


def test_a_failed_apply_restores_and_reapplies_the_others() -> None:
    applied: list[tuple[str, str]] = []
    db = refusing("maxclients", applied)
    reply = config_set(db, "timeout", "5", "slowlog-max-len", "7", "maxclients", "50", "hz", "20")
    assert isinstance(reply, ErrorReply)
    assert bytes(reply) == b"ERR CONFIG SET failed (possibly related to argument 'maxclients') - refused"
    assert [db.config.get(n) for n in ("timeout", "slowlog-max-len", "maxclients", "hz")] == ["0", "128", "10000", "10"]
    # applied in order up to the failure, then the applied ones again with their old values
    assert applied == [
        ("timeout", "5"),
        ("slowlog-max-len", "7"),
        ("maxclients", "50"),
        ("timeout", "0"),
        ("slowlog-max-len", "128"),
    ]
    assert db.monitoring.slowlog_max == 128  # the slow log was reconfigured back


def test_an_unchanged_value_is_not_applied_and_an_invalid_one_changes_nothing() -> None:
    applied: list[tuple[str, str]] = []
    db = refusing("maxclients", applied)
    assert config_set(db, "maxclients", "10000", "timeout", "3") == OK
    assert applied == [("timeout", "3")]
    reply = config_set(db, "timeout", "4", "hz", "x")
    assert isinstance(reply, ErrorReply)
    assert (
        bytes(reply)
        == b"ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer"
    )
    assert db.config.timeout == 3
    assert applied == [("timeout", "3")]
