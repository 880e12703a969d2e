from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests import support
from yipan.catalog import importing, service
from yipan.catalog.schemas import ImportReport
from yipan.cli.main import app
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work

HEADER = "code,barcode,name,product_code,category_code,list_price,attr_colour,attr_size\n"
GOOD = [
    "TS-S,6901234567892,T-shirt S,TS,apparel,99,white,S\n",
    "TS-M,,T-shirt M,TS,apparel,99,white,M\n",
    "TS-L,,T-shirt L,TS,apparel,109.50,white,L\n",
    "CAP,,Cap,CAP,hats,59.9,navy,\n",
    "SOCK,,Socks,SOCK,apparel,19,,\n",
]

runner = CliRunner()


@pytest.fixture
def db_url(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh migrated SQLite file that `get_settings()` points the CLI at."""
    url = support.fresh_sqlite(sqlite_template, tmp_path / "cli.db")
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def write(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def summary(output: str) -> tuple[int, ...]:
    """rows, created, updated, unchanged, failed: the first line of digits after the title."""
    table = output.split("Import summary", 1)[1]
    found = re.search(r"(\d+)\W+(\d+)\W+(\d+)\W+(\d+)\W+(\d+)", table)
    assert found, output
    return tuple(int(n) for n in found.groups())


def stored(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with unit_of_work(engine, readonly=True) as session:
            return {s.code: s.list_price_fen for s in service.list_skus(session).items}
    finally:
        engine.dispose()


def test_import_a_csv_file_then_run_it_again(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "skus.csv", HEADER, *GOOD)
    first = runner.invoke(app, ["import", "skus", str(path), "--chunk-size", "2"])
    assert first.exit_code == 0, first.output
    assert summary(first.output) == (5, 5, 0, 0, 0)
    assert stored(db_url) == {
        "CAP": 5990,
        "SOCK": 1900,
        "TS-L": 10950,
        "TS-M": 9900,
        "TS-S": 9900,
    }
    again = runner.invoke(app, ["import", "skus", str(path)])
    assert again.exit_code == 0, again.output
    assert summary(again.output) == (5, 0, 0, 5, 0)


def test_rejected_rows_are_listed_and_exit_with_1(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "skus.csv",
        HEADER,
        GOOD[0],
        "BAD-1,6901234567891,Bad barcode,TS,apparel,99,,\n",
        GOOD[1],
        # The same SKU again in a later chunk: the once-per-file rule spans chunks.
        "TS-S,,T-shirt S again,TS,apparel,1,,\n",
    )
    result = runner.invoke(app, ["import", "skus", str(path), "--chunk-size", "2"])
    assert result.exit_code == 1, result.output
    assert "INVALID_BARCODE" in result.output
    assert "DUPLICATE_SKU_IN_FILE" in result.output
    assert "BAD-1" in result.output
    assert summary(result.output) == (4, 2, 0, 0, 2)
    assert stored(db_url) == {"TS-M": 9900, "TS-S": 9900}


def test_jsonl_with_the_format_given(db_url: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "skus.txt",
        '{"code": "J-1", "name": "Jacket", "product_code": "J", "category_code": "outer", '
        '"list_price": "399.00", "attributes": {"colour": "navy"}}\n',
        "{not json\n",
    )
    result = runner.invoke(app, ["import", "skus", str(path), "--format", "jsonl"])
    assert result.exit_code == 1, result.output
    assert "MALFORMED_ROW" in result.output
    assert stored(db_url) == {"J-1": 39900}


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("skus.xlsx", "whatever", "UNSUPPORTED_IMPORT_FORMAT"),
        ("skus.csv", "code,name,list_price\nA,B,1\n", "INVALID_IMPORT_FILE"),
    ],
)
def test_file_problems_exit_with_2_and_write_nothing(
    db_url: str, tmp_path: Path, name: str, content: str, code: str
) -> None:
    result = runner.invoke(app, ["import", "skus", str(write(tmp_path, name, content))])
    assert result.exit_code == 2, result.output
    assert code in result.output
    assert stored(db_url) == {}


def test_a_missing_file_is_a_usage_error(db_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "skus", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2


def test_a_crash_loses_only_the_chunk_in_flight(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "skus.csv", HEADER, *GOOD)
    real = importing.import_skus
    calls = 0

    def crash_on_second_chunk(*args: Any, **kwargs: Any) -> ImportReport:
        nonlocal calls
        calls += 1
        report = real(*args, **kwargs)
        if calls == 2:
            raise RuntimeError("power cut")
        return report

    monkeypatch.setattr(importing, "import_skus", crash_on_second_chunk)
    crashed = runner.invoke(app, ["import", "skus", str(path), "--chunk-size", "2"])
    assert isinstance(crashed.exception, RuntimeError)
    assert set(stored(db_url)) == {"TS-S", "TS-M"}

    monkeypatch.setattr(importing, "import_skus", real)
    rerun = runner.invoke(app, ["import", "skus", str(path), "--chunk-size", "2"])
    assert rerun.exit_code == 0, rerun.output
    assert summary(rerun.output) == (5, 3, 0, 2, 0)
    assert len(stored(db_url)) == 5
