"""Member tags computed from the data and stored (`insights_member_tags`): a full refresh for
every member, one member's refresh after each completed order, return, merge or un-merge, and
reading a member's tags. The rules are in `insights.domain.tags`; docs/insights.md ("Tags and
segments") defines every tag.

What counts. Completed orders placed under any id the member has had (those merged into it),
their sold lines with what was kept (quantity less returns, paid less refunds). A purchase is an
order with something kept. Online or store: by the type of the order's channel (a till, a guide
or a distributor's store are the store; everything else is online). Scene: by the fulfilment
method of what was kept (pickup; in the store, at the till; delivered: shipped, local delivery,
community leader). Categories and sizes come from the catalogue (the SKU's product category and
its `size` attribute); price band from where each line's unit price sits among the list prices
of its category (thirds), weighted by spend. Lapse risk is 1 − the probability alive of the
member-value model (BG/NBD, `member_value.cached_model`); no lapse risk while the model cannot
be fitted.

RFM scores compare a member with the cut points of the last full refresh (`insights_tag_baselines`),
so one member's refresh reads only that member's orders; when there is no baseline yet, the
first refresh of a member makes one.

Every read is set-based: a handful of grouped statements over the orders, lines, fulfilments,
channels and catalogue tables for everyone (or for one member's ids).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, Table, delete, func, select, union
from sqlalchemy.orm import Session

from yipan.catalog.models import Category, Product, Sku
from yipan.channels.domain import ChannelType
from yipan.channels.models import Channel
from yipan.events.domain import OutboxMessage
from yipan.insights.domain import tags as rules
from yipan.insights.domain.kpis import SOLD_LINE_STATUSES
from yipan.insights.domain.periods import business_day
from yipan.insights.models.tags import MemberTag, TagBaseline
from yipan.insights.service import member_value
from yipan.kernel.bulk import bulk_insert
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.errors import Conflict
from yipan.members.errors import UnknownMember
from yipan.members.models import Member
from yipan.members.schemas import Member360, MemberTagOut
from yipan.members.service import profile
from yipan.members.service import store as members_store
from yipan.orders.models import Fulfilment, Order, OrderLine

log = logging.getLogger(__name__)

# Channel types whose orders are placed in a store.
STORE_CHANNEL_TYPES = (ChannelType.POS, ChannelType.GUIDE, ChannelType.DISTRIBUTOR)
_INSERT_BATCH = 5000
_TABLE: Table = MemberTag.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class StoredTag:
    kind: str
    value: str
    score: float | None


@dataclass(frozen=True)
class MemberTags:
    member_id: str  # the member the tags live on (a merged-away id answers for its survivor)
    asked: str
    computed_at: datetime | None
    tags: list[StoredTag]

    def of(self, kind: rules.TagKind) -> list[StoredTag]:
        return [t for t in self.tags if t.kind == kind]

    def first(self, kind: rules.TagKind) -> str | None:
        found = self.of(kind)
        return found[0].value if found else None

    @property
    def rfm_scores(self) -> str | None:
        """The scores as "R5 F4 M3", or None without RFM tags."""
        r, f, m = (
            self.first(k)
            for k in (
                rules.TagKind.RECENCY_SCORE,
                rules.TagKind.FREQUENCY_SCORE,
                rules.TagKind.MONETARY_SCORE,
            )
        )
        return None if r is None or f is None or m is None else f"R{r} F{f} M{m}"

    def shown(self) -> list[tuple[str, list[StoredTag]]]:
        """The tags to show a person, by kind in the domain's order; the three RFM scores are
        `rfm_scores`, beside the segment."""
        scores = {
            rules.TagKind.RECENCY_SCORE,
            rules.TagKind.FREQUENCY_SCORE,
            rules.TagKind.MONETARY_SCORE,
        }
        groups: dict[str, list[StoredTag]] = {}
        for tag in self.tags:
            if tag.kind not in scores:
                groups.setdefault(tag.kind, []).append(tag)
        return list(groups.items())


@dataclass(frozen=True)
class RefreshReport:
    members: int  # members tagged
    tags: int
    baseline: rules.RfmCuts
    lapse_model: bool  # whether the member-value model gave lapse risks
    computed_at: datetime


# --- reading facts ------------------------------------------------------------------------------


def _kept() -> ColumnElement[int]:
    return OrderLine.quantity - OrderLine.returned_quantity


def _bought(member_ids: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """Lines of completed orders of members (or of `member_ids`) of which something was kept."""
    where = [
        Order.member_id.is_not(None),
        Order.state == "completed",
        OrderLine.status.in_(SOLD_LINE_STATUSES),
        _kept() > 0,
    ]
    if member_ids is not None:
        where.append(Order.member_id.in_(list(member_ids)))
    return where


def _lines(*columns: Any, member_ids: Sequence[str] | None) -> Select[tuple[Any, ...]]:
    return (
        select(*columns)
        .select_from(Order)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(*_bought(member_ids))
    )


def _read_facts(
    session: Session, member_ids: Sequence[str] | None, zone: ZoneInfo
) -> dict[str, rules.MemberFacts]:
    """Facts per id orders were placed under (not yet folded into the members they live in)."""
    facts: dict[str, rules.MemberFacts] = {}

    def of(member: object) -> rules.MemberFacts:
        key = str(member)
        if key not in facts:
            facts[key] = rules.MemberFacts(member_id=0)
        return facts[key]

    net = OrderLine.paid_fen - OrderLine.refunded_fen
    for member, purchases, spend, last in session.execute(
        _lines(
            Order.member_id,
            func.count(func.distinct(Order.id)),
            func.sum(net),
            func.max(Order.placed_at),
            member_ids=member_ids,
        ).group_by(Order.member_id)
    ):
        f = of(member)
        f.purchases, f.spend_fen = int(purchases), int(spend or 0)
        f.last_day = business_day(_aware(last), zone).toordinal()
    _read_categories(session, member_ids, of)
    size = Sku.attributes["size"].as_string()
    for member, value, units in session.execute(
        _lines(Order.member_id, size, func.sum(_kept()), member_ids=member_ids)
        .join(Sku, Sku.code == OrderLine.sku)
        .where(size.is_not(None))
        .group_by(Order.member_id, size)
    ):
        if str(value).strip():
            of(member).size_units[str(value)] = int(units)
    for member, channel_type, orders in session.execute(
        _lines(
            Order.member_id,
            Channel.type,
            func.count(func.distinct(Order.id)),
            member_ids=member_ids,
        )
        .outerjoin(Channel, Channel.code == Order.channel)
        .group_by(Order.member_id, Channel.type)
    ):
        f = of(member)
        if channel_type in STORE_CHANNEL_TYPES:
            f.store_orders += int(orders)
        else:
            f.online_orders += int(orders)
    for member, method, units in session.execute(
        _lines(
            Order.member_id, OrderLine.method, func.sum(_kept()), member_ids=member_ids
        ).group_by(Order.member_id, OrderLine.method)
    ):
        scene = rules.scene_of(str(method)).value
        f = of(member)
        f.scene_units[scene] = f.scene_units.get(scene, 0) + int(units)
    _read_nodes(session, member_ids, of)
    return facts


def _aware(value: datetime) -> datetime:
    if isinstance(value, str):  # SQLite's MAX() of a timestamp comes back as its text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo("UTC"))


def _read_categories(
    session: Session,
    member_ids: Sequence[str] | None,
    of: Callable[[object], rules.MemberFacts],
) -> None:
    net = OrderLine.paid_fen - OrderLine.refunded_fen
    rows = session.execute(
        _lines(
            Order.member_id,
            Category.code,
            OrderLine.unit_price_fen,
            func.sum(net),
            member_ids=member_ids,
        )
        .join(Sku, Sku.code == OrderLine.sku)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .group_by(Order.member_id, Category.code, OrderLine.unit_price_fen)
    ).all()
    cuts = _category_price_cuts(session, {str(r[1]) for r in rows})
    for member, category, unit_price, spend in rows:
        f = of(member)
        fen = int(spend or 0)
        f.category_spend[str(category)] = f.category_spend.get(str(category), 0) + fen
        position = rules.price_position(int(unit_price), cuts.get(str(category)))
        f.price_position += position * fen
        f.price_weight += fen


def _category_price_cuts(
    session: Session, categories: Iterable[str]
) -> dict[str, tuple[int, int] | None]:
    wanted = sorted(set(categories))
    prices: dict[str, list[int]] = defaultdict(list)
    for start in range(0, len(wanted), 500):
        for code, price in session.execute(
            select(Category.code, Sku.list_price_fen)
            .join(Product, Product.category_id == Category.id)
            .join(Sku, Sku.product_id == Product.id)
            .where(Category.code.in_(wanted[start : start + 500]))
        ):
            prices[str(code)].append(int(price))
    return {code: rules.tertile_cuts(prices[code]) for code in wanted}


def _read_nodes(
    session: Session,
    member_ids: Sequence[str] | None,
    of: Callable[[object], rules.MemberFacts],
) -> None:
    sold_at = _lines(
        Order.member_id,
        Order.id.label("order_id"),
        Order.store.label("node"),
        member_ids=member_ids,
    ).where(Order.store.is_not(None))
    fulfilled_at = _lines(
        Order.member_id,
        Order.id.label("order_id"),
        Fulfilment.node.label("node"),
        member_ids=member_ids,
    ).join(Fulfilment, Fulfilment.order_id == Order.id)
    both = union(sold_at, fulfilled_at).subquery()
    for member, node, orders in session.execute(
        select(both.c.member_id, both.c.node, func.count(func.distinct(both.c.order_id))).group_by(
            both.c.member_id, both.c.node
        )
    ):
        of(member).nodes[str(node)] = int(orders)


# --- whose facts: ids folded into the members they live in -------------------------------------


def _active_holders(session: Session) -> dict[str, int]:
    """Public id of every member → the id of the active member it lives in (itself when active);
    members erased, or merged into one erased, have none."""
    rows = session.execute(select(Member.id, Member.status, Member.survivor_id)).all()
    status = {int(r.id): str(r.status) for r in rows}
    survivor = {int(r.id): int(r.survivor_id) for r in rows if r.survivor_id is not None}
    holders: dict[str, int] = {}
    for member_id in status:
        seen, current = {member_id}, member_id
        while current in survivor and survivor[current] not in seen:
            current = survivor[current]
            seen.add(current)
        if status.get(current) == "active":
            holders[members_store.public_id(member_id)] = current
    return holders


def _fold(
    raw: dict[str, rules.MemberFacts], holders: dict[str, int]
) -> dict[int, rules.MemberFacts]:
    folded: dict[int, rules.MemberFacts] = {}
    for order_member, facts in raw.items():
        holder = holders.get(order_member)
        if holder is None:
            continue  # orders under an id that is no (active) member
        into = folded.setdefault(holder, rules.MemberFacts(member_id=holder))
        into.add(facts)
    return folded


# --- the baseline -------------------------------------------------------------------------------


def latest_baseline(session: Session) -> rules.RfmCuts | None:
    row = session.scalars(select(TagBaseline).order_by(TagBaseline.id.desc()).limit(1)).first()
    return None if row is None else rules.RfmCuts.from_json(row.cuts)


def _save_baseline(session: Session, cuts: rules.RfmCuts, today: date, now: datetime) -> None:
    session.add(
        TagBaseline(as_of=today, members=cuts.members, cuts=cuts.as_json(), computed_at=now)
    )
    session.flush()


def _everyone(session: Session, zone: ZoneInfo) -> dict[int, rules.MemberFacts]:
    return _fold(_read_facts(session, None, zone), _active_holders(session))


# --- refreshing ---------------------------------------------------------------------------------


def _rows(member_id: int, tags: list[rules.Tag], now: datetime) -> list[dict[str, object]]:
    return [
        {
            "member_id": member_id,
            "kind": t.kind.value,
            "value": t.value[:64],
            "score": t.score,
            "computed_at": now,
        }
        for t in tags
    ]


@dataclass(frozen=True)
class Computed:
    """Everyone's facts, the RFM cut points and the lapse model's figures, read but not stored."""

    facts: dict[int, rules.MemberFacts]
    cuts: rules.RfmCuts
    alive: dict[int, float] | None
    today: date
    now: datetime


def compute_all(session: Session, *, clock: Clock | None = None) -> Computed:
    """Read every member's facts and fit the lapse model: the slow, read-only half of a full
    refresh, so that it can run outside the writing transaction."""
    clock = clock or SystemClock()
    now = clock.now()
    zone = ZoneInfo(get_settings().timezone)
    facts = _everyone(session, zone)
    cuts = rules.rfm_cuts(list(facts.values()))
    alive = _all_probabilities_alive(session, clock)
    return Computed(facts, cuts, alive, business_day(now, zone), now)


def store_all(
    session: Session,
    computed: Computed,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RefreshReport:
    """Replace every stored tag with those `computed` gives, and keep its cut points.

    `progress(done, total)` is told as members' tags are written."""
    facts, cuts, alive, now = computed.facts, computed.cuts, computed.alive, computed.now
    _save_baseline(session, cuts, computed.today, now)
    session.execute(delete(MemberTag))
    total, written = len(facts), 0
    batch: list[dict[str, object]] = []
    for done, member_id in enumerate(sorted(facts), start=1):
        f = facts[member_id]
        f.probability_alive = alive.get(member_id) if alive is not None else None
        batch += _rows(member_id, rules.member_tags(f, cuts), now)
        if len(batch) >= _INSERT_BATCH:
            bulk_insert(session, _TABLE, batch)
            written += len(batch)
            batch = []
            if progress:
                progress(done, total)
    bulk_insert(session, _TABLE, batch)
    written += len(batch)
    if progress:
        progress(total, total)
    return RefreshReport(total, written, cuts, alive is not None, now)


