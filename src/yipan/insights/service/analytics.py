"""The analytics engine: DuckDB over the application's own database, and the KPI table on it.

DuckDB reads PostgreSQL's tables read-only through its `postgres_scanner` extension (shipped as
a wheel and loaded from the package's directory: a server fetches nothing at run time), attached
as `db`, and does the grouping, the joins and the time-zone arithmetic (ICU) in its vectorised
engine. The embedded SQLite file is not attached: DuckDB's scanner brings its own copy of the
SQLite library, and two copies of SQLite in one process break each other's file locks (closing
the file in one drops the POSIX locks the other holds: sqlite.org/howtocorrupt.html, 2.2.1) — a
server then read stale rows. The tables the KPIs read are copied into DuckDB's schema `db`
through the application's own connection instead (`SQLITE_TABLES`), before each snapshot. One DuckDB
database per process and per engine; each call works on its own cursor (`con.cursor()`: a
connection of its own to the same DuckDB database), so threads never share a connection.

Read live, every call would copy the order lines, fulfilments, levels and ledger over the wire
(~0.7–1.9 s on the 12-month demo on PostgreSQL), so by default the KPIs read a snapshot: the
process's in-memory copy (schema `snap`), the orders folded into one row of facts each, taken on
the first call and refreshed in the background once older than `YIPAN_KPI_SNAPSHOT_SECONDS`
(docs/kpis.md says why, with the figures). Hand-written SQL because this is what DuckDB is for;
the policy (what counts where) is in docs/kpis.md and `insights.domain.kpis`.

The KPI table (`kpi_table`) gives every figure of docs/kpis.md for a period, for the whole
scope and broken down by business day, channel, region (province) or store: one statement for
the order sums and members per key (over the period's orders the scope sees), one for the stock
of the nodes in scope.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    JSON,
    URL,
    Boolean,
    Date,
    DateTime,
    Engine,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from yipan.auth.domain import Scope
from yipan.insights.domain.kpis import (
    DELIVERY_METHODS,
    SOLD_LINE_STATUSES,
    STOCK_BREAKDOWNS,
    STORE_TYPES,
    Breakdown,
    KpiRow,
    Share,
    StockFigures,
    average_on_hand,
)
from yipan.insights.domain.periods import Period
from yipan.inventory.models import Movement, Node, StockLevel
from yipan.inventory.service import nodes
from yipan.kernel.config import get_settings
from yipan.kernel.errors import NotFound, YipanError
from yipan.orders.models import Fulfilment, Order, OrderLine, Return

# DuckDB databases kept per process, one per application database (tests open many).
MAX_DATABASES = 4
ISSUED_KINDS = ("sale", "reservation_commit")


class AnalyticsUnavailable(YipanError):
    """The application's database is one DuckDB cannot attach (e.g. SQLite in memory)."""

    code = "ANALYTICS_UNAVAILABLE"
    status = 503


def _extension_directory() -> str:
    """Where the duckdb-ext-* wheels put the scanner extensions (found without importing the
    package, which has no type information)."""
    spec = importlib.util.find_spec("duckdb_ext")
    if spec is None or not spec.submodule_search_locations:
        raise AnalyticsUnavailable("the DuckDB scanner extensions (duckdb-ext-*) are missing")
    return str(Path(next(iter(spec.submodule_search_locations))) / "extensions")


def _attach_clause(url: URL) -> tuple[str | None, str]:
    """The DuckDB extension and ATTACH target for a SQLAlchemy URL; for SQLite no extension but
    the file, which is copied in rather than attached (see the module's docstring)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or path.startswith("file:"):
            raise AnalyticsUnavailable("the KPIs need a SQLite file, not a database in memory")
        return None, path
    if backend == "postgresql":
        parts = {
            "dbname": url.database,
            "host": url.host,
            "port": url.port,
            "user": url.username,
            "password": url.password,
        }
        dsn = " ".join(f"{k}={_libpq(str(v))}" for k, v in parts.items() if v not in (None, ""))
        return "postgres_scanner", f"'{_quoted(dsn)}' AS db (TYPE postgres, READ_ONLY)"
    raise AnalyticsUnavailable(f"no analytics over a {backend} database")


def _quoted(text: str) -> str:
    return text.replace("'", "''")


def _libpq(value: str) -> str:
    if value and all(c not in value for c in " '\\"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class AnalyticsSettings(BaseSettings):
    """`YIPAN_KPI_SNAPSHOT_SECONDS`: how old the process's DuckDB copy of the fact tables may
    grow before it is taken again (in the background; callers keep reading the previous copy
    meanwhile). 0 reads the application's database live on every call."""

    model_config = SettingsConfigDict(env_prefix="YIPAN_KPI_", extra="ignore")

    snapshot_seconds: float = 60.0


