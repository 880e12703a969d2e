from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.access import sign_in
from yipan.app import create_app

CSV = (
    "code,barcode,name,product_code,category_code,list_price,attr_colour\n"
    "TS-S,6901234567892,T-shirt S,TS,apparel,99.00,white\n"
    "TS-M,6901234567891,T-shirt M,TS,apparel,99.00,white\n"
    "TS-L,,T-shirt L,TS,apparel,109.5,white\n"
)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(engine, background=False)) as client:
        yield sign_in(client)


def sku_body(code: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "name": f"Item {code}",
        "product_code": "P-1",
        "product_name": "Cotton tee",
        "category_code": "apparel",
        "list_price_fen": 19900,
    }
    body.update(overrides)
    return body


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["message"]
    assert isinstance(body["details"], dict)
    return body


def skus(client: TestClient) -> list[str]:
    return [s["code"] for s in client.get("/api/v1/skus").json()["items"]]


def test_put_get_and_list_skus(client: TestClient) -> None:
    created = client.put("/api/v1/skus/TEE-1", json=sku_body("TEE-1", barcode="6901234567892"))
    assert created.status_code == 200, created.text
    assert created.json()["product_name"] == "Cotton tee"
    client.put(
        "/api/v1/skus/CAP-1", json=sku_body("CAP-1", product_code="P-2", category_code="hats")
    )
    assert client.get("/api/v1/skus/6901234567892").json()["code"] == "TEE-1"
    page = client.get("/api/v1/skus", params={"category": "hats"}).json()
    assert (page["total"], [s["code"] for s in page["items"]]) == (1, ["CAP-1"])
    assert client.get("/api/v1/skus", params={"q": "TEE"}).json()["total"] == 1
    categories = {c["code"]: c["sku_count"] for c in client.get("/api/v1/categories").json()}
    assert categories == {"apparel": 1, "hats": 1}


def test_put_twice_is_harmless(client: TestClient) -> None:
    first = client.put("/api/v1/skus/TEE-1", json=sku_body("TEE-1"))
    second = client.put("/api/v1/skus/TEE-1", json=sku_body("TEE-1"))
    assert first.json() == second.json()
    assert skus(client) == ["TEE-1"]


def test_sku_errors_have_the_common_shape(client: TestClient) -> None:
    assert_error(client.get("/api/v1/skus/NOPE"), 404, "UNKNOWN_SKU")
    mismatch = client.put("/api/v1/skus/A", json=sku_body("B"))
    assert_error(mismatch, 422, "INVALID_SKU")
    invalid = client.put("/api/v1/skus/A", json=sku_body("A", list_price_fen=-1))
    body = assert_error(invalid, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"][0]["field"] == "body.list_price_fen"
    client.put("/api/v1/skus/A", json=sku_body("A", barcode="6901234567892"))
    clash = client.put("/api/v1/skus/B", json=sku_body("B", barcode="6901234567892"))
    assert_error(clash, 409, "DUPLICATE_BARCODE")
    assert skus(client) == ["A"]


def test_import_a_csv_file(client: TestClient) -> None:
    response = client.post(
        "/api/v1/catalog/import?format=csv", content=CSV, headers={"content-type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["total"], report["created"], report["updated"], report["unchanged"]) == (
        3,
        2,
        0,
        0,
    )
    assert report["errors"] == [
        {
            "row": 2,
            "key": "TS-M",
            "code": "INVALID_BARCODE",
            "message": "barcode 6901234567891 has a wrong GTIN check digit",
        }
    ]
    assert client.get("/api/v1/skus/TS-L").json()["list_price_fen"] == 10950
    replay = client.post(
        "/api/v1/catalog/import", content=CSV.encode(), headers={"content-type": "text/csv"}
    ).json()
    assert (replay["created"], replay["unchanged"], len(replay["errors"])) == (0, 2, 1)


@pytest.mark.parametrize("content_type", ["application/x-ndjson", "application/json"])
def test_import_jsonl_by_content_type(client: TestClient, content_type: str) -> None:
    lines = [json.dumps(sku_body("J-1")), "{oops", json.dumps(sku_body("J-3"))]
    response = client.post(
        "/api/v1/catalog/import" + ("" if content_type.endswith("ndjson") else "?format=jsonl"),
        content="\n".join(lines),
        headers={"content-type": content_type},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 2
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(2, "MALFORMED_ROW")]
    assert skus(client) == ["J-1", "J-3"]


def test_import_refuses_a_wrong_format(client: TestClient) -> None:
    wrong = client.post(
        "/api/v1/catalog/import?format=xml", content=CSV, headers={"content-type": "text/csv"}
    )
    body = assert_error(wrong, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"][0]["field"] == "query.format"
    unknown = client.post(
        "/api/v1/catalog/import", content=CSV, headers={"content-type": "text/plain"}
    )
    assert_error(unknown, 422, "UNSUPPORTED_IMPORT_FORMAT")
    assert skus(client) == []


def test_import_refuses_a_csv_without_required_columns(client: TestClient) -> None:
    response = client.post(
        "/api/v1/catalog/import?format=csv",
        content="code,name,list_price\nA-1,Coat,10\n",
        headers={"content-type": "text/csv"},
    )
    body = assert_error(response, 422, "INVALID_IMPORT_FILE")
    assert body["details"]["missing"] == ["product_code", "category_code"]
    assert skus(client) == []
    assert client.get("/api/v1/categories").json() == []


def test_import_route_is_in_the_openapi_spec(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/catalog/import"]["post"]
    assert set(operation["requestBody"]["content"]) == {"text/csv", "application/x-ndjson"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ImportReport"
    )
