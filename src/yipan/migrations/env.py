"""Alembic environment: runs against `YIPAN_DATABASE_URL` unless the caller passes a connection."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from yipan.kernel.config import get_settings
from yipan.kernel.db import UtcDateTime, make_engine
from yipan.tables import metadata

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _render_item(type_: str, obj: Any, _context: Any) -> str | Literal[False]:
    # Migrations stay plain SQLAlchemy: the UTC conversion on read is Python-side only.
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_item=_render_item,
        render_as_batch=True,  # SQLite needs table rebuilds for most ALTERs
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
