"""Catalogue rules over plain values: GTIN check digits, prices written in yuan, and the price
policy (which price a SKU has through a channel in a region, and whether a charge fits it)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

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


# -- price policy ------------------------------------------------------------------------------
#
# One list price per SKU for every channel. A departure from it is an explicit exception scoped
# to a channel, a region (a province, as written on the nodes) or both, with a reason and an
# optional validity window [valid_from, valid_until). The most specific exception in force wins:
# channel + region, then channel, then region, then the list price.

NO_RULE = "no rule"


class Scope(IntEnum):
    """How specific an exception is; a larger value beats a smaller one."""

    REGION = 1
    CHANNEL = 2
    CHANNEL_AND_REGION = 3


@dataclass(frozen=True, kw_only=True)
class PriceRule:
    """A price exception as a plain value."""

    id: int
    channel: str | None
    region: str | None
    price_fen: int
    reason: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @property
    def scope(self) -> Scope:
        if self.channel is not None and self.region is not None:
            return Scope.CHANNEL_AND_REGION
        if self.channel is not None:
            return Scope.CHANNEL
        if self.region is not None:
            return Scope.REGION
        raise ValueError(f"price exception {self.id} names neither a channel nor a region")

    def in_force(self, at: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )

    def covers(self, channel: str | None, region: str | None) -> bool:
        """Whether a sale through `channel` in `region` falls in this exception's scope."""
        return (self.channel is None or self.channel == channel) and (
            self.region is None or self.region == region
        )

    def applies(self, channel: str | None, region: str | None, at: datetime) -> bool:
        return self.covers(channel, region) and self.in_force(at)


@dataclass(frozen=True)
class Resolved:
    """The price a SKU has through one channel in one region at one instant, and why."""

    price_fen: int
    rule: PriceRule | None  # None: the list price applies


def effective_price(
    list_price_fen: int,
    rules: Iterable[PriceRule],
    *,
    channel: str | None,
    region: str | None,
    at: datetime,
) -> Resolved:
    """The most specific exception in force for (channel, region) at `at`, else the list price.

    Exceptions of one scope never overlap in time (the catalogue refuses that), so at most one
    rule per scope applies; should two ever do, the later one (larger id) wins.
    """
    best: PriceRule | None = None
    for rule in rules:
        if rule.applies(channel, region, at) and (
            best is None or (rule.scope, rule.id) > (best.scope, best.id)
        ):
            best = rule
    return Resolved(list_price_fen if best is None else best.price_fen, best)


def windows_overlap(
    a_from: datetime | None,
    a_until: datetime | None,
    b_from: datetime | None,
    b_until: datetime | None,
) -> bool:
    """Whether two half-open windows [from, until) share an instant; None is unbounded."""
    return (a_until is None or b_from is None or b_from < a_until) and (
        b_until is None or a_from is None or a_from < b_until
    )


class Verdict(StrEnum):
    """How a charged price stands against the policy."""

    AS_LISTED = "as_listed"  # the list price, and no exception says otherwise
    EXPLAINED = "explained"  # differs from the list price, as an exception in force says
    NO_RULE = "no_rule"  # differs from what the policy says, and no rule explains it


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    expected: Resolved  # what the policy says the price was


def judge_charge(
    charged_fen: int,
    list_price_fen: int,
    rules: Iterable[PriceRule],
    *,
    channel: str | None,
    region: str | None,
    at: datetime,
) -> Judgement:
    """Compare a unit price charged (before any promotion discount) with the policy at `at`.

    Charging the list price while an exception is in force is a departure too: the channel did
    not apply the price the policy set for it.
    """
    expected = effective_price(list_price_fen, rules, channel=channel, region=region, at=at)
    if charged_fen != expected.price_fen:
        return Judgement(Verdict.NO_RULE, expected)
    if charged_fen == list_price_fen:
        return Judgement(Verdict.AS_LISTED, expected)
    return Judgement(Verdict.EXPLAINED, expected)


@dataclass(frozen=True, kw_only=True)
class PricePolicy:
    """A SKU's list price and the exceptions to it that matter for a period."""

    sku: str
    name: str
    category_code: str
    list_price_fen: int
    currency: str
    rules: tuple[PriceRule, ...]


@dataclass(frozen=True, kw_only=True)
class ObservedCharge:
    """Lines of one SKU sold through one channel in one region at one unit price.

    Every line of one observation falls in a stretch of time where the same exceptions were in
    force (see `rule_boundaries`), so the policy is judged once, at `first_at`.
    """

    sku: str
    channel: str
    region: str | None
    unit_price_fen: int
    units: int
    lines: int
    first_at: datetime
    last_at: datetime


def rule_boundaries(rules: Iterable[PriceRule], since: datetime, until: datetime) -> list[datetime]:
    """The instants strictly inside (since, until) where some exception starts or ends: between
    two consecutive ones the same exceptions are in force."""
    instants = {t for r in rules for t in (r.valid_from, r.valid_until) if t is not None}
    return sorted(t for t in instants if since < t < until)
