"""Order capture from every channel: online orders, guide-assisted orders and POS receipts.

An order is taken once per (channel, external id). The insert of the order row is the
idempotency check: a second arrival finds the row (or waits for the first transaction to decide
on it) and is answered with the order already taken, or refused if its payload differs. Everything
else — lines, fulfilments, stock holds, the routing decision, the audit trail and the outbox
event — is written in the same transaction, so a refusal anywhere leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels import service as channels
from yipan.channels.domain import ChannelType, priced_by_yipan
from yipan.events import service as events
from yipan.inventory.domain import MovementKind
from yipan.inventory.schemas import MovementIn
from yipan.inventory.service import movements
from yipan.inventory.service import nodes as inventory_nodes
from yipan.kernel import jsontext
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import fetch_plain, insert_unless_taken
from yipan.kernel.money import allocate_discount
from yipan.orders.domain.fulfilment import STARTS_IN, Kind
from yipan.orders.domain.money import line_subtotal, validate_order_sums
from yipan.orders.domain.routing import Method
from yipan.orders.errors import (
    InvalidOrder,
    OrderReplayMismatch,
    SumsDoNotAddUp,
    UnknownNodeRef,
    UnknownSkuRef,
)
from yipan.orders.events import OrderCompleted, OrderPlaced
from yipan.orders.models import Fulfilment, FulfilmentLine, Order, OrderLine
from yipan.orders.schemas import OrderIn, PlacedOrder, PosReceiptIn
from yipan.orders.service import checkout, queries, trail
from yipan.orders.service.sourcing import LineToSource, Placement, source

orders_t = cast(Table, Order.__table__)
lines_t = cast(Table, OrderLine.__table__)
fulfilments_t = cast(Table, Fulfilment.__table__)
fulfilment_lines_t = cast(Table, FulfilmentLine.__table__)


def place_order(
    session: Session,
    order_in: OrderIn,
    *,
    clock: Clock | None = None,
    exchange_of_return_id: int | None = None,
) -> PlacedOrder:
    """Take an order, route it and hold its stock; a replay returns the order already taken."""
    now = (clock or SystemClock()).now()
    channel = channels.active_channel(session, order_in.channel)
    digest = _digest(order_in.model_dump_json())
    _check_references(session, order_in)
    if priced_by_yipan(channel.type):
        # A replay is answered before pricing: the cart is priced, and its coupons used, once.
        taken_before = _taken_before(session, order_in.channel, order_in.external_id, digest)
        if taken_before is not None:
            return PlacedOrder(created=False, order=queries.get_order(session, taken_before))
    order_in, points = checkout.price_order(session, channel, order_in, now)
    _check_sums(
        order_in.lines,
        order_in.shipping_fen,
        order_in.order_discount_fen,
        order_in,
        points_fen=points.fen,
    )
    addresses = _line_addresses(order_in)
    kind = "guide" if order_in.guide else "online"
    lines = _line_rows(
        order_in.lines,
        order_in.order_discount_fen,
        [
            {"method": ln.method.value, "pickup_node": ln.pickup_node, "address": address}
            for ln, address in zip(order_in.lines, addresses, strict=True)
        ],
        status="open",
        points=points,
    )
    taken = _insert_order(
        session,
        order_in.channel,
        order_in.external_id,
        digest,
        {
            "kind": kind,
            "state": "open",
            "member_id": order_in.customer.member_id if order_in.customer else None,
            "customer_phone": order_in.customer.phone if order_in.customer else None,
            "guide": order_in.guide,
            "store": order_in.store,
            "address": order_in.address.model_dump() if order_in.address else None,
            "currency": order_in.currency,
            "shipping_fen": order_in.shipping_fen,
            "order_discount_fen": order_in.order_discount_fen,
            "total_fen": order_in.total_fen,
            "points_used": points.used,
            "points_fen": points.fen,
            "exchange_of_return_id": exchange_of_return_id,
            "placed_at": order_in.placed_at or now,
            "created_at": now,
            "updated_at": now,
        },
        lines,
    )
    if isinstance(taken, int):
        return PlacedOrder(created=False, order=queries.get_order(session, -taken))
    order_id, rows = taken["id"], lines
    placed = _placed_event(order_id, order_in.channel, order_in, kind, rows)
    if exchange_of_return_id is not None:
        placed = replace(placed, exchange_of_return_id=exchange_of_return_id)

    sourced = source(
        session,
        order_id,
        channel,
        [
            LineToSource(
                line_id=r["id"],
                line_no=r["line_no"],
                sku=r["sku"],
                quantity=r["quantity"],
                method=Method(r["method"]),
                pickup_node=r["pickup_node"],
                address=r["address"],
            )
            for r in rows
        ],
        now=now,
        trigger="placement",
        placement=Placement(actor=order_in.guide, terminal=order_in.store, event=placed),
    )
    return PlacedOrder(created=True, order=queries.new_order_out(taken, rows, sourced.fulfilments))


def record_pos_receipt(
    session: Session, receipt: PosReceiptIn, *, clock: Clock | None = None
) -> PlacedOrder:
    """A till sale as an order: already handed over, stock taken off at the store at once.

    The sale happened, so the receipt is kept even when the books disagree with the shelf (the
    store sold a unit the system thought it did not have): the line that cannot be taken off is
    noted on the order as a stock discrepancy for a count to settle, and the rest is booked.
    """
    now = (clock or SystemClock()).now()
    channel = channels.active_channel(session, receipt.channel)
    if channel.type != ChannelType.POS:
        raise InvalidOrder(
            f"channel {channel.code} is a {channel.type} channel; receipts come from POS channels",
            channel=channel.code,
        )
    _check_sums(receipt.lines, 0, receipt.order_discount_fen, receipt)
    _require_skus(session, [ln.sku for ln in receipt.lines])
    _require_nodes(session, {receipt.store})
    customer = receipt.customer
    at_till = {"method": "in_store", "pickup_node": None, "address": None}
    lines = _line_rows(
        receipt.lines,
        receipt.order_discount_fen,
        [at_till] * len(receipt.lines),
        status="fulfilled",
    )
    taken = _insert_order(
        session,
        receipt.channel,
        receipt.receipt_id,
        _digest(receipt.model_dump_json()),
        {
            "kind": "pos",
            "state": "completed",
            "member_id": customer.member_id if customer else None,
            "customer_phone": customer.phone if customer else None,
            "guide": receipt.cashier,
            "store": receipt.store,
            "address": None,
            "currency": "CNY",
            "shipping_fen": 0,
            "order_discount_fen": receipt.order_discount_fen,
            "total_fen": receipt.total_fen,
            "points_used": 0,
            "points_fen": 0,
            "exchange_of_return_id": None,
            "placed_at": receipt.sold_at,
            "created_at": now,
            "updated_at": now,
        },
        lines,
    )
    if isinstance(taken, int):
        return PlacedOrder(created=False, order=queries.get_order(session, -taken))
    order_id, rows = taken["id"], lines
    conn = session.connection()
    fid = conn.execute(
        insert(fulfilments_t).returning(fulfilments_t.c.id),
        {
            "order_id": order_id,
            "node": receipt.store,
            "kind": Kind.COUNTER.value,
            "method": "in_store",
            "state": STARTS_IN[Kind.COUNTER].value,
            "last_action": None,
            "left_at": receipt.sold_at,
            "delivered_at": receipt.sold_at,
            "created_at": now,
            "updated_at": now,
        },
    ).scalar_one()
    conn.execute(
        insert(fulfilment_lines_t),
        [
            {
                "fulfilment_id": fid,
                "line_id": r["id"],
                "sku": r["sku"],
                "quantity": r["quantity"],
                "status": "committed",
            }
            for r in rows
        ],
    )
    result = movements.ingest_movements(
        session,
        [
            MovementIn(
                sku=r["sku"],
                node=receipt.store,
                kind=MovementKind.SALE,
                quantity=r["quantity"],
                reason="POS sale",
                reference=f"order:{order_id}",
                channel=receipt.channel,
                occurred_at=receipt.sold_at,
                idempotency_key=f"pos:{receipt.channel}:{receipt.receipt_id}:{r['line_no']}",
            )
            for r in rows
        ],
        clock=clock,
    )
    trail.note(
        session,
        order_id,
        "sold_at_till",
        now,
        fulfilment_id=fid,
        to_state="completed",
        actor=receipt.cashier,
        terminal=receipt.terminal,
        details={"receipt_id": receipt.receipt_id, "store": receipt.store},
    )
    for error in result.errors:
        line = rows[error.index]
        trail.note(
            session,
            order_id,
            "stock_discrepancy",
            now,
            fulfilment_id=fid,
            terminal=receipt.terminal,
            details={
                "line_no": line["line_no"],
                "sku": line["sku"],
                "quantity": line["quantity"],
                "code": error.code,
                "message": error.message,
            },
        )
    events.record_many(
        session,
        [
            _placed_event(order_id, receipt.channel, receipt, "pos", rows, store=receipt.store),
            OrderCompleted(
                order_id=order_id,
                channel=receipt.channel,
                member_id=customer.member_id if customer else None,
                paid_fen=receipt.total_fen,
            ),
        ],
        clock=clock,
    )
    return PlacedOrder(created=True, order=queries.get_order(session, order_id))


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_sums(
    lines: Sequence[Any],
    shipping_fen: int,
    order_discount_fen: int,
    whole: Any,
    *,
    points_fen: int = 0,
) -> None:
    """Refuse amounts that do not add up; `whole.total_fen` is what is paid in money, so the
    points' value `points_fen` is added back before the check."""
    problems = validate_order_sums(
        lines, shipping_fen, order_discount_fen, whole.total_fen + points_fen
    )
    if problems:
        first = problems[0]
        raise SumsDoNotAddUp(
            f"the order's amounts do not add up: {first.field}"
            + (f" of line {first.line + 1}" if first.line is not None else "")
            + (f" should be {first.expected}" if first.expected is not None else "")
            + f", got {first.given}",
            problems=[
                {
                    "problem": p.problem.value,
                    "field": p.field,
                    "line_no": None if p.line is None else p.line + 1,
                    "expected": p.expected,
                    "given": p.given,
                }
                for p in problems
            ],
        )