# The tables the KPIs read per call, copied whole (only these columns) into the snapshot; the
# orders, lines, fulfilments and returns are folded into one row per order when it is taken
# (`snap.kpi_order_facts`), the stock levels into one row per node (`snap.kpi_levels`).
# The ledger is kept in time order, so that a period's filter skips the older row groups.
SNAPSHOT_COLUMNS: dict[str, str] = {
    "inventory_nodes": "id, code, type, province, floor_area_m2, active",
    "inventory_movements": (
        "node_id, kind, quantity, CAST(occurred_at AS TIMESTAMPTZ) AS occurred_at"
        " ORDER BY occurred_at"
    ),
}


# The embedded database's tables the KPIs read, and the columns (all, or the few of the ledger).
SQLITE_TABLES: dict[str, tuple[Table, str]] = {
    t.name: (t, columns)
    for t, columns in (
        (Node.__table__, "*"),
        (StockLevel.__table__, "*"),
        (Movement.__table__, "node_id, kind, quantity, occurred_at"),
        (Order.__table__, "*"),
        (OrderLine.__table__, "*"),
        (Fulfilment.__table__, "*"),
        (Return.__table__, "*"),
    )
    if isinstance(t, Table)
}


def _copy_sqlite(path: str, cur: duckdb.DuckDBPyConnection) -> None:
    """Copy `SQLITE_TABLES` into DuckDB's schema `db`, read in one read transaction (so the
    copies agree) by the SQLite library the application itself uses, with SQLite's text
    timestamps and 0/1 booleans typed as the models declare them."""
    # Imported here, for the SQLite copy only: pandas takes ~0.3 s to load, which every API
    # worker and CLI command importing the dashboard would otherwise pay.
    import pandas

    cur.execute("CREATE SCHEMA IF NOT EXISTS db")
    conn = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
    try:
        conn.execute("BEGIN")
        for name, (table, columns) in SQLITE_TABLES.items():
            frame = pandas.read_sql_query(f"SELECT {columns} FROM {name}", conn)
            typed = ", ".join(_typed(table, column) for column in frame.columns)
            cur.register("incoming", frame)
            try:
                cur.execute(f"CREATE OR REPLACE TABLE db.{name} AS SELECT {typed} FROM incoming")
            finally:
                cur.unregister("incoming")
    finally:
        conn.close()


# DuckDB's types for what the models store; a column read empty would otherwise be guessed.
_DUCKDB_TYPES: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (DateTime, "TIMESTAMP"),
    (Date, "DATE"),
    (Boolean, "BOOLEAN"),
    (Integer, "BIGINT"),
    (Float, "DOUBLE"),
    (Numeric, "DOUBLE"),
    (String, "VARCHAR"),
    (JSON, "VARCHAR"),
)


def _typed(table: Table, column: str) -> str:
    declared = table.c[column].type
    stored = declared.impl_instance if isinstance(declared, TypeDecorator) else declared
    for kind, duck in _DUCKDB_TYPES:
        if isinstance(stored, kind):
            return f"CAST({column} AS {duck}) AS {column}"
    return column


