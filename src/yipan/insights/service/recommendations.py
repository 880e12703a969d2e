"""Recommendations: a collaborative-filtering model trained on members' purchases, served per
member under the rules of `insights.domain.recommendations` (sizes, deliverability, no repeats
of recent non-consumable purchases). docs/insights.md ("Recommendations") describes it.

Training. One set-based read of the orders: per member and SKU, on how many completed orders the
member kept some of it (serving and the evaluation also read when last). SKUs fold into their
products (the unit recommended); ids merged away count for the member they now live in. The
members × products matrix (order counts) is fitted with `implicit` (0.7): an item-item nearest-
neighbour model (BM25 weighting by default, `YIPAN_RECOMMENDATIONS_ALGORITHM`), CPU only, on
`YIPAN_RECOMMENDATIONS_THREADS` threads (1 by default: it takes well under a second even on the
full demo). A member's scores are their purchase row times the item-item similarity, blended
with popularity (`popularity_weight`) so that thin histories still fill a list. Nothing is
stored: the trained model is kept per process for `YIPAN_RECOMMENDATIONS_CACHE_SECONDS`
(`cached_model`), so the migration for recommendations creates no table.

Serving. The member's own purchases (under every id they have had) give the history row, their
sizes per category and what they bought recently. Deliverable SKUs: those with ATP (on hand −
reserved − safety stock) above zero at an active store within `radius_km` of the member's store
(the `store` asked for, else the store the member is bound to, else the store of most of their
orders), or at any active node that ships (the online pool). Channel buffers are not applied: a
recommendation is no promise; the order placed from it is routed and reserved as usual.

Offline evaluation (`evaluate`). Train on purchases before a cut-off, rank for every member who
bought both before and after it, and score the first k against the products they bought after:
the model against popularity, under the same exclusion of recent purchases. Deliverability is
not applied there: the stock at the cut-off is not known, only today's, and the filter would
drop the same products from both lists.
"""

from __future__ import annotations

import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yipan.catalog.models import Category, Product, Sku
from yipan.insights.domain import recommendations as rules
from yipan.insights.domain.kpis import SOLD_LINE_STATUSES, STORE_TYPES
from yipan.insights.domain.periods import business_day
from yipan.insights.service.model_cache import ModelCache
from yipan.inventory.domain import haversine_km
from yipan.inventory.errors import UnknownNode
from yipan.inventory.models import Node, StockLevel
from yipan.kernel.clock import Clock, FixedClock, SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.errors import InvalidInput
from yipan.members.models import Member
from yipan.members.service import profile
from yipan.members.service import store as members_store
from yipan.orders.models import Order, OrderLine

Algorithm = Literal["bm25", "cosine", "tfidf"]
MAX_LIMIT = 50
NEARBY_SHOWN = 3  # stores named per SKU
SKUS_SHOWN = 6  # SKUs offered per product: those in a store nearby first
CANDIDATE_WINDOW = 10  # products whose stock is read at a time (at least twice the limit)


class RecommendationSettings(BaseSettings):
    """`YIPAN_RECOMMENDATIONS_*`: the model, the rules and how long a process keeps a model."""

    model_config = SettingsConfigDict(env_prefix="YIPAN_RECOMMENDATIONS_", extra="ignore")

    cache_seconds: float = 3600.0
    algorithm: Algorithm = "bm25"
    neighbours: int = 50
    popularity_weight: float = 0.3
    threads: int = 1
    recent_days: int = 90
    radius_km: float = 10.0
    consumable_prefixes: tuple[str, ...] = rules.DEFAULT_CONSUMABLE_PREFIXES


class InvalidLimit(InvalidInput):
    code = "INVALID_LIMIT"


