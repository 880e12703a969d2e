"""Recommendations over a small deterministic world placed through the services: co-purchases
recommended, sizes and deliverability applied, recent purchases left out (consumables kept),
members without history served popular items, and the API with its checks.

The clock stands at 2026-03-10 12:00 in Shanghai.

| who | bought (all at the till) | where |
| --- | --- | --- |
| kitchen × 6 | a kettle, a mug and a teapot, day −200 | ST-FAR (Beijing) |
| wardrobe × 6 | a tee and a shirt in M or L, shorts in M, day −200 | ST-FAR |
| milk × 10 | milk, day −200 | ST-FAR |
| kettle_fan | a kettle, day −10 | ST-A (Shanghai) |
| tee_m | a tee in M, day −10 | ST-A |
| milk_drinker | milk, day −1 | ST-A |
| newbie | nothing | – |

Stock today: mugs only at ST-B (a store 3 km from ST-A, it does not ship); teapots only at
ST-FAR; tees, shirts, shorts, kettles and milk at WH-1 (a warehouse that ships). ST-A itself is
left empty: what the targets bought there was received and sold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests import factories, support
from tests.access import api_key, bearer
from tests.conftest import BACKENDS
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.channels import service as channels
from yipan.channels.schemas import ChannelIn
from yipan.insights.service import recommendations as recs
from yipan.inventory.errors import UnknownNode
from yipan.kernel.clock import FakeClock, FixedClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.errors import UnknownMember
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.schemas import PosReceiptIn
from yipan.orders.service import capture

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 10)
CLOCK = FixedClock(NOW)

PRODUCTS = {  # SKU → (product, category, size)
    "KETTLE": ("P-KETTLE", "appliance-kitchen", None),
    "MUG": ("P-MUG", "appliance-kitchen", None),
    "TEAPOT": ("P-TEAPOT", "appliance-kitchen", None),
    "TEE-M": ("P-TEE", "apparel-tops", "M"),
    "TEE-L": ("P-TEE", "apparel-tops", "L"),
    "SHIRT-M": ("P-SHIRT", "apparel-tops", "M"),
    "SHIRT-L": ("P-SHIRT", "apparel-tops", "L"),
    "SHORTS-M": ("P-SHORTS", "apparel-pants", "M"),
    "SHORTS-L": ("P-SHORTS", "apparel-pants", "L"),
    "MILK": ("P-MILK", "fmcg-dairy", None),
}


def at(days_ago: int) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), time(10), SHANGHAI)


_receipts = iter(range(1, 1_000_000))


def receipt(member: str, days_ago: int, skus: list[str], store: str) -> PosReceiptIn:
    return PosReceiptIn.model_validate(
        {
            "channel": "pos",
            "receipt_id": f"R-{next(_receipts)}",
            "store": store,
            "lines": [{"sku": s, "quantity": 1, "unit_price_fen": 1000} for s in skus],
            "total_fen": 1000 * len(skus),
            "customer": {"member_id": member},
            "sold_at": at(days_ago).isoformat(),
        }
    )


def new_member(engine: Engine, name: str, phone: str) -> str:
    record = SourceRecordIn(
        source="pos",
        record_id=name,
        identities=[IdentityIn(kind=IdentityKind.PHONE, value=phone)],
    )
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def sell(engine: Engine, receipts: list[PosReceiptIn]) -> None:
    clock = FakeClock(NOW)
    with unit_of_work(engine) as session:
        for r in receipts:
            capture.record_pos_receipt(session, r, clock=clock)


@dataclass(frozen=True)
class World:
    engine: Engine
    ids: dict[str, str]


def build(engine: Engine) -> dict[str, str]:
    for sku, (product, category, size) in PRODUCTS.items():
        factories.sku(
            engine,
            sku,
            product_code=product,
            category_code=category,
            attributes={"size": size} if size else {},
        )
    factories.node(engine, "ST-A", lat=31.2304, lon=121.4737)
    factories.node(engine, "ST-B", lat=31.2500, lon=121.4900)  # about 2.7 km from ST-A
    factories.node(engine, "ST-FAR", lat=39.9139, lon=116.4109, province="北京市", city="北京市")
    factories.node(engine, "WH-1", type="warehouse", lat=30.5928, lon=114.3055, province="湖北省")
    for sku in PRODUCTS:
        factories.receive(engine, sku, "ST-FAR", 100)
    for sku in ("TEE-M", "TEE-L", "SHIRT-M", "SHIRT-L", "SHORTS-M", "SHORTS-L", "KETTLE", "MILK"):
        factories.receive(engine, sku, "WH-1", 20)
    factories.receive(engine, "MUG", "ST-B", 5)
    with unit_of_work(engine) as session:
        channels.save_channel(session, ChannelIn(code="pos", name="pos", type="pos"))
    for sku in ("KETTLE", "TEE-M", "MILK"):  # what the targets buy at ST-A, and no more
        factories.receive(engine, sku, "ST-A", 1)

    phones = iter(f"1380000{n:04d}" for n in range(1, 10_000))
    ids: dict[str, str] = {}
    background: list[PosReceiptIn] = []
    for n in range(6):
        ids[f"kitchen{n}"] = new_member(engine, f"kitchen{n}", next(phones))
        background.append(receipt(ids[f"kitchen{n}"], 200, ["KETTLE", "MUG", "TEAPOT"], "ST-FAR"))
    for n in range(6):
        size = "M" if n % 2 else "L"
        ids[f"wardrobe{n}"] = new_member(engine, f"wardrobe{n}", next(phones))
        background.append(
            receipt(
                ids[f"wardrobe{n}"], 200, [f"TEE-{size}", f"SHIRT-{size}", "SHORTS-M"], "ST-FAR"
            )
        )
    for n in range(10):
        ids[f"milk{n}"] = new_member(engine, f"milk{n}", next(phones))
        background.append(receipt(ids[f"milk{n}"], 200, ["MILK"], "ST-FAR"))
    for name in ("kettle_fan", "tee_m", "milk_drinker", "newbie"):
        ids[name] = new_member(engine, name, next(phones))
    sell(engine, background)
    sell(
        engine,
        [
            receipt(ids["kettle_fan"], 10, ["KETTLE"], "ST-A"),
            receipt(ids["tee_m"], 10, ["TEE-M"], "ST-A"),
            receipt(ids["milk_drinker"], 1, ["MILK"], "ST-A"),
        ],
    )
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    if request.param == "sqlite":
        url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("recs") / "r.db")
    else:
        url = support.fresh_postgres()
    engine = support.engine_for(url)
    try:
        yield World(engine, build(engine))
    finally:
        recs.models.clear()
        engine.dispose()


def recommend(world: World, name: str, **options: object) -> recs.MemberRecommendations:
    with unit_of_work(world.engine, readonly=True) as session:
        return recs.recommend_for_member(
            session,
            world.ids[name],
            clock=CLOCK,
            **options,  # type: ignore[arg-type]
        )


def products(found: recs.MemberRecommendations) -> list[str]:
    return [r.product for r in found.items]


def test_the_model_is_trained_on_every_purchase(world: World) -> None:
    with unit_of_work(world.engine, readonly=True) as session:
        model = recs.fit_model(session, clock=CLOCK)
    assert model.members == 25  # 22 in the background, 3 targets
    assert {i.product for i in model.items} == {p for p, _, _ in PRODUCTS.values()}
    milk = [i.product for i in model.items].index("P-MILK")
    assert model.popularity[milk] == 1.0  # 11 buyers, the most


def test_a_co_purchase_comes_first_and_what_no_one_can_deliver_is_left_out(world: World) -> None:
    found = recommend(world, "kettle_fan")
    assert found.personalised
    assert found.store == "ST-A"  # where most of the member's orders were
    listed = products(found)
    assert listed[0] == "P-MUG"
    assert "P-KETTLE" not in listed  # bought ten days ago
    assert "P-TEAPOT" not in listed  # bought with kettles, but only ST-FAR holds it
    [mug] = found.items[0].skus
    assert (mug.sku, mug.nearby_stores, mug.ships) == ("MUG", ("ST-B",), False)


def test_another_store_changes_what_can_be_delivered(world: World) -> None:
    found = recommend(world, "kettle_fan", store="ST-FAR")
    assert set(products(found)[:2]) == {"P-MUG", "P-TEAPOT"}  # both at ST-FAR itself
    by_product = {r.product: r for r in found.items}
    # ST-B is 1,000 km away and does not ship: the mug comes from ST-FAR now.
    assert by_product["P-MUG"].skus[0].nearby_stores == ("ST-FAR",)
    assert by_product["P-TEAPOT"].skus[0].nearby_stores == ("ST-FAR",)


def test_only_the_members_sizes_are_offered_in_a_category_they_bought_in(world: World) -> None:
    found = recommend(world, "tee_m")
    assert found.sizes == {"apparel-tops": ("M",)}
    by_product = {r.product: r for r in found.items}
    assert "P-TEE" not in by_product
    assert [s.sku for s in by_product["P-SHIRT"].skus] == ["SHIRT-M"]
    # No pants bought: every size of the shorts passes.
    assert [s.sku for s in by_product["P-SHORTS"].skus] == ["SHORTS-L", "SHORTS-M"]
    assert products(found)[:2] == ["P-SHIRT", "P-SHORTS"]  # bought with tees


def test_a_consumable_bought_yesterday_is_recommended_again(world: World) -> None:
    assert "P-MILK" in products(recommend(world, "milk_drinker"))


def test_a_member_without_history_gets_popular_deliverable_items(world: World) -> None:
    found = recommend(world, "newbie", limit=3)
    assert not found.personalised
    assert found.purchases == 0
    assert found.store is None  # no store of their own: the online pool only
    assert products(found)[0] == "P-MILK"
    assert len(found.items) == 3
    assert "P-TEAPOT" not in products(recommend(world, "newbie", limit=50))
    assert "P-MUG" not in products(recommend(world, "newbie", limit=50))  # only in a store


def test_bad_input_is_refused(world: World) -> None:
    with unit_of_work(world.engine, readonly=True) as session:
        with pytest.raises(UnknownMember):
            recs.recommend_for_member(session, "M0999999999", clock=CLOCK)
        with pytest.raises(recs.InvalidLimit):
            recs.recommend_for_member(session, world.ids["newbie"], limit=0, clock=CLOCK)
        with pytest.raises(UnknownNode):
            recs.recommend_for_member(session, world.ids["newbie"], store="WH-1", clock=CLOCK)


def test_the_evaluation_scores_the_model_against_popularity(world: World) -> None:
    with unit_of_work(world.engine, readonly=True) as session:
        found = recs.evaluate(session, cutoff=at(30), k=3)
    # kettle_fan, tee_m, milk_drinker bought after the cut-off; none before it, so none judged.
    assert found.members == 0
    assert (found.precision_at_k, found.baseline_precision_at_k) == (0.0, 0.0)


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.engine)) as test_client:
        yield test_client


def url(member: str) -> str:
    return f"/api/v1/insights/members/{member}/recommendations"


def test_an_online_channel_integration_reads_recommendations(
    world: World, client: TestClient
) -> None:
    key = api_key(world.engine, Role.INTEGRATOR)
    response = client.get(url(world.ids["kettle_fan"]), params={"limit": 3}, headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["personalised"] is True
    # The API's clock is today's: the kettle is no recent purchase any more, and may come back.
    listed = [i["product"] for i in body["items"]]
    assert len(listed) == 3
    assert "P-MUG" in listed[:2]
    assert "P-TEAPOT" not in listed
    mug = next(i for i in body["items"] if i["product"] == "P-MUG")
    assert mug["skus"] == [{"sku": "MUG", "size": None, "nearby_stores": ["ST-B"], "ships": False}]
    newbie = client.get(url(world.ids["newbie"]), headers=bearer(key)).json()
    assert newbie["personalised"] is False
    assert newbie["items"]


def test_the_api_answers_bad_input_clearly(world: World, client: TestClient) -> None:
    headers = bearer(api_key(world.engine))
    assert client.get(url("M0999999999"), headers=headers).json()["code"] == "UNKNOWN_MEMBER"
    for limit in (0, 51):
        response = client.get(url(world.ids["newbie"]), params={"limit": limit}, headers=headers)
        assert response.status_code == 422
    response = client.get(url(world.ids["newbie"]), params={"store": "NOPE"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (404, "UNKNOWN_NODE")


def test_a_store_sees_only_its_own_members(world: World, client: TestClient) -> None:
    other = bearer(api_key(world.engine, Role.STORE_GUIDE, scope_value="ST-B"))
    own = bearer(api_key(world.engine, Role.STORE_GUIDE, scope_value="ST-A"))
    member = world.ids["kettle_fan"]
    assert client.get(url(member), headers=other).status_code == 404
    assert client.get(url(member), headers=own).status_code == 200
    assert client.get(url(member)).status_code == 401
