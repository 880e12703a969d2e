"""Orders benchmark: 2-line orders over HTTP, a flash sale of one SKU, the routing decision alone.

    python -m bench.orders [--seconds 15] [--only postgresql|sqlite] [--workers N]

Each backend gets the demo data set (165 nodes, 2,000 SKUs) in a fresh database: PostgreSQL
database yipan_bench_orders (YIPAN_BENCH_ORDERS_DATABASE_URL overrides it, emptied first), SQLite
in a temporary file. The API runs in its own uvicorn processes. Without --workers the uniform
phase is first tried briefly with 1 to 4 workers, and the best count serves the measured phases.

The load generator is lean on purpose (it shares the cores with the server and the database):
2 processes, each with 32 keep-alive connections driven by one asyncio loop that writes the
HTTP/1.1 requests itself, bodies prepared as bytes; its CPU is measured and reported.

Progress goes to stderr; the last line on stdout is one JSON object keyed by backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select, text

from bench.harness import (
    BackendCpu,
    api_server,
    deliver_backlog,
    integration_key,
    log,
    percentiles,
    process_tree_cpu,
    run_on_both_backends,
    vacuum_analyze,
)
from yipan.catalog import service as catalog
from yipan.catalog.models import Sku
from yipan.catalog.schemas import SkuIn
from yipan.channels import service as channels
from yipan.demo.build import build_demo
from yipan.inventory.models import Node, StockLevel
from yipan.inventory.service import atp as inventory_atp
from yipan.inventory.service import ledger, movements
from yipan.kernel.db import analyze, unit_of_work
from yipan.orders.domain.routing import Destination, Line, Method, NodeOption, route
from yipan.orders.service.sourcing import node_options, policy_for

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yipan_bench_orders"
# Marketplace orders come priced: the capture, routing and holds are what is measured. Orders
# from Yipan's own shop are priced by Yipan at checkout (policy, promotions, redemption) too.
CHANNEL = "tmall"
OWN_CHANNEL = "online-shop"
CLIENTS = 64
LOADGEN_PROCESSES = 2
WARMUP_S = 3.0
SWEEP_WORKERS = (1, 2, 3, 4)
UNIT_PRICE_FEN = 9900
FLASH_SKU, FLASH_STOCK, FLASH_NODES = "BENCH-FLASH", 2000, 4
FLASH_TIME_LIMIT_S = 120.0
ROUTE_POOLS, ROUTE_SAMPLES = 400, 5000
# What placing orders adds rows to (the stock levels it updates keep their number of rows).
GROWING_TABLES = (
    "orders_orders",
    "orders_lines",
    "orders_fulfilments",
    "orders_fulfilment_lines",
    "orders_routing_decisions",
    "orders_order_events",
    "inventory_reservations",
    "promotions_redemptions",
    "events_outbox",
    "auth_audit_log",
)


# --- data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """What the clients need to make up customers: where the nodes are, which SKUs can ship."""

    points: list[tuple[float, float]]  # every demo node's coordinates
    node_codes: list[str]
    ship_nodes: list[str]
    skus: list[str]  # SKUs with ATP at a node that ships
    prices: dict[str, int]  # list price of each of them
    api_key: str  # the integration key the clients send


def build(engine: Engine) -> World:
    build_demo(engine, history=False)  # the network, catalogue and stock: no customers needed
    with unit_of_work(engine, readonly=True) as session:
        nodes = session.execute(
            select(Node.code, Node.latitude, Node.longitude, Node.can_ship).order_by(Node.code)
        ).all()
        skus = session.execute(
            select(Sku.code, Sku.list_price_fen)
            .join(StockLevel, StockLevel.sku_id == Sku.id)
            .join(Node, Node.id == StockLevel.node_id)
            .where(
                Node.can_ship.is_(True),
                StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock > 0,
            )
            .group_by(Sku.code, Sku.list_price_fen)
            .order_by(Sku.code)
        ).all()
    return World(
        points=[(n.latitude, n.longitude) for n in nodes],
        node_codes=[n.code for n in nodes],
        ship_nodes=[n.code for n in nodes if n.can_ship],
        skus=[s.code for s in skus],
        prices={s.code: s.list_price_fen for s in skus},
        api_key=integration_key(engine),
    )


def stock_flash_sku(engine: Engine, world: World) -> list[str]:
    """A new SKU with FLASH_STOCK units received at FLASH_NODES shipping nodes, nowhere else."""
    chosen = world.ship_nodes[:: len(world.ship_nodes) // FLASH_NODES][:FLASH_NODES]
    with unit_of_work(engine) as session:
        catalog.upsert_sku(
            session,
            SkuIn(
                code=FLASH_SKU,
                name="Flash sale",
                product_code=FLASH_SKU,
                category_code="bench",
                list_price_fen=UNIT_PRICE_FEN,
            ),
        )
    with unit_of_work(engine) as session:
        movements.ingest_movements(
            session,
            [
                {
                    "sku": FLASH_SKU,
                    "node": code,
                    "kind": "receipt",
                    "quantity": FLASH_STOCK // FLASH_NODES,
                    "reference": "bench-flash",
                }
                for code in chosen
            ],
            require_keys=False,
        )
    return chosen


# --- routing alone --------------------------------------------------------------------------


def route_latency(engine: Engine, world: World) -> dict[str, Any]:
    """The routing decision alone for 2-line ship orders over all 165 nodes, ATP from the DB."""
    rng = random.Random(3)
    pools: list[tuple[list[Line], list[NodeOption]]] = []
    with unit_of_work(engine, readonly=True) as session:
        channel = channels.active_channel(session, CHANNEL)
        policy = policy_for(channel)
        for _ in range(ROUTE_POOLS):
            skus = rng.sample(world.skus, 2)
            pool = inventory_atp.sourcing_nodes(
                session, skus, channel=CHANNEL, include=world.node_codes
            )
            options = node_options(pool, {})
            lines = [Line(str(i + 1), sku, 1, Method.SHIP) for i, sku in enumerate(skus)]
            pools.append((lines, options))
    sizes = {len(options) for _, options in pools}
    samples: list[float] = []
    split = 0
    for i in range(ROUTE_SAMPLES + 500):
        lines, options = pools[i % ROUTE_POOLS]
        lat, lon = rng.choice(world.points)
        destination = Destination(lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05))
        t0 = time.perf_counter()
        decision = route(lines, options, destination, policy)
        elapsed = (time.perf_counter() - t0) * 1000
        if i >= 500:  # the first 500 warm the interpreter's caches
            samples.append(elapsed)
            split += len({a.node for a in decision.assignments}) > 1
    cut = percentiles(samples)
    return {
        "route_p50_ms": cut["p50"],
        "route_p99_ms": cut["p99"],
        "route_max_ms": cut["max"],
        "route_samples": len(samples),
        "route_nodes": max(sizes),
        "route_split_share": round(split / len(samples), 3),
    }


# --- the load generator ---------------------------------------------------------------------


@dataclass
class ClientReport:
    """One load-generator process's tally."""

    counted: int = 0  # responses completed inside the measured window
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    success_times: list[float] = field(default_factory=list)  # flash: when each 201 came
    refusal_times: list[float] = field(default_factory=list)  # flash: when each OUT_OF_STOCK came
    started: float = 0.0
    cpu_s: float = 0.0


