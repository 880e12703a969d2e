"""Bulk import of SKUs from CSV or JSONL files: read the rows, check each one, upsert the good ones.

Each row is one whole SKU with the fields of `SkuIn` (a row replaces the SKU, like
`PUT /api/v1/skus/{code}`), so an import is a series of idempotent upserts and running the same
file twice changes nothing. A bad row is reported with its number and skipped; it leaves no partial
write because every row is written inside its own savepoint. Problems with the file as a whole
(unknown format, missing or unknown CSV columns, not text) are raised before anything is written.

Reading the file (formats, decoding, CSV and JSONL rows) is `yipan.kernel.tabular`; the columns,
the header rules and the row → `SkuIn` checks are the catalogue's and live here. JSON numbers are
read as `Decimal`, so a price given as a JSON number is never a float.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yipan.catalog import service
from yipan.catalog.domain import barcode_problem, yuan_to_fen
from yipan.catalog.errors import (
    DuplicateSkuInFile,
    InvalidBarcode,
    InvalidImportFile,
    InvalidPrice,
    InvalidSku,
    MalformedRow,
)
from yipan.catalog.schemas import MAX_PRICE_FEN, ImportReport, ImportRowError, SkuIn
from yipan.kernel import tabular
from yipan.kernel.clock import Clock
from yipan.kernel.errors import YipanError
from yipan.kernel.tabular import SourceRow as SourceRow
from yipan.kernel.tabular import resolve_format as resolve_format

REQUIRED_COLUMNS = ("code", "name", "product_code", "category_code")
PRICE_COLUMNS = ("list_price_fen", "list_price")
COLUMNS = (
    "code",
    "barcode",
    "name",
    "product_code",
    "product_name",
    "category_code",
    "category_name",
    "brand",
    "list_price_fen",
    "list_price",
    "currency",
    "status",
    "attributes",
)
ATTR_PREFIX = "attr_"


# -- reading rows ------------------------------------------------------------------------------


def read_rows(
    source: str | bytes | os.PathLike[str], format: str | None = None
) -> Iterator[SourceRow]:
    """The rows of a CSV or JSONL import.

    `source` is a path (any `os.PathLike`, e.g. `Path`; the format then defaults to its
    extension) or the file's content itself, as `str` or `bytes`. File-wide problems raise here,
    before any row is yielded; an unreadable row is yielded with its `problem` set so the rest of
    the file still imports.
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
        fmt = resolve_format(format, filename=path.name)
        content: str | bytes = path.read_bytes()
    else:
        fmt = resolve_format(format)
        content = source
    return tabular.read_rows(
        content,
        fmt,
        columns_of=csv_columns,
        required=[*REQUIRED_COLUMNS, "list_price_fen or list_price"],
    )


def csv_columns(header: list[str]) -> list[str]:
    """The canonical column names of a CSV header; raises if columns are missing or unknown."""
    columns: list[str] = []
    unnamed: list[int] = []
    unknown: list[str] = []
    for position, raw in enumerate(header, start=1):
        name = raw.strip()
        lowered = name.lower()
        if not name:
            unnamed.append(position)
        elif lowered in COLUMNS:
            name = lowered
        elif lowered.startswith(ATTR_PREFIX) and len(name) > len(ATTR_PREFIX):
            name = ATTR_PREFIX + name[len(ATTR_PREFIX) :]
        else:
            unknown.append(name)
        columns.append(name)
    duplicated = sorted({c for c in columns if c and columns.count(c) > 1})
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not any(c in columns for c in PRICE_COLUMNS):
        missing.append("list_price_fen or list_price")
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(
            f"unknown column(s): {', '.join(unknown)} (attributes go in attr_<name> columns)"
        )
    if duplicated:
        problems.append(f"repeated column(s): {', '.join(duplicated)}")
    if unnamed:
        problems.append(f"column(s) without a name at position {', '.join(map(str, unnamed))}")
    if problems:
        raise InvalidImportFile(
            "the CSV header cannot be imported: " + "; ".join(problems),
            missing=missing,
            unknown=unknown,
            duplicated=duplicated,
            unnamed=unnamed,
        )
    return columns


# -- one row to a SkuIn ------------------------------------------------------------------------


def sku_in_from_row(fields: Mapping[str, Any]) -> SkuIn:
    """Check one raw row and turn it into a `SkuIn`; raises a `YipanError` naming the problem.

    Blank values (empty CSV cells, JSON null) mean "not given". The price comes from
    `list_price_fen` (whole fen) or `list_price` (yuan as text); attributes from an `attributes`
    object (or JSON text) and from `attr_<name>` fields.
    """
    data = {k: v for k, v in fields.items() if not _blank(v)}
    attributes = _attributes(data)
    price = _price(data.pop("list_price_fen", None), data.pop("list_price", None))
    if attributes:
        data["attributes"] = attributes
    if price is not None:
        data["list_price_fen"] = price
    try:
        sku_in = SkuIn.model_validate(data)
    except ValidationError as exc:
        raise InvalidSku(
            "; ".join(_plain(err) for err in exc.errors()),
            fields=sorted({".".join(map(str, err["loc"])) for err in exc.errors()}),
        ) from None
    if sku_in.barcode and (problem := barcode_problem(sku_in.barcode)):
        raise InvalidBarcode(problem, barcode=sku_in.barcode)
    return sku_in


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _attributes(data: dict[str, Any]) -> dict[str, Any]:
    given = data.pop("attributes", None)
    if isinstance(given, str):
        try:
            given = json.loads(
                given, parse_float=Decimal, parse_constant=tabular.reject_json_constant
            )
        except (ValueError, RecursionError):
            raise InvalidSku(
                'attributes must be a JSON object, e.g. {"colour": "red"}', field="attributes"
            ) from None
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise InvalidSku('attributes must be a JSON object, e.g. {"colour": "red"}')
    attributes = {str(k): v.strip() if isinstance(v, str) else v for k, v in given.items()}
    for key in [k for k in data if k.startswith(ATTR_PREFIX) and len(k) > len(ATTR_PREFIX)]:
        name, value = key[len(ATTR_PREFIX) :], data.pop(key)
        value = value.strip() if isinstance(value, str) else value
        if name in attributes and attributes[name] != value:
            raise InvalidSku(
                f"attribute {name} is given twice with different values "
                f"({attributes[name]!r} in attributes, {value!r} in {key})",
                field=key,
            )
        attributes[name] = value
    return attributes


