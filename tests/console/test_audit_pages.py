"""The audit log page: HQ administrators read every write, newest first, filter it and page
back; no one else sees the page or its menu entry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.console.staff import Staff, staff_console
from tests.orders.world import TEE, line, order
from yipan.auth.domain import Principal, Role
from yipan.auth.service import audit
from yipan.auth.service.audit import WriteMade
from yipan.console.paging import PAGE_SIZE
from yipan.kernel.clock import SystemClock
from yipan.kernel.db import unit_of_work

STAFF = [
    ("hq", Role.HQ_ADMIN, None),
    ("boss1", Role.STORE_MANAGER, "ST-SH-1"),
]


@pytest.fixture
def staff(engine: Engine) -> Iterator[Staff]:
    with staff_console(engine, STAFF, lang="en") as signed_in:
        yield signed_in


def test_hq_sees_the_writes_with_who_what_and_the_answer(staff: Staff) -> None:
    staff.api(
        "/orders",
        order("AUD-1", [line(TEE, method="pickup", pickup_node="ST-SH-1")], channel="miniapp"),
        status=201,
    )
    page = staff.as_("hq").get("/console/audit")
    assert page.status_code == 200
    assert 'href="/console/audit"' in page.text  # in the menu
    assert "POST /api/v1/orders" in page.text
    assert "api_key" in page.text
    assert "201" in page.text
    assert "login.succeeded" in page.text  # access writes its own rows
    filtered = staff.client.get("/console/audit", params={"action": "POST /api/v1/orders"})
    assert filtered.text.count('data-testid="audit-row"') == 1


def test_a_store_manager_gets_403_and_no_menu_entry(staff: Staff) -> None:
    refused = staff.as_("boss1").get("/console/audit")
    assert refused.status_code == 403
    assert "Only HQ administrators may read the audit log." in refused.text
    assert 'data-testid="audit-table"' not in refused.text
    home = staff.client.get("/console/orders")
    assert 'href="/console/audit"' not in home.text


def test_the_log_pages_back_by_keyset_and_bad_input_is_a_message(staff: Staff) -> None:
    who = Principal.system("bulk")
    with unit_of_work(staff.engine) as session:
        audit.record_writes(
            session,
            [
                WriteMade(SystemClock().now(), who, "POST /x", f"/x/{n}", 200, None)
                for n in range(PAGE_SIZE + 5)
            ],
        )
    first = staff.as_("hq").get("/console/audit", params={"action": "POST /x"})
    assert first.text.count('data-testid="audit-row"') == PAGE_SIZE
    assert f"/x/{PAGE_SIZE + 4}<" in first.text  # newest first
    older = first.text.split('data-testid="audit-older"')[0].rsplit('href="', 1)[1].split('"')[0]
    second = staff.client.get(older.replace("&amp;", "&"))
    assert second.text.count('data-testid="audit-row"') == 5
    assert "/x/0<" in second.text
    assert 'data-testid="audit-older"' not in second.text

    nothing = staff.client.get("/console/audit", params={"actor": "nobody"})
    assert 'data-testid="audit-empty"' in nothing.text
    bad = staff.client.get("/console/audit", params={"before": "abc"})
    assert bad.status_code == 422
    assert "start again from the first page" in bad.text
    long = staff.client.get("/console/audit", params={"actor": "x" * 201})
    assert long.status_code == 422
    assert "at most 200 characters" in long.text
