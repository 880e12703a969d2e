"""Catalogue use cases: upsert SKUs (with their product and category), look them up, list them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from yipan.catalog.errors import DuplicateBarcode, UnknownSku
from yipan.catalog.models import Category, Product, Sku
from yipan.catalog.schemas import CategoryOut, SkuIn, SkuOut, SkuPage
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.idcache import IdCache

_sku_ids = IdCache(Sku.code, Sku.id)


def upsert_sku(session: Session, sku_in: SkuIn, *, clock: Clock | None = None) -> str:
    """Create or update one SKU; returns `"created"`, `"updated"` or `"unchanged"`.

    Replaying the same data changes nothing, so an import can be run twice safely.
    """
    now = (clock or SystemClock()).now()
    category = _ensure_category(session, sku_in.category_code, sku_in.category_name)
    product = _ensure_product(session, sku_in, category.id, now)
    if sku_in.barcode:
        holder = session.scalar(select(Sku.code).where(Sku.barcode == sku_in.barcode))
        if holder is not None and holder != sku_in.code:
            raise DuplicateBarcode(
                f"barcode {sku_in.barcode} already belongs to SKU {holder}",
                barcode=sku_in.barcode,
                sku=holder,
            )
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
        session.add(Sku(code=sku_in.code, created_at=now, updated_at=now, **wanted))
        session.flush()
        return "created"
    if all(getattr(sku, field) == value for field, value in wanted.items()):
        return "unchanged"
    for field, value in wanted.items():
        setattr(sku, field, value)
    sku.updated_at = now
    session.flush()
    return "updated"


def _ensure_category(session: Session, code: str, name: str | None) -> Category:
    category = session.scalar(select(Category).where(Category.code == code))
    if category is None:
        category = Category(code=code, name=name or code)
        session.add(category)
        session.flush()
    elif name and category.name != name:
        category.name = name
    return category


def _ensure_product(session: Session, sku_in: SkuIn, category_id: int, now: object) -> Product:
    product = session.scalar(select(Product).where(Product.code == sku_in.product_code))
    name = sku_in.product_name or sku_in.name
    if product is None:
        product = Product(
            code=sku_in.product_code,
            name=name,
            category_id=category_id,
            brand=sku_in.brand,
            status="active",
            created_at=now,
            updated_at=now,
        )
        session.add(product)
        session.flush()
        return product
    if sku_in.product_name and product.name != sku_in.product_name:
        product.name = sku_in.product_name
    if product.category_id != category_id:
        product.category_id = category_id
    if sku_in.brand and product.brand != sku_in.brand:
        product.brand = sku_in.brand
    return product


def find_sku_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map the SKU codes that exist to their ids; unknown codes are simply absent."""
    return _sku_ids.find(session, codes)


def sku_ids(session: Session, codes: Iterable[str]) -> dict[str, int]:
    """Map SKU codes to ids; raises `UnknownSku` naming every code that does not exist."""
    wanted = set(codes)
    found = find_sku_ids(session, wanted)
    if len(found) < len(wanted):
        unknown = sorted(wanted - found.keys())
        raise UnknownSku(f"unknown SKU code(s): {', '.join(unknown[:20])}", codes=unknown)
    return found


def sku_id(session: Session, code: str) -> int:
    return sku_ids(session, [code])[code]


def sku_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return dict(session.execute(select(Sku.id, Sku.code).where(Sku.id.in_(wanted))).all())


def sku_summaries(session: Session, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """id → (code, name), for reports that show SKUs owned by another context."""
    if not ids:
        return {}
    rows = session.execute(select(Sku.id, Sku.code, Sku.name).where(Sku.id.in_(set(ids))))
    return {id_: (code, name) for id_, code, name in rows}


def _sku_out_query() -> Select[Sku, str, str, str, str]:
    return (
        select(Sku, Product.code, Product.name, Category.code, Category.name)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
    )


def _to_out(row: tuple[Sku, str, str, str, str]) -> SkuOut:
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
    return _to_out(row.tuple())


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
    return SkuPage(
        items=[_to_out(r.tuple()) for r in rows], total=total, offset=offset, limit=limit
    )


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
