"""The orders pages' view models: the filtered, paged list and one order's detail, both limited to
what the signed-in user's data scope may see.

Read through the orders service (`queries`) and inventory's node service only. The scope is
enforced here, not in the templates: HQ (scope `all`) sees every order; a store's staff see the
orders sold at their store or with a fulfilment there; a region manager sees the orders sold at,
or fulfilled from, a node in their province. `OrderQuery(visible_at=…)` filters by both the
order's store and its fulfilments' nodes, so the list and the detail page agree. An order outside
the scope answers exactly as an unknown one (404), so its existence is not revealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from yipan.auth.domain import Scope
from yipan.console.fulfilment_steps import take_step
from yipan.console.i18n import Translate
from yipan.console.notice import Notice
from yipan.console.paging import (
    MAX_ID,
    MAX_PAGE,
    PAGE_SIZE,
    Pager,
    pager,
    positive_int,
    record_id,
)
from yipan.data_scope import check_fulfilment, sees_order, visible_nodes
from yipan.kernel.config import get_settings
from yipan.orders.domain.fulfilment import Action
from yipan.orders.domain.routing import Method
from yipan.orders.errors import UnknownFulfilment, UnknownOrder
from yipan.orders.schemas import OrderEventOut, OrderOut, OrderSummary
from yipan.orders.service import queries

# As the orders API accepts them (`GET /api/v1/orders?state=`).
ORDER_STATES = ("open", "completed", "cancelled")
METHODS = tuple(m.value for m in Method)
MAX_CODE_LENGTH = 64
# The cost terms a routing plan's total is the sum of (docs/orders.md, story 1), in chart order.
COST_TERMS = ("distance", "handling", "split", "capacity", "stock_health")
COST_COLOURS = ("#3a6fd8", "#2f9e5d", "#d1343e", "#e39b0b", "#8e5cc4")


@dataclass(frozen=True)
class OrderFilters:
    """The filters as the visitor typed them (to fill the form back in) and as they were read."""

    channel: str = ""
    state: str = ""
    method: str = ""
    store: str = ""
    date_from: str = ""
    date_to: str = ""
    placed_from: datetime | None = None
    placed_before: datetime | None = None

    def query(self, page: int | None = None) -> dict[str, str]:
        """The query string that shows these filters again (on another page)."""
        values = {
            "channel": self.channel,
            "state": self.state,
            "method": self.method,
            "store": self.store,
            "from": self.date_from,
            "to": self.date_to,
        }
        if page is not None and page > 1:
            values["page"] = str(page)
        return {k: v for k, v in values.items() if v}


def _zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def _day(raw: str) -> date:
    text = raw.strip()
    if len(text) != 10:  # fromisoformat also takes 20261201, which nobody means
        raise ValueError(raw)
    return date.fromisoformat(text)


def read_filters(
    *,
    channel: str = "",
    state: str = "",
    method: str = "",
    store: str = "",
    date_from: str = "",
    date_to: str = "",
) -> tuple[OrderFilters, Notice | None]:
    """The filters from a query string; a notice (422) naming the first value that is wrong.

    Days are the tenant's (Asia/Shanghai): `to` includes its whole day.
    """
    typed = OrderFilters(
        channel=channel.strip(),
        state=state.strip(),
        method=method.strip(),
        store=store.strip(),
        date_from=date_from.strip(),
        date_to=date_to.strip(),
    )
    if len(typed.channel) > MAX_CODE_LENGTH or len(typed.store) > MAX_CODE_LENGTH:
        return typed, Notice("orders.code_too_long", {"max": MAX_CODE_LENGTH}, status=422)
    if typed.state and typed.state not in ORDER_STATES:
        return typed, Notice("orders.bad_state", {"state": typed.state}, status=422)
    if typed.method and typed.method not in METHODS:
        return typed, Notice("orders.bad_method", {"method": typed.method}, status=422)
    zone = _zone()
    placed_from = placed_before = None
    try:
        if typed.date_from:
            placed_from = datetime.combine(_day(typed.date_from), time(), zone)
        if typed.date_to:
            placed_before = datetime.combine(_day(typed.date_to) + timedelta(days=1), time(), zone)
    except (ValueError, OverflowError):
        return typed, Notice("orders.bad_date", status=422)
    if placed_from and placed_before and placed_from >= placed_before:
        return typed, Notice("orders.dates_reversed", status=422)
    return (
        OrderFilters(
            channel=typed.channel,
            state=typed.state,
            method=typed.method,
            store=typed.store,
            date_from=typed.date_from,
            date_to=typed.date_to,
            placed_from=placed_from,
            placed_before=placed_before,
        ),
        None,
    )


def read_page(raw: str | None) -> tuple[int, Notice | None]:
    try:
        return positive_int(raw, default=1, ceiling=MAX_PAGE) or 1, None
    except ValueError:
        return 1, Notice("inventory.bad_page", {"max": MAX_PAGE}, status=422)


@dataclass(frozen=True)
class OrderRow:
    summary: OrderSummary
    member_id: str | None


@dataclass(frozen=True)
class OrderList:
    filters: OrderFilters
    notice: Notice | None = None
    rows: list[OrderRow] = field(default_factory=list)
    pager: Pager | None = None

    def page_query(self, page: int) -> dict[str, str]:
        return self.filters.query(page)


def list_orders(session: Session, scope: Scope, filters: OrderFilters, page: int) -> OrderList:
    """One page of the orders `scope` sees that match `filters`, newest first."""
    query = queries.OrderQuery(
        channel=filters.channel or None,
        state=filters.state or None,
        method=filters.method or None,
        store=filters.store or None,
        placed_from=filters.placed_from,
        placed_before=filters.placed_before,
        visible_at=visible_nodes(session, scope),
    )
    total = queries.count_orders(session, query)
    paging = pager(total, page)
    if page > paging.pages:
        notice = Notice("inventory.page_past_end", {"page": page, "pages": paging.pages}, 404)
        return OrderList(filters=filters, notice=notice)
    summaries = queries.list_orders(session, query, offset=paging.offset, limit=PAGE_SIZE)
    members = queries.members_of(session, [s.id for s in summaries])
    rows = [OrderRow(s, members.get(s.id)) for s in summaries]
    return OrderList(filters=filters, rows=rows, pager=paging)


@dataclass(frozen=True)
class RoutingGroup:
    method: str
    why: str
    chosen: list[str]
    plans_scored: int
    rejected_by_reason: dict[str, int]
    plans: list[dict[str, Any]]

    def chart(self, t: Translate) -> dict[str, Any]:
        """What console.js needs to draw the stacked bars: one bar per plan, one stack per cost
        term, best plan first; labels in the visitor's language."""
        chosen_at = next(
            (i for i, p in enumerate(self.plans) if list(p.get("nodes", [])) == self.chosen), None
        )
        return {
            "plans": [" + ".join(p.get("nodes", [])) for p in self.plans],
            "chosen": chosen_at,
            "chosen_label": t("orders.chosen"),
            "total_label": t("orders.cost_total"),
            "totals": [_number(p.get("total")) for p in self.plans],
            "series": [
                {
                    "name": t(f"cost.{term}"),
                    "color": colour,
                    "values": [_number(p.get(term)) for p in self.plans],
                }
                for term, colour in zip(COST_TERMS, COST_COLOURS, strict=True)
            ],
        }


