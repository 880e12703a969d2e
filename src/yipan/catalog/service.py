"""Catalogue use cases: upsert SKUs (with their product and category), look them up, list them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Row, Select, func, or_, select
from sqlalchemy.orm import Session

from yipan.catalog.domain import barcode_problem
from yipan.catalog.errors import DuplicateBarcode, InvalidBarcode, UnknownSku
from yipan.catalog.events import SkuSaved
from yipan.catalog.models import Category, Product, Sku
from yipan.catalog.schemas import CategoryOut, SkuIn, SkuOut, SkuPage
from yipan.events import service as events
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.idcache import IdCache

_sku_ids = IdCache(Sku.code, Sku.id)


def upsert_sku(session: Session, sku_in: SkuIn, *, clock: Clock | None = None) -> str:
    """Create or update one SKU; returns `"created"`, `"updated"` or `"unchanged"`.

    Replaying the same data changes nothing, so an import can be run twice safely. A change of
    the product's or category's name counts as an update too.
    """
    now = (clock or SystemClock()).now()
    if sku_in.barcode:
        problem = barcode_problem(sku_in.barcode)
        if problem:
            raise InvalidBarcode(problem, barcode=sku_in.barcode, sku=sku_in.code)
        holder = session.scalar(select(Sku.code).where(Sku.barcode == sku_in.barcode))
        if holder is not None and holder != sku_in.code:
            raise DuplicateBarcode(
                f"barcode {sku_in.barcode} already belongs to SKU {holder}",
                barcode=sku_in.barcode,
                sku=holder,
            )
    category, category_changed = _ensure_category(
        session, sku_in.category_code, sku_in.category_name
    )
    product, product_changed = _ensure_product(session, sku_in, category.id, now)
    wanted = {
        "barcode": sku_in.barcode or None,
        "name": sku_in.name,
        "product_id": product.id,
        "attributes": dict(sku_in.attributes),
        "list_price_fen": sku_in.list_price_fen,
        "currency": sku_in.currency,
        "status": sku_in.status,
    }
    sku = session.scalar(select(Sku).where(Sku.code == sku_in.code))
    if sku is None:
        outcome = "created"
        session.add(Sku(code=sku_in.code, created_at=now, updated_at=now, **wanted))
    elif all(getattr(sku, field) == value for field, value in wanted.items()):
        outcome = "updated" if category_changed or product_changed else "unchanged"
    else:
        outcome = "updated"
        for field, value in wanted.items():
            setattr(sku, field, value)
        sku.updated_at = now
    session.flush()
    if outcome != "unchanged":
        events.record(
            session,
            SkuSaved(
                sku=sku_in.code,
                created=outcome == "created",
                list_price_fen=sku_in.list_price_fen,
                status=sku_in.status,
            ),
            clock=clock,
        )
    return outcome


def _ensure_category(session: Session, code: str, name: str | None) -> tuple[Category, bool]:
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None:
        category = Category(code=code, name=name or code)
        session.add(category)
        session.flush()
        return category, True
    if name and category.name != name:
        category.name = name
        return category, True
    return category, False


def _ensure_product(
    session: Session, sku_in: SkuIn, category_id: int, now: datetime
) -> tuple[Product, bool]:
    product = session.scalar(select(Product).where(Product.code == sku_in.product_code))
    if product is None:
        product = Product(
            code=sku_in.product_code,
            name=sku_in.product_name or sku_in.name,
            category_id=category_id,
            brand=sku_in.brand,
            status="active",
            created_at=now,
            updated_at=now,
        )
        session.add(product)
        session.flush()
        return product, True
    wanted: dict[str, object] = {"category_id": category_id}
    if sku_in.product_name:
        wanted["name"] = sku_in.product_name
    if sku_in.brand:
        wanted["brand"] = sku_in.brand
    changed = {f: v for f, v in wanted.items() if getattr(product, f) != v}
    for field, value in changed.items():
        setattr(product, field, value)
    if changed:
        product.updated_at = now
    return product, bool(changed)


def find_sku_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map the SKU codes that exist to their ids; unknown codes are simply absent."""
    return _sku_ids.find(session, codes)


def sku_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map SKU codes to ids; raises `UnknownSku` naming every code that does not exist."""
    return _sku_ids.require(session, codes, UnknownSku, "SKU")


def sku_id(session: Session, code: str) -> int:
    return sku_ids(session, [code])[code]


def sku_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return dict(session.execute(select(Sku.id, Sku.code).where(Sku.id.in_(wanted))).all())


def _sku_out_query() -> Select[Sku, str, str, str, str]:
    return (
        select(Sku, Product.code, Product.name, Category.code, Category.name)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
    )


def _to_out(row: Row[Sku, str, str, str, str]) -> SkuOut:
    sku, product_code, product_name, category_code, category_name = row
    return SkuOut(
        code=sku.code,
        barcode=sku.barcode,
        name=sku.name,
        product_code=product_code,
        product_name=product_name,
        category_code=category_code,
        category_name=category_name,
        attributes=sku.attributes or {},
        list_price_fen=sku.list_price_fen,
        currency=sku.currency,
        status=sku.status,
    )


def get_sku(session: Session, code: str) -> SkuOut:
    row = session.execute(
        _sku_out_query().where(or_(Sku.code == code, Sku.barcode == code))
    ).first()
    if row is None:
        raise UnknownSku(f"no SKU with code or barcode {code}", code=code)
    return _to_out(row)


def list_skus(
    session: Session,
    *,
    q: str | None = None,
    category: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> SkuPage:
    stmt = _sku_out_query()
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Sku.code.ilike(like), Sku.name.ilike(like), Sku.barcode == q))
    if category:
        stmt = stmt.where(Category.code == category)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(stmt.order_by(Sku.code).offset(offset).limit(limit)).all()
    return SkuPage(items=[_to_out(r) for r in rows], total=total, offset=offset, limit=limit)


def list_categories(session: Session) -> list[CategoryOut]:
    parent = select(Category.id, Category.code).subquery()
    counts = (
        select(Product.category_id, func.count(Sku.id).label("n"))
        .join(Sku, Sku.product_id == Product.id)
        .group_by(Product.category_id)
        .subquery()
    )
    rows = session.execute(
        select(Category.code, Category.name, parent.c.code, func.coalesce(counts.c.n, 0))
        .outerjoin(parent, parent.c.id == Category.parent_id)
        .outerjoin(counts, counts.c.category_id == Category.id)
        .order_by(Category.code)
    )
    return [CategoryOut(code=c, name=n, parent_code=p, sku_count=k) for c, n, p, k in rows]
