"""Coupons and budgets under real concurrency: several OS processes redeeming at one PostgreSQL.

Each worker is a separate process (spawn) with its own engine, released together by a barrier,
so the conditional updates race for real on the same coupon and promotion rows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Engine

from tests import support
from tests.promotions.stored import (
    LIVE_DROP,
    MANJIAN,
    cart,
    count,
    ledger_balance,
    line,
    promotion_use,
)
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.promotions.models import Redemption, RedemptionEntry
from yipan.promotions.schemas import (
    CouponTemplateIn,
    IssueBearerCodesIn,
    PromotionIn,
    RedeemIn,
    TillRedeemIn,
)
from yipan.promotions.service import coupons, definitions, redemptions

WORKERS = 6
pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def pg_engine() -> Any:
    engine = support.engine_for(support.fresh_postgres())
    yield engine
    engine.dispose()


def _redeem_worker(url: str, worker: int, code: str, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    barrier.wait()
    try:
        with unit_of_work(engine) as session:
            if worker % 2:  # half at tills, half online
                till = TillRedeemIn(order_ref=f"POS-{worker}", channel="pos", order_total_fen=20000)
                redemptions.redeem_at_till(session, code, till)
            else:
                body = {
                    **cart(line(1, "TEE", 2, 9900), coupons=(code,)),
                    "order_ref": f"W-{worker}",
                }
                redemptions.redeem(session, RedeemIn.model_validate(body))
        out.put((worker, "redeemed", None))
    except YipanError as refusal:
        out.put((worker, "refused", refusal.code))
    except Exception as crash:
        out.put((worker, "error", repr(crash)))
    engine.dispose()


def _budget_worker(url: str, worker: int, _code: str, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    barrier.wait()
    results = []
    for i in range(4):
        body = {
            **cart(line(1, "TEE", 4, 9900), member=f"m-{worker}"),
            "order_ref": f"B-{worker}-{i}",
        }
        try:
            with unit_of_work(engine) as session:
                done = redemptions.redeem(session, RedeemIn.model_validate(body))
            results.append(("redeemed", done.quote.discount_fen))
        except YipanError as refusal:
            results.append(("refused", refusal.code))
        except Exception as crash:
            results.append(("error", repr(crash)))
    out.put((worker, "batch", results))
    engine.dispose()


def _run(target: Any, url: str, code: str) -> list[tuple[int, str, Any]]:
    return support.run_in_processes(
        target, [(url, w, code) for w in range(WORKERS)], finish_within=300
    )


def test_one_coupon_redeemed_at_once_by_many_processes_is_redeemed_exactly_once(
    pg_engine: Engine,
) -> None:
    with unit_of_work(pg_engine) as session:
        definitions.save_coupon_template(session, CouponTemplateIn.model_validate(LIVE_DROP))
        drop = coupons.issue_bearer_codes(
            session, "live-618", IssueBearerCodesIn(issue_key="s", count=1)
        )
    code = drop.coupons[0].code

    results = _run(_redeem_worker, support.PG_URL, code)

    outcomes = Counter((kind, detail) for _, kind, detail in results)
    assert outcomes == {("redeemed", None): 1, ("refused", "COUPON_ALREADY_USED"): WORKERS - 1}
    assert count(pg_engine, Redemption) == 1
    assert count(pg_engine, RedemptionEntry) == 1


def test_a_budget_raced_by_many_processes_is_never_overspent(pg_engine: Engine) -> None:
    budget = 7 * 5000 + 1234  # seven whole 满减 and a remainder, for 24 attempts
    with unit_of_work(pg_engine) as session:
        definitions.save_promotion(
            session, PromotionIn.model_validate({**MANJIAN, "budget_fen": budget})
        )

    results = _run(_budget_worker, support.PG_URL, "")

    every = [r for _, _, batch in results for r in batch]
    assert [r for r in every if r[0] == "error"] == []
    assert {r[1] for r in every if r[0] == "refused"} <= {"BUDGET_EXHAUSTED"}
    granted = sum(r[1] for r in every if r[0] == "redeemed")
    used_fen, used_count = promotion_use(pg_engine, MANJIAN["code"])
    assert used_fen == granted <= budget
    assert (used_fen, used_count) == ledger_balance(pg_engine, MANJIAN["code"])