class _Database:
    """One application database seen from DuckDB: `db` (attached, or for SQLite copied in by
    `copy_in`), and its snapshot (schema `snap` of DuckDB's own memory) once taken."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        copy_in: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ) -> None:
        self.con = con
        self.copy_in = copy_in
        self.taken_at: float | None = None  # time.monotonic() of the snapshot's start
        self.refreshing = False

    def take_snapshot(self) -> float:
        """Copy the fact tables into `snap`, in one DuckDB transaction: readers see the old copy
        until the new one is whole. Returns the seconds it took."""
        started = time.monotonic()
        cur = self.con.cursor()
        try:
            cur.execute("CREATE SCHEMA IF NOT EXISTS snap")
            cur.execute("BEGIN TRANSACTION")
            if self.copy_in is not None:
                self.copy_in(cur)
            for table, columns in SNAPSHOT_COLUMNS.items():
                select, _, order = columns.partition(" ORDER BY ")
                cur.execute(
                    f"CREATE OR REPLACE TABLE snap.{table} AS SELECT {select} FROM db.{table}"
                    + (f" ORDER BY {order}" if order else "")
                )
            facts = _FACTS.replace("{src}", "db").replace("{period}", "")
            cur.execute(
                f"CREATE OR REPLACE TABLE snap.kpi_order_facts AS {facts} ORDER BY placed_at",
                {"hold": get_settings().pickup_hold_days},
            )
            levels = _LEVELS.replace("{src}", "db")
            cur.execute(f"CREATE OR REPLACE TABLE snap.kpi_levels AS {levels}")
            cur.execute("COMMIT")
        except BaseException:
            with suppress(duckdb.Error):  # no transaction open yet
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        self.taken_at = started
        return time.monotonic() - started


class _Databases:
    """The process's DuckDB databases, one per application database, least recently used
    closed first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: OrderedDict[tuple[int, str], _Database] = OrderedDict()

    def database(self, engine: Engine) -> _Database:
        """The DuckDB database of `engine`: one per connection pool (which the engine's
        option-bearing copies share), not per URL, so that a new engine (a test's, on a
        database emptied and filled again) never reads an older snapshot."""
        key = (id(engine.pool), engine.url.render_as_string(hide_password=False))
        with self._lock:
            found = self._open.get(key)
            if found is None:
                found = self._open_database(engine)
                self._open[key] = found
                weakref.finalize(engine.pool, self._forget, key)
                while len(self._open) > MAX_DATABASES:
                    self._open.popitem(last=False)[1].con.close()
            self._open.move_to_end(key)
            return found

    def _forget(self, key: tuple[int, str]) -> None:
        with self._lock:
            gone = self._open.pop(key, None)
        if gone is not None:
            gone.con.close()

    def source(self, database: _Database, max_age: float) -> str:
        """Where to read: `db` (live) when snapshots are off, else `snap` — taken now if there is
        none, refreshed in the background when older than `max_age`."""
        if max_age <= 0:
            return "db"
        with self._lock:
            taken, refreshing = database.taken_at, database.refreshing
            stale = taken is not None and time.monotonic() - taken > max_age
            if stale and not refreshing:
                database.refreshing = True
        if taken is None:
            with _first_snapshot:  # one first copy at a time; the others wait for it
                if database.taken_at is None:
                    database.take_snapshot()
        elif stale and not refreshing:
            threading.Thread(target=self._refresh, args=(database,), daemon=True).start()
        return "snap"

    def _refresh(self, database: _Database) -> None:
        try:
            database.take_snapshot()
        except duckdb.Error:
            pass  # the previous copy stays; the next stale call tries again
        finally:
            with self._lock:
                database.refreshing = False

    @staticmethod
    def _open_database(engine: Engine) -> _Database:
        extension, target = _attach_clause(engine.url)
        con = duckdb.connect(
            config={
                "extension_directory": _extension_directory(),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        con.execute("SET GLOBAL TimeZone = 'UTC'")  # SQLite's timestamps are UTC wall-clock text
        if extension is None:
            return _Database(con, partial(_copy_sqlite, target))
        con.load_extension(extension)
        con.execute(f"ATTACH {target}")
        return _Database(con)

    def close_all(self) -> None:
        with self._lock:
            while self._open:
                self._open.popitem()[1].con.close()


_databases = _Databases()
_first_snapshot = threading.Lock()


@contextmanager
def analytics_cursor(
    session: Session, *, max_age: float | None = None
) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """A DuckDB cursor over the database `session` is bound to, and where its tables are: `db`
    (read live) or `snap` (the process's copy, at most `max_age` seconds old; default
    `YIPAN_KPI_SNAPSHOT_SECONDS`)."""
    age = AnalyticsSettings().snapshot_seconds if max_age is None else max_age
    database = _databases.database(session.get_bind().engine)
    source = _databases.source(database, age)
    cursor = database.con.cursor()
    try:
        if source == "db" and database.copy_in is not None:
            database.copy_in(cursor)  # read live: the embedded database copied in now
        yield cursor, source
    finally:
        cursor.close()


def take_snapshot(session: Session) -> float:
    """Take the process's copy of `session`'s database now; the seconds it took."""
    return _databases.database(session.get_bind().engine).take_snapshot()


def close_all() -> None:
    """Close every DuckDB database this process opened (tests, shutdown)."""
    _databases.close_all()


# --- the KPI table ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiTable:
    period: Period
    scope: Scope
    by: Breakdown | None
    total: KpiRow
    rows: tuple[KpiRow, ...]


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{_quoted(v)}'" for v in values) + ")"


_SOLD = _in(SOLD_LINE_STATUSES)
_STORES = _in(STORE_TYPES)
_DELIVERY = _in(DELIVERY_METHODS)
_ISSUED = _in(ISSUED_KINDS)

# One row per order, cancelled ones left out, with every fact the KPIs count; `{period}` is
# empty for the snapshot (every order) and narrows a live read to the period's orders.
_FACTS = f"""
WITH o AS (
    -- SQLite's timestamps are UTC text: as instants, so the period filter needs no cast per row
    SELECT id, channel, kind, member_id, store, CAST(placed_at AS TIMESTAMPTZ) AS placed_at
    FROM {{src}}.orders_orders
    WHERE state <> 'cancelled' {{period}}
),
f AS (
    SELECT f.id, f.order_id, f.node, f.method, f.state, f.kind, f.ready_at, f.delivered_at
    FROM {{src}}.orders_fulfilments f SEMI JOIN o ON o.id = f.order_id
),
nodes AS (SELECT code, type FROM {{src}}.inventory_nodes),
l AS (
    SELECT order_id,
        SUM(CASE WHEN status IN {_SOLD} THEN paid_fen - refunded_fen ELSE 0 END) AS net,
        SUM(CASE WHEN status IN {_SOLD} THEN quantity ELSE 0 END) AS sold,
        SUM(CASE WHEN status IN {_SOLD} THEN returned_quantity ELSE 0 END) AS returned,
        SUM(CASE WHEN status <> 'cancelled' THEN quantity ELSE 0 END) AS ordered,
        SUM(CASE WHEN status = 'unfulfilled' THEN quantity ELSE 0 END) AS unfilled,
        BOOL_OR(method = 'pickup' AND status IN {_SOLD}) AS bopis
    FROM {{src}}.orders_lines ln SEMI JOIN o ON o.id = ln.order_id
    GROUP BY order_id
),
fo AS (
    SELECT f.order_id,
        ARG_MIN(f.node, f.id) AS first_node,
        LIST(DISTINCT f.node) AS nodes,
        BOOL_OR(n.type IN {_STORES} AND f.method IN {_DELIVERY}
                AND f.state NOT IN ('cancelled', 'expired')) AS from_store,
        COUNT(*) FILTER (WHERE f.kind = 'pickup' AND f.state IN ('picked_up', 'expired'))
            AS pickups_ended,
        COUNT(*) FILTER (WHERE f.kind = 'pickup' AND f.state = 'picked_up'
                         AND f.delivered_at <= f.ready_at + TO_DAYS(CAST($hold AS INTEGER)))
            AS pickups_on_time
    FROM f LEFT JOIN nodes n ON n.code = f.node
    GROUP BY f.order_id
),
r AS (
    SELECT DISTINCT r.order_id FROM {{src}}.orders_returns r
    JOIN nodes n ON n.code = r.node AND n.type IN {_STORES}
    SEMI JOIN o ON o.id = r.order_id
)
SELECT o.id, o.placed_at, o.channel, o.member_id, o.store,
    COALESCE(fo.nodes, []) AS nodes,
    COALESCE(o.store, fo.first_node) AS home,
    CAST(COALESCE(l.net, 0) AS BIGINT) AS net,
    CAST(CASE WHEN o.member_id IS NOT NULL THEN COALESCE(l.net, 0) ELSE 0 END AS BIGINT)
        AS member_net,
    CAST(COALESCE(l.sold, 0) AS BIGINT) AS sold,
    CAST(COALESCE(l.returned, 0) AS BIGINT) AS returned,
    CAST(COALESCE(l.ordered, 0) AS BIGINT) AS ordered,
    CAST(COALESCE(l.unfilled, 0) AS BIGINT) AS unfilled,
    o.kind = 'pos' AS at_till,
    o.kind = 'online' AS online,
    o.kind <> 'pos' AND COALESCE(l.bopis, FALSE) AS bopis,
    o.kind <> 'pos' AND COALESCE(fo.from_store, FALSE) AS from_store,
    o.kind <> 'pos' AND r.order_id IS NOT NULL AS back_in_store,
    o.kind = 'guide' AS guide,
    COALESCE(fo.pickups_ended, 0) AS pickups_ended,
    COALESCE(fo.pickups_on_time, 0) AS pickups_on_time
FROM o
LEFT JOIN l ON l.order_id = o.id
LEFT JOIN fo ON fo.order_id = o.id
LEFT JOIN r ON r.order_id = o.id
"""
_IN_PERIOD = "AND placed_at >= $start AND placed_at < $end"

# The period's orders that the scope sees (sold at one of its nodes or fulfilled at one).
_ORDERS = """
kpi_orders AS MATERIALIZED (
    SELECT * FROM {facts} facts
    WHERE placed_at >= $start AND placed_at < $end
        AND ($all OR list_contains($codes, store) OR list_has_any(nodes, $codes))
)"""

# Per node: the levels it carries, those out (ATP <= 0), and the units on hand now.
_LEVELS = """
SELECT node_id, COUNT(*) AS carried,
    COUNT(*) FILTER (WHERE on_hand - reserved - safety_stock <= 0) AS out,
    SUM(on_hand) AS on_hand
FROM {src}.inventory_stock_levels GROUP BY node_id
"""

_KEYS = {
    None: "NULL",
    Breakdown.DAY: "CAST(CAST(timezone($zone, CAST(k.placed_at AS TIMESTAMPTZ)) AS DATE) AS VARCHAR)",
    Breakdown.CHANNEL: "k.channel",
    Breakdown.REGION: "n.province",
    Breakdown.STORE: f"CASE WHEN n.type IN {_STORES} THEN k.home END",
}

# The orders with their key; `floored`: homed at an active store in scope with a floor area.
_KEYED = f"""
WITH {{orders}}, keyed AS MATERIALIZED (
    SELECT {{key}} AS key, k.* EXCLUDE (nodes),
        n.type IN {_STORES} AND n.floor_area_m2 > 0 AND CAST(n.active AS INTEGER) = 1
            AND ($all OR list_contains($codes, k.home)) AS floored
    FROM kpi_orders k LEFT JOIN {{src}}.inventory_nodes n ON n.code = k.home
)
"""

# The sums per key and for the whole scope (`total`), with the members who ordered and those
# who ordered twice or more, in one pass over the period's orders.
_SUMS = """,
sums AS (
    SELECT GROUPING(key) = 1 AS total, key,
        COUNT(*), SUM(net), SUM(member_net), SUM(sold), SUM(returned), SUM(ordered),
        SUM(unfilled), COUNT(*) FILTER (WHERE guide OR bopis OR from_store OR back_in_store),
        COUNT(*) FILTER (WHERE NOT at_till), COUNT(*) FILTER (WHERE bopis),
        COUNT(*) FILTER (WHERE online), COUNT(*) FILTER (WHERE online AND (bopis OR from_store)),
        SUM(pickups_ended), SUM(pickups_on_time), SUM(net) FILTER (WHERE floored),
        COUNT(*) FILTER (WHERE from_store), COUNT(*) FILTER (WHERE back_in_store),
        COUNT(*) FILTER (WHERE guide)
    FROM keyed
    GROUP BY GROUPING SETS ((key), ())
),
members AS (
    SELECT total, key, COUNT(*) AS members, COUNT(*) FILTER (WHERE orders >= 2) AS repeat
    FROM (
        SELECT GROUPING(key) = 1 AS total, key, member_id, COUNT(*) AS orders
        FROM keyed WHERE member_id IS NOT NULL
        GROUP BY GROUPING SETS ((key, member_id), (member_id))
    ) GROUP BY total, key
)
SELECT sums.*, COALESCE(members.members, 0), COALESCE(members.repeat, 0)
FROM sums LEFT JOIN members
    ON members.total = sums.total AND members.key IS NOT DISTINCT FROM sums.key
"""

# Per node in scope: the levels a store carries and those out, the stock now, and from the
# ledger the units issued over the period and Σ q·(t − start)/T (docs/kpis.md, "KPI table").
_STOCK = f"""
WITH n AS (
    SELECT id, code, type, province, floor_area_m2 AS area FROM {{src}}.inventory_nodes
    WHERE CAST(active AS INTEGER) = 1 AND ($all OR list_contains($codes, code))
),
levels AS ({{levels}}),
moved AS (
    SELECT node_id,
        SUM(quantity) FILTER (WHERE occurred_at >= $end) AS after_end,
        SUM(quantity * (EPOCH(CAST(occurred_at AS TIMESTAMPTZ)) - EPOCH($start)))
            FILTER (WHERE occurred_at < $end) / (EPOCH($end) - EPOCH($start)) AS weighted,
        -SUM(quantity) FILTER (WHERE occurred_at < $end AND kind IN {_ISSUED}) AS issued
    FROM {{src}}.inventory_movements
    WHERE occurred_at >= $start
    GROUP BY node_id
)
SELECT n.code, n.type, n.province, n.area,
    COALESCE(levels.carried, 0), COALESCE(levels.out, 0),
    COALESCE(levels.on_hand, 0) - COALESCE(moved.after_end, 0),
    COALESCE(moved.weighted, 0), COALESCE(moved.issued, 0)
FROM n LEFT JOIN levels ON levels.node_id = n.id LEFT JOIN moved ON moved.node_id = n.id
ORDER BY n.code
"""


@dataclass
class _NodeStock:
    code: str
    type: str
    province: str
    area: int | None
    carried: int
    out: int
    closing: int
    weighted: float
    issued: int


def _stock_of(nodes: Sequence[_NodeStock], days: int) -> StockFigures:
    stores = [n for n in nodes if n.type in STORE_TYPES]
    avg = sum(average_on_hand(n.closing, n.weighted) for n in nodes)
    return StockFigures(
        stock_out=Share(sum(n.out for n in stores), sum(n.carried for n in stores)),
        units_issued=sum(n.issued for n in nodes),
        avg_on_hand=round(avg, 2),
        days=days,
    )


def _row(
    key: str | None,
    sums: Sequence[Any] | None,
    members: tuple[int, int],
    area: int | None,
    stock: StockFigures | None,
) -> KpiRow:
    s = [int(v or 0) for v in (sums[2:] if sums is not None else [0] * 18)]
    (orders, net, member, sold, returned, ordered, unfilled, crossed, not_till, bopis) = s[:10]
    online, o2o, ended, on_time, store_net, from_store, back_in_store, guide = s[10:]
    return KpiRow(
        key=key,
        orders=orders,
        net_fen=net,
        units=sold - returned,
        member_share=Share(max(0, min(member, net)), max(0, net)),
        repurchase=Share(members[1], members[0]),
        omnichannel=Share(crossed, orders),
        online_to_offline=Share(o2o, online),
        pickup=Share(bopis, not_till),
        return_rate=Share(returned, sold),
        fill_rate=Share(ordered - unfilled, ordered),
        on_time_pickup=Share(on_time, ended),
        floor_area_m2=area,
        store_net_fen=store_net if area else 0,
        stock=stock,
        ship_from_store=from_store,
        return_in_store=back_in_store,
        guide=guide,
    )


def kpi_table(
    session: Session,
    period: Period,
    scope: Scope,
    by: Breakdown | None = None,
    *,
    max_age: float | None = None,
) -> KpiTable:
    """Every KPI of `period` as `scope` sees it, for the scope and per key of `by`; read from
    the process's snapshot at most `max_age` seconds old (0: live; default from the settings)."""
    codes = nodes.codes_in_scope(session, scope)
    params: dict[str, Any] = {
        "start": period.start,
        "end": period.end,
        "all": codes is None,
        "codes": list(codes or ()),
    }
    days = len(period.days)
    params.update(zone=period.zone, hold=get_settings().pickup_hold_days)
    keyed = _KEYED.replace("{key}", _KEYS[by])
    with analytics_cursor(session, max_age=max_age) as (cur, source):

        def run(sql: str) -> list[Any]:
            sql = sql.replace("{src}", source)
            # DuckDB wants exactly the parameters a statement names.
            return cur.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql}).fetchall()

        if source == "db":
            facts = "(" + _FACTS.replace("{period}", _IN_PERIOD) + ")"
            levels = _LEVELS
        else:
            facts, levels = "snap.kpi_order_facts", "SELECT * FROM snap.kpi_levels"
        keyed = keyed.replace("{orders}", _ORDERS.replace("{facts}", facts))
        sums: dict[Any, Any] = {}
        members: dict[Any, tuple[int, int]] = {}
        for r in run(keyed + _SUMS):
            sums[_TOTAL if r[0] else r[1]] = r[:20]
            members[_TOTAL if r[0] else r[1]] = (int(r[20]), int(r[21]))
        stock = [
            _NodeStock(
                r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), int(r[6]), float(r[7]), int(r[8])
            )
            for r in run(_STOCK.replace("{levels}", levels))
        ]
    areas = sum(n.area or 0 for n in stock if n.type in STORE_TYPES)
    total = _row(
        None, sums.get(_TOTAL), members.get(_TOTAL, (0, 0)), areas or None, _stock_of(stock, days)
    )
    rows = _rows(by, period, sums, members, stock, days)
    return KpiTable(period=period, scope=scope, by=by, total=total, rows=rows)


