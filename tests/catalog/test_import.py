from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests import factories
from yipan.catalog import service
from yipan.catalog.errors import InvalidImportFile, UnsupportedImportFormat
from yipan.catalog.importing import (
    SourceRow,
    import_skus,
    merge_reports,
    read_rows,
)
from yipan.catalog.schemas import ImportReport, SkuOut
from yipan.kernel.clock import FakeClock
from yipan.kernel.db import unit_of_work

CSV_HEADER = "code,barcode,name,product_code,category_code,list_price,attr_colour,attr_size\n"


def row(code: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": code,
        "name": f"Item {code}",
        "product_code": "P-1",
        "category_code": "apparel",
        "list_price_fen": 19900,
    }
    data.update(overrides)
    return data


def run(engine: Engine, rows: Any, **kwargs: Any) -> ImportReport:
    with unit_of_work(engine) as session:
        return import_skus(session, rows, **kwargs)


def get(engine: Engine, code: str) -> SkuOut:
    with unit_of_work(engine, readonly=True) as session:
        return service.get_sku(session, code)


def codes(engine: Engine) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        return [s.code for s in service.list_skus(session, limit=500).items]


def categories(engine: Engine) -> list[str]:
    with unit_of_work(engine, readonly=True) as session:
        return [c.code for c in service.list_categories(session)]


def errors_of(report: ImportReport) -> list[tuple[int, str | None, str]]:
    return [(e.row, e.key, e.code) for e in report.errors]


# -- the service, on SQLite and PostgreSQL -----------------------------------------------------


def test_good_rows_are_kept_and_bad_rows_reported(engine: Engine) -> None:
    rows = [
        row("A-1"),
        row("A-2", name=""),
        row("A-3", list_price_fen=None, list_price="12.345"),
        row("bad code!"),
        row("A-5", list_price="59.90", list_price_fen=None, category_code="shoes"),
    ]
    report = run(engine, rows)
    assert (report.total, report.created, report.updated, report.unchanged) == (5, 2, 0, 0)
    assert errors_of(report) == [
        (2, "A-2", "INVALID_SKU"),
        (3, "A-3", "INVALID_PRICE"),
        (4, "bad code!", "INVALID_SKU"),
    ]
    assert report.errors[0].message == "name is required"
    assert "more than two decimal places" in report.errors[1].message
    assert codes(engine) == ["A-1", "A-5"]
    assert get(engine, "A-5").list_price_fen == 5990


def test_a_replay_changes_nothing(engine: Engine) -> None:
    rows = [row("A-1", barcode="6901234567892"), row("A-2", attributes={"colour": "red"})]
    clock = FakeClock()
    assert run(engine, rows, clock=clock).created == 2
    clock.advance(hours=1)
    replay = run(engine, rows, clock=clock)
    assert (replay.total, replay.created, replay.updated, replay.unchanged) == (2, 0, 0, 2)
    assert replay.errors == []


def test_changed_rows_are_updated_and_the_rest_unchanged(engine: Engine) -> None:
    run(engine, [row("A-1"), row("A-2"), row("A-3")])
    report = run(
        engine,
        [row("A-1"), row("A-2", list_price_fen=25900), row("A-3", status="inactive")],
    )
    assert (report.created, report.updated, report.unchanged) == (0, 2, 1)
    assert get(engine, "A-2").list_price_fen == 25900
    assert get(engine, "A-3").status == "inactive"


def test_a_wrong_check_digit_is_refused(engine: Engine) -> None:
    report = run(engine, [row("A-1", barcode="6901234567891"), row("A-2", barcode="IN-42")])
    assert errors_of(report) == [(1, "A-1", "INVALID_BARCODE")]
    assert codes(engine) == ["A-2"]


