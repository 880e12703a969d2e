"""The transfers page's suggested moves: the transfer plan of the user's nodes, each move one
click (a CSRF POST) from a transfer.

Reading goes against the shared demo (the skew case must show); applying writes, so it runs on a
small chain of its own (tests/insights/rebalance_world.py) with users of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.console.conftest import Demo
from tests.insights import rebalance_world
from yipan.app import create_app
from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import UserIn
from yipan.auth.service import login, sessions, users
from yipan.insights.service import transfer_plans
from yipan.inventory.models import Transfer
from yipan.kernel.db import unit_of_work

URL = "/console/inventory/transfers"
FRAGMENT = {"HX-Request": "true"}
PASSWORD = "correct horse battery"


def test_the_transfers_list_loads_its_suggested_moves_once_it_shows(
    client: TestClient, demo: Demo
) -> None:
    listing = client.get(URL)
    assert listing.status_code == 200
    assert 'hx-get="/console/inventory/transfers/suggested"' in listing.text
    skew = demo.summary.skew
    fragment = client.get(f"{URL}/suggested", headers=FRAGMENT)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'data-testid="suggested-table"' in fragment.text
    # The stores out of the hero are the most urgent: they come first, with an Apply button.
    out = skew.out_of_stock[0].node
    assert f'data-testid="suggested-{skew.sku}-' in fragment.text
    assert f"-{out}" in fragment.text
    assert "申请此调拨" in fragment.text


def test_without_htmx_the_suggestions_are_a_page_of_their_own(client: TestClient) -> None:
    page = client.get(f"{URL}/suggested")
    assert page.status_code == 200
    assert "<html" in page.text
    assert "<h1>建议调拨</h1>" in page.text


# --- applying, on a chain of its own ----------------------------------------------------------


@dataclass
class Chain:
    engine: Engine
    client: TestClient
    tokens: dict[str, str]

    def as_(self, username: str) -> TestClient:
        self.client.cookies.clear()
        self.client.cookies.set(
            sessions.SESSION_COOKIE, self.tokens[username], domain="testserver.local"
        )
        return self.client

    def csrf(self, username: str) -> str:
        return sessions.csrf_token_for(self.tokens[username])

    def transfers(self) -> int:
        with unit_of_work(self.engine, readonly=True) as session:
            return int(session.scalar(select(func.count()).select_from(Transfer)) or 0)


STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("nj2", Role.STORE_MANAGER, "ST-NJ-2"),
    ("guide", Role.STORE_GUIDE, "ST-NJ-1"),
]


@pytest.fixture
def chain(sqlite_engine: Engine) -> Iterator[Chain]:
    rebalance_world.build(sqlite_engine, now=datetime.now(UTC))
    tokens: dict[str, str] = {}
    for username, role, scope in STAFF:
        with unit_of_work(sqlite_engine) as session:
            users.create_user(
                session,
                UserIn(
                    username=username,
                    display_name=username,
                    role=role,
                    scope_value=scope,
                    password=PASSWORD,
                ),
                by=Principal.system("console tests"),
            )
        with unit_of_work(sqlite_engine) as session:
            signed_in = login.authenticate(session, username, PASSWORD).unwrap()
        tokens[username] = sessions.issue_session_token(signed_in)
    with TestClient(create_app(sqlite_engine, background=False)) as client:
        yield Chain(sqlite_engine, client, tokens)


def _move_to(chain: Chain, destination: str, sku: str = "TEE") -> dict[str, str]:
    """The form fields of the plan's move of `sku` into `destination`, as the page renders them."""
    with unit_of_work(chain.engine, readonly=True) as session:
        plan = transfer_plans.plan_transfers(session)
    move = next(m for m in plan.moves if m.destination == destination and m.sku == sku)
    return {
        "basis": plan.bases[move.sku],
        "sku": move.sku,
        "source": move.source,
        "destination": move.destination,
        "quantity": str(move.quantity),
    }


def test_applying_a_suggested_move_requests_its_transfer_once(chain: Chain) -> None:
    hq = chain.as_("hq")
    fields = _move_to(chain, "ST-NJ-1")
    assert f'value="{fields["basis"]}"' in hq.get(f"{URL}/suggested", headers=FRAGMENT).text
    form = {**fields, "csrf_token": chain.csrf("hq")}
    first = hq.post(f"{URL}/suggested/apply", data=form, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith(f"{URL}/RB-")
    assert first.headers["location"].endswith("?done=created")
    again = hq.post(f"{URL}/suggested/apply", data=form, follow_redirects=False)
    assert again.headers["location"] == first.headers["location"]
    assert chain.transfers() == 1
    shown = hq.get(first.headers["location"])
    assert "已提交调拨申请" in shown.text
    # On its way now: the move is no longer suggested.
    after = hq.get(f"{URL}/suggested", headers=FRAGMENT).text
    assert 'data-testid="suggested-TEE-WH-LY-ST-NJ-1"' not in after
    assert 'data-testid="suggested-TEE-WH-LY-ST-NJ-2"' in after


def test_a_store_manager_sees_and_applies_the_moves_of_their_store_only(chain: Chain) -> None:
    manager = chain.as_("nj2")
    fragment = manager.get(f"{URL}/suggested", headers=FRAGMENT).text
    assert 'data-testid="suggested-TEE-WH-LY-ST-NJ-2"' in fragment
    assert "ST-NJ-1" not in fragment
    other_store = {**_move_to(chain, "ST-NJ-1"), "csrf_token": chain.csrf("nj2")}
    refused = manager.post(f"{URL}/suggested/apply", data=other_store)
    assert refused.status_code == 403
    assert "都不在您的管辖范围内" in refused.text
    assert chain.transfers() == 0
    own = {**_move_to(chain, "ST-NJ-2"), "csrf_token": chain.csrf("nj2")}
    done = manager.post(f"{URL}/suggested/apply", data=own, follow_redirects=False)
    assert done.status_code == 303
    assert chain.transfers() == 1


def test_a_suggestion_without_the_forms_token_writes_nothing(chain: Chain) -> None:
    hq = chain.as_("hq")
    refused = hq.post(f"{URL}/suggested/apply", data=_move_to(chain, "ST-NJ-1"))
    assert refused.status_code == 403
    assert chain.transfers() == 0


def test_a_tampered_suggestion_is_refused_in_plain_words(chain: Chain) -> None:
    hq = chain.as_("hq")
    form = {**_move_to(chain, "ST-NJ-1"), "quantity": "lots", "csrf_token": chain.csrf("hq")}
    refused = hq.post(f"{URL}/suggested/apply", data=form)
    assert refused.status_code == 422
    assert "这条建议不完整或已失效" in refused.text
    too_many = {**form, "quantity": "5000"}
    short = hq.post(f"{URL}/suggested/apply", data=too_many)
    assert short.status_code == 409
    assert chain.transfers() == 0


def test_a_guide_sees_the_suggestions_but_no_button_to_apply_them(chain: Chain) -> None:
    guide = chain.as_("guide")
    fragment = guide.get(f"{URL}/suggested", headers=FRAGMENT).text
    assert 'data-testid="suggested-TEE-WH-LY-ST-NJ-1"' in fragment
    assert "申请此调拨" not in fragment
    form = {**_move_to(chain, "ST-NJ-1"), "csrf_token": chain.csrf("guide")}
    assert guide.post(f"{URL}/suggested/apply", data=form).status_code == 403
