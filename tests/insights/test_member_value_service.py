"""Member value over a small world of members who bought at the tills and online, placed
through the members and orders services: the purchases read, the fit, each member's figures,
and the API with its scope checks.

The clock stands at 2026-03-10 12:00 in Shanghai; the model sees history up to the end of
2026-03-09 (yesterday). Besides ~40 members drawn from a seeded mix of habits (roughly weekly,
monthly and quarterly shoppers and one-off buyers, each stopping at some point), the world has:

| member | history (days before today) |
| --- | --- |
| weekly | one receipt every 7 days from day −365 to day −1 |
| lapsed | two receipts, days −380 and −365 |
| same_day | day −30 at 00:30 and 20:00 local (two UTC days, one business day), then day −16 |
| returned | day −50 one tee; day −40 jeans returned whole the next day; day −20 two tees, one back |
| exchanged | day −60 one tee; day −20 jeans at ST-SH-1, exchanged on day −18 for a tee picked up |
| older + newer | older (a phone) days −100 and −60, newer (an e-mail) day −30; then merged |
| nobody | a member who never bought |

Everyone buys at the ST-SH-3 till except `exchanged` (ST-SH-1).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories, support
from tests.access import api_key, bearer
from tests.conftest import BACKENDS
from tests.orders import world
from tests.orders.world import JEANS, TEE
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.insights.service import member_value as service
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.errors import UnknownMember
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.domain.fulfilment import Action
from yipan.orders.schemas import ActionIn, ExchangeIn, PosReceiptIn, ReturnIn
from yipan.orders.service import capture, lifecycle, returns

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 10)
AS_OF = TODAY - timedelta(days=1)
MIN_REPEATERS = 10
BACKGROUND = 40


def day(days_ago: int) -> date:
    return TODAY - timedelta(days=days_ago)


def at(days_ago: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day(days_ago), time(hour, minute), SHANGHAI)


@dataclass(frozen=True)
class People:
    engine: Engine
    ids: dict[str, str]


_receipts = iter(range(1, 1_000_000))


def receipt(
    member: str,
    when: datetime,
    lines: list[tuple[str, int, int]],
    store: str = "ST-SH-3",
) -> PosReceiptIn:
    return PosReceiptIn.model_validate(
        {
            "channel": "pos",
            "receipt_id": f"R-{next(_receipts)}",
            "store": store,
            "lines": [{"sku": s, "quantity": q, "unit_price_fen": p} for s, q, p in lines],
            "total_fen": sum(q * p for _, q, p in lines),
            "customer": {"member_id": member},
            "sold_at": when.isoformat(),
        }
    )


def sell(engine: Engine, receipts: list[PosReceiptIn]) -> list[int]:
    """Book the receipts in one transaction; the order ids."""
    clock = FakeClock(NOW)
    with unit_of_work(engine) as session:
        return [capture.record_pos_receipt(session, r, clock=clock).order.id for r in receipts]


def new_member(engine: Engine, record_id: str, *identities: IdentityIn) -> str:
    record = SourceRecordIn(source="pos", record_id=record_id, identities=list(identities))
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def give_back(engine: Engine, order_id: int, when: datetime, line_no: int, qty: int) -> None:
    back = ReturnIn.model_validate(
        {
            "order_id": order_id,
            "node": "ST-SH-3",
            "idempotency_key": f"back-{order_id}-{line_no}",
            "lines": [{"line_no": line_no, "quantity": qty}],
        }
    )
    with unit_of_work(engine) as session:
        returns.take_return(session, back, clock=FakeClock(when))


def background(engine: Engine) -> None:
    """Members of mixed habits; each buys from its first day until it stops (or until
    yesterday), at a mean gap of its habit."""
    rng = random.Random(20260310)
    sales: list[PosReceiptIn] = []
    for i in range(BACKGROUND):
        member = new_member(
            engine, f"bg-{i}", IdentityIn(kind=IdentityKind.PHONE, value=f"1390000{i:04d}")
        )
        mean_gap = (10, 30, 90, None)[i % 4]
        first = rng.randint(60, 400)
        stops = first - int(rng.expovariate(1 / 250))
        days_ago = first
        while days_ago >= max(stops, 1):
            tees, jeans = rng.randint(1, 3), rng.randint(0, 1)
            lines = [(TEE, tees, 9900)] + ([(JEANS, jeans, 39900)] if jeans else [])
            sales.append(receipt(member, at(days_ago, rng.randint(9, 20)), lines))
            if mean_gap is None:
                break
            days_ago -= max(1, round(rng.expovariate(1 / mean_gap)))
    sell(engine, sales)


def exchange_for_a_tee(engine: Engine, member: str, order_id: int) -> None:
    clock = FakeClock(at(18).astimezone(UTC))
    body = ExchangeIn.model_validate(
        {
            "return": {
                "order_id": order_id,
                "node": "ST-SH-1",
                "idempotency_key": f"swap-{order_id}",
                "lines": [{"line_no": 1, "quantity": 1}],
            },
            "order": world.order(
                f"SWAP-{order_id}",
                [world.line(method="pickup", pickup_node="ST-SH-1")],
                channel="miniapp",
                customer={"member_id": member},
                placed_at=at(18).isoformat(),
            ),
        }
    )
    with unit_of_work(engine) as session:
        swapped, _ = returns.exchange(session, body, clock=clock)
    fulfilment = swapped.order.order.fulfilments[0].id
    with unit_of_work(engine) as session:
        ready = lifecycle.advance(
            session, fulfilment, Action.MARK_READY, ActionIn(actor="t"), clock=clock
        )
    with unit_of_work(engine) as session:
        lifecycle.advance(
            session,
            fulfilment,
            Action.HAND_OVER,
            ActionIn(actor="t", code=ready.pickup_code),
            clock=clock,
        )


def build(engine: Engine) -> dict[str, str]:
    world.build(engine)
    for node in ("ST-SH-1", "ST-SH-3"):
        factories.receive(engine, TEE, node, 5000)
        factories.receive(engine, JEANS, node, 2000)
    background(engine)
    phone = IdentityIn(kind=IdentityKind.PHONE, value="13811112222")
    email = IdentityIn(kind=IdentityKind.EMAIL, value="li.newer@qq.com")
    ids = {
        name: new_member(engine, name, IdentityIn(kind=IdentityKind.PHONE, value=phone_no))
        for name, phone_no in [
            ("weekly", "13800000001"),
            ("lapsed", "13800000002"),
            ("same_day", "13800000003"),
            ("returned", "13800000004"),
            ("exchanged", "13800000005"),
            ("nobody", "13800000006"),
        ]
    }
    ids["older"] = new_member(engine, "older", phone)
    ids["newer"] = new_member(engine, "newer", email)
    tee = [(TEE, 1, 9900)]
    sell(engine, [receipt(ids["weekly"], at(d), tee) for d in range(365, 0, -7)])
    sell(engine, [receipt(ids["lapsed"], at(d), tee) for d in (380, 365)])
    sell(
        engine,
        [
            receipt(ids["same_day"], at(30, 0, 30), [(TEE, 2, 9900)]),
            receipt(ids["same_day"], at(30, 20), [(JEANS, 1, 39900)]),
            receipt(ids["same_day"], at(16), [(JEANS, 2, 39900)]),
        ],
    )
    _, jeans, two_tees = sell(
        engine,
        [
            receipt(ids["returned"], at(50), tee),
            receipt(ids["returned"], at(40), [(JEANS, 1, 39900)]),
            receipt(ids["returned"], at(20), [(TEE, 2, 9900)]),
        ],
    )
    give_back(engine, jeans, at(39), 1, 1)
    give_back(engine, two_tees, at(19), 1, 1)
    _, swapped = sell(
        engine,
        [
            receipt(ids["exchanged"], at(60), tee, store="ST-SH-1"),
            receipt(ids["exchanged"], at(20), [(JEANS, 1, 39900)], store="ST-SH-1"),
        ],
    )
    exchange_for_a_tee(engine, ids["exchanged"], swapped)
    sell(engine, [receipt(ids["older"], at(d), tee) for d in (100, 60)])
    sell(engine, [receipt(ids["newer"], at(30), [(JEANS, 1, 39900)])])
    # A record holding both the phone and the e-mail: the newer member goes into the older.
    with unit_of_work(engine) as session:
        ingest.ingest_records(
            session,
            [SourceRecordIn(source="online_shop", record_id="both", identities=[phone, email])],
        )
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
def people(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[People]:
    if request.param == "sqlite":
        url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("value") / "v.db")
    else:
        url = support.fresh_postgres()
    engine = support.engine_for(url)
    try:
        yield People(engine, build(engine))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def valued(people: People) -> tuple[service.MemberValueModel, dict[str, service.MemberValue]]:
    with unit_of_work(people.engine, readonly=True) as session:
        fitted, values = service.value_members(
            session, clock=FakeClock(NOW), min_repeat_members=MIN_REPEATERS
        )
    return fitted, {v.member_id: v for v in values}


def value_of(people: People, name: str, fitted: service.MemberValueModel) -> service.MemberValue:
    with unit_of_work(people.engine, readonly=True) as session:
        return service.score_member(session, people.ids[name], fitted)


# --- the fit ----------------------------------------------------------------------------------


def test_the_model_is_fitted_on_every_member_who_bought_up_to_yesterday(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    fitted, values = valued
    assert fitted.as_of == AS_OF
    # The background, the six named buyers, and the merged pair as one member.
    assert fitted.members == len(values) == BACKGROUND + 6
    assert people.ids["newer"] not in values
    assert people.ids["nobody"] not in values
    assert fitted.repeat_members >= MIN_REPEATERS
    assert fitted.purchases.converged
    assert fitted.spend.converged
    assert sum(b.observed for b in fitted.frequency_buckets) == fitted.members
    assert sum(b.expected for b in fitted.frequency_buckets) == pytest.approx(fitted.members)
    assert fitted.observed_repeat_purchases == sum(v.repeat_purchases for v in values.values())
    # The model's own check: it expects about as many repeat purchases as were made.
    assert fitted.expected_repeat_purchases == pytest.approx(
        fitted.observed_repeat_purchases, rel=0.2
    )
    assert 0 < fitted.spend.params.mean_spend < 200_000  # fen per purchase: tees and jeans


def test_members_are_listed_by_expected_value_with_plausible_figures(
    valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]],
) -> None:
    _, values = valued
    ranked = [v.expected_value_fen or 0 for v in values.values()]
    assert ranked == sorted(ranked, reverse=True)
    for v in values.values():
        assert v.purchases == v.repeat_purchases + 1
        assert v.probability_alive is not None
        assert 0.0 <= v.probability_alive <= 1.0
        assert v.expected_purchases is not None
        assert v.expected_purchases >= 0
        assert v.expected_spend_fen is not None
        assert v.expected_spend_fen > 0
        assert v.last_purchase is not None
        assert v.last_purchase <= AS_OF


def test_a_weekly_shopper_until_yesterday_is_alive_and_a_lapsed_one_is_not_so_sure(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    fitted, values = valued
    weekly, lapsed = values[people.ids["weekly"]], values[people.ids["lapsed"]]
    assert (weekly.purchases, weekly.last_purchase) == (53, day(1))
    assert weekly.probability_alive is not None
    assert weekly.probability_alive > 0.95
    assert weekly.expected_purchases is not None
    assert 8 < weekly.expected_purchases < 14  # about weekly over 90 days
    assert (lapsed.purchases, lapsed.last_purchase) == (2, day(365))
    assert lapsed.probability_alive is not None
    assert lapsed.probability_alive < 0.5
    assert lapsed.expected_purchases is not None
    assert lapsed.expected_purchases < 0.5
    assert weekly.expected_value_fen is not None
    assert lapsed.expected_value_fen is not None
    assert weekly.expected_value_fen > 20 * lapsed.expected_value_fen
    # Value = expected purchases × expected spend (margin 1), in whole fen.
    assert weekly.expected_spend_fen is not None
    assert weekly.expected_value_fen == pytest.approx(
        weekly.expected_purchases * weekly.expected_spend_fen, abs=weekly.expected_purchases
    )
    # Scoring one member reads the same figures as scoring everyone.
    assert value_of(people, "weekly", fitted) == weekly


def test_orders_on_one_local_day_are_one_purchase(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    v = valued[1][people.ids["same_day"]]
    assert (v.purchases, v.first_purchase, v.last_purchase) == (2, day(30), day(16))
    assert v.average_repeat_spend_fen == 2 * 39900


def test_a_sale_returned_whole_is_no_purchase_and_refunds_come_off_the_spend(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    v = valued[1][people.ids["returned"]]
    assert (v.purchases, v.first_purchase, v.last_purchase) == (2, day(50), day(20))
    assert v.average_repeat_spend_fen == 9900  # two tees, one brought back


def test_an_exchange_is_the_purchase_it_replaces_worth_what_was_kept(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    v = valued[1][people.ids["exchanged"]]
    assert (v.purchases, v.first_purchase, v.last_purchase) == (2, day(60), day(20))
    assert v.average_repeat_spend_fen == 9900  # jeans refunded, the tee that replaced them kept


def test_a_merged_members_purchases_count_for_the_member_it_lives_in(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    fitted, values = valued
    older = values[people.ids["older"]]
    assert (older.purchases, older.first_purchase, older.last_purchase) == (3, day(100), day(30))
    asked_by_the_merged_id = value_of(people, "newer", fitted)
    assert asked_by_the_merged_id == older


def test_a_member_who_never_bought_has_no_expectations(
    people: People, valued: tuple[service.MemberValueModel, dict[str, service.MemberValue]]
) -> None:
    v = value_of(people, "nobody", valued[0])
    assert (v.purchases, v.expected_purchases, v.probability_alive, v.expected_value_fen) == (
        0,
        None,
        None,
        None,
    )
    with unit_of_work(people.engine, readonly=True) as session, pytest.raises(UnknownMember):
        service.score_member(session, "M0999999999", valued[0])


def test_an_earlier_as_of_day_sees_only_the_history_up_to_it(people: People) -> None:
    with unit_of_work(people.engine, readonly=True) as session:
        fitted = service.fit_models(
            session, as_of=day(100), clock=FakeClock(NOW), min_repeat_members=MIN_REPEATERS
        )
        weekly = service.score_member(session, people.ids["weekly"], fitted)
    assert fitted.as_of == day(100)
    assert weekly.last_purchase is not None
    assert weekly.last_purchase <= day(100)
    assert weekly.purchases == len(range(365, 99, -7))


def test_too_few_repeat_buyers_are_refused_with_what_is_missing(
    people: People,
) -> None:
    with (
        unit_of_work(people.engine, readonly=True) as session,
        pytest.raises(service.NotEnoughPurchaseHistory) as refused,
    ):
        service.fit_models(session, clock=FakeClock(NOW), min_repeat_members=1000)
    assert refused.value.status == 409
    assert "at least 1000 members" in refused.value.message
    with (
        unit_of_work(people.engine, readonly=True) as session,
        pytest.raises(service.InvalidAsOf),
    ):
        service.fit_models(session, as_of=TODAY + timedelta(days=1), clock=FakeClock(NOW))


# --- the API ----------------------------------------------------------------------------------


@pytest.fixture
def api(people: People, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setenv("YIPAN_MEMBER_VALUE_MIN_REPEAT_MEMBERS", str(MIN_REPEATERS))
    with TestClient(create_app(people.engine, background=False)) as client:
        yield client


def as_key(engine: Engine, role: Role = Role.HQ_ADMIN, store: str | None = None) -> dict[str, Any]:
    kind = "store" if store else None
    return bearer(api_key(engine, role, scope_kind=kind, scope_value=store))


def test_the_model_endpoint_shows_the_fit_and_its_checks(people: People, api: TestClient) -> None:
    as_of = AS_OF.isoformat()
    r = api.get(
        "/api/v1/insights/member-value/model",
        params={"as_of": as_of, "refresh": "true"},
        headers=as_key(people.engine),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["as_of"] == as_of
    assert body["members"] == BACKGROUND + 6
    assert set(body["purchase_model"]) >= {"r", "alpha_weeks", "a", "b", "log_likelihood"}
    assert body["spend_model"]["members"] == body["repeat_members"]
    assert len(body["fit_quality"]["frequency_buckets"]) == service.BUCKETS
    again = api.get(
        "/api/v1/insights/member-value/model",
        params={"as_of": as_of},
        headers=as_key(people.engine),
    )
    assert again.json()["fitted_at"] == body["fitted_at"]  # the process kept it


def test_a_member_is_valued_for_the_stores_that_see_them_and_unknown_elsewhere(
    people: People, api: TestClient
) -> None:
    weekly = people.ids["weekly"]
    url = f"/api/v1/insights/member-value/members/{weekly}"
    params = {"as_of": AS_OF.isoformat(), "margin": "0.4"}
    hq = api.get(url, params=params, headers=as_key(people.engine))
    assert hq.status_code == 200, hq.text
    body = hq.json()
    assert body["member_id"] == weekly
    assert body["purchases"] == 53
    assert body["margin"] == 0.4
    assert body["probability_alive"] > 0.95
    own_store = api.get(
        url, params=params, headers=as_key(people.engine, Role.STORE_MANAGER, "ST-SH-3")
    )
    assert own_store.status_code == 200
    assert own_store.json() == body
    other_store = api.get(
        url, params=params, headers=as_key(people.engine, Role.STORE_MANAGER, "ST-SH-1")
    )
    assert other_store.status_code == 404
    planner = api.get(url, params=params, headers=as_key(people.engine, Role.PLANNER))
    assert planner.status_code == 403
    unknown = api.get(
        "/api/v1/insights/member-value/members/M0999999999",
        params=params,
        headers=as_key(people.engine),
    )
    assert unknown.status_code == 404
    bad_margin = api.get(url, params={"margin": "1.5"}, headers=as_key(people.engine))
    assert bad_margin.status_code == 422


def test_the_model_endpoint_says_when_there_is_not_enough_history(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.build(sqlite_engine)
    someone = new_member(
        sqlite_engine, "one", IdentityIn(kind=IdentityKind.PHONE, value="13800009999")
    )
    sell(sqlite_engine, [receipt(someone, at(d), [(TEE, 1, 9900)]) for d in (30, 10)])
    monkeypatch.setenv("YIPAN_MEMBER_VALUE_MIN_REPEAT_MEMBERS", "5")
    with TestClient(create_app(sqlite_engine, background=False)) as client:
        r = client.get("/api/v1/insights/member-value/model", headers=as_key(sqlite_engine))
    assert r.status_code == 409
    assert r.json()["code"] == "NOT_ENOUGH_PURCHASE_HISTORY"
    assert r.json()["details"]["repeat_members"] == 1
