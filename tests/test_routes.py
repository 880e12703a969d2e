"""The routers may be tried in any order: no path of one is also a path of another.

`yipan.app.ROUTERS` puts the busiest first because FastAPI tries them one after the other; that
is only safe while a request can match in one router alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path

from yipan.app import ROUTERS


def _paths(router_routes: Sequence[BaseRoute]) -> list[tuple[str, re.Pattern[str]]]:
    found = []
    for context in iter_route_contexts(router_routes):
        path = context.path
        assert path, f"a route without a path: {context.name}"
        found.append((path, compile_path(path)[0]))
    return found


def _example(path: str) -> str:
    """A concrete URL of a route's path: every parameter filled with a digit."""
    return re.sub(r"\{[^}]*\}", "1", path)


def overlaps(routers: Sequence[APIRouter]) -> list[tuple[str, str]]:
    """Pairs (a path of one router, a path of another that matches it)."""
    paths = [_paths(router.routes) for router in routers]
    return [
        (path, other_path)
        for k, own in enumerate(paths)
        for path, _ in own
        for j, other in enumerate(paths)
        if j != k
        for other_path, regex in other
        if regex.match(_example(path))
    ]


def test_no_path_of_one_router_is_matched_by_another() -> None:
    assert sum(len(_paths(router.routes)) for router in ROUTERS) > 100  # sub-routers included
    assert overlaps(ROUTERS) == []


def test_a_router_that_shares_a_path_is_caught() -> None:
    clashing = APIRouter(prefix="/api/v1")

    @clashing.get("/orders/{anything}")
    def elsewhere(anything: str) -> str:
        return anything

    found = overlaps([*ROUTERS, clashing])
    assert ("/api/v1/orders/{anything}", "/api/v1/orders/{order_id}") in found
