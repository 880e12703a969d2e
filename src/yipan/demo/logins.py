"""The demo's people: one user per role, all with the same documented password, and one API key
for an integration, created through auth's services.

Idempotent: a user whose username exists is left as it is, and the key is made only when no
unrevoked key of that name exists, so a second `yipan demo` changes nothing. The key itself is
known only when it is made (auth keeps its hash), so only that run can print it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import ApiKeyIn, UserIn
from yipan.auth.service import keys, users
from yipan.kernel.clock import Clock
from yipan.kernel.db import unit_of_work

# Printed by `yipan demo` and written in docs/console.md: a demo database is for showing, not
# for guarding anything.
DEMO_PASSWORD = "yipan-demo-2026"
DEMO_KEY_NAME = "demo integration"
DEMO_REGION = "江苏省"
DEMO_STORE = "ST-JS-NJ-001"  # in every demo, at every scale: the skewed city's first store
_BUILDER = Principal.system("yipan demo")


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    username: str
    display_name: str
    scope_value: str | None = None


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin(Role.HQ_ADMIN, "admin", "王总部"),
    DemoLogin(Role.REGION_MANAGER, "jiangsu", "江苏区域经理", DEMO_REGION),
    DemoLogin(Role.STORE_MANAGER, "nj001", "南京一店店长", DEMO_STORE),
    DemoLogin(Role.STORE_GUIDE, "guide.nj001", "南京一店导购", DEMO_STORE),
    DemoLogin(Role.MARKETER, "marketing", "市场部", None),
    DemoLogin(Role.PLANNER, "planner", "计划部", None),
)


@dataclass(frozen=True)
class DemoAccess:
    logins: tuple[DemoLogin, ...]
    password: str
    created: tuple[str, ...]  # the usernames made by this run
    api_key: str | None  # the key itself, when this run made it
    api_key_prefix: str


def ensure_demo_logins(
    engine: Engine, *, password: str = DEMO_PASSWORD, clock: Clock | None = None
) -> DemoAccess:
    """Make the demo users and key that are missing (the nodes they are scoped to must exist)."""
    created: list[str] = []
    with unit_of_work(engine) as session:
        taken = {u.username for u in users.list_users(session)}
        for login in DEMO_LOGINS:
            if login.username in taken:
                continue
            user_in = UserIn(
                username=login.username,
                display_name=login.display_name,
                role=login.role,
                scope_value=login.scope_value,
                password=password,
            )
            users.create_user(session, user_in, by=_BUILDER, clock=clock)
            created.append(login.username)
        live = [
            k for k in keys.list_api_keys(session, include_revoked=False) if k.name == DEMO_KEY_NAME
        ]
        raw_key = None
        if live:
            prefix = live[0].prefix
        else:
            made = keys.create_api_key(
                session, ApiKeyIn(name=DEMO_KEY_NAME), by=_BUILDER, clock=clock
            )
            raw_key, prefix = made.key, made.api_key.prefix
    return DemoAccess(DEMO_LOGINS, password, tuple(created), raw_key, prefix)