@dataclass(frozen=True)
class RecommendationModel:
    """Item-item similarities over every product, and each product's popularity (distinct
    buyers scaled to [0, 1]), from purchases before `trained_until` (None: all of them)."""

    items: tuple[rules.Item, ...]
    sku_item: dict[str, int]
    sku_size: dict[str, str | None]
    sku_id: dict[str, int]
    similarity: sp.csr_matrix
    popularity: np.ndarray
    algorithm: str
    neighbours: int
    popularity_weight: float
    members: int
    purchases: int
    trained_until: datetime | None
    fitted_at: datetime
    train_seconds: float

    def scores(self, history: np.ndarray) -> np.ndarray:
        """A member's scores from their purchase row (order counts per item)."""
        if not history.any():
            return self.popularity.copy()
        row = sp.csr_matrix(history.astype(np.float32).reshape(1, -1))
        learned = np.asarray((row @ self.similarity).todense()).ravel()
        return rules.blend(learned, self.popularity, self.popularity_weight)


@dataclass(frozen=True)
class OfferedSku:
    sku: str
    size: str | None
    # Stores near the member with ATP, nearest first, at most NEARBY_SHOWN.
    nearby_stores: tuple[str, ...]
    ships: bool  # in stock at a node that ships (the online pool)


@dataclass(frozen=True)
class Recommendation:
    product: str
    name: str
    category: str
    score: float
    skus: tuple[OfferedSku, ...]


@dataclass(frozen=True)
class MemberRecommendations:
    """`personalised` is False for a member with no purchases: the list is then the most popular
    deliverable products."""

    member_id: str
    store: str | None  # the store whose neighbourhood delivers
    radius_km: float
    personalised: bool
    purchases: int  # orders × products the member bought, all ids counted
    sizes: dict[str, tuple[str, ...]]  # the member's sizes per category
    items: tuple[Recommendation, ...]
    algorithm: str
    fitted_at: datetime


@dataclass(frozen=True)
class Evaluation:
    cutoff: datetime
    k: int
    members: int
    precision_at_k: float
    recall_at_k: float
    baseline_precision_at_k: float
    baseline_recall_at_k: float
    train_seconds: float
    algorithm: str


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Catalogue:
    items: tuple[rules.Item, ...]
    sku_item: dict[str, int]
    sku_size: dict[str, str | None]
    sku_id: dict[str, int]


def _size_of(attributes: dict[str, Any] | None) -> str | None:
    size = (attributes or {}).get("size")
    return str(size) if size not in (None, "") else None


def read_catalogue(session: Session) -> _Catalogue:
    """Active products with their active SKUs, by product code."""
    rows = session.execute(
        select(Product.code, Product.name, Category.code, Sku.code, Sku.attributes, Sku.id)
        .join(Category, Category.id == Product.category_id)
        .join(Sku, Sku.product_id == Product.id)
        .where(Product.status == "active", Sku.status == "active")
        .order_by(Product.code, Sku.code)
    ).all()
    grouped: dict[str, tuple[str, str, list[rules.Variant]]] = {}
    sku_id: dict[str, int] = {}
    for product, name, category, sku, attributes, number in rows:
        sku_id[sku] = int(number)
        grouped.setdefault(product, (name, category, []))[2].append(
            rules.Variant(sku, _size_of(attributes))
        )
    items = tuple(
        rules.Item(code, name, category, tuple(variants))
        for code, (name, category, variants) in grouped.items()
    )
    sku_item = {v.sku: i for i, item in enumerate(items) for v in item.variants}
    sku_size = {v.sku: v.size for item in items for v in item.variants}
    return _Catalogue(items, sku_item, sku_size, sku_id)


@dataclass(frozen=True)
class _Line:
    member: str
    sku: str
    orders: int
    last_at: datetime


def _purchases(
    *columns: Any,
    before: datetime | None,
    since: datetime | None,
    member_ids: Sequence[str] | None,
) -> Any:
    kept = OrderLine.quantity - OrderLine.returned_quantity
    stmt = (
        select(Order.member_id, OrderLine.sku, func.count(func.distinct(Order.id)), *columns)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(
            Order.member_id.is_not(None),
            Order.state == "completed",
            OrderLine.status.in_(SOLD_LINE_STATUSES),
            kept > 0,
        )
        .group_by(Order.member_id, OrderLine.sku)
    )
    if before is not None:
        stmt = stmt.where(Order.placed_at < before)
    if since is not None:
        stmt = stmt.where(Order.placed_at >= since)
    if member_ids is not None:
        stmt = stmt.where(Order.member_id.in_(list(member_ids)))
    return stmt


