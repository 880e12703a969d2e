"""`yipan orders …`: upload a till's receipts from a file, expire uncollected pickups.

An offline till writes its receipts to a JSON Lines file (one `PosReceiptIn` per line) and
uploads it when it is back online. Each receipt is its own unit of work and is idempotent on its
receipt id, so an upload that stops half-way, or runs twice, is simply run again.

Exit codes: 0 every receipt taken (new or already there), 1 some receipts were refused (the
others are kept), 2 the file could not be read.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError
from yipan.orders.schemas import PosReceiptIn
from yipan.orders.service import capture
from yipan.wiring import sweep_expired_pickups

app = typer.Typer(help="Orders: till receipts and pickups.", no_args_is_help=True)
console = Console()


@app.command("upload-receipts")
def upload_receipts(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        metavar="FILE",
        help="A .jsonl file, one POS receipt per line",
    ),
) -> None:
    """Upload a till's receipts; receipts already uploaded are recognised and left alone."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/]")
        raise typer.Exit(2) from None
    engine = make_engine(get_settings().database_url)
    outcome: Counter[str] = Counter()
    refused: list[tuple[int, str, str]] = []
    columns = (
        TextColumn("receipts"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("upload", total=len(lines))
        for number, raw in enumerate(lines, start=1):
            progress.advance(task)
            if not raw.strip():
                continue
            try:
                receipt = PosReceiptIn.model_validate(json.loads(raw))
                with unit_of_work(engine) as session:
                    placed = capture.record_pos_receipt(session, receipt)
            except (ValueError, ValidationError) as exc:
                refused.append((number, "INVALID_RECEIPT", str(exc).splitlines()[0]))
                continue
            except YipanError as exc:
                refused.append((number, exc.code, exc.message))
                continue
            outcome["new" if placed.created else "already uploaded"] += 1
    console.print(
        f"{outcome['new']} new, {outcome['already uploaded']} already uploaded, "
        f"{len(refused)} refused"
    )
    if refused:
        table = Table("line", "code", "message")
        for number, code, message in refused[:50]:
            table.add_row(str(number), code, message)
        console.print(table)
        raise typer.Exit(1)


@app.command("expire-pickups")
def expire_pickups(
    days: int = typer.Option(
        None, min=0, help="Days a ready pickup waits (default YIPAN_PICKUP_HOLD_DAYS)"
    ),
) -> None:
    """Put the stock of pickups nobody collected back on sale (the worker does this too)."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    hold = settings.pickup_hold_days if days is None else days
    expired = sweep_expired_pickups(engine, hold)
    console.print(f"{expired} pickups expired after {hold} days")
