"""Stock and money invariants under any sequence of order operations (hypothesis, stateful).

Whatever orders are placed, stepped, cancelled, rejected and returned, in whatever order:
- every level keeps 0 <= reserved <= on_hand and on_hand equals its ledger;
- what is reserved at a node is exactly what live fulfilment lines hold there;
- no line refunds more than it paid, nor takes back more units than reached the customer;
- refused operations leave nothing behind.
"""

from __future__ import annotations

import itertools
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine, select

from tests import factories
from tests.orders import world
from tests.support import fresh_sqlite, sqlite_template
from yipan.inventory.models import Node, Reservation, StockLevel
from yipan.inventory.service import ledger
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.orders.domain.fulfilment import Action, Kind, State, allowed_actions
from yipan.orders.models import Fulfilment, FulfilmentLine, OrderLine
from yipan.orders.schemas import ActionIn, CancelIn, OrderIn, RejectIn, ReturnIn
from yipan.orders.service import capture, lifecycle, returns

# Several seconds each: run first, so no worker is left with it at the end (tests/conftest.py).
pytestmark = pytest.mark.slow

ADDRESSES = [world.LUJIAZUI, world.PEOPLES_SQUARE, world.BEIJING]


def _line(sku: str, qty: int, method: str) -> dict[str, Any]:
    extra: dict[str, Any] = {"method": method}
    if method == "pickup":
        extra["pickup_node"] = "ST-SH-1"
    if method == "local_delivery":  # inside ST-SH-1's 3 km radius
        extra["address"] = world.PEOPLES_SQUARE
    return world.line(sku, qty, 9900 if sku == world.TEE else 39900, **extra)


