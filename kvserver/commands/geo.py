"""GEO commands: sorted sets whose scores are 52-bit geohashes (``kvserver.geohash``), as Redis 7.0.

GEOADD is ZADD with the points' scores (and is logged as that ZADD). A search reads the score
ranges of the boxes ``geohash.search_boxes`` plans, in its order, each one a bisection of the
sorted set's index and a slice (O(log n + m), never a walk of the set), keeps the points the
shape holds, and sorts them as Redis does (a stable sort; Redis's partial quicksort, ties
included, when COUNT cuts the result), so members, order and numbers are Redis's. The STORE forms
are logged as sent, as ZRANGESTORE is: the result is a function of the keyspace they run on.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable, Iterator
from typing import Final, NamedTuple

from kvserver.commands.args import parse_float, parse_int
from kvserver.commands.registry import (
    DENYOOM,
    MOVABLEKEYS,
    NOT_FLOAT,
    READONLY,
    SYNTAX,
    WRITE,
    CommandError,
    Context,
    KeyFinder,
    Variant,
    command,
)
from kvserver.commands.zsets import get_zset
from kvserver.geohash import (
    LAT_MAX,
    LAT_MIN,
    LONG_MAX,
    LONG_MIN,
    STEP_MAX,
    UNITS,
    Shape,
    decode,
    score_of,
    search_plan,
    standard_geohash,
    widened,
)
from kvserver.geohash import distance as geo_distance
from kvserver.protocol import NullArray
from kvserver.state import ClientState
from kvserver.zset import ZSet

GEO: Final = "geo"
UNIT_ERROR: Final = "ERR unsupported unit provided. please use M, KM, FT, MI"
NOT_MEMBER: Final = "ERR could not decode requested zset member"
_SEARCH_COMPLEXITY: Final = (
    "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center "
    "and radius and M is the number of items inside the index."
)
_GEOSEARCH_COMPLEXITY: Final = (
    "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided "
    "as the filter and M is the number of items inside the shape"
)


# --- replies -------------------------------------------------------------------------------------


def human_double(value: float, resp3: bool) -> object:
    """addReplyHumanLongDouble: ``%.17Lf`` without trailing zeros; a RESP3 double, else a bulk."""
    text = b"%.17f" % value
    if b"." in text:
        text = text.rstrip(b"0").rstrip(b".")
    if text == b"-0":
        text = b"0"
    return memoryview(b",%b\r\n" % text) if resp3 else text


def fixed4(value: float) -> bytes:
    """addReplyDoubleDistance's text: llrint(value * 10^4) written with 4 decimals."""
    if value == 0:
        return b"0.0000"
    scaled = round(value * 10000.0)  # round half to even, as llrint in the default mode
    digits = b"%05d" % abs(scaled)
    return b"%s%b.%b" % (b"-" if scaled < 0 else b"", digits[:-4], digits[-4:])


def _long_long(score: float) -> int:
    """``(long long)score`` as x86-64 converts it (WITHHASH of any score ZADD may have set)."""
    if math.isfinite(score) and -(2.0**63) <= score < 2.0**63:
        return int(score)
    return -(2**63)


def _unit(raw: bytes) -> float:
    unit = UNITS.get(raw.lower())
    if unit is None:
        raise CommandError(UNIT_ERROR)
    return unit


_HEX: Final = re.compile(rb"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")


def strtod_double(raw: bytes, error: str = NOT_FLOAT) -> float:
    """getDoubleFromObject: strtod's whole-string syntax (hexadecimal too) and its ERANGE refusals
    (an overflow to infinity, an underflow to zero), which ``parse_float`` does not make."""
    if _HEX.fullmatch(raw):
        mantissa = raw.lower().partition(b"p")[0].partition(b"x")[2]
        try:
            value = float.fromhex(raw.decode())
        except OverflowError:
            raise CommandError(error) from None
    else:
        value = parse_float(raw, error)
        if math.isinf(value) and b"inf" not in raw.lower():
            raise CommandError(error)  # 1e400: HUGE_VAL with ERANGE
        mantissa = raw.lower().partition(b"e")[0]
    if value == 0.0 and mantissa.strip(b"+-.0"):
        raise CommandError(error)  # 1e-400: an underflow to zero, ERANGE
    return value


