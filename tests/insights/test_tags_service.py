"""Member tags over the member-value world (tests/insights/test_member_value_service.py: ~40
members of mixed habits at the ST-SH-3 till, a weekly shopper, a lapsed one, a merged pair,
someone who never bought), with sizes on the SKUs, a shoe category of three price points, and
one member who buys online:

| member | extra history (days before 2026-03-10) |
| --- | --- |
| online | day −12 a tee shipped (tmall); day −8 premium shoes shipped; day −3 a tee picked up (miniapp) |

Everything is refreshed once for the module (clock at 2026-03-10 12:00 Shanghai, model as of
yesterday) and the tests read what was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests import factories, support
from tests.conftest import BACKENDS
from tests.insights import shop
from tests.insights import test_member_value_service as mv
from tests.orders.world import BEIJING, JEANS, TEE, line, order
from yipan.insights.domain.tags import TagKind, rfm_segment
from yipan.insights.models.tags import MemberTag, TagBaseline
from yipan.insights.service import member_value
from yipan.insights.service import tags as service
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.errors import UnknownMember

NOW = mv.NOW
SHOES = ("SHOE-BASIC-42", "SHOE-MID-42", "SHOE-PRO-42")


@dataclass(frozen=True)
class Tagged:
    engine: Engine
    ids: dict[str, str]
    report: service.RefreshReport


def _online_shopper(engine: Engine) -> str:
    member = mv.new_member(
        engine, "online", mv.IdentityIn(kind=mv.IdentityKind.PHONE, value="13700000001")
    )
    clock = FakeClock(NOW)
    customer = {"member_id": member}
    tee = shop._place(
        engine,
        clock,
        order(
            "ON-1", [line()], address=BEIJING, customer=customer, placed_at=mv.at(12).isoformat()
        ),
    )
    shop._steps(engine, clock, tee.fulfilments[0].id, *shop.SHIP_ALL)
    shoes = shop._place(
        engine,
        clock,
        order(
            "ON-2",
            [line(SHOES[2], price=99900)],
            address=BEIJING,
            customer=customer,
            placed_at=mv.at(8).isoformat(),
        ),
    )
    shop._steps(engine, clock, shoes.fulfilments[0].id, *shop.SHIP_ALL)
    pickup = shop._place(
        engine,
        clock,
        order(
            "ON-3",
            [line(method="pickup", pickup_node="ST-SH-1")],
            channel="miniapp",
            customer=customer,
            placed_at=mv.at(3).isoformat(),
        ),
    )
    shop._hand_over_pickup(engine, clock, pickup.fulfilments[0].id)
    return member


def build(engine: Engine) -> dict[str, str]:
    ids = mv.build(engine)
    factories.sku(engine, TEE, list_price_fen=9900, attributes={"size": "M"})
    factories.sku(engine, JEANS, list_price_fen=39900, attributes={"size": "32"})
    for code, price in zip(SHOES, (19900, 49900, 99900), strict=True):
        factories.sku(
            engine,
            code,
            list_price_fen=price,
            category_code="shoes",
            attributes={"size": "42"},
        )
        factories.receive(engine, code, "WH-BJ", 10)
    ids["online"] = _online_shopper(engine)
    return ids


@pytest.fixture(scope="module", params=BACKENDS)
def tagged(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tagged]:
    if request.param == "sqlite":
        url = support.fresh_sqlite(sqlite_template, tmp_path_factory.mktemp("tags") / "t.db")
    else:
        url = support.fresh_postgres()
    engine = support.engine_for(url)
    try:
        ids = build(engine)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("YIPAN_MEMBER_VALUE_MIN_REPEAT_MEMBERS", str(mv.MIN_REPEATERS))
            member_value.models.clear()
            with unit_of_work(engine) as session:
                report = service.refresh_all(session, clock=FakeClock(NOW))
            yield Tagged(engine, ids, report)
    finally:
        member_value.models.clear()
        engine.dispose()


def tags(t: Tagged, name: str) -> service.MemberTags:
    with unit_of_work(t.engine, readonly=True) as session:
        return service.tags_of(session, t.ids[name])


def values(found: service.MemberTags, kind: TagKind) -> list[str]:
    return [tag.value for tag in found.of(kind)]


def stored(engine: Engine) -> set[tuple[int, str, str, float | None]]:
    with unit_of_work(engine, readonly=True) as session:
        return {
            (r.member_id, r.kind, r.value, r.score)
            for r in session.scalars(select(MemberTag)).all()
        }


def test_a_full_refresh_tags_every_member_who_bought_and_keeps_the_baseline(
    tagged: Tagged,
) -> None:
    report = tagged.report
    # The background, weekly, lapsed, same_day, returned, exchanged, the merged pair (one
    # member now) and the online shopper; `nobody` never bought.
    assert report.members == mv.BACKGROUND + 7
    assert report.lapse_model
    assert report.baseline.members == report.members
    for cuts in (report.baseline.recency, report.baseline.frequency, report.baseline.monetary):
        assert len(cuts) == 4
        assert list(cuts) == sorted(cuts)
    with unit_of_work(tagged.engine, readonly=True) as session:
        kept = session.scalars(select(TagBaseline.members)).all()
    assert kept == [report.members]
    assert tags(tagged, "nobody").tags == []
    assert tags(tagged, "nobody").computed_at is None


def test_a_weekly_till_shopper_is_a_store_customer_at_low_lapse_risk(tagged: Tagged) -> None:
    weekly = tags(tagged, "weekly")
    assert weekly.computed_at == NOW
    assert values(weekly, TagKind.RECENCY_SCORE) == ["5"]
    assert values(weekly, TagKind.FREQUENCY_SCORE) == ["5"]
    assert values(weekly, TagKind.RFM_SEGMENT) in (["champions"], ["loyal"])
    assert values(weekly, TagKind.CHANNEL) == ["store"]
    assert values(weekly, TagKind.SCENE) == ["in_store"]
    assert values(weekly, TagKind.CATEGORY) == ["apparel"]
    assert values(weekly, TagKind.SIZE) == ["M"]
    assert values(weekly, TagKind.LAPSE_RISK) == ["low"]
    assert values(weekly, TagKind.NODE) == ["ST-SH-3"]
    [node] = weekly.of(TagKind.NODE)
    assert node.score == 53  # orders sold there


def test_a_lapsed_member_is_hibernating_at_high_lapse_risk(tagged: Tagged) -> None:
    lapsed = tags(tagged, "lapsed")
    assert values(lapsed, TagKind.RECENCY_SCORE) == ["1"]
    assert values(lapsed, TagKind.RFM_SEGMENT) == ["hibernating"]
    [risk] = lapsed.of(TagKind.LAPSE_RISK)
    assert risk.value == "high"
    assert risk.score is not None
    assert risk.score >= 0.7


def test_an_online_shopper_prefers_online_and_delivery_and_the_top_of_the_price_range(
    tagged: Tagged,
) -> None:
    online = tags(tagged, "online")
    assert values(online, TagKind.CHANNEL) == ["online"]
    [channel] = online.of(TagKind.CHANNEL)
    assert channel.score == 1.0  # tmall and the mini-program are both online
    [scene] = online.of(TagKind.SCENE)
    assert (scene.value, scene.score) == ("delivery", round(2 / 3, 4))
    # The shoes are most of the spend, and at the top of their category.
    assert values(online, TagKind.CATEGORY) == ["shoes", "apparel"]
    assert values(online, TagKind.SIZE) == ["M", "42"]  # two tees, one pair
    assert values(online, TagKind.PRICE_BAND) == ["high"]
    assert values(online, TagKind.NODE) == ["WH-BJ", "ST-SH-1"]  # by orders
    [r] = values(online, TagKind.RECENCY_SCORE)
    [f] = values(online, TagKind.FREQUENCY_SCORE)
    [m] = values(online, TagKind.MONETARY_SCORE)
    assert r == "5"
    assert values(online, TagKind.RFM_SEGMENT) == [rfm_segment(int(r), int(f), int(m)).value]


def test_tags_live_on_the_member_a_merge_kept(tagged: Tagged) -> None:
    via_newer = tags(tagged, "newer")
    older = tags(tagged, "older")
    assert via_newer.member_id == older.member_id == tagged.ids["older"]
    assert via_newer.asked == tagged.ids["newer"]
    assert via_newer.tags == older.tags
    # Tees of the older id and jeans of the newer: both sizes, on one member.
    assert sorted(values(older, TagKind.SIZE)) == ["32", "M"]


def test_one_members_refresh_gives_what_the_full_refresh_gave(tagged: Tagged) -> None:
    before = stored(tagged.engine)
    for name in tagged.ids:
        with unit_of_work(tagged.engine) as session:
            again = service.refresh_member(session, tagged.ids[name], clock=FakeClock(NOW))
        assert again.tags == tags(tagged, name).tags, name
    assert stored(tagged.engine) == before


def test_a_full_refresh_again_changes_nothing(tagged: Tagged) -> None:
    before = stored(tagged.engine)
    with unit_of_work(tagged.engine) as session:
        report = service.refresh_all(session, clock=FakeClock(NOW))
    assert report.members == tagged.report.members
    assert report.tags == tagged.report.tags == len(before)
    assert stored(tagged.engine) == before


def test_an_unknown_member_is_refused(tagged: Tagged) -> None:
    with unit_of_work(tagged.engine) as session, pytest.raises(UnknownMember):
        service.tags_of(session, "M0999999999")
    with unit_of_work(tagged.engine) as session, pytest.raises(UnknownMember):
        service.refresh_member(session, "not-a-member")
