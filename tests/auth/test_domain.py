"""Roles, data scopes, the permission table and the lock-out counter: pure rules, no storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from yipan.auth.domain import (
    ALL,
    PERMISSIONS,
    LoginCounter,
    Principal,
    Role,
    Scope,
    ScopeError,
    allows_region,
    allows_store,
    may,
    permissions_of,
    scope_for,
    scope_of,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        (Role.HQ_ADMIN, "users.manage", True),
        (Role.HQ_ADMIN, "audit.read", True),
        (Role.STORE_GUIDE, "users.manage", False),
        (Role.STORE_GUIDE, "orders.write", True),
        (Role.STORE_GUIDE, "members.read", True),
        (Role.STORE_GUIDE, "members.merge", False),
        (Role.STORE_GUIDE, "inventory.transfer", False),
        (Role.STORE_MANAGER, "inventory.transfer", True),
        (Role.PLANNER, "inventory.transfer", True),
        (Role.PLANNER, "orders.write", False),
        (Role.MARKETER, "promotions.write", True),
        (Role.MARKETER, "members.merge", True),
        (Role.REGION_MANAGER, "promotions.write", False),
        (Role.INTEGRATOR, "orders.write", True),
        (Role.INTEGRATOR, "audit.read", False),
        (Role.INTEGRATOR, "users.manage", False),
    ],
)
def test_the_permission_table_says_who_may_do_what(role: Role, action: str, allowed: bool) -> None:
    assert may(role, action) is allowed


def test_only_the_hq_admin_manages_users_and_reads_the_audit_log() -> None:
    assert PERMISSIONS["users.manage"] == {Role.HQ_ADMIN}
    assert PERMISSIONS["audit.read"] == {Role.HQ_ADMIN}


def test_an_action_missing_from_the_table_is_an_error_not_a_quiet_refusal() -> None:
    with pytest.raises(KeyError, match=r"orders\.wirte"):
        may(Role.HQ_ADMIN, "orders.wirte")


def test_a_role_lists_exactly_the_actions_the_table_gives_it() -> None:
    assert "users.manage" not in permissions_of(Role.STORE_GUIDE)
    assert set(permissions_of(Role.HQ_ADMIN)) == set(PERMISSIONS)


@pytest.mark.parametrize(
    ("role", "kind", "value", "expected"),
    [
        (Role.HQ_ADMIN, None, None, ALL),
        (Role.MARKETER, None, None, ALL),
        (Role.REGION_MANAGER, None, "上海市", Scope("region", "上海市")),
        (Role.STORE_MANAGER, None, "SH-1", Scope("store", "SH-1")),
        (Role.STORE_GUIDE, "store", "SH-1", Scope("store", "SH-1")),
        (Role.INTEGRATOR, None, None, ALL),
        (Role.INTEGRATOR, "store", "SH-1", Scope("store", "SH-1")),
        (Role.INTEGRATOR, "region", "广东省", Scope("region", "广东省")),
    ],
)
def test_each_role_gets_the_scope_of_its_post(
    role: Role, kind: str | None, value: str | None, expected: Scope
) -> None:
    assert scope_of(role, kind, value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "kind", "value", "problem"),
    [
        (Role.STORE_GUIDE, None, None, "needs a store"),
        (Role.REGION_MANAGER, None, None, "needs a region"),
        (Role.HQ_ADMIN, None, "SH-1", "takes no scope value"),
        (Role.STORE_MANAGER, "region", "上海市", "may only be scoped to: store"),
        (Role.INTEGRATOR, None, "SH-1", "region or a store"),
    ],
)
def test_a_role_and_a_scope_that_do_not_go_together_are_refused(
    role: Role, kind: str | None, value: str | None, problem: str
) -> None:
    with pytest.raises(ScopeError, match=problem):
        scope_of(role, kind, value)  # type: ignore[arg-type]


def test_hq_sees_every_store_and_region() -> None:
    assert allows_store(ALL, "GZ-1", "广东省")
    assert allows_region(ALL, "广东省")


def test_a_region_manager_sees_the_stores_of_their_province_only() -> None:
    shanghai = Scope("region", "上海市")
    assert allows_store(shanghai, "SH-1", "上海市")
    assert not allows_store(shanghai, "GZ-1", "广东省")
    assert not allows_store(shanghai, "XX-1", None)
    assert allows_region(shanghai, "上海市")
    assert not allows_region(shanghai, "广东省")


def test_store_staff_see_their_store_but_not_its_region() -> None:
    store = Scope("store", "SH-1")
    assert allows_store(store, "SH-1", "上海市")
    assert not allows_store(store, "SH-2", "上海市")
    assert not allows_region(store, "上海市")


def test_a_scope_is_read_back_from_what_a_user_row_holds() -> None:
    class Row:
        scope_kind = "region"
        scope_value: str | None = "上海市"

    assert scope_for(Row()) == Scope("region", "上海市")
    with pytest.raises(ValueError, match="needs a value"):
        Scope("store", None)


def test_a_system_principal_is_an_hq_admin_over_everything() -> None:
    cli = Principal.system("cli:ops")
    assert cli.may("users.manage")
    assert cli.scope == ALL


def test_the_fifth_failure_within_fifteen_minutes_locks_for_fifteen_minutes() -> None:
    counter = LoginCounter()
    for minute in range(4):
        counter = counter.after_failure(T0 + timedelta(minutes=minute))
        assert not counter.is_locked(T0 + timedelta(minutes=minute))
    locked_at = T0 + timedelta(minutes=14)
    counter = counter.after_failure(locked_at)
    assert counter.is_locked(locked_at)
    assert counter.is_locked(locked_at + timedelta(minutes=14, seconds=59))
    assert not counter.is_locked(locked_at + timedelta(minutes=15))


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock() -> None:
    counter = LoginCounter()
    for minute in (0, 5, 10, 15, 20, 25, 30):
        counter = counter.after_failure(T0 + timedelta(minutes=minute))
        assert not counter.is_locked(T0 + timedelta(minutes=minute))


def test_a_success_forgets_the_failures() -> None:
    counter = LoginCounter()
    for _ in range(4):
        counter = counter.after_failure(T0)
    counter = LoginCounter.after_success().after_failure(T0)
    assert counter.failures == 1
    assert not counter.is_locked(T0)