def _coordinate(raw: bytes) -> float:
    """A double; plain decimals (GEOADD's usual 2N of them) skip the checks."""
    digits = raw[1:] if raw[:1] == b"-" else raw
    if digits.replace(b".", b"", 1).isdigit():
        return float(raw)
    return strtod_double(raw)


def _lon_lat(raw_lon: bytes, raw_lat: bytes) -> tuple[float, float]:
    """extractLongLatOrReply: two doubles, then the range check with Redis's text."""
    lon = _coordinate(raw_lon)
    lat = _coordinate(raw_lat)
    if lon < LONG_MIN or lon > LONG_MAX or lat < LAT_MIN or lat > LAT_MAX:
        raise CommandError(f"ERR invalid longitude,latitude pair {lon:f},{lat:f}")
    return lon, lat


def _distance_arg(raw: bytes, raw_unit: bytes) -> tuple[float, float]:
    radius = strtod_double(raw, "ERR need numeric radius")
    if radius < 0:
        raise CommandError("ERR radius cannot be negative")
    return radius, _unit(raw_unit)


def _box_arg(raw_width: bytes, raw_height: bytes, raw_unit: bytes) -> tuple[float, float, float]:
    width = strtod_double(raw_width, "ERR need numeric width")
    height = strtod_double(raw_height, "ERR need numeric height")
    if height < 0 or width < 0:
        raise CommandError("ERR height or width cannot be negative")
    return width, height, _unit(raw_unit)


def _member_position(zset: ZSet, member: bytes) -> tuple[float, float]:
    score = zset.score(member)
    if score is None:
        raise CommandError(NOT_MEMBER)
    return decode(score)


# --- GEOADD, GEOPOS, GEODIST, GEOHASH -------------------------------------------------------------


