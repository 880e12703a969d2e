"""Writing orders from the past in their final state, set at a time (a migration, the demo).

`place_order` takes an order through capture, routing, holds and every step of its fulfilment:
right for one order arriving now, far too slow for a year of them. `record_history` takes orders
that were already priced, fulfilled and returned elsewhere (`domain.history`), checks that each
could have come out of the live flow and that its channel, SKUs and nodes exist, and inserts the
orders, lines, parcels, one trail row per order (and one per return), and the returns, set at a
time (`kernel.bulk.append_rows`: `COPY` on PostgreSQL, a driver-level executemany on SQLite).
Primary keys are reserved up front, so rows point at each other without reading anything back.

What it does not do is what belongs to other contexts or to the live flow: stock (the caller books
the ledger movements, referencing `order:<id>` and `return:<id>` as the live code does), points
and spend (the members context has its own history writer), and the outbox: a year of orders is
not news to anyone listening, so no `OrderPlaced` or `OrderCompleted` is recorded.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels import service as channels
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel.bulk import append_rows, reserve_ids
from yipan.orders.domain.fulfilment import Kind, State
from yipan.orders.domain.history import COMPLETED, HistoricOrder, problems
from yipan.orders.errors import (
    InvalidOrder,
    OrderReplayMismatch,
    UnknownNodeRef,
    UnknownSkuRef,
)
from yipan.orders.models import (
    Fulfilment,
    FulfilmentLine,
    Order,
    OrderEvent,
    OrderLine,
    Return,
    ReturnLine,
)

orders_t = cast(Table, Order.__table__)
lines_t = cast(Table, OrderLine.__table__)
fulfilments_t = cast(Table, Fulfilment.__table__)
fulfilment_lines_t = cast(Table, FulfilmentLine.__table__)
events_t = cast(Table, OrderEvent.__table__)
returns_t = cast(Table, Return.__table__)
return_lines_t = cast(Table, ReturnLine.__table__)

HISTORY = "history"
# The action that led to each final state, as the live state machines record it.
_LAST_ACTION = {
    State.DELIVERED.value: "deliver",
    State.SHIPPED.value: "ship",
    State.PICKED_UP.value: "hand_over",
}


@dataclass(frozen=True)
class HistoryIds:
    """The ids the orders got, in the order given; each order's returns' ids in its own order."""

    orders: list[int]
    returns: list[list[int]]
    lines: int
    fulfilments: int


_ORDER_COLUMNS = (
    "id",
    "channel",
    "external_id",
    "payload_hash",
    "kind",
    "state",
    "member_id",
    "customer_phone",
    "guide",
    "store",
    "address",
    "currency",
    "goods_fen",
    "line_discount_fen",
    "order_discount_fen",
    "shipping_fen",
    "total_fen",
    "exchange_of_return_id",
    "placed_at",
    "created_at",
    "updated_at",
)
_LINE_COLUMNS = (
    "id",
    "order_id",
    "line_no",
    "sku",
    "quantity",
    "unit_price_fen",
    "line_discount_fen",
    "order_discount_fen",
    "paid_fen",
    "method",
    "pickup_node",
    "address",
    "status",
    "returned_quantity",
    "refunded_fen",
)
_PARCEL_COLUMNS = (
    "id",
    "order_id",
    "node",
    "kind",
    "method",
    "state",
    "last_action",
    "pickup_code",
    "promised_by",
    "ready_at",
    "left_at",
    "delivered_at",
    "rejected_reason",
    "created_at",
    "updated_at",
)
_PARCEL_LINE_COLUMNS = ("fulfilment_id", "line_id", "sku", "quantity", "status")
_EVENT_COLUMNS = (
    "order_id",
    "fulfilment_id",
    "type",
    "from_state",
    "to_state",
    "actor",
    "terminal",
    "details",
    "at",
)
_RETURN_COLUMNS = (
    "id",
    "order_id",
    "idempotency_key",
    "payload_hash",
    "node",
    "channel",
    "reason",
    "actor",
    "refund_fen",
    "created_at",
)
_RETURN_LINE_COLUMNS = ("return_id", "line_id", "quantity", "condition", "refund_fen")
# Parents before children: SQLite checks the foreign keys row by row.
_TABLES = (
    ("orders", orders_t, _ORDER_COLUMNS),
    ("lines", lines_t, _LINE_COLUMNS),
    ("parcels", fulfilments_t, _PARCEL_COLUMNS),
    ("parcel_lines", fulfilment_lines_t, _PARCEL_LINE_COLUMNS),
    ("events", events_t, _EVENT_COLUMNS),
    ("returns", returns_t, _RETURN_COLUMNS),
    ("return_lines", return_lines_t, _RETURN_LINE_COLUMNS),
)

_Rows = dict[str, list[tuple[Any, ...]]]


def record_history(session: Session, orders: Sequence[HistoricOrder]) -> HistoryIds:
    """Insert `orders` as they are now; refused whole (`InvalidOrder`) if any could not be.

    Orders are keyed by (channel, external id) as live ones: an order already taken under its key
    is refused (`OrderReplayMismatch`) rather than written twice or replaced.
    """
    for order in orders:
        found = problems(order)
        if found:
            raise InvalidOrder(
                f"historic order {order.channel}:{order.external_id} cannot be recorded: "
                + "; ".join(found[:3]),
                channel=order.channel,
                external_id=order.external_id,
                problems=found,
            )
    _require_references(session, orders)
    _refuse_repeated_keys(orders)
    line_count = sum(len(o.lines) for o in orders)
    parcel_count = sum(len(o.parcels) for o in orders)
    return_count = sum(len(o.returns) for o in orders)
    order_ids = reserve_ids(session, orders_t, len(orders))
    line_ids = iter(reserve_ids(session, lines_t, line_count))
    parcel_ids = iter(reserve_ids(session, fulfilments_t, parcel_count))
    return_ids = iter(reserve_ids(session, returns_t, return_count))
    rows: _Rows = {name: [] for name, _, _ in _TABLES}
    returned = [
        _rows(order, order_id, line_ids, parcel_ids, return_ids, rows)
        for order, order_id in zip(orders, order_ids, strict=True)
    ]
    # A key taken before is found by the unique index as the rows go in (looking every key up
    # first cost more than writing them): the savepoint undoes the partial write.
    try:
        with session.begin_nested():
            for name, table, columns in _TABLES:
                append_rows(session, table, columns, rows[name])
    except IntegrityError as refused:
        if not _unique_violation(refused):
            raise
        raise OrderReplayMismatch(
            "an order (or return) of this history was already taken; history does not replace "
            f"orders: {str(refused.orig).splitlines()[0]}",
        ) from None
    return HistoryIds(
        orders=order_ids, returns=returned, lines=line_count, fulfilments=parcel_count
    )


def _rows(
    order: HistoricOrder,
    order_id: int,
    line_ids: Iterator[int],
    parcel_ids: Iterator[int],
    return_ids: Iterator[int],
    rows: _Rows,
) -> list[int]:
    placed = order.placed_at
    last_change = max(
        [placed, *(r.at for r in order.returns)]
        + [p.delivered_at or p.left_at or p.created_at for p in order.parcels]
    )
    rows["orders"].append(
        (
            order_id,
            order.channel,
            order.external_id,
            _digest(f"{HISTORY}:{order.channel}:{order.external_id}"),
            order.kind,
            order.state,
            order.member_id,
            None,  # customer_phone: history keeps no phone in the clear
            order.guide,
            order.store,
            order.address,
            "CNY",
            order.goods_fen,
            sum(ln.line_discount_fen for ln in order.lines),
            order.order_discount_fen,
            order.shipping_fen,
            order.total_fen,
            None,
            placed,
            placed,
            last_change,
        )
    )
    ids_by_no: dict[int, int] = {}
    for no, line in enumerate(order.lines, start=1):
        line_id = next(line_ids)
        ids_by_no[no] = line_id
        rows["lines"].append(
            (
                line_id,
                order_id,
                no,
                line.sku,
                line.quantity,
                line.unit_price_fen,
                line.line_discount_fen,
                line.order_discount_fen,
                line.paid_fen,
                line.method,
                line.pickup_node,
                None,
                line.status,
                line.returned_quantity,
                line.refunded_fen,
            )
        )
    last_parcel = 0
    for parcel in order.parcels:
        last_parcel = next(parcel_ids)
        counter = parcel.kind == Kind.COUNTER.value
        rows["parcels"].append(
            (
                last_parcel,
                order_id,
                parcel.node,
                parcel.kind,
                parcel.method,
                parcel.state,
                None if counter else _LAST_ACTION[parcel.state],
                None,
                parcel.promised_by,
                parcel.ready_at,
                parcel.left_at,
                parcel.delivered_at,
                None,
                parcel.created_at,
                parcel.delivered_at or parcel.left_at or parcel.created_at,
            )
        )
        rows["parcel_lines"].extend(
            (last_parcel, ids_by_no[no], order.lines[no - 1].sku, quantity, "committed")
            for no, quantity in parcel.lines
        )
    # One row of trail per order: where it ended, and that it came in as history.
    completed_at = order.completed_at
    parcel_ref: int | None = last_parcel
    if order.kind == "pos":
        note, to_state, at = "sold_at_till", COMPLETED, placed
    elif completed_at is not None:
        note, to_state, at, parcel_ref = "order.completed", COMPLETED, completed_at, None
    else:
        shipped = max(p.left_at or p.created_at for p in order.parcels)
        note, to_state, at = "fulfilment.ship", State.SHIPPED.value, shipped
    details = {"source": HISTORY, "store": order.store} if order.store else {"source": HISTORY}
    rows["events"].append(
        (order_id, parcel_ref, note, None, to_state, order.guide, order.store, details, at)
    )
    taken: list[int] = []
    for ret in order.returns:
        return_id = next(return_ids)
        taken.append(return_id)
        refund = ret.refund_fen
        rows["returns"].append(
            (
                return_id,
                order_id,
                ret.key,
                _digest(f"{HISTORY}:{ret.key}"),
                ret.node,
                ret.channel,
                ret.reason,
                ret.actor,
                refund,
                ret.at,
            )
        )
        rows["return_lines"].extend(
            (return_id, ids_by_no[r.line_no], r.quantity, r.condition, r.refund_fen)
            for r in ret.lines
        )
        rows["events"].append(
            (
                order_id,
                None,
                "returned",
                None,
                None,
                ret.actor,
                ret.node,
                {
                    "return_id": return_id,
                    "node": ret.node,
                    "channel": ret.channel,
                    "refund_fen": refund,
                    "source": HISTORY,
                },
                ret.at,
            )
        )
    return taken


def _require_references(session: Session, orders: Sequence[HistoricOrder]) -> None:
    """The channels, SKUs and nodes the orders name must exist, as for a live order."""
    for channel in sorted({o.channel for o in orders}):
        channels.get_channel(session, channel)
    skus = {ln.sku for o in orders for ln in o.lines}
    unknown = sorted(skus - set(catalog.find_sku_ids(session, skus)))
    if unknown:
        raise UnknownSkuRef(f"unknown SKU {', '.join(unknown[:5])}", skus=unknown)
    codes = {p.node for o in orders for p in o.parcels} | {
        r.node for o in orders for r in o.returns
    }
    codes |= {o.store for o in orders if o.store}
    missing = sorted(codes - set(inventory_nodes.find_node_ids(session, codes)))
    if missing:
        raise UnknownNodeRef(f"unknown node {', '.join(missing[:5])}", nodes=missing)


def _unique_violation(error: IntegrityError) -> bool:
    # PostgreSQL's SQLSTATE for unique_violation; SQLite says it in words.
    orig = error.orig
    return getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)


def _refuse_repeated_keys(orders: Sequence[HistoricOrder]) -> None:
    repeated = [
        key for key, n in Counter((o.channel, o.external_id) for o in orders).items() if n > 1
    ]
    if repeated:
        channel, external_id = repeated[0]
        raise OrderReplayMismatch(
            f"order {external_id} from {channel} is in the history twice",
            channel=channel,
            external_id=external_id,
        )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
