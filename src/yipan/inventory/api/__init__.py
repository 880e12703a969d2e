"""HTTP routes of the inventory context, one module per area."""

from fastapi import APIRouter

from yipan.inventory.api import stock

router = APIRouter()
router.include_router(stock.router)