@command(
    "geoadd",
    -5,
    (WRITE, DENYOOM),
    group=GEO,
    since="3.2.0",
    complexity="O(log(N)) for each item added, where N is the number of elements in the sorted set.",
    summary="Add one or more geospatial items in the geospatial index represented using a sorted set",
)
def geoadd_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]"""
    nx = xx = ch = False
    first = 2
    while first < len(argv):
        option = argv[first].lower()
        if option == b"nx":
            nx = True
        elif option == b"xx":
            xx = True
        elif option == b"ch":
            ch = True
        else:
            break
        first += 1
    if (len(argv) - first) % 3 or (nx and xx):
        raise CommandError(SYNTAX)
    points: list[tuple[int, bytes]] = []
    for j in range(first, len(argv), 3):
        lon, lat = _lon_lat(argv[j], argv[j + 1])
        points.append((score_of(lon, lat), argv[j + 2]))
    # zaddCommand's work, on scores known to be valid (no second parse of 2N numbers)
    key = argv[1]
    zset = get_zset(ctx, key)
    added = changed = 0
    for bits, member in points:
        score = float(bits)
        current = None if zset is None else zset.score(member)
        if current is None:
            if xx:
                continue
            if zset is None:
                zset = ZSet()
                ctx.keyspace.set(key, zset)
            zset.add(member, score)
            added += 1
        elif not nx and current != score:
            assert zset is not None
            zset.add(member, score)
            changed += 1
    if added or changed:
        zadd = [b"ZADD", *argv[1:first]]  # logged as the ZADD it is, as Redis propagates it
        for bits, member in points:
            zadd += (b"%d" % bits, member)
        ctx.propagate(zadd)
    return added + changed if ch else added


def _position(score: float, resp3: bool) -> object:
    lon, lat = decode(score)
    return [human_double(lon, resp3), human_double(lat, resp3)]


def _standard_hash(score: float, resp3: bool) -> object:
    return standard_geohash(score)


@command(
    [
        Variant(
            "geopos",
            "Returns longitude and latitude of members of a geospatial index",
            complexity="O(N) where N is the number of members requested.",
            describe=_position,
            missing=NullArray,
        ),
        Variant(
            "geohash",
            "Returns members of a geospatial index as standard geohash strings",
            complexity="O(log(N)) for each member requested, where N is the number of elements in the sorted set.",
            describe=_standard_hash,
            missing=None,
        ),
    ],
    -2,
    (READONLY,),
    group=GEO,
    since="3.2.0",
)
def _each_member(
    ctx: Context, client: ClientState, argv: list[bytes], *, describe: Callable[[float, bool], object], missing: object
) -> object:
    """GEOPOS / GEOHASH key [member ...]: one answer per member, ``missing`` for one not there."""
    zset = get_zset(ctx, argv[1])
    reply: list[object] = []
    for member in argv[2:]:
        score = None if zset is None else zset.score(member)
        reply.append(missing if score is None else describe(score, client.resp3))
    return reply


@command(
    "geodist",
    -4,
    (READONLY,),
    group=GEO,
    since="3.2.0",
    complexity="O(log(N))",
    summary="Returns the distance between two members of a geospatial index",
)
def geodist_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """GEODIST key member1 member2 [M|KM|FT|MI]"""
    unit = 1.0
    if len(argv) == 5:
        unit = _unit(argv[4])
    elif len(argv) > 5:
        raise CommandError(SYNTAX)
    zset = get_zset(ctx, argv[1])
    if zset is None:
        return None
    first, second = zset.score(argv[2]), zset.score(argv[3])
    if first is None or second is None:
        return None
    return fixed4(geo_distance(*decode(first), *decode(second)) / unit)


# --- searches ------------------------------------------------------------------------------------

_COORDS, _MEMBER, _NOSTORE, _SEARCH, _SEARCHSTORE = 1, 2, 4, 8, 16
_SORT_NONE, _SORT_ASC, _SORT_DESC = 0, 1, 2


class Point(NamedTuple):
    dist: float  # meters from the centre
    score: float
    member: bytes
    longitude: float
    latitude: float


_SCAN_MAX: Final = 32  # a box holding no more points than this is read whole, not split
_NEAREST_SCAN_MAX: Final = 16  # the same for a nearest-first search (it splits only near the centre)


def _quarters(
    bits: int, at: int, bound: Callable[[int, int], float | None], bisect: Callable[[tuple[float, bytes]], int]
) -> Iterator[tuple[float, int, int, int]]:
    """The quarters of the box ``bits`` of step ``at`` that may hold a match and hold points, in
    score order: (lower bound, bits, first rank, end rank)."""
    shift = 50 - 2 * at
    for quarter in range(4):
        child = bits << 2 | quarter
        lowest = bound(child, at + 1)
        if lowest is not None:
            first = bisect((float(child << shift), b""))
            end = bisect((float((child + 1) << shift), b""))
            if first < end:
                yield lowest, child, first, end


def leaves_of(zset: ZSet, shape: Shape) -> list[tuple[int, int, float]]:
    """The rank ranges [first, end) to read for a search, in Redis's order (membersOfAll-
    Neighbors: its boxes, each in score order), each with a lower bound of its points' distance
    (``Shape.area_bound``; 0.0 for a plan of step < 4, which is read unsplit).

    A box with more than a few points is split into its four quarters, recursively, in score
    order, and a quarter that ``Shape.area_bound`` proves holds no match is left out: each
    quarter is one sub-range of scores, two bisections of the index. So only the points near the
    shape are decoded and measured, and they come in the order a walk of the boxes gives."""
    leaves: list[tuple[int, int, float]] = []
    bisect = zset.index.bisect_left
    step, ranges = search_plan(shape)
    bound = shape.area_bound() if step >= 4 else None

    def visit(bits: int, at: int, first: int, end: int, lowest: float) -> None:
        if bound is None or end - first <= _SCAN_MAX or at >= STEP_MAX:
            leaves.append((first, end, lowest))
            return
        for child_lowest, child, child_first, child_end in _quarters(bits, at, bound, bisect):
            visit(child, at + 1, child_first, child_end, child_lowest)

    shift = 52 - 2 * step
    for low, high in ranges:
        first, end = zset.score_span(float(low), False, float(high), True)
        if first < end:
            visit(low >> shift, step, first, end, 0.0)
    return leaves


def points_in(zset: ZSet, shape: Shape, limit: int) -> list[Point]:
    """membersOfAllNeighbors: the points of each planned box, in Redis's order, that the shape
    holds; with ``limit`` (ANY) the search stops once it has that many."""
    found: list[Point] = []
    islice = zset.index.islice
    match = shape.score_matcher()
    for first, end, _ in leaves_of(zset, shape):
        for score, member in islice(first, end):
            hit = match(score)
            if hit is not None:
                found.append(Point(hit[0], score, member, hit[1], hit[2]))
                if limit and len(found) >= limit:
                    return found
    return found


def nearest_points(zset: ZSet, shape: Shape, count: int) -> list[Point] | None:
    """ASC COUNT ``count`` (no ANY) without measuring every match: the boxes are taken nearest
    first (by their lower bound, from a heap), a large one split into its quarters, a small one
    read, until ``count`` matches are found and the next box can only hold farther points. When
    the ``count`` nearest have distinct distances and the next one is farther, every correct
    sort (Redis's pqsort too) puts exactly them, in that order, first: that answer is returned.
    When every box was read, the matches are put back in Redis's order (box, then rank) and
    sorted as ``sort_points`` does. None when neither holds (ties, a plan of step < 4): the
    caller takes the full path."""
    step, ranges = search_plan(shape)
    if step < 4:
        return None
    bound = shape.area_bound()
    bisect = zset.index.bisect_left
    islice = zset.index.islice
    match = shape.score_matcher()
    # (lower bound, box of the plan, first rank, end rank, bits, step)
    boxes: list[tuple[float, int, int, int, int, int]] = []
    shift = 52 - 2 * step
    for box, (low, high) in enumerate(ranges):
        first, end = zset.score_span(float(low), False, float(high), True)
        if first < end:
            boxes.append((0.0, box, first, end, low >> shift, step))
    found: list[Point] = []
    order: list[tuple[int, int]] = []  # (box of the plan, rank) of each match: Redis's order
    heap: list[float] = []  # the negated distances of the ``count`` nearest so far
    while boxes:
        lowest, box, first, end, bits, at = heapq.heappop(boxes)
        if len(heap) == count and lowest > widened(-heap[0]):
            break  # this box and the ones after it hold only points farther than the count-th
        if end - first > _NEAREST_SCAN_MAX and at < STEP_MAX:
            for child_lowest, child, child_first, child_end in _quarters(bits, at, bound, bisect):
                heapq.heappush(boxes, (child_lowest, box, child_first, child_end, child, at + 1))
            continue
        for rank, (score, member) in enumerate(islice(first, end), first):
            hit = match(score)
            if hit is not None:
                found.append(Point(hit[0], score, member, hit[1], hit[2]))
                order.append((box, rank))
                if len(heap) < count:
                    heapq.heappush(heap, -hit[0])
                elif hit[0] < -heap[0]:
                    heapq.heapreplace(heap, -hit[0])
    else:  # every box was read: all the matches
        in_order = [found[i] for i in sorted(range(len(found)), key=order.__getitem__)]
        return sort_points(in_order, _SORT_ASC, min(count, len(in_order)))
    found.sort(key=lambda p: p.dist)
    dists = [p.dist for p in found[: count + 1]]
    if len(set(dists[:count])) < count or (len(dists) > count and dists[count] <= dists[count - 1]):
        return None
    return found[:count]


def _compare(a: Point, b: Point) -> int:
    return 1 if a.dist > b.dist else 0 if a.dist == b.dist else -1


def _compare_desc(a: Point, b: Point) -> int:
    return -_compare(a, b)


Compare = Callable[[Point, Point], int]


def _med3(a: list[Point], i: int, j: int, k: int, cmp: Compare) -> int:
    if cmp(a[i], a[j]) < 0:
        return j if cmp(a[j], a[k]) < 0 else (k if cmp(a[i], a[k]) < 0 else i)
    return j if cmp(a[j], a[k]) > 0 else (i if cmp(a[i], a[k]) < 0 else k)


def _swap_run(a: list[Point], i: int, j: int, n: int) -> None:
    for t in range(n):
        a[i + t], a[j + t] = a[j + t], a[i + t]


def partial_sort(a: list[Point], cmp: Compare, lo: int, n: int, left: int, right: int) -> None:
    """Redis's pqsort (Bentley & McIlroy's quicksort that skips the parts outside [left, right]),
    step for step, so that equal distances come out in Redis's order."""
    while True:
        if n < 7:
            for m in range(lo + 1, lo + n):
                k = m
                while k > lo and cmp(a[k - 1], a[k]) > 0:
                    a[k], a[k - 1] = a[k - 1], a[k]
                    k -= 1
            return
        pm = lo + n // 2
        if n > 7:
            pl, pn = lo, lo + n - 1
            if n > 40:
                d = n // 8
                pl = _med3(a, pl, pl + d, pl + 2 * d, cmp)
                pm = _med3(a, pm - d, pm, pm + d, cmp)
                pn = _med3(a, pn - 2 * d, pn - d, pn, cmp)
            pm = _med3(a, pl, pm, pn, cmp)
        a[lo], a[pm] = a[pm], a[lo]
        pa = pb = lo + 1
        pc = pd = lo + n - 1
        while True:
            while pb <= pc and (result := cmp(a[pb], a[lo])) <= 0:
                if result == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc and (result := cmp(a[pc], a[lo])) >= 0:
                if result == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        pn = lo + n
        r = min(pa - lo, pb - pa)
        _swap_run(a, lo, pb - r, r)
        r = min(pd - pc, pn - pd - 1)
        _swap_run(a, pb, pn - r, r)
        r = pb - pa
        if r > 1 and not _outside(lo, lo + r - 1, left, right):
            partial_sort(a, cmp, lo, r, left, right)
        r = pd - pc
        if r <= 1:
            return
        lo, n = pn - r, r
        if _outside(lo, lo + r - 1, left, right):
            return


