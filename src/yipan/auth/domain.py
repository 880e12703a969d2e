"""Who may do what, and over which part of the organisation: roles, data scopes, lock-out rules.

Pure values and functions; the service layer loads users and keys and asks these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol


class Role(StrEnum):
    HQ_ADMIN = "hq_admin"
    REGION_MANAGER = "region_manager"
    STORE_MANAGER = "store_manager"
    STORE_GUIDE = "store_guide"
    MARKETER = "marketer"
    PLANNER = "planner"
    INTEGRATOR = "integrator"


ScopeKind = Literal["all", "region", "store"]

# The data scopes each role may hold; the first is the one it gets when none is asked for. An
# integration may be limited to one region or one store (a store's till), people follow their post.
ROLE_SCOPE_KINDS: dict[Role, tuple[ScopeKind, ...]] = {
    Role.HQ_ADMIN: ("all",),
    Role.REGION_MANAGER: ("region",),
    Role.STORE_MANAGER: ("store",),
    Role.STORE_GUIDE: ("store",),
    Role.MARKETER: ("all",),
    Role.PLANNER: ("all",),
    Role.INTEGRATOR: ("all", "region", "store"),
}


@dataclass(frozen=True)
class Scope:
    """The part of the organisation someone sees: everything, one region (a province as the
    inventory nodes name it) or one store (a node code)."""

    kind: ScopeKind
    value: str | None = None

    def __post_init__(self) -> None:
        if (self.kind == "all") != (self.value is None):
            raise ValueError("a region or store scope needs a value; the whole chain has none")


ALL = Scope("all")


class ScopeError(ValueError):
    """A role and a scope that do not go together."""


def scope_of(role: Role, kind: ScopeKind | None, value: str | None) -> Scope:
    """The scope a user or key of `role` gets, checked against what the role may hold."""
    allowed = ROLE_SCOPE_KINDS[role]
    if kind is None:
        if value is not None and len(allowed) > 1:
            raise ScopeError(f"say whether {value!r} is a region or a store (scope_kind)")
        kind = allowed[0]
    if kind not in allowed:
        raise ScopeError(f"a {role} may only be scoped to: {', '.join(allowed)}")
    if kind == "all":
        if value is not None:
            raise ScopeError(f"a {role} sees the whole chain and takes no scope value")
        return ALL
    if not value:
        raise ScopeError(f"a {role} needs a {kind} (scope_value)")
    return Scope(kind, value)


class HasScope(Protocol):
    @property
    def scope_kind(self) -> str: ...

    @property
    def scope_value(self) -> str | None: ...


def scope_for(holder: HasScope) -> Scope:
    """The scope stored on a user or key (checked when it was created)."""
    kind = holder.scope_kind
    if kind not in ("all", "region", "store"):
        raise ScopeError(f"unknown scope kind {kind!r}")
    return Scope(kind, holder.scope_value)  # type: ignore[arg-type]


def allows_store(scope: Scope, store_code: str, store_region: str | None) -> bool:
    """Whether `scope` sees a store (or any node): its region's manager does, its own staff do."""
    if scope.kind == "all":
        return True
    if scope.kind == "region":
        return store_region is not None and store_region == scope.value
    return store_code == scope.value


def allows_region(scope: Scope, region: str) -> bool:
    """Whether `scope` sees a whole region; a store's staff see their store, not its region."""
    return scope.kind == "all" or (scope.kind == "region" and scope.value == region)


_EVERYONE = frozenset(Role)
_STORE_FLOOR = frozenset({Role.HQ_ADMIN, Role.REGION_MANAGER, Role.STORE_MANAGER, Role.STORE_GUIDE})

