"""Users: create, list, read, disable, and end all of a user's sessions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from yipan.auth.domain import Principal, Role, Scope, ScopeError, ScopeKind, scope_for, scope_of
from yipan.auth.errors import (
    CannotDisableSelf,
    InvalidScope,
    UnknownRegion,
    UnknownStore,
    UnknownUser,
    UserAlreadyDisabled,
    UsernameTaken,
)
from yipan.auth.models import User
from yipan.auth.schemas import UserIn, UserOut
from yipan.auth.service import passwords
from yipan.auth.service.audit import record_audit
from yipan.inventory.errors import UnknownNode
from yipan.inventory.service import nodes
from yipan.kernel.clock import Clock, SystemClock


def checked_scope(session: Session, role: Role, kind: ScopeKind | None, value: str | None) -> Scope:
    """The scope asked for, if the role may hold it and the store or region exists."""
    try:
        scope = scope_of(role, kind, value)
    except ScopeError as exc:
        raise InvalidScope(str(exc), role=role, scope_kind=kind, scope_value=value) from None
    if scope.kind == "store" and scope.value is not None:
        try:
            nodes.get_node(session, scope.value)
        except UnknownNode:
            raise UnknownStore(f"no node with code {scope.value}", store=scope.value) from None
    if (
        scope.kind == "region"
        and scope.value is not None
        and not nodes.list_nodes(session, province=scope.value)
    ):
        raise UnknownRegion(
            f"no node is in the province {scope.value}; a region is a province as the nodes "
            "name it (e.g. 上海市, 广东省)",
            region=scope.value,
        )
    return scope


def principal_of(user: User) -> Principal:
    return Principal("user", user.id, user.username, Role(user.role), scope_for(user))


def create_user(
    session: Session,
    user_in: UserIn,
    *,
    by: Principal,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> UserOut:
    clock = clock or SystemClock()
    passwords.check_strength(user_in.password)
    scope = checked_scope(session, user_in.role, user_in.scope_kind, user_in.scope_value)
    if session.scalar(select(User.id).where(User.username == user_in.username)) is not None:
        raise UsernameTaken(f"the username {user_in.username} is taken", username=user_in.username)
    user = User(
        username=user_in.username,
        display_name=user_in.display_name,
        role=user_in.role,
        scope_kind=scope.kind,
        scope_value=scope.value,
        password_hash=passwords.hash_password(user_in.password),
        active=True,
        session_version=1,
        failed_logins=0,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        by,
        "user.created",
        f"user:{user.username}",
        {"role": user.role, "scope_kind": scope.kind, "scope_value": scope.value},
        source_ip,
        clock,
    )
    return UserOut.model_validate(user)


def list_users(session: Session, *, include_disabled: bool = True) -> list[UserOut]:
    stmt = select(User).order_by(User.username)
    if not include_disabled:
        stmt = stmt.where(User.active.is_(True))
    return [UserOut.model_validate(u) for u in session.scalars(stmt)]


def _user(session: Session, user_id: int, *, for_update: bool = False) -> User:
    stmt = select(User).where(User.id == user_id)
    user = session.scalar(stmt.with_for_update() if for_update else stmt)
    if user is None:
        raise UnknownUser(f"no user with id {user_id}", user_id=user_id)
    return user


def get_user(session: Session, user_id: int) -> UserOut:
    return UserOut.model_validate(_user(session, user_id))


def user_by_id(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def disable_user(
    session: Session,
    user_id: int,
    *,
    by: Principal,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> UserOut:
    """Disable an account; its sessions end at once (a new session version)."""
    clock = clock or SystemClock()
    user = _user(session, user_id, for_update=True)
    if by.kind == "user" and by.id == user.id:
        raise CannotDisableSelf("you cannot disable your own account", user_id=user_id)
    if not user.active:
        raise UserAlreadyDisabled(f"{user.username} is already disabled", user_id=user_id)
    user.active = False
    user.disabled_at = clock.now()
    user.session_version += 1
    session.flush()
    record_audit(session, by, "user.disabled", f"user:{user.username}", {}, source_ip, clock)
    return UserOut.model_validate(user)


def end_sessions(
    session: Session,
    user_id: int,
    *,
    by: Principal,
    source_ip: str | None = None,
    clock: Clock | None = None,
) -> None:
    """Sign a user out everywhere: every token issued before now stops working."""
    user = _user(session, user_id, for_update=True)
    user.session_version += 1
    session.flush()
    record_audit(
        session, by, "user.signed_out_everywhere", f"user:{user.username}", {}, source_ip, clock
    )
