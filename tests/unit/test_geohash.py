"""geohash.py and the GEO commands in-process: Redis 7.0.15's numbers for known points, the
search plan, the reply formats, Redis's partial sort, and what the log records."""

from __future__ import annotations

import math
import random

import pytest

from kvserver import geohash
from kvserver.commands.geo import (
    Point,
    fixed4,
    human_double,
    leaves_of,
    nearest_points,
    partial_sort,
    points_in,
    sort_points,
)
from kvserver.geohash import Shape
from kvserver.zset import ZSet
from tests.support import Harness

# (longitude, latitude) -> (score, GEOPOS texts, GEOHASH), as redis-server 7.0.15 answers them
KNOWN = [
    ((13.361389, 38.115556), 3479099956230698, (b"13.36138933897018433", b"38.11555639549629859"), b"sqc8b49rny0"),
    ((15.087269, 37.502669), 3479447370796909, (b"15.08726745843887329", b"37.50266842333162032"), b"sqdtr74hyu0"),
    ((0.0, 85.05112878), 6755399441055744, (b"0.00000268220901489", b"85.0511287799999991"), b"up05b5048p0"),
    ((-180.0, 0.0), 1125899906842624, (b"-179.99999731779098511", b"0.00000126736058093"), b"80000000000"),
]


@pytest.mark.parametrize(("point", "score", "texts", "hash_text"), KNOWN)
def test_scores_positions_and_hashes_are_redis_s(
    point: tuple[float, float], score: int, texts: tuple[bytes, bytes], hash_text: bytes
) -> None:
    assert geohash.score_of(*point) == score
    lon, lat = geohash.decode(float(score))
    assert (human_double(lon, False), human_double(lat, False)) == texts
    assert human_double(lon, True) == memoryview(b"," + texts[0] + b"\r\n")
    assert geohash.standard_geohash(float(score)) == hash_text


def test_points_outside_the_mercator_range_have_no_hash() -> None:
    assert geohash.encode(0.0, 85.06) is None
    assert geohash.encode(180.1, 0.0) is None
    assert geohash.encode(-180.0, -85.05112878) is not None


def test_any_sorted_set_score_decodes_as_redis_casts_it() -> None:
    """Scores GEOADD never writes (ZADD's) decode as ``(uint64_t)score`` does on x86-64."""
    assert geohash.score_bits(-5.7) == (1 << 64) - 5
    assert geohash.score_bits(math.inf) == 0
    assert geohash.score_bits(-math.inf) == 1 << 63
    assert geohash.score_bits(3.7) == 3
    assert geohash.score_bits(2.0**63) == 1 << 63
    lon, lat = geohash.decode(-5.0)  # redis-server: 180, 85.0511287799999991
    assert (human_double(lon, False), human_double(lat, False)) == (b"180", b"85.0511287799999991")


def test_distance_is_the_haversine_redis_computes() -> None:
    palermo = geohash.decode(3479099956230698.0)
    catania = geohash.decode(3479447370796909.0)
    assert fixed4(geohash.distance(*palermo, *catania)) == b"166274.1516"
    assert fixed4(geohash.distance(*palermo, *catania) / 1000) == b"166.2742"
    # the same meridian: the latitude difference alone
    assert geohash.distance(10.0, 1.0, 10.0, 2.0) == geohash.lat_distance(1.0, 2.0)


def test_fixed_point_distances_round_half_to_even() -> None:
    assert fixed4(0.0) == b"0.0000"
    assert fixed4(0.00005) == b"0.0000"  # 0.5 after scaling, to even
    assert fixed4(0.00025) == b"0.0002"  # 2.5: to even
    assert fixed4(0.00035) == b"0.0004"  # 3.5: to even
    assert fixed4(0.00015) == b"0.0001"  # 1.4999999999999998 after scaling
    assert fixed4(0.775) == b"0.7750"
    assert fixed4(12.3) == b"12.3000"


def test_human_doubles_drop_trailing_zeros() -> None:
    assert human_double(180.0, False) == b"180"
    assert human_double(-0.0, False) == b"0"
    assert human_double(0.5, False) == b"0.5"


def test_step_estimate_follows_the_radius_and_latitude() -> None:
    assert geohash.estimate_step(0, 0) == 26
    assert geohash.estimate_step(1.0, 0) == 24
    assert geohash.estimate_step(200_000.0, 0) == 6
    assert geohash.estimate_step(200_000.0, 70) == 5
    assert geohash.estimate_step(200_000.0, -81) == 4
    assert geohash.estimate_step(1e9, 0) == 1


def test_search_plan_covers_the_shape_with_at_most_nine_ranges() -> None:
    """Every point a search accepts lies in one of the planned score ranges."""
    rng = random.Random(3)
    for _ in range(200):
        shape = Shape(rng.uniform(-180, 180), rng.uniform(-85, 85), 1000.0, radius=rng.choice([1.0, 50.0, 800.0]))
        ranges = geohash.search_boxes(shape)
        assert 1 <= len(ranges) <= 9
        for _ in range(50):
            lon = shape.longitude + rng.uniform(-1, 1) * 10
            lat = shape.latitude + rng.uniform(-1, 1) * 10
            bits = geohash.encode(lon, lat)
            if bits is None:
                continue
            decoded = geohash.decode(float(bits))
            if shape.distance_if_within(*decoded) is not None:
                assert any(low <= bits < high for low, high in ranges), (shape, lon, lat)


