"""`yipan import …`: bulk loads from CSV or JSONL files.

A file is imported in chunks, each chunk one unit of work: a crash loses at most the chunk in
flight, and because every row is an idempotent upsert, running the same file again is harmless.

Exit codes: 0 every row imported, 1 some rows were rejected (the others are kept), 2 nothing was
imported because the file or the database could not be used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from yipan.catalog import importing
from yipan.catalog.schemas import ImportReport
from yipan.kernel.clock import SystemClock
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

app = typer.Typer(help="Bulk import from CSV or JSONL files.", no_args_is_help=True)
console = Console()

T = TypeVar("T")


@app.command("skus")
def import_skus(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        metavar="FILE",
        help="A .csv or .jsonl file of SKUs",
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        metavar="csv|jsonl",
        help="The file format (default: from the file extension)",
    ),
    chunk_size: int = typer.Option(500, min=1, help="Rows committed together"),
    show_errors: int = typer.Option(20, min=0, help="How many row errors to print"),
) -> None:
    """Create or update SKUs from a CSV or JSONL file; running it again changes nothing."""
    try:
        rows = list(importing.read_rows(file, fmt))
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(2) from None
    engine = make_engine(get_settings().database_url)
    clock = SystemClock()
    seen: dict[str, int] = {}
    parts: list[ImportReport] = []
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    try:
        with progress:
            task = progress.add_task(f"importing {file.name}", total=len(rows))
            for start in range(0, len(rows), chunk_size):
                chunk = _ticking(rows[start : start + chunk_size], lambda: progress.advance(task))
                with unit_of_work(engine) as session:
                    part = importing.import_skus(session, chunk, clock=clock, seen=seen)
                parts.append(part)  # only once committed, so the count below stays true
    except SQLAlchemyError as exc:
        done = sum(p.total for p in parts)
        console.print(
            f"[red]database error[/] after {done} of {len(rows)} rows were committed: "
            f"{getattr(exc, 'orig', None) or exc}\n"
            "If tables are missing, run `yipan db upgrade`. Running the import again is safe."
        )
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    report = importing.merge_reports(*parts)
    _print_report(report, show_errors)
    if report.errors:
        raise typer.Exit(1)


def _ticking(rows: Iterable[T], tick: Callable[[], None]) -> Iterator[T]:
    for row in rows:
        yield row
        tick()


def _print_report(report: ImportReport, show_errors: int) -> None:
    summary = Table("rows", "created", "updated", "unchanged", "failed", title="Import summary")
    summary.add_row(
        str(report.total),
        f"[green]{report.created}[/]",
        f"[cyan]{report.updated}[/]",
        str(report.unchanged),
        f"[red]{len(report.errors)}[/]" if report.errors else "0",
    )
    console.print(summary)
    if not report.errors or not show_errors:
        return
    errors = Table("row", "SKU", "code", "message", title="Rejected rows")
    for error in report.errors[:show_errors]:
        errors.add_row(str(error.row), error.key or "", error.code, error.message)
    console.print(errors)
    if len(report.errors) > show_errors:
        console.print(f"… and {len(report.errors) - show_errors} more rejected row(s)")