def read_purchases(
    session: Session,
    *,
    before: datetime | None = None,
    since: datetime | None = None,
    member_ids: Sequence[str] | None = None,
) -> list[_Line]:
    """Per member id and SKU: completed orders on which the member kept some of it, and when
    the last was placed; one set-based statement."""
    stmt = _purchases(func.max(Order.placed_at), before=before, since=since, member_ids=member_ids)
    return [_Line(str(m), str(s), int(n), at) for m, s, n, at in session.execute(stmt)]


def order_counts(session: Session, *, before: datetime | None = None) -> list[tuple[str, str, int]]:
    """(member id, SKU, orders) as `read_purchases` counts them, without the dates: what
    training needs, read several times faster."""
    stmt = _purchases(before=before, since=None, member_ids=None)
    return [(str(m), str(s), int(n)) for m, s, n in session.execute(stmt)]


def _holders(session: Session) -> dict[str, str]:
    """Public id of every member merged away → public id of the member it now lives in."""
    rows = session.execute(
        select(Member.id, Member.survivor_id).where(Member.survivor_id.is_not(None))
    ).all()
    survivor = {int(r.id): int(r.survivor_id) for r in rows}
    holders: dict[str, str] = {}
    for member_id, current in survivor.items():
        seen = {member_id}
        while current in survivor and current not in seen:
            seen.add(current)
            current = survivor[current]
        holders[members_store.public_id(member_id)] = members_store.public_id(current)
    return holders


def _matrix(
    lines: Sequence[tuple[str, str, int]], catalogue: _Catalogue, holders: dict[str, str]
) -> tuple[list[str], sp.csr_matrix]:
    """Members × items, order counts (a product's SKUs summed)."""
    codes: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for member, sku, orders in lines:
        item = catalogue.sku_item.get(sku)
        if item is None:
            continue
        holder = holders.get(member, member)
        rows.append(codes.setdefault(holder, len(codes)))
        cols.append(item)
        values.append(float(orders))
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), (rows, cols)),
        shape=(len(codes), len(catalogue.items)),
    )
    matrix.sum_duplicates()
    return list(codes), matrix


# --- training ---------------------------------------------------------------------------------


def _recommender(settings: RecommendationSettings) -> Any:
    # Imported when a model is trained: loading implicit takes about a second, which every
    # process start (the CLI, each worker) would otherwise pay.
    from implicit import nearest_neighbours as nn  # type: ignore[import-untyped]

    kinds = {
        "bm25": nn.BM25Recommender,
        "cosine": nn.CosineRecommender,
        "tfidf": nn.TFIDFRecommender,
    }
    return kinds[settings.algorithm](K=settings.neighbours, num_threads=settings.threads)


