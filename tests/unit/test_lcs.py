"""LCS's bit-parallel table and its walk back, against the plain dynamic programme Redis runs."""

from __future__ import annotations

import random

from kvserver.commands.strings import _lcs_walk, _LcsTable

Range = tuple[int, int, int, int, int]


def redis_lcs(a: bytes, b: bytes, min_match: int) -> tuple[bytes, list[Range]]:
    """lcsCommand of Redis 7.0's t_string.c, transcribed: the full table, then the walk back."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    i, j = len(a), len(b)
    write = table[i][j]
    out = bytearray(write)
    ranges: list[Range] = []
    unset = len(a)
    a_start, a_end, b_start, b_end = unset, 0, 0, 0
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            out[write - 1] = a[i - 1]
            if a_start == unset:
                a_start = a_end = i - 1
                b_start = b_end = j - 1
            elif a_start == i and b_start == j:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            write, i, j = write - 1, i - 1, j - 1
        else:
            if table[i - 1][j] > table[i][j - 1]:
                i -= 1
            else:
                j -= 1
            if a_start != unset:
                emit = True
        if emit:
            length = a_end - a_start + 1
            if min_match == 0 or length >= min_match:
                ranges.append((a_start, a_end, b_start, b_end, length))
            a_start = unset
    return bytes(out), ranges


def test_every_cell_of_the_table_is_the_lcs_of_the_prefixes() -> None:
    rng = random.Random(1)
    for _ in range(200):
        a = bytes(rng.choice(b"abc") for _ in range(rng.randint(0, 15)))
        b = bytes(rng.choice(b"abcd") for _ in range(rng.randint(0, 15)))
        table = _LcsTable(a, b)
        for i in range(len(a) + 1):
            for j in range(len(b) + 1):
                assert table(i, j) == redis_lcs(a[:i], b[:j], 0)[0].__len__()


def test_the_walk_gives_redis_string_and_ranges_whichever_string_is_longer() -> None:
    rng = random.Random(2)
    for _ in range(2000):
        alphabet = rng.choice([b"a", b"ab", b"abc", b"abcdefgh"])
        a = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        b = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        min_match = rng.randint(0, 3)
        assert _lcs_walk(a, b, _LcsTable(a, b), min_match, True) == redis_lcs(a, b, min_match), (a, b)


def test_a_long_string_against_a_short_one_takes_few_steps() -> None:
    a, b = b"x" + b"y" * 200_000, b"yx"
    assert _lcs_walk(a, b, _LcsTable(a, b), 0, True) == (b"y", [(200_000, 200_000, 0, 0, 1)])
    assert _lcs_walk(b, a, _LcsTable(b, a), 0, True) == (b"x", [(1, 1, 0, 0, 1)])
