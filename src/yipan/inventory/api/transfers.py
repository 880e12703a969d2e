"""HTTP routes for transfers between nodes, and what is in transit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy.orm import Session

from yipan.auth.api import allowed, require
from yipan.auth.domain import Principal
from yipan.inventory.domain import TransferStatus
from yipan.inventory.schemas import (
    InTransitOut,
    ReceiveIn,
    TransferCancelIn,
    TransferIn,
    TransferOut,
)
from yipan.inventory.service import nodes, transfers
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, Offset

router = APIRouter(prefix="/api/v1", tags=["transfers"], responses=ERROR_RESPONSES)

# Whoever may move stock; a store's staff only for their store's end of the move: the source
# ships (and cancels), the destination receives (and closes).
Mover = Annotated[Principal, Depends(require("inventory.transfer"))]


def _at_source(session: Session, who: Principal, code: str, doing: str) -> None:
    nodes.check_in_scope(session, who.scope, transfers.get_transfer(session, code).source, doing)


def _at_destination(session: Session, who: Principal, code: str, doing: str) -> None:
    transfer = transfers.get_transfer(session, code)
    nodes.check_in_scope(session, who.scope, transfer.destination, doing)


@router.post("/transfers", status_code=201)
def request_transfer(transfer_in: TransferIn, engine: EngineDep, who: Mover) -> TransferOut:
    """Ask for goods to move between two nodes; they are held at the source at once.

    Sending the same `code` and lines again returns the first transfer. A store's staff ask for
    moves into or out of their store.
    """
    with unit_of_work(engine) as session:
        covered = nodes.codes_in_scope(session, who.scope)
        if covered is not None and transfer_in.source not in covered:
            nodes.check_in_scope(session, who.scope, transfer_in.destination, "a transfer")
        return transfers.request_transfer(session, transfer_in)


@router.get("/transfers", dependencies=allowed("inventory.read"))
def list_transfers(
    engine: EngineDep,
    status: TransferStatus | None = None,
    node: Annotated[str | None, Query(description="from or to this node")] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TransferOut]:
    with unit_of_work(engine, readonly=True) as session:
        return transfers.list_transfers(
            session, status=status, node=node, offset=offset, limit=limit
        )


@router.get("/transfers/{code}", dependencies=allowed("inventory.read"))
def get_transfer(code: str, engine: EngineDep) -> TransferOut:
    with unit_of_work(engine, readonly=True) as session:
        return transfers.get_transfer(session, code)


@router.post("/transfers/{code}/ship")
def ship_transfer(code: str, engine: EngineDep, who: Mover) -> TransferOut:
    """The goods leave the source and are in transit; shipping twice is refused."""
    with unit_of_work(engine) as session:
        _at_source(session, who, code, "shipping a transfer")
        return transfers.ship_transfer(session, code)


@router.post("/transfers/{code}/receive")
def receive_transfer(
    code: str,
    engine: EngineDep,
    who: Mover,
    receive_in: Annotated[ReceiveIn | None, Body()] = None,
) -> TransferOut:
    """What arrived per SKU (received, damaged); without a body, everything shipped arrived."""
    with unit_of_work(engine) as session:
        _at_destination(session, who, code, "receiving a transfer")
        return transfers.receive_transfer(session, code, receive_in or ReceiveIn())


@router.post("/transfers/{code}/close")
def close_transfer(code: str, engine: EngineDep, who: Mover) -> TransferOut:
    with unit_of_work(engine) as session:
        _at_destination(session, who, code, "closing a transfer")
        return transfers.close_transfer(session, code)


@router.post("/transfers/{code}/cancel")
def cancel_transfer(
    code: str,
    engine: EngineDep,
    who: Mover,
    cancel_in: Annotated[TransferCancelIn | None, Body()] = None,
) -> TransferOut:
    """Call off a transfer that has not shipped; its hold at the source is released."""
    with unit_of_work(engine) as session:
        _at_source(session, who, code, "cancelling a transfer")
        return transfers.cancel_transfer(
            session, code, reason=cancel_in.reason if cancel_in else None
        )


@router.get("/stock/{sku}/{node}/in-transit", dependencies=allowed("inventory.read"))
def in_transit(sku: str, node: str, engine: EngineDep) -> InTransitOut:
    """Units of a SKU shipped to or from a node and not yet received."""
    with unit_of_work(engine, readonly=True) as session:
        return transfers.in_transit(session, sku=sku, node=node)
