"""Request bodies and storage checks shared by the promotions storage and API tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from yipan.events.models import OutboxEvent
from yipan.kernel.db import unit_of_work
from yipan.promotions.models import (
    CouponRow,
    PromotionRow,
    Redemption,
    RedemptionEntry,
)

MANJIAN = {  # 满 300 减 50 on the whole order
    "code": "manjian-300-50",
    "name": "满300减50",
    "rule": {
        "kind": "threshold_reduction",
        "steps": [{"threshold_fen": 30000, "reduction_fen": 5000}],
    },
}
TEN_OFF = {  # a 10-yuan no-threshold coupon that stacks with promotions
    "code": "ten-off",
    "name": "10元无门槛",
    "benefit": {"kind": "amount_off", "amount_fen": 1000},
}
LIVE_DROP = {  # a live-stream drop: 满 100 减 20, valid in every channel
    "code": "live-618",
    "name": "直播间满100减20",
    "benefit": {"kind": "threshold_off", "threshold_fen": 10000, "amount_fen": 2000},
}


def line(no: int, sku: str, quantity: int, price: int, category: str = "apparel") -> dict[str, Any]:
    return {
        "line_no": no,
        "sku": sku,
        "category": category,
        "quantity": quantity,
        "unit_price_fen": price,
    }


def cart(
    *lines: dict[str, Any],
    member: str | None = None,
    tier: str | None = None,
    coupons: tuple[str, ...] = (),
    channel: str = "miniapp",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": channel, "lines": list(lines), "coupon_codes": list(coupons)}
    if member is not None:
        body["member"] = {"id": member, "tier": tier}
    body.update(extra)
    return body


def count(engine: Engine, model: type[Any], *where: Any) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def written(engine: Engine) -> tuple[int, ...]:
    """Rows a refusal must not have added to."""
    return (
        count(engine, Redemption),
        count(engine, RedemptionEntry),
        count(engine, OutboxEvent),
        count(engine, CouponRow, CouponRow.status == "redeemed"),
    )


def promotion_use(engine: Engine, code: str) -> tuple[int, int]:
    with unit_of_work(engine, readonly=True) as session:
        row = session.execute(
            select(PromotionRow.used_fen, PromotionRow.used_count).where(PromotionRow.code == code)
        ).one()
        return int(row.used_fen), int(row.used_count)


def ledger_balance(engine: Engine, code: str) -> tuple[int, int]:
    """What the ledger says a promotion has used: fen not given back, uses not reversed."""
    with unit_of_work(engine, readonly=True) as session:
        entries = session.scalars(
            select(RedemptionEntry)
            .join(PromotionRow, PromotionRow.id == RedemptionEntry.promotion_id)
            .where(PromotionRow.code == code)
        ).all()
        return (
            sum(e.discount_fen - e.restored_fen for e in entries),
            sum(1 for e in entries if e.reversed_at is None),
        )