def _check_references(session: Session, order_in: OrderIn) -> None:
    _require_skus(session, [ln.sku for ln in order_in.lines])
    named = {ln.pickup_node for ln in order_in.lines if ln.pickup_node}
    if order_in.store:
        named.add(order_in.store)
    _require_nodes(session, named)


def _require_skus(session: Session, skus: Sequence[str]) -> None:
    known = catalog.find_sku_ids(session, skus)
    unknown = sorted(set(skus) - set(known))
    if unknown:
        raise UnknownSkuRef(f"unknown SKU {', '.join(unknown)}", skus=unknown)


def _require_nodes(session: Session, codes: set[str]) -> None:
    if not codes:
        return
    known = inventory_nodes.find_node_ids(session, codes)
    unknown = sorted(codes - set(known))
    if unknown:
        raise UnknownNodeRef(f"unknown node {', '.join(unknown)}", nodes=unknown)


def _line_addresses(order_in: OrderIn) -> list[dict[str, Any] | None]:
    addresses: list[dict[str, Any] | None] = []
    for no, ln in enumerate(order_in.lines, start=1):
        if ln.method is Method.PICKUP:
            addresses.append(None)
            continue
        address = ln.address or order_in.address
        if address is None:
            raise InvalidOrder(
                f"line {no} is for {ln.method.value} but neither the line nor the order has an "
                "address",
                line_no=no,
            )
        addresses.append(address.model_dump())
    return addresses


