from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from yipan.auth.api import allowed
from yipan.catalog import importing, prices, service
from yipan.catalog.errors import InvalidSku
from yipan.catalog.schemas import (
    AwareTimestamp,
    CategoryOut,
    ChannelCode,
    EffectivePrice,
    ImportFormat,
    ImportReport,
    PriceExceptionIn,
    PriceExceptionOut,
    PriceExceptionPage,
    PriceExceptionStatus,
    RegionName,
    SkuCode,
    SkuIn,
    SkuOut,
    SkuPage,
)
from yipan.kernel.clock import utcnow
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, IdPath, Offset

router = APIRouter(prefix="/api/v1", tags=["catalog"], responses=ERROR_RESPONSES)


@router.get("/skus", dependencies=allowed("catalog.read"))
def list_skus(
    engine: EngineDep,
    q: str | None = None,
    category: str | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> SkuPage:
    with unit_of_work(engine, readonly=True) as session:
        return service.list_skus(session, q=q, category=category, offset=offset, limit=limit)


@router.get("/skus/{code}", dependencies=allowed("catalog.read"))
def get_sku(code: str, engine: EngineDep) -> SkuOut:
    """Look a SKU up by its code or its barcode."""
    with unit_of_work(engine, readonly=True) as session:
        return service.get_sku(session, code)


@router.put("/skus/{code}", dependencies=allowed("catalog.write"))
def put_sku(code: str, sku_in: SkuIn, engine: EngineDep) -> SkuOut:
    """Create or replace a SKU; sending the same body twice changes nothing."""
    if sku_in.code != code:
        raise InvalidSku(f"body code {sku_in.code} does not match path {code}", code=code)
    with unit_of_work(engine) as session:
        service.upsert_sku(session, sku_in)
        return service.get_sku(session, code)


@router.get("/categories", dependencies=allowed("catalog.read"))
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


@router.post("/catalog/import", openapi_extra=_IMPORT_BODY, dependencies=allowed("catalog.write"))
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


# -- price policy ------------------------------------------------------------------------------

Actor = Annotated[str, Query(min_length=1, max_length=64, description="Who acts (staff id)")]
_REPLAYED: dict[int | str, dict[str, object]] = {
    200: {"model": PriceExceptionOut, "description": "Sent before: nothing changed"}
}


@router.post(
    "/catalog/price-exceptions",
    status_code=201,
    responses=_REPLAYED,
    dependencies=allowed("catalog.write"),
)
def create_price_exception(
    exception_in: PriceExceptionIn, response: Response, engine: EngineDep
) -> PriceExceptionOut:
    """Set another price for a SKU in a channel, a region or both, with the reason why.

    The same body again returns the exception already set (200); one that overlaps another of
    the same SKU and scope in time is refused with 409 OVERLAPPING_PRICE_EXCEPTION.
    """
    with unit_of_work(engine) as session:
        out, created = prices.create_price_exception(session, exception_in)
    response.status_code = 201 if created else 200
    return out


@router.get("/catalog/price-exceptions", dependencies=allowed("catalog.read"))
def list_price_exceptions(
    engine: EngineDep,
    sku: Annotated[SkuCode | None, Query()] = None,
    channel: Annotated[ChannelCode | None, Query()] = None,
    region: Annotated[RegionName | None, Query()] = None,
    status: PriceExceptionStatus | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PriceExceptionPage:
    with unit_of_work(engine, readonly=True) as session:
        return prices.list_price_exceptions(
            session,
            sku=sku,
            channel=channel,
            region=region,
            status=status,
            offset=offset,
            limit=limit,
        )


@router.get("/catalog/price-exceptions/{exception_id}", dependencies=allowed("catalog.read"))
def get_price_exception(exception_id: IdPath, engine: EngineDep) -> PriceExceptionOut:
    with unit_of_work(engine, readonly=True) as session:
        return prices.get_price_exception(session, exception_id)


@router.put("/catalog/price-exceptions/{exception_id}", dependencies=allowed("catalog.write"))
def replace_price_exception(
    exception_id: IdPath, exception_in: PriceExceptionIn, engine: EngineDep
) -> PriceExceptionOut:
    """Change an exception. To stop one that was used, set `valid_until` rather than delete it:
    the sales it explained stay explained."""
    with unit_of_work(engine) as session:
        return prices.replace_price_exception(session, exception_id, exception_in)


@router.delete(
    "/catalog/price-exceptions/{exception_id}",
    status_code=204,
    dependencies=allowed("catalog.write"),
)
def delete_price_exception(exception_id: IdPath, actor: Actor, engine: EngineDep) -> Response:
    """Take away an exception set by mistake; its scope pays the next rule's price again."""
    with unit_of_work(engine) as session:
        prices.delete_price_exception(session, exception_id, actor=actor)
    return Response(status_code=204)


@router.get("/catalog/effective-prices", dependencies=allowed("catalog.read"))
def get_effective_prices(
    engine: EngineDep,
    sku: Annotated[list[SkuCode], Query(min_length=1, max_length=200)],
    channel: Annotated[ChannelCode | None, Query()] = None,
    region: Annotated[RegionName | None, Query()] = None,
    at: Annotated[AwareTimestamp | None, Query(description="Default: now")] = None,
) -> list[EffectivePrice]:
    """What each SKU costs through a channel in a region (before promotions), and which
    exception set that price."""
    when: datetime = at or utcnow()
    with unit_of_work(engine, readonly=True) as session:
        found = prices.effective_prices(session, sku, channel=channel, region=region, at=when)
    return [found[code] for code in dict.fromkeys(sku)]
