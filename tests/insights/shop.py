"""A week of trade in the small Shanghai–Beijing world of the order tests, placed through the
orders services, with every KPI figure worked out by hand below.

Days are business days in Shanghai counted back from today's (d0); the service tests stand the
clock at 2026-03-10 12:00 there (d0 = 3-10, so the 7-day period is 3-04 … 3-10), the page tests
at the real now.

| order | channel | local day | what | net fen | member |
| --- | --- | --- | --- | --- | --- |
| TM-1 | tmall | d0 | 1 tee shipped from store ST-SH-2 | 9,900 | M-1 |
| MP-1 | miniapp | d-1 at 00:30 (16:30 UTC on d-2) | 1 tee picked up at ST-SH-1 | 9,900 | M-1 |
| POS-1 | pos | d-2 | 5 jeans at the ST-SH-3 till | 199,500 | M-2 |
| G-1 | guide | d-3 | a guide at ST-SH-1 sends 2 tees to Beijing (WH-BJ) | 19,800 | M-3 |
| TM-3 | tmall | d-4 | 1 tee to Beijing (WH-BJ), at 89 yuan: no rule says so | 8,900 | guest |
| TM-2 | tmall | d-5 | jeans delivered from WH-BJ, returned at store ST-SH-1 | 0 | guest |
| TM-X | tmall | d0 | cancelled: counts nowhere | – | M-1 |
| TM-OLD | tmall | d-9 | 1 tee to Beijing (WH-BJ): in 30 days, not in 7 | 9,900 | M-1 |
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from tests.orders import world
from tests.orders.world import BEIJING, JEANS, LUJIAZUI, TEE, line, order
from yipan.inventory.service import alerts, nodes
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.orders.domain.fulfilment import Action
from yipan.orders.schemas import ActionIn, CancelIn, OrderIn, OrderOut, PosReceiptIn, ReturnIn
from yipan.orders.service import capture, lifecycle, queries, returns

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _place(engine: Engine, clock: FakeClock, body: dict[str, Any]) -> OrderOut:
    with unit_of_work(engine) as session:
        return capture.place_order(session, OrderIn.model_validate(body), clock=clock).order


def _steps(engine: Engine, clock: FakeClock, fulfilment_id: int, *actions: Action) -> None:
    for action in actions:
        with unit_of_work(engine) as session:
            lifecycle.advance(session, fulfilment_id, action, ActionIn(actor="t"), clock=clock)


def _hand_over_pickup(engine: Engine, clock: FakeClock, fulfilment_id: int) -> None:
    with unit_of_work(engine) as session:
        ready = lifecycle.advance(
            session, fulfilment_id, Action.MARK_READY, ActionIn(actor="t"), clock=clock
        )
    code = ready.pickup_code
    with unit_of_work(engine) as session:
        lifecycle.advance(
            session, fulfilment_id, Action.HAND_OVER, ActionIn(actor="t", code=code), clock=clock
        )


SHIP_ALL = (Action.START_PICKING, Action.PACK, Action.SHIP, Action.DELIVER)


def build(engine: Engine, now: datetime = NOW) -> dict[str, OrderOut]:
    world.build(engine)
    return trade(engine, now)


def trade(engine: Engine, now: datetime) -> dict[str, OrderOut]:
    """The orders of the table above, in a world already built, with today's business day that
    of `now`."""
    today = now.astimezone(SHANGHAI).date()

    def at(days_ago: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hour, minute), SHANGHAI)

    def _at(days_ago: int, hour: int, minute: int = 0) -> str:
        return at(days_ago, hour, minute).isoformat()

    clock = FakeClock(now)
    placed: dict[str, OrderOut] = {}
    placed["TM-1"] = _place(
        engine,
        clock,
        order(
            "TM-1",
            [line()],
            address=LUJIAZUI,
            customer={"member_id": "M-1"},
            placed_at=_at(0, 9),
        ),
    )
    placed["MP-1"] = _place(
        engine,
        clock,
        order(
            "MP-1",
            [line(method="pickup", pickup_node="ST-SH-1")],
            channel="miniapp",
            customer={"member_id": "M-1"},
            placed_at=_at(1, 0, 30),
        ),
    )
    _hand_over_pickup(engine, clock, placed["MP-1"].fulfilments[0].id)
    with unit_of_work(engine) as session:
        receipt = PosReceiptIn(
            channel="pos",
            receipt_id="POS-1",
            store="ST-SH-3",
            cashier="C-1",
            lines=[{"sku": JEANS, "quantity": 5, "unit_price_fen": 39900}],  # type: ignore[list-item]
            total_fen=5 * 39900,
            customer={"member_id": "M-2"},  # type: ignore[arg-type]
            sold_at=at(2, 10),
        )
        placed["POS-1"] = capture.record_pos_receipt(session, receipt, clock=clock).order
    placed["G-1"] = _place(
        engine,
        clock,
        order(
            "G-1",
            [line(qty=2)],
            channel="guide",
            guide="GD-1",
            store="ST-SH-1",
            address=BEIJING,
            customer={"member_id": "M-3"},
            placed_at=_at(3, 15),
        ),
    )
    placed["TM-3"] = _place(
        engine, clock, order("TM-3", [line(price=8900)], address=BEIJING, placed_at=_at(4, 11))
    )
    placed["TM-2"] = _place(
        engine,
        clock,
        order(
            "TM-2",
            [line(JEANS, price=39900)],
            address=BEIJING,
            placed_at=_at(5, 12),
        ),
    )
    _steps(engine, clock, placed["TM-2"].fulfilments[0].id, *SHIP_ALL)
    with unit_of_work(engine) as session:
        back = ReturnIn.model_validate(
            {
                "order_id": placed["TM-2"].id,
                "node": "ST-SH-1",
                "idempotency_key": "R-TM-2",
                "lines": [{"line_no": 1, "quantity": 1}],
            }
        )
        returns.take_return(session, back, clock=clock)
    placed["TM-X"] = _place(
        engine,
        clock,
        order(
            "TM-X",
            [line()],
            address=LUJIAZUI,
            customer={"member_id": "M-1"},
            placed_at=_at(0, 10),
        ),
    )
    with unit_of_work(engine) as session:
        lifecycle.cancel_order(session, placed["TM-X"].id, CancelIn(reason="test"), clock=clock)
    placed["TM-OLD"] = _place(
        engine,
        clock,
        order(
            "TM-OLD",
            [line()],
            address=BEIJING,
            customer={"member_id": "M-1"},
            placed_at=_at(9, 9),
        ),
    )
    with unit_of_work(engine) as session:
        # ST-SH-2 keeps 4 tees to promise (one held for TM-1): under a reorder point of 5.
        nodes.set_stock_policy(session, sku=TEE, node="ST-SH-2", safety_stock=0, reorder_point=5)
        alerts.raise_low_stock_alert(session, sku=TEE, node="ST-SH-2", at=NOW)
    with unit_of_work(engine, readonly=True) as session:
        return {key: queries.get_order(session, o.id) for key, o in placed.items()}