_ORDER_COLUMNS = [c.name for c in orders_t.columns if c.name != "id"]
_LINE_FIELDS = {
    "line_no": "int",
    "sku": "text",
    "quantity": "int",
    "unit_price_fen": "bigint",
    "line_discount_fen": "bigint",
    "order_discount_fen": "bigint",
    "paid_fen": "bigint",
    "points_used": "bigint",
    "points_fen": "bigint",
    "method": "text",
    "pickup_node": "text",
    "address": "jsonb",
    "status": "text",
    "returned_quantity": "int",
    "refunded_fen": "bigint",
}
# On PostgreSQL the order and its lines are one statement: the lines are inserted from the
# order's RETURNING, so a replay (the order row already there) inserts no line either.
_TAKE_ORDER_WITH_LINES = text(
    f"WITH taken AS (INSERT INTO orders_orders ({', '.join(_ORDER_COLUMNS)}) VALUES ("
    + ", ".join("CAST(:address AS jsonb)" if c == "address" else f":{c}" for c in _ORDER_COLUMNS)
    + ") ON CONFLICT (channel, external_id) DO NOTHING RETURNING id), "
    f"lines AS (INSERT INTO orders_lines (order_id, {', '.join(_LINE_FIELDS)}) "
    f"SELECT taken.id, {', '.join('r.' + f for f in _LINE_FIELDS)} "
    "FROM taken, jsonb_to_recordset(CAST(:lines AS jsonb)) AS r("
    + ", ".join(f"{f} {t}" for f, t in _LINE_FIELDS.items())
    + ") RETURNING id, line_no) "
    "SELECT taken.id, lines.id AS line_id, lines.line_no FROM taken JOIN lines ON true"
)