@dataclass(frozen=True)
class Load:
    kind: str  # "uniform" or "flash"
    port: int
    database: str | None  # PostgreSQL database name, to measure its backends' CPU
    clients: int
    warmup_s: float
    seconds: float
    world: World
    tag: str
    channel: str = CHANNEL


def order_body(
    rng: random.Random, world: World, channel: str, skus: list[str], external_id: str
) -> bytes:
    lat, lon = rng.choice(world.points)
    prices = [world.prices.get(sku, UNIT_PRICE_FEN) for sku in skus]
    lines = [
        {"sku": sku, "quantity": 1, "unit_price_fen": price, "method": "ship"}
        for sku, price in zip(skus, prices, strict=True)
    ]
    order = {
        "channel": channel,
        "external_id": external_id,
        "lines": lines,
        "customer": {"member_id": f"m{rng.randrange(1_000_000)}"},
        "address": {
            "line": "bench street 1",
            "latitude": round(lat + rng.uniform(-0.05, 0.05), 6),
            "longitude": round(lon + rng.uniform(-0.05, 0.05), 6),
        },
        "total_fen": sum(prices),
    }
    return json.dumps(order, separators=(",", ":")).encode()


class Connection:
    """HTTP/1.1 keep-alive over asyncio streams: just enough for POST and a Content-Length body."""

    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {self.key}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionError("server closed the connection")
            length, close = 0, False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            payload = await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError):
            await self.close()
            raise
        if close:
            await self.close()
        return int(status_line.split()[1]), payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _outcome(status: int, payload: bytes) -> str:
    if status == 201:
        return "201"
    try:
        code = json.loads(payload).get("code", "")
    except ValueError:
        code = ""
    return f"{status} {code}".strip()


