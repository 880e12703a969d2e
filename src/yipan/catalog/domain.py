"""Catalogue rules over plain values: GTIN check digits and prices written in yuan."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

GTIN_LENGTHS = frozenset({8, 12, 13, 14})


def gtin_is_valid(code: str) -> bool:
    """Check the GS1 check digit of an EAN-8, UPC-A, EAN-13 or GTIN-14 code."""
    if not code.isdigit() or len(code) not in GTIN_LENGTHS:
        return False
    digits = [int(c) for c in code]
    body, check = digits[:-1], digits[-1]
    # Weights alternate 3, 1, 3 … starting from the digit next to the check digit.
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def barcode_problem(code: str) -> str | None:
    """Why a barcode is unacceptable, or None. Numeric codes of GTIN length must check out;
    other shapes are in-house codes and are taken as they are."""
    if not code.strip():
        return "barcode is empty"
    if code.isdigit() and len(code) in GTIN_LENGTHS and not gtin_is_valid(code):
        return f"barcode {code} has a wrong GTIN check digit"
    return None


def yuan_to_fen(text: str) -> int:
    """Parse a price written in yuan ("399", "399.5", "1,299.00", "¥59.90") into integer fen.

    Exact decimal arithmetic; more than two decimal places is an error, never rounded.
    """
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a price") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{text!r} is not a price")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{text!r} has more than two decimal places")
    return int(fen)
