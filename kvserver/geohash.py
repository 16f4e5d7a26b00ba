"""Geohashes as Redis 7.0 computes them (geohash.c, geohash_helper.c): sans-IO arithmetic only.

A GEO value is a sorted set whose scores are 52-bit geohashes: 26 bits of longitude and 26 of
latitude, interleaved (latitude in the even bits). The arithmetic below is Redis's, operation
for operation in IEEE doubles, with the same libm (Python's ``math`` calls the platform's), so
scores, decoded coordinates and distances are bit-identical to Redis's. The search plan (the
step estimated from the radius, the centre box and its 8 neighbours, the boxes that can't hold
a match left out) is ``search_boxes``: each box is one score range of the sorted set. A search
splits each box into its quarters (each one a sub-range of scores) and drops those that
``Shape.area_filter`` proves hold no match, so that only the points near the shape are decoded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final, NamedTuple

STEP_MAX: Final = 26  # 26 * 2 = 52 bits
LAT_MIN: Final = -85.05112878
LAT_MAX: Final = 85.05112878
LONG_MIN: Final = -180.0
LONG_MAX: Final = 180.0

_D_R: Final = math.pi / 180.0
EARTH_RADIUS_IN_METERS: Final = 6372797.560856
MERCATOR_MAX: Final = 20037726.37

_MASK64: Final = (1 << 64) - 1
_EVEN: Final = 0x5555555555555555
_ODD: Final = 0xAAAAAAAAAAAAAAAA
_TWO63: Final = 2.0**63

# the unit names and their size in meters (extractUnitOrReply)
UNITS: Final = {b"m": 1.0, b"km": 1000.0, b"ft": 0.3048, b"mi": 1609.34}


class Area(NamedTuple):
    """A decoded box: its longitude and latitude ranges."""

    long_min: float
    long_max: float
    lat_min: float
    lat_max: float


def _spread(value: int) -> int:
    """The bits of a byte moved to the even positions of 16 bits."""
    out = 0
    for bit in range(8):
        out |= ((value >> bit) & 1) << (2 * bit)
    return out


_SPREAD: Final = tuple(_spread(byte) for byte in range(256))


def _interleave(lat: int, lon: int) -> int:
    """interleave64: the bits of ``lat`` in the even positions, those of ``lon`` in the odd ones
    (32 bits each), a byte at a time."""
    s = _SPREAD
    x = s[lat & 255] | s[(lat >> 8) & 255] << 16 | s[(lat >> 16) & 255] << 32 | s[(lat >> 24) & 255] << 48
    y = s[lon & 255] | s[(lon >> 8) & 255] << 16 | s[(lon >> 16) & 255] << 32 | s[(lon >> 24) & 255] << 48
    return x | (y << 1)


def _compact(value: int) -> int:
    """The even bits of 16 bits gathered into 8."""
    out = 0
    for bit in range(8):
        out |= ((value >> (2 * bit)) & 1) << bit
    return out


_COMPACT8: Final = tuple(_compact(v) for v in range(256))
_COMPACT: Final = tuple(_COMPACT8[v & 255] | _COMPACT8[v >> 8] << 4 for v in range(1 << 16))


def _deinterleave(bits: int) -> tuple[int, int]:
    """deinterleave64 (64 bits): (the 32 even bits, the 32 odd bits), 16 bits at a time."""
    c = _COMPACT
    m = 0xFFFF
    odd = bits >> 1
    return (
        c[bits & m] | c[bits >> 16 & m] << 8 | c[bits >> 32 & m] << 16 | c[bits >> 48 & m] << 24,
        c[odd & m] | c[odd >> 16 & m] << 8 | c[odd >> 32 & m] << 16 | c[odd >> 48 & m] << 24,
    )


def encode(
    longitude: float,
    latitude: float,
    step: int = STEP_MAX,
    long_range: tuple[float, float] = (LONG_MIN, LONG_MAX),
    lat_range: tuple[float, float] = (LAT_MIN, LAT_MAX),
) -> int | None:
    """geohashEncode: the ``2 * step`` bits of the box holding the point, None outside the ranges."""
    if not LONG_MIN <= longitude <= LONG_MAX or not LAT_MIN <= latitude <= LAT_MAX:
        return None
    if not lat_range[0] <= latitude <= lat_range[1] or not long_range[0] <= longitude <= long_range[1]:
        return None
    lat_offset = (latitude - lat_range[0]) / (lat_range[1] - lat_range[0])
    long_offset = (longitude - long_range[0]) / (long_range[1] - long_range[0])
    lat_offset *= 1 << step
    long_offset *= 1 << step
    return _interleave(int(lat_offset), int(long_offset))


_LAT_SCALE: Final = LAT_MAX - LAT_MIN
_LONG_SCALE: Final = LONG_MAX - LONG_MIN
_CELLS: Final = float(1 << STEP_MAX)


def score_of(longitude: float, latitude: float) -> int:
    """The sorted-set score GEOADD gives a point already checked to be in range: ``encode`` at
    step 26 over Redis's ranges, the same operations without the checks."""
    return _interleave(
        int((latitude - LAT_MIN) / _LAT_SCALE * _CELLS), int((longitude - LONG_MIN) / _LONG_SCALE * _CELLS)
    )


