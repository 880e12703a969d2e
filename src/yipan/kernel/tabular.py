"""Reading bulk-import files (CSV or JSON Lines) into numbered rows, for any context's importer.

What a row means — its columns, the header rules, how it becomes a schema — belongs to the
context; this module only knows files. It is written on the standard `csv` and `json` modules
because the rules that matter here are ours, not a library's: a bad row must come back as a row
with a problem (so the rest of the file still imports) instead of stopping the reader, and a
file-wide problem must raise before the first row is read, so it fails before any write.
JSON numbers are read as `Decimal`, so a price given as a JSON number is never a float.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import Any, Literal, TypeVar, get_origin

from pydantic import BaseModel

from yipan.kernel.errors import InvalidImportFile, UnsupportedImportFormat

TabularFormat = Literal["csv", "jsonl"]

HeaderCheck = Callable[[list[str]], list[str]]
"""A context's header rules: the raw header cells in, the column names to key rows by out;
raises `InvalidImportFile` when the header cannot be imported."""

Report = TypeVar("Report", bound=BaseModel)

_FORMATS: dict[str, TabularFormat] = {
    "csv": "csv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "jsonlines": "jsonl",
}
_EXTENSIONS: dict[str, TabularFormat] = {f".{name}": fmt for name, fmt in _FORMATS.items()}
_MEDIA_TYPES: dict[str, TabularFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
}


@dataclass(frozen=True)
class SourceRow:
    """One row as read from a file: its number for reports, its fields, or why it is unreadable.

    `number` is the 1-based line for JSONL and the 1-based data row (after the header) for CSV.
    A row with a `problem` may still carry the `fields` it had, so a report can name its key.
    """

    number: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None


# -- formats and decoding ----------------------------------------------------------------------


def resolve_format(
    format: str | None = None,
    *,
    filename: str | None = None,
    content_type: str | None = None,
) -> TabularFormat:
    """The import format: as given, else from the file extension, else from the media type."""
    if format:
        found = _FORMATS.get(format.strip().lower())
        if found is None:
            raise UnsupportedImportFormat(
                f"unknown import format {format!r}; use csv or jsonl", format=format
            )
        return found
    if filename:
        suffix = PurePath(filename).suffix.lower()
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
        hint = ' (save the sheet as "CSV UTF-8" first)' if suffix in (".xlsx", ".xls") else ""
        raise UnsupportedImportFormat(
            f"cannot tell the format of {filename} from its extension{hint}; "
            "name it .csv or .jsonl, or give the format (csv or jsonl)",
            filename=filename,
        )
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _MEDIA_TYPES:
        return _MEDIA_TYPES[media_type]
    raise UnsupportedImportFormat(
        "give the import format (csv or jsonl) or send Content-Type text/csv or "
        "application/x-ndjson",
        content_type=content_type,
    )


def decode(data: bytes) -> str:
    """File bytes as text: UTF-8 with or without a BOM, else GB18030 (what Excel on Chinese
    Windows writes when a sheet is saved as plain "CSV")."""
    if data.startswith(b"PK\x03\x04"):
        raise InvalidImportFile(
            'this is a zip file (an Excel workbook?); save the sheet as "CSV UTF-8" first'
        )
    if b"\x00" in data:
        raise InvalidImportFile("this is not a text file (it holds NUL bytes); send UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise InvalidImportFile(
            f"the file is neither UTF-8 nor GB18030 text (bad byte at offset {exc.start})"
        ) from None


# -- reading rows ------------------------------------------------------------------------------


def read_rows(
    source: str | bytes,
    format: TabularFormat,
    *,
    columns_of: HeaderCheck,
    required: Sequence[str] = (),
) -> Iterator[SourceRow]:
    """The rows of a CSV or JSONL file given as bytes (decoded here) or text.

    File-wide problems raise here, before any row is yielded: call this before opening a unit of
    work. `columns_of` checks a CSV header; `required` names the columns a CSV must have, for the
    error about an empty file. An unreadable row is yielded with its `problem` set.
    """
    text = (decode(source) if isinstance(source, bytes) else source).removeprefix("\ufeff")
    if format == "csv":
        return csv_rows(text, columns_of=columns_of, required=required)
    return jsonl_rows(text)


def csv_rows(
    text: str, *, columns_of: HeaderCheck, required: Sequence[str] = ()
) -> Iterator[SourceRow]:
    """A header row (blank lines before it skipped) checked by `columns_of`, then its records.

    A record with fewer cells than the header, or with text beyond its last column, is yielded
    with a problem: a short row is usually a line cut off, and importing it would blank the
    missing fields. Blank cells past the last column (trailing commas) are ignored.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header: list[str] = []
        while not any(cell.strip() for cell in header):
            header = next(reader)
    except StopIteration:
        raise InvalidImportFile(
            "the CSV file is empty; it needs a header row naming its columns",
            required=list(required),
        ) from None
    except csv.Error as exc:
        raise InvalidImportFile(f"the CSV header row cannot be read: {exc}") from None
    # Checked now, not on first iteration, so a bad header fails before any unit of work opens.
    return _csv_records(reader, columns_of(header))


def _csv_records(reader: Iterator[list[str]], columns: list[str]) -> Iterator[SourceRow]:
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            number += 1
            yield SourceRow(number, problem=f"the row cannot be read as CSV: {exc}")
            continue
        number += 1
        if not any(cell.strip() for cell in cells):
            continue
        fields = dict(zip(columns, cells, strict=False))
        extra = cells[len(columns) :]
        if len(cells) < len(columns) or any(cell.strip() for cell in extra):
            yield SourceRow(
                number,
                fields,
                problem=f"the row has {len(cells)} cells but the header has {len(columns)}",
            )
            continue
        yield SourceRow(number, fields)


def reject_json_constant(name: str) -> Any:
    """For `json.loads(parse_constant=...)`: NaN and Infinity are not JSON and not numbers."""
    raise ValueError(f"{name} is not a number JSON allows")


def jsonl_rows(text: str) -> Iterator[SourceRow]:
    """One row per non-blank line; a line that is not a JSON object is yielded with a problem."""
    # Split on "\n" only: str.splitlines() would also split inside strings holding U+2028.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=Decimal, parse_constant=reject_json_constant)
        except json.JSONDecodeError as exc:
            yield SourceRow(number, problem=f"not valid JSON: {exc.msg} (column {exc.colno})")
            continue
        except (ValueError, RecursionError) as exc:
            yield SourceRow(number, problem=f"not valid JSON: {exc}")
            continue
        if not isinstance(value, dict):
            yield SourceRow(number, problem=f"a JSON {type(value).__name__}, not an object")
            continue
        yield SourceRow(number, value)


# -- reports -----------------------------------------------------------------------------------


def merge_reports(report_type: type[Report], reports: Iterable[Report]) -> Report:
    """One report for a file imported in several units of work: counts added, error lists joined.

    Every field of `report_type` must be an `int` count or a `list`; an empty `reports` gives a
    report of zeros.
    """
    parts = list(reports)
    merged: dict[str, Any] = {}
    for name, info in report_type.model_fields.items():
        if info.annotation is int:
            merged[name] = sum(getattr(part, name) for part in parts)
        elif get_origin(info.annotation) is list:
            merged[name] = [item for part in parts for item in getattr(part, name)]
        else:
            raise TypeError(f"{report_type.__name__}.{name} is neither a count nor a list")
    return report_type(**merged)
