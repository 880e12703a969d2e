"""Nodes (stores, warehouses, DCs, distributor stores), their stock policy and channel buffers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.auth.errors import OutOfScope
from yipan.catalog import service as catalog
from yipan.events import service as events
from yipan.inventory.domain import BufferMode, haversine_km
from yipan.inventory.domain import ChannelBuffer as BufferRule
from yipan.inventory.errors import InvalidBuffer, UnknownNode
from yipan.inventory.events import NodeSaved, StockPolicyChanged
from yipan.inventory.models import ChannelBuffer, Node, StockLevel
from yipan.inventory.schemas import (
    ChannelBufferIn,
    ChannelBufferOut,
    NodeIn,
    NodeOut,
    StockLevelOut,
)
from yipan.inventory.service.levels import ensure_levels, level_out
from yipan.kernel.cache import ReferenceCache
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.idcache import IdCache

_node_ids = IdCache(Node.code, Node.id)


def find_node_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map the node codes that exist to their ids; unknown codes are simply absent."""
    return _node_ids.find(session, codes)


def node_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map node codes to ids; raises `UnknownNode` naming every unknown code."""
    return _node_ids.require(session, codes, UnknownNode, "node")


def node_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return dict(session.execute(select(Node.id, Node.code).where(Node.id.in_(wanted))).all())


def node_id(session: Session, code: str) -> int:
    return node_ids(session, [code])[code]


def save_node(session: Session, node_in: NodeIn, *, clock: Clock | None = None) -> NodeOut:
    """Create a node or update it in place (codes are permanent)."""
    node = session.scalar(select(Node).where(Node.code == node_in.code))
    created = node is None
    if node is None:
        node = Node(created_at=(clock or SystemClock()).now(), **node_in.model_dump())
        session.add(node)
    else:
        for field, value in node_in.model_dump().items():
            setattr(node, field, value)
    session.flush()
    events.record(session, NodeSaved(node=node.code, created=created), clock=clock)
    return NodeOut.model_validate(node)


def get_node(session: Session, code: str) -> NodeOut:
    node = session.scalar(select(Node).where(Node.code == code))
    if node is None:
        raise UnknownNode(f"no node with code {code}", code=code)
    return NodeOut.model_validate(node)


def list_nodes(
    session: Session,
    *,
    type: str | None = None,
    province: str | None = None,
    city: str | None = None,
    active: bool | None = None,
) -> list[NodeOut]:
    stmt = select(Node).order_by(Node.code)
    if type:
        stmt = stmt.where(Node.type == type)
    if province:
        stmt = stmt.where(Node.province == province)
    if city:
        stmt = stmt.where(Node.city == city)
    if active is not None:
        stmt = stmt.where(Node.active == active)
    return [NodeOut.model_validate(n) for n in session.scalars(stmt)]


def codes_in_scope(session: Session, scope: Scope) -> list[str] | None:
    """The node codes a data scope covers; None for the whole chain.

    A region is a province as the nodes name it; inactive nodes count too, so a closed store's
    past stays visible to its region.
    """
    if scope.kind == "all":
        return None
    if scope.kind == "store":
        return [scope.value] if scope.value else []
    return list(session.scalars(select(Node.code).where(Node.province == scope.value)))


def check_in_scope(session: Session, scope: Scope, node: str | None, doing: str) -> None:
    """Refuse (403 OUT_OF_SCOPE) a write at a node the scope does not cover, e.g. a movement
    at another store sent with one store's till key."""
    covered = codes_in_scope(session, scope)
    if covered is not None and (node is None or node not in covered):
        where = f"node {node}" if node else "no store"
        raise OutOfScope(
            f"{doing} at {where} is outside your scope ({scope.kind} {scope.value})",
            node=node,
            scope=scope.kind,
        )


def set_stock_policy(
    session: Session,
    *,
    sku: str,
    node: str,
    safety_stock: int,
    reorder_point: int,
    clock: Clock | None = None,
) -> StockLevelOut:
    """Set the safety stock and reorder point of a SKU at a node (creating an empty level)."""
    sku_id = catalog.sku_id(session, sku)
    nid = node_id(session, node)
    now = (clock or SystemClock()).now()
    ensure_levels(session, [(sku_id, nid)], now)
    level = session.execute(
        select(StockLevel)
        .where(StockLevel.sku_id == sku_id, StockLevel.node_id == nid)
        .with_for_update()
    ).scalar_one()
    level.safety_stock = safety_stock
    level.reorder_point = reorder_point
    level.updated_at = now
    session.flush()
    events.record(
        session,
        StockPolicyChanged(
            sku=sku, node=node, safety_stock=safety_stock, reorder_point=reorder_point
        ),
        clock=clock,
    )
    return level_out(sku, node, level)


def set_channel_buffer(session: Session, buffer_in: ChannelBufferIn) -> ChannelBufferOut:
    try:
        BufferRule(BufferMode(buffer_in.mode), buffer_in.value)
    except ValueError as exc:
        raise InvalidBuffer(str(exc), mode=buffer_in.mode, value=buffer_in.value) from None
    row = session.scalar(
        select(ChannelBuffer).where(
            ChannelBuffer.channel == buffer_in.channel,
            ChannelBuffer.node_type == buffer_in.node_type,
        )
    )
    if row is None:
        row = ChannelBuffer(**buffer_in.model_dump())
        session.add(row)
    else:
        row.mode = buffer_in.mode
        row.value = buffer_in.value
    session.flush()
    _buffers.forget(session)
    return ChannelBufferOut(**buffer_in.model_dump())


def list_channel_buffers(session: Session, channel: str | None = None) -> list[ChannelBufferOut]:
    stmt = select(ChannelBuffer).order_by(ChannelBuffer.channel, ChannelBuffer.node_type)
    if channel:
        stmt = stmt.where(ChannelBuffer.channel == channel)
    return [
        ChannelBufferOut(channel=b.channel, node_type=b.node_type, mode=b.mode, value=b.value)
        for b in session.scalars(stmt)
    ]


# An order asks for its channel's buffers when it reads ATP and again for every hold it places.
_buffers: ReferenceCache[dict[str, BufferRule]] = ReferenceCache()


def buffer_rules(session: Session, channel: str | None) -> dict[str, BufferRule]:
    """node type → the buffer a channel must keep off its ATP (empty for no channel)."""
    if not channel:
        return {}

    def load() -> dict[str, BufferRule]:
        rows = session.execute(
            select(ChannelBuffer.node_type, ChannelBuffer.mode, ChannelBuffer.value).where(
                ChannelBuffer.channel == channel
            )
        )
        return {t: BufferRule(BufferMode(m), v) for t, m, v in rows}

    return _buffers.get(session, channel, load)


def local_delivery_covers(session: Session, latitude: float, longitude: float) -> bool:
    """Whether any active node delivers same-city to this point (whatever its stock)."""
    rows = session.execute(
        select(Node.latitude, Node.longitude, Node.local_delivery_radius_km).where(
            Node.active.is_(True), Node.can_local_delivery.is_(True)
        )
    )
    return any(haversine_km(latitude, longitude, lat, lon) <= radius for lat, lon, radius in rows)
