"""The price policy: one list price everywhere unless an explicit exception, with a reason, says
otherwise for a channel, a region or both; the most specific exception in force wins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from tests import factories
from tests.access import sign_in
from tests.catalog.test_api import assert_error
from tests.support import run_in_processes
from yipan.app import create_app
from yipan.catalog import prices
from yipan.catalog.domain import PriceRule, Scope, effective_price, windows_overlap
from yipan.catalog.models import PriceException
from yipan.catalog.schemas import PriceExceptionIn
from yipan.events.models import OutboxEvent
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

T0 = datetime(2026, 11, 1, tzinfo=UTC)
GD, SH = "广东省", "上海市"
URL = "/api/v1/catalog/price-exceptions"


def rule(
    id: int, price: int, channel: str | None = None, region: str | None = None, **kw: Any
) -> PriceRule:
    return PriceRule(id=id, channel=channel, region=region, price_fen=price, reason=f"r{id}", **kw)


# -- the resolution order, over plain values ---------------------------------------------------

RULES = [
    rule(1, 37900, region=GD),
    rule(2, 29900, channel="miniapp"),
    rule(3, 27900, channel="miniapp", region=GD),
]


@pytest.mark.parametrize(
    ("channel", "region", "price", "rule_id"),
    [
        ("pos", SH, 39900, None),  # nothing applies: the list price
        ("pos", GD, 37900, 1),  # a region exception beats nothing
        ("miniapp", SH, 29900, 2),  # a channel exception beats the list price
        ("miniapp", None, 29900, 2),  # online, no region
        ("miniapp", GD, 27900, 3),  # channel + region beats channel and region
        ("tmall", GD, 37900, 1),  # a region exception holds for every channel
        (None, None, 39900, None),
    ],
)
def test_the_most_specific_exception_wins(
    channel: str | None, region: str | None, price: int, rule_id: int | None
) -> None:
    resolved = effective_price(39900, RULES, channel=channel, region=region, at=T0)
    assert resolved.price_fen == price
    assert (resolved.rule.id if resolved.rule else None) == rule_id


def test_an_exception_applies_only_inside_its_window() -> None:
    eleven = datetime(2026, 11, 11, tzinfo=UTC)
    double_11 = rule(
        1, 29900, channel="tmall", valid_from=eleven, valid_until=eleven + timedelta(days=1)
    )
    at = {
        t: effective_price(39900, [double_11], channel="tmall", region=None, at=t).price_fen
        for t in (
            eleven - timedelta(microseconds=1),
            eleven,
            eleven + timedelta(hours=23),
            eleven + timedelta(days=1),
        )
    }
    assert list(at.values()) == [39900, 29900, 29900, 39900]  # [from, until)


channels = st.sampled_from(["pos", "miniapp", "tmall"])
regions = st.sampled_from([GD, SH])
hours = st.integers(min_value=0, max_value=48)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[PriceRule]:
    out = []
    for i in range(draw(st.integers(min_value=0, max_value=8))):
        scope = draw(st.sampled_from(["channel", "region", "both"]))
        start = draw(st.none() | hours)
        length = draw(st.none() | st.integers(min_value=1, max_value=24))
        valid_from = None if start is None else T0 + timedelta(hours=start)
        valid_until = None if length is None else (valid_from or T0) + timedelta(hours=length)
        out.append(
            rule(
                i + 1,
                draw(st.integers(min_value=1, max_value=99999)),
                draw(channels) if scope != "region" else None,
                draw(regions) if scope != "channel" else None,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
    return out


@given(rule_sets(), st.none() | channels, st.none() | regions, hours)
def test_resolution_takes_the_most_specific_rule_in_force(
    rules: list[PriceRule], channel: str | None, region: str | None, hour: int
) -> None:
    at = T0 + timedelta(hours=hour)
    resolved = effective_price(39900, rules, channel=channel, region=region, at=at)
    applicable = [r for r in rules if r.applies(channel, region, at)]
    if not applicable:
        assert (resolved.price_fen, resolved.rule) == (39900, None)
        return
    assert resolved.rule in applicable
    assert resolved.price_fen == resolved.rule.price_fen
    # No rule in force is more specific than the one chosen.
    assert all(r.scope <= resolved.rule.scope for r in applicable)
    # Rules of other channels, other regions or other times never change the answer.
    assert effective_price(39900, applicable, channel=channel, region=region, at=at) == resolved


@given(rule_sets(), channels, regions, hours)
def test_adding_a_less_specific_rule_never_overrides_a_more_specific_one(
    rules: list[PriceRule], channel: str, region: str, hour: int
) -> None:
    at = T0 + timedelta(hours=hour)
    specific = rule(100, 12345, channel, region)
    before = effective_price(39900, [*rules, specific], channel=channel, region=region, at=at)
    assert before.rule == specific
    broader = [rule(101, 1, channel), rule(102, 2, region=region)]
    after = effective_price(
        39900, [*rules, specific, *broader], channel=channel, region=region, at=at
    )
    assert after.rule == specific


def test_scopes_rank_channel_and_region_over_channel_over_region() -> None:
    assert [r.scope for r in RULES] == [Scope.REGION, Scope.CHANNEL, Scope.CHANNEL_AND_REGION]
    assert Scope.REGION < Scope.CHANNEL < Scope.CHANNEL_AND_REGION


instants = st.none() | hours.map(lambda h: T0 + timedelta(hours=h))


@given(instants, instants, instants, instants)
def test_windows_overlap_when_they_share_an_instant(
    a_from: datetime | None,
    a_until: datetime | None,
    b_from: datetime | None,
    b_until: datetime | None,
) -> None:
    def inside(t: datetime, start: datetime | None, end: datetime | None) -> bool:
        return (start is None or start <= t) and (end is None or t < end)

    # Hour instants plus the unbounded ends stand in for the whole time line.
    probes = [T0 + timedelta(hours=h) for h in range(-1, 50)]
    shared = any(inside(t, a_from, a_until) and inside(t, b_from, b_until) for t in probes)
    empty = (a_from and a_until and a_until <= a_from) or (b_from and b_until and b_until <= b_from)
    if not empty:
        assert windows_overlap(a_from, a_until, b_from, b_until) == shared
    assert windows_overlap(a_from, a_until, b_from, b_until) == windows_overlap(
        b_from, b_until, a_from, a_until
    )


# -- exceptions through the API and the service ------------------------------------------------


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    factories.sku(engine, "JACKET", list_price_fen=39900)
    with TestClient(create_app(engine, background=False)) as client:
        yield sign_in(client)


def body(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sku": "JACKET",
        "channel": "miniapp",
        "price_fen": 29900,
        "reason": "mini-program launch price, approved by HQ pricing",
        "actor": "pricing-li",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def footprint(engine: Engine) -> tuple[int, int]:
    """Exceptions and outbox events: a refused request changes neither."""
    with unit_of_work(engine, readonly=True) as session:
        return (
            session.scalar(select(func.count()).select_from(PriceException)) or 0,
            session.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
        )


def test_set_read_replay_change_and_remove_an_exception(client: TestClient, engine: Engine) -> None:
    created = client.post(URL, json=body())
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["sku"] == "JACKET"
    assert out["channel"] == "miniapp"
    assert out["region"] is None
    assert (out["price_fen"], out["list_price_fen"], out["status"]) == (29900, 39900, "in_force")
    assert out["created_by"] == out["updated_by"] == "pricing-li"

    replay = client.post(URL, json=body(actor="someone-else"))
    assert replay.status_code == 200
    assert replay.json()["id"] == out["id"]
    assert footprint(engine) == (1, 2)  # SkuSaved + PriceExceptionSaved, nothing for the replay

    assert client.get(f"{URL}/{out['id']}").json() == out
    changed = client.put(f"{URL}/{out['id']}", json=body(price_fen=31900, actor="pricing-wang"))
    assert changed.status_code == 200, changed.text
    assert changed.json()["price_fen"] == 31900
    assert changed.json()["created_by"] == "pricing-li"
    assert changed.json()["updated_by"] == "pricing-wang"
    again = client.put(f"{URL}/{out['id']}", json=body(price_fen=31900, actor="pricing-wang"))
    assert again.json()["updated_at"] == changed.json()["updated_at"]
    assert footprint(engine) == (1, 3)

    page = client.get(URL, params={"sku": "JACKET", "channel": "miniapp"}).json()
    assert page["total"] == 1
    assert page["items"][0]["price_fen"] == 31900
    assert client.get(URL, params={"status": "ended"}).json()["total"] == 0

    gone = client.delete(f"{URL}/{out['id']}", params={"actor": "pricing-li"})
    assert gone.status_code == 204
    assert_error(client.get(f"{URL}/{out['id']}"), 404, "UNKNOWN_PRICE_EXCEPTION")
    assert_error(
        client.delete(f"{URL}/{out['id']}", params={"actor": "pricing-li"}),
        404,
        "UNKNOWN_PRICE_EXCEPTION",
    )
    with unit_of_work(engine, readonly=True) as session:
        names = list(session.scalars(select(OutboxEvent.name).order_by(OutboxEvent.id)))
    assert names[-1] == "catalog.PriceExceptionRemoved"


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"sku": "NO-SUCH-SKU"}, 422, "UNKNOWN_SKU"),
        ({"price_fen": 0}, 422, "VALIDATION_ERROR"),
        ({"price_fen": -100}, 422, "VALIDATION_ERROR"),
        ({"price_fen": 299.0}, 422, "VALIDATION_ERROR"),
        ({"reason": "   "}, 422, "VALIDATION_ERROR"),
        ({"reason": ""}, 422, "VALIDATION_ERROR"),
        ({"actor": ""}, 422, "VALIDATION_ERROR"),
        ({"channel": None}, 422, "VALIDATION_ERROR"),  # neither channel nor region
        ({"channel": "Mini App"}, 422, "VALIDATION_ERROR"),
        (
            {"valid_from": "2026-11-12T00:00:00+08:00", "valid_until": "2026-11-11T00:00:00+08:00"},
            422,
            "VALIDATION_ERROR",
        ),
        ({"valid_from": "2026-11-11T00:00:00"}, 422, "VALIDATION_ERROR"),  # no UTC offset
    ],
)
def test_bad_exceptions_are_refused_and_leave_nothing(
    client: TestClient, engine: Engine, overrides: dict[str, Any], status: int, code: str
) -> None:
    data = body()
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    before = footprint(engine)
    assert_error(client.post(URL, json=data), status, code)
    assert footprint(engine) == before


def test_overlapping_exceptions_of_one_scope_are_refused(
    client: TestClient, engine: Engine
) -> None:
    double_11 = {
        "valid_from": "2026-11-11T00:00:00+08:00",
        "valid_until": "2026-11-12T00:00:00+08:00",
    }
    first = client.post(URL, json=body(channel="tmall", price_fen=29900, **double_11))
    assert first.status_code == 201, first.text
    before = footprint(engine)

    # Open-ended, or starting inside, or another price for the same day: all overlap.
    for overlapping in [
        body(channel="tmall", price_fen=30900),
        body(channel="tmall", valid_from="2026-11-11T12:00:00+08:00"),
        body(channel="tmall", price_fen=31900, **double_11),
    ]:
        refused = assert_error(
            client.post(URL, json=overlapping), 409, "OVERLAPPING_PRICE_EXCEPTION"
        )
        assert refused["details"]["exception_id"] == first.json()["id"]
    assert footprint(engine) == before

    # The day after, another scope, or a more specific scope: all fine.
    for fine in [
        body(channel="tmall", valid_from="2026-11-12T00:00:00+08:00"),
        body(channel="tmall", region=GD, **double_11),
        body(channel="miniapp", **double_11),
        body(channel=None, region=GD, **double_11),
    ]:
        assert client.post(URL, json=fine).status_code == 201

    # Changing an exception so that it overlaps another is refused too.
    later = client.get(URL, params={"channel": "tmall"}).json()["items"]
    day_after = next(e for e in later if e["region"] is None and e["id"] != first.json()["id"])
    assert_error(
        client.put(
            f"{URL}/{day_after['id']}",
            json=body(channel="tmall", valid_from="2026-11-11T18:00:00+08:00"),
        ),
        409,
        "OVERLAPPING_PRICE_EXCEPTION",
    )


def test_effective_prices_for_a_basket(client: TestClient, engine: Engine) -> None:
    factories.sku(engine, "TEE", list_price_fen=9900)
    for data in [
        body(channel=None, region=GD, price_fen=37900, reason="Guangdong store price zone"),
        body(channel="pos", price_fen=38900, reason="store price"),
        body(channel="pos", region=GD, price_fen=35900, reason="Guangdong stores clear-out"),
    ]:
        assert client.post(URL, json=data).status_code == 201

    def prices_for(channel: str | None, region: str | None) -> dict[str, tuple[int, str | None]]:
        params: dict[str, Any] = {"sku": ["JACKET", "TEE"]}
        if channel:
            params["channel"] = channel
        if region:
            params["region"] = region
        response = client.get("/api/v1/catalog/effective-prices", params=params)
        assert response.status_code == 200, response.text
        return {
            p["sku"]: (p["price_fen"], p["exception"] and p["exception"]["reason"])
            for p in response.json()
        }

    assert prices_for("miniapp", None) == {"JACKET": (39900, None), "TEE": (9900, None)}
    assert prices_for("miniapp", GD)["JACKET"] == (37900, "Guangdong store price zone")
    assert prices_for("pos", SH)["JACKET"] == (38900, "store price")
    assert prices_for("pos", GD)["JACKET"] == (35900, "Guangdong stores clear-out")
    assert prices_for("pos", GD)["TEE"] == (9900, None)

    with unit_of_work(engine, readonly=True) as session:
        found = prices.effective_prices(
            session, ["JACKET"], channel="pos", region=GD, at=datetime.now(UTC)
        )
    assert found["JACKET"].price_fen == 35900
    assert_error(
        client.get("/api/v1/catalog/effective-prices", params={"sku": ["JACKET", "NOPE"]}),
        404,
        "UNKNOWN_SKU",
    )


def test_checkout_prices_follow_an_exceptions_window_to_the_second(
    client: TestClient, engine: Engine
) -> None:
    """The window's ends as stored, against instants given in the tills' own offset."""
    beijing = timezone(timedelta(hours=8))
    opens = datetime(2026, 11, 11, 0, 0, tzinfo=beijing)
    closes = opens + timedelta(days=1)
    sale = body(valid_from=opens.isoformat(), valid_until=closes.isoformat())
    assert client.post(URL, json=sale).status_code == 201

    def price_at(at: datetime) -> int:
        with unit_of_work(engine, readonly=True) as session:
            found = prices.effective_prices(
                session, ["JACKET"], channel="miniapp", region=None, at=at
            )
        return found["JACKET"].price_fen

    second = timedelta(seconds=1)
    assert price_at(opens - second) == 39900
    assert price_at(opens) == 29900
    assert price_at(opens.astimezone(UTC) + second) == 29900
    assert price_at(closes - second) == 29900
    assert price_at(closes) == 39900


def test_an_exception_that_starts_later_is_scheduled(client: TestClient) -> None:
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    out = client.post(URL, json=body(valid_from=future)).json()
    assert out["status"] == "scheduled"
    assert client.get(URL, params={"status": "scheduled"}).json()["total"] == 1
    now = client.get(
        "/api/v1/catalog/effective-prices", params={"sku": "JACKET", "channel": "miniapp"}
    )
    assert now.json()[0]["price_fen"] == 39900
    then = client.get(
        "/api/v1/catalog/effective-prices",
        params={
            "sku": "JACKET",
            "channel": "miniapp",
            "at": (datetime.now(UTC) + timedelta(days=4)).isoformat(),
        },
    )
    assert then.json()[0]["price_fen"] == 29900


# -- concurrency -------------------------------------------------------------------------------


def _create_worker(url: str, worker: int, barrier: Any, out: Any) -> None:
    engine = make_engine(url, pool_size=1)
    exception_in = PriceExceptionIn.model_validate(
        body(price_fen=20000 + worker, reason=f"offer {worker}", actor=f"w{worker}")
    )
    barrier.wait()
    try:
        with unit_of_work(engine) as session:
            prices.create_price_exception(session, exception_in)
        out.put("created")
    except YipanError as refusal:
        out.put(refusal.code)
    except Exception as crash:
        out.put(repr(crash))
    engine.dispose()


@pytest.mark.slow
def test_concurrent_overlapping_exceptions_leave_exactly_one(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    factories.sku(engine, "JACKET", list_price_fen=39900)
    results = run_in_processes(_create_worker, [(database_url, w) for w in range(4)])
    assert sorted(results) == ["OVERLAPPING_PRICE_EXCEPTION"] * 3 + ["created"]
    assert footprint(engine)[0] == 1
    engine.dispose()
