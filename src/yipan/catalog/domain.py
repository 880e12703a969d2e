"""Catalogue rules over plain values: GTIN check digits and prices written in yuan."""

from __future__ import annotations

import re

GTIN_LENGTHS = frozenset({8, 12, 13, 14})

# Plain ASCII digits only: `Decimal` would also take "1e2", "NaN", "1_000" and full-width digits,
# none of which belongs in a price column.
_YUAN = re.compile(r"(?P<whole>[0-9]*)(?:\.(?P<frac>[0-9]*))?")


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit for `body`, a GTIN without its last digit."""
    if not body.isascii() or not body.isdigit():
        raise ValueError(f"{body!r} is not a string of digits")
    # Weights alternate 3, 1, 3 … starting from the digit next to the check digit.
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def gtin_is_valid(code: str) -> bool:
    """Check the GS1 check digit of an EAN-8, UPC-A, EAN-13 or GTIN-14 code."""
    if not code.isascii() or not code.isdigit() or len(code) not in GTIN_LENGTHS:
        return False
    return gtin_check_digit(code[:-1]) == int(code[-1])


def barcode_problem(code: str) -> str | None:
    """Why a barcode is unacceptable, or None. Numeric codes of GTIN length must check out;
    other shapes are in-house codes and are taken as they are."""
    if not code.strip():
        return "barcode is empty"
    if code.isdigit() and not code.isascii():
        return f"barcode {code} uses non-ASCII (e.g. full-width) digits"
    if code.isdigit() and len(code) in GTIN_LENGTHS and not gtin_is_valid(code):
        return f"barcode {code} has a wrong GTIN check digit"
    return None


def yuan_to_fen(text: str) -> int:
    """Parse a price written in yuan ("399", "399.5", "1,299.00", "¥59.90") into integer fen.

    Exact integer arithmetic; a third decimal place other than zero is an error, never rounded.
    """
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "").strip()
    if cleaned.startswith("-"):
        raise ValueError(f"{text!r} is negative; a price cannot be")
    match = _YUAN.fullmatch(cleaned)
    if match is None or not (match["whole"] or match["frac"]):
        raise ValueError(f"{text!r} is not a price in yuan")
    frac = match["frac"] or ""
    if frac[2:].strip("0"):
        raise ValueError(f"{text!r} has more than two decimal places")
    return int(match["whole"] or "0") * 100 + int(frac[:2].ljust(2, "0"))
