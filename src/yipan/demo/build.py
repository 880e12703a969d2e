"""Write the demo data set into a database through the catalogue's and inventory's services.

The whole build is one unit of work: a database holds all of the demo or none of it, and the
`DemoDataBuilt` event recorded last is the marker that turns a second run into a no-op. Nodes go
through `save_node`, SKUs through `upsert_sku`, stock policies through `set_stock_policy`, and the
stock itself through the level primitives in bulk: every level starts with an opening `receipt`
in the ledger (and a `sale` where it sold down), so `on_hand` equals the sum of its movements.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
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
from yipan.demo.network import CORE_PROVINCES, SITE_PLAN, demo_nodes
from yipan.demo.stock import Line, Shortage, SkewCase, StockPlan, plan_stock
from yipan.events import service as events
from yipan.events.domain import DomainEvent
from yipan.inventory.domain import MovementKind
from yipan.inventory.schemas import NodeIn
from yipan.inventory.service import levels as lv
from yipan.inventory.service import nodes as node_service
from yipan.kernel import migrate
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.db import unit_of_work

CHUNK = 5000
OPENING_REFERENCE = "demo-opening"
SALES_REFERENCE = "demo-sales"


class Progress(Protocol):
    """Where the build reports how far it is (the CLI draws a Rich bar per phase)."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, amount: int = 1) -> None: ...


class _Silent:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


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
) -> DemoSummary:
    """Build the demo data set (applying migrations first) unless it is already there.

    `scale` shrinks the SKU count and the number of stores for tests; warehouses and DCs stay.
    A database that holds a finished demo build is left alone: the summary of that build comes
    back with `built=False`.
    """
    if not 0 < scale <= 1:
        raise InvalidDemoScale(f"scale must be more than 0 and at most 1, got {scale}", scale=scale)
    started = time.perf_counter()
    report = progress or _Silent()
    migrate.upgrade(engine)
    with unit_of_work(engine, readonly=True) as session:
        existing = demo_status(session)
    if existing is not None:
        return existing

    report.phase("planning", 3)
    nodes = demo_nodes(seed, scale=scale)
    report.advance()
    skus = demo_catalogue(seed, scale=scale)
    report.advance()
    plan = plan_stock(seed, nodes, skus, scale=scale)
    report.advance()
    summary = summarise(seed, scale, nodes, skus, plan)

    now = (clock or SystemClock()).now()
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
        _receive_opening_stock(session, plan.lines, sku_ids, node_ids, now, report)
        _sell_down(session, plan.lines, sku_ids, node_ids, now, seed, report, clock)
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
    seed: int, scale: float, nodes: Sequence[NodeIn], skus: Sequence[DemoSku], plan: StockPlan
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
        movements=len(lines) + sum(1 for line in lines if line.sold),
        policies=sum(1 for line in lines if line.has_policy),
        low_stock=sum(1 for line in lines if line.low),
        threshold_crossings=sum(1 for line in lines if line.crossed),
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


def _apply(
    session: Session, deltas: dict[lv.Pair, int], now: datetime
) -> dict[lv.Pair, lv.LevelChange]:
    changes = lv.add_on_hand_many(session, deltas, now)
    if len(changes) != len(deltas):  # nothing is reserved yet, so every change must fit
        refused = sorted(set(deltas) - changes.keys())[:5]
        raise RuntimeError(f"stock levels refused a demo change: {refused}")
    return changes


def _receive_opening_stock(
    session: Session,
    lines: Sequence[Line],
    sku_ids: dict[str, int],
    node_ids: dict[str, int],
    now: datetime,
    report: Progress,
) -> None:
    report.phase("opening stock", len(lines))
    received_at = now - timedelta(days=14)
    keyed = sorted(((sku_ids[x.sku], node_ids[x.node]), x) for x in lines)
    for start in range(0, len(keyed), CHUNK):
        chunk = keyed[start : start + CHUNK]
        _apply(session, {pair: line.opening for pair, line in chunk}, now)
        lv.write_movements(
            session,
            [
                lv.movement_row(
                    sku_id=pair[0],
                    node_id=pair[1],
                    kind=MovementKind.RECEIPT.value,
                    quantity=line.opening,
                    now=now,
                    reason="opening stock",
                    reference=OPENING_REFERENCE,
                    occurred_at=received_at,
                )
                for pair, line in chunk
            ],
        )
        report.advance(len(chunk))


def _sell_down(
    session: Session,
    lines: Sequence[Line],
    sku_ids: dict[str, int],
    node_ids: dict[str, int],
    now: datetime,
    seed: int,
    report: Progress,
    clock: Clock | None,
) -> None:
    """Store sales of the best sellers over the last week; record the threshold crossings."""
    sold = sorted(((sku_ids[x.sku], node_ids[x.node]), x) for x in lines if x.sold)
    report.phase("store sales", len(sold))
    rng = random.Random(f"yipan-demo:{seed}:sales")
    changes = _apply(session, {pair: -line.sold for pair, line in sold}, now)
    lv.write_movements(
        session,
        [
            lv.movement_row(
                sku_id=pair[0],
                node_id=pair[1],
                kind=MovementKind.SALE.value,
                quantity=-line.sold,
                now=now,
                reason="store sales",
                reference=SALES_REFERENCE,
                channel="pos",
                occurred_at=now - timedelta(hours=rng.randint(1, 7 * 24)),
            )
            for pair, line in sold
        ],
    )
    crossed: list[DomainEvent] = []
    for pair, line in sold:
        event = changes[pair].fell_below(line.sku, line.node)
        if event is not None:
            crossed.append(event)
    events.record_many(session, crossed, clock=clock)
    report.advance(len(sold))


def reset_database(engine: Engine) -> None:
    """Drop every table in the database, whoever made it, and migrate the empty schema to head.

    Code → id caches are kept per engine: build with a new engine afterwards.
    """
    existing = MetaData()
    existing.reflect(bind=engine)
    existing.drop_all(bind=engine)
    migrate.upgrade(engine)