def decode_area(bits: int, step: int) -> Area:
    """geohashDecode over Redis's coordinate ranges (``ilato + 1`` is uint32_t arithmetic)."""
    lat_bits, long_bits = _deinterleave(bits)
    size = float(1 << step)
    return Area(
        LONG_MIN + (long_bits * 1.0 / size) * _LONG_SCALE,
        LONG_MIN + (((long_bits + 1) & 0xFFFFFFFF) * 1.0 / size) * _LONG_SCALE,
        LAT_MIN + (lat_bits * 1.0 / size) * _LAT_SCALE,
        LAT_MIN + (((lat_bits + 1) & 0xFFFFFFFF) * 1.0 / size) * _LAT_SCALE,
    )


def score_bits(score: float) -> int:
    """``(uint64_t)score`` as gcc compiles it on x86-64 (any double a sorted set may hold)."""
    if math.isnan(score):
        return 1 << 63
    if score < _TWO63:
        if score <= -_TWO63:
            return 1 << 63
        return int(score) & _MASK64
    if score - _TWO63 >= _TWO63:
        return 0
    return int(score - _TWO63) ^ (1 << 63)


def decode(score: float) -> tuple[float, float]:
    """The (longitude, latitude) a score stands for: the centre of its box, clamped (decode_area
    at step 26, inlined: a search decodes every point of its boxes)."""
    bits = int(score) if 0.0 <= score < _TWO63 else score_bits(score)
    lat_bits, long_bits = _deinterleave(bits)
    lon = (
        LONG_MIN
        + (long_bits * 1.0 / _CELLS) * _LONG_SCALE
        + (LONG_MIN + (((long_bits + 1) & 0xFFFFFFFF) * 1.0 / _CELLS) * _LONG_SCALE)
    ) / 2
    lat = (
        LAT_MIN
        + (lat_bits * 1.0 / _CELLS) * _LAT_SCALE
        + (LAT_MIN + (((lat_bits + 1) & 0xFFFFFFFF) * 1.0 / _CELLS) * _LAT_SCALE)
    ) / 2
    if lon > LONG_MAX:
        lon = LONG_MAX
    elif lon < LONG_MIN:
        lon = LONG_MIN
    if lat > LAT_MAX:
        lat = LAT_MAX
    elif lat < LAT_MIN:
        lat = LAT_MIN
    return lon, lat


_ALPHABET: Final = b"0123456789bcdefghjkmnpqrstuvwxyz"


