"""auth: users, API keys and the audit log

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLES = "role IN ('hq_admin', 'region_manager', 'store_manager', 'store_guide', 'marketer', 'planner', 'integrator')"
SCOPE = "(scope_kind = 'all' AND scope_value IS NULL) OR (scope_kind IN ('region', 'store') AND scope_value IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "auth_users",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("scope_kind", sa.Text(), nullable=False),
        sa.Column("scope_value", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("failure_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(SCOPE, name=op.f("ck_auth_users_scope_shape")),
        sa.CheckConstraint(ROLES, name=op.f("ck_auth_users_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_users")),
        sa.UniqueConstraint("username", name=op.f("uq_auth_users_username")),
    )
    op.create_table(
        "auth_api_keys",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("prefix", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("scope_kind", sa.Text(), nullable=False),
        sa.Column("scope_value", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(SCOPE, name=op.f("ck_auth_api_keys_scope_shape")),
        sa.CheckConstraint(ROLES, name=op.f("ck_auth_api_keys_role_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_auth_api_keys_key_hash")),
    )
    op.create_table(
        "auth_audit_log",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.Text(), nullable=False),
        sa.Column("actor_id", BIG_ID, nullable=True),
        sa.Column("actor_name", sa.Text(), nullable=True),
        sa.Column("actor_role", sa.Text(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_ip", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "actor_kind IN ('user', 'api_key', 'system', 'anonymous')",
            name=op.f("ck_auth_audit_log_actor_kind_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_audit_log")),
    )
    with op.batch_alter_table("auth_audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_auth_audit_log_action_id", ["action", "id"], unique=False)
        batch_op.create_index("ix_auth_audit_log_actor_name_id", ["actor_name", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("auth_audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_audit_log_actor_name_id")
        batch_op.drop_index("ix_auth_audit_log_action_id")
    op.drop_table("auth_audit_log")
    op.drop_table("auth_api_keys")
    op.drop_table("auth_users")
