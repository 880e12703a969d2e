from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.errors import DeadlockDetected
from sqlalchemy.exc import IntegrityError, OperationalError

from yipan.kernel.web import install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/race")
    def race() -> None:
        raise IntegrityError("INSERT …", {}, Exception("duplicate key"))

    @app.get("/deadlock")
    def deadlock() -> None:
        raise OperationalError("UPDATE …", {}, DeadlockDetected("deadlock detected"))

    return app


def test_races_caught_by_the_database_are_a_409_to_send_again() -> None:
    client = TestClient(_app())
    race = client.get("/race")
    assert race.status_code == 409
    assert race.json()["code"] == "CONCURRENT_CONFLICT"
    deadlock = client.get("/deadlock")
    assert deadlock.status_code == 409
    assert deadlock.json()["code"] == "RETRY"
