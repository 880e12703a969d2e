"""The stock books after a stress run: every figure agrees with every other.

Shared by the concurrency and crash tests. Each check reads the whole database, so it is for the
end of a run, not for a loop.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, func, select

from yipan.catalog.models import Sku
from yipan.inventory.models import Node, Reservation, StockLevel
from yipan.inventory.service import ledger
from yipan.kernel.db import unit_of_work
from yipan.orders.models import Fulfilment, FulfilmentLine, Order
from yipan.orders.service.sourcing import reservation_reference


def assert_books_balance(engine: Engine) -> None:
    """No drift, no level over-reserved, and the holds are exactly what the open orders hold.

    - `on_hand` of every level equals the sum of its ledger (`ledger.reconcile`);
    - `0 <= reserved <= on_hand` for every level;
    - `reserved` of every level equals the sum of its active reservations;
    - the active reservations are, one for one, the held fulfilment lines of open orders, with the
      same SKU, node and quantity.
    """
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
        assert report.drifted == [], f"ledger drift: {report.drifted}"

        levels = session.execute(
            select(Sku.code, Node.code, StockLevel.on_hand, StockLevel.reserved)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .join(Node, Node.id == StockLevel.node_id)
        ).all()
        over = [lv for lv in levels if not 0 <= lv.reserved <= lv.on_hand]
        assert over == [], f"levels with reserved outside [0, on_hand]: {over}"

        holds = session.execute(
            select(Reservation.reference, Sku.code, Node.code, Reservation.quantity)
            .join(Sku, Sku.id == Reservation.sku_id)
            .join(Node, Node.id == Reservation.node_id)
            .where(Reservation.status == "active")
        ).all()
        held_per_level: Counter[tuple[str, str]] = Counter()
        for _ref, sku, node, qty in holds:
            held_per_level[(sku, node)] += qty
        reserved_per_level = {
            (sku, node): reserved for sku, node, _, reserved in levels if reserved
        }
        assert reserved_per_level == dict(held_per_level), "reserved differs from the active holds"

        order_lines = session.execute(
            select(FulfilmentLine.id, FulfilmentLine.sku, Fulfilment.node, FulfilmentLine.quantity)
            .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
            .join(Order, Order.id == Fulfilment.order_id)
            .where(Order.state == "open", FulfilmentLine.status == "held")
        ).all()
        expected = sorted(
            (reservation_reference(fl_id), sku, node, qty) for fl_id, sku, node, qty in order_lines
        )
        actual = sorted(tuple(h) for h in holds)
        assert actual == expected, "active holds differ from the held lines of open orders"


def order_count(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return session.scalar(select(func.count()).select_from(Order)) or 0
