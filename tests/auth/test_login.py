"""Logging in on SQLite and PostgreSQL: one error for every bad credential, lock-out, rehash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, select, update

from tests.auth import people
from yipan.auth.models import AuditEntry, User
from yipan.auth.service import login, passwords
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import YipanError


def attempt(engine: Engine, username: str, password: str, clock: FakeClock) -> login.LoginOutcome:
    with unit_of_work(engine) as session:
        return login.authenticate(session, username, password, source_ip="10.0.0.9", clock=clock)


def refusal(outcome: login.LoginOutcome) -> YipanError:
    with pytest.raises(YipanError) as refused:
        outcome.unwrap()
    return refused.value


def test_the_right_password_signs_the_user_in_and_is_audited(engine: Engine) -> None:
    people.stores(engine)
    guide = people.user(engine, "guide", people.Role.STORE_GUIDE, "SH-1")
    clock = FakeClock()
    signed_in = attempt(engine, "  Guide ", people.PASSWORD, clock).unwrap()
    assert signed_in.id == guide.id
    assert (signed_in.principal.name, signed_in.principal.role) == ("guide", "store_guide")
    assert signed_in.principal.scope.value == "SH-1"
    with unit_of_work(engine, readonly=True) as session:
        last_login = session.scalar(select(User.last_login_at))
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        seen = (entry.action, entry.actor_name, entry.source_ip)
    assert last_login == clock.now()
    assert seen == ("login.succeeded", "guide", "10.0.0.9")


def test_a_wrong_password_and_an_unknown_user_get_the_same_error(engine: Engine) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    wrong = refusal(attempt(engine, "admin", "not the password", clock))
    unknown = refusal(attempt(engine, "nobody", "not the password", clock))
    assert wrong.as_dict() == unknown.as_dict()
    assert (wrong.code, wrong.status) == ("INVALID_CREDENTIALS", 401)
    assert people.audit_actions(engine)[-2:] == ["login.failed", "login.failed"]


def test_an_unknown_user_costs_a_password_check_like_a_known_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    people.user(engine, "admin")
    checks: list[str] = []
    real_verify = passwords.verify_password

    def counting(stored_hash: str, password: str) -> bool:
        checks.append(stored_hash)
        return real_verify(stored_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)
    attempt(engine, "nobody", "guess-one-two", FakeClock())
    attempt(engine, "admin", "guess-one-two", FakeClock())
    assert len(checks) == 2
    assert all(h.startswith("$argon2id$") for h in checks)


def test_five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password(
    engine: Engine,
) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    for _ in range(4):
        assert refusal(attempt(engine, "admin", "wrong-password", clock)).code == (
            "INVALID_CREDENTIALS"
        )
        clock.advance(minutes=2)
    fifth = refusal(attempt(engine, "admin", "wrong-password", clock))
    locked_until = clock.now() + timedelta(minutes=15)
    assert (fifth.code, fifth.status) == ("ACCOUNT_LOCKED", 423)
    assert fifth.details == {"locked_until": locked_until.isoformat()}
    assert locked_until.isoformat() in fifth.message

    clock.advance(minutes=14, seconds=59)
    still = refusal(attempt(engine, "admin", people.PASSWORD, clock))
    assert still.code == "ACCOUNT_LOCKED"

    clock.advance(seconds=1)
    assert attempt(engine, "admin", people.PASSWORD, clock).unwrap().principal.name == "admin"
    actions = people.audit_actions(engine)
    assert actions.count("login.locked") == 1
    assert actions[-1] == "login.succeeded"


def test_a_success_resets_the_count_of_failures(engine: Engine) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    for _ in range(4):
        attempt(engine, "admin", "wrong-password", clock)
    attempt(engine, "admin", people.PASSWORD, clock).unwrap()
    for _ in range(4):
        assert refusal(attempt(engine, "admin", "wrong-password", clock)).code == (
            "INVALID_CREDENTIALS"
        )
    attempt(engine, "admin", people.PASSWORD, clock).unwrap()


def test_failures_older_than_fifteen_minutes_do_not_count(engine: Engine) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    for _ in range(4):
        attempt(engine, "admin", "wrong-password", clock)
    clock.advance(minutes=15)
    assert refusal(attempt(engine, "admin", "wrong-password", clock)).code == "INVALID_CREDENTIALS"
    attempt(engine, "admin", people.PASSWORD, clock).unwrap()


def test_a_disabled_user_cannot_log_in_and_is_told_nothing_more(engine: Engine) -> None:
    people.user(engine, "admin")
    other = people.user(engine, "other")
    with unit_of_work(engine) as session:
        people.users.disable_user(session, other.id, by=people.SETUP)
    refused = refusal(attempt(engine, "other", people.PASSWORD, FakeClock()))
    assert refused.code == "INVALID_CREDENTIALS"


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_login(
    engine: Engine, cheap_hashing: PasswordHasher
) -> None:
    people.user(engine, "admin")
    old_hash = PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1).hash(people.PASSWORD)
    assert cheap_hashing.check_needs_rehash(old_hash)
    with unit_of_work(engine) as session:
        session.execute(update(User).values(password_hash=old_hash))

    attempt(engine, "admin", people.PASSWORD, FakeClock()).unwrap()

    with unit_of_work(engine, readonly=True) as session:
        new_hash = session.scalars(select(User.password_hash)).one()
    assert new_hash != old_hash
    assert not cheap_hashing.check_needs_rehash(new_hash)
    attempt(engine, "admin", people.PASSWORD, FakeClock()).unwrap()
