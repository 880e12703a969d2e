from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from yipan.inventory.domain import (
    BufferMode,
    ChannelBuffer,
    IllegalTransition,
    MovementKind,
    TransferAction,
    TransferStatus,
    alert_threshold,
    atp,
    bounding_box,
    crossed_below,
    haversine_km,
    signed_quantity,
    surplus,
    transfer_next,
)

lats = st.floats(min_value=18, max_value=53, allow_nan=False)
lons = st.floats(min_value=73, max_value=135, allow_nan=False)


def test_atp_takes_reserved_and_safety_stock_off_on_hand() -> None:
    assert atp(100, 30, 10) == 60
    assert atp(5, 5, 0) == 0
    assert atp(5, 0, 10) == 0  # never negative, even when safety stock exceeds stock


@pytest.mark.parametrize(
    ("kind", "sent", "delta"),
    [
        (MovementKind.RECEIPT, 5, 5),
        (MovementKind.RETURN, 2, 2),
        (MovementKind.TRANSFER_IN, 3, 3),
        (MovementKind.SALE, 4, -4),
        (MovementKind.TRANSFER_OUT, 1, -1),
        (MovementKind.RESERVATION_COMMIT, 7, -7),
        (MovementKind.ADJUSTMENT, -3, -3),
        (MovementKind.ADJUSTMENT, 3, 3),
    ],
)
def test_the_kind_gives_the_sign(kind: MovementKind, sent: int, delta: int) -> None:
    assert signed_quantity(kind, sent) == delta


@pytest.mark.parametrize("kind", [MovementKind.SALE, MovementKind.RECEIPT])
def test_negative_quantity_for_a_signed_kind_is_refused(kind: MovementKind) -> None:
    with pytest.raises(ValueError, match="positive"):
        signed_quantity(kind, -1)


def test_zero_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="zero"):
        signed_quantity(MovementKind.ADJUSTMENT, 0)


@given(available=st.integers(-50, 10_000), value=st.integers(0, 100))
def test_a_percentage_buffer_never_shows_more_than_there_is(available: int, value: int) -> None:
    seen = ChannelBuffer(BufferMode.PERCENT, value).apply(available)
    assert 0 <= seen <= max(0, available)
    if value == 0:
        assert seen == max(0, available)
    if value == 100:
        assert seen == 0


@given(available=st.integers(0, 10_000), value=st.integers(0, 10_000))
def test_a_units_buffer_hides_exactly_its_units(available: int, value: int) -> None:
    assert ChannelBuffer(BufferMode.UNITS, value).apply(available) == max(0, available - value)


def test_a_buffer_over_100_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 100"):
        ChannelBuffer(BufferMode.PERCENT, 101)


def test_haversine_matches_known_city_distances() -> None:
    shanghai, nanjing, beijing = (31.2304, 121.4737), (32.0603, 118.7969), (39.9042, 116.4074)
    assert haversine_km(*shanghai, *nanjing) == pytest.approx(270, abs=5)
    assert haversine_km(*shanghai, *beijing) == pytest.approx(1068, abs=10)


@given(lats, lons, lats, lons)
def test_haversine_is_a_symmetric_non_negative_distance(
    a_lat: float, a_lon: float, b_lat: float, b_lon: float
) -> None:
    d = haversine_km(a_lat, a_lon, b_lat, b_lon)
    assert d >= 0
    assert d == pytest.approx(haversine_km(b_lat, b_lon, a_lat, a_lon))


@given(lats, lons, st.floats(0.1, 500), st.floats(0, 1), st.floats(0, 360))
def test_the_bounding_box_holds_every_point_within_the_radius(
    lat: float, lon: float, radius: float, share: float, bearing_deg: float
) -> None:
    # Walk `share` of the radius from the centre on a bearing; the point must be in the box.
    distance = radius * share * 0.999
    bearing = math.radians(bearing_deg)
    phi1, lmb1 = math.radians(lat), math.radians(lon)
    delta = distance / 6371.0088
    phi2 = math.asin(
        math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(bearing)
    )
    lmb2 = lmb1 + math.atan2(
        math.sin(bearing) * math.sin(delta) * math.cos(phi1),
        math.cos(delta) - math.sin(phi1) * math.sin(phi2),
    )
    p_lat, p_lon = math.degrees(phi2), math.degrees(lmb2)
    assert haversine_km(lat, lon, p_lat, p_lon) <= radius
    box = bounding_box(lat, lon, radius)
    assert box.min_lat <= p_lat <= box.max_lat
    assert box.min_lon <= p_lon <= box.max_lon


@given(
    start=st.integers(0, 200),
    moves=st.lists(st.integers(-20, 20), max_size=60),
    threshold=st.integers(1, 50),
)
def test_crossing_below_fires_once_per_drop(start: int, moves: list[int], threshold: int) -> None:
    level, fired, below = start, 0, start < threshold
    drops = 0
    for move in moves:
        after = max(0, level + move)
        if crossed_below(level, after, threshold):
            fired += 1
        if not below and after < threshold:
            drops += 1
        below = after < threshold
        level = after
    assert fired == drops


def test_a_zero_threshold_never_alerts() -> None:
    assert not crossed_below(10, 0, 0)


def test_alert_threshold_prefers_the_reorder_point() -> None:
    assert alert_threshold(reorder_point=20, safety_stock=5) == 20
    assert alert_threshold(reorder_point=0, safety_stock=5) == 5


def test_surplus_is_what_is_above_the_reorder_point() -> None:
    assert surplus(100, 30) == 70
    assert surplus(10, 30) == 0


def test_transfer_life_cycle_and_refusals() -> None:
    status = transfer_next(TransferStatus.REQUESTED, TransferAction.SHIP)
    assert status is TransferStatus.SHIPPED
    assert transfer_next(status, TransferAction.RECEIVE) is TransferStatus.RECEIVED
    with pytest.raises(IllegalTransition) as refused:
        transfer_next(TransferStatus.SHIPPED, TransferAction.CANCEL)
    assert refused.value.details["allowed"] == ["receive"]