def _insert_order(
    session: Session,
    channel: str,
    external_id: str,
    digest: str,
    values: dict[str, Any],
    lines: list[dict[str, Any]],
) -> dict[str, Any] | int:
    """Insert the order and its `lines` (which get their ids); the new order's row with its
    id, or minus the id of the order already taken under this key."""
    row = {
        "channel": channel,
        "external_id": external_id,
        "payload_hash": digest,
        "goods_fen": sum(ln["unit_price_fen"] * ln["quantity"] for ln in lines),
        "line_discount_fen": sum(ln["line_discount_fen"] for ln in lines),
        **values,
        "placed_at": values["placed_at"].astimezone(UTC),
    }
    conn = session.connection()
    new_id: int | None = None
    if conn.dialect.name == "postgresql":
        taken = fetch_plain(
            session,
            _TAKE_ORDER_WITH_LINES,
            {**row, "address": _json(row["address"]), "lines": _json(lines)},
        )
        if taken:
            new_id = int(taken[0].id)
            ids = {r.line_no: r.line_id for r in taken}
            for line in lines:
                line["id"] = ids[line["line_no"]]
    else:
        new_id = conn.execute(
            insert_unless_taken(session, orders_t, ("channel", "external_id")), row
        ).scalar()
        if new_id is not None:
            _insert_lines(session, int(new_id), lines)
    if new_id is not None:
        return {**row, "id": int(new_id)}
    taken_before = _taken_before(session, channel, external_id, digest)
    assert taken_before is not None  # the insert found it there
    return -taken_before


# Built once: every order of Yipan's own channels asks it before it is priced.
_TAKEN_BEFORE = select(Order.id, Order.payload_hash).where(
    Order.channel == bindparam("channel"), Order.external_id == bindparam("external_id")
)


def _taken_before(session: Session, channel: str, external_id: str, digest: str) -> int | None:
    """The id of the order already taken under this key, if any; refused if its contents were
    different."""
    found = session.execute(_TAKEN_BEFORE, {"channel": channel, "external_id": external_id}).first()
    if found is None:
        return None
    if found.payload_hash != digest:
        raise OrderReplayMismatch(
            f"order {external_id} from {channel} was already taken with different contents",
            channel=channel,
            external_id=external_id,
            order_id=found.id,
        )
    return int(found.id)


def _json(value: Any) -> str | None:
    return None if value is None else jsontext.dumps(value)


def _line_rows(
    lines: Sequence[Any],
    order_discount_fen: int,
    how: list[dict[str, Any]],
    *,
    status: str,
    points: checkout.PointsPaid = checkout.NO_POINTS,
) -> list[dict[str, Any]]:
    """The lines' rows with their share of the order discount and of the points paid; `how` is
    each line's method, pickup store and address."""
    subtotals = [line_subtotal(ln) for ln in lines]
    shares = allocate_discount(order_discount_fen, subtotals)
    return [
        {
            "line_no": no,
            "sku": ln.sku,
            "quantity": ln.quantity,
            "unit_price_fen": ln.unit_price_fen,
            "line_discount_fen": ln.line_discount_fen,
            "order_discount_fen": share,
            "paid_fen": subtotal - share - points.fen_of(no),
            "points_used": points.used_of(no),
            "points_fen": points.fen_of(no),
            **how[no - 1],
            "status": status,
            "returned_quantity": 0,
            "refunded_fen": 0,
        }
        for no, (ln, subtotal, share) in enumerate(zip(lines, subtotals, shares, strict=True), 1)
    ]


def _insert_lines(session: Session, order_id: int, rows: list[dict[str, Any]]) -> None:
    ids = session.connection().execute(
        insert(lines_t).returning(lines_t.c.id, sort_by_parameter_order=True),
        [{**row, "order_id": order_id} for row in rows],
    )
    for row, line_id in zip(rows, ids.scalars(), strict=True):
        row["id"] = line_id


def _placed_event(
    order_id: int,
    channel: str,
    source: OrderIn | PosReceiptIn,
    kind: str,
    rows: list[dict[str, Any]],
    *,
    store: str | None = None,
) -> OrderPlaced:
    customer = source.customer
    return OrderPlaced(
        order_id=order_id,
        channel=channel,
        external_id=source.external_id if isinstance(source, OrderIn) else source.receipt_id,
        kind=kind,
        member_id=customer.member_id if customer else None,
        store=store or (source.store if isinstance(source, OrderIn) else None),
        guide=source.guide if isinstance(source, OrderIn) else source.cashier,
        total_fen=source.total_fen,
        lines=[
            {
                "line_no": r["line_no"],
                "sku": r["sku"],
                "quantity": r["quantity"],
                "paid_fen": r["paid_fen"],
                "method": r["method"],
            }
            for r in rows
        ],
    )
