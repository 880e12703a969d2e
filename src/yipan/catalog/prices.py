"""Price policy use cases: exceptions to the list price and the price a SKU has where.

One list price holds for every channel by default (`Sku.list_price_fen`). A channel or region
that pays another price has an explicit exception, with a reason and who set it, and the most
specific exception in force wins (`domain.effective_price`). These are service functions like
those of `catalog.service`: they take the caller's session and never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from yipan.catalog.domain import PricePolicy, PriceRule, effective_price, windows_overlap
from yipan.catalog.errors import OverlappingPriceException, UnknownPriceException, UnknownSkuRef
from yipan.catalog.events import PriceExceptionRemoved, PriceExceptionSaved
from yipan.catalog.models import Category, PriceException, Product, Sku
from yipan.catalog.schemas import (
    EffectivePrice,
    PriceExceptionIn,
    PriceExceptionOut,
    PriceExceptionPage,
    PriceExceptionRef,
    PriceExceptionStatus,
)
from yipan.catalog.service import find_sku_ids, sku_ids
from yipan.events import service as events
from yipan.kernel.clock import Clock, SystemClock

_CHUNK = 500
_BOOKKEEPING = frozenset({"updated_by", "updated_at"})


# -- price policy: exceptions to the list price ------------------------------------------------


def create_price_exception(
    session: Session, exception_in: PriceExceptionIn, *, clock: Clock | None = None
) -> tuple[PriceExceptionOut, bool]:
    """Set an exception to a SKU's list price; returns it and whether it was created.

    Sending the same exception again (same SKU, scope, price, reason and window) returns the one
    already set; one that overlaps another of the same SKU and scope in time is refused.
    """
    now = (clock or SystemClock()).now()
    sku = _lock_sku_for_prices(session, exception_in.sku)
    same = session.scalar(
        select(PriceException).where(*_same_exception(sku.id, exception_in)).limit(1)
    )
    if same is not None:
        return _exception_out(same, sku, now), False
    _refuse_overlap(session, sku, exception_in, exclude_id=None)
    row = PriceException(
        sku_id=sku.id,
        created_by=exception_in.actor,
        created_at=now,
        **_exception_fields(exception_in, now),
    )
    session.add(row)
    session.flush()
    _record_saved(session, row, sku, created=True, clock=clock)
    return _exception_out(row, sku, now), True


def replace_price_exception(
    session: Session,
    exception_id: int,
    exception_in: PriceExceptionIn,
    *,
    clock: Clock | None = None,
) -> PriceExceptionOut:
    """Change an exception: price, reason, window or scope. Ending one early is a new
    `valid_until`, which keeps what it explained in the past explained."""
    now = (clock or SystemClock()).now()
    row = _price_exception(session, exception_id)
    old_sku = session.get_one(Sku, row.sku_id)
    sku = _lock_sku_for_prices(session, exception_in.sku, also=old_sku)
    _refuse_overlap(session, sku, exception_in, exclude_id=row.id)
    wanted = {"sku_id": sku.id, **_exception_fields(exception_in, now)}
    # Who sends it and when do not make a change: the same body again changes nothing.
    if any(getattr(row, f) != v for f, v in wanted.items() if f not in _BOOKKEEPING):
        for field, value in wanted.items():
            setattr(row, field, value)
        session.flush()
        _record_saved(session, row, sku, created=False, clock=clock)
    return _exception_out(row, sku, now)


def delete_price_exception(
    session: Session, exception_id: int, *, actor: str, clock: Clock | None = None
) -> None:
    """Take an exception away (a mistake). To stop one that was used, end it with `valid_until`."""
    row = _price_exception(session, exception_id)
    sku = _lock_sku_for_prices(session, session.get_one(Sku, row.sku_id).code)
    session.delete(row)
    session.flush()
    events.record(
        session,
        PriceExceptionRemoved(
            sku=sku.code,
            exception_id=exception_id,
            channel=row.channel,
            region=row.region,
            actor=actor,
        ),
        clock=clock,
    )


def get_price_exception(
    session: Session, exception_id: int, *, clock: Clock | None = None
) -> PriceExceptionOut:
    row = _price_exception(session, exception_id)
    return _exception_out(row, session.get_one(Sku, row.sku_id), (clock or SystemClock()).now())


def list_price_exceptions(
    session: Session,
    *,
    sku: str | None = None,
    channel: str | None = None,
    region: str | None = None,
    status: PriceExceptionStatus | None = None,
    offset: int = 0,
    limit: int = 50,
    clock: Clock | None = None,
) -> PriceExceptionPage:
    """Exceptions newest first; `channel` and `region` match exactly (region-only exceptions are
    not listed under a channel)."""
    now = (clock or SystemClock()).now()
    stmt = select(PriceException, Sku).join(Sku, Sku.id == PriceException.sku_id)
    if sku:
        stmt = stmt.where(Sku.code == sku)
    if channel:
        stmt = stmt.where(PriceException.channel == channel)
    if region:
        stmt = stmt.where(PriceException.region == region)
    if status == "in_force":
        stmt = stmt.where(_in_force(now))
    elif status == "scheduled":
        stmt = stmt.where(PriceException.valid_from > now)
    elif status == "ended":
        stmt = stmt.where(PriceException.valid_until <= now)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(PriceException.id.desc()).offset(offset).limit(limit)
    ).all()
    return PriceExceptionPage(
        items=[_exception_out(e, s, now) for e, s in rows], total=total, offset=offset, limit=limit
    )


def _lock_sku_for_prices(session: Session, code: str, *, also: Sku | None = None) -> Sku:
    """The SKU, locked: exceptions of one SKU are checked for overlap and written one writer at
    a time (SQLite's writers are serial already). Two SKUs are locked in id order."""
    sku_id = find_sku_ids(session, [code]).get(code)
    if sku_id is None:
        raise UnknownSkuRef(f"no SKU with code {code}", sku=code)
    ids = sorted({sku_id} | ({also.id} if also is not None else set()))
    locked = {
        s.id: s
        for s in session.scalars(
            select(Sku).where(Sku.id.in_(ids)).order_by(Sku.id).with_for_update()
        )
    }
    return locked[sku_id]


def _price_exception(session: Session, exception_id: int) -> PriceException:
    row = session.get(PriceException, exception_id)
    if row is None:
        raise UnknownPriceException(f"no price exception {exception_id}", exception_id=exception_id)
    return row


def _exception_fields(exception_in: PriceExceptionIn, now: datetime) -> dict[str, object]:
    return {
        "channel": exception_in.channel,
        "region": exception_in.region,
        "price_fen": exception_in.price_fen,
        "reason": exception_in.reason,
        # In UTC, as they read back from the database: the answer to a write matches a read.
        "valid_from": exception_in.valid_from and exception_in.valid_from.astimezone(UTC),
        "valid_until": exception_in.valid_until and exception_in.valid_until.astimezone(UTC),
        "updated_by": exception_in.actor,
        "updated_at": now,
    }


def _same_scope(sku_id: int, channel: str | None, region: str | None) -> list[ColumnElement[bool]]:
    return [
        PriceException.sku_id == sku_id,
        # SQLAlchemy turns `== None` into IS NULL, so an absent scope part matches absent only.
        PriceException.channel == channel,
        PriceException.region == region,
    ]


def _same_exception(sku_id: int, e: PriceExceptionIn) -> list[ColumnElement[bool]]:
    return [
        *_same_scope(sku_id, e.channel, e.region),
        PriceException.price_fen == e.price_fen,
        PriceException.reason == e.reason,
        PriceException.valid_from == e.valid_from,
        PriceException.valid_until == e.valid_until,
    ]


def _refuse_overlap(
    session: Session, sku: Sku, e: PriceExceptionIn, *, exclude_id: int | None
) -> None:
    stmt = select(PriceException).where(*_same_scope(sku.id, e.channel, e.region))
    if exclude_id is not None:
        stmt = stmt.where(PriceException.id != exclude_id)
    for other in session.scalars(stmt.order_by(PriceException.id)):
        if windows_overlap(e.valid_from, e.valid_until, other.valid_from, other.valid_until):
            raise OverlappingPriceException(
                f"SKU {sku.code} already has exception {other.id} for "
                f"{_scope_text(e.channel, e.region)} in force for part of that time; "
                "change that one or pick a window that does not overlap it",
                exception_id=other.id,
                valid_from=other.valid_from,
                valid_until=other.valid_until,
            )


def _scope_text(channel: str | None, region: str | None) -> str:
    parts = [f"channel {channel}" if channel else "", f"region {region}" if region else ""]
    return " in ".join(p for p in parts if p)


def _in_force(at: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return and_(
        or_(PriceException.valid_from.is_(None), PriceException.valid_from <= at),
        or_(PriceException.valid_until.is_(None), PriceException.valid_until > at),
    )


def _status(row: PriceException, now: datetime) -> PriceExceptionStatus:
    if row.valid_from is not None and now < row.valid_from:
        return "scheduled"
    if row.valid_until is not None and row.valid_until <= now:
        return "ended"
    return "in_force"


def price_exception_ref(rule: PriceException | PriceRule) -> PriceExceptionRef:
    return PriceExceptionRef(
        id=rule.id,
        channel=rule.channel,
        region=rule.region,
        price_fen=rule.price_fen,
        reason=rule.reason,
    )


def _exception_out(row: PriceException, sku: Sku, now: datetime) -> PriceExceptionOut:
    return PriceExceptionOut(
        **price_exception_ref(row).model_dump(),
        sku=sku.code,
        list_price_fen=sku.list_price_fen,
        currency=sku.currency,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status=_status(row, now),
        created_by=row.created_by,
        updated_by=row.updated_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _record_saved(
    session: Session, row: PriceException, sku: Sku, *, created: bool, clock: Clock | None
) -> None:
    events.record(
        session,
        PriceExceptionSaved(
            sku=sku.code,
            exception_id=row.id,
            created=created,
            channel=row.channel,
            region=row.region,
            price_fen=row.price_fen,
            reason=row.reason,
            valid_from=row.valid_from.isoformat() if row.valid_from else None,
            valid_until=row.valid_until.isoformat() if row.valid_until else None,
            actor=row.updated_by,
        ),
        clock=clock,
    )


def _rule(row: Any) -> PriceRule:
    # A stored exception, or a row of its columns as checkout reads them.
    return PriceRule(
        id=row.id,
        channel=row.channel,
        region=row.region,
        price_fen=row.price_fen,
        reason=row.reason,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
    )


# -- price policy: what a SKU costs where ------------------------------------------------------


# Checkout prices every basket of Yipan's own channels, so its read is one statement built once:
# building and caching a statement on every call cost more CPU than the database's work for a
# small basket. Each SKU comes with the exceptions that may apply to it, one row each (or one row
# without any).
_BASKET = (
    select(
        Sku.id.label("sku_id"),
        Sku.code,
        Sku.list_price_fen,
        Sku.currency,
        Category.code.label("category"),
        PriceException.id,
        PriceException.channel,
        PriceException.region,
        PriceException.price_fen,
        PriceException.reason,
        PriceException.valid_from,
        PriceException.valid_until,
    )
    .join(Product, Product.id == Sku.product_id)
    .join(Category, Category.id == Product.category_id)
    .outerjoin(
        PriceException,
        and_(
            PriceException.sku_id == Sku.id,
            _in_force(bindparam("at")),
            or_(PriceException.channel.is_(None), PriceException.channel == bindparam("channel")),
            or_(PriceException.region.is_(None), PriceException.region == bindparam("region")),
        ),
    )
    .where(Sku.id.in_(bindparam("ids", expanding=True)))
)


def effective_prices(
    session: Session,
    sku_codes: Iterable[str],
    *,
    channel: str | None,
    region: str | None,
    at: datetime,
) -> dict[str, EffectivePrice]:
    """The price of each SKU through `channel` in `region` at `at`, before promotions, with the
    exception that set it (none: the list price). Raises `UnknownSku` naming unknown codes.

    For checkout and quotes: one call prices a whole basket whatever its size.
    """
    ids = sku_ids(session, sku_codes)
    out: dict[str, EffectivePrice] = {}
    for chunk in _chunks(sorted(ids.values())):
        skus: dict[int, Any] = {}
        rules: dict[int, list[PriceRule]] = defaultdict(list)
        for row in session.execute(
            _BASKET, {"ids": chunk, "at": at, "channel": channel, "region": region}
        ):
            skus[row.sku_id] = row
            if row.id is not None:
                rules[row.sku_id].append(_rule(row))
        for sku in skus.values():
            resolved = effective_price(
                sku.list_price_fen, rules[sku.sku_id], channel=channel, region=region, at=at
            )
            out[sku.code] = EffectivePrice(
                sku=sku.code,
                channel=channel,
                region=region,
                at=at,
                list_price_fen=sku.list_price_fen,
                price_fen=resolved.price_fen,
                currency=sku.currency,
                category=sku.category,
                exception=price_exception_ref(resolved.rule) if resolved.rule else None,
            )
    return out


def price_policies(
    session: Session, sku_codes: Iterable[str], *, since: datetime, until: datetime
) -> dict[str, PricePolicy]:
    """List prices and the exceptions in force at some instant of [since, until] of the SKUs
    that exist; unknown codes are simply absent."""
    ids = find_sku_ids(session, sku_codes)
    out: dict[str, PricePolicy] = {}
    for chunk in _chunks(sorted(ids.values())):
        rules: dict[int, list[PriceRule]] = defaultdict(list)
        for row in session.scalars(
            select(PriceException)
            .where(PriceException.sku_id.in_(chunk), _overlapping(since, until))
            .order_by(PriceException.id)
        ):
            rules[row.sku_id].append(_rule(row))
        for sku, category_code in session.execute(
            select(Sku, Category.code)
            .join(Product, Product.id == Sku.product_id)
            .join(Category, Category.id == Product.category_id)
            .where(Sku.id.in_(chunk))
        ):
            out[sku.code] = PricePolicy(
                sku=sku.code,
                name=sku.name,
                category_code=category_code,
                list_price_fen=sku.list_price_fen,
                currency=sku.currency,
                rules=tuple(rules[sku.id]),
            )
    return out


def list_prices(session: Session, sku_codes: Iterable[str]) -> dict[str, int]:
    """The list price of each SKU that exists; unknown codes are simply absent."""
    ids = find_sku_ids(session, sku_codes)
    out: dict[str, int] = {}
    for chunk in _chunks(sorted(ids.values())):
        stmt = select(Sku.code, Sku.list_price_fen).where(Sku.id.in_(chunk))
        out.update(dict(session.execute(stmt).all()))
    return out


def skus_with_price_exceptions(
    session: Session, *, since: datetime, until: datetime, channel: str | None = None
) -> set[str]:
    """SKUs with an exception in force at some instant of [since, until] (for `channel`: its own
    exceptions and the region-only ones, which hold for every channel)."""
    stmt = (
        select(Sku.code)
        .join(PriceException, PriceException.sku_id == Sku.id)
        .where(_overlapping(since, until))
        .distinct()
    )
    if channel:
        stmt = stmt.where(or_(PriceException.channel.is_(None), PriceException.channel == channel))
    return set(session.scalars(stmt))


def matching_sku_codes(
    session: Session,
    *,
    codes: Sequence[str] = (),
    category: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[str], int]:
    """SKU codes in code order, among `codes` when given and in `category` when given; a page of
    them (`offset`, `limit`) and how many match in all."""
    stmt = select(Sku.code)
    if codes:
        stmt = stmt.where(Sku.code.in_(sorted(set(codes))))
    if category:
        stmt = (
            stmt.join(Product, Product.id == Sku.product_id)
            .join(Category, Category.id == Product.category_id)
            .where(Category.code == category)
        )
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(Sku.code).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    return list(session.scalars(page)), total


def _overlapping(since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(
        or_(PriceException.valid_from.is_(None), PriceException.valid_from <= until),
        or_(PriceException.valid_until.is_(None), PriceException.valid_until > since),
    )


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