def test_a_barcode_taken_by_an_earlier_row_is_refused_without_a_trace(engine: Engine) -> None:
    rows = [
        row("A-1", barcode="6901234567892"),
        # New product and category: upsert_sku creates both before it sees the clash.
        row("A-2", barcode="6901234567892", product_code="P-NEW", category_code="only-here"),
        row("A-3", barcode="4006381333931"),
    ]
    report = run(engine, rows)
    assert errors_of(report) == [(2, "A-2", "DUPLICATE_BARCODE")]
    assert report.created == 2
    assert codes(engine) == ["A-1", "A-3"]
    assert "only-here" not in categories(engine)


def test_a_barcode_held_by_an_existing_sku_is_refused(engine: Engine) -> None:
    factories.sku(engine, "OLD-1", barcode="6901234567892")
    report = run(engine, [row("A-1", barcode="6901234567892")])
    assert errors_of(report) == [(1, "A-1", "DUPLICATE_BARCODE")]
    assert "OLD-1" in report.errors[0].message


def test_a_sku_may_appear_once_per_file(engine: Engine) -> None:
    report = run(engine, [row("A-1"), row("A-1", list_price_fen=1)])
    assert errors_of(report) == [(2, "A-1", "DUPLICATE_SKU_IN_FILE")]
    assert get(engine, "A-1").list_price_fen == 19900


def test_the_once_per_file_rule_spans_units_of_work(engine: Engine) -> None:
    seen: dict[str, int] = {}
    first = run(engine, [SourceRow(1, row("A-1")), SourceRow(2, row("A-2"))], seen=seen)
    second = run(engine, [SourceRow(3, row("A-1", list_price_fen=1))], seen=seen)
    report = merge_reports(first, second)
    assert (report.total, report.created) == (3, 2)
    assert errors_of(report) == [(3, "A-1", "DUPLICATE_SKU_IN_FILE")]
    assert "row 1" in report.errors[0].message


def test_csv_with_a_bom_and_attr_columns(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "skus.csv"
    content = (
        CSV_HEADER
        + "TS-S,6901234567892,T-shirt S,TS,apparel,99,white,S\r\n"
        + 'TS-M,,T-shirt M,TS,apparel,"1,099.50",white,\r\n'
    )
    path.write_bytes(b"\xef\xbb\xbf" + content.encode())
    report = run(engine, read_rows(path))
    assert (report.created, report.errors) == (2, [])
    small, medium = get(engine, "6901234567892"), get(engine, "TS-M")
    assert small.code == "TS-S"
    assert small.attributes == {"colour": "white", "size": "S"}
    assert small.list_price_fen == 9900
    assert medium.barcode is None  # empty cells are "not given"
    assert medium.attributes == {"colour": "white"}
    assert medium.list_price_fen == 109950


def test_csv_attributes_as_a_json_column(engine: Engine) -> None:
    text = (
        "code,name,product_code,category_code,list_price_fen,attributes,attr_fit\n"
        'A-1,Coat,P,outer,100,"{""colour"": ""navy""}",slim\n'
        'A-2,Coat,P,outer,100,"{""fit"": ""loose""}",slim\n'
        "A-3,Coat,P,outer,100,not json,\n"
    )
    report = run(engine, read_rows(text, "csv"))
    assert get(engine, "A-1").attributes == {"colour": "navy", "fit": "slim"}
    assert errors_of(report) == [(2, "A-2", "INVALID_SKU"), (3, "A-3", "INVALID_SKU")]
    assert "twice" in report.errors[0].message


def test_malformed_jsonl_lines_are_reported_and_the_rest_kept(engine: Engine) -> None:
    lines = [
        json.dumps(row("J-1", attributes={"colour": "red"})),
        '{"code": "J-2", "name": ',
        "",
        "[1, 2]",
        '{"code": "J-5", "name": "Cap", "product_code": "P", "category_code": "hats", '
        '"list_price": 19.9}',
        '{"code": "J-6", "list_price": NaN}',
    ]
    report = run(engine, read_rows("\n".join(lines) + "\n", "jsonl"))
    assert errors_of(report) == [
        (2, None, "MALFORMED_ROW"),
        (4, None, "MALFORMED_ROW"),
        (6, None, "MALFORMED_ROW"),
    ]
    assert report.created == 2
    assert get(engine, "J-1").attributes == {"colour": "red"}
    assert get(engine, "J-5").list_price_fen == 1990  # a JSON number, read exactly


def test_an_unreadable_csv_row_is_reported_and_the_rest_kept(engine: Engine) -> None:
    text = (
        "code,name,product_code,category_code,list_price_fen\n"
        "A-1,Coat,P,outer,100\n"
        "A-2,Coat,P\n"
        "A-3,Coat,P,outer,100,surplus\n"
        "A-4,Coat,P,outer,100,\n"
    )
    report = run(engine, read_rows(text, "csv"))
    assert errors_of(report) == [(2, "A-2", "MALFORMED_ROW"), (3, "A-3", "MALFORMED_ROW")]
    assert codes(engine) == ["A-1", "A-4"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"list_price_fen": "19.90"}, "whole"),
        ({"list_price_fen": 19.5}, "whole"),
        ({"list_price_fen": -1}, "whole"),
        ({"list_price_fen": True}, "whole"),
        ({"list_price_fen": None}, "price is required"),
        ({"list_price_fen": 100, "list_price": "2"}, "disagree"),
        ({"list_price_fen": None, "list_price": "-2"}, "negative"),
        ({"list_price_fen": 2**31}, "too large"),
    ],
)
def test_bad_prices(engine: Engine, fields: dict[str, Any], message: str) -> None:
    report = run(engine, [row("A-1", **fields)])
    assert errors_of(report) == [(1, "A-1", "INVALID_PRICE")]
    assert message in report.errors[0].message
    assert codes(engine) == []