def refresh_all(
    session: Session,
    *,
    clock: Clock | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RefreshReport:
    """Recompute every member's tags and the RFM baseline in one transaction; replaces every
    stored tag. (`yipan tags refresh` reads in one transaction and writes in another.)"""
    return store_all(session, compute_all(session, clock=clock), progress=progress)


def _all_probabilities_alive(session: Session, clock: Clock) -> dict[int, float] | None:
    """Every valued member's probability alive from a fresh fit, which becomes the model this
    process keeps (so a member's later refresh scores against the same fit); None while the
    model cannot be fitted."""
    settings = member_value.MemberValueSettings()
    try:
        fitted, values = member_value.value_members(session, clock=clock)
    except Conflict as refused:
        log.info("tags: no lapse risk, the member-value model is refused: %s", refused.message)
        return None
    member_value.models.get(
        session,
        (fitted.as_of, settings.min_repeat_members),
        lambda: fitted,
        max_age_seconds=settings.cache_seconds,
        refresh=True,
    )
    return {
        members_store.parse_id(v.member_id): v.probability_alive
        for v in values
        if v.probability_alive is not None
    }


def _probability_alive(session: Session, member_id: str, clock: Clock) -> float | None:
    try:
        fitted = member_value.cached_model(session, clock=clock)
    except Conflict:
        return None
    return member_value.score_member(session, member_id, fitted).probability_alive


def refresh_member(session: Session, member_id: str, *, clock: Clock | None = None) -> MemberTags:
    """Recompute one member's tags (an id merged away refreshes the member it lives in) from
    the orders of every id it has had, against the latest baseline. UnknownMember (404)."""
    clock = clock or SystemClock()
    now = clock.now()
    zone = ZoneInfo(get_settings().timezone)
    holder = members_store.holder(session, members_store.load_member(session, member_id))
    ids = [holder.id, *members_store.merged_into(session, holder.id)]
    session.execute(delete(MemberTag).where(MemberTag.member_id.in_(ids)))
    if holder.status == "active":
        cuts = latest_baseline(session)
        if cuts is None:
            cuts = rules.rfm_cuts(list(_everyone(session, zone).values()))
            _save_baseline(session, cuts, business_day(now, zone), now)
        public = [members_store.public_id(i) for i in ids]
        facts = _fold(_read_facts(session, public, zone), dict.fromkeys(public, holder.id))
        f = facts.get(holder.id, rules.MemberFacts(member_id=holder.id))
        if f.purchases > 0:
            f.probability_alive = _probability_alive(session, public[0], clock)
        written = rules.member_tags(f, cuts)
        bulk_insert(session, _TABLE, _rows(holder.id, written, now))
    else:
        written = []
    return MemberTags(
        member_id=members_store.public_id(holder.id),
        asked=member_id,
        computed_at=now if written else None,
        tags=_ordered([StoredTag(t.kind.value, t.value, t.score) for t in written]),
    )


def tags_of(session: Session, member_id: str) -> MemberTags:
    """The stored tags of a member (an id merged away answers for its survivor), in kind order,
    each kind's values best first. UnknownMember (404) for no such member."""
    member = profile.get_member(session, member_id)
    holder = members_store.parse_id(member.id)
    rows = session.execute(
        select(MemberTag.kind, MemberTag.value, MemberTag.score, MemberTag.computed_at).where(
            MemberTag.member_id == holder
        )
    ).all()
    return MemberTags(
        member_id=member.id,
        asked=member_id,
        computed_at=max((r.computed_at for r in rows), default=None),
        tags=_ordered([StoredTag(r.kind, r.value, r.score) for r in rows]),
    )


def with_tags(session: Session, view: Member360) -> Member360:
    """The member's 360 view with their tags as the last refresh left them. The members context
    cannot ask insights (insights reads members), so the edge that shows a 360 view adds them,
    as it adds the coupons."""
    return view.model_copy(update={"tags": held_tags(session, view.profile.id)})


def held_tags(session: Session, member_id: str) -> list[MemberTagOut]:
    """The stored tags of a member (a member's own id, not one merged away), in kind order."""
    rows = session.execute(
        select(MemberTag.kind, MemberTag.value, MemberTag.score).where(
            MemberTag.member_id == members_store.parse_id(member_id)
        )
    ).all()
    tags = _ordered([StoredTag(r.kind, r.value, r.score) for r in rows])
    return [MemberTagOut(kind=t.kind, value=t.value, score=t.score) for t in tags]


_KIND_ORDER = {kind.value: i for i, kind in enumerate(rules.TagKind)}


def _ordered(tags: list[StoredTag]) -> list[StoredTag]:
    """Kinds in the domain's order; within a kind the highest score first (the top category)."""
    return sorted(tags, key=lambda t: (_KIND_ORDER.get(t.kind, 99), -(t.score or 0), t.value))


# --- event handlers -----------------------------------------------------------------------------


def _refresh_quietly(session: Session, member_id: object) -> None:
    """Tags are derived data a full refresh rebuilds: a member's refresh that fails is logged
    and rolled back to its savepoint, never holding back the event's other handlers (points,
    tiers)."""
    if not isinstance(member_id, str) or not member_id:
        return
    try:
        with session.begin_nested():
            refresh_member(session, member_id)
    except UnknownMember:
        return  # an id no member has (a channel's own customer id): nobody to tag
    except Exception:
        log.exception("tags: refreshing member %s failed; a full refresh will redo it", member_id)


def on_order_changed(session: Session, message: OutboxMessage) -> None:
    """Handler of `orders.OrderCompleted` and `orders.OrderReturned`: refresh the buyer's tags."""
    _refresh_quietly(session, message.payload.get("member_id"))


def on_members_changed(session: Session, message: OutboxMessage) -> None:
    """Handler of `members.MembersMerged`, `members.MemberUnmerged` and `members.MemberErased`:
    the tags follow the member a merge kept; an un-merge refreshes both; an erased member's go."""
    payload = message.payload
    for key in ("member", "restored"):
        _refresh_quietly(session, payload.get(key))