def test_box_search_checks_height_then_width() -> None:
    shape = Shape(0.0, 0.0, 1000.0, width=100.0, height=10.0, box=True)
    assert shape.distance_if_within(0.4, 0.0) is not None  # ~44 km east: inside the 100 km width
    assert shape.distance_if_within(0.0, 0.1) is None  # ~11 km north: outside the 10 km height


def _points(dists: list[float]) -> list[Point]:
    return [Point(d, float(i), b"m%d" % i, 0.0, 0.0) for i, d in enumerate(dists)]


def test_partial_sort_puts_the_window_in_order() -> None:
    rng = random.Random(5)
    for size in (1, 6, 7, 8, 40, 41, 300):
        dists = [float(rng.randrange(20)) for _ in range(size)]
        for count in {1, max(1, size // 3), size}:
            work = _points(dists)
            partial_sort(work, lambda a, b: (a.dist > b.dist) - (a.dist < b.dist), 0, size, 0, count - 1)
            assert [p.dist for p in work[:count]] == sorted(dists)[:count]
            assert sorted(work) == sorted(_points(dists))  # a permutation


def test_ties_keep_redis_s_order() -> None:
    """Equal distances come out as Redis's pqsort leaves them: redis-server answers GEORADIUS ...
    COUNT 3 ASC (and DESC) over members m0..m7 at one place with m7, m1, m2."""
    for order in (1, 2):
        assert [p.member for p in sort_points(_points([1.0] * 8), order, 3)] == [b"m7", b"m1", b"m2"]
    # all distinct: the plain sort
    assert [p.dist for p in sort_points(_points([3.0, 1.0, 2.0]), 2, 2)] == [3.0, 2.0]


def test_geoadd_is_logged_as_the_zadd_it_makes() -> None:
    h = Harness()
    assert h("GEOADD", "k", "CH", "13.361389", "38.115556", "Palermo") == 1
    assert h.records() == [[b"ZADD", b"k", b"CH", b"3479099956230698", b"Palermo"]]
    value = h.db.keyspace.get(b"k")
    assert isinstance(value, ZSet)
    assert value.score(b"Palermo") == 3479099956230698.0


def test_store_forms_are_logged_as_sent_and_only_when_they_write() -> None:
    h = Harness()
    h("GEOADD", "k", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")
    search = ("GEOSEARCHSTORE", "dst", "k", "FROMLONLAT", "15", "37", "BYRADIUS", "100", "km", "STOREDIST")
    assert h(*search) == 1
    nothing = ("GEORADIUS", "k", "15", "37", "1", "m", "STORE", "dst")
    assert h(*nothing) == 0  # deletes dst
    assert h(*nothing) == 0  # nothing to delete: no record
    assert h("GEORADIUS", "k", "15", "37", "100", "km") == [b"Catania"]  # no STORE: no record
    assert h.records()[1:] == [[a.encode() for a in search], [a.encode() for a in nothing]]
    assert h.db.keyspace.get(b"dst") is None


def test_infinite_areas_plan_as_libm_computes_them() -> None:
    """cos(inf) and asin(1 + ulp) are NaN in C (Python's math raises): an infinite radius or box
    plans the whole-world boxes Redis reads (NaN bounds exclude nothing)."""
    for shape in (
        Shape(15.0, 37.0, 1000.0, radius=math.inf),
        Shape(15.0, 37.0, 1000.0, width=math.inf, height=math.inf, box=True),
    ):
        ranges = geohash.search_boxes(shape)
        assert ranges[0] == (3 << 50, 4 << 50)  # step 1: the centre's quarter (north east) first
        assert sorted(ranges) == [(q << 50, (q + 1) << 50) for q in range(4)]  # then the rest of the world
        assert shape.distance_if_within(-170.0, -80.0) is not None
    assert geohash.distance(0.0, 0.0, 180.0, 0.0) == pytest.approx(math.pi * geohash.EARTH_RADIUS_IN_METERS)


def test_the_score_matcher_is_decode_then_distance_if_within() -> None:
    """The search's per-point test (decode and the haversine inlined) gives the same doubles."""
    rng = random.Random(11)
    for _ in range(300):
        radius = rng.choice([0.0, 10.0, 3000.0, 2e4])
        shape = Shape(rng.uniform(-180, 180), rng.uniform(-85, 85), 1000.0, radius=radius)
        if rng.random() < 0.3:
            shape = shape._replace(width=rng.choice([0.0, 50.0, 4e4]), height=rng.choice([1.0, 900.0]), box=True)
        match = shape.score_matcher()
        for _ in range(20):
            lon, lat = rng.uniform(-180, 180), rng.uniform(-85, 85)
            if rng.random() < 0.2:
                lon = shape.longitude  # the same meridian: the latitude distance alone
            score = float(geohash.score_of(lon, lat))
            decoded = geohash.decode(score)
            dist = shape.distance_if_within(*decoded)
            assert match(score) == (None if dist is None else (dist, *decoded))


# --- the split search (issue 14/15: GEOSEARCH speed) ---------------------------------------------


def _dense_zset(rng: random.Random, size: int) -> ZSet:
    """Points clustered around (11, 41) (a fifth of them on another's place: equal distances)."""
    zset = ZSet()
    placed: list[tuple[float, float]] = []
    for n in range(size):
        if n % 5 == 4:
            lon, lat = rng.choice(placed)
        elif n % 2:
            lon, lat = rng.gauss(11.0, 0.7), rng.gauss(41.0, 0.5)
        else:
            lon, lat = rng.uniform(9.0, 13.0), rng.uniform(39.5, 42.5)
        placed.append((lon, lat))
        zset.add(b"m%d" % n, float(geohash.score_of(lon, lat)))
    return zset


def _walk_of_the_boxes(zset: ZSet, shape: Shape) -> list[Point]:
    """The search as Redis makes it: every point of every planned box decoded and measured."""
    found: list[Point] = []
    for low, high in geohash.search_boxes(shape):
        first, end = zset.score_span(float(low), False, float(high), True)
        for score, member in zset.slice(first, end):
            lon, lat = geohash.decode(score)
            dist = shape.distance_if_within(lon, lat)
            if dist is not None:
                found.append(Point(dist, score, member, lon, lat))
    return found


def _random_shape(rng: random.Random) -> Shape:
    lon, lat = rng.gauss(11.0, 1.0), rng.gauss(41.0, 1.0)
    if rng.random() < 0.5:
        return Shape(lon, lat, 1000.0, radius=rng.choice([0.5, 3.0, 10.0, 40.0, 100.0, 250.0]))
    return Shape(
        lon, lat, 1000.0, width=rng.choice([1.0, 20.0, 150.0, 400.0]), height=rng.choice([2.0, 90.0]), box=True
    )


def test_area_bound_never_leaves_out_a_match() -> None:
    """For every box holding a point the shape takes, the bound is there and below the point's."""
    rng = random.Random(21)
    for _ in range(300):
        shape = _random_shape(rng)
        bound = shape.area_bound()
        for _ in range(30):
            lon, lat = shape.longitude + rng.uniform(-3, 3), shape.latitude + rng.uniform(-3, 3)
            bits = geohash.score_of(lon, lat)
            dist = shape.distance_if_within(*geohash.decode(float(bits)))
            if dist is None:
                continue
            for step in range(4, 27):
                lowest = bound(bits >> (52 - 2 * step), step)
                assert lowest is not None, (shape, lon, lat, step)
                assert lowest <= geohash.widened(dist), (shape, lon, lat, step)


@pytest.mark.slow
def test_split_searches_are_the_walk_of_the_boxes() -> None:
    """Same points in the same order (ANY cuts included), and ASC COUNT's answer is the full
    sort's, ties included, over a set dense enough that boxes are split and quarters skipped."""
    rng = random.Random(22)
    zset = _dense_zset(rng, 4000)
    for _ in range(100):
        shape = _random_shape(rng)
        want = _walk_of_the_boxes(zset, shape)
        assert points_in(zset, shape, 0) == want
        assert points_in(zset, shape, 5) == want[:5]
        for count in (1, 3, 10, 50):
            nearest = nearest_points(zset, shape, count)
            if nearest is not None:
                assert nearest == sort_points(want, 1, min(count, len(want))), (shape, count)


def test_a_dense_search_reads_only_the_points_near_its_circle() -> None:
    """GEOSEARCH BYRADIUS 100 km ASC COUNT 10 among 60 000 points in 40 x 30 degrees around its
    centre (the issue's set, scaled down): the quarters read hold a fraction of the planned
    boxes' points, and the answer is the full sort's."""
    rng = random.Random(23)
    zset = ZSet.from_scores(
        {b"m%d" % n: float(geohash.score_of(rng.uniform(-9.0, 31.0), rng.uniform(26.0, 56.0))) for n in range(60_000)}
    )
    shape = Shape(11.0, 41.0, 1000.0, radius=100.0)
    spans = [zset.score_span(float(low), False, float(high), True) for low, high in geohash.search_boxes(shape)]
    in_boxes = sum(end - first for first, end in spans)
    read = sum(end - first for first, end, _ in leaves_of(zset, shape))
    want = _walk_of_the_boxes(zset, shape)
    assert len(want) <= read < in_boxes / 2
    h = Harness()
    h.db.keyspace.set(b"k", zset)
    reply = h("GEOSEARCH", "k", "FROMLONLAT", "11", "41", "BYRADIUS", "100", "km", "ASC", "COUNT", "10", "WITHDIST")
    assert reply == [[p.member, fixed4(p.dist / 1000.0)] for p in sort_points(want, 1, 10)]
