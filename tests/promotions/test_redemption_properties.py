"""Whatever orders redeem and return, a promotion's counters agree with its ledger and its budget."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.promotions.stored import MANJIAN, cart, ledger_balance, line, promotion_use
from yipan.kernel.db import unit_of_work
from yipan.promotions.schemas import PromotionIn, RedeemIn, ReturnedLineIn, ReturnedUnitsIn
from yipan.promotions.service import definitions, redemptions

BUDGET = 23_456
PROMOTION = PromotionIn.model_validate(
    {**MANJIAN, "budget_fen": BUDGET, "rule": {**MANJIAN["rule"], "repeat": True}}
)

redeem_step = st.tuples(st.just("redeem"), st.integers(1, 6), st.integers(0, 3))
return_step = st.tuples(st.just("return"), st.integers(0, 20), st.integers(0, 9))
steps = st.lists(st.one_of(redeem_step, return_step), min_size=1, max_size=12)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=steps)
def test_any_sequence_of_redemptions_and_returns_keeps_the_budget_equal_to_the_ledger(
    engine: Engine, steps: list[tuple[str, int, int]]
) -> None:
    with unit_of_work(engine) as session:
        definitions.save_promotion(session, PROMOTION)
    refs = _fresh_refs
    taken: list[tuple[str, int, int]] = []  # (order_ref, tees, jeans)
    for kind, a, b in steps:
        if kind == "redeem":
            ref = next(refs)
            lines = [line(1, "TEE", a, 9900)] + ([line(2, "JEANS", b, 15900)] if b else [])
            body = {**cart(*lines, member="m-1"), "order_ref": ref}
            # One at a time the engine caps the discount at what is left: never refused.
            with unit_of_work(engine) as session:
                redemptions.redeem(session, RedeemIn.model_validate(body))
            taken.append((ref, a, b))
        elif taken:
            ref, tees, jeans = taken[a % len(taken)]
            # Cumulative units back, each line somewhere between none and all of it.
            returned = [ReturnedLineIn(line_no=1, quantity=min(b, tees))]
            if jeans:
                returned.append(ReturnedLineIn(line_no=2, quantity=min(b, jeans)))
            with unit_of_work(engine) as session:
                redemptions.restore_for_return(session, ref, ReturnedUnitsIn(returned=returned))
        used_fen, used_count = promotion_use(engine, MANJIAN["code"])
        assert (used_fen, used_count) == ledger_balance(engine, MANJIAN["code"])
        assert 0 <= used_fen <= BUDGET


_fresh_refs = (f"ORDER-{n}" for n in itertools.count())
