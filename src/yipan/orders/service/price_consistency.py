"""The price-consistency report: each SKU's price policy per channel beside the unit prices the
channels actually charged, with every difference explained by an exception or flagged "no rule".

Orders hosts the report because it keeps the sales; the prices, the exceptions and the
judgement are the catalogue's (`catalog.prices`, `catalog.consistency`, `catalog.domain`),
which knows nothing about orders. Unit prices are compared before promotion discounts: a
discount is not a price difference (the pricing engine explains those).

A sale's region is the province of the order's store (POS receipts, guide orders); orders with
no store (online) have no region, so only channel exceptions apply to them. Sales are read by
`placed_at` (when the channel charged) and grouped in SQL by SKU, channel, store, unit price and
the stretch of time between two exception boundaries, so each group meets one set of rules.
The list price compared against is today's: a list price change inside the window shows the
sales at the old price as differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session

from yipan.catalog import prices
from yipan.catalog.consistency import price_consistency_row
from yipan.catalog.domain import ObservedCharge, rule_boundaries
from yipan.catalog.errors import InvalidReportWindow
from yipan.catalog.schemas import PriceConsistencyPage, SkuPriceConsistency
from yipan.channels import service as channels
from yipan.inventory.service import nodes
from yipan.kernel.clock import Clock, SystemClock
from yipan.orders.models import Order, OrderLine

DEFAULT_WINDOW = timedelta(days=30)
MAX_WINDOW = timedelta(days=366)
_CHUNK = 200


@dataclass(frozen=True)
class _Query:
    channel: str | None
    since: datetime
    until: datetime
    channels: tuple[str, ...]


def price_consistency_report(
    session: Session,
    *,
    skus: Sequence[str] = (),
    category: str | None = None,
    channel: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    only_inconsistent: bool = True,
    only_unexplained: bool = False,
    offset: int = 0,
    limit: int = 50,
    clock: Clock | None = None,
) -> PriceConsistencyPage:
    """A page of SKUs (in code order) with their price per channel, the prices charged in
    [since, until) (default: the 30 days up to now) and every difference from the list price.

    `only_inconsistent` keeps SKUs with some difference, explained or not; `only_unexplained`
    those with a difference no exception explains (what HQ is alerted about).
    """
    until = until or (clock or SystemClock()).now()
    since = since or until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidReportWindow(
            "since must be before until", since=since.isoformat(), until=until.isoformat()
        )
    if until - since > MAX_WINDOW:
        raise InvalidReportWindow(
            f"the window may span {MAX_WINDOW.days} days at most",
            since=since.isoformat(),
            until=until.isoformat(),
        )
    registered = [c.code for c in channels.list_channels(session, active=True)]
    query = _Query(channel, since, until, (channel,) if channel else tuple(registered))
    regions = {n.code: n.province for n in nodes.list_nodes(session)}

    if not (only_inconsistent or only_unexplained):
        codes, total = prices.matching_sku_codes(
            session, codes=skus, category=category, offset=offset, limit=limit
        )
        items = _rows(session, codes, query, regions)
    else:
        sure, unsure = _candidates(session, skus, category, query, only_unexplained)
        # Only SKUs with exceptions need judging to know whether they belong on the list at all;
        # the others are decided by their prices alone, and only the page of them is built.
        judged = {
            row.sku: row
            for start in range(0, len(unsure), _CHUNK)
            for row in _rows(session, unsure[start : start + _CHUNK], query, regions)
            if (row.unexplained if only_unexplained else row.status != "consistent")
        }
        listed = sorted(sure | judged.keys())
        page = listed[offset : offset + limit]
        built = {
            r.sku: r for r in _rows(session, [c for c in page if c not in judged], query, regions)
        }
        total, items = len(listed), [judged.get(code) or built[code] for code in page]
    return PriceConsistencyPage(
        since=since, until=until, items=items, total=total, offset=offset, limit=limit
    )


def _window(query: _Query) -> list[ColumnElement[bool]]:
    where = [Order.placed_at >= query.since, Order.placed_at < query.until]
    if query.channel:
        where.append(Order.channel == query.channel)
    return where


def _candidates(
    session: Session,
    skus: Sequence[str],
    category: str | None,
    query: _Query,
    only_unexplained: bool,
) -> tuple[set[str], list[str]]:
    """The SKUs surely on the list, and those that may be (in code order) and need judging.

    A SKU sold at a price other than its list price has a difference for sure; with no exception
    in force in the window, that difference has no rule for sure. A SKU with exceptions may have
    differences (the exceptions themselves, sales at the list price where one said otherwise) or
    may have every difference explained. Every other SKU is consistent.
    """
    stmt = (
        select(OrderLine.sku, OrderLine.unit_price_fen)
        .join(Order, Order.id == OrderLine.order_id)
        .where(*_window(query))
        .distinct()
    )
    if skus:
        stmt = stmt.where(OrderLine.sku.in_(sorted(set(skus))))
    charged: dict[str, set[int]] = {}
    for sku, price in session.execute(stmt):
        charged.setdefault(sku, set()).add(price)
    listed = prices.list_prices(session, charged)
    off_list = {sku for sku, seen in charged.items() if sku in listed and seen != {listed[sku]}}
    with_rules = prices.skus_with_price_exceptions(
        session, since=query.since, until=query.until, channel=query.channel
    )
    if skus or category:
        matching = set(prices.matching_sku_codes(session, codes=skus, category=category)[0])
        off_list &= matching
        with_rules &= matching
    if only_unexplained:
        return off_list - with_rules, sorted(with_rules)
    return off_list, sorted(with_rules - off_list)


def _rows(
    session: Session, codes: Sequence[str], query: _Query, regions: dict[str, str]
) -> list[SkuPriceConsistency]:
    policies = prices.price_policies(session, codes, since=query.since, until=query.until)
    bounds = rule_boundaries(
        (r for p in policies.values() for r in p.rules), query.since, query.until
    )
    observed = _observed(session, sorted(policies), query, bounds, regions)
    return [
        price_consistency_row(
            policies[code],
            observed.get(code, []),
            channels=query.channels,
            at=query.until,
            channel=query.channel,
        )
        for code in codes
        if code in policies
    ]


def _observed(
    session: Session,
    codes: Sequence[str],
    query: _Query,
    bounds: Sequence[datetime],
    regions: dict[str, str],
) -> dict[str, list[ObservedCharge]]:
    """What each SKU sold at, per channel, region and unit price, split where exceptions start
    or end so that each piece met one set of rules."""
    if not codes:
        return {}
    # Which stretch between boundaries a sale falls in: how many boundaries it is at or after.
    stretch: ColumnElement[int] = literal(0)
    for bound in bounds:
        stretch = stretch + case((Order.placed_at >= bound, 1), else_=0)
    sales = (
        select(
            OrderLine.sku,
            Order.channel,
            Order.store,
            OrderLine.unit_price_fen,
            OrderLine.quantity,
            Order.placed_at,
            stretch.label("stretch"),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(OrderLine.sku.in_(codes), *_window(query))
        .subquery()
    )
    groups = session.execute(
        select(
            sales.c.sku,
            sales.c.channel,
            sales.c.store,
            sales.c.unit_price_fen,
            sales.c.stretch,
            func.sum(sales.c.quantity),
            func.count(),
            func.min(sales.c.placed_at),
            func.max(sales.c.placed_at),
        ).group_by(
            sales.c.sku,
            sales.c.channel,
            sales.c.store,
            sales.c.unit_price_fen,
            sales.c.stretch,
        )
    ).all()
    # Stores of one province in one stretch meet the same rules: fold them into one piece.
    pieces: dict[tuple[str, str, str | None, int, int], ObservedCharge] = {}
    for sku, channel, store, price, stretch_no, units, lines, first, last in groups:
        region = regions.get(store) if store else None
        key = (sku, channel, region, price, stretch_no)
        seen = pieces.get(key)
        pieces[key] = ObservedCharge(
            sku=sku,
            channel=channel,
            region=region,
            unit_price_fen=price,
            units=int(units) + (seen.units if seen else 0),
            lines=int(lines) + (seen.lines if seen else 0),
            first_at=min(first, seen.first_at) if seen else first,
            last_at=max(last, seen.last_at) if seen else last,
        )
    out: dict[str, list[ObservedCharge]] = {}
    for piece in pieces.values():
        out.setdefault(piece.sku, []).append(piece)
    return out