def _outside(first: int, last: int, left: int, right: int) -> bool:
    return (left < first and right < first) or (left > last and right > last)


def sort_points(points: list[Point], order: int, count: int) -> list[Point]:
    """The first ``count`` points in Redis's order: glibc's qsort (a stable merge sort) when all
    are returned, pqsort when COUNT cuts them (distinct distances have one answer either way)."""
    if count >= len(points) or len({p.dist for p in points}) == len(points):
        return sorted(points, key=lambda p: p.dist, reverse=order == _SORT_DESC)[:count]
    work = list(points)
    partial_sort(work, _compare_desc if order == _SORT_DESC else _compare, 0, len(work), 0, count - 1)
    return work[:count]


def _search(ctx: Context, client: ClientState, argv: list[bytes], src: int, flags: int) -> object:
    """georadiusGeneric: the four GEORADIUS forms, GEOSEARCH and GEOSEARCHSTORE."""
    zset = get_zset(ctx, argv[src])
    lon = lat = radius = width = height = 0.0
    unit = 1.0
    box = False
    store: bytes | None = None
    store_dist = False
    if flags & _COORDS:
        base = 6
        lon, lat = _lon_lat(argv[2], argv[3])
        radius, unit = _distance_arg(argv[4], argv[5])
    elif flags & _MEMBER:
        base = 5
        if zset is not None:
            lon, lat = _member_position(zset, argv[2])
            radius, unit = _distance_arg(argv[3], argv[4])
    else:
        base = 2
        if flags & _SEARCHSTORE:
            base = 3
            store = argv[1]
    with_dist = with_hash = with_coord = any_ = False
    from_member = from_lonlat = by_radius = by_box = False
    order = _SORT_NONE
    count = 0
    search = bool(flags & _SEARCH)
    storable = not flags & _NOSTORE and not search
    i = base
    while i < len(argv):
        arg = argv[i].lower()
        more = len(argv) - i - 1
        if arg == b"withdist":
            with_dist = True
        elif arg == b"withhash":
            with_hash = True
        elif arg == b"withcoord":
            with_coord = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            order = _SORT_ASC
        elif arg == b"desc":
            order = _SORT_DESC
        elif arg == b"count" and more >= 1:
            count = parse_int(argv[i + 1])
            if count <= 0:
                raise CommandError("ERR COUNT must be > 0")
            i += 1
        elif arg in (b"store", b"storedist") and more >= 1 and storable:
            store = argv[i + 1]
            store_dist = arg == b"storedist"
            i += 1
        elif arg == b"storedist" and search and flags & _SEARCHSTORE:
            store_dist = True
        elif arg == b"frommember" and more >= 1 and search and not from_lonlat:
            if zset is not None:
                lon, lat = _member_position(zset, argv[i + 1])
            from_member = True
            i += 1
        elif arg == b"fromlonlat" and more >= 2 and search and not from_member:
            lon, lat = _lon_lat(argv[i + 1], argv[i + 2])
            from_lonlat = True
            i += 2
        elif arg == b"byradius" and more >= 2 and search and not by_box:
            radius, unit = _distance_arg(argv[i + 1], argv[i + 2])
            by_radius = True
            box = False
            i += 2
        elif arg == b"bybox" and more >= 3 and search and not by_radius:
            width, height, unit = _box_arg(argv[i + 1], argv[i + 2], argv[i + 3])
            by_box = box = True
            i += 3
        else:
            raise CommandError(SYNTAX)
        i += 1
    name = argv[0].decode("utf-8", "replace")
    if store is not None and (with_dist or with_hash or with_coord):
        what = "GEOSEARCHSTORE" if flags & _SEARCHSTORE else "STORE option in GEORADIUS"
        raise CommandError(f"ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options")
    if search and not (from_member or from_lonlat):
        raise CommandError(f"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}")
    if search and not (by_radius or by_box):
        raise CommandError(f"ERR exactly one of BYRADIUS and BYBOX can be specified for {name}")
    if any_ and not count:
        raise CommandError("ERR the ANY argument requires COUNT argument")
    if zset is None:
        if store is None:
            return []
        return _store(ctx, argv, store, [])
    if count and order == _SORT_NONE and not any_:
        order = _SORT_ASC
    shape = Shape(lon, lat, unit, radius, width, height, box)
    nearest = nearest_points(zset, shape, count) if count and order == _SORT_ASC and not any_ else None
    if nearest is not None:
        points = nearest
    else:
        points = points_in(zset, shape, count if any_ else 0)
        if not points and store is None:
            return []
        returned = len(points) if count == 0 or len(points) < count else count
        points = sort_points(points, order, returned) if order != _SORT_NONE else points[:returned]
    if store is not None:
        return _store(ctx, argv, store, [(p.dist / unit if store_dist else p.score, p.member) for p in points])
    if not (with_dist or with_hash or with_coord):
        return [p.member for p in points]
    resp3 = client.resp3
    reply: list[object] = []
    for p in points:
        item: list[object] = [p.member]
        if with_dist:
            item.append(fixed4(p.dist / unit))
        if with_hash:
            item.append(_long_long(p.score))
        if with_coord:
            item.append([human_double(p.longitude, resp3), human_double(p.latitude, resp3)])
        reply.append(item)
    return reply


