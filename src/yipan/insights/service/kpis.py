"""The HQ dashboard's KPIs: sales by channel and day, omnichannel and pickup shares, repurchase
and member shares, stock-outs, days of cover, each node's stock health, and the alerts to act on.

Insights is the analytics reader: it only reads, and it reads the orders and inventory tables
directly (members as the orders name them) with set-based SQL aggregates — one statement per
figure group, grouped in the database, never a loop over orders — because no context's service
sums across the whole chain.
The alerts come through the owners' services (`inventory.service.alerts`,
`orders.service.price_consistency`). Every statement runs on SQLite and PostgreSQL alike. The
other KPIs, and all of them by day, channel, region and store, are DuckDB's
(`insights.service.analytics`).

A data scope narrows everything the same way the orders pages do (`OrderQuery.visible_at`): HQ
sees the chain; a region (a province) sees the orders sold at, or fulfilled from, its nodes and
the stock of its nodes; a store sees its own. docs/kpis.md defines each figure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.orm import Session, aliased

from yipan.auth.domain import Scope
from yipan.catalog.schemas import SkuPriceConsistency
from yipan.insights.domain.kpis import (
    DELIVERY_METHODS,
    SOLD_LINE_STATUSES,
    STORE_TYPES,
    Breakdown,
    HealthBand,
    KpiRow,
    Share,
    days_of_cover,
    health_band,
)
from yipan.insights.domain.periods import (
    COVER_DAYS,
    Period,
    PeriodName,
    Slots,
    period_ending,
    slots_for,
)
from yipan.insights.service import analytics
from yipan.inventory.models import Alert, Node, StockLevel
from yipan.inventory.schemas import AlertOut
from yipan.inventory.service import alerts as inventory_alerts
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.orders.models import Fulfilment, Order, OrderLine, Return
from yipan.orders.service import price_consistency
from yipan.orders.service.queries import OrderQuery

TOP_ALERTS = 5
OPEN_ALERT = "open"
_ENDED_FULFILMENT = ("cancelled", "expired")


def current_period(name: PeriodName, *, clock: Clock | None = None) -> Period:
    """The `name` period ending with today's business day in the tenant's time zone."""
    zone = ZoneInfo(get_settings().timezone)
    return period_ending(name, (clock or SystemClock()).now(), zone)


# --- the scope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePlace:
    code: str
    name: str
    type: str
    province: str
    city: str
    latitude: float
    longitude: float
    active: bool


@dataclass(frozen=True)
class _Scoped:
    """The nodes a scope sees; `codes` is None for the whole chain (no filter at all)."""

    nodes: tuple[NodePlace, ...]
    ids: dict[str, int]
    codes: tuple[str, ...] | None


def _scoped(session: Session, scope: Scope) -> _Scoped:
    rows = session.execute(
        select(
            Node.id,
            Node.code,
            Node.name,
            Node.type,
            Node.province,
            Node.city,
            Node.latitude,
            Node.longitude,
            Node.active,
        ).order_by(Node.code)
    ).all()
    if scope.kind == "region":
        rows = [r for r in rows if r.province == scope.value]
    elif scope.kind == "store":
        rows = [r for r in rows if r.code == scope.value]
    places = tuple(
        NodePlace(
            r.code, r.name, r.type, r.province, r.city, r.latitude, r.longitude, bool(r.active)
        )
        for r in rows
    )
    codes = None if scope.kind == "all" else tuple(p.code for p in places)
    if scope.kind == "store" and scope.value and not codes:
        codes = (scope.value,)  # a store not (yet) a node still sees its own till's orders
    return _Scoped(places, {r.code: r.id for r in rows}, codes)


def _orders_in(start: datetime, end: datetime, scoped: _Scoped) -> list[ColumnElement[bool]]:
    """Orders placed in [start, end) that the scope sees, cancelled orders left out."""
    query = OrderQuery(placed_from=start, placed_before=end, visible_at=scoped.codes)
    return [*query.conditions(), Order.state != "cancelled"]


# --- sales ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSales:
    channel: str
    daily_fen: tuple[int, ...]  # one figure per day of the period, oldest first

    @property
    def total_fen(self) -> int:
        return sum(self.daily_fen)


@dataclass(frozen=True)
class Sales:
    """Net sales (paid for goods less refunds) by channel and business day of placement."""

    days: tuple[date, ...]
    channels: tuple[ChannelSales, ...]  # biggest first
    net_fen: int
    member_fen: int
    units: int

    @property
    def member_share(self) -> Share:
        return Share(max(0, min(self.member_fen, self.net_fen)), max(0, self.net_fen))


def _slot(session: Session, column: ColumnElement[datetime], slots: Slots) -> ColumnElement[int]:
    """(Seconds since the epoch + offset) // width, the same integer on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        seconds = cast(func.floor(func.extract("epoch", column)), BigInteger)
    else:
        seconds = cast(func.strftime("%s", column), Integer)
    return (seconds + slots.offset) // slots.width