_TOTAL = object()  # the key of the whole scope's sums (a breakdown's own keys may be NULL)


def _rows(
    by: Breakdown | None,
    period: Period,
    sums: dict[Any, Any],
    members: dict[Any, tuple[int, int]],
    stock: Sequence[_NodeStock],
    days: int,
) -> tuple[KpiRow, ...]:
    if by is None:
        return ()
    if by is Breakdown.DAY:
        keys = [d.isoformat() for d in period.days]
    elif by is Breakdown.CHANNEL:
        named = [k for k in sums if isinstance(k, str)]
        keys = sorted(named, key=lambda k: (-int(sums[k][3] or 0), k))
    elif by is Breakdown.REGION:
        keys = sorted({n.province for n in stock})
    else:
        keys = [n.code for n in stock if n.type in STORE_TYPES]
    rows = []
    for key in keys:
        figures: StockFigures | None = None
        area = None
        if by in STOCK_BREAKDOWNS:
            at = [n for n in stock if (n.province if by is Breakdown.REGION else n.code) == key]
            figures = _stock_of(at, days)
            area = sum(n.area or 0 for n in at if n.type in STORE_TYPES) or None
        rows.append(_row(key, sums.get(key), members.get(key, (0, 0)), area, figures))
    return tuple(rows)


class UnknownRegion(NotFound):
    """A province no node names, or one outside the caller's scope (answered alike)."""

    code = "UNKNOWN_REGION"


def narrowed(session: Session, scope: Scope, region: str | None) -> Scope:
    """`scope` narrowed to one province, as the dashboard does: HQ may name any province that
    has a node, a region manager only their own, a store's staff none."""
    name = (region or "").strip()
    if not name:
        return scope
    known = bool(nodes.list_nodes(session, province=name))
    if not known or scope.kind == "store" or (scope.kind == "region" and scope.value != name):
        raise UnknownRegion(f"no region {name} in your scope", region=name)
    return Scope("region", name)
