"""HTTP routes for orders: capture, POS receipts, fulfilment steps, cancellation, returns."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from yipan import data_scope as scoped
from yipan.auth.api import require
from yipan.auth.domain import Principal
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, BeforeId, EngineDep, IdPath
from yipan.orders.domain.fulfilment import Action, State
from yipan.orders.errors import WrongPickupCode
from yipan.orders.schemas import (
    ActionIn,
    CancelIn,
    ExchangeIn,
    ExchangeOut,
    FulfilmentOut,
    OrderEventOut,
    OrderIn,
    OrderOut,
    OrderSummary,
    PlacedOrder,
    PosReceiptIn,
    RejectIn,
    ReturnIn,
    ReturnOut,
    RoutingDecisionOut,
    TransitionOut,
)
from yipan.orders.service import capture, lifecycle, queries, returns

router = APIRouter(prefix="/api/v1", tags=["orders"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]
OrderState = Annotated[str | None, Query(pattern="^(open|completed|cancelled)$")]
CODE = Annotated[str | None, Query(min_length=1, max_length=64)]
# Callers whose role may read or write orders; what they see is narrowed to their data scope.
Reader = Annotated[Principal, Depends(require("orders.read"))]
Writer = Annotated[Principal, Depends(require("orders.write"))]


def _replayed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "A replay: what was taken the first time"}}


def _created(response: Response, created: bool) -> None:
    response.status_code = 201 if created else 200


def _placed(placed: PlacedOrder) -> Response:
    """The answer to a capture, written straight to JSON: the model was built and checked by the
    service, and FastAPI checking it again costs more than the rest of the answer."""
    return Response(
        placed.model_dump_json(),
        status_code=201 if placed.created else 200,
        media_type="application/json",
    )


@router.post(
    "/orders", status_code=201, response_model=PlacedOrder, responses=_replayed(PlacedOrder)
)
def place_order(order_in: OrderIn, engine: EngineDep, who: Writer) -> Response:
    """Take an order from a channel: route each line to a node and hold the stock.

    Sending the same `channel` + `external_id` again returns the order already taken (200);
    different contents under that key are refused (409). A store's or region's key or staff
    may only take orders for their own stores (`store`).
    """
    with unit_of_work(engine) as session:
        scoped.check_node(session, who.scope, order_in.store, "an order")
        placed = capture.place_order(session, order_in)
    return _placed(placed)


@router.post(
    "/pos/receipts",
    status_code=201,
    response_model=PlacedOrder,
    responses=_replayed(PlacedOrder),
)
def record_pos_receipt(receipt: PosReceiptIn, engine: EngineDep, who: Writer) -> Response:
    """A till sale, captured as a completed order; uploading a receipt twice is harmless."""
    with unit_of_work(engine) as session:
        scoped.check_node(session, who.scope, receipt.store, "a till sale")
        placed = capture.record_pos_receipt(session, receipt)
    return _placed(placed)


@router.get("/orders")
def list_orders(
    engine: EngineDep,
    who: Reader,
    channel: CODE = None,
    state: OrderState = None,
    store: CODE = None,
    member_id: CODE = None,
    before_id: BeforeId = None,
    limit: Limit = 50,
) -> list[OrderSummary]:
    """Newest first. Page on with `before_id` set to the last id of the previous page. A store's
    or region's staff see the orders sold or fulfilled at their nodes."""
    with unit_of_work(engine, readonly=True) as session:
        query = queries.OrderQuery(
            channel=channel,
            state=state,
            store=store,
            member_id=member_id,
            visible_at=scoped.visible_nodes(session, who.scope),
        )
        return queries.list_orders(session, query, before_id=before_id, limit=limit)


@router.get("/orders/{order_id}")
def get_order(order_id: IdPath, engine: EngineDep, who: Reader) -> OrderOut:
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_order(session, who.scope, order_id)
        return queries.get_order(session, order_id)


@router.get("/orders/{order_id}/events")
def order_events(order_id: IdPath, engine: EngineDep, who: Reader) -> list[OrderEventOut]:
    """The audit trail: every step, who took it and from which terminal."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_order(session, who.scope, order_id)
        return queries.order_events(session, order_id)


@router.get("/orders/{order_id}/routing")
def routing_decisions(order_id: IdPath, engine: EngineDep, who: Reader) -> list[RoutingDecisionOut]:
    """Why the order went where it went: candidates, their scores, and the winner's reason."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_order(session, who.scope, order_id)
        return queries.routing_decisions(session, order_id)