def sales(session: Session, period: Period, scope: Scope) -> Sales:
    return _sales(session, period, _scoped(session, scope))[0]


def cover_period(period: Period) -> Period:
    """The COVER_DAYS business days ending with `period`'s last: days of cover divide by their
    average daily sales, whatever period the dashboard shows."""
    last_moment = period.end - timedelta(microseconds=1)
    return period_ending(period.name, last_moment, ZoneInfo(period.zone), COVER_DAYS)


def _sales(session: Session, period: Period, scoped: _Scoped) -> tuple[Sales, int]:
    """The period's sales, and the units sold over its cover period, in one statement: the
    slots of the longer of the two are read once and folded into the days of each."""
    cover = cover_period(period)
    window = cover if cover.start <= period.start else period
    slots = slots_for(window)
    slot = _slot(session, Order.__table__.c.placed_at, slots).label("slot")
    net = OrderLine.paid_fen - OrderLine.refunded_fen
    rows = session.execute(
        select(
            slot,
            Order.channel,
            func.sum(net),
            func.sum(case((Order.member_id.is_not(None), net), else_=0)),
            func.sum(OrderLine.quantity - OrderLine.returned_quantity),
        )
        .join_from(OrderLine, Order, Order.id == OrderLine.order_id)
        .where(
            *_orders_in(window.start, window.end, scoped),
            OrderLine.status.in_(SOLD_LINE_STATUSES),
        )
        .group_by(slot, Order.channel)
    ).all()
    index = {day: i for i, day in enumerate(period.days)}
    covered = set(cover.days)
    daily: dict[str, list[int]] = defaultdict(lambda: [0] * len(period.days))
    days_of: dict[int, date] = {}  # a slot comes once per channel
    member = units = cover_units = 0
    for slot_no, channel, fen, member_fen, sold in rows:
        day = days_of.get(slot_no) or days_of.setdefault(slot_no, slots.day(int(slot_no)))
        if day in covered:
            cover_units += int(sold)
        at = index.get(day)
        if at is None:
            continue
        daily[channel][at] += int(fen)
        member += int(member_fen)
        units += int(sold)
    channels = sorted(
        (ChannelSales(code, tuple(days)) for code, days in daily.items()),
        key=lambda c: (-c.total_fen, c.channel),
    )
    sold = Sales(
        days=period.days,
        channels=tuple(channels),
        net_fen=sum(c.total_fen for c in channels),
        member_fen=member,
        units=units,
    )
    return sold, cover_units


# --- orders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OmnichannelCounts:
    """Orders of the period that crossed channels, by the way they did (one order can cross in
    several ways, so these add up to at least `any`)."""

    any: int
    bopis: int
    ship_from_store: int
    return_in_store: int
    guide: int


@dataclass(frozen=True)
class OrderKpis:
    orders: int  # placed in the period, not cancelled
    omnichannel: OmnichannelCounts
    omnichannel_share: Share  # of `orders`
    pickup_share: Share  # orders with a pickup line, of the orders not sold at the till
    repurchase: Share  # members with two orders or more, of the members who ordered


def order_kpis(session: Session, period: Period, scope: Scope) -> OrderKpis:
    return _order_kpis(session, period, _scoped(session, scope))


def _order_kpis(session: Session, period: Period, scoped: _Scoped) -> OrderKpis:
    where = _orders_in(period.start, period.end, scoped)
    row = session.execute(_crossings(where)).one()
    total, not_at_till, any_, guide, bopis, ship_from_store, return_in_store = (
        int(v or 0) for v in row
    )
    per_member = (
        select(Order.member_id, func.count().label("orders"))
        .where(*where, Order.member_id.is_not(None))
        .group_by(Order.member_id)
        .subquery()
    )
    members, repeat = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((per_member.c.orders >= 2, 1), else_=0)), 0),
        )
    ).one()
    return OrderKpis(
        orders=total,
        omnichannel=OmnichannelCounts(
            any=any_,
            bopis=bopis,
            ship_from_store=ship_from_store,
            return_in_store=return_in_store,
            guide=guide,
        ),
        omnichannel_share=Share(any_, total),
        pickup_share=Share(bopis, not_at_till),
        repurchase=Share(int(repeat), int(members)),
    )