async def _client(load: Load, n: int, report: ClientReport, measure_from: float) -> None:
    rng = random.Random(f"{load.tag}-{n}")
    conn = Connection(load.port, load.world.api_key)
    end = measure_from + load.seconds
    i = refusals_in_a_row = 0
    while True:
        t0 = time.perf_counter()
        if load.kind == "uniform" and t0 >= end:
            break
        if load.kind == "flash" and (refusals_in_a_row >= 3 or t0 - report.started > load.seconds):
            break
        skus = [FLASH_SKU] if load.kind == "flash" else rng.sample(load.world.skus, 2)
        body = order_body(rng, load.world, load.channel, skus, f"{load.tag}-{n}-{i}")
        i += 1
        try:
            status, payload = await conn.post("/api/v1/orders", body)
            outcome = _outcome(status, payload)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            outcome = f"transport {type(exc).__name__}"
        t1 = time.perf_counter()
        if load.kind == "uniform":
            if measure_from <= t1 <= end:
                report.counted += 1
                report.statuses[outcome] += 1
                if outcome == "201":
                    report.latencies_ms.append((t1 - t0) * 1000)
            continue
        report.counted += 1
        report.statuses[outcome] += 1
        if outcome == "201":
            report.latencies_ms.append((t1 - t0) * 1000)
            report.success_times.append(t1)
            refusals_in_a_row = 0
        elif outcome == "409 OUT_OF_STOCK":
            report.refusal_times.append(t1)
            refusals_in_a_row += 1
    await conn.close()


async def _drive(load: Load, first: int, barrier: Any) -> ClientReport:
    report = ClientReport()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, barrier.wait)
    report.started = time.perf_counter()
    measure_from = report.started + load.warmup_s
    cpu = time.process_time()

    async def window() -> None:  # the CPU this process spends inside the measured window
        nonlocal cpu
        await asyncio.sleep(load.warmup_s)
        cpu = time.process_time()
        await asyncio.sleep(load.seconds)
        report.cpu_s = time.process_time() - cpu

    timer = asyncio.create_task(window()) if load.kind == "uniform" else None
    await asyncio.gather(
        *(_client(load, first + n, report, measure_from) for n in range(load.clients))
    )
    if timer is None:
        report.cpu_s = time.process_time() - cpu
    else:
        await timer
    return report


def _loadgen_main(load: Load, first: int, barrier: Any, queue: Any) -> None:
    try:
        queue.put(asyncio.run(_drive(load, first, barrier)))
    except Exception as exc:  # report, so the parent does not hang waiting
        queue.put(f"{type(exc).__name__}: {exc}")


