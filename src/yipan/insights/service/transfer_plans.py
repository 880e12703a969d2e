"""Transfer plans: which stock to move between nodes, for every SKU, computed on demand.

Reading is set-at-a-time: a handful of statements for the whole chain (nodes, stock levels, the
units sold per SKU × node over the demand window, what is already on its way in open transfers,
SKU codes), whatever the number of SKUs — never a query per SKU. The surplus and deficit of every
level are then worked out at once over arrays (`rebalance.surplus_array` / `deficit_array`), and
only the SKUs with both a node that can give and a node that lacks go to the min-cost flow
(`rebalance.plan_sku`), each with just those nodes: the others could take no part in a move.

Demand comes from a `DemandSource`. Until forecasts exist it is `LedgerDemand`: the average daily
units sold over the last 28 days — `sale` and `reservation_commit` movements (a till sale, an
order's held goods leaving) net of `return` movements — per SKU × node. A node with no sales in
the window has a demand of 0: it is short only under its reorder point, and all it holds above
its reorder point can go elsewhere. A forecast replaces it by implementing the same protocol.

Nothing is stored: a plan is a value computed from the database as it is. Each SKU's plan has
a basis, a digest of everything that decided it (the rules, and the stock, demand and inbound of
its nodes), the same whoever asks and whatever they filter; `apply_plan` derives each
transfer's code from the basis and the move, so applying a move twice finds the transfer made
the first time, while the same move proposed again after the stock changed is a new transfer.
The plan's id digests the bases, the rules and the filters.

Scope: every plan is computed over the whole network (the best source for a store in Jiangsu
may be a warehouse in Shandong); what a caller sees is then narrowed to moves that touch their
nodes (a region's, a store's) and, with `province`, to moves that touch that province.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Executable, case, func, select
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.catalog.models import Sku
from yipan.insights.domain.kpis import STORE_TYPES
from yipan.insights.domain.rebalance import (
    FloatArray,
    IntArray,
    Move,
    Network,
    Rules,
    Shortfall,
    StockColumns,
    deficit_array,
    plan_columns,
    surplus_array,
)
from yipan.inventory.domain import MovementKind, TransferStatus
from yipan.inventory.models import Movement, Node, StockLevel, Transfer, TransferLine
from yipan.inventory.schemas import TransferIn, TransferLineIn, TransferOut
from yipan.inventory.service import transfers
from yipan.kernel.clock import Clock, SystemClock

DEMAND_DAYS = 28
SOLD = (MovementKind.SALE.value, MovementKind.RESERVATION_COMMIT.value)
RETURNED = MovementKind.RETURN.value
CODE_PREFIX = "RB-"

Pair = tuple[int, int]  # (sku id, node id)


@dataclass(frozen=True)
class DailyDemand:
    """Units a day per SKU × node as three columns (a chain has a million pairs); a pair left
    out sells nothing."""

    sku_ids: IntArray
    node_ids: IntArray
    units: FloatArray

    @classmethod
    def of(cls, per_pair: Mapping[Pair, float]) -> DailyDemand:
        pairs = list(per_pair)
        return cls(
            np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.int64),
            np.array([per_pair[p] for p in pairs], dtype=np.float64),
        )


class DemandSource(Protocol):
    """Where a plan's daily demand comes from: the ledger's recent sales now, a forecast later."""

    @property
    def name(self) -> str: ...

    def daily_demand(
        self, session: Session, *, sku_ids: Collection[int] | None, now: datetime
    ) -> DailyDemand: ...


@dataclass(frozen=True)
class LedgerDemand:
    """The average of the last `days` days of sales in the ledger, net of returns."""

    days: int = DEMAND_DAYS

    @property
    def name(self) -> str:
        return f"ledger_{self.days}d"

    def daily_demand(
        self, session: Session, *, sku_ids: Collection[int] | None, now: datetime
    ) -> DailyDemand:
        # The ledger is signed: a sale's quantity is negative, a return's positive.
        sold = -func.sum(Movement.quantity)
        stmt = (
            select(Movement.sku_id, Movement.node_id, sold)
            .where(
                Movement.kind.in_((*SOLD, RETURNED)),
                Movement.occurred_at >= now - timedelta(days=self.days),
                Movement.occurred_at < now,
            )
            .group_by(Movement.sku_id, Movement.node_id)
        )
        if sku_ids is not None:
            stmt = stmt.where(Movement.sku_id.in_(sku_ids))
        table = _fetch_ints(session, stmt, 3)
        selling = table[:, 2] > 0  # more returned than sold is no demand
        return DailyDemand(
            table[selling, 0], table[selling, 1], table[selling, 2] / float(self.days)
        )


@dataclass(frozen=True)
class TransferPlan:
    """The moves a plan proposes (as the caller may see them), what it leaves short, and totals
    over every SKU it planned."""

    id: str
    rules: Rules
    demand: str
    computed_at: datetime
    moves: tuple[Move, ...]
    shortfalls: tuple[Shortfall, ...]
    bases: Mapping[str, str]  # the basis of each planned SKU's plan, by SKU code
    skus_short: int  # SKUs with a deficit somewhere in the chain
    skus_planned: int  # of those, the ones with surplus somewhere too: each got a flow
    units_short: int  # deficit over every node of the planned SKUs
    units_moved: int  # over every move of the plan, seen or not

    @property
    def cost_fen(self) -> int:
        return sum(m.cost_fen for m in self.moves)


@dataclass(frozen=True)
class PlannedMove:
    """A move to turn into a transfer, as a client sends it back."""

    basis: str
    sku: str
    source: str
    destination: str
    quantity: int


@dataclass(frozen=True)
class _Node:
    id: int
    code: str
    province: str
    latitude: float
    longitude: float
    store: bool


def plan_transfers(
    session: Session,
    rules: Rules | None = None,
    *,
    skus: Sequence[str] | None = None,
    province: str | None = None,
    visible: Collection[str] | None = None,
    demand: DemandSource | None = None,
    clock: Clock | None = None,
) -> TransferPlan:
    """Plan every SKU (or `skus`) over the whole network; keep the moves and shortfalls that
    touch `visible` nodes (None: all) and, with `province`, that province's nodes."""
    rules = rules or Rules()
    demand = demand or LedgerDemand()
    now = (clock or SystemClock()).now()
    wanted = sorted(set(catalog.sku_ids(session, skus).values())) if skus is not None else None

    nodes = _active_nodes(session)
    touching = _touching(nodes, province, visible)
    network = Network((n.code, n.latitude, n.longitude) for n in nodes)
    sku_col, node_col, available, reorder = _levels(session, wanted)
    sold = demand.daily_demand(session, sku_ids=wanted, now=now)
    coming = _inbound(session, wanted)
    # Nodes by their position in the network (code order); levels of inactive nodes drop out.
    position = np.full(max([n.id for n in nodes], default=0) + 1, -1, dtype=np.intp)
    for n in nodes:
        position[n.id] = network.index[n.code]
    known = node_col < len(position)
    at = np.where(known, position[np.where(known, node_col, 0)], -1)
    active = at >= 0
    sku_col, node_col, at = sku_col[active], node_col[active], at[active]
    available, reorder = np.maximum(available[active], 0), reorder[active]
    pairs = _Pairs(sku_col, node_col)
    daily = pairs.spread(sold.sku_ids, sold.node_ids, sold.units, np.float64)
    inbound = pairs.spread(coming[:, 0], coming[:, 1], coming[:, 2], np.int64)

    surplus = surplus_array(available, reorder, daily, rules)
    deficit = deficit_array(available, reorder, daily, inbound, rules)
    # A node takes part in a flow only with at least a minimum transfer of whole packs.
    gives, lacks = surplus >= rules.min_packs * rules.pack_size, deficit > 0
    short_skus = np.unique(sku_col[lacks])
    candidates = np.intersect1d(short_skus, np.unique(sku_col[gives]))
    if touching is not None:
        near = np.isin(node_col, np.array(sorted(n.id for n in touching), dtype=np.int64))
        candidates = np.intersect1d(candidates, np.unique(sku_col[near & (gives | lacks)]))

    codes = _sku_codes(session, candidates.tolist())
    store_at = np.array([n.store for n in sorted(nodes, key=lambda n: n.code)], dtype=np.bool_)
    rows = np.nonzero(np.isin(sku_col, candidates) & (gives | lacks))[0]
    rows = rows[np.lexsort((at[rows], sku_col[rows]))]
    # What every basis shares: the rules and the nodes (where they are, what kind).
    shared = repr((rules, [(n.code, n.latitude, n.longitude, n.store) for n in nodes]))

    bases: dict[str, str] = {}
    moves: list[Move] = []
    shortfalls: list[Shortfall] = []
    units_short = units_moved = 0
    bounds = np.flatnonzero(np.diff(sku_col[rows])) + 1
    for group in np.split(rows, bounds) if len(rows) else []:
        sku = codes[int(sku_col[group[0]])]
        where = at[group]
        cols = StockColumns(
            at=where,
            available=available[group],
            reorder_point=reorder[group],
            daily_demand=daily[group],
            inbound=inbound[group],
            can_send=np.ones(len(group), dtype=np.bool_),
            can_receive=np.ones(len(group), dtype=np.bool_),
            store=store_at[where],
        )
        basis = hashlib.sha256(f"{shared}|{sku}|".encode())
        for column in (where, cols.available, cols.reorder_point, cols.daily_demand, cols.inbound):
            basis.update(np.ascontiguousarray(column).tobytes())
        bases[sku] = basis.hexdigest()[:24]
        planned = plan_columns(sku, cols, rules, network)
        units_short += planned.deficit
        units_moved += planned.moved
        moves.extend(planned.moves)
        shortfalls.extend(planned.shortfalls)

    if touching is not None:
        seen = _codes(touching)
        moves = [m for m in moves if m.source in seen or m.destination in seen]
        shortfalls = [s for s in shortfalls if s.node in seen]
    digest = hashlib.sha256(repr((rules, province, sorted(_codes(touching)))).encode())
    for sku in sorted(bases):
        digest.update(f"{sku}:{bases[sku]};".encode())
    return TransferPlan(
        id=digest.hexdigest()[:24],
        rules=rules,
        demand=demand.name,
        computed_at=now,
        moves=tuple(moves),
        shortfalls=tuple(shortfalls),
        bases=bases,
        skus_short=len(short_skus),
        skus_planned=len(candidates),
        units_short=units_short,
        units_moved=units_moved,
    )