def _store(ctx: Context, argv: list[bytes], dest: bytes, entries: list[tuple[float, bytes]]) -> int:
    """Replace ``dest`` with the result (or delete it for none); logged as sent (see above)."""
    keyspace = ctx.keyspace
    keyspace.writing(dest)  # GEORADIUS's destination is not in its key positions: the rewrite must know
    if entries:
        zset = ZSet()
        for score, member in entries:
            zset.add(member, score)
        existed = keyspace.get(dest) is not None
        keyspace.set(dest, zset)  # an overwrite (no "new" event), the deadline dropped: setKey
    else:
        existed = keyspace.delete(dest)
    if entries or existed:
        ctx.propagate(argv, [dest])  # the source is read, not changed
    return len(entries)


def georadius_keys(argv: list[bytes], start: int = 6) -> list[bytes]:
    """COMMAND GETKEYS for GEORADIUS / GEORADIUSBYMEMBER, from their key specs as Redis 7.0 reads
    them: the key, then the argument after the first STORE, then the one after the first
    STOREDIST (each searched from ``start`` to the last argument but one)."""
    keys = [argv[1]]
    for keyword in (b"store", b"storedist"):
        for i in range(start, len(argv) - 1):
            if argv[i].lower() == keyword:
                keys.append(argv[i + 1])
                break
    return keys