@dataclass
class LoadResult:
    reports: list[ClientReport]
    server_cpu_s: float
    database_cpu_s: float

    @property
    def statuses(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.reports:
            total.update(r.statuses)
        return total

    @property
    def latencies_ms(self) -> list[float]:
        return [x for r in self.reports for x in r.latencies_ms]

    @property
    def loadgen_cpu_s(self) -> float:
        return sum(r.cpu_s for r in self.reports)


def run_load(
    load: Load, server_pid: int, mid_warmup: Callable[[], None] | None = None
) -> LoadResult:
    """Run `load` from LOADGEN_PROCESSES processes; measure the CPU of the server's processes
    and of the database's backends meanwhile. `mid_warmup` runs halfway through the warm-up."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(LOADGEN_PROCESSES + 1)
    queue = ctx.Queue()
    per = load.clients // LOADGEN_PROCESSES
    procs = [
        ctx.Process(
            target=_loadgen_main,
            args=(Load(**{**load.__dict__, "clients": per}), p * per, barrier, queue),
        )
        for p in range(LOADGEN_PROCESSES)
    ]
    for p in procs:
        p.start()
    backends = BackendCpu(load.database) if load.database else None
    barrier.wait(timeout=120)
    # A uniform load is measured over its window after the warm-up; a flash sale from start
    # to the last client's end.
    time.sleep(load.warmup_s / 2)
    if mid_warmup is not None:
        mid_warmup()
    time.sleep(load.warmup_s / 2)
    server_cpu = -process_tree_cpu(server_pid)
    if backends:
        backends.start()
    try:
        if load.kind == "uniform":
            time.sleep(load.seconds)
            server_cpu += process_tree_cpu(server_pid)
            if backends:
                backends.stop()
        results = [queue.get(timeout=load.warmup_s + load.seconds + 300) for _ in procs]
    finally:
        if load.kind != "uniform":
            server_cpu += process_tree_cpu(server_pid)
        if backends:
            backends.stop()
    for p in procs:
        p.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        raise RuntimeError(f"load generator failed: {failures[0]}")
    reports = [r for r in results if isinstance(r, ClientReport)]
    return LoadResult(reports, server_cpu, backends.seconds if backends else 0.0)


# --- phases ---------------------------------------------------------------------------------


def _database(engine: Engine) -> str | None:
    return engine.url.database if engine.dialect.name == "postgresql" else None


def _sessions(engine: Engine) -> int:
    """Connections PostgreSQL has accepted into the database so far (0 for SQLite)."""
    if engine.dialect.name != "postgresql":
        return 0
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            ).scalar_one()
        )


def uniform(
    port: int,
    server_pid: int,
    engine: Engine,
    world: World,
    seconds: float,
    tag: str,
    channel: str = CHANNEL,
) -> dict[str, Any]:
    load = Load("uniform", port, _database(engine), CLIENTS, WARMUP_S, seconds, world, tag, channel)
    vacuum_analyze(engine)
    sessions = _sessions(engine)
    # The tables orders are written to start (nearly) empty, and a plan chosen for an empty table
    # (a foreign key's check reading the whole table, say) is kept by each connection until the
    # table's statistics change: with autovacuum off (this server) that was never, and the
    # checks read more rows with every order. Autovacuum analyses a table once 50 rows and 10 %
    # of it have changed; the benchmark does that once, halfway through the warm-up.
    result = run_load(load, server_pid, mid_warmup=lambda: analyze(engine, GROWING_TABLES))
    time.sleep(1)  # PostgreSQL counts a session when it ends and reports with up to 1 s delay
    sessions = _sessions(engine) - sessions
    statuses = result.statuses
    placed = statuses.get("201", 0)
    cut = percentiles(result.latencies_ms) if placed > 100 else {"p50": 0.0, "p99": 0.0, "max": 0}
    counted = sum(r.counted for r in result.reports)
    per_order = 1000 / counted if counted else 0.0  # CPU ms per response in the window
    return {
        "orders_per_s": round(placed / seconds),
        "p50_ms": cut["p50"],
        "p99_ms": cut["p99"],
        "max_ms": cut["max"],
        "placed": placed,
        "out_of_stock": statuses.get("409 OUT_OF_STOCK", 0),
        "errors": {k: v for k, v in statuses.items() if k not in ("201", "409 OUT_OF_STOCK")},
        "cpu_ms_per_order": {
            "server": round(result.server_cpu_s * per_order, 2),
            "database": round(result.database_cpu_s * per_order, 2),
            "load_generator": round(result.loadgen_cpu_s * per_order, 2),
        },
        # New database connections during the phase (pool overflow opening and closing).
        "db_connections_opened": sessions,
    }


def flash_sale(port: int, server_pid: int, engine: Engine, world: World) -> dict[str, Any]:
    load = Load("flash", port, _database(engine), CLIENTS, 0.0, FLASH_TIME_LIMIT_S, world, "flash")
    vacuum_analyze(engine)
    result = run_load(load, server_pid)
    statuses = result.statuses
    sold = statuses.get("201", 0)
    answered = sum(statuses.values())
    started = min(r.started for r in result.reports)
    successes = sorted(t for r in result.reports for t in r.success_times)
    sold_out_s = (successes[-1] - started) if successes else 0.0
    refusals = [t for r in result.reports for t in r.refusal_times]
    early = sum(1 for t in refusals if successes and t < successes[-1])
    with unit_of_work(engine, readonly=True) as session:
        sku_id = catalog.sku_id(session, FLASH_SKU)
        reserved, on_hand = session.execute(
            select(
                func.coalesce(func.sum(StockLevel.reserved), 0),
                func.coalesce(func.sum(StockLevel.on_hand), 0),
            ).where(StockLevel.sku_id == sku_id)
        ).one()
        broken_anywhere = session.scalar(
            select(func.count())
            .select_from(StockLevel)
            .where(StockLevel.reserved > StockLevel.on_hand)
        )
    cut = percentiles(result.latencies_ms) if sold > 100 else {"p50": 0.0, "p99": 0.0, "max": 0}
    return {
        "flash_sale_orders_per_s": round(sold / sold_out_s) if sold_out_s else 0,
        "flash_stock": FLASH_STOCK,
        "flash_nodes": FLASH_NODES,
        "flash_sold": sold,
        "flash_sold_out_s": round(sold_out_s, 2),
        "flash_p50_ms": cut["p50"],
        "flash_p99_ms": cut["p99"],
        "flash_refused": statuses.get("409 OUT_OF_STOCK", 0),
        "flash_refused_before_sold_out": early,
        "flash_reserved": int(reserved),
        "flash_on_hand": int(on_hand),
        "flash_errors": {k: v for k, v in statuses.items() if k not in ("201", "409 OUT_OF_STOCK")},
        "oversold": max(0, sold - FLASH_STOCK) + int(broken_anywhere or 0),
        "flash_cpu_ms_per_request": {
            "server": round(result.server_cpu_s * 1000 / answered, 2) if answered else 0.0,
            "database": round(result.database_cpu_s * 1000 / answered, 2) if answered else 0.0,
        },
    }


def run_backend(
    name: str, url: str, engine: Engine, seconds: float, workers: int | None
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    log(f"{name}: building the demo (165 nodes, 2,000 SKUs)")
    t0 = time.perf_counter()
    world = build(engine)
    figures["build_s"] = round(time.perf_counter() - t0, 1)
    flash_nodes = stock_flash_sku(engine, world)
    backlog = deliver_backlog(engine)
    log(f"{name}: the set-up's {backlog.delivered:,} events delivered before measuring")
    vacuum_analyze(engine)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            figures["pg_autovacuum"] = conn.execute(text("SHOW autovacuum")).scalar_one()
    log(f"{name}: {len(world.skus)} SKUs ship from {len(world.ship_nodes)} nodes")

    log(f"{name}: routing alone, {ROUTE_SAMPLES} decisions")
    figures.update(route_latency(engine, world))
    log(
        f"{name}: route p50 {figures['route_p50_ms']} ms, p99 {figures['route_p99_ms']} ms "
        f"over {figures['route_nodes']} nodes"
    )

    if workers is None:
        sweep_s = max(5.0, seconds / 2)
        by_workers: dict[str, int] = {}
        for n in SWEEP_WORKERS:
            log(f"{name}: uniform orders, {n} server worker(s), {CLIENTS} clients × {sweep_s}s")
            with api_server(url, workers=n) as (port, pid):
                got = uniform(port, pid, engine, world, sweep_s, f"sweep{n}")
            by_workers[str(n)] = got["orders_per_s"]
            log(f"{name}: {n} worker(s): {got['orders_per_s']} orders/s, errors {got['errors']}")
        figures["orders_per_s_by_workers"] = by_workers
        workers = int(max(by_workers, key=lambda k: by_workers[k]))

    with api_server(url, workers=workers) as (port, pid):
        log(f"{name}: uniform orders, {workers} server worker(s), {CLIENTS} clients × {seconds}s")
        got = uniform(port, pid, engine, world, seconds, "uniform")
        figures.update(got)
        figures["server_workers"] = workers
        log(f"{name}: {json.dumps(got)}")
        log(f"{name}: orders from the own online shop, priced at checkout, {seconds / 2}s")
        own = uniform(port, pid, engine, world, seconds / 2, "own", channel=OWN_CHANNEL)
        figures["own_channel_orders_per_s"] = own["orders_per_s"]
        figures["own_channel_p99_ms"] = own["p99_ms"]
        figures["own_channel_errors"] = own["errors"]
        figures["own_channel_cpu_ms_per_order"] = own["cpu_ms_per_order"]
        log(f"{name}: {json.dumps(own)}")
        log(f"{name}: flash sale, {CLIENTS} clients race for {FLASH_STOCK} units of one SKU")
        flash = flash_sale(port, pid, engine, world)
        figures.update(flash)
        figures["flash_sale_node_codes"] = flash_nodes
        log(f"{name}: {json.dumps(flash)}")

    log(f"{name}: reconcile")
    with unit_of_work(engine, readonly=True) as session:
        report = ledger.reconcile(session)
    figures["reconcile_rows"] = report.rows_checked
    figures["reconcile_drift"] = len(report.drifted)
    figures["clients"] = CLIENTS
    figures["load_generator"] = (
        f"{LOADGEN_PROCESSES} processes × {CLIENTS // LOADGEN_PROCESSES} keep-alive connections, "
        "asyncio with a minimal HTTP/1.1 client"
    )
    figures["server"] = (
        f"uvicorn yipan.app:create_app --factory --workers {workers} --no-access-log"
    )
    figures["seconds"] = seconds
    figures["warmup_s"] = WARMUP_S
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--only", choices=["postgresql", "sqlite"])
    parser.add_argument("--workers", type=int, help="server workers (default: try 1 to 4)")
    args = parser.parse_args()
    run_on_both_backends(
        lambda name, url, engine: run_backend(name, url, engine, args.seconds, args.workers),
        only=args.only,
        pg_env="YIPAN_BENCH_ORDERS_DATABASE_URL",
        pg_default=DEFAULT_PG,
    )


if __name__ == "__main__":
    main()
