"""insights: recommendations — no table

The recommendation model is trained from the orders and kept per process; nothing is stored
(src/yipan/insights/models/recommendations.py). The revision stays in the chain, empty.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 01:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
