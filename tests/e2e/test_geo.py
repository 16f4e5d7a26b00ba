"""GEO commands against kvserver and a real redis-server side by side, reply bytes compared (RESP2
and RESP3): every command and error, seeded random searches (ties included), COMMAND INFO and
GETKEYS; and the GEO keys' survival of kill -9 and of a rewrite."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from tests.e2e.test_notifications import run_script as run_notification_script
from tests.support import ServerProcess, assert_same_replies, command, redis_server_process, wait_for

Spawn = Callable[..., ServerProcess]
SICILY = ("13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")

SCRIPT: list[tuple[str, ...]] = [
    ("FLUSHALL",),
    # --- GEOADD
    ("GEOADD", "Sicily", *SICILY),
    ("GEOADD", "Sicily", "200", "100", "x"),
    ("GEOADD", "Sicily", "inf", "1", "x"),
    ("GEOADD", "Sicily", "1", "-85.06", "x"),
    ("GEOADD", "Sicily", "nan", "1", "x"),
    ("GEOADD", "Sicily", "1", "abc", "x"),
    ("GEOADD", "Sicily", "NX", "XX", "1", "2", "x"),
    ("GEOADD", "Sicily", "CH", "1", "2"),
    ("GEOADD", "Sicily", "1", "2"),
    ("GEOADD", "Sicily", "CH", "XX", "13", "38", "Palermo", "1", "1", "nobody"),
    ("GEOADD", "Sicily", "NX", "CH", "13.5", "38", "Palermo", "14", "37", "Enna"),
    ("GEOADD", "Sicily", "GT", "13", "38", "Palermo"),
    ("GEOADD", "Sicily", "13", "38", "Palermo", "200", "0", "bad"),
    ("ZRANGE", "Sicily", "0", "-1", "WITHSCORES"),
    # --- GEOPOS, GEODIST, GEOHASH
    ("GEOPOS", "Sicily", "Palermo", "nope", "Catania"),
    ("GEOPOS", "nokey", "a"),
    ("GEOPOS", "Sicily"),
    ("GEODIST", "Sicily", "Palermo", "Catania"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "KM"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "mi"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "ft"),
    ("GEODIST", "Sicily", "Palermo", "Palermo"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "x"),
    ("GEODIST", "Sicily", "Palermo", "Catania", "m", "x"),
    ("GEODIST", "Sicily", "Palermo", "nope"),
    ("GEODIST", "nokey", "a", "b"),
    ("GEODIST", "nokey", "a", "b", "bad"),
    ("GEOHASH", "Sicily", "Palermo", "Catania", "nope"),
    ("GEOHASH", "nokey", "a"),
    ("GEOHASH", "Sicily"),
    # --- wrong types
    ("SET", "str", "v"),
    ("GEOPOS", "str", "a"),
    ("GEOHASH", "str", "a"),
    ("GEODIST", "str", "a", "b"),
    ("GEOADD", "str", "1", "2", "a"),
    ("GEOSEARCH", "str", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "m"),
    ("GEORADIUS", "str", "1", "200", "1", "m"),
    ("GEOSEARCHSTORE", "dst", "str", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "m"),
    # --- GEORADIUS and its options
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "WITHCOORD", "WITHHASH", "ASC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHHASH", "WITHCOORD", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHDIST", "DESC"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "1", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "ANY"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "0"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "-3"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT", "x"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "COUNT"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "BOGUS"),
    ("GEORADIUS", "Sicily", "15", "37", "-1", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "x", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "1", "parsec"),
    ("GEORADIUS", "Sicily", "15", "137", "1", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "0", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "200"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst"),
    ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STOREDIST", "dst"),
    ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE", "dst", "WITHDIST"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "STORE"),
    ("GEORADIUS", "Sicily", "15", "37", "1", "m", "STORE", "dst"),
    ("EXISTS", "dst"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "STORE", "dst"),
    ("GEORADIUS_RO", "Sicily", "15", "37", "200", "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "200", "km", "WITHDIST"),
    ("GEORADIUSBYMEMBER", "Sicily", "nope", "200", "km"),
    ("GEORADIUSBYMEMBER", "Sicily", "Palermo", "x", "km"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "200", "kmx"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "200", "km", "STORE", "dst"),
    ("GEORADIUSBYMEMBER", "nokey", "nope", "200", "km", "ANY"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "100", "km"),
    ("GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "100", "km", "STOREDIST", "x"),
    # --- GEOSEARCH, GEOSEARCHSTORE
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHCOORD", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "BYRADIUS", "400", "km", "DESC", "WITHHASH"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "Palermo", "FROMLONLAT", "1", "2", "BYRADIUS", "400", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "2", "FROMMEMBER", "Palermo", "BYRADIUS", "400", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "1", "2", "BYRADIUS", "400", "km", "BYBOX", "1", "1", "m"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "400", "km", "FROMLONLAT"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "400", "km", "ASC", "ASC"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "WITHDIST", "ASC"),
    ("GEOSEARCH", "Sicily", "BYRADIUS", "400", "km"),
    ("GEOSEARCH", "Sicily", "FROMMEMBER", "nope", "BYRADIUS", "1", "m"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nope", "BYRADIUS", "1", "m"),
    ("GEOSEARCH", "nokey", "FROMMEMBER", "nope", "BYRADIUS", "1", "m", "ANY"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "-1", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "x", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "x", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "1", "yd"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "1"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "STORE", "x"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "km", "STOREDIST"),
    ("GEOSEARCHSTORE", "d2", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STOREDIST"),
    ("ZRANGE", "d2", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "d2", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "900", "900", "km", "COUNT", "2", "DESC"),
    ("ZRANGE", "d2", "0", "-1", "WITHSCORES"),
    ("GEOSEARCHSTORE", "d2", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHDIST"),
    ("GEOSEARCHSTORE", "d2", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STORE", "x"),
    ("GEOSEARCHSTORE", "d2", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "1", "m"),
    ("EXISTS", "d2"),
    ("SET", "d3", "x", "EX", "100"),
    ("GEOSEARCHSTORE", "d3", "Sicily", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km"),
    ("TTL", "d3"),
    ("TYPE", "d3"),
    ("SET", "d3", "x"),
    ("GEOSEARCHSTORE", "d3", "nokey", "FROMMEMBER", "a", "BYRADIUS", "1", "m"),
    ("EXISTS", "d3"),
    # --- the edges of the map, and scores GEOADD never writes
    ("GEOADD", "z", "0", "85.05112878", "n", "0", "-85.05112878", "s", "180", "0", "e", "-180", "0", "w"),
    ("GEOPOS", "z", "n", "s", "e", "w"),
    ("GEOHASH", "z", "n", "s", "e", "w"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("GEODIST", "z", "n", "s"),
    ("GEODIST", "z", "e", "w"),
    ("GEOSEARCH", "z", "FROMLONLAT", "179.9", "0", "BYRADIUS", "100", "km", "WITHDIST"),
    ("GEOSEARCH", "z", "FROMLONLAT", "0", "85", "BYBOX", "30000", "100", "km", "WITHDIST"),
    ("GEORADIUS", "z", "0", "0", "20000", "km", "WITHDIST", "ASC"),
    ("ZADD", "weird", "-5", "a", "1e30", "b", "3.7", "c", "inf", "d", "-inf", "e", "0.5", "f"),
    ("GEOPOS", "weird", "a", "b", "c", "d", "e", "f"),
    ("GEOHASH", "weird", "a", "b", "c", "d", "e", "f"),
    ("GEORADIUS", "weird", "-180", "-85", "50", "km", "WITHCOORD", "WITHHASH"),
    ("ZADD", "weird", "-1e300", "g", "9.3e18", "h", "1.9e19", "i"),
    ("GEOPOS", "weird", "g", "h", "i"),
    ("GEOSEARCH", "weird", "FROMMEMBER", "i", "BYBOX", "100", "100", "km", "WITHHASH", "WITHCOORD"),
    # --- infinite and world-sized areas (libm's NaNs), antipodes
    ("GEORADIUS", "Sicily", "15", "37", "inf", "km"),
    ("GEORADIUS", "Sicily", "15", "37", "1e308", "mi", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "inf", "1", "km"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "1", "inf", "km", "WITHDIST"),
    ("GEOSEARCH", "Sicily", "FROMLONLAT", "15", "37", "BYBOX", "inf", "inf", "km"),
    ("GEOADD", "anti", "0", "0", "a", "180", "0", "b", "90", "0", "d", "-90", "0", "e", "180", "-85.05112878", "s"),
    ("GEODIST", "anti", "a", "b"),
    ("GEODIST", "anti", "d", "e"),
    ("GEORADIUS", "anti", "0", "0", "20037", "km", "WITHDIST", "ASC"),
    ("GEOSEARCH", "anti", "FROMLONLAT", "0", "0", "BYBOX", "40075", "40075", "km", "WITHDIST", "ASC"),
    ("GEOSEARCH", "anti", "FROMLONLAT", "0", "85", "BYRADIUS", "1e10", "km", "WITHDIST", "DESC"),
    ("GEOSEARCH", "anti", "FROMLONLAT", "0", "-85", "BYBOX", "1e7", "1e7", "km", "WITHDIST", "ASC"),
    # --- numbers as strtod reads them: hexadecimal, and the overflows and underflows it refuses
    *[
        step
        for number in ("0x10", "0x1p3", "+0x.8", "0x", "1e400", "-1e-400", "1e-320", "0x1p-2000", "0x1p2000", "0e-400")
        for step in (("GEORADIUS", "Sicily", "15", "37", number, "km"), ("GEOADD", "h", number, "1", "m"))
    ],
    ("GEOPOS", "h", "m"),
    # --- inside MULTI
    ("MULTI",),
    ("GEOPOS", "Sicily", "Palermo"),
    ("GEODIST", "Sicily", "Palermo", "Catania"),
    ("GEOADD", "Sicily", "1", "2", "x"),
    ("GEORADIUS", "Sicily", "15", "37", "200", "km", "WITHCOORD", "STORE", "y"),
    ("EXEC",),
    # --- COMMAND GETKEYS (movable keys)
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a", "STOREDIST", "b"),
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE", "a", "STORE", "b"),
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m"),
    ("COMMAND", "GETKEYS", "GEORADIUS", "k", "1", "2", "3", "m", "STORE"),
    ("COMMAND", "GETKEYS", "GEORADIUSBYMEMBER", "k", "1", "2", "m", "store", "a"),
    ("COMMAND", "GETKEYS", "GEORADIUS_RO", "k", "1", "2", "3", "m"),
    ("COMMAND", "GETKEYS", "GEOSEARCHSTORE", "d", "k", "FROMLONLAT", "1", "2", "BYRADIUS", "1", "m"),
    ("COMMAND", "GETKEYS", "GEOADD", "k", "1", "2", "m"),
]


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_geo_replies_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, SCRIPT)


def random_script(seed: int, points: int, queries: int) -> list[tuple[str, ...]]:
    """Seeded points (a fifth of them on another's place, so distances tie; a cluster near 11,41)
    and searches of every form and option, the STORE results read back."""
    rng = random.Random(seed)
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    placed: list[tuple[float, float]] = []
    for n in range(points):
        lon, lat = rng.uniform(-180, 180), rng.uniform(-85.05, 85.05)
        if n % 5 == 0 and placed:
            lon, lat = rng.choice(placed)
        elif n % 3 == 0:
            lon, lat = rng.uniform(10.9, 11.1), rng.uniform(40.9, 41.1)
        placed.append((lon, lat))
        script.append(("GEOADD", "pts", repr(lon), repr(lat), f"m{n}"))
    for q in range(queries):
        lon, lat = rng.choice(placed) if q % 2 else (rng.uniform(-180, 180), rng.uniform(-85, 85))
        if q % 3 == 0:
            lon, lat = 11.0, 41.0
        radius = rng.choice(["0", "1", "5", "20", "123.5", "500", "3000", "20000"])
        unit = rng.choice(["m", "km", "mi", "ft", "KM"])
        options = [o for o in ("WITHDIST", "WITHCOORD", "WITHHASH") if rng.random() < 0.4]
        if rng.random() < 0.6:
            options.append(rng.choice(["ASC", "DESC"]))
        if rng.random() < 0.6:
            options += ["COUNT", str(rng.choice([1, 2, 3, 7, 8, 10, 41, 60]))]
            if rng.random() < 0.3:
                options.append("ANY")
        member = f"m{rng.randrange(points)}"
        kind = q % 4
        if kind == 0:
            script.append(("GEORADIUS", "pts", repr(lon), repr(lat), radius, unit, *options))
        elif kind == 1:
            script.append(("GEORADIUSBYMEMBER_RO", "pts", member, radius, unit, *options))
        elif kind == 2:
            width, height = rng.choice(["1", "40", "1000", "5000"]), rng.choice(["1", "40", "1000", "30000"])
            script.append(
                ("GEOSEARCH", "pts", "FROMLONLAT", repr(lon), repr(lat), "BYBOX", width, height, unit, *options)
            )
        else:
            script.append(("GEOSEARCH", "pts", "FROMMEMBER", member, "BYRADIUS", radius, unit, *options))
        if q % 8 == 0:
            plain = [o for o in options if not o.startswith("WITH")]
            script.append(
                (
                    "GEOSEARCHSTORE",
                    "dst",
                    "pts",
                    "FROMLONLAT",
                    repr(lon),
                    repr(lat),
                    "BYRADIUS",
                    radius,
                    unit,
                    "STOREDIST",
                    *plain,
                )
            )
            script.append(("ZRANGE", "dst", "0", "-1", "WITHSCORES"))
            script.append(("GEORADIUSBYMEMBER", "pts", member, radius, unit, "STORE", "dst2", *plain))
            script.append(("ZRANGE", "dst2", "0", "-1", "WITHSCORES"))
    for n in range(0, points, 7):
        script.append(("GEOPOS", "pts", f"m{n}", f"m{n + 1}"))
        script.append(("GEOHASH", "pts", f"m{n}", f"m{n + 2}"))
        script.append(("GEODIST", "pts", f"m{n}", f"m{n + 3}", "km"))
    return script


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_random_searches_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, random_script(14, 500, 400))


def dense_script(seed: int, points: int, queries: int) -> list[tuple[str, ...]]:
    """A set dense enough around (11, 41) that searches split boxes into quarters, skip some and
    stop early (ASC COUNT), with a fifth of the points on another's place (equal distances)."""
    rng = random.Random(seed)
    placed: list[tuple[str, str]] = []
    args: list[str] = []
    for n in range(points):
        if n % 5 == 4:
            lon, lat = rng.choice(placed)
        elif n % 2:
            lon, lat = repr(rng.gauss(11.0, 0.4)), repr(rng.gauss(41.0, 0.3))
        else:
            lon, lat = repr(rng.uniform(9.0, 13.0)), repr(rng.uniform(39.5, 42.5))
        placed.append((lon, lat))
        args += [lon, lat, f"m{n}"]
    script: list[tuple[str, ...]] = [("FLUSHALL",), ("GEOADD", "pts", *args)]
    for q in range(queries):
        lon, lat = rng.choice(placed) if q % 2 else (repr(rng.gauss(11.0, 0.8)), repr(rng.gauss(41.0, 0.6)))
        options = ["ASC", "COUNT", str(rng.choice([1, 2, 5, 10, 30, 200]))] if q % 4 else []
        options += rng.choice([[], ["WITHDIST"], ["WITHDIST", "WITHCOORD", "WITHHASH"]])
        if q % 3:
            shape = ["BYRADIUS", rng.choice(["0.3", "2", "9", "40", "100", "250"]), "km"]
        else:
            shape = ["BYBOX", rng.choice(["1", "30", "200"]), rng.choice(["2", "60", "150"]), "km"]
        script.append(("GEOSEARCH", "pts", "FROMLONLAT", lon, lat, *shape, *options))
    return script


@pytest.mark.external
@pytest.mark.slow
def test_dense_searches_match_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    assert_same_replies(kv_server, real_redis, False, dense_script(15, 3000, 200))


@pytest.mark.external
def test_ties_come_out_in_redis_s_order(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    """Many members at four places: COUNT cuts through runs of equal distances (Redis's pqsort)."""
    places = [("11", "41"), ("11.01", "41"), ("10.99", "41"), ("11", "41.01")]
    script: list[tuple[str, ...]] = [("FLUSHALL",)]
    for n in range(120):
        script.append(("GEOADD", "t", *places[n % 4], f"p{n:03d}"))
    for count in ("1", "3", "7", "8", "10", "41", "50", "119", "120", "200"):
        for order in ("ASC", "DESC"):
            script.append(("GEORADIUS", "t", "11", "41", "10", "km", "COUNT", count, order))
            script.append(("GEOSEARCH", "t", "FROMMEMBER", "p001", "BYBOX", "10", "10", "km", "COUNT", count, order))
    assert_same_replies(kv_server, real_redis, False, script)


def fuzz_script(seed: int, steps: int) -> list[tuple[str, ...]]:
    """Seeded commands of every GEO form with random arguments (numbers, units, options, keys of
    the wrong type), so that the order of the checks and their texts are held to Redis's."""
    rng = random.Random(seed)
    numbers = ["0", "1", "-1", "15", "37", "200", "0.5", "1e308", "inf", "-inf", "nan", "abc", "", "180", "-180"]
    numbers += ["85.05112878", "85.06", "90", "1e-300", " 1", "0x10", "+5", "5.", "-0", "1e400", "99999999999999999999"]
    units = ["m", "km", "KM", "mi", "ft", "FT", "x", ""]
    options = ["WITHDIST", "WITHHASH", "WITHCOORD", "ASC", "DESC", "ANY", "COUNT", "STORE", "STOREDIST"]
    options += ["FROMMEMBER", "FROMLONLAT", "BYRADIUS", "BYBOX", "withdist", "count"]
    members = ["Palermo", "Catania", "a", "nope"]
    keys = ["Sicily", "nokey", "str", "dst"]

    def token() -> str:
        pick = rng.random()
        pool = (
            numbers
            if pick < 0.35
            else units
            if pick < 0.5
            else options
            if pick < 0.8
            else members
            if pick < 0.9
            else keys
        )
        return rng.choice(pool)

    script: list[tuple[str, ...]] = [("FLUSHALL",), ("GEOADD", "Sicily", *SICILY, "15", "37", "a"), ("SET", "str", "x")]
    for _ in range(steps):
        name = rng.choice(GEO_COMMANDS).upper()
        args = [name, rng.choice(keys)]
        if name == "GEOSEARCHSTORE":
            args.append(rng.choice(keys[:3]))
        if name.startswith("GEORADIUSBYMEMBER"):
            args += [rng.choice(members), rng.choice(numbers), rng.choice(units)]
        elif name.startswith("GEORADIUS"):
            args += [rng.choice(numbers[:8]), rng.choice(numbers[:8]), rng.choice(numbers), rng.choice(units)]
        elif name.startswith("GEOSEARCH"):
            if rng.random() < 0.5:
                args += ["FROMMEMBER", rng.choice(members)]
            else:
                args += ["FROMLONLAT", rng.choice(numbers[:8]), rng.choice(numbers[:8])]
            if rng.random() < 0.5:
                args += ["BYRADIUS", rng.choice(numbers), rng.choice(units)]
            else:
                args += ["BYBOX", rng.choice(numbers), rng.choice(numbers), rng.choice(units)]
        args += [token() for _ in range(rng.randrange(6))]
        script.append(tuple(args))
        if rng.random() < 0.05:
            script.append(("ZRANGE", "dst", "0", "-1", "WITHSCORES"))
    return script


@pytest.mark.external
@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_random_arguments_match_redis(kv_server: ServerProcess, real_redis: ServerProcess, resp3: bool) -> None:
    assert_same_replies(kv_server, real_redis, resp3, fuzz_script(8, 1500))


GEO_COMMANDS = (
    "geoadd",
    "geodist",
    "geohash",
    "geopos",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
)


@pytest.mark.external
def test_command_info_matches_redis(kv_server: ServerProcess, real_redis: ServerProcess) -> None:
    """Name, arity, flags, key positions and ACL categories as Redis 7.0.15 reports them."""
    ours = redis.Redis(port=kv_server.port)
    theirs = redis.Redis(port=real_redis.port)
    for name in GEO_COMMANDS:
        want = command(theirs, "COMMAND", "INFO", name)
        got = command(ours, "COMMAND", "INFO", name)
        assert sorted(got[name]["flags"]) == sorted(want[name]["flags"]), name  # a set in RESP3
        for field in ("arity", "first_key_pos", "last_key_pos", "step_count", "acl_categories"):
            assert got[name][field] == want[name][field], (name, field)
    ours.close()
    theirs.close()


def _geo_state(client: redis.Redis) -> dict[bytes, list[bytes]]:
    return {key: command(client, "ZRANGE", key, 0, -1, "WITHSCORES") for key in sorted(command(client, "KEYS", "*"))}


@pytest.mark.slow
def test_geo_keys_survive_kill_9_and_a_rewrite(spawn: Spawn, tmp_path: Path) -> None:
    """GEOADD (logged as ZADD) and the STORE forms (logged as sent) replay to the same sorted sets,
    from the log and from a rewritten log."""
    data_dir = tmp_path / "geo"
    server = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=server.port)
    rng = random.Random(9)
    for n in range(300):
        r.geoadd("pts", (rng.uniform(-20, 20), rng.uniform(-20, 20), f"m{n}"))
    command(r, "GEOADD", "pts", "XX", "CH", "1", "1", "m0")
    command(r, "GEOSEARCHSTORE", "near", "pts", "FROMLONLAT", "0", "0", "BYRADIUS", "900", "km", "STOREDIST")
    command(r, "GEORADIUS", "pts", "5", "5", "700", "km", "COUNT", "20", "DESC", "STORE", "far")
    r.set("gone", "x")
    command(r, "GEORADIUS", "pts", "100", "0", "1", "m", "STORE", "gone")  # nothing: deletes it
    r.set("replaced", "x")
    command(r, "GEOSEARCHSTORE", "replaced", "pts", "FROMMEMBER", "m2", "BYBOX", "500", "500", "km")
    before = _geo_state(r)
    assert set(before) == {b"pts", b"near", b"far", b"replaced"}
    assert len(before[b"far"]) == 20
    r.close()
    server.kill9()
    restarted = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=restarted.port)
    assert _geo_state(r) == before
    assert r.bgrewriteaof()
    wait_for(lambda: r.info("persistence")["aof_rewrites"] == 1)
    command(r, "GEORADIUS", "pts", "0", "0", "300", "km", "STOREDIST", "late")
    after = _geo_state(r)
    r.close()
    restarted.kill9()
    again = spawn("--appendfsync", "always", data_dir=data_dir)
    r = redis.Redis(port=again.port)
    assert _geo_state(r) == after
    r.close()


