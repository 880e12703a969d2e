"""The planning page: the latest demand forecast with its backtest against SeasonalNaive, one
series' forecast as a chart, the replenishment it suggests, and the reorder points set from it
by the roles that plan."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.insights import test_forecast_service as shop
from yipan.app import create_app
from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import UserIn
from yipan.auth.service import login, sessions, users
from yipan.console.i18n import LANG_COOKIE
from yipan.insights.service import forecasts
from yipan.inventory.service import ledger
from yipan.kernel.db import unit_of_work

PAGE = "/console/planning"
PASSWORD = "planning-pages-2026"
STAFF = {
    "hq": (Role.HQ_ADMIN, None),
    "plan": (Role.PLANNER, None),
    "guide": (Role.STORE_GUIDE, "ST-1"),
}


class Desk:
    def __init__(self, engine: Engine, client: TestClient) -> None:
        self.engine, self.client = engine, client
        self.tokens: dict[str, str] = {}
        for name, (role, scope) in STAFF.items():
            with unit_of_work(engine) as session:
                users.create_user(
                    session,
                    UserIn(
                        username=name,
                        display_name=name,
                        role=role,
                        scope_value=scope,
                        password=PASSWORD,
                    ),
                    by=Principal.system("planning tests"),
                )
            with unit_of_work(engine) as session:
                signed_in = login.authenticate(session, name, PASSWORD).unwrap()
            self.tokens[name] = sessions.issue_session_token(signed_in)

    def as_(self, name: str) -> TestClient:
        self.client.cookies.clear()
        self.client.cookies.set(sessions.SESSION_COOKIE, self.tokens[name])
        self.client.cookies.set(LANG_COOKIE, "en")
        return self.client

    def csrf(self, name: str) -> str:
        return sessions.csrf_token_for(self.tokens[name])


@pytest.fixture
def desk(engine: Engine) -> Iterator[Desk]:
    shop.build(engine, now=datetime.now(UTC))  # forecasts run up to yesterday
    with TestClient(create_app(engine, background=False)) as client:
        yield Desk(engine, client)


def _forecast(engine: Engine) -> forecasts.RunOut:
    with unit_of_work(engine) as session:
        return forecasts.run_forecast(session, settings=shop.SETTINGS)


def _notice(page: str) -> str:
    found = re.search(r'data-testid="notice">\s*(.*?)\s*</p>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def _data(page: str, attribute: str) -> dict[str, object]:
    found = re.search(rf"{attribute}='([^']*)'", page)
    assert found is not None, attribute
    return dict(json.loads(html.unescape(found.group(1))))


def test_before_any_forecast_the_page_says_how_to_run_one(desk: Desk) -> None:
    page = desk.as_("plan").get(PAGE)
    assert page.status_code == 200
    assert 'data-testid="no-forecast"' in page.text
    assert "yipan forecast run" in page.text


def test_the_backtest_shows_the_chosen_models_against_seasonal_naive(desk: Desk) -> None:
    run = _forecast(desk.engine)
    page = desk.as_("plan").get(PAGE)
    assert page.status_code == 200
    assert f"{run.series} series" in page.text
    chart = _data(page.text, "data-bar-chart")
    assert set(chart["categories"]) == {shop.SHANGHAI, shop.JIANGSU}  # type: ignore[arg-type]
    chosen, naive = chart["series"]  # type: ignore[misc]
    assert naive["name"] == "SeasonalNaive"
    with unit_of_work(desk.engine, readonly=True) as session:
        table = forecasts.backtest_table(session)
    by_region = {r.key: r for r in table.by_region}
    for key, wape, baseline in zip(
        chart["categories"],  # type: ignore[arg-type]
        chosen["values"],
        naive["values"],
        strict=True,
    ):
        assert wape == round(100 * (by_region[key].wape or 0), 1)
        assert baseline == round(100 * (by_region[key].baseline_wape or 0), 1)
    assert "Backtest: the chosen models' WAPE" in html.unescape(page.text)


def test_one_series_forecast_is_a_chart_and_bad_lookups_say_why(desk: Desk) -> None:
    _forecast(desk.engine)
    client = desk.as_("plan")
    page = client.get(PAGE, params={"sku": "TEE", "node": "ST-1"})
    assert page.status_code == 200
    line = _data(page.text, "data-line-chart")
    assert len(line["days"]) == len(line["values"]) == 14  # type: ignore[arg-type]
    assert "Model " in page.text
    for params, status, words in (
        ({"sku": "NOPE", "node": "ST-1"}, 404, "No such forecast"),
        ({"sku": "TEE"}, 422, "both a SKU and a node"),
    ):
        refused = client.get(PAGE, params=params)
        assert refused.status_code == status
        assert words in refused.text
    outside = desk.as_("guide").get(PAGE, params={"sku": "TEE", "node": "ST-2"})
    assert outside.status_code == 403


def test_a_planner_sets_the_reorder_points_from_the_forecast(desk: Desk) -> None:
    _forecast(desk.engine)
    client = desk.as_("plan")
    assert 'href="/console/planning"' in client.get("/console/dashboard").text
    done = client.post(
        f"{PAGE}/reorder-points", data={"csrf_token": desk.csrf("plan")}, follow_redirects=False
    )
    assert done.status_code == 303
    shown = client.get(done.headers["location"])
    changed = int(re.findall(r"(\d+) reorder points were set", _notice(shown.text))[0])
    assert changed >= 1
    with unit_of_work(desk.engine, readonly=True) as session:
        tee = ledger.stock_level(session, sku="TEE", node="ST-1")
    assert tee.reorder_point > 0  # the forecast's, where the shop had none


def test_only_planning_roles_set_reorder_points(desk: Desk) -> None:
    _forecast(desk.engine)
    guide = desk.as_("guide")
    assert 'href="/console/planning"' not in guide.get("/console/dashboard").text
    refused = guide.post(f"{PAGE}/reorder-points", data={"csrf_token": desk.csrf("guide")})
    assert refused.status_code == 403
    forged = desk.as_("hq").post(f"{PAGE}/reorder-points", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    with unit_of_work(desk.engine, readonly=True) as session:
        assert ledger.stock_level(session, sku="TEE", node="ST-1").reorder_point == 0