def _crossings(where: Sequence[ColumnElement[bool]]) -> Select[*tuple[Any, ...]]:
    """One pass over the period's orders (by `placed_at`): per order, whether it crossed
    channels in each way, each asked by one indexed look-up (by order id); then the sums."""
    stores = select(Node.code).where(Node.type.in_(STORE_TYPES)).scalar_subquery()
    bopis = (
        select(OrderLine.id)
        .where(
            OrderLine.order_id == Order.id,
            OrderLine.method == "pickup",
            OrderLine.status.in_(SOLD_LINE_STATUSES),
        )
        .exists()
    )
    # Its own name: a scope's condition asks about the order's fulfilments too.
    sent = aliased(Fulfilment)
    from_store = (
        select(sent.id)
        .where(
            sent.order_id == Order.id,
            sent.node.in_(stores),
            sent.method.in_(DELIVERY_METHODS),
            sent.state.not_in(_ENDED_FULFILMENT),
        )
        .exists()
    )
    back_in_store = (
        select(Return.id).where(Return.order_id == Order.id, Return.node.in_(stores)).exists()
    )
    at_till = Order.kind == "pos"

    def unless_at_till(asked: ColumnElement[bool]) -> ColumnElement[int]:
        # A till sale is handed over at the counter: it never crossed to another channel.
        return case((at_till, 0), (asked, 1), else_=0)

    ways = (
        select(
            case((at_till, 0), else_=1).label("not_at_till"),
            case((Order.kind == "guide", 1), else_=0).label("guide"),
            unless_at_till(bopis).label("bopis"),
            unless_at_till(from_store).label("ship_from_store"),
            unless_at_till(back_in_store).label("return_in_store"),
        )
        .where(*where)
        .subquery()
    )
    crossed = ways.c.guide + ways.c.bopis + ways.c.ship_from_store + ways.c.return_in_store
    return select(
        func.count(),
        func.sum(ways.c.not_at_till),
        func.sum(case((crossed > 0, 1), else_=0)),
        func.sum(ways.c.guide),
        func.sum(ways.c.bopis),
        func.sum(ways.c.ship_from_store),
        func.sum(ways.c.return_in_store),
    )


# --- stock ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeHealth:
    """One node's stock: how many SKUs it carries, how many are out (ATP 0) or short (out, or
    under the alert threshold), and where it is."""

    place: NodePlace
    carried: int
    out: int
    short: int

    @property
    def short_share(self) -> Share:
        return Share(self.short, self.carried)

    @property
    def band(self) -> HealthBand:
        return health_band(self.short, self.carried)


@dataclass(frozen=True)
class StockKpis:
    stock_out: Share  # store SKU × node levels with ATP 0, of the levels stores carry
    on_hand: int  # at the active nodes in scope
    units_sold: int  # over the last COVER_DAYS business days
    cover_days: int
    nodes: tuple[NodeHealth, ...]  # every active node in scope

    @property
    def days_of_cover(self) -> float | None:
        return days_of_cover(self.on_hand, self.units_sold, self.cover_days)


def stock_kpis(session: Session, period: Period, scope: Scope) -> StockKpis:
    scoped = _scoped(session, scope)
    return _stock_kpis(session, scoped, _sales(session, period, scoped)[1])


def _stock_kpis(session: Session, scoped: _Scoped, units_sold: int) -> StockKpis:
    """Three statements, each one pass that SQLite does without sorting the ~150k levels of
    the demo (grouping them all by node would sort them, several times slower): the levels per
    node from the node index alone, the short levels per node (few, so grouping them is cheap),
    and the units on hand in scope."""
    active = [p for p in scoped.nodes if p.active]
    ids = sorted(scoped.ids[p.code] for p in active)
    restricted = scoped.codes is not None or len(active) < len(scoped.nodes)
    # `+ 0` hides the node index: for many nodes one pass over the table beats a random read
    # per level through the index; for one store the index is the quicker way.
    node = StockLevel.node_id if len(ids) <= 1 else StockLevel.node_id + 0
    in_scope = [node.in_(ids)] if restricted else []
    carried = {
        int(node_id): int(count)
        for node_id, count in session.execute(
            select(StockLevel.node_id, func.count())
            .where(*([StockLevel.node_id.in_(ids)] if restricted else []))
            .group_by(StockLevel.node_id)
        )
    }
    atp = StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock
    threshold = case(
        (StockLevel.reorder_point > 0, StockLevel.reorder_point),
        (StockLevel.safety_stock > 0, StockLevel.safety_stock),
        else_=1,  # no policy: short only when out
    )
    node_key = node.label("node_key")
    short = {
        int(node_id): (int(count), int(out or 0))
        for node_id, count, out in session.execute(
            select(node_key, func.count(), func.sum(case((atp <= 0, 1), else_=0)))
            .where(atp < threshold, *in_scope)
            .group_by(node_key)
        )
    }
    on_hand = session.scalar(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0)).where(*in_scope)
    )
    nodes = []
    for place in active:
        nid = scoped.ids[place.code]
        count, out = short.get(nid, (0, 0))
        nodes.append(NodeHealth(place, carried.get(nid, 0), out, count))
    stores = [n for n in nodes if n.place.type in STORE_TYPES]
    return StockKpis(
        stock_out=Share(sum(n.out for n in stores), sum(n.carried for n in stores)),
        on_hand=int(on_hand or 0),
        units_sold=units_sold,
        cover_days=COVER_DAYS,
        nodes=tuple(nodes),
    )


