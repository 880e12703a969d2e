"""Write the demo data set into a database through each context's services.

The whole build is one unit of work: a database holds all of the demo or none of it, and the
`DemoDataBuilt` event recorded last is the marker that turns a second run into a no-op. Nodes go
through `save_node`, SKUs through `upsert_sku`, stock policies through `set_stock_policy`. Then
the year before the clock's now (`year`): the people of three member systems, the promotions and
coupon campaigns, and a year of orders through the history writers of orders, members and
promotions. The stock goes through inventory's level primitives in bulk (`ledger`): every sale and
return of the year is a ledger movement at its time, and the receipts `replenish` works out make
every level end at the stock plan, so `on_hand` equals the sum of its movements and the plan's
skew and low-stock cases hold.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import Session

from yipan.catalog import service as catalog
from yipan.channels import service as channels
from yipan.channels.domain import ChannelType
from yipan.channels.schemas import ChannelIn
from yipan.demo.catalogue import DemoSku, demo_catalogue
from yipan.demo.errors import DemoDataConflict, InvalidDemoScale
from yipan.demo.events import DemoDataBuilt
from yipan.demo.history import HISTORY_DAYS
from yipan.demo.ledger import record_crossings, write_stock
from yipan.demo.marketing import demo_calendar
from yipan.demo.network import CORE_PROVINCES, SITE_PLAN, demo_nodes
from yipan.demo.people import demo_people
from yipan.demo.progress import Progress, Silent
from yipan.demo.replenish import Restock, opening_only
from yipan.demo.stock import Line, Shortage, SkewCase, StockPlan, plan_stock
from yipan.demo.year import build_year
from yipan.events import service as events
from yipan.inventory.domain import NodeType
from yipan.inventory.schemas import NodeIn
from yipan.inventory.service import nodes as node_service
from yipan.kernel import migrate
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.collector import collector_paused
from yipan.kernel.db import unit_of_work

__all__ = ["DemoSummary", "Progress", "build_demo", "demo_status", "reset_database", "summarise"]


@dataclass(frozen=True)
class DemoSummary:
    """What the demo holds, and the story it tells; also the payload of `DemoDataBuilt`."""

    seed: int
    scale: float
    nodes: dict[str, int]  # by node type
    provinces: dict[str, int]
    skus: int
    products: int
    categories: int
    stock_levels: int
    units: int
    movements: int
    policies: int
    low_stock: int
    threshold_crossings: int
    skew: SkewCase
    # The year of history (zero in a build without it, or from before it existed).
    members: int = 0
    source_records: int = 0
    merge_reviews: int = 0
    orders: int = 0
    orders_by_channel: dict[str, int] = field(default_factory=dict)
    order_lines: int = 0
    returns: int = 0
    sales_fen: int = 0
    member_sales_share: float = 0.0
    points_earned: int = 0
    points_redeemed: int = 0
    points_balance: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    promotions: int = 0
    coupons_issued: int = 0
    coupons_redeemed: int = 0
    history_from: str = ""  # the first day of the year of orders (tenant's date)
    built: bool = True
    seconds: float = field(default=0.0, compare=False)

    @property
    def node_count(self) -> int:
        return sum(self.nodes.values())

    @property
    def core_share(self) -> float:
        """Share of nodes in Jiangsu, Zhejiang, Shanghai and Shandong."""
        core = sum(n for p, n in self.provinces.items() if p in CORE_PROVINCES)
        return core / self.node_count if self.node_count else 0.0

    def as_payload(self) -> dict[str, Any]:
        payload = dataclasses.asdict(self)
        payload.pop("built")
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any], *, built: bool = False) -> DemoSummary:
        data = dict(payload)
        skew = dict(data.pop("skew"))
        for key in ("out_of_stock", "low"):
            skew[key] = tuple(Shortage(**s) for s in skew[key])
        return cls(skew=SkewCase(**skew), built=built, **data)

    def api_examples(self, base_url: str = "http://127.0.0.1:8000") -> list[str]:
        s = self.skew
        near = {"lat": s.latitude, "lon": s.longitude}
        api = f"{base_url}/api/v1"
        ship = {**near, "radius_km": 400, "capability": "ship", "in_stock_only": "true"}
        urls = [
            f"{api}/atp/{s.sku}/near?{urlencode({**near, 'radius_km': 50})}",
            f"{api}/atp/{s.sku}/near?{urlencode(ship)}",
            f"{api}/atp/{s.sku}/regions?level=city",
            f"{api}/stock/{s.sku}/{s.warehouse}/ledger",
        ]
        urls += [f"{api}/stock/{s.sku}/{x.node}/ledger" for x in s.out_of_stock[:1]]
        urls += [f"{api}/nodes?province={quote('江苏省')}", f"{api}/skus?category=apparel-tee"]
        return urls


def build_demo(
    engine: Engine,
    *,
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    clock: Clock | None = None,
    history: bool = True,
) -> DemoSummary:
    """Build the demo data set (applying migrations first) unless it is already there.

    `scale` shrinks the SKU count, the number of stores, the people and the orders for tests;
    warehouses and DCs stay. Without `history` only the network, the catalogue and the stock are
    built (each level its opening receipt and, where the plan sold it down, one sale), for
    benchmarks that need no customers. A database
    that holds a finished demo build is left alone: the summary of that build comes back with
    `built=False`.
    """
    if not 0 < scale <= 1:
        raise InvalidDemoScale(f"scale must be more than 0 and at most 1, got {scale}", scale=scale)
    started = time.perf_counter()
    report = progress or Silent()
    migrate.upgrade(engine)
    with unit_of_work(engine, readonly=True) as session:
        existing = demo_status(session)
    if existing is not None:
        return existing

    now = (clock or SystemClock()).now()
    with collector_paused():
        return _build(engine, seed, scale, report, clock, history, now, started)


def _build(
    engine: Engine,
    seed: int,
    scale: float,
    report: Progress,
    clock: Clock | None,
    history: bool,
    now: datetime,
    started: float,
) -> DemoSummary:
    report.phase("planning", 4)
    nodes = demo_nodes(seed, scale=scale)
    report.advance()
    skus = demo_catalogue(seed, scale=scale)
    report.advance()
    plan = plan_stock(seed, nodes, skus, scale=scale)
    report.advance()
    stores = [n for n in nodes if n.type in (NodeType.STORE, NodeType.DISTRIBUTOR_STORE)]
    people = demo_people(seed, stores, now=now, scale=scale) if history else None
    calendar = demo_calendar(now, skus)
    report.advance()

    with unit_of_work(engine) as session:
        existing = demo_status(session)  # someone may have built it while we planned
        if existing is not None:
            return existing
        _save_nodes(session, nodes, report, clock)
        _save_channels(session, clock)
        _save_catalogue(session, skus, report, clock)
        sku_ids = catalog.sku_ids(session, [s.code for s in skus])
        node_ids = node_service.node_ids(session, [n.code for n in nodes])
        _set_policies(session, plan.lines, report, clock)
        start = now - timedelta(days=HISTORY_DAYS, hours=1)
        ids = (sku_ids, node_ids)
        if people is None:
            restock = opening_only(plan.lines, start=start, now=now)
            write_stock(session, plan.lines, restock, ids, None, None, start, now, report)
            record_crossings(session, restock, clock)
            summary = summarise(seed, scale, nodes, skus, plan, restock)
        else:
            restock, figures = build_year(
                session, seed, scale, nodes, skus, plan, people, calendar, ids, now, report, clock
            )
            summary = dataclasses.replace(
                summarise(seed, scale, nodes, skus, plan, restock), **figures
            )
        summary = dataclasses.replace(summary, seconds=round(time.perf_counter() - started, 1))
        events.record(
            session,
            DemoDataBuilt(seed=seed, scale=scale, summary=summary.as_payload()),
            clock=clock,
        )
    return summary


# The channels the demo's orders come through: own shop and mini-program, a marketplace, the
# stores' tills and the guides' tablets.
DEMO_CHANNELS = (
    ("online-shop", "官方商城", ChannelType.ONLINE_SHOP),
    ("mini-program", "微信小程序", ChannelType.MINI_PROGRAM),
    ("tmall", "天猫旗舰店", ChannelType.MARKETPLACE),
    ("pos", "门店收银", ChannelType.POS),
    ("guide", "导购代客下单", ChannelType.GUIDE),
)


def _save_channels(session: Session, clock: Clock | None) -> None:
    for code, name, type in DEMO_CHANNELS:
        channels.save_channel(session, ChannelIn(code=code, name=name, type=type), clock=clock)


def demo_status(session: Session) -> DemoSummary | None:
    """The summary of the demo build in this database, None if there is none.

    Raises `DemoDataConflict` when demo nodes are there without the marker of a finished build.
    """
    marker = events.recent_events(session, aggregate_type=DemoDataBuilt.aggregate, limit=1)
    if marker:
        return DemoSummary.from_payload(marker[0]["payload"]["summary"], built=False)
    probe = [site.code for site in SITE_PLAN]  # the same codes for every seed and scale
    found = node_service.find_node_ids(session, probe)
    if found:
        raise DemoDataConflict(
            f"demo nodes ({', '.join(sorted(found)[:3])} …) exist without a finished demo "
            "build; run `yipan demo --reset` to start over",
            nodes=sorted(found),
        )
    return None


def summarise(
    seed: int,
    scale: float,
    nodes: Sequence[NodeIn],
    skus: Sequence[DemoSku],
    plan: StockPlan,
    restock: Restock,
) -> DemoSummary:
    lines = plan.lines
    return DemoSummary(
        seed=seed,
        scale=scale,
        nodes=dict(sorted(Counter(n.type.value for n in nodes).items())),
        provinces=dict(Counter(n.province for n in nodes).most_common()),
        skus=len(skus),
        products=len({s.sku.product_code for s in skus}),
        categories=len({s.sku.category_code for s in skus}),
        stock_levels=len(lines),
        units=sum(line.on_hand for line in lines),
        movements=restock.movement_count,
        policies=sum(1 for line in lines if line.has_policy),
        low_stock=sum(1 for line in lines if line.low),
        threshold_crossings=len(restock.crossings),
        skew=plan.skew,
    )


def _save_nodes(
    session: Session, nodes: Sequence[NodeIn], report: Progress, clock: Clock | None
) -> None:
    report.phase("nodes", len(nodes))
    for node in nodes:
        node_service.save_node(session, node, clock=clock)
        report.advance()


def _save_catalogue(
    session: Session, skus: Sequence[DemoSku], report: Progress, clock: Clock | None
) -> None:
    report.phase("catalogue", len(skus))
    for sku in skus:
        catalog.upsert_sku(session, sku.sku, clock=clock)
        report.advance()


def _set_policies(
    session: Session, lines: Sequence[Line], report: Progress, clock: Clock | None
) -> None:
    """Safety stock and reorder points first, so the sales later cross them as they would live."""
    with_policy = [line for line in lines if line.has_policy]
    report.phase("stock policies", len(with_policy))
    for line in with_policy:
        node_service.set_stock_policy(
            session,
            sku=line.sku,
            node=line.node,
            safety_stock=line.safety_stock,
            reorder_point=line.reorder_point,
            clock=clock,
        )
        report.advance()


def reset_database(engine: Engine) -> None:
    """Drop every table in the database, whoever made it, and migrate the empty schema to head.

    Code → id caches are kept per engine: build with a new engine afterwards.
    """
    existing = MetaData()
    existing.reflect(bind=engine)
    existing.drop_all(bind=engine)
    migrate.upgrade(engine)