def _number(value: Any) -> float:
    return round(float(value), 3) if isinstance(value, int | float) else 0.0


@dataclass(frozen=True)
class RoutingView:
    id: int
    trigger: str
    created_at: datetime
    excluded_nodes: list[str]
    groups: list[RoutingGroup]
    unfulfillable: list[dict[str, Any]]


def _routing_view(
    decision_id: int, trigger: str, created_at: datetime, explanation: dict[str, Any]
) -> RoutingView:
    groups = [
        RoutingGroup(
            method=str(g.get("method", "")),
            why=str(g.get("why", "")),
            chosen=list((g.get("chosen") or {}).get("nodes", [])),
            plans_scored=int(g.get("plans_scored", 0)),
            rejected_by_reason=dict(g.get("rejected_by_reason") or {}),
            plans=[p for p in g.get("plans") or [] if isinstance(p, dict)],
        )
        for g in explanation.get("groups") or []
        if isinstance(g, dict)
    ]
    return RoutingView(
        id=decision_id,
        trigger=trigger,
        created_at=created_at,
        excluded_nodes=list(explanation.get("excluded_nodes") or []),
        groups=groups,
        unfulfillable=list(explanation.get("unfulfillable") or []),
    )


@dataclass(frozen=True)
class OrderDetail:
    order_id: str
    notice: Notice | None = None
    order: OrderOut | None = None
    events: list[OrderEventOut] = field(default_factory=list)
    routing: list[RoutingView] = field(default_factory=list)


def _not_found(raw_id: str) -> OrderDetail:
    return OrderDetail(raw_id, Notice("orders.not_found", {"id": raw_id}, status=404))


def order_detail(session: Session, scope: Scope, raw_id: str) -> OrderDetail:
    """One order with its timeline and routing, or a 404 notice when it does not exist or lies
    outside `scope` (the same words either way)."""
    try:
        order_id = positive_int(raw_id, default=None, ceiling=MAX_ID)
    except ValueError:
        return _not_found(raw_id.strip()[:MAX_CODE_LENGTH])
    if order_id is None:
        return _not_found(raw_id)
    try:
        order = queries.get_order(session, order_id)
    except UnknownOrder:
        return _not_found(str(order_id))
    if not sees_order(order, visible_nodes(session, scope)):
        return _not_found(str(order_id))
    decisions = queries.routing_decisions(session, order_id)
    return OrderDetail(
        order_id=str(order_id),
        order=order,
        events=queries.order_events(session, order_id),
        routing=[_routing_view(d.id, d.trigger, d.created_at, d.explanation) for d in decisions],
    )


# --- the fulfilment steps as buttons ---------------------------------------------------------

ACT_PERMISSION = "orders.write"


def act_on_fulfilment(
    session: Session,
    scope: Scope,
    raw_order_id: str,
    raw_fulfilment_id: str,
    raw_action: str,
    code: str,
    who: str,
) -> Notice | None:
    """Take one step of one of the order's fulfilments (the same step as the API's
    `POST /fulfilments/{id}/{action}`); None when done, else a notice saying why not. A
    fulfilment of another order, or at a node outside `scope`, is unknown (404)."""
    view = order_detail(session, scope, raw_order_id)
    if view.order is None:
        return view.notice
    unknown = Notice("orders.unknown_fulfilment", {"id": raw_fulfilment_id[:MAX_CODE_LENGTH]}, 404)
    fulfilment_id = record_id(raw_fulfilment_id)
    if fulfilment_id is None or fulfilment_id not in {f.id for f in view.order.fulfilments}:
        return unknown
    try:
        check_fulfilment(session, scope, fulfilment_id)
    except UnknownFulfilment:
        return unknown
    try:
        action = Action(raw_action)
    except ValueError:
        return Notice("orders.unknown_action", {"action": raw_action[:MAX_CODE_LENGTH]}, 404)
    return take_step(session, fulfilment_id, action, who, code)
