"""The demo's people: one user per role with the right data scope, one integration key, and a
second run that changes nothing."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from yipan.auth.models import ApiKey, AuditEntry, User
from yipan.auth.service import keys, login, users
from yipan.demo import build_demo
from yipan.demo.logins import DEMO_KEY_NAME, DEMO_PASSWORD, ensure_demo_logins
from yipan.kernel.db import unit_of_work


def _rows(engine: Engine) -> tuple[int, int, int]:
    with unit_of_work(engine, readonly=True) as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (User, ApiKey, AuditEntry)
        )


def test_the_demo_has_one_user_per_role_and_a_second_run_is_harmless(engine: Engine) -> None:
    build_demo(engine, seed=7, scale=0.03)

    first = ensure_demo_logins(engine)
    before = _rows(engine)
    second = ensure_demo_logins(engine)
    after = _rows(engine)

    with unit_of_work(engine) as session:
        people = {
            u.username: (u.role, u.scope_kind, u.scope_value) for u in users.list_users(session)
        }
        demo_keys = [k for k in keys.list_api_keys(session) if k.name == DEMO_KEY_NAME]
        signed_in = login.authenticate(session, "guide.nj001", DEMO_PASSWORD).unwrap()
    assert people == {
        "admin": ("hq_admin", "all", None),
        "jiangsu": ("region_manager", "region", "江苏省"),
        "nj001": ("store_manager", "store", "ST-JS-NJ-001"),
        "guide.nj001": ("store_guide", "store", "ST-JS-NJ-001"),
        "marketing": ("marketer", "all", None),
        "planner": ("planner", "all", None),
    }
    assert signed_in.principal.scope.value == "ST-JS-NJ-001"
    assert len(first.created) == 6
    assert first.api_key is not None
    assert first.api_key.startswith(first.api_key_prefix)
    assert [(k.role, k.scope_kind) for k in demo_keys] == [("integrator", "all")]
    assert second.created == ()
    assert second.api_key is None  # shown once: only its hash is kept
    assert second.api_key_prefix == first.api_key_prefix
    assert after == before  # no user, key or audit row added
