"""HTTP routes of the inventory context, one module per area."""

from fastapi import APIRouter

from yipan.inventory.api import alerts, stock, transfers

router = APIRouter()
router.include_router(stock.router)
router.include_router(transfers.router)
router.include_router(alerts.router)
