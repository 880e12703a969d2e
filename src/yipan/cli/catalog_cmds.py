"""`yipan import …`: bulk loads from CSV or JSONL files."""

from __future__ import annotations

import typer

app = typer.Typer(help="Bulk import from CSV or JSONL files.", no_args_is_help=True)
