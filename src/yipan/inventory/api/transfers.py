"""HTTP routes for transfers between nodes, and what is in transit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from yipan.inventory.domain import TransferStatus
from yipan.inventory.schemas import (
    InTransitOut,
    ReceiveIn,
    TransferCancelIn,
    TransferIn,
    TransferOut,
)
from yipan.inventory.service import transfers
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, Offset

router = APIRouter(prefix="/api/v1", tags=["transfers"], responses=ERROR_RESPONSES)


@router.post("/transfers", status_code=201)
def request_transfer(transfer_in: TransferIn, engine: EngineDep) -> TransferOut:
    """Ask for goods to move between two nodes; they are held at the source at once.

    Sending the same `code` and lines again returns the first transfer.
    """
    with unit_of_work(engine) as session:
        return transfers.request_transfer(session, transfer_in)


@router.get("/transfers")
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


@router.get("/transfers/{code}")
def get_transfer(code: str, engine: EngineDep) -> TransferOut:
    with unit_of_work(engine, readonly=True) as session:
        return transfers.get_transfer(session, code)


@router.post("/transfers/{code}/ship")
def ship_transfer(code: str, engine: EngineDep) -> TransferOut:
    """The goods leave the source and are in transit; shipping twice is refused."""
    with unit_of_work(engine) as session:
        return transfers.ship_transfer(session, code)


@router.post("/transfers/{code}/receive")
def receive_transfer(
    code: str, engine: EngineDep, receive_in: Annotated[ReceiveIn | None, Body()] = None
) -> TransferOut:
    """What arrived per SKU (received, damaged); without a body, everything shipped arrived."""
    with unit_of_work(engine) as session:
        return transfers.receive_transfer(session, code, receive_in or ReceiveIn())


@router.post("/transfers/{code}/close")
def close_transfer(code: str, engine: EngineDep) -> TransferOut:
    with unit_of_work(engine) as session:
        return transfers.close_transfer(session, code)


@router.post("/transfers/{code}/cancel")
def cancel_transfer(
    code: str, engine: EngineDep, cancel_in: Annotated[TransferCancelIn | None, Body()] = None
) -> TransferOut:
    """Call off a transfer that has not shipped; its hold at the source is released."""
    with unit_of_work(engine) as session:
        return transfers.cancel_transfer(
            session, code, reason=cancel_in.reason if cancel_in else None
        )


@router.get("/stock/{sku}/{node}/in-transit")
def in_transit(sku: str, node: str, engine: EngineDep) -> InTransitOut:
    """Units of a SKU shipped to or from a node and not yet received."""
    with unit_of_work(engine, readonly=True) as session:
        return transfers.in_transit(session, sku=sku, node=node)
