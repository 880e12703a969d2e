"""Money shared by every context: integer fen split so that the parts add up to the whole.

An order discount spread over lines, a promotion spread over the lines it covers, a refund: all
are integer divisions whose remainders must land somewhere on purpose, never in a float.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate_discount(order_discount_fen: int, line_subtotals: Sequence[int]) -> list[int]:
    """Spread an order-level discount over lines in proportion to their subtotals.

    Largest-remainder method: each line first gets the floor of its exact share, then the fen
    left over go one each to the lines with the largest remainders (ties: larger subtotal, then
    earlier line). The parts sum exactly to the discount, each is within 1 fen of its exact share,
    and none exceeds its line's subtotal.
    """
    # A negative goods sum is already reported line by line; do not blame the order discount too.
    if order_discount_fen < 0:
        raise ValueError("order_discount_fen must not be negative")
    if min(line_subtotals, default=0) < 0:
        raise ValueError("line subtotals must not be negative")
    total = sum(line_subtotals)
    if order_discount_fen > total:
        raise ValueError(f"discount {order_discount_fen} exceeds the lines' total {total}")
    if total == 0:
        return [0] * len(line_subtotals)
    parts = [order_discount_fen * s // total for s in line_subtotals]
    left = order_discount_fen - sum(parts)
    if left:
        # Each remainder is < total and they sum to left × total, so at least `left` lines have
        # a non-zero remainder; a line with one has an exact share strictly below its subtotal,
        # so the extra fen never pushes it past the subtotal. Tuples sort faster than a key.
        ranked = sorted(
            [(-(order_discount_fen * s % total), -s, i) for i, s in enumerate(line_subtotals)]
        )
        for _, _, i in ranked[:left]:
            parts[i] += 1
    return parts