def _price(fen: Any, yuan: Any) -> int | None:
    from_fen = None if fen is None else _whole_fen(fen)
    from_yuan = None if yuan is None else _yuan(yuan)
    if from_fen is not None and from_yuan is not None and from_fen != from_yuan:
        raise InvalidPrice(
            f"list_price_fen {from_fen} and list_price {yuan} (= {from_yuan} fen) disagree; "
            "give one of them",
            list_price_fen=from_fen,
            list_price=str(yuan),
        )
    price = from_fen if from_fen is not None else from_yuan
    if price is None:
        raise InvalidPrice("a price is required: list_price_fen (in fen) or list_price (in yuan)")
    if price > MAX_PRICE_FEN:
        raise InvalidPrice(f"price {price} fen is too large (at most {MAX_PRICE_FEN} fen)")
    return price


def _whole_fen(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    raise InvalidPrice(
        f"list_price_fen {value} is not a whole, non-negative number of fen "
        "(for yuan with decimals use list_price)",
        list_price_fen=str(value),
    )


def _yuan(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise InvalidPrice(f"list_price {value!r} is not a price in yuan")
    text = format(value, "f") if isinstance(value, Decimal) else str(value)
    try:
        return yuan_to_fen(text)
    except ValueError as exc:
        raise InvalidPrice(f"list_price: {exc}", list_price=text) from None


def _plain(err: ErrorDetails) -> str:
    where = ".".join(str(p) for p in err["loc"]) or "row"
    kind = err["type"]
    if kind == "missing":
        return f"{where} is required"
    if kind == "extra_forbidden":
        return f"{where} is not a known field"
    if kind == "string_pattern_mismatch":
        return (
            f"{where} {err['input']!r} may hold only letters, digits, '.', '_' and '-' "
            "and must start with a letter or digit"
        )
    return f"{where}: {err['msg']}"


# -- importing ---------------------------------------------------------------------------------


def import_skus(
    session: Session,
    rows: Iterable[Mapping[str, Any] | SourceRow],
    *,
    clock: Clock | None = None,
    seen: dict[str, int] | None = None,
) -> ImportReport:
    """Upsert every good row; report every bad one (row number, SKU code, error code, message).

    Plain mappings are numbered from 1 in order; `SourceRow`s keep their own numbers. A SKU code
    may appear once per file: `seen` (code → first row) lets a caller that splits one file into
    several units of work carry that check across them; it is filled in as rows go by.
    """
    seen = {} if seen is None else seen
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors: list[ImportRowError] = []
    total = 0
    for position, item in enumerate(rows, start=1):
        row = item if isinstance(item, SourceRow) else SourceRow(position, item)
        total += 1
        key = _key(row.fields)
        try:
            outcome = _import_row(session, row, key, seen, clock)
        except YipanError as exc:
            errors.append(
                ImportRowError(row=row.number, key=key, code=exc.code, message=exc.message)
            )
        except IntegrityError as exc:
            # Another writer took the same code or barcode between our check and our insert.
            errors.append(
                ImportRowError(
                    row=row.number,
                    key=key,
                    code="CONFLICT",
                    message=f"the row conflicts with data written at the same time: {exc.orig}",
                )
            )
        else:
            counts[outcome] += 1
    return ImportReport(total=total, errors=errors, **counts)


def _import_row(
    session: Session, row: SourceRow, key: str | None, seen: dict[str, int], clock: Clock | None
) -> str:
    if row.problem is not None:
        raise MalformedRow(row.problem)
    if key is not None:
        first = seen.setdefault(key, row.number)
        if first != row.number:
            raise DuplicateSkuInFile(
                f"SKU {key} already appears in row {first}; each SKU may appear once per file",
                first_row=first,
            )
    sku_in = sku_in_from_row(row.fields)
    # upsert_sku may create the category and product before it finds a barcode clash; the
    # savepoint takes those back with the row.
    with session.begin_nested():
        return service.upsert_sku(session, sku_in, clock=clock)


def _key(fields: Mapping[str, Any]) -> str | None:
    code = fields.get("code")
    if isinstance(code, str) and code.strip():
        return code.strip()
    return None


def merge_reports(*reports: ImportReport) -> ImportReport:
    """One report for a file imported in several units of work."""
    return tabular.merge_reports(ImportReport, reports)