class OrderFlows(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine: Engine | None = None
        self.orders: list[int] = []
        self.fulfilments: list[int] = []
        self.ids = itertools.count()

    @initialize()
    def build(self) -> None:
        # A directory of its own per example: parallel test workers run this machine at once.
        base = Path(tempfile.mkdtemp(prefix="yipan-order-flows-"))
        url = fresh_sqlite(sqlite_template(base), base / "flows.db")
        self.engine = make_engine(url)
        world.build(self.engine)
        for sku in (world.TEE, world.JEANS):  # enough at the one pickup and same-city store
            factories.receive(self.engine, sku, "ST-SH-1", 60)

    def _do(self, work: Any) -> Any:
        assert self.engine is not None
        try:
            with unit_of_work(self.engine) as session:
                return work(session)
        except YipanError:
            return None

    @rule(
        lines=st.lists(
            st.tuples(
                st.sampled_from([world.TEE, world.JEANS]),
                st.integers(1, 6),
                st.sampled_from(["ship", "pickup", "local_delivery"]),
            ),
            min_size=1,
            max_size=3,
        ),
        address=st.sampled_from(ADDRESSES),
        discount=st.integers(0, 3000),
    )
    def place(
        self, lines: list[tuple[str, int, str]], address: dict[str, Any], discount: int
    ) -> None:
        body = world.order(
            f"F-{next(self.ids)}",
            [_line(*ln) for ln in lines],
            address=address,
            order_discount_fen=discount,
        )
        placed = self._do(lambda s: capture.place_order(s, OrderIn.model_validate(body)))
        if placed is not None:
            self.orders.append(placed.order.id)
            self.fulfilments.extend(f.id for f in placed.order.fulfilments)

    @rule(data=st.data(), anything=st.booleans())
    def step(self, data: st.DataObject, anything: bool) -> None:
        """Mostly a step the fulfilment allows now; sometimes any step, which must be refused."""
        if not self.fulfilments:
            return
        live = self._do(
            lambda s: list(
                s.execute(
                    select(Fulfilment.id, Fulfilment.kind, Fulfilment.state).where(
                        Fulfilment.id.in_(self.fulfilments)
                    )
                )
            )
        )
        moving = [f for f in live if allowed_actions(Kind(f.kind), State(f.state))]
        fid, kind, state = data.draw(st.sampled_from(moving if moving and not anything else live))
        allowed = list(allowed_actions(Kind(kind), State(state)))
        action = data.draw(st.sampled_from(list(Action) if anything or not allowed else allowed))
        if action is Action.HAND_OVER:
            code = self._do(lambda s: s.get(Fulfilment, fid).pickup_code)
            act = ActionIn(code=code or "")
        else:
            act = ActionIn()
        self._do(lambda s: lifecycle.advance(s, fid, action, act))

    @rule(data=st.data())
    def hand_to_customer(self, data: st.DataObject) -> None:
        """Walk a fulfilment to the customer, so that returns have something to take back."""
        if not self.fulfilments:
            return
        fid = data.draw(st.sampled_from(self.fulfilments))
        walk = [Action.START_PICKING, Action.PACK, Action.SHIP, Action.DELIVER, Action.MARK_READY]
        for action in walk:
            self._do(lambda s, a=action: lifecycle.advance(s, fid, a, ActionIn()))
        code = self._do(lambda s: s.get(Fulfilment, fid).pickup_code)
        self._do(lambda s: lifecycle.advance(s, fid, Action.HAND_OVER, ActionIn(code=code or "")))

    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        if not self.fulfilments:
            return
        fid = data.draw(st.sampled_from(self.fulfilments))
        out = self._do(lambda s: lifecycle.reject_fulfilment(s, fid, RejectIn(reason="damaged")))
        if out is not None:
            self.fulfilments.extend(f.id for f in out.fulfilments if f.id not in self.fulfilments)

    @rule(data=st.data(), whole=st.booleans())
    def cancel(self, data: st.DataObject, whole: bool) -> None:
        if not self.orders:
            return
        oid = data.draw(st.sampled_from(self.orders))
        why = CancelIn(reason="test")
        if whole:
            self._do(lambda s: lifecycle.cancel_order(s, oid, why))
        else:
            line_no = data.draw(st.integers(1, 3))
            self._do(lambda s: lifecycle.cancel_line(s, oid, line_no, why))

    @rule(data=st.data(), quantity=st.integers(1, 4), damaged=st.booleans())
    def give_back(self, data: st.DataObject, quantity: int, damaged: bool) -> None:
        if not self.orders:
            return
        received = self._do(
            lambda s: list(
                s.scalars(select(Fulfilment.order_id).where(Fulfilment.delivered_at.is_not(None)))
            )
        )
        back = ReturnIn(
            order_id=data.draw(st.sampled_from(received or self.orders)),
            node=data.draw(st.sampled_from(["ST-SH-1", "ST-SH-2", "WH-KS"])),
            idempotency_key=f"RET-{next(self.ids)}",
            lines=[
                {  # type: ignore[list-item]
                    "line_no": data.draw(st.integers(1, 2)),
                    "quantity": quantity,
                    "condition": "damaged" if damaged else "resellable",
                }
            ],
        )
        self._do(lambda s: returns.take_return(s, back))

    @invariant()
    def stock_and_money_add_up(self) -> None:
        if self.engine is None:
            return
        with unit_of_work(self.engine, readonly=True) as session:
            report = ledger.reconcile(session)
            assert report.drifted == [], report
            levels = session.execute(
                select(Node.code, StockLevel.on_hand, StockLevel.reserved).join(
                    Node, Node.id == StockLevel.node_id
                )
            ).all()
            for node, on_hand, reserved in levels:
                assert 0 <= reserved <= on_hand, (node, on_hand, reserved)
            held: dict[str, int] = defaultdict(int)
            for node, quantity in session.execute(
                select(Fulfilment.node, FulfilmentLine.quantity)
                .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
                .where(FulfilmentLine.status == "held")
            ):
                held[node] += quantity
            reserved_at: dict[str, int] = defaultdict(int)
            for node, quantity in session.execute(
                select(Node.code, Reservation.quantity)
                .join(Node, Node.id == Reservation.node_id)
                .where(Reservation.status == "active")
            ):
                reserved_at[node] += quantity
            assert dict(held) == dict(reserved_at)
            for ln in session.scalars(select(OrderLine)):
                assert 0 <= ln.refunded_fen <= ln.paid_fen
                assert 0 <= ln.returned_quantity <= ln.quantity
                if ln.returned_quantity == ln.quantity:
                    assert ln.refunded_fen == ln.paid_fen

    def teardown(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


OrderFlows.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_order_flows_keep_stock_and_money_consistent = OrderFlows.TestCase
