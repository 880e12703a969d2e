"""Order money rules in integer fen: checking sums, spreading discounts, refunding returns.

Every amount is an `int` of fen; floats never enter, because a float total that is off by 0.01 yuan
is exactly the kind of error this module exists to catch. Divisions are integer divisions whose
rounding is chosen on purpose (largest remainder for discounts, cumulative floor for refunds) so
that parts always add back up to the whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from yipan.kernel.errors import Conflict


class AmountLine(Protocol):
    """What the sum check needs of an order line; ORM rows and schemas satisfy it as they are."""

    @property
    def unit_price_fen(self) -> int: ...

    @property
    def quantity(self) -> int: ...

    @property
    def line_discount_fen(self) -> int: ...


@dataclass(frozen=True)
class LineAmounts:
    unit_price_fen: int
    quantity: int
    line_discount_fen: int = 0

    @property
    def subtotal_fen(self) -> int:
        return line_subtotal(self)


class Problem(StrEnum):
    NOT_INTEGER = "not_integer"
    NEGATIVE_PRICE = "negative_price"
    NON_POSITIVE_QUANTITY = "non_positive_quantity"
    NEGATIVE_DISCOUNT = "negative_discount"
    DISCOUNT_EXCEEDS_LINE = "discount_exceeds_line"
    SUBTOTAL_MISMATCH = "subtotal_mismatch"
    NEGATIVE_SHIPPING = "negative_shipping"
    DISCOUNT_EXCEEDS_ORDER = "discount_exceeds_order"
    TOTAL_MISMATCH = "total_mismatch"


@dataclass(frozen=True)
class SumProblem:
    """One inconsistency. `line` is the index in the lines given, None for order-level fields."""

    problem: Problem
    field: str
    line: int | None
    expected: int | None
    given: object

    def as_dict(self) -> dict[str, object]:
        return {
            "problem": self.problem.value,
            "field": self.field,
            "line": self.line,
            "expected": self.expected,
            "given": self.given,
        }


class ReturnExceedsPurchase(Conflict):
    code = "RETURN_EXCEEDS_PURCHASE"


def _is_int(value: object) -> bool:
    # bool is an int subclass, and True fen is a bug, not one fen.
    return isinstance(value, int) and not isinstance(value, bool)


def line_subtotal(line: AmountLine) -> int:
    """unit price × quantity − line discount, possibly negative when the line is inconsistent."""
    return line.unit_price_fen * line.quantity - line.line_discount_fen


def validate_order_sums(
    lines: Sequence[AmountLine],
    shipping_fen: int,
    order_discount_fen: int,
    total_fen: int,
    *,
    line_subtotals_fen: Sequence[int] | None = None,
) -> list[SumProblem]:
    """Every inconsistency between an order's lines and its total; empty when all agree.

    total = Σ (unit price × quantity − line discount) − order discount + shipping. The order
    discount applies to goods only, so it may not exceed the goods subtotal. When a channel sends
    its own per-line subtotals, pass them as `line_subtotals_fen` to have each one checked too.
    """
    problems: list[SumProblem] = []
    if line_subtotals_fen is not None and len(line_subtotals_fen) != len(lines):
        raise ValueError("line_subtotals_fen must have one entry per line")
    fields = [("shipping_fen", shipping_fen), ("order_discount_fen", order_discount_fen)]
    fields.append(("total_fen", total_fen))
    for i, line in enumerate(lines):
        for name in ("unit_price_fen", "quantity", "line_discount_fen"):
            value = getattr(line, name)
            if not _is_int(value):
                problems.append(SumProblem(Problem.NOT_INTEGER, name, i, None, value))
    for name, value in fields:
        if not _is_int(value):
            problems.append(SumProblem(Problem.NOT_INTEGER, name, None, None, value))
    if problems:
        # Arithmetic on floats would only produce confusing "expected" figures.
        return problems

    goods = 0
    for i, line in enumerate(lines):
        if line.unit_price_fen < 0:
            problems.append(
                SumProblem(Problem.NEGATIVE_PRICE, "unit_price_fen", i, 0, line.unit_price_fen)
            )
        if line.quantity <= 0:
            problems.append(
                SumProblem(Problem.NON_POSITIVE_QUANTITY, "quantity", i, 1, line.quantity)
            )
        if line.line_discount_fen < 0:
            problems.append(
                SumProblem(
                    Problem.NEGATIVE_DISCOUNT, "line_discount_fen", i, 0, line.line_discount_fen
                )
            )
        gross = line.unit_price_fen * line.quantity
        if line.line_discount_fen > gross:
            problems.append(
                SumProblem(
                    Problem.DISCOUNT_EXCEEDS_LINE,
                    "line_discount_fen",
                    i,
                    gross,
                    line.line_discount_fen,
                )
            )
        subtotal = gross - line.line_discount_fen
        if line_subtotals_fen is not None and line_subtotals_fen[i] != subtotal:
            problems.append(
                SumProblem(
                    Problem.SUBTOTAL_MISMATCH, "subtotal_fen", i, subtotal, line_subtotals_fen[i]
                )
            )
        goods += subtotal

    if shipping_fen < 0:
        problems.append(
            SumProblem(Problem.NEGATIVE_SHIPPING, "shipping_fen", None, 0, shipping_fen)
        )
    # A negative goods sum is already reported line by line; do not blame the order discount too.
    if order_discount_fen < 0:
        problems.append(
            SumProblem(Problem.NEGATIVE_DISCOUNT, "order_discount_fen", None, 0, order_discount_fen)
        )
    elif order_discount_fen > max(0, goods):
        problems.append(
            SumProblem(
                Problem.DISCOUNT_EXCEEDS_ORDER,
                "order_discount_fen",
                None,
                goods,
                order_discount_fen,
            )
        )
    expected_total = goods - order_discount_fen + shipping_fen
    if total_fen != expected_total:
        problems.append(
            SumProblem(Problem.TOTAL_MISMATCH, "total_fen", None, expected_total, total_fen)
        )
    return problems


def refund_for(
    line_paid_fen: int,
    line_quantity: int,
    returned_quantity: int,
    already_refunded_quantity: int = 0,
    already_refunded_fen: int = 0,
) -> int:
    """The refund in fen for returning `returned_quantity` more units of a line.

    The line's refund is defined cumulatively: after k of n units are back, floor(paid × k / n)
    has been refunded in total. So the amount depends only on how many units are back, not on how
    the returns were split; it never gets ahead of the exact proportional share, and the last
    return (k = n) brings the total to exactly what was paid. If more than the formula was already
    refunded (a goodwill refund, say) the difference is withheld until the remainder catches up.
    """
    if line_paid_fen < 0:
        raise ValueError("line_paid_fen must not be negative")
    if line_quantity <= 0:
        raise ValueError("line_quantity must be positive")
    if returned_quantity <= 0:
        raise ValueError("returned_quantity must be positive")
    if already_refunded_quantity < 0 or already_refunded_fen < 0:
        raise ValueError("already refunded amounts must not be negative")
    if already_refunded_fen > line_paid_fen:
        raise ValueError("more was already refunded than was paid")
    back = already_refunded_quantity + returned_quantity
    if back > line_quantity:
        raise ReturnExceedsPurchase(
            f"cannot return {returned_quantity}: {already_refunded_quantity} of "
            f"{line_quantity} bought are already back",
            line_quantity=line_quantity,
            already_returned=already_refunded_quantity,
            requested=returned_quantity,
            returnable=line_quantity - already_refunded_quantity,
        )
    target = line_paid_fen * back // line_quantity
    return max(0, target - already_refunded_fen)


def within_return_window(delivered_at: datetime, now: datetime, days: int) -> bool:
    """True while fewer than `days` have passed since delivery (the boundary instant is out)."""
    if days < 0:
        raise ValueError("days must not be negative")
    return now < delivered_at + timedelta(days=days)
