"""Money rules in fen: sum checks, discount allocation and refunds, with properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from yipan.orders.domain.money import (
    LineAmounts,
    Problem,
    ReturnExceedsPurchase,
    SumProblem,
    refund_for,
    validate_order_sums,
    within_return_window,
)

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


# --- validate_order_sums ----------------------------------------------------------------------


def test_consistent_order_has_no_problems() -> None:
    lines = [LineAmounts(1999, 2, 500), LineAmounts(100, 3, 0)]
    # 3498 + 300 - 298 + 1000
    assert validate_order_sums(lines, 1000, 298, 4500) == []
    assert validate_order_sums(lines, 1000, 298, 4500, line_subtotals_fen=[3498, 300]) == []


def test_wrong_total_reports_expected_and_given() -> None:
    lines = [LineAmounts(1999, 2, 500)]
    assert validate_order_sums(lines, 0, 0, 3499) == [
        SumProblem(Problem.TOTAL_MISMATCH, "total_fen", None, 3498, 3499)
    ]


def test_wrong_line_subtotal_names_the_line() -> None:
    lines = [LineAmounts(100, 1), LineAmounts(250, 2, 10)]
    problems = validate_order_sums(lines, 0, 0, 590, line_subtotals_fen=[100, 500])
    assert problems == [SumProblem(Problem.SUBTOTAL_MISMATCH, "subtotal_fen", 1, 490, 500)]
    assert problems[0].as_dict() == {
        "problem": "subtotal_mismatch",
        "field": "subtotal_fen",
        "line": 1,
        "expected": 490,
        "given": 500,
    }


def test_line_discount_larger_than_line_is_flagged() -> None:
    lines = [LineAmounts(100, 2, 201)]
    problems = validate_order_sums(lines, 0, 0, -1)
    assert [p.problem for p in problems] == [Problem.DISCOUNT_EXCEEDS_LINE]
    assert (problems[0].line, problems[0].expected, problems[0].given) == (0, 200, 201)


def test_bad_line_values_are_each_reported() -> None:
    lines = [LineAmounts(-1, 0, -5)]
    problems = {(p.problem, p.field, p.line) for p in validate_order_sums(lines, 0, 0, 5)}
    assert problems == {
        (Problem.NEGATIVE_PRICE, "unit_price_fen", 0),
        (Problem.NON_POSITIVE_QUANTITY, "quantity", 0),
        (Problem.NEGATIVE_DISCOUNT, "line_discount_fen", 0),
    }


def test_order_level_amounts_are_checked() -> None:
    lines = [LineAmounts(100, 1)]
    got = {p.problem for p in validate_order_sums(lines, -10, 0, 90)}
    assert got == {Problem.NEGATIVE_SHIPPING}
    got = {p.problem for p in validate_order_sums(lines, 0, -1, 101)}
    assert got == {Problem.NEGATIVE_DISCOUNT}
    # An order discount covers goods only, never the shipping fee.
    problems = validate_order_sums(lines, 500, 101, 499)
    assert problems == [
        SumProblem(Problem.DISCOUNT_EXCEEDS_ORDER, "order_discount_fen", None, 100, 101)
    ]


def test_floats_and_bools_are_refused_before_any_arithmetic() -> None:
    lines = [LineAmounts(19.99, 1), LineAmounts(100, True)]  # type: ignore[arg-type]
    problems = validate_order_sums(lines, 0.0, 0, 120)  # type: ignore[arg-type]
    assert {(p.problem, p.field, p.line) for p in problems} == {
        (Problem.NOT_INTEGER, "unit_price_fen", 0),
        (Problem.NOT_INTEGER, "quantity", 1),
        (Problem.NOT_INTEGER, "shipping_fen", None),
    }


def test_subtotals_of_the_wrong_length_are_a_caller_error() -> None:
    with pytest.raises(ValueError):
        validate_order_sums([LineAmounts(1, 1)], 0, 0, 1, line_subtotals_fen=[])


@st.composite
def consistent_orders(draw: st.DrawFn) -> tuple[list[LineAmounts], int, int, int]:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        price = draw(st.integers(0, 1_000_000))
        qty = draw(st.integers(1, 50))
        lines.append(LineAmounts(price, qty, draw(st.integers(0, price * qty))))
    goods = sum(ln.subtotal_fen for ln in lines)
    shipping = draw(st.integers(0, 5_000))
    order_discount = draw(st.integers(0, goods))
    return lines, shipping, order_discount, goods - order_discount + shipping


@given(consistent_orders())
def test_consistent_orders_pass(order: tuple[list[LineAmounts], int, int, int]) -> None:
    lines, shipping, discount, total = order
    subtotals = [ln.subtotal_fen for ln in lines]
    assert validate_order_sums(lines, shipping, discount, total, line_subtotals_fen=subtotals) == []


@given(consistent_orders(), st.sampled_from([-1, 1]))
def test_any_one_fen_change_of_the_total_is_flagged(
    order: tuple[list[LineAmounts], int, int, int], delta: int
) -> None:
    lines, shipping, discount, total = order
    problems = validate_order_sums(lines, shipping, discount, total + delta)
    assert problems == [SumProblem(Problem.TOTAL_MISMATCH, "total_fen", None, total, total + delta)]


@given(consistent_orders(), st.sampled_from([-1, 1]), st.data())
def test_any_one_fen_change_of_a_line_subtotal_is_flagged(
    order: tuple[list[LineAmounts], int, int, int], delta: int, data: st.DataObject
) -> None:
    lines, shipping, discount, total = order
    subtotals = [ln.subtotal_fen for ln in lines]
    i = data.draw(st.integers(0, len(lines) - 1))
    subtotals[i] += delta
    problems = validate_order_sums(lines, shipping, discount, total, line_subtotals_fen=subtotals)
    assert [(p.problem, p.line, p.given - p.expected) for p in problems] == [  # type: ignore[operator]
        (Problem.SUBTOTAL_MISMATCH, i, delta)
    ]


@given(consistent_orders(), st.sampled_from([-1, 1]), st.sampled_from(["shipping", "discount"]))
def test_one_fen_change_of_an_order_amount_is_flagged(
    order: tuple[list[LineAmounts], int, int, int], delta: int, which: str
) -> None:
    lines, shipping, discount, total = order
    if which == "shipping":
        shipping += delta
    else:
        discount += delta
    assert validate_order_sums(lines, shipping, discount, total) != []


# --- refund_for -------------------------------------------------------------------------------


def test_refund_examples() -> None:
    assert refund_for(1000, 3, 1) == 333
    assert refund_for(1000, 3, 1, 1, 333) == 333
    assert refund_for(1000, 3, 1, 2, 666) == 334  # the last unit takes the remainder
    assert refund_for(1000, 3, 3) == 1000
    assert refund_for(0, 2, 1) == 0


def test_refund_withholds_what_a_goodwill_refund_already_paid() -> None:
    assert refund_for(1000, 4, 1, 0, 400) == 0
    assert refund_for(1000, 4, 1, 1, 400) == 100
    assert refund_for(1000, 4, 2, 2, 500) == 500


def test_returning_more_than_bought_is_refused_with_details() -> None:
    with pytest.raises(ReturnExceedsPurchase) as info:
        refund_for(1000, 3, 2, already_refunded_quantity=2, already_refunded_fen=666)
    err = info.value
    assert (err.code, err.status) == ("RETURN_EXCEEDS_PURCHASE", 409)
    assert err.details == {
        "line_quantity": 3,
        "already_returned": 2,
        "requested": 2,
        "returnable": 1,
    }


@pytest.mark.parametrize(
    "args",
    [
        (-1, 1, 1, 0, 0),
        (100, 0, 1, 0, 0),
        (100, 2, 0, 0, 0),
        (100, 2, 1, -1, 0),
        (100, 2, 1, 0, 101),
    ],
)
def test_refund_refuses_nonsense_arguments(args: tuple[int, int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        refund_for(*args)


@st.composite
def return_sequences(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    quantity = draw(st.integers(1, 40))
    paid = draw(st.integers(0, 10_000_000))
    steps: list[int] = []
    left = quantity
    while left:
        step = draw(st.integers(1, left))
        steps.append(step)
        left -= step
    return paid, quantity, steps


@given(return_sequences())
def test_returning_everything_in_steps_refunds_exactly_what_was_paid(
    case: tuple[int, int, list[int]],
) -> None:
    paid, quantity, steps = case
    refunded_fen = refunded_qty = 0
    for step in steps:
        refund = refund_for(paid, quantity, step, refunded_qty, refunded_fen)
        assert refund >= 0
        refunded_fen += refund
        refunded_qty += step
        # Never ahead of the exact share of the units back so far, hence never above what was paid.
        assert refunded_fen * quantity <= paid * refunded_qty
        assert refunded_fen <= paid
    assert refunded_fen == paid


@given(return_sequences(), st.data())
def test_refund_depends_only_on_units_back_not_on_the_steps(
    case: tuple[int, int, list[int]], data: st.DataObject
) -> None:
    paid, quantity, steps = case
    k = data.draw(st.integers(1, len(steps)))
    refunded_fen = refunded_qty = 0
    for step in steps[:k]:
        refunded_fen += refund_for(paid, quantity, step, refunded_qty, refunded_fen)
        refunded_qty += step
    assert refunded_fen == refund_for(paid, quantity, refunded_qty)


@given(return_sequences(), st.integers(1, 10))
def test_no_step_can_return_more_than_is_left(case: tuple[int, int, list[int]], extra: int) -> None:
    paid, quantity, steps = case
    assume(len(steps) > 1)
    back = sum(steps[:-1])
    already = refund_for(paid, quantity, back)
    with pytest.raises(ReturnExceedsPurchase):
        refund_for(paid, quantity, steps[-1] + extra, back, already)


# --- within_return_window ---------------------------------------------------------------------


def test_return_window_is_open_until_the_boundary_instant() -> None:
    assert within_return_window(T0, T0, 7)
    assert within_return_window(T0, T0 + timedelta(days=7, microseconds=-1), 7)
    assert not within_return_window(T0, T0 + timedelta(days=7), 7)
    assert not within_return_window(T0, T0 + timedelta(days=30), 7)
    assert not within_return_window(T0, T0, 0)
    with pytest.raises(ValueError):
        within_return_window(T0, T0, -1)
