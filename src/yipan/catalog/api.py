from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yipan.catalog import service
from yipan.catalog.errors import InvalidSku
from yipan.catalog.schemas import CategoryOut, SkuIn, SkuOut, SkuPage
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=ERROR_RESPONSES)


@router.get("/skus")
def list_skus(
    engine: EngineDep,
    q: str | None = None,
    category: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SkuPage:
    with unit_of_work(engine, readonly=True) as session:
        return service.list_skus(session, q=q, category=category, offset=offset, limit=limit)


@router.get("/skus/{code}")
def get_sku(code: str, engine: EngineDep) -> SkuOut:
    """Look a SKU up by its code or its barcode."""
    with unit_of_work(engine, readonly=True) as session:
        return service.get_sku(session, code)


@router.put("/skus/{code}")
def put_sku(code: str, sku_in: SkuIn, engine: EngineDep) -> SkuOut:
    """Create or replace a SKU; sending the same body twice changes nothing."""
    if sku_in.code != code:
        raise InvalidSku(f"body code {sku_in.code} does not match path {code}", code=code)
    with unit_of_work(engine) as session:
        service.upsert_sku(session, sku_in)
        return service.get_sku(session, code)


@router.get("/categories")
def list_categories(engine: EngineDep) -> list[CategoryOut]:
    with unit_of_work(engine, readonly=True) as session:
        return service.list_categories(session)
