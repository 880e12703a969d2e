"""Orders from the past written set at a time: read back as live orders, refused whole if bad."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.orders import world
from tests.orders.world import JEANS, TEE
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.orders.domain.history import (
    DAMAGED,
    HistoricLine,
    HistoricOrder,
    HistoricParcel,
    HistoricReturn,
    HistoricReturnLine,
    share_order_discount,
    take_return,
)
from yipan.orders.errors import (
    InvalidOrder,
    OrderReplayMismatch,
    UnknownNodeRef,
    UnknownSkuRef,
)
from yipan.orders.schemas import ReturnIn, ReturnLineIn
from yipan.orders.service import history, queries, returns

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def till_sale(
    external_id: str = "ST-SH-1-20261120-0001", at: datetime | None = None
) -> HistoricOrder:
    at = at or NOW - timedelta(days=11)
    order = HistoricOrder(
        channel="pos",
        external_id=external_id,
        kind="pos",
        state="completed",
        placed_at=at,
        lines=[HistoricLine(TEE, 2, 9900), HistoricLine(JEANS, 1, 39900, line_discount_fen=4000)],
        parcels=[
            HistoricParcel(
                "ST-SH-1", "counter", "in_store", "picked_up", [(1, 2), (2, 1)], at, at, at
            )
        ],
        member_id="M0000000007",
        guide="ST-SH-1-POS1",
        store="ST-SH-1",
        order_discount_fen=55,  # 抹零
    )
    share_order_discount(order)
    return order


def split_online_order() -> HistoricOrder:
    """Two parcels from two nodes: one delivered (and partly returned), one with the carrier."""
    placed = NOW - timedelta(days=3)
    left, delivered = placed + timedelta(hours=5), placed + timedelta(days=1)
    order = HistoricOrder(
        channel="miniapp",
        external_id="MP-1",
        kind="online",
        state="open",
        placed_at=placed,
        lines=[
            HistoricLine(TEE, 2, 9900, method="ship"),
            HistoricLine(JEANS, 1, 39900, method="ship", status="open"),
        ],
        parcels=[
            HistoricParcel(
                "WH-KS", "shipment", "ship", "delivered", [(1, 2)], placed, left, delivered
            ),
            HistoricParcel("WH-BJ", "shipment", "ship", "shipped", [(2, 1)], placed, left),
        ],
        member_id="M0000000008",
        address=dict(world.LUJIAZUI),
        shipping_fen=800,
    )
    take_return(
        order,
        HistoricReturn(
            "miniapp:MP-1:return-1",
            "ST-SH-1",
            delivered + timedelta(days=1),
            [HistoricReturnLine(1, 1)],
            channel="pos",
            reason="尺码不合适",
        ),
    )
    return order


def test_historic_orders_read_back_as_the_live_code_would_show_them(engine: Engine) -> None:
    world.build(engine)
    sale, online = till_sale(), split_online_order()

    with unit_of_work(engine) as session:
        written = history.record_history(session, [sale, online])

    assert (written.lines, written.fulfilments) == (4, 3)
    with unit_of_work(engine, readonly=True) as session:
        got = queries.get_order(session, written.orders[0])
        assert (got.channel, got.external_id, got.kind, got.state) == (
            "pos",
            sale.external_id,
            "pos",
            "completed",
        )
        assert got.total_fen == 2 * 9900 + 39900 - 4000 - 55
        assert [ln.paid_fen for ln in got.lines] == [ln.paid_fen for ln in sale.lines]
        assert sum(ln.order_discount_fen for ln in got.lines) == 55
        assert got.placed_at == sale.placed_at
        [counter] = got.fulfilments
        assert (counter.kind, counter.state, counter.delivered_at) == (
            "counter",
            "picked_up",
            sale.placed_at,
        )
        assert [e.type for e in queries.order_events(session, got.id)] == ["sold_at_till"]

        split = queries.get_order(session, written.orders[1])
        assert split.state == "open"
        assert [ln.status for ln in split.lines] == ["fulfilled", "open"]
        assert [(f.node, f.state) for f in split.fulfilments] == [
            ("WH-KS", "delivered"),
            ("WH-BJ", "shipped"),
        ]
        assert split.fulfilments[1].allowed_actions == ["deliver", "fail_delivery"]
        assert split.lines[0].returned_quantity == 1
        assert split.lines[0].refunded_fen == 9900
        [return_id] = written.returns[1]
        taken = queries.get_return(session, return_id)
        assert (taken.node, taken.refund_fen, taken.channel) == ("ST-SH-1", 9900, "pos")
        assert [e.type for e in queries.order_events(session, split.id)] == [
            "fulfilment.ship",
            "returned",
        ]


def test_a_historic_order_goes_on_in_the_live_flow(engine: Engine) -> None:
    """Within its window the rest of a delivered historic line can still come back, live."""
    world.build(engine)
    with unit_of_work(engine) as session:
        written = history.record_history(session, [split_online_order()])
    order_id = written.orders[0]

    with unit_of_work(engine) as session:
        back, created = returns.take_return(
            session,
            ReturnIn(
                order_id=order_id,
                idempotency_key="live-return-1",
                node="ST-SH-1",
                lines=[ReturnLineIn(line_no=1, quantity=1)],
            ),
            clock=FakeClock(NOW),
        )
    assert created
    assert back.refund_fen == 9900  # the second of two units refunds the rest of the line
    with unit_of_work(engine, readonly=True) as session:
        line = queries.get_order(session, order_id).lines[0]
        assert (line.returned_quantity, line.refunded_fen) == (2, line.paid_fen)


def test_an_order_the_live_flow_could_not_have_made_is_refused_and_nothing_is_written(
    engine: Engine,
) -> None:
    world.build(engine)
    good, bad = till_sale(), till_sale("ST-SH-1-20261120-0002")
    bad.parcels[0].lines = [(1, 1), (2, 1)]  # one of the two tees never left the store
    returned = split_online_order()
    returned.returns[0].lines[0].condition = DAMAGED
    returned.lines[0].refunded_fen += 1  # more than the returns refunded

    for wrong in (bad, returned):
        with pytest.raises(InvalidOrder) as refused, unit_of_work(engine) as session:
            history.record_history(session, [good, wrong])
        assert wrong.external_id in refused.value.message
    with unit_of_work(engine, readonly=True) as session:
        assert queries.count_orders(session) == 0


def test_unknown_skus_and_nodes_are_refused(engine: Engine) -> None:
    world.build(engine)
    nowhere = till_sale()
    nowhere.parcels[0].node = "ST-NOWHERE"
    unknown = till_sale()
    unknown.lines[0].sku = "NO-SUCH-SKU"

    with pytest.raises(UnknownNodeRef), unit_of_work(engine) as session:
        history.record_history(session, [nowhere])
    with pytest.raises(UnknownSkuRef), unit_of_work(engine) as session:
        history.record_history(session, [unknown])


def test_an_order_already_taken_under_its_key_is_not_written_twice(engine: Engine) -> None:
    world.build(engine)
    with unit_of_work(engine) as session:
        history.record_history(session, [till_sale()])

    for again in ([till_sale("X-1"), till_sale()], [till_sale("X-2"), till_sale("X-2")]):
        with pytest.raises(OrderReplayMismatch), unit_of_work(engine) as session:
            history.record_history(session, again)
    with unit_of_work(engine, readonly=True) as session:
        assert queries.count_orders(session) == 1


def test_after_a_refused_key_the_transaction_goes_on(engine: Engine) -> None:
    """The refusal undoes only the history's rows: the caller may still write and commit."""
    world.build(engine)
    with unit_of_work(engine) as session:
        history.record_history(session, [till_sale()])

    with unit_of_work(engine) as session:
        with pytest.raises(OrderReplayMismatch):
            history.record_history(session, [till_sale("Y-1"), till_sale()])
        history.record_history(session, [till_sale("Y-2")])
    with unit_of_work(engine, readonly=True) as session:
        assert queries.count_orders(session) == 2