def _codes(touching: Collection[_Node] | None) -> set[str]:
    return {n.code for n in touching} if touching is not None else set()


# --- turning moves into transfers ---------------------------------------------------------------


def transfer_code(basis: str, move: PlannedMove | Move) -> str:
    """The transfer a move becomes: the same basis and move give the same code."""
    key = f"{basis}|{move.sku}|{move.source}|{move.destination}|{move.quantity}"
    return CODE_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:20]


def apply_plan(
    session: Session,
    moves: Sequence[PlannedMove],
    *,
    requested_by: str,
    clock: Clock | None = None,
) -> list[TransferOut]:
    """Request one transfer per move, holding its goods at the source (all or none: the caller's
    unit of work rolls back on the first refusal); applying the same moves again returns the
    transfers made the first time."""
    return [
        transfers.request_transfer(
            session,
            TransferIn(
                code=transfer_code(move.basis, move),
                source=move.source,
                destination=move.destination,
                lines=[TransferLineIn(sku=move.sku, quantity=move.quantity)],
                reason=f"transfer plan (basis {move.basis})"[:200],
                requested_by=requested_by[:100],
            ),
            clock=clock,
        )
        for move in moves
    ]


# --- reading ------------------------------------------------------------------------------------


def _active_nodes(session: Session) -> list[_Node]:
    rows = session.execute(
        select(Node.id, Node.code, Node.province, Node.latitude, Node.longitude, Node.type)
        .where(Node.active.is_(True))
        .order_by(Node.code)
    ).all()
    return [
        _Node(r.id, r.code, r.province, r.latitude, r.longitude, r.type in STORE_TYPES)
        for r in rows
    ]


