"""The demo's year written through each context's services and history writers.

People go through the members' bulk ingest in the order the systems got them, the calendar's
promotions and coupon templates through the promotions' definitions, the campaigns' coupons
through `coupons.issue_to_members`, then the pure year (`history`) through the history writers of
orders, members (points, spend, tiers, guides) and promotions (what the orders redeemed), and the
stock behind it through `ledger`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yipan.demo.catalogue import DemoSku
from yipan.demo.history import HISTORY_DAYS, DemoHistory, demo_history
from yipan.demo.ledger import record_crossings, write_stock
from yipan.demo.marketing import SHANGHAI, Calendar
from yipan.demo.people import People
from yipan.demo.progress import Progress
from yipan.demo.replenish import Restock, replenish
from yipan.demo.stock import StockPlan
from yipan.inventory.schemas import NodeIn
from yipan.kernel.clock import Clock, FixedClock
from yipan.members.domain.identifiers import RecordKey
from yipan.members.domain.points import SaleLine
from yipan.members.service import history as member_history
from yipan.members.service.ingest import ingest_records
from yipan.orders.domain.history import FULFILLED
from yipan.orders.service import history as order_history
from yipan.orders.service.checkout import redemption_ref
from yipan.promotions.domain.history import HistoricRedemption
from yipan.promotions.schemas import IssueToMembersIn
from yipan.promotions.service import coupons as coupon_service
from yipan.promotions.service import definitions as promotion_service
from yipan.promotions.service import history as promotion_history

CHUNK = 5000
ORDER_CHUNK = 20_000
COUPON_BATCH = 1000


def build_year(
    session: Session,
    seed: int,
    scale: float,
    nodes: Sequence[NodeIn],
    skus: Sequence[DemoSku],
    plan: StockPlan,
    people: People,
    calendar: Calendar,
    ids: tuple[dict[str, int], dict[str, int]],
    now: datetime,
    report: Progress,
    clock: Clock | None,
) -> tuple[Restock, dict[str, Any]]:
    """The year before `now`: members, marketing, orders, the stock ledger behind them, points
    and spend, and what the orders redeemed; the stock's movements and the summary's figures."""
    start = now - timedelta(days=HISTORY_DAYS, hours=1)
    members = _ingest_people(session, people, report)
    promotions = _save_marketing(session, calendar, start)
    report.phase("order history", HISTORY_DAYS)
    year = demo_history(
        seed,
        now=now,
        nodes=nodes,
        skus=skus,
        lines=plan.lines,
        people=people,
        members=members,
        calendar=calendar,
        scale=scale,
        on_day=report.advance,
    )
    issued = _issue_coupons(session, calendar, year, report)
    report.phase("deliveries", 1)
    restock = replenish(plan.lines, year.orders, start=start, now=now)
    report.advance()
    written = _write_orders(session, year, report)
    write_stock(session, plan.lines, restock, ids, year, written, start, now, report)
    record_crossings(session, restock, clock)
    booked = _book_members(session, year, written, skus, now, report)
    redeemed = _book_redemptions(session, year, written, report)
    member_history.bind_guides(session, year.guides, now)
    counts = member_history.counts(session)
    return restock, _history_summary(year, counts, booked, redeemed, promotions, issued)


def _ingest_people(
    session: Session, people: People, report: Progress
) -> dict[tuple[str, str], str]:
    """The three systems' records through the bulk ingest, in the order the systems got them
    (each chunk on the clock of its last record, so members are created when they joined)."""
    records = people.records
    report.phase("members", len(records))
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        ingest_records(session, [r.record_in() for r in chunk], clock=FixedClock(chunk[-1].joined))
        report.advance(len(chunk))
    found = member_history.members_of_records(session, [RecordKey(*r.key) for r in records])
    return {(key.source, key.record_id): member for key, member in found.items()}


def _save_marketing(session: Session, calendar: Calendar, start: datetime) -> int:
    """The calendar's promotions and coupon templates, each saved a week before it starts."""
    for promotion in calendar.promotions:
        saved_at = max(start, (promotion.starts_at or start) - timedelta(days=7))
        promotion_service.save_promotion(session, promotion, clock=FixedClock(saved_at))
    for campaign in calendar.campaigns:
        saved_at = max(start, campaign.issue_at - timedelta(days=7))
        promotion_service.save_coupon_template(
            session, campaign.template, clock=FixedClock(saved_at)
        )
    return len(calendar.promotions)


def _issue_coupons(
    session: Session, calendar: Calendar, year: DemoHistory, report: Progress
) -> int:
    """Each campaign's coupons through the promotions' service, on the day it went out, in
    batches of a thousand members, each its own issue key: issuing looks up the coupons already
    issued under the key, and a key per batch keeps that lookup to the batch."""
    report.phase("coupons", sum(len(members) for members in year.coupons.values()))
    issued = 0
    for campaign in calendar.campaigns:
        code = campaign.template.code
        members = year.coupons.get(code, [])
        for n, start in enumerate(range(0, len(members), COUPON_BATCH), 1):
            chunk = members[start : start + COUPON_BATCH]
            done = coupon_service.issue_to_members(
                session,
                code,
                IssueToMembersIn(issue_key=f"demo-{code}-{n:03d}", member_ids=chunk),
                clock=FixedClock(campaign.issue_at),
            )
            issued += done.created
            report.advance(len(chunk))
    return issued


