"""A small chain for the transfer-plan tests, built through the inventory services.

- WH-LY, Linyi, Shandong (≈ 340 km north of Nanjing). TEE: 644 left, 56 sold in 28 days
  (2 a day), reorder point 20: keeps 120 (60 days), surplus 524. CAP: 40, no sales, reorder
  point 10: surplus 30.
- ST-NJ-1, Nanjing. TEE: sold out, 28 sold in the window (1 a day), reorder point 6: target 14
  days = 14, short 14.
- ST-NJ-2, Nanjing. TEE: 1 left, 15 sold and 1 returned (0.5 a day), reorder point 4: target 7,
  short 6. CAP: 1, reorder point 5: short 4.
- ST-SH-1, Shanghai. TEE: 30 left, 14 sold (0.5 a day), reorder point 4: keeps 30, target 7:
  neither short nor over.

Older sales (40 days ago) at ST-NJ-1 fall outside the 28-day window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from tests import factories
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import movements, nodes
from yipan.kernel.clock import FixedClock
from yipan.kernel.db import unit_of_work

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
CLOCK = FixedClock(NOW)
JIANGSU, SHANDONG, SHANGHAI = "江苏省", "山东省", "上海市"


def _moves(engine: Engine, rows: list[dict[str, Any]], now: datetime) -> None:
    with unit_of_work(engine) as session:
        result = movements.ingest_movements(
            session, [MovementIn(**r) for r in rows], require_keys=False, clock=FixedClock(now)
        )
    assert result.rejected == 0, result.errors


def build(engine: Engine, now: datetime = NOW) -> None:
    """The chain of the table above, its sales counted back from `now`."""

    def _sales(sku: str, node: str, units: int, days_ago: float) -> dict[str, Any]:
        at = now - timedelta(days=days_ago)
        return {"sku": sku, "node": node, "kind": "sale", "quantity": units, "occurred_at": at}

    factories.sku(engine, "TEE")
    factories.sku(engine, "CAP")
    factories.node(
        engine, "WH-LY", type="warehouse", lat=35.10, lon=118.36, province=SHANDONG, city="临沂市"
    )
    factories.node(engine, "ST-NJ-1", lat=32.06, lon=118.79, province=JIANGSU, city="南京市")
    factories.node(engine, "ST-NJ-2", lat=32.04, lon=118.76, province=JIANGSU, city="南京市")
    factories.node(engine, "ST-SH-1", lat=31.23, lon=121.47)
    old = now - timedelta(days=60)
    receipts = [
        ("TEE", "WH-LY", 700),
        ("TEE", "ST-NJ-1", 40),
        ("TEE", "ST-NJ-2", 15),
        ("TEE", "ST-SH-1", 44),
        ("CAP", "WH-LY", 40),
        ("CAP", "ST-NJ-2", 1),
    ]
    _moves(
        engine,
        [
            {"sku": s, "node": n, "kind": "receipt", "quantity": q, "occurred_at": old}
            for s, n, q in receipts
        ],
        now,
    )
    _moves(
        engine,
        [
            # 56 over the window at the warehouse: 2 a day.
            *(_sales("TEE", "WH-LY", 4, days_ago=d + 0.5) for d in range(14)),
            # 28 in the window at ST-NJ-1, and 12 before it that must not count.
            *(_sales("TEE", "ST-NJ-1", 2, days_ago=d + 0.5) for d in range(14)),
            _sales("TEE", "ST-NJ-1", 12, days_ago=40),
            _sales("TEE", "ST-NJ-2", 15, days_ago=3),
            {
                "sku": "TEE",
                "node": "ST-NJ-2",
                "kind": "return",
                "quantity": 1,
                "occurred_at": now - timedelta(days=2),
            },
            _sales("TEE", "ST-SH-1", 14, days_ago=5),
        ],
        now,
    )
    with unit_of_work(engine) as session:
        for sku, node, reorder in [
            ("TEE", "WH-LY", 20),
            ("TEE", "ST-NJ-1", 6),
            ("TEE", "ST-NJ-2", 4),
            ("TEE", "ST-SH-1", 4),
            ("CAP", "WH-LY", 10),
            ("CAP", "ST-NJ-2", 5),
        ]:
            nodes.set_stock_policy(
                session,
                sku=sku,
                node=node,
                safety_stock=0,
                reorder_point=reorder,
                clock=FixedClock(now),
            )
