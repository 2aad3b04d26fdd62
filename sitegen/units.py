"""Sizes as people read them: the one convention of every size sitegen shows (build log, About
page, deploy), the same as the site's runtime/units.js shows in the browser.

Decimal units, as browsers and operating systems show download sizes: MB = 10^6 bytes, GB = 10^9
bytes; "75.8 MB", "1.35 GB". `format_bytes` rounds exactly as units.js does (its UNITS table and
JavaScript's Number.prototype.toFixed); tests/test_units.py runs both on the same values.
"""

from decimal import ROUND_HALF_UP, Decimal

# (name, bytes in one unit, digits after the point), largest first: units.js's UNITS.
UNITS = (("GB", 10**9, 2), ("MB", 10**6, 1))


def _unit_of(count: int) -> tuple[str, int, int]:
    # Below 1 MB still MB ("0.4 MB"), as units.js does: one unit for every download size.
    return next((unit for unit in UNITS if count >= unit[1]), UNITS[-1])


def format_bytes(count: int) -> str:
    """`count` bytes as e.g. "75.8 MB" or "1.35 GB", rounded as units.js's formatBytes rounds."""
    name, scale, digits = _unit_of(count)
    # toFixed rounds the exact binary value of the quotient, a tie away from zero; Python's
    # f"{x:.1f}" rounds a tie to even (0.25 -> "0.2" where JavaScript says "0.3").
    amount = Decimal(count / scale).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{amount} {name}"


def format_limit(count: int) -> str:
    """`count` bytes exactly, in the unit `format_bytes` would choose: "1 GB", "104.8576 MB".

    For limits, where a rounded figure would be wrong (a 104.85 MB file passes a 104.8576 MB limit).
    """
    name, scale, _ = _unit_of(count)
    return f"{(Decimal(count) / scale).normalize():f} {name}"
