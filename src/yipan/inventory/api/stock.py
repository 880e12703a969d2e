from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query

from yipan.auth.api import allowed, require
from yipan.auth.domain import Principal
from yipan.inventory.errors import InvalidNode
from yipan.inventory.schemas import (
    BatchResult,
    ChannelBufferIn,
    ChannelBufferOut,
    LedgerPage,
    MovementIn,
    NodeIn,
    NodeOut,
    RegionAtp,
    ReservationOut,
    ReserveIn,
    SkuAtp,
    StockLevelOut,
    StockPolicyIn,
)
from yipan.inventory.service import atp, ledger, movements, nodes, reservations
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, BeforeId, EngineDep, Offset

router = APIRouter(prefix="/api/v1", tags=["inventory"], responses=ERROR_RESPONSES)

Capability = Literal["ship", "pickup", "local_delivery"]
# A store's till or staff write stock at their own store only (403 OUT_OF_SCOPE elsewhere).
StockWriter = Annotated[Principal, Depends(require("inventory.write"))]


@router.get("/nodes", dependencies=allowed("inventory.read"))
def list_nodes(
    engine: EngineDep,
    type: str | None = None,
    province: str | None = None,
    city: str | None = None,
    active: bool | None = None,
) -> list[NodeOut]:
    with unit_of_work(engine, readonly=True) as session:
        return nodes.list_nodes(session, type=type, province=province, city=city, active=active)


@router.get("/nodes/{code}", dependencies=allowed("inventory.read"))
def get_node(code: str, engine: EngineDep) -> NodeOut:
    with unit_of_work(engine, readonly=True) as session:
        return nodes.get_node(session, code)


@router.put("/nodes/{code}", dependencies=allowed("inventory.write"))
def put_node(code: str, node_in: NodeIn, engine: EngineDep) -> NodeOut:
    if node_in.code != code:
        raise InvalidNode(f"body code {node_in.code} does not match path {code}", code=code)
    with unit_of_work(engine) as session:
        return nodes.save_node(session, node_in)


