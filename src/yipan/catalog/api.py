from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from yipan.catalog import importing, service
from yipan.catalog.errors import InvalidSku
from yipan.catalog.schemas import (
    CategoryOut,
    ImportFormat,
    ImportReport,
    SkuIn,
    SkuOut,
    SkuPage,
)
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, Offset

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=ERROR_RESPONSES)


@router.get("/skus")
def list_skus(
    engine: EngineDep,
    q: str | None = None,
    category: str | None = None,
    offset: Offset = 0,
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


async def _raw_body(request: Request) -> bytes:
    # Read the body as bytes whatever its Content-Type, so JSONL sent as application/json
    # reaches the importer instead of FastAPI's JSON parser.
    return await request.body()


_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The file itself: CSV with a header row, or JSON Lines (one SKU a line)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post("/catalog/import", openapi_extra=_IMPORT_BODY)
def import_catalog(
    engine: EngineDep,
    body: Annotated[bytes, Depends(_raw_body)],
    fmt: Annotated[
        ImportFormat | None,
        Query(alias="format", description="csv or jsonl; default from the Content-Type"),
    ] = None,
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ImportReport:
    """Create or update SKUs from a file; bad rows are reported, good rows kept, replays harmless."""
    rows = importing.read_rows(body, importing.resolve_format(fmt, content_type=content_type))
    with unit_of_work(engine) as session:
        return importing.import_skus(session, rows)
