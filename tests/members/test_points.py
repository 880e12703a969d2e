"""Points ledger rules: earning, redemption, expiry, reversal on return, adjustments."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from yipan.members.domain.points import (
    Earning,
    EntryKind,
    InsufficientPoints,
    LedgerEntry,
    PointsLot,
    PointsPolicy,
    ReturnExceedsSale,
    SaleLine,
    UnredeemableAmount,
    adjust,
    apply,
    balance,
    earn,
    expire,
    expiry_for,
    lots_from_ledger,
    points_to_cover,
    redeem,
    reverse_for_return,
    usable_balance,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
POLICY = PointsPolicy(excluded_categories=frozenset({"tobacco", "gift_card"}))
X1 = 10_000  # multiplier ×1 in basis points


def line(line_id: str, fen: int, *categories: str) -> SaleLine:
    return SaleLine(line_id, fen, frozenset(categories))


def booked(lots: tuple[PointsLot, ...], entries: tuple[LedgerEntry, ...]) -> tuple[PointsLot, ...]:
    return apply(lots, entries)


def earned(lots: tuple[PointsLot, ...], fen: int, at: datetime, ref: str) -> tuple[PointsLot, ...]:
    earning = earn(lots, [line("1", fen)], multiplier_bp=X1, at=at, sale_ref=ref, policy=POLICY)
    return apply(lots, earning.entries)


# --- earn ---------------------------------------------------------------------------------------


def test_points_are_rounded_down_once_per_sale_not_per_line() -> None:
    # 19.99 + 29.99 yuan at ×1.5: 74.97 points → 74. Per line it would be 28 + 43 = 71.
    lines = [line("a", 1_999, "food"), line("b", 2_999, "toys")]
    earning = earn((), lines, multiplier_bp=15_000, at=T0, sale_ref="S1", policy=POLICY)
    assert earning.points == 74
    [entry] = earning.entries
    assert (entry.kind, entry.lot_id, entry.points, entry.reference) == (
        EntryKind.EARN,
        "earn:S1",
        74,
        "S1",
    )


def test_lines_in_excluded_categories_or_their_children_earn_nothing() -> None:
    lines = [line("a", 10_000, "food"), line("b", 50_000, "tobacco", "cigarettes")]
    earning = earn((), lines, multiplier_bp=X1, at=T0, sale_ref="S1", policy=POLICY)
    assert (earning.points, earning.eligible_fen, earning.excluded_fen) == (100, 10_000, 50_000)
    assert earning.eligible_lines == {"a"}


def test_a_sale_that_earns_nothing_books_nothing() -> None:
    earning = earn((), [line("a", 99)], multiplier_bp=X1, at=T0, sale_ref="S1", policy=POLICY)
    assert (earning.points, earning.entries) == (0, ())


def test_the_same_sale_cannot_earn_twice() -> None:
    lots = earned((), 10_000, T0, "S1")
    with pytest.raises(ValueError, match="already exists"):
        earn(lots, [line("a", 100)], multiplier_bp=X1, at=T0, sale_ref="S1", policy=POLICY)


def test_earning_refuses_negative_amounts_duplicate_lines_and_naive_times() -> None:
    with pytest.raises(ValueError):
        earn((), [line("a", -1)], multiplier_bp=X1, at=T0, sale_ref="S")
    with pytest.raises(ValueError):
        earn((), [line("a", 1), line("a", 2)], multiplier_bp=X1, at=T0, sale_ref="S")
    with pytest.raises(ValueError):
        earn((), [line("a", 100)], multiplier_bp=-1, at=T0, sale_ref="S")
    with pytest.raises(ValueError, match="timezone-aware"):
        earn((), [line("a", 100)], multiplier_bp=X1, at=datetime(2026, 1, 1), sale_ref="S")


@given(
    st.lists(
        st.tuples(st.integers(0, 1_000_000), st.sampled_from(["food", "toys", "tobacco"])),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 30_000),
    st.integers(0, 5),
    st.integers(1, 1_000),
)
def test_earned_points_are_the_floor_of_the_exact_amount_of_eligible_spend(
    raw_lines: list[tuple[int, str]], multiplier: int, earn_points: int, per_fen: int
) -> None:
    policy = PointsPolicy(earn_points, per_fen, excluded_categories=frozenset({"tobacco"}))
    lines = [line(str(i), fen, cat) for i, (fen, cat) in enumerate(raw_lines)]
    earning = earn((), lines, multiplier_bp=multiplier, at=T0, sale_ref="S", policy=policy)
    eligible = sum(fen for fen, cat in raw_lines if cat != "tobacco")
    exact = Fraction(eligible * earn_points, per_fen) * Fraction(multiplier, 10_000)
    assert earning.points <= exact < earning.points + 1
    with_tobacco = [*lines, line("extra", 123_456, "tobacco")]
    again = earn((), with_tobacco, multiplier_bp=multiplier, at=T0, sale_ref="S", policy=policy)
    assert again.points == earning.points


# --- expiry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opened", "expires"),
    [
        (datetime(2026, 3, 15, 10, tzinfo=SHANGHAI), datetime(2027, 4, 1, tzinfo=SHANGHAI)),
        (datetime(2026, 3, 1, 0, tzinfo=SHANGHAI), datetime(2027, 4, 1, tzinfo=SHANGHAI)),
        (datetime(2026, 12, 31, 23, tzinfo=SHANGHAI), datetime(2028, 1, 1, tzinfo=SHANGHAI)),
        # 16:30 UTC on 31 March is 1 April in Shanghai: an April lot.
        (datetime(2026, 3, 31, 16, 30, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=SHANGHAI)),
    ],
)
def test_a_lot_expires_at_the_end_of_the_month_twelve_months_later(
    opened: datetime, expires: datetime
) -> None:
    assert expiry_for(opened) == expires
    assert expiry_for(opened).tzinfo is UTC


def test_expiry_books_what_is_left_of_due_lots_oldest_first() -> None:
    lots = earned((), 30_000, T0, "old")
    lots = earned(lots, 50_000, T0 + timedelta(days=40), "new")
    lots = booked(lots, redeem(lots, 100, at=T0 + timedelta(days=41), reference="R1").entries)
    old_expiry = expiry_for(T0)
    assert expire(lots, at=old_expiry - timedelta(seconds=1)) == ()
    entries = expire(lots, at=old_expiry)
    assert [(e.kind, e.lot_id, e.points) for e in entries] == [(EntryKind.EXPIRE, "earn:old", -200)]
    everything = expire(lots, at=old_expiry + timedelta(days=400))
    assert [e.lot_id for e in everything] == ["earn:old", "earn:new"]


# --- redeem -------------------------------------------------------------------------------------


def test_redemption_takes_the_oldest_lots_first_and_is_worth_its_value() -> None:
    lots = earned((), 30_000, T0, "A")
    lots = earned(lots, 50_000, T0 + timedelta(days=40), "B")
    result = redeem(lots, 400, at=T0 + timedelta(days=50), reference="R1")
    assert [(e.lot_id, e.points) for e in result.entries] == [("earn:A", -300), ("earn:B", -100)]
    assert (result.points, result.value_fen) == (400, 400)
    assert balance(apply(lots, result.entries)) == 400


def test_redeeming_more_than_is_usable_is_refused_with_the_figures() -> None:
    lots = earned((), 30_000, T0, "A")
    with pytest.raises(InsufficientPoints) as info:
        redeem(lots, 400, at=T0, reference="R1")
    assert info.value.details == {"requested": 400, "available": 300}
    assert info.value.code == "INSUFFICIENT_POINTS"


def test_points_past_their_expiry_cannot_be_redeemed_even_before_expiry_is_booked() -> None:
    lots = earned((), 30_000, T0, "A")
    later = expiry_for(T0)
    assert usable_balance(lots, later) == 0
    assert balance(lots) == 300
    with pytest.raises(InsufficientPoints):
        redeem(lots, 100, at=later, reference="R1")


def test_redemption_comes_in_steps_worth_whole_fen() -> None:
    policy = PointsPolicy(redeem_points=200, redeem_value_fen=100)  # 1 point = half a fen
    lots = earned((), 30_000, T0, "A")
    assert policy.redeem_step == 2
    assert redeem(lots, 150, at=T0, reference="R", policy=policy).value_fen == 75
    for bad in (0, -2, 151):
        with pytest.raises(UnredeemableAmount):
            redeem(lots, bad, at=T0, reference="R", policy=policy)
    assert points_to_cover(75, policy) == 150
    assert points_to_cover(76, policy) == 152
    assert points_to_cover(99, PointsPolicy()) == 99


# --- reverse on return --------------------------------------------------------------------------


def _sale(lots: tuple[PointsLot, ...], *lines: SaleLine) -> tuple[tuple[PointsLot, ...], Earning]:
    earning = earn(lots, list(lines), multiplier_bp=X1, at=T0, sale_ref="S1", policy=POLICY)
    return apply(lots, earning.entries), earning


def test_partial_returns_settle_cumulatively_and_add_up_to_what_was_earned() -> None:
    lots, earning = _sale((), line("a", 3_333), line("b", 3_333), line("c", 3_334))
    assert earning.points == 100
    returned = settled = 0
    got = []
    for line_id, fen in (("a", 3_333), ("b", 3_333), ("c", 3_334)):
        rev = reverse_for_return(
            lots,
            earning,
            {line_id: fen},
            refund_fen=fen,
            at=T0 + timedelta(days=1),
            reference=f"RT-{line_id}",
            already_returned_fen=returned,
            already_settled_points=settled,
            policy=POLICY,
        )
        lots = apply(lots, rev.entries)
        returned, settled = rev.returned_fen_total, rev.settled_points_total
        got.append(rev.points_reversed)
    assert got == [33, 33, 34]
    assert balance(lots) == 0


def test_returning_excluded_lines_reverses_nothing() -> None:
    lots, earning = _sale((), line("a", 10_000), line("cig", 5_000, "tobacco"))
    rev = reverse_for_return(
        lots, earning, {"cig": 5_000}, refund_fen=5_000, at=T0, reference="RT", policy=POLICY
    )
    assert (rev.points_reversed, rev.entries, rev.returned_fen_total) == (0, (), 0)


def test_spent_points_are_taken_from_other_lots_then_from_the_refund() -> None:
    lots = earned((), 5_000, T0 - timedelta(days=30), "older")  # 50 points elsewhere
    lots, earning = _sale(lots, line("a", 20_000))  # 200 points
    lots = apply(lots, redeem(lots, 230, at=T0, reference="R").entries)  # 20 points left
    rev = reverse_for_return(
        lots, earning, {"a": 20_000}, refund_fen=20_000, at=T0, reference="RT", policy=POLICY
    )
    assert (rev.points_reversed, rev.points_short) == (20, 180)
    assert (rev.refund_deduction_fen, rev.forgiven_fen) == (180, 0)
    assert rev.settled_points_total == 200
    assert balance(apply(lots, rev.entries)) == 0


def test_a_refund_too_small_to_cover_spent_points_forgives_the_rest() -> None:
    policy = PointsPolicy(earn_points=1, earn_per_fen=1)  # a generous 1 point per fen
    earning = earn((), [line("a", 1_000)], multiplier_bp=X1, at=T0, sale_ref="S", policy=policy)
    lots = apply((), earning.entries)
    lots = apply(lots, redeem(lots, 1_000, at=T0, reference="R", policy=policy).entries)
    rev = reverse_for_return(
        lots, earning, {"a": 500}, refund_fen=200, at=T0, reference="RT", policy=policy
    )
    assert (rev.points_short, rev.refund_deduction_fen, rev.forgiven_fen) == (500, 200, 300)


def test_returning_more_than_was_sold_is_refused() -> None:
    lots, earning = _sale((), line("a", 1_000))
    with pytest.raises(ReturnExceedsSale):
        reverse_for_return(
            lots,
            earning,
            {"a": 600},
            refund_fen=600,
            at=T0,
            reference="RT",
            already_returned_fen=500,
            policy=POLICY,
        )


# --- adjustments and the ledger -----------------------------------------------------------------


def test_a_positive_adjustment_opens_a_lot_that_expires_like_earned_points() -> None:
    [entry] = adjust((), 500, reason="apology for late delivery", at=T0, reference="T-1")
    assert (entry.kind, entry.lot_id, entry.points, entry.reason) == (
        EntryKind.ADJUST,
        "adjust:T-1",
        500,
        "apology for late delivery",
    )
    assert entry.expires_at == expiry_for(T0)


def test_a_negative_adjustment_takes_oldest_first_and_never_below_zero() -> None:
    lots = earned((), 10_000, T0, "A")
    lots = earned(lots, 10_000, T0 + timedelta(days=40), "B")
    entries = adjust(
        lots, -150, reason="duplicate earning", at=T0 + timedelta(days=41), reference="T"
    )
    assert [(e.lot_id, e.points) for e in entries] == [("earn:A", -100), ("earn:B", -50)]
    with pytest.raises(InsufficientPoints):
        adjust(lots, -201, reason="x", at=T0 + timedelta(days=41), reference="T")


def test_an_adjustment_needs_a_reason_and_a_non_zero_amount() -> None:
    with pytest.raises(ValueError, match="reason"):
        adjust((), 10, reason="  ", at=T0, reference="T")
    with pytest.raises(ValueError, match="zero"):
        adjust((), 0, reason="x", at=T0, reference="T")


def test_the_ledger_refuses_entries_that_would_overdraw_or_hit_unknown_lots() -> None:
    lots = earned((), 10_000, T0, "A")
    with pytest.raises(ValueError):
        apply(lots, [LedgerEntry(EntryKind.REDEEM, "earn:A", -101, T0, "R")])
    with pytest.raises(ValueError):
        apply(lots, [LedgerEntry(EntryKind.REDEEM, "nope", -1, T0, "R")])
    with pytest.raises(ValueError):
        apply(lots, [LedgerEntry(EntryKind.ADJUST, "earn:A", 5, T0, "R", "x", T0)])


# --- properties ---------------------------------------------------------------------------------

lines_strategy = st.lists(
    st.tuples(st.integers(1, 200_000), st.sampled_from(["food", "toys", "tobacco"])),
    min_size=1,
    max_size=5,
)


@st.composite
def return_plans(draw: st.DrawFn, amounts: list[int]) -> list[dict[str, int]]:
    """Each line returned in one or more pieces; the pieces of all lines in a random order."""
    pieces: list[tuple[str, int]] = []
    for i, amount in enumerate(amounts):
        cuts = draw(st.lists(st.integers(1, amount), max_size=3, unique=True)) if amount > 1 else []
        bounds = [0, *sorted(set(cuts) | {amount})]
        pieces += [(str(i), high - low) for low, high in pairwise(bounds)]
    shuffled = draw(st.permutations(pieces))
    return [{line_id: fen} for line_id, fen in shuffled]


@settings(max_examples=150)
@given(lines_strategy, st.sampled_from([10_000, 12_000, 15_000]), st.data())
def test_returning_a_whole_sale_in_any_steps_reverses_exactly_what_it_earned(
    raw_lines: list[tuple[int, str]], multiplier: int, data: st.DataObject
) -> None:
    lines = [line(str(i), fen, cat) for i, (fen, cat) in enumerate(raw_lines)]
    earning = earn((), lines, multiplier_bp=multiplier, at=T0, sale_ref="S", policy=POLICY)
    lots = apply((), earning.entries)
    plan = data.draw(return_plans([fen for fen, _ in raw_lines]))
    returned = settled = reversed_total = 0
    for step, piece in enumerate(plan):
        rev = reverse_for_return(
            lots,
            earning,
            piece,
            refund_fen=sum(piece.values()),
            at=T0,
            reference=f"RT{step}",
            already_returned_fen=returned,
            already_settled_points=settled,
            policy=POLICY,
        )
        assert rev.points_short == rev.refund_deduction_fen == 0
        lots = apply(lots, rev.entries)
        returned, settled = rev.returned_fen_total, rev.settled_points_total
        reversed_total += rev.points_reversed
        # Never ahead of the proportional share of what is back so far.
        assert reversed_total * max(1, earning.eligible_fen) <= earning.points * returned
    assert reversed_total == earning.points
    assert balance(lots) == 0


@given(lines_strategy, st.integers(0, 100), st.data())
def test_a_return_after_spending_settles_everything_without_a_negative_balance(
    raw_lines: list[tuple[int, str]], spent_percent: int, data: st.DataObject
) -> None:
    lines = [line(str(i), fen, cat) for i, (fen, cat) in enumerate(raw_lines)]
    earning = earn((), lines, multiplier_bp=X1, at=T0, sale_ref="S", policy=POLICY)
    lots = apply((), earning.entries)
    spend = earning.points * spent_percent // 100
    if spend:
        lots = apply(lots, redeem(lots, spend, at=T0, reference="R", policy=POLICY).entries)
    returned = settled = short = 0
    for step, piece in enumerate(data.draw(return_plans([fen for fen, _ in raw_lines]))):
        rev = reverse_for_return(
            lots,
            earning,
            piece,
            refund_fen=sum(piece.values()),
            at=T0,
            reference=f"RT{step}",
            already_returned_fen=returned,
            already_settled_points=settled,
            policy=POLICY,
        )
        lots = apply(lots, rev.entries)
        assert balance(lots) >= 0
        assert rev.refund_deduction_fen + rev.forgiven_fen == POLICY.value_fen(rev.points_short)
        returned, settled = rev.returned_fen_total, rev.settled_points_total
        short += rev.points_short
    assert settled == earning.points
    assert short == spend


# --- the ledger as a state machine --------------------------------------------------------------


@dataclass
class SaleState:
    earning: Earning
    left_by_line: dict[str, int]
    returned_fen: int = 0
    settled: int = 0
    reversed: int = 0
    short: int = 0
    pieces: list[int] = field(default_factory=list)


class PointsLedger(RuleBasedStateMachine):
    """Random sequences of earn / redeem / expire / return / adjust against one member."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.entries: list[LedgerEntry] = []
        self.lots: tuple[PointsLot, ...] = ()
        self.sales: dict[str, SaleState] = {}
        self.count = 0

    def book(self, entries: tuple[LedgerEntry, ...]) -> None:
        self.lots = apply(self.lots, entries)
        self.entries.extend(entries)

    def reference(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    @rule(days=st.integers(0, 200), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)

    @rule(raw_lines=lines_strategy, multiplier=st.sampled_from([10_000, 12_000, 15_000, 20_000]))
    def a_sale_earns(self, raw_lines: list[tuple[int, str]], multiplier: int) -> None:
        lines = [line(str(i), fen, cat) for i, (fen, cat) in enumerate(raw_lines)]
        ref = self.reference("S")
        earning = earn(
            self.lots, lines, multiplier_bp=multiplier, at=self.now, sale_ref=ref, policy=POLICY
        )
        self.book(earning.entries)
        self.sales[ref] = SaleState(earning, {ln.line_id: ln.paid_fen for ln in lines})

    @rule(points=st.integers(1, 6_000))
    def the_member_redeems(self, points: int) -> None:
        usable = sorted(
            (lot for lot in self.lots if lot.usable_at(self.now)),
            key=lambda lot: (lot.expires_at, lot.opened_at, lot.lot_id),
        )
        available = sum(lot.remaining for lot in usable)
        if points > available:
            with pytest.raises(InsufficientPoints):
                redeem(self.lots, points, at=self.now, reference="R", policy=POLICY)
            return
        result = redeem(self.lots, points, at=self.now, reference=self.reference("R"))
        taken = {e.lot_id: -e.points for e in result.entries}
        assert sum(taken.values()) == points
        # Oldest first: every usable lot before the last one touched is emptied.
        touched = [i for i, lot in enumerate(usable) if lot.lot_id in taken]
        for lot in usable[: max(touched)]:
            assert taken.get(lot.lot_id, 0) == lot.remaining
        self.book(result.entries)

    @rule()
    def expiry_runs(self) -> None:
        before = {lot.lot_id: lot for lot in self.lots}
        entries = expire(self.lots, at=self.now)
        expired = [e.lot_id for e in entries]
        assert expired == sorted(
            expired, key=lambda i: (before[i].expires_at, before[i].opened_at, i)
        )
        self.book(entries)
        for lot in self.lots:
            if lot.expires_at <= self.now:
                assert lot.remaining == 0
            else:
                assert lot == before[lot.lot_id]

    @precondition(lambda self: any(sum(s.left_by_line.values()) for s in self.sales.values()))
    @rule(data=st.data())
    def a_customer_returns_goods(self, data: st.DataObject) -> None:
        open_sales = sorted(ref for ref, s in self.sales.items() if sum(s.left_by_line.values()))
        sale = self.sales[data.draw(st.sampled_from(open_sales))]
        piece = {
            line_id: data.draw(st.integers(0, left))
            for line_id, left in sale.left_by_line.items()
            if left
        }
        before = balance(self.lots)
        rev = reverse_for_return(
            self.lots,
            sale.earning,
            piece,
            refund_fen=sum(piece.values()),
            at=self.now,
            reference=self.reference("RT"),
            already_returned_fen=sale.returned_fen,
            already_settled_points=sale.settled,
            policy=POLICY,
        )
        assert rev.points_reversed == before - balance(apply(self.lots, rev.entries))
        self.book(rev.entries)
        for line_id, fen in piece.items():
            sale.left_by_line[line_id] -= fen
        sale.returned_fen, sale.settled = rev.returned_fen_total, rev.settled_points_total
        sale.reversed += rev.points_reversed
        sale.short += rev.points_short
        if not sum(sale.left_by_line.values()):
            assert sale.settled == sale.reversed + sale.short == sale.earning.points

    @rule(points=st.integers(-3_000, 3_000).filter(bool))
    def an_operator_adjusts(self, points: int) -> None:
        usable = usable_balance(self.lots, self.now)
        if -points > usable:
            with pytest.raises(InsufficientPoints):
                adjust(self.lots, points, reason="correction", at=self.now, reference="T")
            return
        entries = adjust(
            self.lots, points, reason="correction", at=self.now, reference=self.reference("T")
        )
        assert sum(e.points for e in entries) == points
        self.book(entries)

    @invariant()
    def the_balance_is_the_ledger_sum_and_never_negative(self) -> None:
        assert sum(e.points for e in self.entries) == balance(self.lots) >= 0
        assert lots_from_ledger(self.entries) == self.lots
        for lot in self.lots:
            assert 0 <= lot.remaining <= lot.points_opened


PointsLedger.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_any_sequence_of_ledger_operations_keeps_the_ledger_consistent = PointsLedger.TestCase