# --- alerts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alerts:
    """Open low-stock alerts (with the nearby nodes that could send stock) and the SKUs sold at
    a price no rule explains; the price report is chain-wide, so only HQ gets it (None else)."""

    low_stock_open: int
    low_stock: tuple[AlertOut, ...]
    price_unexplained: int | None
    prices: tuple[SkuPriceConsistency, ...]


def alerts(session: Session, period: Period, scope: Scope) -> Alerts:
    return _alerts(session, period, _scoped(session, scope), scope)


def _alerts(session: Session, period: Period, scoped: _Scoped, scope: Scope) -> Alerts:
    where = [Alert.status == OPEN_ALERT]
    if scoped.codes is not None:
        where.append(Alert.node_id.in_(sorted(scoped.ids.values())))
    count = session.scalar(select(func.count()).select_from(Alert).where(*where)) or 0
    newest = session.scalars(
        select(Alert.id)
        .where(*where)
        .order_by(Alert.raised_at.desc(), Alert.id.desc())
        .limit(TOP_ALERTS)
    ).all()
    low_stock = tuple(inventory_alerts.get_alert(session, alert_id) for alert_id in newest)
    if scope.kind != "all":
        return Alerts(int(count), low_stock, None, ())
    report = price_consistency.price_consistency_report(
        session, since=period.start, until=period.end, only_unexplained=True, limit=TOP_ALERTS
    )
    return Alerts(int(count), low_stock, report.total, tuple(report.items))


# --- the dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    period: Period
    scope: Scope
    any_orders: bool  # whether the scope has any order at all, in any period
    sales: Sales
    orders: OrderKpis
    stock: StockKpis
    alerts: Alerts
    table: analytics.KpiTable | None = None  # every KPI by a key (DuckDB); None without it


def _any_orders(session: Session, scoped: _Scoped) -> bool:
    """Whether the scope has any order at all: sold at one of its nodes or fulfilled there, each
    asked of its own index (one scan of every order with both questions would be slow exactly
    when the answer is no)."""
    if scoped.codes is None:
        return session.scalar(select(Order.id).limit(1)) is not None
    codes = list(scoped.codes)
    sold = session.scalar(select(Order.id).where(Order.store.in_(codes)).limit(1))
    sent = sold or session.scalar(select(Fulfilment.id).where(Fulfilment.node.in_(codes)).limit(1))
    return sent is not None


def dashboard(
    session: Session, period: Period, scope: Scope, by: Breakdown | None = None
) -> Dashboard:
    """Every figure of the HQ dashboard for `period`, as `scope` sees it, with the KPI table
    (DuckDB) broken down `by` a key. The order figures are the table's (one pass over a
    snapshot, where the SQL look-ups per order take seconds on PostgreSQL); without DuckDB
    (SQLite in memory) they come from SQL and the table is None."""
    scoped = _scoped(session, scope)
    any_orders = _any_orders(session, scoped)
    sold, cover_units = _sales(session, period, scoped)
    try:
        table: analytics.KpiTable | None = analytics.kpi_table(session, period, scope, by)
    except analytics.AnalyticsUnavailable:
        table = None
    return Dashboard(
        period=period,
        scope=scope,
        any_orders=any_orders,
        sales=sold,
        orders=_order_kpis(session, period, scoped) if table is None else _orders_of(table.total),
        stock=_stock_kpis(session, scoped, cover_units),
        alerts=_alerts(session, period, scoped, scope),
        table=table,
    )


def _orders_of(row: KpiRow) -> OrderKpis:
    """The dashboard's order figures from the KPI table's row (the same definitions)."""
    crossed = OmnichannelCounts(
        any=row.omnichannel.part,
        bopis=row.pickup.part,
        ship_from_store=row.ship_from_store,
        return_in_store=row.return_in_store,
        guide=row.guide,
    )
    return OrderKpis(
        orders=row.orders,
        omnichannel=crossed,
        omnichannel_share=row.omnichannel,
        pickup_share=row.pickup,
        repurchase=row.repurchase,
    )
