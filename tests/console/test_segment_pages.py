"""Member tags in the 360 view and the segments page (marketing) over HTTP, on SQLite and
PostgreSQL: the list with member counts, saving a segment and its refusals (nothing written),
deleting, roles, CSRF, and store scopes. Members buy at the tills of the order tests' world and
their tags are refreshed once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.console.staff import Staff, staff_console
from tests.insights import test_member_value_service as mv
from tests.orders import world
from yipan.auth.domain import Role
from yipan.insights.models.tags import Segment
from yipan.insights.service import tags
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work
from yipan.members.domain.identifiers import IdentityKind
from yipan.members.schemas import IdentityIn

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("mkt", Role.MARKETER, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
    ("planner", Role.PLANNER, None),
]
HOME = "/console/marketing/segments"


@pytest.fixture
def console(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        yield signed_in


def shoppers(engine: Engine) -> dict[str, str]:
    """Three members: one buys at ST-SH-1 three times, one at ST-SH-3 once, one never."""
    ids = {
        name: mv.new_member(engine, name, IdentityIn(kind=IdentityKind.PHONE, value=phone))
        for name, phone in (("often", "13900000001"), ("once", "13900000002"))
    }
    ids["never"] = mv.new_member(
        engine, "never", IdentityIn(kind=IdentityKind.PHONE, value="13900000003")
    )
    tee = [(world.TEE, 1, 9900)]
    mv.sell(engine, [mv.receipt(ids["often"], mv.at(d), tee, store="ST-SH-1") for d in (30, 9, 2)])
    mv.sell(engine, [mv.receipt(ids["once"], mv.at(200), tee)])
    with unit_of_work(engine) as session:
        tags.refresh_all(session, clock=FakeClock(mv.NOW))
    return ids


def segments_saved(engine: Engine) -> int:
    with unit_of_work(engine, readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(Segment)) or 0)


def test_the_360_view_shows_a_members_tags_or_says_there_are_none(console: Staff) -> None:
    ids = shoppers(console.engine)
    page = console.as_("hq").get(f"/console/members/{ids['often']}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="member-tags"' in html
    assert 'data-testid="tag-channel"' in html
    assert "In store" in html  # channel preference
    assert "Bought in store" in html  # scene
    assert 'data-testid="rfm-scores"' in html
    assert "ST-SH-1 · 3 orders" in html
    none = console.as_("hq").get(f"/console/members/{ids['never']}")
    assert 'data-testid="no-tags"' in none.text
    console.lang = None
    zh = console.as_("hq").get(f"/console/members/{ids['often']}")
    assert "会员标签" in zh.text
    assert "门店现场购买" in zh.text


def form(console: Staff, user: str = "mkt", **fields: Any) -> dict[str, Any]:
    return {"csrf_token": console.csrf(user), "name": "Store regulars", **fields}


def test_a_marketer_saves_a_segment_and_sees_its_count(console: Staff) -> None:
    shoppers(console.engine)
    empty = console.as_("mkt").get(HOME)
    assert empty.status_code == 200
    assert 'data-testid="no-segments"' in empty.text
    assert 'href="/console/marketing/segments"' in empty.text  # the navigation entry
    sent = console.client.post(
        HOME,
        data=form(console, channel=["store"], store="ST-SH-1, ST-SH-3", description="tills"),
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    listed = console.client.get(sent.headers["location"])
    assert "Segment “Store regulars” saved." in listed.text
    assert 'data-testid="segment-count">2<' in listed.text  # often and once
    # A store's guide sees the segment, counting only the members their store sees.
    guide = console.as_("guide1").get(HOME)
    assert guide.status_code == 200
    assert 'data-testid="segment-count">1<' in guide.text
    assert 'data-testid="segment-form"' not in guide.text


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        ({"name": "  "}, 422, "Give the segment a name."),
        ({"name": "x" * 101}, 422, "at most 100 characters"),
        ({"rfm_segment": ["vip"]}, 422, "rfm_segment cannot be vip"),
        ({"store": "x" * 65}, 422, "at most 64 characters"),
    ],
)
def test_a_refused_segment_says_why_keeps_the_form_and_writes_nothing(
    console: Staff, fields: dict[str, Any], status: int, says: str
) -> None:
    console.as_("mkt")
    sent = console.client.post(HOME, data=form(console, lapse_risk=["high"], **fields))
    assert sent.status_code == status
    assert 'data-testid="segment-form-error"' in sent.text
    assert says in sent.text
    assert 'value="high" checked' in sent.text  # the form comes back as typed
    assert segments_saved(console.engine) == 0


def test_a_taken_name_is_refused_and_a_segment_can_be_deleted(console: Staff) -> None:
    console.as_("mkt")
    assert console.client.post(HOME, data=form(console), follow_redirects=False).status_code == 303
    again = console.client.post(HOME, data=form(console, name="store REGULARS"))
    assert again.status_code == 409
    assert "exists already" in again.text
    assert segments_saved(console.engine) == 1
    with unit_of_work(console.engine, readonly=True) as session:
        segment_id = session.scalar(select(Segment.id))
    gone = console.client.post(
        f"{HOME}/{segment_id}/delete",
        data={"csrf_token": console.csrf("mkt")},
        follow_redirects=False,
    )
    assert gone.status_code == 303
    assert segments_saved(console.engine) == 0
    unknown = console.client.post(f"{HOME}/999/delete", data={"csrf_token": console.csrf("mkt")})
    assert unknown.status_code == 404
    assert "There is no such segment" in unknown.text


def test_roles_and_csrf_are_checked(console: Staff) -> None:
    console.as_("guide1")
    refused = console.client.post(HOME, data=form(console, "guide1"))
    assert refused.status_code == 403
    assert "may not create or delete segments" in refused.text
    console.as_("mkt")
    forged = console.client.post(HOME, data={**form(console), "csrf_token": "forged"})
    assert forged.status_code == 403
    assert segments_saved(console.engine) == 0
    planner = console.as_("planner").get(HOME)
    assert planner.status_code == 403
    assert 'href="/console/marketing/segments"' not in planner.text
    bad_page = console.as_("mkt").get(HOME, params={"page": "x"})
    assert bad_page.status_code == 422
