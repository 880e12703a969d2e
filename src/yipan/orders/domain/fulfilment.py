"""Fulfilment state machines and the small rules around them: pickup codes, expiry, promises.

A fulfilment is the part of an order one node hands over in one way. There are two machines:
`SHIPMENT` (also used for local delivery and group-leader delivery, whose steps are the same and
differ only in who carries the parcel) and `PICKUP`. Both are data (`TRANSITIONS`) read by
`next_state`, so the allowed actions shown to staff and the rule that is enforced cannot drift
apart.

`goods_leave` and `releases_stock` tell the service what a transition means for the reservation
held at the node: commit it when goods physically leave, release it when the fulfilment ends
without them leaving. A return to sender is neither: the reservation was already committed at
shipping, so the parcel coming back is a receipt of stock, which the returns flow books.

Nothing here reads a clock or a random source; callers pass `now` and random bytes in.
"""

from __future__ import annotations

import hmac
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from yipan.kernel.errors import Conflict


class Kind(StrEnum):
    SHIPMENT = "shipment"
    PICKUP = "pickup"
    # A sale at the till: the customer walked out with the goods, so it starts and ends handed over.
    COUNTER = "counter"


class State(StrEnum):
    CREATED = "created"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    RETURNED_TO_SENDER = "returned_to_sender"
    READY_FOR_PICKUP = "ready_for_pickup"
    PICKED_UP = "picked_up"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ALLOCATE = "allocate"
    START_PICKING = "start_picking"
    PACK = "pack"
    SHIP = "ship"
    DELIVER = "deliver"
    FAIL_DELIVERY = "fail_delivery"
    MARK_READY = "mark_ready"
    HAND_OVER = "hand_over"
    EXPIRE = "expire"
    CANCEL = "cancel"


# Routing methods (`yipan.orders.domain.routing.Method` values) and the machine each one runs.
KIND_FOR_METHOD: Mapping[str, Kind] = MappingProxyType(
    {
        "ship": Kind.SHIPMENT,
        "local_delivery": Kind.SHIPMENT,
        "group_leader": Kind.SHIPMENT,
        "pickup": Kind.PICKUP,
    }
)

_SHIPMENT: Mapping[State, Mapping[Action, State]] = MappingProxyType(
    {
        State.CREATED: {Action.ALLOCATE: State.ALLOCATED, Action.CANCEL: State.CANCELLED},
        State.ALLOCATED: {Action.START_PICKING: State.PICKING, Action.CANCEL: State.CANCELLED},
        State.PICKING: {Action.PACK: State.PACKED, Action.CANCEL: State.CANCELLED},
        State.PACKED: {Action.SHIP: State.SHIPPED, Action.CANCEL: State.CANCELLED},
        # Once shipped the parcel is out of our hands: it can only arrive or come back.
        State.SHIPPED: {
            Action.DELIVER: State.DELIVERED,
            Action.FAIL_DELIVERY: State.RETURNED_TO_SENDER,
        },
        State.DELIVERED: {},
        State.RETURNED_TO_SENDER: {},
        State.CANCELLED: {},
    }
)

_PICKUP: Mapping[State, Mapping[Action, State]] = MappingProxyType(
    {
        State.CREATED: {Action.ALLOCATE: State.ALLOCATED, Action.CANCEL: State.CANCELLED},
        State.ALLOCATED: {
            Action.MARK_READY: State.READY_FOR_PICKUP,
            Action.CANCEL: State.CANCELLED,
        },
        State.READY_FOR_PICKUP: {
            Action.HAND_OVER: State.PICKED_UP,
            Action.EXPIRE: State.EXPIRED,
            Action.CANCEL: State.CANCELLED,
        },
        State.PICKED_UP: {},
        State.EXPIRED: {},
        State.CANCELLED: {},
    }
)

_COUNTER: Mapping[State, Mapping[Action, State]] = MappingProxyType({State.PICKED_UP: {}})

