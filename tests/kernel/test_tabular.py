from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import BaseModel

from yipan.kernel.errors import InvalidImportFile, UnsupportedImportFormat
from yipan.kernel.tabular import SourceRow, decode, merge_reports, read_rows, resolve_format


def lowered(header: list[str]) -> list[str]:
    return [cell.strip().lower() for cell in header]


def csv_of(text: str | bytes) -> list[SourceRow]:
    return list(read_rows(text, "csv", columns_of=lowered))


def jsonl_of(text: str | bytes) -> list[SourceRow]:
    return list(read_rows(text, "jsonl", columns_of=lowered))


# -- formats and decoding ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type", "expected"),
    [
        (None, "skus.csv", None, "csv"),
        (None, "SKUS.JSONL", None, "jsonl"),
        (None, "skus.ndjson", None, "jsonl"),
        (None, "skus.jsonlines", None, "jsonl"),
        ("csv", "skus.txt", None, "csv"),
        (" NDJSON ", None, None, "jsonl"),
        ("jsonl", None, "text/csv", "jsonl"),
        (None, "skus.csv", "application/x-ndjson", "csv"),
        (None, None, "text/csv; charset=utf-8", "csv"),
        (None, None, "application/x-ndjson", "jsonl"),
    ],
)
def test_the_format_is_as_given_else_from_the_extension_else_from_the_media_type(
    fmt: str | None, filename: str | None, content_type: str | None, expected: str
) -> None:
    assert resolve_format(fmt, filename=filename, content_type=content_type) == expected


@pytest.mark.parametrize(
    ("fmt", "filename", "content_type"),
    [
        ("xml", None, None),
        ("xml", "skus.csv", None),
        (None, "skus.xlsx", None),
        (None, "skus", None),
        (None, "skus.txt", "text/csv"),
        (None, None, "text/plain"),
        (None, None, None),
    ],
)
def test_a_format_that_cannot_be_told_is_refused(
    fmt: str | None, filename: str | None, content_type: str | None
) -> None:
    with pytest.raises(UnsupportedImportFormat):
        resolve_format(fmt, filename=filename, content_type=content_type)


def test_an_excel_workbook_is_refused_with_a_hint_to_save_it_as_csv() -> None:
    with pytest.raises(UnsupportedImportFormat, match="CSV UTF-8"):
        resolve_format(filename="skus.xlsx")
    with pytest.raises(InvalidImportFile, match="zip"):
        decode(b"PK\x03\x04rest of the workbook")


text_without_nul = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=50)


@given(text_without_nul)
def test_utf8_text_is_read_back_with_or_without_a_bom(text: str) -> None:
    assume(not text.startswith(("\ufeff", "PK\x03\x04")))
    assert decode(text.encode("utf-8")) == text
    assert decode(text.encode("utf-8-sig")) == text


def test_gb18030_text_from_excel_is_read() -> None:
    rows = csv_of("code,name\nA-1,纯棉T恤\n".encode("gb18030"))
    assert [row.fields for row in rows] == [{"code": "A-1", "name": "纯棉T恤"}]


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"code\x00,name\n", "NUL"), (b"code,name\n\xff\xfe\xff", "neither UTF-8 nor GB18030")],
)
def test_bytes_that_are_not_text_are_a_file_error(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImportFile, match=message):
        csv_of(data)


def test_a_bom_is_dropped_from_text_as_well_as_from_bytes() -> None:
    assert [row.fields for row in csv_of("\ufeffCode\nA-1\n")] == [{"code": "A-1"}]


# -- CSV ---------------------------------------------------------------------------------------


def test_the_header_is_checked_when_the_file_is_opened_not_when_rows_are_read() -> None:
    def refuse(header: list[str]) -> list[str]:
        raise InvalidImportFile("bad header", header=header)

    with pytest.raises(InvalidImportFile) as caught:
        read_rows("\n , \ncode,name\nA-1,Coat\n", "csv", columns_of=refuse)
    assert caught.value.details == {"header": ["code", "name"]}


def test_rows_are_keyed_by_the_columns_the_header_check_returns() -> None:
    rows = csv_of(" Code ,NAME\nA-1,Coat\n")
    assert rows == [SourceRow(1, {"code": "A-1", "name": "Coat"})]


def test_an_empty_csv_is_a_file_error_naming_the_columns_it_needs() -> None:
    for empty in ("", "\n\n", " , \n"):
        with pytest.raises(InvalidImportFile, match="empty") as caught:
            read_rows(empty, "csv", columns_of=lowered, required=["record_id"])
        assert caught.value.details == {"required": ["record_id"]}