def standard_geohash(score: float) -> bytes:
    """GEOHASH's 11 characters: the point re-encoded over [-180, 180] x [-90, 90], the last one '0'."""
    lon, lat = decode(score)
    bits = encode(lon, lat, STEP_MAX, (-180.0, 180.0), (-90.0, 90.0)) or 0
    chars = bytearray(_ALPHABET[(bits >> (52 - (i + 1) * 5)) & 0x1F] for i in range(10))
    chars.append(_ALPHABET[0])
    return bytes(chars)


# --- distances -----------------------------------------------------------------------------------

# libm's answer where Python's math raises instead (an infinite radius's bounding box): NaN


def _cos(x: float) -> float:
    return math.cos(x) if math.isfinite(x) else math.nan


def _rad(degrees: float) -> float:
    return degrees * _D_R


def lat_distance(lat1: float, lat2: float) -> float:
    return EARTH_RADIUS_IN_METERS * math.fabs(lat2 * _D_R - lat1 * _D_R)


def distance(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """The haversine distance in meters (geohashGetDistance)."""
    lon1r = lon1 * _D_R
    lon2r = lon2 * _D_R
    v = math.sin((lon2r - lon1r) / 2)  # (coordinates are finite: libm and math agree)
    if v == 0.0:
        return lat_distance(lat1, lat2)
    lat1r = lat1 * _D_R
    lat2r = lat2 * _D_R
    u = math.sin((lat2r - lat1r) / 2)
    a = u * u + math.cos(lat1r) * math.cos(lat2r) * v * v
    root = math.sqrt(a)
    return 2.0 * EARTH_RADIUS_IN_METERS * (math.asin(root) if root <= 1.0 else math.nan)


# --- search shapes -------------------------------------------------------------------------------


class Shape(NamedTuple):
    """A search area: its centre, a radius or a box (width, height), in ``unit`` meters."""

    longitude: float
    latitude: float
    unit: float
    radius: float = 0.0
    width: float = 0.0
    height: float = 0.0
    box: bool = False

    def distance_if_within(self, lon: float, lat: float) -> float | None:
        """The distance from the centre to a point in the area (meters), None outside it."""
        if not self.box:
            dist = distance(self.longitude, self.latitude, lon, lat)
            return None if dist > self.radius * self.unit else dist
        if lat_distance(lat, self.latitude) > self.height * self.unit / 2:
            return None
        if distance(lon, lat, self.longitude, lat) > self.width * self.unit / 2:
            return None
        return distance(self.longitude, self.latitude, lon, lat)

    def score_matcher(self) -> Callable[[float], tuple[float, float, float] | None]:
        """``distance_if_within`` of a score of [0, 2^52)'s point: (distance, longitude, latitude)
        for a point in the shape, None outside. ``decode`` and (for a circle) ``distance`` are
        inlined with the centre's terms (its radians, its cosine) computed once: the same
        operations on the same values (a search calls this for every point it reads)."""
        c = _COMPACT
        long_min, long_max, lat_min, lat_max = LONG_MIN, LONG_MAX, LAT_MIN, LAT_MAX
        long_scale, lat_scale, cells = _LONG_SCALE, _LAT_SCALE, _CELLS
        within = self.distance_if_within
        circle = not self.box
        lon1r = self.longitude * _D_R
        lat1r = self.latitude * _D_R
        cos1 = math.cos(lat1r)
        limit = self.radius * self.unit
        sin, cos, sqrt, asin, fabs, nan = math.sin, math.cos, math.sqrt, math.asin, math.fabs, math.nan
        radius, d_r = EARTH_RADIUS_IN_METERS, _D_R

        def match(score: float) -> tuple[float, float, float] | None:
            bits = int(score)
            odd = bits >> 1
            lat_bits = (
                c[bits & 0xFFFF] | c[bits >> 16 & 0xFFFF] << 8 | c[bits >> 32 & 0xFFFF] << 16 | c[bits >> 48] << 24
            )
            long_bits = c[odd & 0xFFFF] | c[odd >> 16 & 0xFFFF] << 8 | c[odd >> 32 & 0xFFFF] << 16 | c[odd >> 48] << 24
            lon = (
                long_min
                + (long_bits * 1.0 / cells) * long_scale
                + (long_min + ((long_bits + 1) * 1.0 / cells) * long_scale)
            ) / 2
            lat = (
                lat_min + (lat_bits * 1.0 / cells) * lat_scale + (lat_min + ((lat_bits + 1) * 1.0 / cells) * lat_scale)
            ) / 2
            if lon > long_max:
                lon = long_max
            if lat > lat_max:
                lat = lat_max
            if circle:
                v = sin((lon * d_r - lon1r) / 2)
                if v == 0.0:
                    dist = radius * fabs(lat * d_r - lat1r)
                else:
                    lat2r = lat * d_r
                    u = sin((lat2r - lat1r) / 2)
                    root = sqrt(u * u + cos1 * cos(lat2r) * v * v)
                    dist = 2.0 * radius * (asin(root) if root <= 1.0 else nan)
                return None if dist > limit else (dist, lon, lat)
            found = within(lon, lat)
            return None if found is None else (found, lon, lat)

        return match

    def area_bound(self) -> Callable[[int, int], float | None]:
        """A conservative test of a box (its ``2 * step`` bits): None where no point of the box
        can be in the shape, else a lower bound of the haversine value (sin^2 of half the angle)
        of the distance from the centre to any point of the box (compare with ``widened``).

        It bounds the haversine's terms from below over the box (the latitude gap, the longitude
        gap and the smallest cosine of the box's latitudes) and widens the shape by far more than
        the rounding of either computation; it is meant for the boxes of a plan of step 4 or
        more, whose points are all within 90 degrees of the centre (no distance near half the
        globe, where ``asin`` loses precision or gives NaN)."""
        clon, clat = self.longitude, self.latitude
        cos1 = math.cos(clat * _D_R)
        if self.box:
            reach_lat, reach_lon = self.height * self.unit / 2, self.width * self.unit / 2
        else:
            reach_lat = reach_lon = self.radius * self.unit
        hav_lat, hav_lon = widened(reach_lat), widened(reach_lon)
        lat_gap_max = (reach_lat * (1 + 1e-9) + 1e-3) / EARTH_RADIUS_IN_METERS  # radians (box: R * |dlat|)
        box = self.box
        sin, cos, half = math.sin, math.cos, _D_R / 2

        def bound(bits: int, step: int) -> float | None:
            area = decode_area(bits, step)
            if area.lat_min > clat:
                dlat = area.lat_min - clat
            elif area.lat_max < clat:
                dlat = clat - area.lat_max
            else:
                dlat = 0.0
            if area.long_min <= clon <= area.long_max:
                dlon = 0.0
            else:
                dlon = min((area.long_min - clon) % 360.0, (clon - area.long_max) % 360.0)
            cos2 = min(cos(area.lat_min * _D_R), cos(area.lat_max * _D_R))
            h_lon = sin(dlon * half) ** 2
            lowest = sin(dlat * half) ** 2 + cos1 * cos2 * h_lon
            if box:
                if dlat * _D_R > lat_gap_max or cos2 * cos2 * h_lon > hav_lon:
                    return None
            elif lowest > hav_lat:
                return None
            return lowest

        return bound

    def bounding_box(self) -> tuple[float, float, float, float]:
        """geohashBoundingBox: (min long, min lat, max long, max lat)."""
        lon, lat = self.longitude, self.latitude
        height = self.unit * (self.height / 2 if self.box else self.radius)
        width = self.unit * (self.width / 2 if self.box else self.radius)
        lat_delta = height / EARTH_RADIUS_IN_METERS / _D_R
        long_delta_top = width / EARTH_RADIUS_IN_METERS / _cos(_rad(lat + lat_delta)) / _D_R
        long_delta_bottom = width / EARTH_RADIUS_IN_METERS / _cos(_rad(lat - lat_delta)) / _D_R
        delta = long_delta_bottom if lat < 0 else long_delta_top
        return lon - delta, lat - lat_delta, lon + delta, lat + lat_delta


def widened(meters: float) -> float:
    """The haversine value (sin^2 of half the angle) of a distance plus a margin far above the
    rounding of a distance or of ``Shape.area_bound``; 2.0 (above any) from a quarter of the globe."""
    angle = (meters * (1 + 1e-9) + 1e-3) / EARTH_RADIUS_IN_METERS
    return math.sin(angle / 2) ** 2 if angle < math.pi / 2 else 2.0


def estimate_step(range_meters: float, lat: float) -> int:
    """geohashEstimateStepsByRadius: the box size for a search of that reach."""
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    return min(max(step, 1), 26)


def _move(bits: int, step: int, d: int, lat_axis: bool) -> int:
    """geohash_move_x (longitude, odd bits) or geohash_move_y (latitude, even bits) by ``d``."""
    x = bits & _ODD
    y = bits & _EVEN
    width = 64 - step * 2
    if lat_axis:
        zz = _ODD >> width
        y = (y + (zz + 1)) if d > 0 else ((y | zz) - (zz + 1))
        y &= _EVEN >> width
    else:
        zz = _EVEN >> width
        x = (x + (zz + 1)) if d > 0 else ((x | zz) - (zz + 1))
        x &= _ODD >> width
    return (x | y) & _MASK64


def _neighbour(bits: int, step: int, dx: int, dy: int) -> int:
    if dx:
        bits = _move(bits, step, dx, lat_axis=False)
    if dy:
        bits = _move(bits, step, dy, lat_axis=True)
    return bits


# membersOfAllNeighbors's order: self, N, S, E, W, NE, NW, SE, SW as (dx, dy)
_DIRECTIONS: Final = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1))


