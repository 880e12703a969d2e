"""`yipan import …`: bulk loads from CSV or JSONL files.

A file is imported in chunks, each chunk one unit of work: a crash loses at most the chunk in
flight, and because every row is an idempotent upsert, running the same file again is harmless.

Exit codes: 0 every row imported, 1 some rows were rejected (the others are kept), 2 nothing was
imported because the file or the database could not be used.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yipan.catalog import importing
from yipan.catalog.schemas import ImportReport
from yipan.cli.chunked_import import import_in_chunks, print_rejected_rows
from yipan.kernel.clock import SystemClock

app = typer.Typer(help="Bulk import from CSV or JSONL files.", no_args_is_help=True)
console = Console()


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
    clock = SystemClock()
    seen: dict[str, int] = {}
    report = import_in_chunks(
        read=lambda: importing.read_rows(file, fmt),
        import_chunk=lambda session, chunk: importing.import_skus(
            session, chunk, clock=clock, seen=seen
        ),
        report_type=ImportReport,
        label=f"importing {file.name}",
        chunk_size=chunk_size,
        console=console,
    )
    _print_report(report, show_errors)
    if report.errors:
        raise typer.Exit(1)


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
    print_rejected_rows(
        console,
        [(e.row, e.key, e.code, e.message) for e in report.errors],
        key_label="SKU",
        show=show_errors,
    )
