"""What the benchmarks share: fresh databases, a pool of worker processes, latency summaries."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, text

from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import ApiKeyIn
from yipan.auth.service import keys
from yipan.events.service import DeliveryReport, InProcessRelay, deliver_pending
from yipan.kernel import migrate
from yipan.kernel.db import analyze, make_engine, unit_of_work
from yipan.wiring import event_registry

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/yipan_bench"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fresh_postgres(url: str) -> Engine:
    """Empty the bench database (create it if missing) and migrate it."""
    engine = make_engine(url, pool_size=2)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        engine.dispose()
        admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", pool_size=1)
        name = url.rsplit("/", 1)[1]
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(url, pool_size=2)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(engine)
    return engine


def deliver_backlog(engine: Engine) -> DeliveryReport:
    """Deliver the events that setting up recorded, as a running worker would have by now, so a
    measured server does not spend its time on the set-up's backlog (the demo's stock policies
    alone are a few thousand events). On PostgreSQL the outbox is analysed first, as autovacuum
    would have done after that many inserts: without statistics the planner may read the queue
    in the wrong index."""
    analyze(engine, ["events_outbox"])
    return deliver_pending(engine, InProcessRelay(event_registry()), batch_size=1000)


def vacuum_analyze(engine: Engine) -> None:
    """On PostgreSQL, what autovacuum would have done by now: reclaim dead rows (a drained outbox
    leaves one per event) and gather the planner's statistics. A no-op on SQLite."""
    _maintain(engine, "VACUUM ANALYZE")


def _maintain(engine: Engine, statement: str) -> None:
    """Run a maintenance statement on PostgreSQL (outside a transaction, as it must be)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(statement))


def fresh_sqlite(directory: Path) -> Engine:
    path = directory / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    return engine


Worker = Callable[[str, int, float, Any], tuple[int, int, float]]


def run_workers(target: Worker, url: str, processes: int, seconds: float) -> tuple[int, int, float]:
    """Start `processes` workers together; each works for `seconds` and reports
    (done, refused, elapsed). Returns the totals and the longest elapsed time."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(target, url, w, seconds, barrier, queue))
        for w in range(processes)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds * 20 + 120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        raise RuntimeError(f"worker failed: {failures[0]}")
    done = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    elapsed = max(r[2] for r in results)
    return done, refused, elapsed


def _worker_main(
    target: Worker, url: str, worker: int, seconds: float, barrier: Any, queue: Any
) -> None:
    try:
        queue.put(target(url, worker, seconds, barrier))
    except Exception as exc:  # report, so the parent does not hang waiting
        queue.put(f"{type(exc).__name__}: {exc}")


def integration_key(engine: Engine) -> str:
    """A new API key of an integration that sees the whole chain: what a load generator sends."""
    with unit_of_work(engine) as session:
        created = keys.create_api_key(
            session,
            ApiKeyIn(name="benchmark load generator", role=Role.INTEGRATOR),
            by=Principal.system("bench"),
        )
    return created.key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p99": round(cuts[98], 3), "max": round(ordered[-1], 3)}


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        # Which build: the same version built without profile-guided and link-time optimisation
        # ran the import a tenth slower and pricing up to twice as slowly (docs/operations.md,
        # "The interpreter").
        "python_executable": os.path.realpath(sys.executable),
        "platform": sys.platform,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def api_server(
    url: str, *, workers: int = 1, port: int | None = None, pythonpath: str | None = None
) -> Iterator[tuple[int, int]]:
    """Serve the API from its own uvicorn processes on YIPAN_DATABASE_URL=`url`; yields (port,
    pid of the server) once /health answers. Access logs are off: they would be measured too.
    `pythonpath` goes first on the server's PYTHONPATH (another checkout's `src`, say)."""
    port = port or free_port()
    command = [sys.executable, "-m", "uvicorn", "yipan.app:create_app", "--factory"]
    command += ["--port", str(port), "--workers", str(workers)]
    command += ["--log-level", "warning", "--no-access-log"]
    env = {**os.environ, "YIPAN_DATABASE_URL": url}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    server = subprocess.Popen(command, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API server did not start (exit code {server.poll()})")
            time.sleep(0.1)
        yield port, server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from the state on; comm may hold spaces


def process_tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by `root` and every live descendant (Linux)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = int(fields[1])
            cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(cpu.get(p, 0.0) for p in tree)


def _backends(database: str) -> dict[int, float]:
    """CPU seconds so far of every PostgreSQL backend connected to `database` (Linux, local)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f" {database} " in command and (fields := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / _TICK
    return found


class BackendCpu:
    """CPU used by one database's PostgreSQL backends between start and stop. Sampled every
    `interval` seconds, so backends that connect and leave meanwhile count too (up to
    their last sample); the server's shared processes (WAL writer, checkpointer) are left out."""

    def __init__(self, database: str, interval: float = 0.5) -> None:
        self.database = database
        self.interval = interval
        self.seconds = 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self._last.update(_backends(self.database))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        self._first = _backends(self.database)
        self._last = dict(self._first)
        self._thread.start()

    def stop(self) -> float:
        """Stop sampling; returns (and keeps in `seconds`) the CPU seconds used since start."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self._sample()
            self.seconds = sum(cpu - self._first.get(pid, 0.0) for pid, cpu in self._last.items())
        return self.seconds

    def __enter__(self) -> BackendCpu:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


RunBackend = Callable[[str, str, Engine], dict[str, Any]]


def run_on_both_backends(
    run_backend: RunBackend, *, only: str | None, pg_env: str, pg_default: str
) -> None:
    """Run `run_backend(name, url, engine)` on a fresh PostgreSQL database (the URL from the
    environment variable `pg_env`, else `pg_default`) and a temporary SQLite file, unless `only`
    names one; print the figures as one JSON line keyed by backend."""
    results: dict[str, Any] = {}
    started = time.perf_counter()
    if only in (None, "postgresql"):
        url = os.environ.get(pg_env, pg_default)
        engine = fresh_postgres(url)
        results["postgresql"] = run_backend("postgresql", url, engine)
        engine.dispose()
    if only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            engine = fresh_sqlite(Path(tmp))
            url = engine.url.render_as_string()
            results["sqlite"] = run_backend("sqlite", url, engine)
            engine.dispose()
    total = round(time.perf_counter() - started)
    for figures in results.values():
        figures["machine"] = {**machine(), "bench_total_s": total}
    print(json.dumps(results))