def search_boxes(shape: Shape) -> list[tuple[int, int]]:
    """The score ranges [min, max) to read for a search, in Redis's order (geohashCalculateAreas-
    ByShapeWGS84, then membersOfAllNeighbors: the boxes left out, and a box equal to the one read
    just before it, are skipped)."""
    return search_plan(shape)[1]


def search_plan(shape: Shape) -> tuple[int, list[tuple[int, int]]]:
    """``search_boxes`` with the step of its boxes."""
    min_lon, min_lat, max_lon, max_lat = shape.bounding_box()
    lon, lat = shape.longitude, shape.latitude
    if shape.box:
        reach = math.sqrt((shape.width / 2) * (shape.width / 2) + (shape.height / 2) * (shape.height / 2))
    else:
        reach = shape.radius
    reach *= shape.unit
    step = estimate_step(reach, lat)

    def plan(step: int) -> tuple[int, list[int]]:
        centre = encode(lon, lat, step) or 0
        return centre, [_neighbour(centre, step, dx, dy) for dx, dy in _DIRECTIONS]

    centre, boxes = plan(step)
    north, south = decode_area(boxes[1], step), decode_area(boxes[2], step)
    east, west = decode_area(boxes[3], step), decode_area(boxes[4], step)
    if step > 1 and (
        north.lat_max < max_lat or south.lat_min > min_lat or east.long_max < max_lon or west.long_min > min_lon
    ):
        step -= 1
        centre, boxes = plan(step)
    live = [True] * 9
    if step >= 2:
        area = decode_area(centre, step)
        if area.lat_min < min_lat:
            live[2] = live[8] = live[7] = False  # south, south west, south east
        if area.lat_max > max_lat:
            live[1] = live[5] = live[6] = False  # north, north east, north west
        if area.long_min < min_lon:
            live[4] = live[8] = live[6] = False  # west, south west, north west
        if area.long_max > max_lon:
            live[3] = live[7] = live[5] = False  # east, south east, north east
    ranges: list[tuple[int, int]] = []
    last = 0  # as Redis's last_processed: a box equal to the centre box is read twice
    shift = 52 - step * 2
    for i, bits in enumerate(boxes):
        if not live[i]:
            continue
        if last and bits == boxes[last]:
            continue
        ranges.append((bits << shift, (bits + 1) << shift))
        last = i
    return step, ranges
