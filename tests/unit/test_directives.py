"""The directive catalogue and the loader, in-process: no server, no files."""

from __future__ import annotations

import pytest

from kvserver.conffile import ConfFileError, command_line_to_text
from kvserver.config import BY_NAME
from kvserver.directives import BY_REDIS_NAME, DIRECTIVES, KVSERVER, load, lookup


def test_the_command_line_overrides_the_file_and_the_last_occurrence_wins() -> None:
    loaded = load("port 7000\nhz 20\nhz 30\n" + "\n" + command_line_to_text(["--port", "7001"])[1])
    assert (loaded.config.port, loaded.config.hz) == (7001, 30)


def test_multi_argument_directives_take_one_or_several_arguments() -> None:
    assert load('bind 127.0.0.1 ::1\nsave "900 1"').config.bind == "127.0.0.1 ::1"
    assert load("save 900 1 300 10").config.save == "900 1 300 10"
    assert load('save ""').config.save == ""


def test_ignored_directives_say_why_once_under_the_name_as_written() -> None:
    loaded = load("rdbcompression yes\nrdbcompression no\nslave-read-only yes\nlist-max-ziplist-entries 512")
    assert set(loaded.ignored) == {"rdbcompression", "replica-read-only", "list-max-ziplist-entries"}
    assert loaded.ignored["rdbcompression"].startswith("Ignoring 'rdbcompression no': kvserver keeps no RDB")
    assert loaded.ignored["replica-read-only"] == "Ignoring 'slave-read-only yes': kvserver has no replication"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("nosuchthing 1", "Bad directive or wrong number of arguments"),
        ("port", "wrong number of arguments"),
        ("port 1 2", "wrong number of arguments"),
        ("rdbchecksum 1 2", "wrong number of arguments"),
        ("rdbchecksum perhaps", "argument must be 'yes' or 'no'"),
        ("port 99999", "argument must be between 0 and 65535 inclusive"),
        ("cluster-enabled yes", "'cluster-enabled yes' is not supported: kvserver has no cluster mode"),
        ("slaveof 10.0.0.1 6379", "'slaveof 10.0.0.1 6379' is not supported: kvserver has no replication"),
    ],
)
def test_bad_lines_are_redis_fatal_errors(text: str, reason: str) -> None:
    with pytest.raises(ConfFileError) as info:
        load("# a comment\n" + text)
    assert info.value.reason == reason
    assert info.value.line == 2
    assert str(info.value).endswith(f"at line 2\n>>> '{text}'\n{reason}")


def test_harmless_values_of_refusable_directives_are_accepted() -> None:
    loaded = load("cluster-enabled no\ntls-port 0\nreplicaof no one")
    assert set(loaded.ignored) == {"cluster-enabled", "tls-port", "replicaof"}


def test_every_catalogue_entry_is_implemented_or_says_why_not() -> None:
    for entry in DIRECTIVES:
        if entry.reason == KVSERVER:
            assert entry.name in BY_NAME, entry.name
        else:
            assert entry.reason.strip(), entry.name
    for name in BY_NAME:  # kvserver's own parameters are all Redis directives
        assert name in BY_REDIS_NAME, name
    assert lookup("slave-priority") is BY_REDIS_NAME["replica-priority"]
    assert lookup("port") is BY_NAME["port"]
