"""API keys on SQLite and PostgreSQL: shown once, stored hashed, used, revoked, audited."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import Engine, select

from tests.auth import people
from yipan.auth.domain import Principal, Role, Scope
from yipan.auth.models import ApiKey
from yipan.auth.schemas import ApiKeyCreated, ApiKeyIn
from yipan.auth.service import keys
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import YipanError


def create(engine: Engine, clock: FakeClock, **fields: str) -> ApiKeyCreated:
    with unit_of_work(engine) as session:
        return keys.create_api_key(
            session,
            ApiKeyIn.model_validate({"name": "POS sync", **fields}),
            by=people.SETUP,
            source_ip="10.0.0.5",
            clock=clock,
        )


def use(engine: Engine, raw: str, clock: FakeClock) -> Principal:
    with unit_of_work(engine) as session:
        return keys.authenticate_api_key(session, raw, clock=clock)


def refused(engine: Engine, raw: str) -> YipanError:
    with pytest.raises(YipanError) as error:
        use(engine, raw, FakeClock())
    assert (error.value.code, error.value.status) == ("INVALID_API_KEY", 401)
    return error.value


def test_a_key_is_shown_once_and_stored_only_as_a_hash(engine: Engine) -> None:
    created = create(engine, FakeClock())
    assert created.key.startswith("yk_")
    assert created.api_key.prefix == created.key[:11]
    assert created.api_key.role == Role.INTEGRATOR
    with unit_of_work(engine, readonly=True) as session:
        stored = session.execute(select(ApiKey.key_hash, ApiKey.prefix)).one()
        listed = keys.list_api_keys(session)
    assert stored.key_hash == hashlib.sha256(created.key.encode()).hexdigest()
    assert created.key not in stored
    assert [k.prefix for k in listed] == [created.api_key.prefix]
    assert "key" not in listed[0].model_dump()


def test_a_key_authenticates_as_its_role_and_scope_and_records_when_it_was_last_used(
    engine: Engine,
) -> None:
    people.stores(engine)
    clock = FakeClock()
    created = create(engine, clock, scope_kind="store", scope_value="SH-2")
    assert created.api_key.last_used_at is None
    principal = use(engine, created.key, clock)
    assert (principal.kind, principal.id, principal.role) == (
        "api_key",
        created.api_key.id,
        Role.INTEGRATOR,
    )
    assert principal.scope == Scope("store", "SH-2")
    first_use = clock.now()
    clock.advance(seconds=30)
    use(engine, created.key, clock)  # within the minute: not worth a write
    with unit_of_work(engine, readonly=True) as session:
        assert keys.list_api_keys(session)[0].last_used_at == first_use
    clock.advance(minutes=1)
    use(engine, created.key, clock)
    with unit_of_work(engine, readonly=True) as session:
        assert keys.list_api_keys(session)[0].last_used_at == clock.now()


def test_a_key_may_carry_another_role(engine: Engine) -> None:
    created = create(engine, FakeClock(), role="planner")
    assert use(engine, created.key, FakeClock()).role == Role.PLANNER


def test_unknown_malformed_and_revoked_keys_are_refused(engine: Engine) -> None:
    clock = FakeClock()
    created = create(engine, clock)
    assert refused(engine, "yk_" + "0" * 40).details == {"reason": "unknown"}
    refused(engine, "not-a-key")
    with unit_of_work(engine) as session:
        revoked = keys.revoke_api_key(session, created.api_key.id, by=people.SETUP, clock=clock)
    assert revoked.revoked_at == clock.now()
    assert refused(engine, created.key).details == {"reason": "revoked"}
    with pytest.raises(YipanError) as again, unit_of_work(engine) as session:
        keys.revoke_api_key(session, created.api_key.id, by=people.SETUP)
    assert again.value.code == "API_KEY_ALREADY_REVOKED"


def test_creating_and_revoking_keys_is_audited(engine: Engine) -> None:
    created = create(engine, FakeClock())
    with unit_of_work(engine) as session:
        keys.revoke_api_key(session, created.api_key.id, by=people.SETUP)
    assert people.audit_actions(engine) == ["api_key.created", "api_key.revoked"]


def test_a_key_for_an_unknown_store_is_refused_and_nothing_written(engine: Engine) -> None:
    before = people.counts(engine)
    with pytest.raises(YipanError) as error:
        create(engine, FakeClock(), scope_kind="store", scope_value="NOPE")
    assert error.value.code == "UNKNOWN_STORE"
    assert people.counts(engine) == before
