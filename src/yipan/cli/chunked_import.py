"""What every bulk-import command shares: read the file, import it in chunks, add up the reports,
list the rejected rows.

Each chunk is one unit of work, so a crash loses at most the chunk in flight; the importers make
every row idempotent, so running the same file again is harmless. A file or database that cannot
be used ends the command with exit code 2, after saying how many rows were already committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NoReturn, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from yipan.kernel import tabular
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

Row = TypeVar("Row")
Report = TypeVar("Report", bound=BaseModel)
Done = TypeVar("Done")


def import_in_chunks(
    *,
    read: Callable[[], Iterable[Row]],
    import_chunk: Callable[[Session, Iterable[Row]], Report],
    report_type: type[Report],
    label: str,
    chunk_size: int,
    console: Console,
) -> Report:
    """Read every row with `read`, then commit `import_chunk` over `chunk_size` rows at a time.

    `import_chunk` is called once per chunk inside its own unit of work; the reports of the
    committed chunks are merged with `tabular.merge_reports`. A `YipanError` (from reading the
    file or from an importer) or a database error exits with code 2.
    """
    try:
        rows = list(read())
    except YipanError as exc:
        _exit_on(console, exc)
    engine = make_engine(get_settings().database_url)
    parts: list[Report] = []
    committed = 0
    progress = progress_bar(console)
    try:
        with progress:
            task = progress.add_task(label, total=len(rows))
            for start in range(0, len(rows), chunk_size):
                chunk = rows[start : start + chunk_size]
                with unit_of_work(engine) as session:
                    part = import_chunk(session, _ticking(chunk, lambda: progress.advance(task)))
                parts.append(part)  # only once committed, so the count below stays true
                committed += len(chunk)
    except YipanError as exc:
        _exit_on(console, exc)
    except SQLAlchemyError as exc:
        console.print(
            f"[red]database error[/] after {committed} of {len(rows)} rows were committed: "
            f"{getattr(exc, 'orig', None) or exc}\n"
            "If tables are missing, run `yipan db upgrade`. Running the import again is safe."
        )
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    return tabular.merge_reports(report_type, parts)


def progress_bar(console: Console) -> Progress:
    """The bar every import shows: what it does, done of total, time left."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def exit_on_error(console: Console, step: Callable[[], Done]) -> Done:
    """`step()`, or exit code 2 with the reason when the file or the database cannot be used."""
    try:
        return step()
    except YipanError as exc:
        _exit_on(console, exc)
    except SQLAlchemyError as exc:
        console.print(
            f"[red]database error[/]: {getattr(exc, 'orig', None) or exc}\n"
            "If tables are missing, run `yipan db upgrade`. Running the import again is safe."
        )
        raise typer.Exit(2) from None


def print_rejected_rows(
    console: Console,
    rejected: Sequence[tuple[int, str | None, str, str]],
    *,
    key_label: str,
    show: int,
    title: str = "Rejected rows",
) -> None:
    """The first `show` rejected rows as a table of (row number, key, error code, message)."""
    if not rejected or not show:
        return
    table = Table("row", key_label, "code", "message", title=title)
    for number, key, code, message in rejected[:show]:
        table.add_row(str(number), key or "", code, message)
    console.print(table)
    if len(rejected) > show:
        console.print(f"… and {len(rejected) - show} more rejected row(s)")


def _exit_on(console: Console, error: YipanError) -> NoReturn:
    console.print(f"[red]{error.code}[/]: {error.message}")
    raise typer.Exit(2) from None


def _ticking(rows: Iterable[Row], tick: Callable[[], None]) -> Iterator[Row]:
    for row in rows:
        yield row
        tick()
