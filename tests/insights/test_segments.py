"""Marketers' segments over the tagged member-value world of test_tags_service: filters checked,
member counts, keyset pages of members, data scopes, and the HTTP routes (segments and a member's
tags)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.access import api_key, bearer
from tests.insights.test_tags_service import Tagged, tagged
from yipan.app import create_app
from yipan.auth.domain import Role
from yipan.insights.domain.segments import InvalidSegmentFilter, parse_filter
from yipan.insights.models.tags import MemberTag
from yipan.insights.service import segments as service
from yipan.kernel.db import unit_of_work
from yipan.kernel.errors import InvalidInput
from yipan.promotions.models import CouponRow, CouponTemplateRow

__all__ = ["tagged"]  # the module's world, shared with the tags tests


def with_tag(t: Tagged, kind: str, value: str) -> set[str]:
    with unit_of_work(t.engine, readonly=True) as session:
        ids = session.scalars(
            select(MemberTag.member_id).where(MemberTag.kind == kind, MemberTag.value == value)
        ).all()
    return {f"M{i:010d}" for i in ids}


def everyone(t: Tagged, filters: dict[str, Any], visible: list[str] | None = None) -> list[str]:
    """Every member of the filter, paging 7 at a time."""
    found: list[str] = []
    after: str | None = None
    with unit_of_work(t.engine, readonly=True) as session:
        while True:
            page = service.segment_members(session, filters, visible=visible, after=after, limit=7)
            found += [m.member_id for m in page.members]
            if page.next_after is None:
                return found
            after = page.next_after


def count(t: Tagged, filters: dict[str, Any], visible: list[str] | None = None) -> int:
    with unit_of_work(t.engine, readonly=True) as session:
        return service.count_members(session, filters, visible=visible)


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ({"colour": ["red"]}, "unknown filter colour; filters are: rfm_segment"),
        ({"rfm_segment": ["vip"]}, "rfm_segment cannot be vip; it is one of: at_risk, champions"),
        ({"lapse_risk": []}, "lapse_risk needs a list of one or more values"),
        ({"tier": [""]}, "tier's values are non-empty text"),
        ({"store": ["x" * 65]}, "store's values are at most 64 characters"),
        ({"category": ["a"] * 51}, "category takes at most 50 values"),
    ],
)
def test_a_bad_filter_is_refused_saying_what_is_wrong(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(InvalidSegmentFilter) as refused:
        parse_filter(doc)
    assert refused.value.message.startswith(says)
    assert refused.value.status == 422


def test_a_filter_is_kept_in_one_canonical_form() -> None:
    checked = parse_filter({"tier": ["gold", "gold", " silver "], "rfm_segment": "at_risk"})
    assert checked.as_json() == {"rfm_segment": ["at_risk"], "tier": ["gold", "silver"]}


# --- counts and members -------------------------------------------------------------------------


def test_every_active_member_is_in_the_empty_filter_and_pages_hold_each_once(
    tagged: Tagged,
) -> None:
    members = everyone(tagged, {})
    # All ~40 background members, the six named, the merged pair as one, the online shopper.
    assert len(members) == count(tagged, {}) == len(set(members))
    assert members == sorted(members)
    assert tagged.ids["nobody"] in members
    assert tagged.ids["newer"] not in members  # merged away: it lives in `older`


def test_a_tag_filter_takes_the_members_with_that_tag(tagged: Tagged) -> None:
    hibernating = with_tag(tagged, "rfm_segment", "hibernating")
    assert tagged.ids["lapsed"] in hibernating
    assert set(everyone(tagged, {"rfm_segment": ["hibernating"]})) == hibernating
    at_risk = with_tag(tagged, "rfm_segment", "at_risk")
    both = {"rfm_segment": ["hibernating", "at_risk"]}
    assert count(tagged, both) == len(hibernating | at_risk)
    # Names are all of them: high lapse risk among the hibernating.
    high = with_tag(tagged, "lapse_risk", "high")
    both_names = {"rfm_segment": ["hibernating"], "lapse_risk": ["high"]}
    assert set(everyone(tagged, both_names)) == hibernating & high
    assert count(tagged, {"channel": ["online"]}) == 1
    assert count(tagged, {"size": ["42"], "price_band": ["high"]}) == 1


def test_store_and_tier_filters_and_a_stores_scope(tagged: Tagged) -> None:
    at_sh1 = set(everyone(tagged, {"store": ["ST-SH-1"]}))
    assert at_sh1 == {tagged.ids["exchanged"], tagged.ids["online"]}
    assert set(everyone(tagged, {}, visible=["ST-SH-1"])) == at_sh1
    assert count(tagged, {"rfm_segment": ["hibernating"]}, visible=["ST-SH-1"]) == 0
    assert count(tagged, {"tier": ["normal"]}) == count(tagged, {})
    assert count(tagged, {"tier": ["no-such-tier"]}) == 0


def test_a_page_after_a_bad_member_id_is_refused(tagged: Tagged) -> None:
    with unit_of_work(tagged.engine) as session, pytest.raises(InvalidInput, match="after is"):
        service.segment_members(session, {}, after="nobody")
    with unit_of_work(tagged.engine) as session, pytest.raises(InvalidInput, match="limit"):
        service.segment_members(session, {}, limit=0)


# --- HTTP ---------------------------------------------------------------------------------------


@pytest.fixture
def api(tagged: Tagged) -> Iterator[TestClient]:
    with TestClient(create_app(tagged.engine, background=False)) as client:
        yield client


def key(t: Tagged, role: Role = Role.MARKETER, store: str | None = None) -> dict[str, str]:
    kind = "store" if store else None
    return bearer(api_key(t.engine, role, scope_kind=kind, scope_value=store))


URL = "/api/v1/insights/segments"


def test_a_marketer_saves_counts_pages_changes_and_deletes_a_segment(
    tagged: Tagged, api: TestClient
) -> None:
    marketer = key(tagged)
    body = {
        "name": "Sleepers",
        "description": "win them back",
        "filters": {"rfm_segment": ["hibernating", "at_risk"]},
    }
    made = api.post(URL, json=body, headers=marketer)
    assert made.status_code == 201, made.text
    segment = made.json()
    expected = len(
        with_tag(tagged, "rfm_segment", "hibernating") | with_tag(tagged, "rfm_segment", "at_risk")
    )
    assert segment["member_count"] == expected > 0
    assert segment["filters"] == {"rfm_segment": ["at_risk", "hibernating"]}
    assert segment["created_by"].startswith("yk_")  # the key that made it

    again = api.post(URL, json={**body, "name": "sleepers"}, headers=marketer)
    assert again.status_code == 409
    assert again.json()["code"] == "SEGMENT_NAME_TAKEN"

    listed = api.get(URL, headers=marketer).json()
    assert [s["name"] for s in listed["segments"]] == ["Sleepers"]
    assert listed["segments"][0]["member_count"] == expected

    members: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 5, **({"after": after} if after else {})}
        page = api.get(f"{URL}/{segment['id']}/members", params=params, headers=marketer)
        assert page.status_code == 200, page.text
        members += [m["member_id"] for m in page.json()["members"]]
        after = page.json()["next_after"]
        if after is None:
            break
    assert len(members) == expected == len(set(members))

    preview = api.post(f"{URL}/count", json={"filters": {"lapse_risk": ["high"]}}, headers=marketer)
    assert preview.status_code == 200
    assert preview.json()["member_count"] == len(with_tag(tagged, "lapse_risk", "high"))

    changed = api.patch(
        f"{URL}/{segment['id']}", json={"filters": {"channel": ["online"]}}, headers=marketer
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["member_count"] == 1
    assert changed.json()["name"] == "Sleepers"

    assert api.delete(f"{URL}/{segment['id']}", headers=marketer).status_code == 204
    gone = api.get(f"{URL}/{segment['id']}", headers=marketer)
    assert gone.status_code == 404
    assert gone.json()["code"] == "UNKNOWN_SEGMENT"


def test_bad_segments_are_answered_clearly_and_roles_are_checked(
    tagged: Tagged, api: TestClient
) -> None:
    marketer = key(tagged)
    bad = api.post(URL, json={"name": "x", "filters": {"rfm_segment": ["vip"]}}, headers=marketer)
    assert bad.status_code == 422
    assert bad.json()["code"] == "INVALID_SEGMENT_FILTER"
    assert "rfm_segment cannot be vip" in bad.json()["message"]
    unknown = api.post(URL, json={"name": "x", "filters": {"colour": ["red"]}}, headers=marketer)
    assert unknown.status_code == 422
    assert "unknown filter colour" in unknown.json()["message"]
    blank = api.post(URL, json={"name": "   ", "filters": {}}, headers=marketer)
    assert blank.status_code == 422
    assert blank.json()["message"] == "a segment needs a name"
    not_a_list = api.post(URL, json={"name": "x", "filters": {"tier": 3}}, headers=marketer)
    assert not_a_list.status_code == 422
    assert api.get(f"{URL}/999999", headers=marketer).status_code == 404
    guide = key(tagged, Role.STORE_GUIDE, "ST-SH-1")
    assert api.post(URL, json={"name": "mine", "filters": {}}, headers=guide).status_code == 403
    assert api.get(URL, headers=key(tagged, Role.PLANNER)).status_code == 403
    # A store's staff count the members their store sees.
    everyone_here = api.post(f"{URL}/count", json={"filters": {}}, headers=guide)
    assert everyone_here.json()["member_count"] == 2


def test_a_members_tags_over_http_within_the_callers_scope(tagged: Tagged, api: TestClient) -> None:
    online = tagged.ids["online"]
    hq = api.get(f"/api/v1/insights/members/{online}/tags", headers=key(tagged, Role.HQ_ADMIN))
    assert hq.status_code == 200, hq.text
    body = hq.json()
    assert body["member_id"] == online
    assert body["rfm_segment"] is not None
    assert {"kind": "channel", "value": "online", "score": 1.0} in body["tags"]
    here = key(tagged, Role.STORE_MANAGER, "ST-SH-1")
    assert api.get(f"/api/v1/insights/members/{online}/tags", headers=here).json() == body
    weekly = tagged.ids["weekly"]
    elsewhere = api.get(f"/api/v1/insights/members/{weekly}/tags", headers=here)
    assert elsewhere.status_code == 404
    unknown = api.get("/api/v1/insights/members/M0999999999/tags", headers=key(tagged))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "UNKNOWN_MEMBER"
    refreshed = api.post(f"/api/v1/insights/members/{online}/tags/refresh", headers=here)
    assert refreshed.status_code == 200
    # The same tags (lapse risk aside: now the model is fitted as of the real yesterday).
    assert [t for t in refreshed.json()["tags"] if t["kind"] != "lapse_risk"] == [
        t for t in body["tags"] if t["kind"] != "lapse_risk"
    ]


def coupon_holders(t: Tagged, template: str, issue_key: str) -> list[str]:
    with unit_of_work(t.engine, readonly=True) as session:
        return sorted(
            session.scalars(
                select(CouponRow.owner_member_id)
                .join(CouponTemplateRow, CouponTemplateRow.id == CouponRow.template_id)
                .where(CouponTemplateRow.code == template, CouponRow.issue_key == issue_key)
            ).all()
        )


def test_a_marketer_gives_each_member_of_a_segment_one_coupon(
    tagged: Tagged, api: TestClient
) -> None:
    marketer = key(tagged)
    template = {
        "code": "WINBACK-20",
        "name": "回归券 20 元",
        "benefit": {"kind": "amount_off", "amount_fen": 2000},
        "min_spend_fen": 10000,
        "stacking": "with_promotions",
        "valid_days": 30,
    }
    assert api.post("/api/v1/coupon-templates", json=template, headers=marketer).status_code == 201
    sleepers = {"name": "Win back", "filters": {"rfm_segment": ["hibernating"]}}
    segment = api.post(URL, json=sleepers, headers=marketer).json()
    body = {"template": "WINBACK-20", "issue_key": "winback-2026-12"}

    first = api.post(f"{URL}/{segment['id']}/coupons", json=body, headers=marketer)
    assert first.status_code == 201, first.text
    hibernating = with_tag(tagged, "rfm_segment", "hibernating")
    assert first.json() == {
        "segment_id": segment["id"],
        "template": "WINBACK-20",
        "issue_key": "winback-2026-12",
        "members": len(hibernating),
        "created": len(hibernating),
    }
    assert coupon_holders(tagged, "WINBACK-20", "winback-2026-12") == sorted(hibernating)

    # Sent again: nobody gets a second. Widened: only the members new to it get theirs.
    replay = api.post(f"{URL}/{segment['id']}/coupons", json=body, headers=marketer)
    assert (replay.status_code, replay.json()["created"]) == (200, 0)
    wider = {"filters": {"rfm_segment": ["hibernating", "at_risk"]}}
    assert api.patch(f"{URL}/{segment['id']}", json=wider, headers=marketer).status_code == 200
    at_risk = with_tag(tagged, "rfm_segment", "at_risk")
    topped_up = api.post(f"{URL}/{segment['id']}/coupons", json=body, headers=marketer)
    assert topped_up.json()["created"] == len(at_risk - hibernating) > 0
    assert coupon_holders(tagged, "WINBACK-20", "winback-2026-12") == sorted(hibernating | at_risk)

    unknown = api.post(
        f"{URL}/{segment['id']}/coupons", json={**body, "template": "NOPE"}, headers=marketer
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "UNKNOWN_COUPON_TEMPLATE")
    nobody = api.post(
        URL, json={"name": "None", "filters": {"tier": ["no-such"]}}, headers=marketer
    )
    empty = api.post(f"{URL}/{nobody.json()['id']}/coupons", json=body, headers=marketer)
    assert (empty.status_code, empty.json()["code"]) == (409, "EMPTY_SEGMENT")
    guide = key(tagged, Role.STORE_GUIDE, "ST-SH-1")
    refused = api.post(f"{URL}/{segment['id']}/coupons", json=body, headers=guide)
    assert refused.status_code == 403
    assert coupon_holders(tagged, "WINBACK-20", "winback-2026-12") == sorted(hibernating | at_risk)