TRANSITIONS: Mapping[Kind, Mapping[State, Mapping[Action, State]]] = MappingProxyType(
    {Kind.SHIPMENT: _SHIPMENT, Kind.PICKUP: _PICKUP, Kind.COUNTER: _COUNTER}
)

INITIAL_STATE = State.CREATED
# A till sale starts where the other machines end: the goods are already in the customer's hands.
STARTS_IN: Mapping[Kind, State] = MappingProxyType(
    {Kind.SHIPMENT: INITIAL_STATE, Kind.PICKUP: INITIAL_STATE, Kind.COUNTER: State.PICKED_UP}
)

_GOODS_LEAVE: Mapping[Kind, State] = MappingProxyType(
    {Kind.SHIPMENT: State.SHIPPED, Kind.PICKUP: State.PICKED_UP, Kind.COUNTER: State.PICKED_UP}
)
_RELEASING = frozenset({State.CANCELLED, State.EXPIRED})

PICKUP_CODE_DIGITS = 6
# With 8 bytes the modulo bias towards low codes is below 1e-13, so it needs no rejection loop.
PICKUP_CODE_MIN_BYTES = 8


class IllegalFulfilmentTransition(Conflict):
    code = "ILLEGAL_TRANSITION"


def allowed_actions(kind: Kind, state: State) -> tuple[Action, ...]:
    """Actions that may be taken from `state`, in the order the table lists them."""
    return tuple(TRANSITIONS[kind].get(state, {}))


def is_terminal(kind: Kind, state: State) -> bool:
    return not allowed_actions(kind, state)


def next_state(kind: Kind, state: State, action: Action) -> State:
    """The state `action` leads to, or `IllegalFulfilmentTransition` naming what is allowed."""
    target = TRANSITIONS[kind].get(state, {}).get(action)
    if target is None:
        allowed = [a.value for a in allowed_actions(kind, state)]
        raise IllegalFulfilmentTransition(
            f"cannot {action} a {kind} fulfilment that is {state}",
            kind=str(kind),
            state=str(state),
            action=str(action),
            allowed_actions=allowed,
        )
    return target


def goods_leave(kind: Kind, state_after: State) -> bool:
    """True when reaching `state_after` means the goods left the node: commit the reservation."""
    return _GOODS_LEAVE[kind] == state_after


def releases_stock(state_after: State) -> bool:
    """True when reaching `state_after` ends the fulfilment with the goods still at the node."""
    return state_after in _RELEASING


def pickup_expired(ready_at: datetime, now: datetime, days: int) -> bool:
    """True once `days` have passed since the pickup became ready (the boundary instant counts)."""
    if days < 0:
        raise ValueError("days must not be negative")
    return now >= ready_at + timedelta(days=days)


def pickup_code(random_bytes: bytes) -> str:
    """A 6-digit code from caller-supplied randomness, e.g. `secrets.token_bytes(8)`."""
    if len(random_bytes) < PICKUP_CODE_MIN_BYTES:
        raise ValueError(f"pickup codes need at least {PICKUP_CODE_MIN_BYTES} random bytes")
    n = int.from_bytes(random_bytes, "big") % 10**PICKUP_CODE_DIGITS
    return f"{n:0{PICKUP_CODE_DIGITS}d}"


def _normalise_code(code: str) -> bytes:
    # NFKC turns full-width digits from Chinese input methods into ASCII ones; staff and customers
    # read codes out in groups ("123 456"), so every kind of whitespace is dropped.
    folded = unicodedata.normalize("NFKC", code)
    return "".join(folded.split()).encode()


def pickup_code_matches(expected: str, given: str) -> bool:
    """Compare a pickup code in constant time, ignoring spaces and full-width digits."""
    want = _normalise_code(expected)
    # An empty expected code would otherwise match an empty answer.
    return bool(want) and hmac.compare_digest(want, _normalise_code(given))


def local_delivery_promise(placed_at: datetime, hours: float = 1) -> datetime:
    """When a local delivery placed at `placed_at` is promised to arrive."""
    if hours <= 0:
        raise ValueError("hours must be positive")
    return placed_at + timedelta(hours=hours)