def georadiusbymember_keys(argv: list[bytes]) -> list[bytes]:
    return georadius_keys(argv, 5)


def _radius_command(name: str, arity: int, flags: int, summary: str, find_keys: KeyFinder | None = None) -> None:
    """Register one of the four GEORADIUS forms (the _RO ones take no STORE)."""
    readonly = bool(flags & _NOSTORE)

    @command(
        name,
        arity,
        (READONLY,) if readonly else (WRITE, DENYOOM, MOVABLEKEYS),
        group=GEO,
        since="3.2.10" if readonly else "3.2.0",
        complexity=_SEARCH_COMPLEXITY,
        summary=summary,
        find_keys=find_keys,
    )
    def handler(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
        return _search(ctx, client, argv, 1, flags)


# GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
#   [COUNT count [ANY]] [ASC|DESC] [STORE key] [STOREDIST key]; GEORADIUSBYMEMBER key member ...
_radius_command(
    "georadius",
    -6,
    _COORDS,
    "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a "
    "point",
    georadius_keys,
)
_radius_command(
    "georadiusbymember",
    -5,
    _MEMBER,
    "Query a sorted set representing a geospatial index to fetch members matching a given maximum distance from a "
    "member",
    georadiusbymember_keys,
)
_radius_command("georadius_ro", -6, _COORDS | _NOSTORE, "A read-only variant for GEORADIUS")
_radius_command("georadiusbymember_ro", -5, _MEMBER | _NOSTORE, "A read-only variant for GEORADIUSBYMEMBER")


@command(
    "geosearch",
    -7,
    (READONLY,),
    group=GEO,
    since="6.2.0",
    complexity=_GEOSEARCH_COMPLEXITY,
    summary="Query a sorted set representing a geospatial index to fetch members inside an area of a box or a circle.",
)
def geosearch_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """GEOSEARCH key FROMMEMBER member|FROMLONLAT longitude latitude BYRADIUS radius unit|BYBOX width
    height unit [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]"""
    return _search(ctx, client, argv, 1, _SEARCH)


@command(
    "geosearchstore",
    -8,
    (WRITE, DENYOOM),
    keys=(1, 2, 1),
    group=GEO,
    since="6.2.0",
    complexity=_GEOSEARCH_COMPLEXITY,
    summary="Query a sorted set representing a geospatial index to fetch members inside an area of a box or a "
    "circle, and store the result in another key.",
)
def geosearchstore_command(ctx: Context, client: ClientState, argv: list[bytes]) -> object:
    """GEOSEARCHSTORE destination source FROMMEMBER ...|FROMLONLAT ... BYRADIUS ...|BYBOX ...
    [ASC|DESC] [COUNT count [ANY]] [STOREDIST]"""
    return _search(ctx, client, argv, 2, _SEARCH | _SEARCHSTORE)