@router.get("/nodes/{code}/stock", dependencies=allowed("inventory.read"))
def node_stock(
    code: str,
    engine: EngineDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[StockLevelOut]:
    with unit_of_work(engine, readonly=True) as session:
        return ledger.levels_at_node(session, code, offset=offset, limit=limit)


@router.get("/stock/{sku}/{node}", dependencies=allowed("inventory.read"))
def stock_level(sku: str, node: str, engine: EngineDep) -> StockLevelOut:
    with unit_of_work(engine, readonly=True) as session:
        return ledger.stock_level(session, sku=sku, node=node)


@router.put("/stock/{sku}/{node}/policy")
def set_policy(
    sku: str, node: str, policy: StockPolicyIn, engine: EngineDep, who: StockWriter
) -> StockLevelOut:
    """Safety stock (kept off ATP) and reorder point (where low-stock alerts start)."""
    with unit_of_work(engine) as session:
        nodes.check_in_scope(session, who.scope, node, "a stock policy")
        return nodes.set_stock_policy(
            session,
            sku=sku,
            node=node,
            safety_stock=policy.safety_stock,
            reorder_point=policy.reorder_point,
        )


@router.get("/stock/{sku}/{node}/ledger", dependencies=allowed("inventory.read"))
def stock_ledger(
    sku: str,
    node: str,
    engine: EngineDep,
    before_id: BeforeId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> LedgerPage:
    with unit_of_work(engine, readonly=True) as session:
        return ledger.ledger(session, sku=sku, node=node, before_id=before_id, limit=limit)


@router.post("/movements", status_code=201)
def record_movement(movement: MovementIn, engine: EngineDep, who: StockWriter) -> BatchResult:
    """One stock movement; with an idempotency key a replay changes nothing."""
    with unit_of_work(engine) as session:
        nodes.check_in_scope(session, who.scope, movement.node, "a stock movement")
        return movements.record_movement(session, movement)


@router.post("/movements/batch")
def ingest_batch(
    batch: Annotated[list[dict[str, Any]], Body(description="MovementIn rows, at most 10,000")],
    engine: EngineDep,
    who: StockWriter,
) -> BatchResult:
    """Many movements from POS terminals or a WMS, each shaped like `MovementIn`.

    Every row needs an idempotency key. Bad rows (unknown SKU or node, bad quantity, a key reused
    with another payload) are reported one by one with their index, and the good rows are kept.
    """
    with unit_of_work(engine) as session:
        if who.scope.kind != "all":
            for node in {str(row.get("node")) for row in batch if isinstance(row, dict)}:
                nodes.check_in_scope(session, who.scope, node, "a stock movement")
        return movements.ingest_movements(session, batch)


@router.post("/reservations", status_code=201, dependencies=allowed("inventory.write"))
def reserve(reserve_in: ReserveIn, engine: EngineDep) -> list[ReservationOut]:
    """Hold stock for a reference: every line or none."""
    with unit_of_work(engine) as session:
        return reservations.reserve(session, reserve_in)


@router.get("/reservations/{reference}", dependencies=allowed("inventory.read"))
def get_reservations(reference: str, engine: EngineDep) -> list[ReservationOut]:
    with unit_of_work(engine, readonly=True) as session:
        return reservations.get_reservations(session, reference)


@router.post("/reservations/{reference}/release", dependencies=allowed("inventory.write"))
def release(reference: str, engine: EngineDep) -> list[ReservationOut]:
    with unit_of_work(engine) as session:
        return reservations.release(session, reference)


@router.post("/reservations/{reference}/commit", dependencies=allowed("inventory.write"))
def commit(reference: str, engine: EngineDep) -> list[ReservationOut]:
    with unit_of_work(engine) as session:
        return reservations.commit(session, reference)


@router.get("/atp/{sku}", dependencies=allowed("inventory.read"))
def sku_atp(
    sku: str,
    engine: EngineDep,
    channel: str | None = None,
    capability: Capability | None = None,
    in_stock_only: bool = False,
) -> SkuAtp:
    """ATP of a SKU at every active node, as `channel` sees it."""
    with unit_of_work(engine, readonly=True) as session:
        return atp.atp_for_sku(
            session, sku, channel=channel, capability=capability, in_stock_only=in_stock_only
        )


@router.get("/atp/{sku}/near", dependencies=allowed("inventory.read"))
def sku_atp_near(
    sku: str,
    engine: EngineDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    radius_km: Annotated[float, Query(gt=0, le=2000)] = 50,
    channel: str | None = None,
    capability: Capability | None = None,
    in_stock_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SkuAtp:
    """Stock in stores near a point, nearest first (the shopper's "near me", the guide's tablet)."""
    with unit_of_work(engine, readonly=True) as session:
        return atp.atp_near(
            session,
            sku,
            latitude=lat,
            longitude=lon,
            radius_km=radius_km,
            channel=channel,
            capability=capability,
            in_stock_only=in_stock_only,
            limit=limit,
        )


@router.get("/atp/{sku}/regions", dependencies=allowed("inventory.read"))
def sku_atp_regions(
    sku: str,
    engine: EngineDep,
    level: Literal["province", "city"] = "province",
    channel: str | None = None,
) -> list[RegionAtp]:
    with unit_of_work(engine, readonly=True) as session:
        return atp.atp_by_region(session, sku, level=level, channel=channel)


@router.get("/channel-buffers", dependencies=allowed("inventory.read"))
def list_buffers(engine: EngineDep, channel: str | None = None) -> list[ChannelBufferOut]:
    with unit_of_work(engine, readonly=True) as session:
        return nodes.list_channel_buffers(session, channel)


@router.put("/channel-buffers", dependencies=allowed("inventory.write"))
def set_buffer(buffer_in: ChannelBufferIn, engine: EngineDep) -> ChannelBufferOut:
    """Keep part of each node's ATP off a channel (percent of ATP, or units) by node type."""
    with unit_of_work(engine) as session:
        return nodes.set_channel_buffer(session, buffer_in)