NOTIFIED: list[str] = [
    "GEOADD g 13.361389 38.115556 Palermo",
    "GEOADD g 13.361389 38.115556 Palermo",
    "GEOADD g XX CH 15.087269 37.502669 Catania 13 38 Palermo",
    "GEORADIUS g 15 37 500 km STORE s1",
    "GEORADIUS g 15 37 500 km STORE s1",
    "GEORADIUSBYMEMBER g Palermo 1 m STOREDIST s2",
    "GEOSEARCHSTORE s3 g FROMMEMBER Palermo BYRADIUS 1 km",
    "GEOSEARCHSTORE s3 g FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEOSEARCHSTORE s3 g FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEORADIUS g 15 37 1 m STORE s1",
    "GEORADIUS_RO g 15 37 500 km",
    "GEOSEARCHSTORE s4 nokey FROMLONLAT 0 0 BYRADIUS 1 km",
]


@pytest.mark.external
def test_keyspace_events_match_redis(spawn: Spawn, tmp_path: Path) -> None:
    """GEOADD publishes zadd (it is zaddCommand), the STORE forms georadiusstore / geosearchstore,
    or del when an empty result removes the destination; "new" for a key they create."""
    ours = spawn("--appendonly", "no", "--notify-keyspace-events", "KEAn")
    reference = redis_server_process(tmp_path / "redis", "--notify-keyspace-events", "KEAn").start()
    try:
        want = run_notification_script(reference.port, NOTIFIED)
    finally:
        reference.terminate()
    got = run_notification_script(ours.port, NOTIFIED)
    assert got == want
    assert got[3][1] == [
        (b"__keyspace@0__:s1", b"new"),
        (b"__keyevent@0__:new", b"s1"),
        (b"__keyspace@0__:s1", b"georadiusstore"),
        (b"__keyevent@0__:georadiusstore", b"s1"),
    ]
