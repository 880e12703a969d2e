"""Session tokens and CSRF tokens: signed, expiring, ended by a new session version."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from tests.auth import people
from yipan.auth.service import login, sessions, users
from yipan.kernel.clock import FakeClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import YipanError


def signed_in(engine: Engine, username: str, clock: FakeClock) -> login.SignedIn:
    with unit_of_work(engine) as session:
        outcome = login.authenticate(session, username, people.PASSWORD, clock=clock)
    return outcome.unwrap()


def who(engine: Engine, token: str, clock: FakeClock) -> str:
    with unit_of_work(engine, readonly=True) as session:
        return sessions.principal_for_session(session, token, clock=clock).name


def refused_reason(engine: Engine, token: str, clock: FakeClock) -> str:
    with pytest.raises(YipanError) as refused:
        who(engine, token, clock)
    assert (refused.value.code, refused.value.status) == ("NOT_AUTHENTICATED", 401)
    reason: str = refused.value.details["reason"]
    return reason


def test_a_token_names_its_user_for_twelve_hours(engine: Engine) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    token = sessions.issue_session_token(signed_in(engine, "admin", clock), clock=clock)
    assert who(engine, token, clock) == "admin"
    clock.advance(hours=11, minutes=59)
    assert who(engine, token, clock) == "admin"
    clock.advance(minutes=1, seconds=1)
    assert refused_reason(engine, token, clock) == "expired"


def test_a_tampered_token_is_refused(engine: Engine) -> None:
    people.user(engine, "admin")
    other = people.user(engine, "other")
    clock = FakeClock()
    token = sessions.issue_session_token(signed_in(engine, "admin", clock), clock=clock)
    rest = token.split(".", 1)[1]
    forged_claims = sessions._serializer(clock).dump_payload({"u": other.id, "v": 1}).decode()
    for forged in (token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), f"{forged_claims}.{rest}"):
        assert refused_reason(engine, forged, clock) == "invalid"
    assert who(engine, token, clock) == "admin"


def test_a_token_signed_with_another_secret_is_refused(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    me = signed_in(engine, "admin", clock)
    monkeypatch.setattr(get_settings(), "secret_key", "somebody-elses-secret-key")
    foreign = sessions.issue_session_token(me, clock=clock)
    monkeypatch.undo()
    assert refused_reason(engine, foreign, clock) == "invalid"


def test_signing_out_everywhere_or_being_disabled_ends_older_sessions(engine: Engine) -> None:
    people.user(engine, "admin")
    clock = FakeClock()
    me = signed_in(engine, "admin", clock)
    first = sessions.issue_session_token(me, clock=clock)
    with unit_of_work(engine) as session:
        users.end_sessions(session, me.id, by=me.principal)
    assert refused_reason(engine, first, clock) == "ended"

    second = sessions.issue_session_token(signed_in(engine, "admin", clock), clock=clock)
    assert who(engine, second, clock) == "admin"
    with unit_of_work(engine) as session:
        users.disable_user(session, me.id, by=people.SETUP)
    assert refused_reason(engine, second, clock) == "ended"
    assert "user.signed_out_everywhere" in people.audit_actions(engine)


def test_the_csrf_token_belongs_to_one_session_only() -> None:
    token = sessions.csrf_token_for("session-a")
    sessions.check_csrf("session-a", token)
    for session_token, csrf in [("session-b", token), ("session-a", None), ("session-a", "")]:
        with pytest.raises(YipanError) as refused:
            sessions.check_csrf(session_token, csrf)
        assert (refused.value.code, refused.value.status) == ("CSRF_FAILED", 403)
    assert sessions.csrf_token_for("session-a") == token
    assert sessions.csrf_token_for("session-b") != token


def test_the_session_lasts_twelve_hours() -> None:
    assert timedelta(hours=12) == sessions.SESSION_MAX_AGE
