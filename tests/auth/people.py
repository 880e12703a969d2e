"""Users, stores and regions for the auth tests, made through the real services."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from tests import factories
from yipan.auth.domain import Principal, Role
from yipan.auth.models import ApiKey, AuditEntry, User
from yipan.auth.schemas import UserIn, UserOut
from yipan.auth.service import users
from yipan.kernel.clock import Clock
from yipan.kernel.db import unit_of_work

PASSWORD = "correct horse battery"
SETUP = Principal.system("test-setup")


def stores(engine: Engine) -> None:
    """Two stores in Shanghai and one in Guangdong."""
    factories.node(engine, "SH-1", province="上海市", city="上海市")
    factories.node(engine, "SH-2", province="上海市", city="上海市")
    factories.node(engine, "GZ-1", province="广东省", city="广州市", lat=23.13, lon=113.26)


def user(
    engine: Engine,
    username: str,
    role: Role = Role.HQ_ADMIN,
    scope_value: str | None = None,
    *,
    password: str = PASSWORD,
    clock: Clock | None = None,
) -> UserOut:
    with unit_of_work(engine) as session:
        return users.create_user(
            session,
            UserIn(
                username=username,
                display_name=username.title(),
                role=role,
                scope_value=scope_value,
                password=password,
            ),
            by=SETUP,
            clock=clock,
        )


def counts(engine: Engine) -> tuple[int, int, int]:
    """Rows in users, API keys and the audit log: a refused write changes none of them."""
    with unit_of_work(engine, readonly=True) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (User, ApiKey, AuditEntry)
        )


def audit_actions(engine: Engine) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
