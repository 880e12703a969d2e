"""API callers for tests: an API key of a role and data scope, sent by a test client.

Every route outside the login needs a caller; API tests act as the chain's HQ administrator
unless they test what another role or scope may do.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from yipan.auth.domain import Principal, Role, ScopeKind
from yipan.auth.schemas import ApiKeyIn
from yipan.auth.service import keys
from yipan.kernel.db import unit_of_work


def api_key(
    engine: Engine,
    role: Role = Role.HQ_ADMIN,
    *,
    scope_kind: ScopeKind | None = None,
    scope_value: str | None = None,
) -> str:
    """A new key of `role` over the scope; a store or region scope must name a known one."""
    with unit_of_work(engine) as session:
        created = keys.create_api_key(
            session,
            ApiKeyIn(
                name=f"tests: {role} {scope_value or 'all'}",
                role=role,
                scope_kind=scope_kind,
                scope_value=scope_value,
            ),
            by=Principal.system("tests"),
        )
    return created.key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sign_in(
    client: TestClient,
    role: Role = Role.HQ_ADMIN,
    *,
    scope_kind: ScopeKind | None = None,
    scope_value: str | None = None,
) -> TestClient:
    """Make every request of `client` carry a new key of `role` over the scope."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    key = api_key(engine, role, scope_kind=scope_kind, scope_value=scope_value)
    client.headers.update(bearer(key))
    return client