@router.post("/orders/{order_id}/cancel")
def cancel_order(order_id: IdPath, cancel: CancelIn, engine: EngineDep, who: Writer) -> OrderOut:
    """Cancel the whole order before anything has left; holds go back to stock."""
    with unit_of_work(engine) as session:
        scoped.check_order(session, who.scope, order_id)
        return lifecycle.cancel_order(session, order_id, cancel)


@router.post("/orders/{order_id}/lines/{line_no}/cancel")
def cancel_line(
    order_id: IdPath,
    line_no: Annotated[int, IdPath],
    cancel: CancelIn,
    engine: EngineDep,
    who: Writer,
) -> OrderOut:
    with unit_of_work(engine) as session:
        scoped.check_order(session, who.scope, order_id)
        return lifecycle.cancel_line(session, order_id, line_no, cancel)


@router.get("/fulfilments")
def list_fulfilments(
    engine: EngineDep,
    who: Reader,
    node: CODE = None,
    state: State | None = None,
    before_id: BeforeId = None,
    limit: Limit = 50,
) -> list[FulfilmentOut]:
    """A node's work queue, e.g. `?node=ST-1&state=ready_for_pickup` for pickups waiting. A
    store's staff see their store's queue whatever `node` they ask for; a region manager names
    one of the region's nodes."""
    if who.scope.kind == "store":
        node = who.scope.value
    with unit_of_work(engine, readonly=True) as session:
        if who.scope.kind == "region" and not scoped.covers_node(session, who.scope, node):
            return []
        return queries.list_fulfilments(
            session,
            node=node,
            state=state.value if state else None,
            before_id=before_id,
            limit=limit,
        )


@router.get("/fulfilments/{fulfilment_id}")
def get_fulfilment(fulfilment_id: IdPath, engine: EngineDep, who: Reader) -> FulfilmentOut:
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_fulfilment(session, who.scope, fulfilment_id)
        return queries.get_fulfilment(session, fulfilment_id)


@router.post("/fulfilments/{fulfilment_id}/reject")
def reject_fulfilment(
    fulfilment_id: IdPath, reject: RejectIn, engine: EngineDep, who: Writer
) -> OrderOut:
    """The node cannot fulfil (damaged, not found): its lines are routed to another node."""
    with unit_of_work(engine) as session:
        scoped.check_fulfilment(session, who.scope, fulfilment_id)
        return lifecycle.reject_fulfilment(session, fulfilment_id, reject)


@router.post("/fulfilments/{fulfilment_id}/{action}")
def advance_fulfilment(
    fulfilment_id: IdPath, action: Action, act: ActionIn, engine: EngineDep, who: Writer
) -> TransitionOut:
    """One step: start_picking, pack, ship, deliver, fail_delivery, mark_ready, hand_over
    (with the customer's `code`), cancel. Illegal steps are refused with the allowed ones."""
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_fulfilment(session, who.scope, fulfilment_id)
    try:
        with unit_of_work(engine) as session:
            return lifecycle.advance(session, fulfilment_id, action, act)
    except WrongPickupCode:
        with unit_of_work(engine) as session:
            lifecycle.record_wrong_code(session, fulfilment_id, act)
        raise


@router.post("/returns", status_code=201, responses=_replayed(ReturnOut))
def take_return(
    return_in: ReturnIn, engine: EngineDep, response: Response, who: Writer
) -> ReturnOut:
    """Take goods back at any node that receives returns, whatever channel sold them; a store's
    staff take them back at their own store."""
    with unit_of_work(engine) as session:
        scoped.check_node(session, who.scope, return_in.node, "a return")
        ret, created = returns.take_return(session, return_in)
    _created(response, created)
    return ret


@router.get("/returns/{return_id}")
def get_return(return_id: IdPath, engine: EngineDep, who: Reader) -> ReturnOut:
    with unit_of_work(engine, readonly=True) as session:
        scoped.check_return(session, who.scope, return_id)
        return queries.get_return(session, return_id)


@router.post("/exchanges", status_code=201, responses=_replayed(ExchangeOut))
def exchange(
    exchange_in: ExchangeIn, engine: EngineDep, response: Response, who: Writer
) -> ExchangeOut:
    """Return goods and place the replacement order in one step."""
    with unit_of_work(engine) as session:
        scoped.check_node(session, who.scope, exchange_in.return_.node, "an exchange")
        out, created = returns.exchange(session, exchange_in)
    _created(response, created)
    return out
