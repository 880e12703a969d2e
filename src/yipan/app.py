"""The FastAPI application: every context's router, the error shape, and background work."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from yipan import __version__
from yipan.auth.api import router as auth_router
from yipan.auth.trail import FLUSH_EVERY_SECONDS, AuditMiddleware, AuditTrail
from yipan.catalog.api import router as catalog_router
from yipan.channels.api import router as channels_router
from yipan.console import STATIC_DIR as CONSOLE_STATIC_DIR
from yipan.console import STATIC_PREFIX as CONSOLE_STATIC_PREFIX
from yipan.console import router as console_router
from yipan.events.api import router as events_router
from yipan.insights.api import router as insights_router
from yipan.inventory.api import router as inventory_router
from yipan.kernel.collector import freeze_startup_objects, thaw_startup_objects
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine
from yipan.kernel.periodic import PeriodicJob
from yipan.kernel.web import install_error_handlers
from yipan.members.api import router as members_router
from yipan.orders.api import router as orders_router
from yipan.orders.price_consistency_api import router as price_consistency_router
from yipan.promotions.api import router as promotions_router
from yipan.wiring import Background, check_settings, compose, route_events

# FastAPI tries the routers in this order for every request, each route in turn: the channels'
# busiest calls come first (placing an order used to walk four routers before its own, ~0.2 ms of
# CPU of the server's ~4 ms an order). The order changes no answer because no two routers share a
# path (`tests/test_routes.py`).
ROUTERS: tuple[APIRouter, ...] = (
    orders_router,
    promotions_router,
    members_router,
    inventory_router,
    channels_router,
    catalog_router,
    auth_router,
    price_consistency_router,
    events_router,
    insights_router,
    console_router,
)


@functools.cache
def _routes() -> tuple[BaseRoute, ...]:
    """Every context's routes, built once per process and shared by its apps. Including a router
    makes FastAPI analyse each route's dependencies and models again — 0.7 s for all of them —
    and the tests make an app for every test. The routes hold nothing of an app's own: the
    engine is the app's state, found through the request."""
    every = APIRouter()
    for router in ROUTERS:
        every.include_router(router)
    return tuple(every.routes)


def create_app(engine: Engine | None = None, *, background: bool = True) -> FastAPI:
    settings = get_settings()
    check_settings()
    compose()
    # One connection per request thread, and two for the background jobs (outbox, sweepers).
    engine = engine or make_engine(settings.database_url, pool_size=settings.http_threads + 2)
    jobs = Background(engine, settings) if background else None
    if background:  # a serving process; the tests' apps record every event pending
        route_events()
    trail = AuditTrail(engine, gathered=background)
    trail_writer = (
        PeriodicJob("audit-trail", FLUSH_EVERY_SECONDS, trail.flush) if background else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.http_threads
        if jobs:
            jobs.start()
        if trail_writer:
            trail_writer.start()
        if background:  # a serving process; the tests' apps, one per test, are left alone
            freeze_startup_objects()
        yield
        if background:
            thaw_startup_objects()
        if trail_writer:
            trail_writer.stop()
        trail.flush()
        if jobs:
            jobs.stop()

    app = FastAPI(
        title="Yipan",
        version=__version__,
        summary="One pool of people, goods and places for every retail channel",
        lifespan=lifespan,
    )
    app.state.engine = engine
    install_error_handlers(app)
    app.add_middleware(AuditMiddleware, trail=trail)
    app.router.routes.extend(_routes())
    app.mount(
        CONSOLE_STATIC_PREFIX, StaticFiles(directory=CONSOLE_STATIC_DIR), name="console-static"
    )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console")

    @app.get("/health", tags=["ops"])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
