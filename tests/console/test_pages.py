"""The console's pages as HTML over HTTP (no browser): status, words, messages, paging."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.console.conftest import Demo
from yipan.console.i18n import DEFAULT_LANG, EN, LANG_COOKIE, MESSAGES, ZH
from yipan.console.inventory_page import Health, stock_health


def _rows(html: str) -> list[str]:
    return re.findall(r'data-testid="ledger-link">([^<]+)</a>', html)


def test_every_message_exists_in_every_language() -> None:
    keys = {lang: set(messages) for lang, messages in MESSAGES.items()}
    assert keys[ZH] == keys[EN]
    assert DEFAULT_LANG == ZH


@pytest.mark.parametrize(
    ("available", "threshold", "health"),
    [
        (0, 10, Health.OUT),
        (0, 0, Health.OUT),
        (9, 10, Health.LOW),
        (10, 10, Health.HEALTHY),
        (29, 10, Health.HEALTHY),
        (30, 10, Health.SURPLUS),
        (500, 0, Health.HEALTHY),  # no policy: never low nor surplus
    ],
)
def test_stock_health_bands(available: int, threshold: int, health: Health) -> None:
    assert stock_health(available, threshold) is health


def test_the_console_opens_on_the_dashboard_in_chinese(client: TestClient) -> None:
    response = client.get("/console")
    assert response.status_code == 200
    assert response.url.path == "/console/dashboard"
    assert response.headers["content-language"] == ZH
    assert '<html lang="zh-CN">' in response.text
    assert "<h1>总览</h1>" in response.text


def test_the_inventory_page_says_what_to_do_before_a_search(client: TestClient) -> None:
    response = client.get("/console/inventory")
    assert response.status_code == 200
    assert "输入 SKU 编码或条码" in response.text
    assert "还没有查询" in response.text  # the empty state says what to do


def test_the_language_cookie_switches_to_english_and_back(client: TestClient) -> None:
    response = client.get(
        "/console/lang/en", params={"next": "/console/inventory"}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/inventory"
    assert f"{LANG_COOKIE}=en" in response.headers["set-cookie"]

    english = client.get("/console/inventory")  # the client keeps the cookie it was given
    assert "Enter a SKU code or barcode" in english.text
    assert english.headers["content-language"] == EN
    client.cookies.set(LANG_COOKIE, "fr")
    assert client.get("/console/inventory").headers["content-language"] == ZH


def test_the_language_switch_only_returns_into_the_console(client: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/console", "/api/v1/nodes"):
        response = client.get("/console/lang/en", params={"next": target}, follow_redirects=False)
        assert response.headers["location"] == "/console"


def test_a_sku_search_shows_its_stock_at_every_node_it_is_held(
    client: TestClient, demo: Demo
) -> None:
    skew = demo.summary.skew
    response = client.get("/console/inventory", params={"sku": skew.sku})

    assert response.status_code == 200
    html = response.text
    assert 'data-testid="stock-table"' in html
    assert "data-stock-map=" in html
    nodes = _rows(html)
    assert skew.warehouse in nodes
    assert nodes.index(skew.warehouse) == 0  # most to promise first
    for shortage in skew.out_of_stock:
        assert shortage.node in html  # on the map as out of stock, if not in the table
    assert f"/console/inventory/{skew.sku}/{skew.warehouse}" in html


def test_htmx_gets_only_the_result_fragment(client: TestClient, demo: Demo) -> None:
    params = {"sku": demo.summary.skew.sku}
    fragment = client.get("/console/inventory", params=params, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert 'data-testid="stock-table"' in fragment.text
    restore = client.get(
        "/console/inventory",
        params=params,
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restore.text


def test_an_unknown_sku_says_so_instead_of_failing(client: TestClient) -> None:
    response = client.get("/console/inventory", params={"sku": "NO-SUCH-SKU"})
    assert response.status_code == 404
    assert "找不到编码或条码为“NO-SUCH-SKU”的 SKU" in response.text
    assert "stock-table" not in response.text


def test_a_blank_search_shows_the_empty_state(client: TestClient) -> None:
    response = client.get("/console/inventory", params={"sku": "   "})
    assert response.status_code == 200
    assert 'data-testid="empty"' in response.text


@pytest.mark.parametrize("page", ["0", "-1", "two", "1.5", "99999999999999999999"])
def test_a_bad_page_number_gets_a_clear_422(client: TestClient, demo: Demo, page: str) -> None:
    response = client.get("/console/inventory", params={"sku": demo.summary.skew.sku, "page": page})
    assert response.status_code == 422
    assert "页码必须是 1 到 100000 之间的整数" in response.text


def test_a_page_past_the_end_says_how_many_there_are(client: TestClient, demo: Demo) -> None:
    response = client.get("/console/inventory", params={"sku": demo.summary.skew.sku, "page": 9})
    assert response.status_code == 404
    assert "第 9 页不存在：共 1 页" in response.text


def test_the_ledger_drill_down_lists_movements_newest_first(client: TestClient, demo: Demo) -> None:
    skew = demo.summary.skew
    shortage = skew.out_of_stock[0].node
    client.cookies.set(LANG_COOKIE, "en")
    response = client.get(f"/console/inventory/{skew.sku}/{shortage}")

    assert response.status_code == 200
    html = response.text
    assert 'data-testid="ledger-table"' in html
    assert "On hand now: 0" in html
    kinds = re.findall(r"<td>(Receipt|Sale)</td>", html)
    assert sorted(set(kinds)) == ["Receipt", "Sale"]
    assert kinds[-1] == "Receipt"  # the opening receipt is the oldest


def test_the_ledger_pages_with_a_keyset_cursor(client: TestClient, demo: Demo) -> None:
    skew = demo.summary.skew
    url = f"/console/inventory/{skew.sku}/{skew.out_of_stock[0].node}"
    assert client.get(url, params={"before": "abc"}).status_code == 422
    assert "before 参数必须是正整数" in client.get(url, params={"before": "0"}).text
    # Below the oldest id there is nothing: an empty page with a way back to the newest.
    oldest = client.get(url, params={"before": "1"})
    assert oldest.status_code == 200
    assert 'data-testid="ledger-empty"' in oldest.text
    assert 'data-testid="ledger-newest"' in oldest.text


def test_the_ledger_of_an_unknown_node_or_sku_says_which(client: TestClient, demo: Demo) -> None:
    sku = demo.summary.skew.sku
    client.cookies.set(LANG_COOKIE, "en")
    node = client.get(f"/console/inventory/{sku}/NO-SUCH-NODE")
    assert node.status_code == 404
    assert "No node has the code “NO-SUCH-NODE”" in node.text
    unknown_sku = client.get(f"/console/inventory/NOPE/{demo.summary.skew.warehouse}")
    assert unknown_sku.status_code == 404
    assert "NOPE" in unknown_sku.text


def test_the_vendored_scripts_are_served_locally(client: TestClient) -> None:
    html = client.get("/console/inventory").text
    for script in ("vendor/htmx.min.js", "vendor/echarts.min.js", "console.js"):
        assert f"/console/static/{script}" in html
        path = f"/console/static/{script}"
        assert client.get(path).status_code == 200
    assert "cdn" not in html.lower()


def test_console_pages_stay_out_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/console")]