def test_the_same_price_in_fen_and_yuan_is_fine(engine: Engine) -> None:
    report = run(engine, [row("A-1", list_price_fen="19900", list_price="¥199")])
    assert report.created == 1


def test_unknown_fields_and_columns(engine: Engine) -> None:
    report = run(engine, [row("A-1", colour="red")])
    assert errors_of(report) == [(1, "A-1", "INVALID_SKU")]
    assert report.errors[0].message == "colour is not a known field"
    with pytest.raises(InvalidImportFile, match="unknown column"):
        read_rows("code,name,product_code,category_code,list_price,colour\n", "csv")


def test_a_csv_without_required_columns_fails_before_any_write(engine: Engine) -> None:
    # read_rows checks the header when called, before the caller opens a unit of work.
    with pytest.raises(InvalidImportFile) as caught:
        read_rows("code,name,list_price\nA-1,Coat,10\n", "csv")
    assert caught.value.details["missing"] == ["product_code", "category_code"]
    assert "product_code" in caught.value.message
    assert codes(engine) == []


# -- reading files, no database ----------------------------------------------------------------


def test_read_rows_takes_the_format_from_the_path(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"code": "A-1"}\n', encoding="utf-8")
    (tmp_path / "a.xlsx").write_bytes(b"PK\x03\x04")
    assert [r.fields for r in read_rows(tmp_path / "a.jsonl")] == [{"code": "A-1"}]
    with pytest.raises(UnsupportedImportFormat, match="CSV UTF-8"):
        read_rows(tmp_path / "a.xlsx")
    with pytest.raises(InvalidImportFile, match="zip"):
        read_rows(tmp_path / "a.xlsx", "csv")


def test_an_empty_csv_names_the_columns_a_sku_file_needs() -> None:
    with pytest.raises(InvalidImportFile, match="empty") as caught:
        read_rows(b"\n", "csv")
    assert caught.value.details["required"] == [
        "code",
        "name",
        "product_code",
        "category_code",
        "list_price_fen or list_price",
    ]


def test_header_names_are_forgiving_about_case_and_spaces() -> None:
    [only] = read_rows(
        " Code ,NAME,product_code,category_code,List_Price,ATTR_Colour\nA-1,Coat,P,outer,10,red\n",
        "csv",
    )
    assert only.fields == {
        "code": "A-1",
        "name": "Coat",
        "product_code": "P",
        "category_code": "outer",
        "list_price": "10",
        "attr_Colour": "red",
    }
