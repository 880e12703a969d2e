"""The members pages over HTTP, on SQLite and PostgreSQL: search by phone, the 360 view, data
scopes, and the merge decisions (review queue, un-merge) with their CSRF and role checks."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders import world
from yipan.auth.domain import Role
from yipan.kernel.db import unit_of_work
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest, profile, review
from yipan.orders.schemas import OrderIn
from yipan.orders.service import capture

PHONE = "13912345678"
OTHER_PHONE = "13687654321"


STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("mkt", Role.MARKETER, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("boss2", Role.STORE_MANAGER, "ST-SH-2"),
    ("shanghai", Role.REGION_MANAGER, "上海市"),
]


@pytest.fixture
def desk(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF) as signed_in:
        yield signed_in


def member(engine: Engine, source: str, record_id: str, name: str, **identities: str) -> str:
    record = SourceRecordIn(
        source=source,
        record_id=record_id,
        name=name,
        identities=[IdentityIn(kind=kind, value=value) for kind, value in identities.items()],
    )
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def pickup_order(engine: Engine, external_id: str, member_id: str, store: str) -> None:
    body = world.order(
        external_id,
        [world.line(method="pickup", pickup_node=store)],
        customer={"member_id": member_id},
    )
    with unit_of_work(engine) as session:
        capture.place_order(session, OrderIn.model_validate(body))


def open_reviews(engine: Engine) -> list[int]:
    with unit_of_work(engine, readonly=True) as session:
        return [r.id for r in review.list_reviews(session)]


def conflict(engine: Engine) -> tuple[str, str, int]:
    """Two store cards claim one phone under different names: a review waits for a person."""
    zhang = member(engine, "pos", "c1", "张三", phone=PHONE, pos_card="1001")
    li = member(engine, "pos", "c2", "李四", phone=PHONE, pos_card="1002")
    [review_id] = open_reviews(engine)
    return zhang, li, review_id


def bridged(engine: Engine) -> tuple[str, str]:
    """A POS member and an online member joined by a social record carrying both identities."""
    pos = member(engine, "pos", "card-1", "王芳", phone=OTHER_PHONE)
    online = member(engine, "online_shop", "u-1", "王芳", email="wf@qq.com")
    member(engine, "social", "union-1", "王芳", phone=OTHER_PHONE, email="wf@qq.com")
    return pos, online


def notice(html: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', html, re.S)
    assert found is not None, html
    return found.group(1)


# --- search and the 360 view -----------------------------------------------------------------


def test_a_phone_in_two_spellings_finds_the_member(desk: Staff) -> None:
    wang = member(desk.engine, "pos", "card-1", "王芳", phone=PHONE, pos_card="6200 0001")
    client = desk.as_("hq")

    for spelling in (PHONE, "+86 139-1234-5678"):
        response = client.get("/console/members", params={"q": spelling})
        assert response.status_code == 200, response.text
        assert re.findall(r'data-testid="member-link">([^<]+)<', response.text) == [wang]
        assert "王芳" in response.text
        assert re.findall(r'data-testid="identity-count">(\d+)<', response.text) == ["2"]
    by_id = client.get("/console/members", params={"q": wang.lower()})
    assert re.findall(r'data-testid="member-link">([^<]+)<', by_id.text) == [wang]


def test_an_unknown_phone_or_a_query_that_is_no_phone_says_so_in_plain_words(desk: Staff) -> None:
    member(desk.engine, "pos", "card-1", "王芳", phone=PHONE)
    client = desk.as_("hq")

    unknown = client.get("/console/members", params={"q": "13700001111"})
    assert unknown.status_code == 404
    assert "没有找到与“13700001111”匹配的会员" in notice(unknown.text)
    nonsense = client.get("/console/members", params={"q": "hello"})
    assert nonsense.status_code == 422
    assert "既不是手机号也不是会员号" in notice(nonsense.text)
    assert client.get("/console/members", params={"q": "M0000099999"}).status_code == 404
    empty = client.get("/console/members")
    assert empty.status_code == 200
    assert 'data-testid="empty"' in empty.text


def test_the_360_page_shows_profile_masked_identities_tier_points_and_orders(desk: Staff) -> None:
    wang = member(desk.engine, "pos", "card-1", "王芳", phone=PHONE)
    pickup_order(desk.engine, "TM-360", wang, "ST-SH-1")

    response = desk.as_("mkt").get(f"/console/members/{wang}")

    assert response.status_code == 200, response.text
    html = response.text
    assert f'data-testid="member-id">{wang}<' in html
    assert "139****5678" in html
    assert PHONE not in html  # a marketer sees personal data masked; HQ sees it whole
    assert PHONE in desk.as_("hq").get(f"/console/members/{wang}").text
    assert PHONE not in html  # views mask personal data
    assert "普通会员" in html  # the tier, with its benefits
    assert "积分倍数" in html
    assert "积分余额：0" in html
    assert "TM-360" in html
    assert "¥99.00" in html
    assert 'data-testid="no-merges"' in html


def test_a_merged_away_id_shows_its_survivor_with_a_note(desk: Staff) -> None:
    pos, online = bridged(desk.engine)

    response = desk.as_("hq").get(f"/console/members/{online}")

    assert response.status_code == 200
    assert f'data-testid="member-id">{pos}<' in response.text
    note = re.search(r'data-testid="merged-note">([^<]+)<', response.text)
    assert note is not None
    assert online in note.group(1)
    assert pos in note.group(1)


def test_an_unknown_member_id_is_a_plain_404(desk: Staff) -> None:
    for asked in ("M0000099999", "not-an-id"):
        response = desk.as_("hq").get(f"/console/members/{asked}")
        assert response.status_code == 404
        assert "没有找到会员" in notice(response.text)


# --- data scopes -------------------------------------------------------------------------------


def test_a_store_manager_cannot_open_a_member_who_only_bought_at_another_store(
    desk: Staff,
) -> None:
    wang = member(desk.engine, "pos", "card-1", "王芳", phone=PHONE)
    pickup_order(desk.engine, "TM-1", wang, "ST-SH-1")

    other_store = desk.as_("boss2")
    refused = other_store.get(f"/console/members/{wang}")
    assert refused.status_code == 404
    assert "不在您负责的门店范围内" in notice(refused.text)
    assert "139****5678" not in refused.text
    assert other_store.get("/console/members", params={"q": PHONE}).status_code == 404

    assert desk.as_("guide1").get(f"/console/members/{wang}").status_code == 200  # her store
    assert desk.as_("shanghai").get(f"/console/members/{wang}").status_code == 200  # its region
    assert desk.as_("hq").get(f"/console/members/{wang}").status_code == 200
    found = desk.as_("guide1").get("/console/members", params={"q": PHONE})
    assert re.findall(r'data-testid="member-link">([^<]+)<', found.text) == [wang]


def test_a_member_without_orders_is_seen_by_hq_only(desk: Staff) -> None:
    wang = member(desk.engine, "pos", "card-1", "王芳", phone=PHONE)

    assert desk.as_("guide1").get(f"/console/members/{wang}").status_code == 404
    assert desk.as_("hq").get(f"/console/members/{wang}").status_code == 200


# --- the review queue and un-merging -----------------------------------------------------------


def test_a_marketer_accepts_a_review_with_the_csrf_token(desk: Staff) -> None:
    zhang, li, review_id = conflict(desk.engine)
    client = desk.as_("mkt")
    queue = client.get("/console/members/reviews")
    assert f'data-testid="accept-{review_id}"' in queue.text
    assert "李四" in queue.text

    decided = client.post(
        f"/console/members/reviews/{review_id}/accept",
        data={"reason": "同一人，卡上是昵称", "csrf_token": desk.csrf("mkt")},
        follow_redirects=False,
    )

    assert decided.status_code == 303
    assert decided.headers["location"] == "/console/members/reviews?done=accepted"
    after = client.get(decided.headers["location"])
    assert "已合并这两位会员" in notice(after.text)
    assert 'data-testid="reviews-empty"' in after.text
    assert open_reviews(desk.engine) == []
    with unit_of_work(desk.engine, readonly=True) as session:
        assert profile.get_member(session, li).id == zhang


def test_a_marketer_rejects_a_review_and_the_two_stay_apart(desk: Staff) -> None:
    zhang, li, review_id = conflict(desk.engine)

    decided = desk.as_("mkt").post(
        f"/console/members/reviews/{review_id}/reject",
        data={"reason": "夫妻共用手机号", "csrf_token": desk.csrf("mkt")},
        follow_redirects=False,
    )

    assert decided.status_code == 303
    assert open_reviews(desk.engine) == []
    with unit_of_work(desk.engine, readonly=True) as session:
        assert profile.get_member(session, li).id == li
        [rejected] = review.list_reviews(session, status="rejected")
    assert (rejected.resolved_by, rejected.resolution_reason) == ("mkt", "夫妻共用手机号")
    again = desk.as_("mkt").post(
        f"/console/members/reviews/{review_id}/accept",
        data={"reason": "再试一次", "csrf_token": desk.csrf("mkt")},
    )
    assert again.status_code == 409
    assert "已经处理过了" in notice(again.text)
    assert zhang != li


@pytest.mark.parametrize("token", ["", "forged-token"])
def test_a_decision_without_the_sessions_csrf_token_is_refused_and_writes_nothing(
    desk: Staff, token: str
) -> None:
    _zhang, _li, review_id = conflict(desk.engine)

    refused = desk.as_("mkt").post(
        f"/console/members/reviews/{review_id}/accept",
        data={"reason": "同一人", "csrf_token": token},
    )

    assert refused.status_code == 403
    assert "表单已过期" in notice(refused.text)
    assert open_reviews(desk.engine) == [review_id]


@pytest.mark.parametrize(
    ("reason", "says"), [("", "请填写原因"), ("   ", "请填写原因"), ("长" * 501, "最长 500 个字符")]
)
def test_an_empty_or_too_long_reason_is_refused_with_a_message_and_writes_nothing(
    desk: Staff, reason: str, says: str
) -> None:
    _zhang, _li, review_id = conflict(desk.engine)

    refused = desk.as_("mkt").post(
        f"/console/members/reviews/{review_id}/reject",
        data={"reason": reason, "csrf_token": desk.csrf("mkt")},
    )

    assert refused.status_code == 422
    assert says in notice(refused.text)
    assert f'data-testid="review-{review_id}"' in refused.text  # the queue is shown again
    assert open_reviews(desk.engine) == [review_id]


def test_an_unknown_review_is_a_plain_404(desk: Staff) -> None:
    conflict(desk.engine)
    for review_id in ("999999", "abc"):
        refused = desk.as_("mkt").post(
            f"/console/members/reviews/{review_id}/accept",
            data={"reason": "同一人", "csrf_token": desk.csrf("mkt")},
        )
        assert refused.status_code == 404
        assert "没有编号为" in notice(refused.text)
    assert len(open_reviews(desk.engine)) == 1


def test_a_store_guide_sees_no_merge_buttons_and_may_not_merge(desk: Staff) -> None:
    _zhang, _li, review_id = conflict(desk.engine)
    pos, _online = bridged(desk.engine)
    pickup_order(desk.engine, "TM-9", pos, "ST-SH-1")
    guide = desk.as_("guide1")

    page = guide.get(f"/console/members/{pos}")
    assert page.status_code == 200
    assert 'data-testid="merge-table"' in page.text
    assert "unmerge-form" not in page.text
    assert "accept-" not in guide.get("/console/members/reviews").text
    refused = guide.post(
        f"/console/members/reviews/{review_id}/accept",
        data={"reason": "同一人", "csrf_token": desk.csrf("guide1")},
    )
    assert refused.status_code == 403
    assert "您的角色不能合并或拆分会员" in notice(refused.text)
    assert open_reviews(desk.engine) == [review_id]
    with unit_of_work(desk.engine, readonly=True) as session:
        [merge] = [m for m in profile.member_360(session, pos).merges if m.absorbed]
    unmerge = guide.post(
        f"/console/members/{pos}/merges/{merge.id}/unmerge",
        data={"reason": "共用邮箱", "csrf_token": desk.csrf("guide1")},
    )
    assert unmerge.status_code == 403


def test_a_marketer_undoes_a_merge_from_the_360_page(desk: Staff) -> None:
    pos, online = bridged(desk.engine)
    client = desk.as_("mkt")
    with unit_of_work(desk.engine, readonly=True) as session:
        [merge] = [m for m in profile.member_360(session, pos).merges if m.absorbed == online]
    page = client.get(f"/console/members/{pos}")
    assert f'data-testid="unmerge-form-{merge.id}"' in page.text
    path = f"/console/members/{pos}/merges/{merge.id}/unmerge"

    empty = client.post(path, data={"reason": " ", "csrf_token": desk.csrf("mkt")})
    assert empty.status_code == 422
    assert "请填写原因" in notice(empty.text)
    with unit_of_work(desk.engine, readonly=True) as session:
        assert profile.get_member(session, online).id == pos  # still merged

    done = client.post(
        path, data={"reason": "共用邮箱", "csrf_token": desk.csrf("mkt")}, follow_redirects=False
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/members/{pos}?done=unmerged"
    after = client.get(done.headers["location"])
    assert "已撤销这次合并" in notice(after.text)
    with unit_of_work(desk.engine, readonly=True) as session:
        assert profile.get_member(session, online).id == online
    twice = client.post(path, data={"reason": "再来", "csrf_token": desk.csrf("mkt")})
    assert twice.status_code == 409
    assert "已经撤销过了" in notice(twice.text)


def test_the_360_page_lists_the_members_coupons_or_says_how_to_issue_one(desk: Staff) -> None:
    li = member(desk.engine, "pos", "card-c", "李雷", phone="13600001111")
    empty = desk.as_("hq").get(f"/console/members/{li}").text
    assert 'data-testid="no-coupons"' in empty
    template = {
        "code": "ten-off",
        "name": "10元无门槛",
        "benefit": {"kind": "amount_off", "amount_fen": 1000},
    }
    desk.api("/coupon-templates", template, status=201)
    issued = desk.api(
        "/coupon-templates/ten-off/issue", {"issue_key": "c-1", "member_ids": [li]}, status=201
    )
    [code] = [c["code"] for c in issued["coupons"]]
    page = desk.as_("hq").get(f"/console/members/{li}").text
    assert 'data-testid="coupon-table"' in page
    assert code in page
    assert "可用" in page  # issued and not yet redeemed