def _touching(
    nodes: Sequence[_Node], province: str | None, visible: Collection[str] | None
) -> list[_Node] | None:
    if province is None and visible is None:
        return None
    seen = set(visible) if visible is not None else None
    return [
        n
        for n in nodes
        if (province is None or n.province == province) and (seen is None or n.code in seen)
    ]


def _levels(
    session: Session, sku_ids: Sequence[int] | None
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Every stock level as columns: sku id, node id, ATP (before clamping at 0), reorder point."""
    stmt = select(
        StockLevel.sku_id,
        StockLevel.node_id,
        StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock,
        StockLevel.reorder_point,
    )
    if sku_ids is not None:
        stmt = stmt.where(StockLevel.sku_id.in_(sku_ids))
    table = _fetch_ints(session, stmt, 4)
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def _fetch_ints(session: Session, stmt: Executable, width: int) -> IntArray:
    """The rows of an all-integer statement as an array (rows × width).

    A chain-wide plan reads a million rows or more; they are fetched as the driver's plain
    tuples (a third of the time of result rows) straight into an array. Only integers are
    read, so no result processing is skipped.
    """
    result = session.connection().execute(stmt)
    try:
        raw = result.cursor.fetchall()
    finally:
        result.close()
    flat = np.fromiter(itertools.chain.from_iterable(raw), dtype=np.int64, count=width * len(raw))
    return flat.reshape(len(raw), width)


def _inbound(session: Session, sku_ids: Sequence[int] | None) -> IntArray:
    """Units on their way to each node: requested (held at the source) or shipped and not yet
    received. They count against the destination's deficit, so a plan applied is not proposed
    again."""
    open_units = case(
        (Transfer.status == TransferStatus.REQUESTED.value, TransferLine.quantity_requested),
        else_=TransferLine.quantity_shipped
        - TransferLine.quantity_received
        - TransferLine.quantity_damaged,
    )
    stmt = (
        select(TransferLine.sku_id, Transfer.dest_node_id, func.sum(open_units))
        .join(Transfer, Transfer.id == TransferLine.transfer_id)
        .where(Transfer.status.in_((TransferStatus.REQUESTED.value, TransferStatus.SHIPPED.value)))
        .group_by(TransferLine.sku_id, Transfer.dest_node_id)
    )
    if sku_ids is not None:
        stmt = stmt.where(TransferLine.sku_id.in_(sku_ids))
    return _fetch_ints(session, stmt, 3)


class _Pairs:
    """Finds the rows of (sku id, node id) pairs among the level rows, by one sorted key."""

    def __init__(self, sku_col: IntArray, node_col: IntArray) -> None:
        self.width = int(node_col.max()) + 1 if len(node_col) else 1
        keys = sku_col * self.width + node_col
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]

    def spread(self, sku_ids: IntArray, node_ids: IntArray, values: Any, dtype: Any) -> Any:
        """`values` laid along the level rows; 0 where a row has none."""
        out = np.zeros(len(self.keys), dtype=dtype)
        fits = (node_ids >= 0) & (node_ids < self.width)
        if not len(self.keys) or not fits.any():
            return out
        wanted = sku_ids[fits] * self.width + node_ids[fits]
        found = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        hit = self.keys[found] == wanted
        out[self.order[found[hit]]] = np.asarray(values)[fits][hit]
        return out


def _sku_codes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    wanted = set(ids)
    return {i: c for i, c in session.execute(select(Sku.id, Sku.code)) if i in wanted}