def _write_orders(
    session: Session, year: DemoHistory, report: Progress
) -> order_history.HistoryIds:
    orders = year.orders
    report.phase("orders", len(orders))
    order_ids: list[int] = []
    return_ids: list[list[int]] = []
    lines = parcels = 0
    for start in range(0, len(orders), ORDER_CHUNK):
        chunk = orders[start : start + ORDER_CHUNK]
        written = order_history.record_history(session, chunk)
        order_ids += written.orders
        return_ids += written.returns
        lines += written.lines
        parcels += written.fulfilments
        report.advance(len(chunk))
    return order_history.HistoryIds(order_ids, return_ids, lines, parcels)


def _book_members(
    session: Session,
    year: DemoHistory,
    written: order_history.HistoryIds,
    skus: Sequence[DemoSku],
    now: datetime,
    report: Progress,
) -> member_history.HistoryBooked:
    """Points, spend and tiers of the members' orders, returns and points exchanges."""
    report.phase("points & tiers", 1)
    category = {s.code: frozenset({s.sku.category_code}) for s in skus}
    sales: list[member_history.HistoricSale] = []
    returns: list[member_history.HistoricReturn] = []
    for n, order in enumerate(year.orders):
        if order.member_id is None:
            continue
        order_id = written.orders[n]
        completed = order.completed_at
        if completed is not None:
            sales.append(
                member_history.HistoricSale(
                    member_id=order.member_id,
                    order_id=order_id,
                    channel=order.channel,
                    at=completed,
                    lines=tuple(
                        SaleLine(str(no), line.paid_fen, category[line.sku])
                        for no, line in enumerate(order.lines, 1)
                        if line.status == FULFILLED
                    ),
                )
            )
        for ret, return_id in zip(order.returns, written.returns[n], strict=True):
            returns.append(
                member_history.HistoricReturn(
                    member_id=order.member_id,
                    order_id=order_id,
                    return_id=return_id,
                    channel=ret.channel,
                    at=ret.at,
                    refund_fen=ret.refund_fen,
                    returned_fen_by_line={str(r.line_no): r.refund_fen for r in ret.lines},
                )
            )
    exchanges = [
        member_history.HistoricExchange(
            member_id=x.member_id,
            reference=f"exchange:{year.orders[x.order].channel}:{year.orders[x.order].external_id}",
            at=x.at,
            channel=year.orders[x.order].channel,
            points=x.points,
        )
        for x in year.exchanges
    ]
    booked = member_history.record_history(session, sales, returns, exchanges, now=now)
    report.advance()
    return booked


def _book_redemptions(
    session: Session,
    year: DemoHistory,
    written: order_history.HistoryIds,
    report: Progress,
) -> promotion_history.RedeemedHistory:
    report.phase("promotions", 1)
    redemptions = []
    for applied in year.applied:
        order = year.orders[applied.order]
        redemptions.append(
            HistoricRedemption(
                order_ref=redemption_ref(order.channel, order.external_id),
                channel=order.channel,
                member_id=order.member_id,
                at=order.placed_at,
                lines=tuple(
                    (no, line.sku, line.quantity, line.unit_price_fen * line.quantity)
                    for no, line in enumerate(order.lines, 1)
                ),
                offers=applied.offers,
            )
        )
    redeemed = promotion_history.record_history(session, redemptions)
    report.advance()
    return redeemed


def _history_summary(
    year: DemoHistory,
    counts: member_history.MemberCounts,
    booked: member_history.HistoryBooked,
    redeemed: promotion_history.RedeemedHistory,
    promotions: int,
    issued: int,
) -> dict[str, Any]:
    orders = year.orders
    sales = sum(o.total_fen - o.shipping_fen for o in orders)
    by_members = sum(o.total_fen - o.shipping_fen for o in orders if o.member_id is not None)
    first = min((o.placed_at for o in orders), default=None)
    return {
        "members": counts.active,
        "source_records": counts.records,
        "merge_reviews": counts.open_reviews,
        "orders": len(orders),
        "orders_by_channel": dict(Counter(o.channel for o in orders).most_common()),
        "order_lines": sum(len(o.lines) for o in orders),
        "returns": year.returns,
        "sales_fen": sales,
        "member_sales_share": round(by_members / sales, 3) if sales else 0.0,
        "points_earned": booked.points_earned,
        "points_redeemed": booked.points_redeemed,
        "points_balance": booked.points_balance,
        "tiers": booked.tiers,
        "promotions": promotions,
        "coupons_issued": issued,
        "coupons_redeemed": redeemed.coupons_redeemed,
        "history_from": "" if first is None else first.astimezone(SHANGHAI).date().isoformat(),
    }