PERMISSIONS: dict[str, frozenset[Role]] = {
    "orders.read": _EVERYONE,
    "orders.write": _STORE_FLOOR | {Role.INTEGRATOR},
    "members.read": _STORE_FLOOR | {Role.MARKETER, Role.INTEGRATOR},
    "members.write": _STORE_FLOOR | {Role.MARKETER, Role.INTEGRATOR},
    "members.merge": frozenset({Role.HQ_ADMIN, Role.MARKETER}),
    "members.export": frozenset({Role.HQ_ADMIN}),
    # Phones and e-mails shown whole in the 360 view: HQ, and a store's manager to call a customer.
    "members.pii": frozenset({Role.HQ_ADMIN, Role.STORE_MANAGER}),
    "members.erase": frozenset({Role.HQ_ADMIN}),
    # Which guide (导购) and store serve a member: the store's manager, or above, decides.
    "members.bind": frozenset({Role.HQ_ADMIN, Role.REGION_MANAGER, Role.STORE_MANAGER}),
    "inventory.read": _EVERYONE,
    "inventory.write": frozenset(
        {Role.HQ_ADMIN, Role.REGION_MANAGER, Role.STORE_MANAGER, Role.INTEGRATOR}
    ),
    "inventory.transfer": frozenset(
        {Role.HQ_ADMIN, Role.REGION_MANAGER, Role.STORE_MANAGER, Role.PLANNER}
    ),
    # Run demand forecasts and set reorder points from them (insights' planning writes).
    "insights.plan": frozenset({Role.HQ_ADMIN, Role.REGION_MANAGER, Role.PLANNER}),
    "catalog.read": _EVERYONE,
    "catalog.write": frozenset({Role.HQ_ADMIN, Role.INTEGRATOR}),
    "promotions.read": _EVERYONE,
    "promotions.write": frozenset({Role.HQ_ADMIN, Role.MARKETER}),
    # Saved member segments (insights): marketers define them, anyone reading members sees them.
    "segments.write": frozenset({Role.HQ_ADMIN, Role.MARKETER}),
    "channels.read": _EVERYONE,
    "channels.manage": frozenset({Role.HQ_ADMIN, Role.INTEGRATOR}),
    "events.read": frozenset({Role.HQ_ADMIN, Role.INTEGRATOR}),
    "audit.read": frozenset({Role.HQ_ADMIN}),
    "users.manage": frozenset({Role.HQ_ADMIN}),
}
"""Action → the roles that may perform it.

The whole permission model is this one table, kept small and explicit so it can be read (and
reviewed) at a glance: an action is `<area>.<verb>`; a role not listed for an action may not do
it. What a role may do is further narrowed by its data scope (`allows_store`, `allows_region`),
which the routes apply to the rows they show. Guides sell and look members up but do not merge,
export or move stock between nodes; planners read everything and propose transfers; marketers own
promotions and member merges; integrators write what systems send (orders, stock, catalogue).
"""


def is_known_action(action: str) -> bool:
    return action in PERMISSIONS


def may(role: Role | str, action: str) -> bool:
    """Whether `role` may perform `action`; an action missing from the table is a programming
    error, not a refusal, so typos fail loudly."""
    if action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}; add it to PERMISSIONS")
    return role in PERMISSIONS[action]


def permissions_of(role: Role | str) -> list[str]:
    return sorted(action for action, roles in PERMISSIONS.items() if role in roles)


PrincipalKind = Literal["user", "api_key", "system"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a signed-in user, an API key, or the system itself (the CLI)."""

    kind: PrincipalKind
    id: int | None
    name: str
    role: Role
    scope: Scope

    def may(self, action: str) -> bool:
        return may(self.role, action)

    @classmethod
    def system(cls, name: str) -> Principal:
        return cls("system", None, name, Role.HQ_ADMIN, ALL)


# Lock-out: this many failed logins within the window lock the account for the lock time.
MAX_FAILED_LOGINS = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_DURATION = timedelta(minutes=15)


@dataclass(frozen=True)
class LoginCounter:
    """Failed logins counted since `window_start`, and the lock they may have caused."""

    failures: int = 0
    window_start: datetime | None = None
    locked_until: datetime | None = None

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> LoginCounter:
        """Count one more failure; the fifth within the window locks the account and starts the
        count again, so the account is not locked anew by the first failure after the lock."""
        in_window = self.window_start is not None and now - self.window_start < FAILURE_WINDOW
        failures = self.failures + 1 if in_window else 1
        window_start = self.window_start if in_window else now
        if failures >= MAX_FAILED_LOGINS:
            return LoginCounter(0, None, now + LOCK_DURATION)
        return LoginCounter(failures, window_start, self.locked_until)

    @staticmethod
    def after_success() -> LoginCounter:
        return LoginCounter()
