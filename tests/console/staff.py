"""The console on a fresh test world with signed-in staff: one user per (username, role, scope),
and a test client that can act as any of them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import api_key, bearer
from tests.orders import world
from yipan.app import create_app
from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import UserIn
from yipan.auth.service import login, sessions, users
from yipan.console.i18n import LANG_COOKIE
from yipan.kernel.db import unit_of_work

PASSWORD = "correct horse battery"
Member = tuple[str, Role, str | None]  # username, role, scope value


@dataclass
class Staff:
    """The console on a fresh database, and a way to be signed in as one of its users."""

    engine: Engine
    client: TestClient
    tokens: dict[str, str]
    api_key: str
    lang: str | None = None

    def as_(self, username: str) -> TestClient:
        self.client.cookies.clear()
        self.client.cookies.set(
            sessions.SESSION_COOKIE, self.tokens[username], domain="testserver.local"
        )
        if self.lang:
            self.client.cookies.set(LANG_COOKIE, self.lang, domain="testserver.local")
        return self.client

    def csrf(self, username: str) -> str:
        return sessions.csrf_token_for(self.tokens[username])

    def api(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        # The API as an integration (the HQ's key), whoever is signed in to the console.
        response = self.client.post(f"/api/v1{path}", json=body, headers=bearer(self.api_key))
        assert response.status_code == status, response.text
        return dict(response.json())


@contextmanager
def staff_console(
    engine: Engine, staff: Sequence[Member], *, lang: str | None = None
) -> Iterator[Staff]:
    world.build(engine)
    with unit_of_work(engine) as session:
        for username, role, scope in staff:
            user_in = UserIn(
                username=username,
                display_name=username,
                role=role,
                scope_value=scope,
                password=PASSWORD,
            )
            users.create_user(session, user_in, by=Principal.system("console tests"))
    tokens: dict[str, str] = {}
    for username, _role, _scope in staff:
        with unit_of_work(engine) as session:
            signed_in = login.authenticate(session, username, PASSWORD).unwrap()
        tokens[username] = sessions.issue_session_token(signed_in)
    with TestClient(create_app(engine, background=False)) as client:
        yield Staff(engine, client, tokens, api_key(engine), lang)
