"""Tier rules: the ladder, rolling net spend, immediate upgrades and the yearly review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.members.domain.tiers import (
    DEFAULT_LADDER,
    Benefits,
    ChangeReason,
    SpendEntry,
    Tier,
    TierLadder,
    UnknownTier,
    evaluate_upgrade,
    next_review_at,
    review_due,
    rolling_net_spend,
    window_start,
    yearly_review,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
YUAN = 100


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


# --- the ladder ---------------------------------------------------------------------------------


def test_the_default_ladder_matches_the_documented_thresholds_and_benefits() -> None:
    assert [(t.code, t.threshold_fen) for t in DEFAULT_LADDER.tiers] == [
        ("normal", 0),
        ("silver", 1_000 * YUAN),
        ("gold", 5_000 * YUAN),
        ("black", 20_000 * YUAN),
    ]
    gold = DEFAULT_LADDER.get("gold").benefits
    assert (gold.member_price, gold.free_shipping) == (True, True)
    assert not DEFAULT_LADDER.get("normal").benefits.member_price
    multipliers = [t.benefits.points_multiplier_bp for t in DEFAULT_LADDER.tiers]
    assert multipliers == sorted(multipliers)
    assert all(isinstance(m, int) for m in multipliers)


@pytest.mark.parametrize(
    "tiers",
    [
        (),
        (Tier("a", 1),),
        (Tier("a", 0), Tier("b", 0)),
        (Tier("a", 0), Tier("b", 10), Tier("c", 5)),
        (Tier("a", 0), Tier("a", 10)),
        (Tier("a", 0, Benefits(points_multiplier_bp=-1)),),
    ],
)
def test_a_malformed_ladder_is_refused(tiers: tuple[Tier, ...]) -> None:
    with pytest.raises(ValueError):
        TierLadder(tiers)


def test_qualifying_tier_is_reached_exactly_at_the_threshold() -> None:
    assert DEFAULT_LADDER.qualifying(1_000 * YUAN - 1).code == "normal"
    assert DEFAULT_LADDER.qualifying(1_000 * YUAN).code == "silver"
    assert DEFAULT_LADDER.qualifying(10**12).code == "black"


def test_an_unknown_tier_code_is_a_not_found_error() -> None:
    with pytest.raises(UnknownTier) as info:
        evaluate_upgrade(DEFAULT_LADDER, "platinum", 0)
    assert (info.value.code, info.value.status) == ("UNKNOWN_TIER", 404)


# --- rolling net spend --------------------------------------------------------------------------


def test_spend_counts_sales_in_the_last_twelve_months_only() -> None:
    as_of = local(2026, 6, 15, 12)
    entries = [
        SpendEntry(local(2025, 6, 15, 12), 100_000),  # exactly 12 months old: out
        SpendEntry(local(2025, 6, 15, 12, 1), 20_000),
        SpendEntry(local(2026, 6, 15, 12), 3_000),  # at the instant of evaluation: in
        SpendEntry(local(2026, 6, 15, 12, 1), 400),  # in the future: out
    ]
    assert rolling_net_spend(entries, as_of) == 23_000


def test_a_return_counts_against_its_sale_and_cancels_it() -> None:
    sold = local(2026, 1, 10)
    entries = [SpendEntry(sold, 80_000), SpendEntry(sold, -30_000)]
    assert rolling_net_spend(entries, local(2026, 3, 1)) == 50_000
    # Once the sale leaves the window, so does its return.
    assert rolling_net_spend(entries, local(2027, 1, 11)) == 0


def test_net_spend_never_goes_below_zero() -> None:
    assert rolling_net_spend([SpendEntry(local(2026, 1, 1), -5)], local(2026, 2, 1)) == 0


def test_months_are_counted_on_the_shanghai_calendar_with_the_day_clamped() -> None:
    assert window_start(local(2024, 2, 29, 9)) == local(2023, 2, 28, 9)
    # 16:30 UTC on 31 March is already 1 April in Shanghai.
    as_of = datetime(2026, 3, 31, 16, 30, tzinfo=UTC)
    assert window_start(as_of) == local(2025, 4, 1, 0, 30)
    assert window_start(as_of).tzinfo is UTC


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rolling_net_spend([], datetime(2026, 1, 1))


# --- upgrade ------------------------------------------------------------------------------------


def test_crossing_a_threshold_upgrades_at_once_possibly_several_steps() -> None:
    change = evaluate_upgrade(DEFAULT_LADDER, "normal", 6_000 * YUAN)
    assert (change.previous.code, change.current.code) == ("normal", "gold")
    assert change.reason is ChangeReason.UPGRADE
    assert change.changed


def test_an_upgrade_evaluation_never_lowers_the_tier() -> None:
    change = evaluate_upgrade(DEFAULT_LADDER, "gold", 0)
    assert change.current.code == "gold"
    assert change.qualifying.code == "normal"
    assert (change.reason, change.changed) == (ChangeReason.UNCHANGED, False)


# --- yearly review ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "spend_yuan", "expected", "reason"),
    [
        ("black", 0, "gold", ChangeReason.REVIEW_DOWNGRADE),  # one step at most
        ("black", 6_000, "gold", ChangeReason.REVIEW_DOWNGRADE),
        ("gold", 1_500, "silver", ChangeReason.REVIEW_DOWNGRADE),  # to the qualifying tier
        ("gold", 5_000, "gold", ChangeReason.REVIEW_KEPT),
        ("silver", 30_000, "black", ChangeReason.REVIEW_UPGRADE),
        ("normal", 0, "normal", ChangeReason.REVIEW_KEPT),
    ],
)
def test_the_yearly_review_steps_down_at_most_one_tier(
    current: str, spend_yuan: int, expected: str, reason: ChangeReason
) -> None:
    change = yearly_review(DEFAULT_LADDER, current, spend_yuan * YUAN)
    assert (change.current.code, change.reason) == (expected, reason)


def test_the_review_can_go_straight_to_the_qualifying_tier_when_configured() -> None:
    assert yearly_review(DEFAULT_LADDER, "black", 0, max_steps_down=None).current.code == "normal"
    assert yearly_review(DEFAULT_LADDER, "black", 0, max_steps_down=2).current.code == "silver"
    with pytest.raises(ValueError):
        yearly_review(DEFAULT_LADDER, "black", 0, max_steps_down=0)


def test_a_review_is_due_on_the_anniversary_of_the_last_one() -> None:
    last = local(2025, 3, 1)
    assert next_review_at(last) == local(2026, 3, 1)
    assert not review_due(last, local(2026, 3, 1) - timedelta(microseconds=1))
    assert review_due(last, local(2026, 3, 1))


# --- properties ---------------------------------------------------------------------------------


@st.composite
def ladders(draw: st.DrawFn) -> TierLadder:
    steps = draw(st.lists(st.integers(1, 5_000_000), min_size=0, max_size=6))
    thresholds = [0]
    for step in steps:
        thresholds.append(thresholds[-1] + step)
    return TierLadder(
        tuple(
            Tier(f"t{i}", threshold, Benefits(draw(st.integers(0, 50_000))))
            for i, threshold in enumerate(thresholds)
        )
    )


@st.composite
def ladder_and_current(draw: st.DrawFn) -> tuple[TierLadder, str]:
    ladder = draw(ladders())
    return ladder, draw(st.sampled_from([t.code for t in ladder.tiers]))


spend = st.integers(0, 50_000_000)


@given(ladder_and_current(), spend, spend)
def test_more_spend_never_yields_a_lower_tier_on_upgrade(
    case: tuple[TierLadder, str], a: int, b: int
) -> None:
    ladder, current = case
    low, high = sorted((a, b))
    lower = evaluate_upgrade(ladder, current, low).current
    higher = evaluate_upgrade(ladder, current, high).current
    assert ladder.rank(lower.code) <= ladder.rank(higher.code)
    assert ladder.rank(lower.code) >= ladder.rank(current)


@given(ladder_and_current(), spend, spend)
def test_more_spend_never_yields_a_lower_tier_at_review(
    case: tuple[TierLadder, str], a: int, b: int
) -> None:
    ladder, current = case
    low, high = sorted((a, b))
    lower = yearly_review(ladder, current, low).current
    higher = yearly_review(ladder, current, high).current
    assert ladder.rank(lower.code) <= ladder.rank(higher.code)


@given(ladder_and_current(), spend)
def test_a_review_lands_between_the_qualifying_tier_and_one_step_down(
    case: tuple[TierLadder, str], amount: int
) -> None:
    ladder, current = case
    change = yearly_review(ladder, current, amount)
    rank, new = ladder.rank(current), ladder.rank(change.current.code)
    qualifying = ladder.rank(change.qualifying.code)
    assert change.qualifying.threshold_fen <= amount
    assert new >= qualifying
    assert new >= rank - 1
    assert new <= max(rank, qualifying)
    assert (new < rank) == (change.reason is ChangeReason.REVIEW_DOWNGRADE)


@given(
    st.lists(
        st.tuples(st.integers(0, 800), st.integers(1, 10_000_000), st.integers(0, 100)),
        max_size=12,
    ),
    st.integers(0, 800),
)
def test_rolling_spend_is_the_net_of_sales_within_the_window(
    sales: list[tuple[int, int, int]], as_of_day: int
) -> None:
    """Each sale may have a partial return (a percentage); only sales in the window count."""
    origin = local(2025, 1, 1)
    as_of = origin + timedelta(days=as_of_day)
    entries = []
    expected = 0
    for day, amount, returned_percent in sales:
        sold = origin + timedelta(days=day)
        returned = amount * returned_percent // 100
        entries += [SpendEntry(sold, amount), SpendEntry(sold, -returned)]
        if as_of - timedelta(days=365) < sold <= as_of:  # 2025-2026 has no 29 February
            expected += amount - returned
    assert rolling_net_spend(entries, as_of) == expected
