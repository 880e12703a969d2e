"""Splitting fen: exact, bounded and proportional."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.kernel.money import allocate_discount


def test_allocation_examples() -> None:
    assert allocate_discount(100, [100, 100, 100]) == [34, 33, 33]
    assert allocate_discount(10, [1000, 3000]) == [2, 8]  # 2.5 / 7.5: tie goes to larger line
    assert allocate_discount(300, [100, 200]) == [100, 200]
    assert allocate_discount(0, [5, 7]) == [0, 0]
    assert allocate_discount(0, [0, 0]) == [0, 0]
    assert allocate_discount(0, []) == []
    assert allocate_discount(1, [0, 1, 0]) == [0, 1, 0]


@pytest.mark.parametrize(
    ("discount", "subtotals"), [(-1, [10]), (11, [10]), (1, []), (1, [5, -1, 10])]
)
def test_allocation_refuses_impossible_input(discount: int, subtotals: list[int]) -> None:
    with pytest.raises(ValueError):
        allocate_discount(discount, subtotals)


@st.composite
def discount_cases(draw: st.DrawFn) -> tuple[int, list[int]]:
    subtotals = draw(st.lists(st.integers(0, 10_000_000), min_size=1, max_size=20))
    return draw(st.integers(0, sum(subtotals))), subtotals


@given(discount_cases())
def test_allocation_is_exact_bounded_and_proportional(case: tuple[int, list[int]]) -> None:
    discount, subtotals = case
    parts = allocate_discount(discount, subtotals)
    assert len(parts) == len(subtotals)
    assert sum(parts) == discount
    total = sum(subtotals)
    for part, subtotal in zip(parts, subtotals, strict=True):
        assert 0 <= part <= subtotal
        if total:
            assert abs(part - Fraction(discount * subtotal, total)) < 1
