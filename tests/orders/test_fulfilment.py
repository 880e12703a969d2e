"""Fulfilment state machines: every transition legal and illegal, the error shape, and helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.orders.domain.fulfilment import (
    INITIAL_STATE,
    KIND_FOR_METHOD,
    STARTS_IN,
    TRANSITIONS,
    Action,
    IllegalFulfilmentTransition,
    Kind,
    State,
    allowed_actions,
    goods_leave,
    is_terminal,
    local_delivery_promise,
    next_state,
    pickup_code,
    pickup_code_matches,
    pickup_expired,
    releases_stock,
)
from yipan.orders.domain.routing import Method

S, A = State, Action
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

# Written out independently of the table in the module, so a slip in either shows up here.
LEGAL: dict[tuple[Kind, State, Action], State] = {
    (Kind.SHIPMENT, S.CREATED, A.ALLOCATE): S.ALLOCATED,
    (Kind.SHIPMENT, S.ALLOCATED, A.START_PICKING): S.PICKING,
    (Kind.SHIPMENT, S.PICKING, A.PACK): S.PACKED,
    (Kind.SHIPMENT, S.PACKED, A.SHIP): S.SHIPPED,
    (Kind.SHIPMENT, S.SHIPPED, A.DELIVER): S.DELIVERED,
    (Kind.SHIPMENT, S.SHIPPED, A.FAIL_DELIVERY): S.RETURNED_TO_SENDER,
    (Kind.SHIPMENT, S.CREATED, A.CANCEL): S.CANCELLED,
    (Kind.SHIPMENT, S.ALLOCATED, A.CANCEL): S.CANCELLED,
    (Kind.SHIPMENT, S.PICKING, A.CANCEL): S.CANCELLED,
    (Kind.SHIPMENT, S.PACKED, A.CANCEL): S.CANCELLED,
    (Kind.PICKUP, S.CREATED, A.ALLOCATE): S.ALLOCATED,
    (Kind.PICKUP, S.ALLOCATED, A.MARK_READY): S.READY_FOR_PICKUP,
    (Kind.PICKUP, S.READY_FOR_PICKUP, A.HAND_OVER): S.PICKED_UP,
    (Kind.PICKUP, S.READY_FOR_PICKUP, A.EXPIRE): S.EXPIRED,
    (Kind.PICKUP, S.CREATED, A.CANCEL): S.CANCELLED,
    (Kind.PICKUP, S.ALLOCATED, A.CANCEL): S.CANCELLED,
    (Kind.PICKUP, S.READY_FOR_PICKUP, A.CANCEL): S.CANCELLED,
}
ILLEGAL = [
    (kind, state, action)
    for kind in Kind
    for state in State
    for action in Action
    if (kind, state, action) not in LEGAL
]


@pytest.mark.parametrize(("kind", "state", "action"), list(LEGAL), ids=str)
def test_legal_transition(kind: Kind, state: State, action: Action) -> None:
    assert next_state(kind, state, action) is LEGAL[(kind, state, action)]


@pytest.mark.parametrize(("kind", "state", "action"), ILLEGAL, ids=str)
def test_illegal_transition_raises_with_allowed_actions(
    kind: Kind, state: State, action: Action
) -> None:
    with pytest.raises(IllegalFulfilmentTransition) as info:
        next_state(kind, state, action)
    allowed = sorted(a for (k, s, a) in LEGAL if k is kind and s is state)
    details = info.value.details
    assert details["kind"] == kind.value
    assert details["state"] == state.value
    assert details["action"] == action.value
    assert sorted(details["allowed_actions"]) == allowed
    assert all(type(a) is str for a in details["allowed_actions"])


def test_table_holds_exactly_the_legal_transitions() -> None:
    in_table = {
        (kind, state, action): target
        for kind, states in TRANSITIONS.items()
        for state, actions in states.items()
        for action, target in actions.items()
    }
    assert in_table == LEGAL


def test_error_shape_is_a_409_conflict_with_its_code() -> None:
    with pytest.raises(IllegalFulfilmentTransition) as info:
        next_state(Kind.SHIPMENT, S.SHIPPED, A.CANCEL)
    err = info.value
    assert err.status == 409
    body = err.as_dict()
    assert body["code"] == "ILLEGAL_TRANSITION"
    assert "cancel" in body["message"]
    assert "shipped" in body["message"]
    assert body["details"] == {
        "kind": "shipment",
        "state": "shipped",
        "action": "cancel",
        "allowed_actions": ["deliver", "fail_delivery"],
    }


def test_terminal_states_allow_nothing() -> None:
    for state in (S.DELIVERED, S.RETURNED_TO_SENDER, S.CANCELLED):
        assert is_terminal(Kind.SHIPMENT, state)
        assert allowed_actions(Kind.SHIPMENT, state) == ()
    for state in (S.PICKED_UP, S.EXPIRED, S.CANCELLED):
        assert is_terminal(Kind.PICKUP, state)
    assert not is_terminal(Kind.PICKUP, S.READY_FOR_PICKUP)


def test_state_of_the_other_machine_is_illegal_with_nothing_allowed() -> None:
    with pytest.raises(IllegalFulfilmentTransition) as info:
        next_state(Kind.PICKUP, S.PACKED, A.SHIP)
    assert info.value.details["allowed_actions"] == []


def test_every_routing_method_maps_to_a_machine() -> None:
    assert {KIND_FOR_METHOD[m.value] for m in Method} == set(Kind) - {Kind.COUNTER}
    assert KIND_FOR_METHOD[Method.LOCAL_DELIVERY] is Kind.SHIPMENT
    assert KIND_FOR_METHOD[Method.GROUP_LEADER] is Kind.SHIPMENT
    assert KIND_FOR_METHOD[Method.PICKUP] is Kind.PICKUP


def test_every_state_of_each_machine_is_reachable_from_its_start() -> None:
    for kind, states in TRANSITIONS.items():
        seen, todo = {STARTS_IN[kind]}, [STARTS_IN[kind]]
        while todo:
            for target in states[todo.pop()].values():
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        assert seen == set(states), kind


@given(st.sampled_from(list(Kind)), st.lists(st.sampled_from(list(Action)), max_size=12))
def test_any_walk_commits_or_releases_stock_at_most_once(kind: Kind, actions: list[Action]) -> None:
    state, commits, releases = INITIAL_STATE, 0, 0
    for action in actions:
        if action not in allowed_actions(kind, state):
            continue
        state = next_state(kind, state, action)
        commits += goods_leave(kind, state)
        releases += releases_stock(state)
    assert commits + releases <= 1


def test_goods_leave_only_when_shipped_or_picked_up() -> None:
    leave = {(k, s) for k in Kind for s in State if goods_leave(k, s)}
    assert leave == {
        (Kind.SHIPMENT, S.SHIPPED),
        (Kind.PICKUP, S.PICKED_UP),
        (Kind.COUNTER, S.PICKED_UP),
    }


def test_stock_released_on_cancel_and_expiry_only() -> None:
    assert {s for s in State if releases_stock(s)} == {S.CANCELLED, S.EXPIRED}


def test_pickup_expires_at_the_boundary_not_before() -> None:
    assert not pickup_expired(T0, T0, 3)
    assert not pickup_expired(T0, T0 + timedelta(days=3, microseconds=-1), 3)
    assert pickup_expired(T0, T0 + timedelta(days=3), 3)
    assert pickup_expired(T0, T0 + timedelta(days=10), 3)
    assert pickup_expired(T0, T0, 0)


def test_pickup_expiry_refuses_negative_days() -> None:
    with pytest.raises(ValueError):
        pickup_expired(T0, T0, -1)


def test_pickup_code_is_six_digits_and_deterministic() -> None:
    assert pickup_code(b"\x00" * 8) == "000000"
    assert pickup_code((1234567).to_bytes(8, "big")) == "234567"
    assert pickup_code((42).to_bytes(16, "big")) == "000042"


@given(st.binary(min_size=8, max_size=32))
def test_pickup_code_always_six_ascii_digits(raw: bytes) -> None:
    code = pickup_code(raw)
    assert len(code) == 6
    assert code.isascii()
    assert code.isdigit()
    assert code == pickup_code(raw)


def test_pickup_code_refuses_too_little_randomness() -> None:
    with pytest.raises(ValueError):
        pickup_code(b"\x01" * 7)


@pytest.mark.parametrize(
    "given_code", ["123456", " 123456 ", "123 456", "12 34 56\n", "\t123456", "１２３４５６"]
)
def test_pickup_code_matches_tolerates_spacing_and_full_width(given_code: str) -> None:
    assert pickup_code_matches("123456", given_code)


@pytest.mark.parametrize(
    "given_code", ["123457", "12345", "1234567", "", "   ", "abcdef", "一二三"]
)
def test_pickup_code_mismatch(given_code: str) -> None:
    assert not pickup_code_matches("123456", given_code)


def test_empty_expected_code_matches_nothing() -> None:
    assert not pickup_code_matches("", "")
    assert not pickup_code_matches(" ", "")


def test_local_delivery_promise() -> None:
    assert local_delivery_promise(T0) == T0 + timedelta(hours=1)
    assert local_delivery_promise(T0, hours=2) == T0 + timedelta(hours=2)
    assert local_delivery_promise(T0, hours=0.5) == T0 + timedelta(minutes=30)
    assert local_delivery_promise(T0).tzinfo is UTC
    with pytest.raises(ValueError):
        local_delivery_promise(T0, hours=0)
