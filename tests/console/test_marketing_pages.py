"""The marketing pages over HTTP, on SQLite and PostgreSQL: promotions (list, create, pause,
resume), coupon templates and issuing coupons to a member, and the price-consistency report,
with their validation, role and CSRF checks. Whatever a refused form asked, nothing is written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders import world
from yipan.auth.domain import Role
from yipan.catalog import prices
from yipan.catalog.schemas import PriceExceptionIn
from yipan.kernel.db import unit_of_work
from yipan.members.schemas import IdentityIn, SourceRecordIn
from yipan.members.service import ingest
from yipan.orders.schemas import OrderIn
from yipan.orders.service import capture
from yipan.promotions.schemas import PromotionIn, PromotionOut
from yipan.promotions.service import definitions

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("mkt", Role.MARKETER, None),
    ("guide1", Role.STORE_GUIDE, "ST-SH-1"),
]
PHONE = "13912345678"
HOME = "/console/marketing"


@pytest.fixture
def console(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        yield signed_in


def saved(engine: Engine, code: str, **fields: Any) -> PromotionOut:
    """A promotion made through the promotions service, as the API would."""
    body = {
        "code": code,
        "name": f"Promotion {code}",
        "rule": {"kind": "percent_off", "percent": 10},
    }
    with unit_of_work(engine) as session:
        out, _ = definitions.save_promotion(session, PromotionIn.model_validate(body | fields))
    return out


def promotions(engine: Engine) -> dict[str, PromotionOut]:
    with unit_of_work(engine, readonly=True) as session:
        return {p.code: p for p in definitions.list_promotions(session)}


def templates(engine: Engine) -> dict[str, int]:
    """Coupon templates by code, with how many coupons each has issued."""
    with unit_of_work(engine, readonly=True) as session:
        return {t.code: t.issued_count for t in definitions.list_coupon_templates(session)}


def outbox(engine: Engine) -> int:
    return world.footprint(engine)[2]


def key_of(html: str, form: str) -> str:
    """The idempotency key the page rendered into one of its forms."""
    found = re.search(
        rf'data-testid="{form}".*?name="idempotency_key" value="([0-9a-f]+)"', html, re.DOTALL
    )
    assert found is not None, html
    return found.group(1)


def threshold_form(console: Staff, user: str = "mkt", **changes: Any) -> dict[str, Any]:
    """A 满减 form as a marketer fills it in: 199 − 20, 299 − 50, on tmall, early in 2030."""
    page = console.as_(user).get(HOME)
    assert page.status_code == 200, page.text
    form: dict[str, Any] = {
        "csrf_token": console.csrf(user),
        "idempotency_key": key_of(page.text, "promotion-form"),
        "name": "Double 11 满减",
        "kind": "threshold_reduction",
        "step_threshold": ["199", "299", ""],
        "step_reduction": ["20", "50", ""],
        "channels": ["tmall"],
        "starts_at": "2030-01-01T10:00",
        "ends_at": "2030-01-08T10:00",
        "budget": "10000",
        "budget_uses": "500",
    }
    return form | changes


def error_text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found is not None, html
    return found.group(1).strip()


# --- promotions ------------------------------------------------------------------------------


def test_the_list_shows_each_promotion_with_what_it_does_now(console: Staff) -> None:
    engine = console.engine
    saved(engine, "LIVE", budget_fen=100000, channels=["tmall"])
    saved(engine, "SOON", starts_at=datetime(2030, 1, 1, tzinfo=UTC))
    saved(
        engine,
        "GONE",
        starts_at=datetime(2020, 1, 1, tzinfo=UTC),
        ends_at=datetime(2020, 2, 1, tzinfo=UTC),
    )
    saved(engine, "HELD")
    with unit_of_work(engine) as session:
        definitions.set_promotion_status(session, "HELD", definitions.PAUSED)

    page = console.as_("mkt").get(HOME)

    assert page.status_code == 200
    statuses = dict(re.findall(r'data-testid="status-([A-Z]+)">([^<]+)<', page.text))
    assert statuses == {"LIVE": "Active", "SOON": "Scheduled", "GONE": "Ended", "HELD": "Paused"}
    assert "¥0.00 / ¥1,000.00" in page.text
    assert 'data-testid="pause-LIVE"' in page.text
    assert 'data-testid="resume-HELD"' in page.text
    # An ended promotion has nothing left to pause or resume.
    assert 'data-testid="pause-GONE"' not in page.text
    assert 'data-testid="resume-GONE"' not in page.text
    paused_only = console.client.get(HOME, params={"status": "paused"})
    assert 'data-testid="promotion-HELD"' in paused_only.text
    assert 'data-testid="promotion-LIVE"' not in paused_only.text


def test_the_list_pages_on_the_server_and_refuses_bad_filters(console: Staff) -> None:
    for n in range(51):
        saved(console.engine, f"P{n:03d}")
    client = console.as_("mkt")
    first = client.get(HOME)
    assert first.text.count('data-testid="promotion-P') == 50
    assert "Page 1 of 2" in first.text
    second = client.get(HOME, params={"page": "2"})
    assert second.text.count('data-testid="promotion-P') == 1
    assert client.get(HOME, params={"page": "3"}).status_code == 404
    bad_page = client.get(HOME, params={"page": "two"})
    assert bad_page.status_code == 422
    assert "The page number is a whole number" in bad_page.text
    bad_status = client.get(HOME, params={"status": "sleeping"})
    assert bad_status.status_code == 422
    assert "There is no status “sleeping”" in bad_status.text
    fragment = client.get(HOME, params={"page": "2"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert 'data-testid="promotions-table"' in fragment.text


def test_a_marketer_creates_a_stepped_threshold_promotion(console: Staff) -> None:
    form = threshold_form(console)
    sent = console.client.post(f"{HOME}/promotions", data=form, follow_redirects=False)

    assert sent.status_code == 303, sent.text
    code = f"P-{form['idempotency_key'].upper()}"
    assert sent.headers["location"] == f"{HOME}?done=created&code={code}"
    created = promotions(console.engine)[code]
    assert created.name == "Double 11 满减"
    assert created.rule.model_dump() == {
        "kind": "threshold_reduction",
        "steps": [
            {"threshold_fen": 19900, "reduction_fen": 2000},
            {"threshold_fen": 29900, "reduction_fen": 5000},
        ],
        "repeat": False,
        "cap_fen": None,
    }
    assert created.channels == ["tmall"]
    # Typed in Shanghai time.
    assert created.starts_at == datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    assert created.ends_at == datetime(2030, 1, 8, 2, 0, tzinfo=UTC)
    assert (created.budget_fen, created.budget_uses) == (1000000, 500)
    page = console.client.get(sent.headers["location"])
    assert f"Promotion {code} created." in page.text
    assert "¥20.00 off ¥199.00 / ¥50.00 off ¥299.00" in page.text
    assert f'data-testid="status-{code}">Scheduled<' in page.text


def test_a_percent_off_promotion_covers_a_category_and_named_skus(console: Staff) -> None:
    form = threshold_form(
        console,
        kind="percent_off",
        percent="12",
        categories="apparel",
        skus=f"{world.TEE}, {world.JEANS}",
        code="APPAREL-12",
        channels=[],
        starts_at="",
        ends_at="",
    )
    assert (
        console.client.post(f"{HOME}/promotions", data=form, follow_redirects=False).status_code
        == 303
    )
    created = promotions(console.engine)["APPAREL-12"]
    assert created.rule.model_dump() == {"kind": "percent_off", "percent": 12}
    assert created.scope.categories == ["apparel"]
    assert created.scope.skus == sorted([world.TEE, world.JEANS])
    assert created.channels == []


def test_sending_the_same_form_twice_creates_one_promotion(console: Staff) -> None:
    form = threshold_form(console)
    first = console.client.post(f"{HOME}/promotions", data=form, follow_redirects=False)
    events = outbox(console.engine)
    again = console.client.post(f"{HOME}/promotions", data=form, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(promotions(console.engine)) == 1
    assert outbox(console.engine) == events


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"name": "  "}, "Fill in “Name”"),
        ({"name": "x" * 201}, "“Name” has at most 200 characters"),
        ({"step_threshold": ["one hundred", "", ""]}, "“Threshold (yuan)” is an amount in yuan"),
        ({"budget_uses": "ten"}, "“Uses” is a whole number, not “ten”"),
        ({"kind": "percent_off", "percent": "120"}, "Percent off is a whole number from 1 to 99"),
        ({"kind": "percent_off", "percent": "abc"}, "“Percent off” is a whole number"),
        ({"kind": "percent_off", "percent": "9" * 5000}, "Percent off is a whole number from 1"),
        ({"starts_at": "0001-01-01T00:00"}, "“Starts” is not a time"),
        ({"ends_at": "2029-12-31T10:00"}, "The end must be after the start"),
        ({"starts_at": "", "ends_at": "2020-01-01T00:00"}, "The end has already passed"),
        ({"starts_at": "next monday"}, "“Starts” is not a time"),
        (
            {"step_threshold": ["20", "", ""], "step_reduction": ["20", "", ""]},
            "above the amount off",
        ),
        ({"step_threshold": ["299", "199", ""]}, "higher threshold and a bigger reduction"),
        ({"channels": ["tmall", "taobao-fake"]}, "There are no channels taobao-fake"),
        ({"skus": "NO-SUCH-SKU"}, "The catalogue has no SKUs NO-SUCH-SKU"),
        ({"code": "has spaces"}, "A code holds letters, digits"),
        ({"kind": "member_price", "tier_price": ["", "", "", ""]}, "Fill in “Member price”"),
        (
            {"kind": "member_price", "tier": ["gold"], "tier_price": ["88"]},
            "names the categories or SKUs",
        ),
        (
            {"kind": "n_for_price", "quantity": "3", "price": "-5"},
            "“For (yuan)” is an amount in yuan",
        ),
    ],
)
def test_a_bad_form_says_what_is_wrong_next_to_it_and_writes_nothing(
    console: Staff, changes: dict[str, Any], says: str
) -> None:
    events = outbox(console.engine)
    form = threshold_form(console, **changes)

    refused = console.client.post(f"{HOME}/promotions", data=form, follow_redirects=False)

    assert refused.status_code == 422, refused.text
    assert says in error_text(refused.text, "promotion-form-error")
    assert "nothing was saved" in error_text(refused.text, "promotion-form-error").lower()
    # The form comes back open, as typed, with the same key: fixed and sent, it creates once.
    assert 'data-testid="new-promotion" open' in refused.text
    assert f'value="{form["idempotency_key"]}"' in refused.text
    assert promotions(console.engine) == {}
    assert outbox(console.engine) == events


def test_a_code_another_promotion_holds_is_refused(console: Staff) -> None:
    saved(console.engine, "TAKEN")
    refused = console.client.post(
        f"{HOME}/promotions", data=threshold_form(console, code="TAKEN"), follow_redirects=False
    )
    assert refused.status_code == 409
    assert "That code is taken" in error_text(refused.text, "promotion-form-error")
    assert promotions(console.engine)["TAKEN"].rule.kind == "percent_off"


def test_a_marketer_pauses_and_resumes_a_promotion(console: Staff) -> None:
    saved(console.engine, "SPRING")
    client = console.as_("mkt")
    form = {"csrf_token": console.csrf("mkt"), "status": "active"}

    paused = client.post(f"{HOME}/promotions/SPRING/pause", data=form, follow_redirects=False)

    assert paused.status_code == 303
    assert paused.headers["location"] == f"{HOME}?status=active&done=paused&code=SPRING"
    assert promotions(console.engine)["SPRING"].status == "paused"
    page = client.get(f"{HOME}?done=paused&code=SPRING")
    assert "Promotion SPRING paused" in page.text
    assert 'data-testid="resume-SPRING"' in page.text
    resumed = client.post(f"{HOME}/promotions/SPRING/resume", data=form, follow_redirects=False)
    assert resumed.status_code == 303
    assert promotions(console.engine)["SPRING"].status == "active"


def test_pausing_an_unknown_promotion_says_so(console: Staff) -> None:
    client = console.as_("mkt")
    refused = client.post(f"{HOME}/promotions/NOPE/pause", data={"csrf_token": console.csrf("mkt")})
    assert refused.status_code == 404
    assert "There is no promotion NOPE" in refused.text


def test_a_store_guide_sees_no_buttons_and_is_refused_every_write(console: Staff) -> None:
    saved(console.engine, "SPRING")
    guide = console.as_("guide1")
    page = guide.get(HOME)
    assert page.status_code == 200
    assert 'data-testid="promotion-SPRING"' in page.text
    assert 'data-testid="pause-SPRING"' not in page.text
    assert 'data-testid="promotion-form"' not in page.text
    assert 'data-testid="issue-form"' not in guide.get(f"{HOME}/coupons").text
    events = outbox(console.engine)
    token = {"csrf_token": console.csrf("guide1")}

    writes = [
        guide.post(f"{HOME}/promotions/SPRING/pause", data=token),
        guide.post(
            f"{HOME}/promotions",
            data=token
            | {
                "name": "mine",
                "percent": "50",
                "kind": "percent_off",
                "idempotency_key": "0123456789abcdef",
            },
        ),
        guide.post(
            f"{HOME}/coupons/templates",
            data=token | {"name": "mine", "amount": "5", "idempotency_key": "0123456789abcdef"},
        ),
        guide.post(f"{HOME}/coupons/issue", data=token | {"template": "ANY", "member": PHONE}),
    ]

    assert [w.status_code for w in writes] == [403] * 4
    assert "Your role may not create or pause promotions" in writes[0].text
    assert promotions(console.engine)["SPRING"].status == "active"
    assert list(promotions(console.engine)) == ["SPRING"]
    assert templates(console.engine) == {}
    assert outbox(console.engine) == events


def test_a_form_without_the_sessions_token_changes_nothing(console: Staff) -> None:
    saved(console.engine, "SPRING")
    client = console.as_("mkt")
    refused = client.post(f"{HOME}/promotions/SPRING/pause", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert "The form has expired" in refused.text
    assert promotions(console.engine)["SPRING"].status == "active"


def test_the_pages_say_what_to_do_when_there_is_nothing_yet(console: Staff) -> None:
    marketer = console.as_("mkt")
    assert "Open “New promotion” above" in marketer.get(HOME).text
    assert "Open “New coupon template” above" in marketer.get(f"{HOME}/coupons").text
    assert "Every SKU has one price in every channel" in marketer.get(f"{HOME}/prices").text
    assert "They appear here as marketers create them" in console.as_("guide1").get(HOME).text


def test_the_marketing_section_opens_in_chinese_by_default(console: Staff) -> None:
    console.lang = None
    page = console.as_("mkt").get(HOME)
    assert page.status_code == 200
    assert "<h1>营销</h1>" in page.text
    assert 'aria-current="page">营销</a>' in page.text
    assert "新建促销" in page.text


# --- coupon templates and coupons ------------------------------------------------------------


def template_form(console: Staff, **changes: Any) -> dict[str, Any]:
    page = console.as_("mkt").get(f"{HOME}/coupons")
    form = {
        "csrf_token": console.csrf("mkt"),
        "idempotency_key": key_of(page.text, "template-form"),
        "name": "¥20 off ¥200",
        "kind": "threshold_off",
        "threshold": "200",
        "amount": "20",
        "valid_days": "30",
    }
    return form | changes


def member(engine: Engine, record_id: str, phone: str) -> str:
    record = SourceRecordIn(
        source="pos",
        record_id=record_id,
        name="张三",
        identities=[IdentityIn(kind="phone", value=phone)],
    )
    with unit_of_work(engine) as session:
        [result] = ingest.ingest_records(session, [record]).results
    return result.member_id


def test_a_marketer_creates_coupon_templates_of_each_kind(console: Staff) -> None:
    kinds = [
        {"code": "TEN-OFF", "kind": "amount_off", "amount": "10", "threshold": ""},
        {"code": "PCT-15", "kind": "percent_off", "percent": "15", "cap": "50", "amount": ""},
        {"code": "T200-20"},
    ]
    for changes in kinds:
        sent = console.client.post(
            f"{HOME}/coupons/templates",
            data=template_form(console, **changes),
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
    assert set(templates(console.engine)) == {"TEN-OFF", "PCT-15", "T200-20"}
    page = console.client.get(f"{HOME}/coupons?done=template_created&code=T200-20")
    assert "Coupon template T200-20 created." in page.text
    assert "¥10.00 off" in page.text
    assert "15% off (at most ¥50.00)" in page.text
    assert "¥20.00 off ¥200.00" in page.text
    assert "30 days from issue" in page.text


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"name": ""}, "Fill in “Name”"),
        ({"kind": "percent_off", "percent": "101"}, "Percent off is a whole number from 1 to 99"),
        ({"amount": "twenty"}, "“Amount off (yuan)” is an amount in yuan"),
        ({"threshold": "20"}, "above the amount off"),
        ({"valid_days": "99999"}, "“Valid for days after issue” is a whole number"),
    ],
)
def test_a_bad_template_form_says_why_and_writes_nothing(
    console: Staff, changes: dict[str, Any], says: str
) -> None:
    refused = console.client.post(
        f"{HOME}/coupons/templates", data=template_form(console, **changes)
    )
    assert refused.status_code == 422
    assert says in error_text(refused.text, "template-form-error")
    assert templates(console.engine) == {}


def test_a_coupon_is_issued_once_to_a_member_found_by_phone(console: Staff) -> None:
    someone = member(console.engine, "c1", PHONE)
    console.client.post(f"{HOME}/coupons/templates", data=template_form(console, code="WELCOME"))
    page = console.client.get(f"{HOME}/coupons?template=WELCOME")
    assert 'name="template" type="text" value="WELCOME"' in page.text
    form = {
        "csrf_token": console.csrf("mkt"),
        "idempotency_key": key_of(page.text, "issue-form"),
        "template": "WELCOME",
        "member": "139 1234 5678",
    }

    sent = console.client.post(f"{HOME}/coupons/issue", data=form, follow_redirects=False)
    again = console.client.post(f"{HOME}/coupons/issue", data=form, follow_redirects=False)

    assert sent.status_code == again.status_code == 303
    assert sent.headers["location"] == again.headers["location"]
    assert templates(console.engine)["WELCOME"] == 1
    shown = console.client.get(sent.headers["location"])
    assert re.search(
        rf"Coupon [0-9A-Z]{{12}} \(template WELCOME\) issued to member {someone}", shown.text
    )
    # By member id too, with a new form.
    page = console.client.get(f"{HOME}/coupons")
    by_id = form | {"idempotency_key": key_of(page.text, "issue-form"), "member": someone.lower()}
    assert (
        console.client.post(f"{HOME}/coupons/issue", data=by_id, follow_redirects=False).status_code
        == 303
    )
    assert templates(console.engine)["WELCOME"] == 2


@pytest.mark.parametrize(
    ("typed", "status", "says"),
    [
        ("13800000000", 404, "No member “13800000000” was found"),
        ("M0000099999", 404, "No member “M0000099999” was found"),
        ("hello", 422, "“hello” is neither a member id nor a phone"),
        ("", 422, "Fill in “Member id or phone”"),
    ],
)
def test_issuing_to_an_unknown_member_says_so_and_issues_nothing(
    console: Staff, typed: str, status: int, says: str
) -> None:
    member(console.engine, "c1", PHONE)
    console.client.post(f"{HOME}/coupons/templates", data=template_form(console, code="WELCOME"))
    page = console.client.get(f"{HOME}/coupons")
    form = {
        "csrf_token": console.csrf("mkt"),
        "idempotency_key": key_of(page.text, "issue-form"),
        "template": "WELCOME",
        "member": typed,
    }
    refused = console.client.post(f"{HOME}/coupons/issue", data=form)
    assert refused.status_code == status
    assert says in error_text(refused.text, "issue-form-error")
    assert templates(console.engine)["WELCOME"] == 0


def test_issuing_from_an_unknown_template_says_so(console: Staff) -> None:
    member(console.engine, "c1", PHONE)
    page = console.as_("mkt").get(f"{HOME}/coupons")
    form = {
        "csrf_token": console.csrf("mkt"),
        "idempotency_key": key_of(page.text, "issue-form"),
        "template": "NOPE",
        "member": PHONE,
    }
    refused = console.client.post(f"{HOME}/coupons/issue", data=form)
    assert refused.status_code == 404
    assert "There is no coupon template “NOPE”" in error_text(refused.text, "issue-form-error")


# --- price consistency -----------------------------------------------------------------------


def test_the_price_report_flags_a_channel_price_and_a_sale_no_rule_explains(console: Staff) -> None:
    engine = console.engine
    exception = PriceExceptionIn(
        sku=world.TEE, channel="miniapp", price_fen=8900, reason="小程序会员日", actor="hq"
    )
    with unit_of_work(engine) as session:
        prices.create_price_exception(session, exception)
    # A marketplace charges its own prices: this one sold below the list price, with no rule.
    body = world.order(
        "TM-CHEAP", [world.line(world.TEE, price=7900)], address=world.PEOPLES_SQUARE
    )
    with unit_of_work(engine) as session:
        capture.place_order(session, OrderIn.model_validate(body))
    client = console.as_("mkt")

    report = client.get(f"{HOME}/prices")

    assert report.status_code == 200
    row = re.search(rf'data-testid="price-{world.TEE}">(.*?)</tr>', report.text, re.DOTALL)
    assert row is not None, report.text
    assert "¥99.00" in row.group(1)  # the list price
    assert "miniapp</span> ¥89.00" in row.group(1)
    assert "rule: 小程序会员日" in row.group(1)
    assert "no rule (should be ¥99.00)" in row.group(1)
    assert f'data-testid="price-{world.JEANS}"' not in report.text
    miniapp = client.get(f"{HOME}/prices", params={"channel": "miniapp"})
    assert "rule: 小程序会员日" in miniapp.text
    assert 'data-testid="no-rule"' not in miniapp.text
    tmall = client.get(f"{HOME}/prices", params={"channel": "tmall", "unexplained": "1"})
    assert 'data-testid="no-rule"' in tmall.text
    assert "rule: 小程序会员日" not in tmall.text
    unknown = client.get(f"{HOME}/prices", params={"channel": "nope"})
    assert unknown.status_code == 422
    assert "There is no channel “nope”" in unknown.text
    fragment = client.get(f"{HOME}/prices", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert 'data-testid="prices-table"' in fragment.text