def test_an_unreadable_header_is_a_file_error() -> None:
    with pytest.raises(InvalidImportFile, match="header row cannot be read"):
        csv_of("x" * (csv.field_size_limit() + 1) + "\nA\n")


def test_short_rows_and_rows_with_text_past_the_header_are_reported_with_their_fields() -> None:
    rows = csv_of("code,name,size\nA-1,Coat,M\nA-2,Coat\nA-3,Coat,M,surplus\nA-4,Coat,M, ,\n")
    assert [(row.number, row.fields.get("code"), row.problem is None) for row in rows] == [
        (1, "A-1", True),
        (2, "A-2", False),
        (3, "A-3", False),
        (4, "A-4", True),
    ]
    assert rows[1].problem == "the row has 2 cells but the header has 3"
    assert rows[3].fields == {"code": "A-4", "name": "Coat", "size": "M"}


def test_blank_rows_are_skipped_but_still_counted() -> None:
    rows = csv_of("code\n\n , \nA-3\n")
    assert rows == [SourceRow(3, {"code": "A-3"})]


def test_a_row_the_csv_reader_rejects_is_reported_and_the_next_row_is_still_read() -> None:
    too_long = "x" * (csv.field_size_limit() + 1)
    rows = csv_of(f"code\n{too_long}\nA-2\n")
    assert [(row.number, row.problem is not None) for row in rows] == [(1, True), (2, False)]
    assert rows[0].problem is not None
    assert "cannot be read as CSV" in rows[0].problem
    assert rows[1].fields == {"code": "A-2"}


cell = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)


@given(st.lists(st.tuples(cell, cell, cell), max_size=5))
def test_any_cell_text_survives_the_csv_round_trip(cells: list[tuple[str, str, str]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["a", "b", "c", "d"])
    for a, b, c in cells:
        writer.writerow([a, b, c, "1"])
    read = [(row.fields["a"], row.fields["b"], row.fields["c"]) for row in csv_of(out.getvalue())]
    assert read == cells


# -- JSON Lines --------------------------------------------------------------------------------


def test_each_jsonl_line_is_a_row_numbered_by_its_line() -> None:
    rows = jsonl_of('{"code": "J-1", "price": 19.9}\n\n  \n{"code": "J-4"}')
    assert rows == [
        SourceRow(1, {"code": "J-1", "price": Decimal("19.9")}),
        SourceRow(4, {"code": "J-4"}),
    ]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('{"code": "J-1", "name": ', "not valid JSON"),
        ('{"price": NaN}', "not valid JSON: NaN is not a number JSON allows"),
        ('{"price": -Infinity}', "not valid JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('"J-1"', "a JSON str, not an object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
)
def test_a_jsonl_line_that_is_not_an_object_is_reported_and_the_next_is_read(
    line: str, problem: str
) -> None:
    [bad, good] = jsonl_of(f'{line}\n{{"code": "J-2"}}\n')
    assert (bad.number, bad.fields) == (1, {})
    assert bad.problem is not None
    assert bad.problem.startswith(problem)
    assert good == SourceRow(2, {"code": "J-2"})


def test_a_line_separator_inside_a_json_string_does_not_split_the_line() -> None:
    assert jsonl_of('{"name": "a\u2028b"}\n') == [SourceRow(1, {"name": "a\u2028b"})]


def test_an_empty_jsonl_file_has_no_rows() -> None:
    assert jsonl_of(b"") == []


# -- reports -----------------------------------------------------------------------------------


class Counts(BaseModel):
    total: int
    created: int = 0
    errors: list[str] = []


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.lists(st.text(max_size=3)))))
def test_merged_reports_add_up_the_counts_and_keep_every_error_in_order(
    parts: list[tuple[int, int, list[str]]],
) -> None:
    reports = [Counts(total=t, created=c, errors=e) for t, c, e in parts]
    merged = merge_reports(Counts, reports)
    assert merged.total == sum(t for t, _, _ in parts)
    assert merged.created == sum(c for _, c, _ in parts)
    assert merged.errors == [error for _, _, errors in parts for error in errors]


def test_a_report_with_a_field_that_is_neither_a_count_nor_a_list_cannot_be_merged() -> None:
    class Named(BaseModel):
        total: int
        name: str

    with pytest.raises(TypeError, match="name"):
        merge_reports(Named, [Named(total=1, name="a")])
