"""Users and the audit log on SQLite and PostgreSQL: creation rules, disabling, audit rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from tests.auth import people
from yipan.auth.domain import Principal, Role
from yipan.auth.models import AuditEntry, User
from yipan.auth.schemas import UserIn
from yipan.auth.service import audit, passwords, users
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import YipanError


def new_user(role: Role, scope_value: str | None = None, **overrides: str) -> UserIn:
    data = {
        "username": "li.wei",
        "display_name": "李伟",
        "role": role,
        "scope_value": scope_value,
        "password": people.PASSWORD,
        **overrides,
    }
    return UserIn.model_validate(data)


def test_a_user_is_created_with_a_hashed_password_and_an_audit_row(engine: Engine) -> None:
    people.stores(engine)
    clock = FakeClock()
    with unit_of_work(engine) as session:
        created = users.create_user(
            session,
            new_user(Role.STORE_GUIDE, "SH-1", username="Li.Wei"),
            by=people.SETUP,
            source_ip="10.0.0.7",
            clock=clock,
        )
    assert (created.username, created.role, created.scope_kind, created.scope_value) == (
        "li.wei",
        Role.STORE_GUIDE,
        "store",
        "SH-1",
    )
    with unit_of_work(engine, readonly=True) as session:
        stored = session.scalars(select(User.password_hash)).one()
        entry = session.scalars(select(AuditEntry)).one()
        seen = (entry.action, entry.target, entry.actor_name, entry.actor_role, entry.source_ip)
        details, at = entry.details, entry.at
    assert people.PASSWORD not in stored
    assert passwords.verify_password(stored, people.PASSWORD)
    assert seen == ("user.created", "user:li.wei", "test-setup", "hq_admin", "10.0.0.7")
    assert details == {"role": "store_guide", "scope_kind": "store", "scope_value": "SH-1"}
    assert at == clock.now()


def test_a_region_manager_is_scoped_to_a_province_some_node_is_in(engine: Engine) -> None:
    people.stores(engine)
    manager = people.user(engine, "wang.fang", Role.REGION_MANAGER, "广东省")
    assert (manager.scope_kind, manager.scope_value) == ("region", "广东省")


@pytest.mark.parametrize(
    ("user_in", "code"),
    [
        (new_user(Role.HQ_ADMIN, password="short"), "PASSWORD_TOO_SHORT"),
        (new_user(Role.STORE_GUIDE), "INVALID_SCOPE"),
        (new_user(Role.REGION_MANAGER), "INVALID_SCOPE"),
        (new_user(Role.HQ_ADMIN, "SH-1"), "INVALID_SCOPE"),
        (new_user(Role.STORE_MANAGER, "NOPE-9"), "UNKNOWN_STORE"),
        (new_user(Role.REGION_MANAGER, "火星省"), "UNKNOWN_REGION"),
    ],
)
def test_bad_users_are_refused_with_a_clear_4xx_and_nothing_written(
    engine: Engine, user_in: UserIn, code: str
) -> None:
    people.stores(engine)
    before = people.counts(engine)
    with pytest.raises(YipanError) as refused, unit_of_work(engine) as session:
        users.create_user(session, user_in, by=people.SETUP)
    assert refused.value.code == code
    assert 400 <= refused.value.status < 500
    assert people.counts(engine) == before


def test_a_username_is_taken_once_whatever_its_case(engine: Engine) -> None:
    people.user(engine, "li.wei")
    with pytest.raises(YipanError) as refused, unit_of_work(engine) as session:
        users.create_user(session, new_user(Role.HQ_ADMIN, username="LI.WEI"), by=people.SETUP)
    assert (refused.value.code, refused.value.status) == ("USERNAME_TAKEN", 409)


def test_users_are_listed_and_read_back(engine: Engine) -> None:
    people.stores(engine)
    admin = people.user(engine, "admin")
    guide = people.user(engine, "guide", Role.STORE_GUIDE, "SH-2")
    with unit_of_work(engine, readonly=True) as session:
        assert [u.username for u in users.list_users(session)] == ["admin", "guide"]
        assert users.get_user(session, guide.id).scope_value == "SH-2"
        with pytest.raises(YipanError, match="no user with id"):
            users.get_user(session, admin.id + guide.id)


def test_disabling_a_user_is_audited_and_cannot_be_done_twice_or_to_oneself(
    engine: Engine,
) -> None:
    admin = people.user(engine, "admin")
    other = people.user(engine, "other")
    admin_principal = Principal("user", admin.id, "admin", Role.HQ_ADMIN, people.SETUP.scope)
    with unit_of_work(engine) as session:
        disabled = users.disable_user(session, other.id, by=admin_principal, source_ip="10.1.1.1")
    assert not disabled.active
    assert disabled.disabled_at is not None
    for target, code in [(other.id, "USER_ALREADY_DISABLED"), (admin.id, "CANNOT_DISABLE_SELF")]:
        with pytest.raises(YipanError) as refused, unit_of_work(engine) as session:
            users.disable_user(session, target, by=admin_principal)
        assert refused.value.code == code
    assert people.audit_actions(engine) == ["user.created", "user.created", "user.disabled"]


def test_the_audit_log_reads_newest_first_filtered_and_in_pages(engine: Engine) -> None:
    for name in ("a1", "a2", "a3"):
        people.user(engine, name)
    with unit_of_work(engine) as session:
        audit.record_audit(session, None, "login.failed", "user:x", {"reason": "unknown_user"})
    with unit_of_work(engine, readonly=True) as session:
        everything = audit.list_audit(session)
        created = audit.list_audit(session, action="user.created", limit=2)
        older = audit.list_audit(session, action="user.created", before_id=created[-1].id)
        anonymous = audit.list_audit(session, actor="test-setup", action="login.failed")
    assert [e.action for e in everything] == ["login.failed", *["user.created"] * 3]
    assert [e.target for e in created] == ["user:a3", "user:a2"]
    assert [e.target for e in older] == ["user:a1"]
    assert anonymous == []
    assert everything[0].actor_kind == "anonymous"
