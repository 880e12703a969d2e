"""The price-consistency report over HTTP: what the console's report page and HQ alerts read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yipan.auth.api import allowed
from yipan.catalog.schemas import (
    AwareTimestamp,
    ChannelCode,
    PriceConsistencyPage,
    SkuCode,
)
from yipan.kernel.db import unit_of_work
from yipan.kernel.web import ERROR_RESPONSES, EngineDep, Offset
from yipan.orders.service.price_consistency import price_consistency_report

router = APIRouter(prefix="/api/v1", tags=["price policy"], responses=ERROR_RESPONSES)


@router.get("/price-consistency", dependencies=allowed("catalog.read"))
def get_price_consistency(
    engine: EngineDep,
    sku: Annotated[list[SkuCode], Query(max_length=200, description="Only these SKUs")] = [],  # noqa: B006
    category: Annotated[SkuCode | None, Query(description="Only this category")] = None,
    channel: Annotated[ChannelCode | None, Query(description="Only this channel")] = None,
    since: Annotated[AwareTimestamp | None, Query(description="Default: until − 30 days")] = None,
    until: Annotated[AwareTimestamp | None, Query(description="Default: now")] = None,
    only_inconsistent: Annotated[
        bool, Query(description="Only SKUs with some difference, explained or not")
    ] = True,
    only_unexplained: Annotated[
        bool, Query(description="Only SKUs with a difference no exception explains")
    ] = False,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> PriceConsistencyPage:
    """Each SKU's price per channel (the policy now) beside the unit prices charged in the
    window (before promotion discounts), with every difference from the list price and the
    exception that explains it, or "no rule"."""
    with unit_of_work(engine, readonly=True) as session:
        return price_consistency_report(
            session,
            skus=sku,
            category=category,
            channel=channel,
            since=since,
            until=until,
            only_inconsistent=only_inconsistent,
            only_unexplained=only_unexplained,
            offset=offset,
            limit=limit,
        )
