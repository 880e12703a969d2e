"""insights: demand forecasts, their backtests and replenishment suggestions

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "insights_forecast_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("backtest_windows", sa.Integer(), nullable=False),
        sa.Column("backtest_days", sa.Integer(), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("filters", _JSON, nullable=False),
        sa.Column("series", sa.Integer(), nullable=False),
        sa.Column("regular", sa.Integer(), nullable=False),
        sa.Column("intermittent", sa.Integer(), nullable=False),
        sa.Column("no_demand", sa.Integer(), nullable=False),
        sa.Column("naive_chosen", sa.Integer(), nullable=False),
        sa.Column("backtest_actual", sa.Float(), nullable=False),
        sa.Column("chosen_abs_error", sa.Float(), nullable=False),
        sa.Column("naive_abs_error", sa.Float(), nullable=False),
        sa.Column("read_seconds", sa.Float(), nullable=False),
        sa.Column("fit_seconds", sa.Float(), nullable=False),
        sa.Column("total_seconds", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_forecast_runs")),
    )
    op.create_table(
        "insights_forecast_series",
        sa.Column("id", _BIG, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("history_days", sa.Integer(), nullable=False),
        sa.Column("censored_days", sa.Integer(), nullable=False),
        sa.Column("backtest_actual", sa.Float(), nullable=True),
        sa.Column("chosen_abs_error", sa.Float(), nullable=True),
        sa.Column("chosen_wape", sa.Float(), nullable=True),
        sa.Column("chosen_mase", sa.Float(), nullable=True),
        sa.Column("chosen_bias", sa.Float(), nullable=True),
        sa.Column("error_sd", sa.Float(), nullable=True),
        sa.Column("naive_abs_error", sa.Float(), nullable=True),
        sa.Column("naive_wape", sa.Float(), nullable=True),
        sa.Column("naive_mase", sa.Float(), nullable=True),
        sa.Column("naive_bias", sa.Float(), nullable=True),
        sa.Column("daily_mean", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("daily", _JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["insights_forecast_runs.id"],
            name=op.f("fk_insights_forecast_series_run_id_insights_forecast_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights_forecast_series")),
        sa.UniqueConstraint(
            "run_id",
            "sku_id",
            "node_id",
            name=op.f("uq_insights_forecast_series_run_id_sku_id_node_id"),
        ),
    )
    op.create_index(
        "ix_insights_forecast_series_sku_node",
        "insights_forecast_series",
        ["sku_id", "node_id", "run_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_insights_forecast_series_sku_node", table_name="insights_forecast_series")
    op.drop_table("insights_forecast_series")
    op.drop_table("insights_forecast_runs")
