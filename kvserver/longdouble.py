"""Exact emulation of the x86-64 ``long double`` that Redis's INCRBYFLOAT and HINCRBYFLOAT use.

Redis parses with ``strtold`` (decimal and hexadecimal floats, ``inf``), adds two 80-bit x87
long doubles (64-bit mantissa, exponents -16382..16383, subnormals below) and prints the sum with
``%.17Lf`` before trimming trailing zeros. Here a value is an exact ``Fraction`` holding a long
double; each step rounds as the hardware and glibc do (to nearest, ties to even), so results
match Redis digit for digit, 1e400 and 0x1p3 included. Infinity is ``float('inf')``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

MANTISSA_BITS: Final = 64
MIN_EXPONENT: Final = -16382  # of a normal number: 2**-16382
MAX_EXPONENT: Final = 16383
_OVERFLOW: Final = Fraction(2 ** (MAX_EXPONENT + 1))
MAX_CHARS: Final = 5 * 1024  # Redis's MAX_LONG_DOUBLE_CHARS: longer strings are not numbers
INF: Final = float("inf")

_DECIMAL = re.compile(rb"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_HEX = re.compile(rb"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
_INFINITY = re.compile(rb"([+-]?)(?i:inf|infinity)")

LongDouble = Fraction | float  # a float only for +-inf


_CHUNK_DIGITS: Final = 4000  # under Python's limit on int <-> decimal str conversions (4300)


def _int_from_digits(digits: bytes) -> int:
    """int(digits) for up to MAX_CHARS digits, by chunks under Python's conversion limit."""
    value = 0
    for start in range(0, len(digits), _CHUNK_DIGITS):
        chunk = digits[start : start + _CHUNK_DIGITS]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _digits_of(value: int) -> bytes:
    """b"%d" % value for a non-negative int of any size (the integer part of 1e4932 has 4933)."""
    if value < 10**_CHUNK_DIGITS:
        return b"%d" % value
    high, low = divmod(value, 10**_CHUNK_DIGITS)
    return _digits_of(high) + (b"%d" % low).rjust(_CHUNK_DIGITS, b"0")


def _exponent(raw: bytes | None) -> int:
    if not raw:
        return 0
    # an exponent this long over- or underflows anyway: don't build a huge int
    return int(raw) if len(raw) <= 12 else (10**12 if raw[:1] != b"-" else -(10**12))


def round_to_long_double(value: Fraction) -> LongDouble:
    """The long double nearest ``value`` (ties to even), or +-inf past the largest one."""
    if value == 0:
        return Fraction(0)
    sign = -1 if value < 0 else 1
    n, d = abs(value.numerator), value.denominator
    exponent = n.bit_length() - d.bit_length()  # 2**exponent <= |value| < 2**(exponent + 2)
    if (n << max(0, -exponent)) < (d << max(0, exponent)):
        exponent -= 1
    exponent = max(exponent, MIN_EXPONENT)  # subnormals share the smallest exponent
    shift = MANTISSA_BITS - 1 - exponent
    num, den = (n << shift, d) if shift >= 0 else (n, d << -shift)
    mantissa, rest = divmod(num, den)
    if 2 * rest > den or (2 * rest == den and mantissa & 1):
        mantissa += 1
    result = Fraction(mantissa, 1 << shift) if shift >= 0 else Fraction(mantissa << -shift)
    if result >= _OVERFLOW:
        return sign * INF
    return sign * result


def parse(raw: bytes) -> LongDouble | None:
    """``raw`` as Redis's string2ld reads it with strtold, or None where Redis says "not a valid
    float": empty, too long, spaces, trailing bytes, nan, overflow, and underflow to zero."""
    if not raw or len(raw) >= MAX_CHARS:
        return None
    match = _HEX.fullmatch(raw)
    if match is not None:
        sign, whole, fraction, exp = match.groups()
        digits = whole + (fraction or b"")
        if not digits:
            return None  # "0x" alone: strtold reads the 0 and stops at the x
        mantissa = int(digits, 16)
        power = _exponent(exp) - 4 * len(fraction or b"")
        magnitude = mantissa.bit_length() + power  # |value| < 2**magnitude
        if mantissa and magnitude > MAX_EXPONENT + 2:
            return None
        if mantissa and magnitude < MIN_EXPONENT - MANTISSA_BITS - 2:
            return None
        exact = Fraction(mantissa) * (Fraction(2) ** power)
    elif (match := _DECIMAL.fullmatch(raw)) is not None:
        sign, whole, fraction, exp = match.groups()
        digits = whole + (fraction or b"")
        if not digits:
            return None
        significant = digits.lstrip(b"0")
        mantissa = _int_from_digits(significant) if significant else 0
        power = _exponent(exp) - len(fraction or b"")
        magnitude = len(significant) + power  # |value| < 10**magnitude
        if mantissa and magnitude > 4934:  # LDBL_MAX is about 1.19e4932
            return None
        if mantissa and magnitude < -4952:  # half the smallest subnormal is about 1.8e-4951
            return None
        exact = Fraction(mantissa) * (Fraction(10) ** power)
    elif (match := _INFINITY.fullmatch(raw)) is not None:
        return -INF if match.group(1) == b"-" else INF
    else:
        return None
    value = round_to_long_double(exact)
    if isinstance(value, float):
        return None  # overflow: ERANGE with HUGE_VAL
    if value == 0 and mantissa:
        return None  # underflow to zero: ERANGE
    return -value if sign == b"-" else value


def add(a: LongDouble, b: LongDouble) -> Fraction | None:
    """``a + b`` in long double arithmetic; None for NaN or an infinite result."""
    if isinstance(a, float) or isinstance(b, float):
        return None  # an infinite operand gives inf or nan
    total = round_to_long_double(a + b)
    return total if isinstance(total, Fraction) else None


def format_human(value: Fraction) -> bytes:
    """glibc's ``%.17Lf`` (exact, ties to even), trailing zeros and dot removed, "-0" as "0"."""
    scaled = abs(value) * 10**17
    units, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest > scaled.denominator or (2 * rest == scaled.denominator and units & 1):
        units += 1
    whole, fraction = divmod(units, 10**17)
    text = (_digits_of(whole) + b".%017d" % fraction).rstrip(b"0").rstrip(b".")
    if value < 0 and text != b"0":
        text = b"-" + text
    return text


__all__ = ["INF", "LongDouble", "add", "format_human", "parse", "round_to_long_double"]
