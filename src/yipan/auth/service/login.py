"""Logging in: password check, lock-out after repeated failures, rehash of old hashes.

The refusal is returned, not raised, so the caller commits the failure count and the audit row
before it answers (a raised error would roll them back and lock-out would never happen):

    with unit_of_work(engine) as session:
        outcome = login.authenticate(session, name, password, source_ip=ip, clock=clock)
    signed_in = outcome.unwrap()  # raises InvalidCredentials / AccountLocked
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.auth.domain import LoginCounter, Principal
from yipan.auth.errors import AccountLocked, InvalidCredentials
from yipan.auth.models import User
from yipan.auth.service import passwords
from yipan.auth.service.audit import record_audit
from yipan.auth.service.users import principal_of
from yipan.kernel.clock import Clock, SystemClock
from yipan.kernel.errors import YipanError

_WRONG = "wrong username or password"


@dataclass(frozen=True)
class SignedIn:
    id: int
    session_version: int
    principal: Principal


@dataclass(frozen=True)
class LoginOutcome:
    signed_in: SignedIn | None
    error: YipanError | None

    def unwrap(self) -> SignedIn:
        if self.error is not None:
            raise self.error
        assert self.signed_in is not None
        return self.signed_in


def _locked(until: datetime) -> AccountLocked:
    return AccountLocked(
        f"too many failed logins: the account is locked until {until.isoformat()}",
        locked_until=until.isoformat(),
    )


def _refused(error: YipanError) -> LoginOutcome:
    return LoginOutcome(None, error)


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> LoginOutcome:
    clock = clock or SystemClock()
    now = clock.now()
    name = username.strip().lower()
    # The row lock makes concurrent attempts (from any process) count one after another.
    user = session.scalar(select(User).where(User.username == name).with_for_update())
    if user is None:
        passwords.burn_verification_time(password)
        _audit_failure(session, name, "unknown_user", source_ip, clock)
        return _refused(InvalidCredentials(_WRONG))
    counter = LoginCounter(user.failed_logins, user.failure_window_start, user.locked_until)
    if counter.is_locked(now):
        assert user.locked_until is not None
        _audit_failure(session, name, "locked", source_ip, clock)
        return _refused(_locked(user.locked_until))
    if not passwords.verify_password(user.password_hash, password):
        after = counter.after_failure(now)
        user.failed_logins = after.failures
        user.failure_window_start = after.window_start
        user.locked_until = after.locked_until
        _audit_failure(session, name, "wrong_password", source_ip, clock)
        if after.is_locked(now) and after.locked_until is not None:
            record_audit(
                session,
                None,
                "login.locked",
                f"user:{name}",
                {"locked_until": after.locked_until.isoformat()},
                source_ip,
                clock,
            )
            return _refused(_locked(after.locked_until))
        return _refused(InvalidCredentials(_WRONG))
    if not user.active:
        _audit_failure(session, name, "disabled", source_ip, clock)
        return _refused(InvalidCredentials(_WRONG))
    reset = LoginCounter.after_success()
    user.failed_logins = reset.failures
    user.failure_window_start = reset.window_start
    user.locked_until = reset.locked_until
    user.last_login_at = now
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    session.flush()
    principal = principal_of(user)
    record_audit(session, principal, "login.succeeded", f"user:{name}", {}, source_ip, clock)
    return LoginOutcome(SignedIn(user.id, user.session_version, principal), None)


def _audit_failure(
    session: Session, username: str, reason: str, source_ip: str | None, clock: Clock
) -> None:
    record_audit(
        session, None, "login.failed", f"user:{username}", {"reason": reason}, source_ip, clock
    )


def record_logout(
    session: Session, principal: Principal, *, source_ip: str | None, clock: Clock | None = None
) -> None:
    record_audit(session, principal, "logout", f"user:{principal.name}", {}, source_ip, clock)
