"""Bitmaps and BITFIELD in process: the field arithmetic, the offset bound, and the log records."""

from __future__ import annotations

import pytest

from kvserver.commands.bitmaps import get_field, overflowed, set_field
from kvserver.config import Config
from tests.support import Harness, err


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_fields_read_and_write_most_significant_bit_first() -> None:
    value = bytearray(3)
    set_field(value, 5, 7, 0b1011001)
    assert value == bytearray([0b00000101, 0b10010000, 0])
    assert get_field(value, 5, 7) == 0b1011001
    assert get_field(value, 20, 16) == 0  # past the end reads as zeros
    assert get_field(None, 0, 64) == 0
    set_field(value, 0, 24, 0xFFFFFF)
    assert value == bytearray(b"\xff\xff\xff")


def test_overflow_modes() -> None:
    assert overflowed(128, True, 8, 0) == -128  # WRAP
    assert overflowed(-129, True, 8, 0) == 127
    assert overflowed(300, True, 8, 1) == 127  # SAT
    assert overflowed(-300, True, 8, 1) == -128
    assert overflowed(300, True, 8, 2) is None  # FAIL
    assert overflowed(256, False, 8, 0) == 0
    assert overflowed(-1, False, 8, 1) == 0
    assert overflowed(2**64, False, 63, 1) == 2**63 - 1
    assert overflowed(2**63, True, 64, 0) == -(2**63)
    assert overflowed(5, False, 3, 2) == 5


def test_setbit_logs_only_changes_and_growth(h: Harness) -> None:
    assert h("SETBIT", "k", "9", "1") == 0
    assert h("SETBIT", "k", "9", "1") == 1  # no change: not logged
    assert h("SETBIT", "k", "3", "0") == 0  # no change either, the string already holds bit 3
    assert h("SETBIT", "k", "30", "0") == 0  # grows the string: logged
    assert h("GET", "k") == b"\x00\x40\x00\x00"
    assert h.records() == [[b"SETBIT", b"k", b"9", b"1"], [b"SETBIT", b"k", b"30", b"0"]]


def test_bitop_logs_itself_and_deletes_the_destination_of_an_empty_result(h: Harness) -> None:
    h("SET", "a", "\x0f")
    h("SET", "dest", "x", "EX", "100")
    assert h("BITOP", "NOT", "dest", "a") == 1
    assert h("GET", "dest") == b"\xf0"
    assert h("TTL", "dest") == -1
    assert h("BITOP", "AND", "dest", "nothing") == 0
    assert h("EXISTS", "dest") == 0
    assert h("BITOP", "AND", "dest", "nothing") == 0  # nothing to delete: not logged
    assert h.records()[-2:] == [[b"BITOP", b"NOT", b"dest", b"a"], [b"BITOP", b"AND", b"dest", b"nothing"]]


def test_bitfield_logs_writes_and_refuses_them_read_only(h: Harness) -> None:
    assert h("BITFIELD", "k", "GET", "u8", "0") == [0]
    assert h("EXISTS", "k") == 0
    assert h("BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "7") == [None]
    assert h("GET", "k") == b"\x00"  # created, as Redis creates it, and logged so replay agrees
    assert h("BITFIELD", "k", "INCRBY", "u2", "0", "1", "GET", "u2", "0") == [1, 1]
    assert h("BITFIELD_RO", "k", "SET", "u2", "0", "1") == err("ERR BITFIELD_RO only supports the GET subcommand")
    assert h("BITFIELD_RO", "k", "GET", "i2", "0") == [1]
    assert [record[0] for record in h.records()] == [b"BITFIELD", b"BITFIELD"]


def test_offsets_are_bounded_by_proto_max_bulk_len() -> None:
    h = Harness(Config(proto_max_bulk_len=1024 * 1024))
    assert h("SETBIT", "k", str(8 * 1024 * 1024), "1") == err("ERR bit offset is not an integer or out of range")
    assert h("BITFIELD", "k", "SET", "u8", "#1048576", "1") == err("ERR bit offset is not an integer or out of range")
    assert h("SETBIT", "k", str(8 * 1024 * 1024 - 1), "1") == 0
    assert h("STRLEN", "k") == 1024 * 1024
