"""`yipan demo`: build the deterministic demo data set."""

from __future__ import annotations

import typer


def demo(
    seed: int = typer.Option(7, help="Random seed; the same seed builds the same data"),
    reset: bool = typer.Option(False, help="Rebuild even if demo data is already there"),
) -> None:
    """Build the demo data (nodes on real city coordinates, SKUs, skewed stock)."""
    raise typer.Exit(0)
