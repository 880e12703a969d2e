"""collector_paused: off inside, and afterwards exactly as it was — even when the block fails.
A serving app: what it started with frozen out of collections while it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from yipan.app import create_app
from yipan.kernel.collector import collector_paused


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was_on = gc.isenabled()
    yield
    if was_on:
        gc.enable()
    else:
        gc.disable()


def fail_while_paused() -> None:
    with collector_paused():
        assert not gc.isenabled()
        raise RuntimeError("the import failed")


def test_paused_inside_and_back_on_after_a_failure() -> None:
    gc.enable()
    with pytest.raises(RuntimeError, match="import failed"):
        fail_while_paused()
    assert gc.isenabled()


def test_a_nested_pause_leaves_the_outer_one_in_force() -> None:
    gc.enable()
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def tracked(obj: object) -> bool:
    """Whether the collector would walk `obj` (frozen objects are in none of its generations)."""
    return any(o is obj for o in gc.get_objects())


def test_a_serving_app_keeps_what_it_started_with_out_of_collections(
    sqlite_engine: Engine,
) -> None:
    app = create_app(sqlite_engine)  # as `uvicorn --factory` makes it: background jobs on
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        assert gc.get_freeze_count() > 0
        assert not tracked(app)
        assert not tracked(app.router.routes[0])
    assert gc.get_freeze_count() == 0
    assert tracked(app)


def test_an_app_without_background_jobs_leaves_the_collector_alone(
    sqlite_engine: Engine,
) -> None:
    app = create_app(sqlite_engine, background=False)
    with TestClient(app):
        assert gc.get_freeze_count() == 0
        assert tracked(app)