def train(
    matrix: sp.csr_matrix, settings: RecommendationSettings
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Item-item similarities (items × items) and popularity from a members × items matrix."""
    buyers = np.asarray((matrix > 0).sum(axis=0)).ravel()
    items = matrix.shape[1]
    if matrix.nnz == 0:
        return sp.csr_matrix((items, items), dtype=np.float32), rules.popularity(buyers)
    model = _recommender(settings)
    with warnings.catch_warnings():  # implicit converts its own weighted matrix to CSR, and says so
        warnings.filterwarnings("ignore", message="Method expects CSR input")
        model.fit(matrix.astype(np.float64).tocsr(), show_progress=False)
    similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
    return similarity, rules.popularity(buyers)


def fit_model(
    session: Session,
    *,
    before: datetime | None = None,
    clock: Clock | None = None,
    settings: RecommendationSettings | None = None,
) -> RecommendationModel:
    """Train on every member's purchases placed before `before` (default: all of them)."""
    started = time.perf_counter()
    catalogue = read_catalogue(session)
    lines = order_counts(session, before=before)
    return _fit(catalogue, lines, _holders(session), before, clock, settings, started)[0]


def _fit(
    catalogue: _Catalogue,
    lines: Sequence[tuple[str, str, int]],
    holders: dict[str, str],
    before: datetime | None,
    clock: Clock | None,
    settings: RecommendationSettings | None,
    started: float,
) -> tuple[RecommendationModel, list[str], sp.csr_matrix]:
    settings = settings or RecommendationSettings()
    members, matrix = _matrix(lines, catalogue, holders)
    similarity, popular = train(matrix, settings)
    model = RecommendationModel(
        items=catalogue.items,
        sku_item=catalogue.sku_item,
        sku_size=catalogue.sku_size,
        sku_id=catalogue.sku_id,
        similarity=similarity,
        popularity=popular,
        algorithm=settings.algorithm,
        neighbours=settings.neighbours,
        popularity_weight=settings.popularity_weight,
        members=len(members),
        purchases=int(matrix.sum()),
        trained_until=before,
        fitted_at=(clock or SystemClock()).now(),
        train_seconds=time.perf_counter() - started,
    )
    return model, members, matrix


# --- the trained model kept per process -------------------------------------------------------


models: ModelCache[RecommendationModel] = ModelCache()


def cached_model(
    session: Session, *, clock: Clock | None = None, refresh: bool = False
) -> RecommendationModel:
    """The model trained on all purchases, trained now or this process's copy when younger than
    `YIPAN_RECOMMENDATIONS_CACHE_SECONDS`."""
    settings = RecommendationSettings()
    key = (settings.algorithm, settings.neighbours, settings.popularity_weight)
    return models.get(
        session,
        key,
        lambda: fit_model(session, clock=clock, settings=settings),
        max_age_seconds=settings.cache_seconds,
        refresh=refresh,
    )


# --- serving ----------------------------------------------------------------------------------


@dataclass
class _Stock:
    nearby: dict[str, list[str]]  # SKU → stores near the member with ATP, nearest first
    ships: set[str]  # SKUs with ATP at a node that ships

    @property
    def deliverable(self) -> set[str]:
        return self.ships | set(self.nearby)


@dataclass(frozen=True)
class _Reach:
    """The nodes that can deliver to a member: stores near theirs (km away) and shipping nodes."""

    nearby_km: dict[int, float]
    shipping: frozenset[int]
    code: dict[int, str]


def _anchor(session: Session, store: str | None, holder: Any, ids: Sequence[str]) -> str | None:
    if store is not None:
        return store
    if holder.store is not None:
        return str(holder.store)
    counted = session.execute(
        select(Order.store, func.count())
        .where(Order.member_id.in_(list(ids)), Order.store.is_not(None))
        .group_by(Order.store)
    ).all()
    if not counted:
        return None
    return str(min(counted, key=lambda r: (-int(r[1]), str(r[0])))[0])


def _reach(session: Session, store: str | None, radius_km: float) -> _Reach:
    nodes = session.execute(
        select(Node.id, Node.code, Node.type, Node.latitude, Node.longitude, Node.can_ship).where(
            Node.active.is_(True)
        )
    ).all()
    nearby: dict[int, float] = {}
    if store is not None:
        anchor = next((n for n in nodes if n.code == store and n.type in STORE_TYPES), None)
        if anchor is None:
            raise UnknownNode(f"no active store {store}", node=store)
        for n in nodes:
            if n.type in STORE_TYPES:
                km = haversine_km(anchor.latitude, anchor.longitude, n.latitude, n.longitude)
                if km <= radius_km:
                    nearby[int(n.id)] = km
    return _Reach(
        nearby_km=nearby,
        shipping=frozenset(int(n.id) for n in nodes if n.can_ship),
        code={int(n.id): str(n.code) for n in nodes},
    )


def _stock(session: Session, reach: _Reach, skus: dict[str, int]) -> _Stock:
    """Where each of `skus` can come from: ATP (on hand − reserved − safety stock) above zero at
    a store near the member or at a node that ships."""
    wanted = sorted(reach.shipping | set(reach.nearby_km))
    if not wanted or not skus:
        return _Stock({}, set())
    code_of = {number: code for code, number in skus.items()}
    rows = session.execute(
        select(StockLevel.sku_id, StockLevel.node_id).where(
            StockLevel.sku_id.in_(sorted(code_of)),
            StockLevel.node_id.in_(wanted),
            StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock > 0,
        )
    ).all()
    nearby: dict[str, list[str]] = defaultdict(list)
    ships: set[str] = set()
    for sku_id, node_id in rows:
        sku = code_of[sku_id]
        if node_id in reach.shipping:
            ships.add(str(sku))
        if node_id in reach.nearby_km:
            nearby[str(sku)].append(reach.code[node_id])
    km = {reach.code[i]: d for i, d in reach.nearby_km.items()}
    for stores in nearby.values():
        stores.sort(key=lambda c: (km[c], c))
    return _Stock(dict(nearby), ships)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidLimit(f"limit must be from 1 to {MAX_LIMIT}, got {limit}", limit=limit)


def recommend_for_member(
    session: Session,
    member_id: str,
    *,
    limit: int = 10,
    store: str | None = None,
    model: RecommendationModel | None = None,
    clock: Clock | None = None,
) -> MemberRecommendations:
    """Up to `limit` products for a member with the SKUs to offer. An id merged away answers
    for the member it lives in; `UnknownMember` (404) for no such member, `UnknownNode` (404)
    for a `store` that is not an active store, `InvalidLimit` (422) for a limit out of 1…50."""
    _check_limit(limit)
    settings = RecommendationSettings()
    clock = clock or SystemClock()
    holder = profile.get_member(session, member_id)
    absorbed = members_store.merged_into(session, members_store.parse_id(holder.id))
    ids = [holder.id, *(members_store.public_id(i) for i in absorbed)]
    fitted = model or cached_model(session, clock=clock)
    anchor = _anchor(session, store, holder, ids)
    reach = _reach(session, anchor, settings.radius_km)

    lines = read_purchases(session, member_ids=ids)
    history = np.zeros(len(fitted.items), dtype=np.float64)
    bought: dict[int, tuple[int, datetime]] = {}
    sized: list[tuple[str, str | None]] = []
    for line in lines:
        item = fitted.sku_item.get(line.sku)
        if item is None:
            continue
        history[item] += line.orders
        orders, last = bought.get(item, (0, line.last_at))
        bought[item] = (orders + line.orders, max(last, line.last_at))
        sized.append((fitted.items[item].category, fitted.sku_size.get(line.sku)))
    zone = ZoneInfo(get_settings().timezone)
    today = business_day(clock.now(), zone).toordinal()
    skip = rules.excluded(
        (rules.Bought(i, n, business_day(at, zone).toordinal()) for i, (n, at) in bought.items()),
        fitted.items,
        today=today,
        recent_days=settings.recent_days,
        consumable=lambda c: rules.is_consumable(c, settings.consumable_prefixes),
    )
    sizes = rules.member_sizes(sized)
    scores = fitted.scores(history)
    ranked = rules.top_items(scores, fitted.items, skip, len(fitted.items))
    # Stock is read for the best candidates only, a window at a time, until the list is full.
    window = max(CANDIDATE_WINDOW, 2 * limit)
    stock = _Stock({}, set())
    picks: list[rules.Pick] = []
    for start in range(0, len(ranked), window):
        candidates = ranked[start : start + window]
        skus = {
            s: fitted.sku_id[s]
            for i in candidates
            for s in rules.offered_skus(fitted.items[i], sizes)
        }
        found = _stock(session, reach, skus)
        stock.nearby.update(found.nearby)
        stock.ships.update(found.ships)
        picks += rules.pick(
            fitted.items,
            candidates,
            scores,
            sizes=sizes,
            deliverable=found.deliverable,
            limit=limit - len(picks),
        )
        if len(picks) == limit:
            break
    return MemberRecommendations(
        member_id=holder.id,
        store=anchor,
        radius_km=settings.radius_km,
        personalised=bool(bought),
        purchases=sum(n for n, _ in bought.values()),
        sizes={c: tuple(sorted(s)) for c, s in sorted(sizes.items())},
        items=tuple(
            Recommendation(
                product=fitted.items[p.item].product,
                name=fitted.items[p.item].name,
                category=fitted.items[p.item].category,
                score=round(p.score, 6),
                skus=tuple(
                    OfferedSku(
                        sku=sku,
                        size=fitted.sku_size.get(sku),
                        nearby_stores=tuple(stock.nearby.get(sku, ())[:NEARBY_SHOWN]),
                        ships=sku in stock.ships,
                    )
                    for sku in sorted(p.skus, key=lambda c: c not in stock.nearby)[:SKUS_SHOWN]
                ),
            )
            for p in picks
        ),
        algorithm=fitted.algorithm,
        fitted_at=fitted.fitted_at,
    )


# --- offline evaluation -----------------------------------------------------------------------


def evaluate(
    session: Session,
    *,
    cutoff: datetime,
    k: int = 10,
    settings: RecommendationSettings | None = None,
) -> Evaluation:
    """Precision@k and recall@k of the model and of popularity: trained on purchases before
    `cutoff`, judged on the products each member bought from `cutoff` on."""
    settings = settings or RecommendationSettings()
    started = time.perf_counter()
    catalogue = read_catalogue(session)
    holders = _holders(session)
    before = read_purchases(session, before=cutoff)
    model, members, train_matrix = _fit(
        catalogue,
        [(b.member, b.sku, b.orders) for b in before],
        holders,
        cutoff,
        FixedClock(cutoff),
        settings,
        started,
    )
    after = read_purchases(session, since=cutoff)
    row_of = {m: i for i, m in enumerate(members)}
    relevant: dict[int, set[int]] = defaultdict(set)
    for line in after:
        item = model.sku_item.get(line.sku)
        row = row_of.get(holders.get(line.member, line.member))
        if item is not None and row is not None:
            relevant[row].add(item)
    last_day = _last_days(before, catalogue, holders, row_of)
    zone = ZoneInfo(get_settings().timezone)
    today = business_day(cutoff, zone).toordinal()
    ranked: list[list[int]] = []
    baseline: list[list[int]] = []
    wanted: list[set[int]] = []
    for row in sorted(relevant):
        history = train_matrix.getrow(row).toarray().ravel()
        skip = rules.excluded(
            (rules.Bought(i, 1, day) for i, day in last_day.get(row, {}).items()),
            model.items,
            today=today,
            recent_days=settings.recent_days,
            consumable=lambda c: rules.is_consumable(c, settings.consumable_prefixes),
        )
        ranked.append(rules.top_items(model.scores(history), model.items, skip, k))
        baseline.append(rules.top_items(model.popularity, model.items, skip, k))
        wanted.append(relevant[row])
    precision, recall = rules.precision_recall_at_k(ranked, wanted, k)
    base_precision, base_recall = rules.precision_recall_at_k(baseline, wanted, k)
    return Evaluation(
        cutoff=cutoff,
        k=k,
        members=len(wanted),
        precision_at_k=precision,
        recall_at_k=recall,
        baseline_precision_at_k=base_precision,
        baseline_recall_at_k=base_recall,
        train_seconds=model.train_seconds,
        algorithm=model.algorithm,
    )


def _last_days(
    lines: Sequence[_Line],
    catalogue: _Catalogue,
    holders: dict[str, str],
    row_of: dict[str, int],
) -> dict[int, dict[int, int]]:
    """Per training member row: item → business day of the last purchase in `lines`."""
    zone = ZoneInfo(get_settings().timezone)
    found: dict[int, dict[int, int]] = defaultdict(dict)
    for line in lines:
        item = catalogue.sku_item.get(line.sku)
        row = row_of.get(holders.get(line.member, line.member))
        if item is None or row is None:
            continue
        day = business_day(line.last_at, zone).toordinal()
        found[row][item] = max(found[row].get(item, day), day)
    return found
