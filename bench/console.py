"""Console benchmark: server time of the main console pages on the demo data, on SQLite.

    python -m bench.console [--seed 7] [--scale 1.0] [--requests 40] [--rebuild]
                            [--database PATH]

The demo (`build_demo`, then its logins, then one delivery of the outbox so that its low-stock
alerts are raised) is built once per seed × scale × version of the demo and migration code, and
kept in ~/.cache/yipan-bench (YIPAN_BENCH_CACHE overrides it); each run works on a copy, so sign-ins
never touch the kept file. `--database` times an existing SQLite file instead (a copy of it too),
e.g. one with synthetic orders, and `--rebuild` builds the kept demo again.

An HQ admin (`admin`) and a store manager (`nj001`) are signed in through auth's services. Each
page is asked for `--requests` times after three warm-up requests, through FastAPI's test client
in this process; what is timed is the server's time: an ASGI middleware around the whole
application (session check, route, queries, template) from the request's arrival to the last byte
of the body, so the test client's own work is left out. Pages: the dashboard (30 days, HQ, and
7 days for the store manager), an inventory search (the demo's skew SKU), the orders list, the
newest order's detail, the 360 of the member with the most orders, the store desk (the store
manager's).

Progress goes to stderr; the last line on stdout is one JSON object with each page's p50 and p95
server time in milliseconds, the p95 of the CPU the process spent per request (what the server
did, whatever else the machine was running), and the size of the data (orders, members). A page
with nothing to show (no order yet, no member) has null figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bench.harness import deliver_backlog, log, machine
from yipan.app import create_app
from yipan.auth.service import login, sessions
from yipan.demo.build import build_demo, demo_status
from yipan.demo.logins import DEMO_PASSWORD, DEMO_STORE, ensure_demo_logins
from yipan.kernel.db import make_engine, unit_of_work
from yipan.members.models import Member
from yipan.orders.models import Order

HQ, STORE_MANAGER = "admin", "nj001"
WARMUP = 3
SRC = Path(__file__).resolve().parents[1] / "src" / "yipan"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServerTime:
    """ASGI middleware: how long the application took for each HTTP request, in milliseconds,
    from its arrival to the last byte of the response body."""

    def __init__(self, app: Asgi) -> None:
        self.app = app
        self.samples: list[float] = []
        self.cpu: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, cpu = time.perf_counter(), time.process_time()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.samples.append((time.perf_counter() - started) * 1000)
                # The process's CPU meanwhile: the test client only waits, so this is the
                # server's work, which other programs on a shared machine do not inflate.
                self.cpu.append((time.process_time() - cpu) * 1000)

        await self.app(scope, receive, timed_send)


def _fingerprint() -> str:
    """Changes whenever the demo builder or the schema changes, so a kept demo is never stale."""
    digest = hashlib.sha256()
    for folder in (SRC / "demo", SRC / "migrations" / "versions"):
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class _Phases:
    def phase(self, name: str, total: int) -> None:
        log(f"  demo: {name} ({total:,})")

    def advance(self, amount: int = 1) -> None:
        pass


def kept_demo(seed: int, scale: float, rebuild: bool) -> Path:
    """The demo for seed × scale, built now unless a build of the same code is kept."""
    cache = Path(os.environ.get("YIPAN_BENCH_CACHE", Path.home() / ".cache" / "yipan-bench"))
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"console-seed{seed}-scale{scale:g}-{_fingerprint()}.db"
    for stale in cache.glob(f"console-seed{seed}-scale{scale:g}-*"):
        if not stale.name.startswith(path.name):  # built by older code: never used again
            stale.unlink()
    if path.exists() and not rebuild:
        log(f"reusing the demo kept in {path}")
        return path
    log(f"building the demo (seed {seed}, scale {scale:g}) into {path}")
    started = time.perf_counter()
    building = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{building}")
    try:
        build_demo(engine, seed=seed, scale=scale, progress=_Phases())
        ensure_demo_logins(engine)
        delivered = deliver_backlog(engine)
        log(f"  outbox: {delivered.delivered:,} events delivered")
    finally:
        engine.dispose()  # the last connection closing folds the WAL into the file
    building.replace(path)
    log(f"built in {time.perf_counter() - started:.0f} s")
    return path


def _copy(source: Path, directory: Path) -> str:
    target = directory / "console.db"
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return f"sqlite:///{target}"


def _token(engine: Engine, username: str) -> str:
    with unit_of_work(engine) as session:
        signed_in = login.authenticate(session, username, DEMO_PASSWORD).unwrap()
    return sessions.issue_session_token(signed_in)


def _subjects(engine: Engine) -> dict[str, Any]:
    """What the pages are asked about: the newest order, the busiest member, the skew SKU."""
    with unit_of_work(engine, readonly=True) as session:
        orders = session.scalar(select(func.count()).select_from(Order)) or 0
        members = session.scalar(select(func.count()).select_from(Member)) or 0
        newest = session.scalar(select(func.max(Order.id)))
        busiest = _busiest_member(session)
        summary = demo_status(session)
    return {
        "orders": orders,
        "members": members,
        "order_id": newest,
        "member_id": busiest,
        "sku": summary.skew.sku if summary else None,
    }


def _busiest_member(session: Session) -> str | None:
    """The member with the most orders (a 360 with a history to show), else any member."""
    candidates = session.scalars(
        select(Order.member_id)
        .where(Order.member_id.is_not(None))
        .group_by(Order.member_id)
        .order_by(func.count().desc(), Order.member_id)
        .limit(20)
    ).all()
    rows = {int(c[1:]): c for c in candidates if c and c[1:].isdecimal()}
    known = session.scalars(select(Member.id).where(Member.id.in_(rows))).all()
    for row_id, public in rows.items():
        if row_id in known:
            return public
    first = session.scalar(select(func.min(Member.id)))
    return None if first is None else f"M{first:010d}"


def _time(client: TestClient, timer: ServerTime, path: str, requests: int) -> dict[str, Any]:
    for _ in range(WARMUP):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
    timer.samples.clear()
    timer.cpu.clear()
    for _ in range(requests):
        client.get(path)
    wall = statistics.quantiles(sorted(timer.samples), n=100, method="inclusive")
    cpu = statistics.quantiles(sorted(timer.cpu), n=100, method="inclusive")
    return {"p50": round(wall[49], 1), "p95": round(wall[94], 1), "cpu_p95": round(cpu[94], 1)}


def run(database: Path, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = _copy(database, Path(tmp))
        engine = make_engine(url)
        try:
            subjects = _subjects(engine)
            log(f"{subjects['orders']:,} orders, {subjects['members']:,} members")
            tokens = {name: _token(engine, name) for name in (HQ, STORE_MANAGER)}
            timer = ServerTime(create_app(engine, background=False))
            pages: dict[str, tuple[str, str | None]] = {
                "dashboard": (HQ, "/console/dashboard?period=30d"),
                "dashboard_store": (STORE_MANAGER, "/console/dashboard?period=7d"),
                "inventory": (HQ, subjects["sku"] and f"/console/inventory?sku={subjects['sku']}"),
                "orders": (HQ, "/console/orders"),
                "order_detail": (
                    HQ,
                    subjects["order_id"] and f"/console/orders/{subjects['order_id']}",
                ),
                "member_360": (
                    HQ,
                    subjects["member_id"] and f"/console/members/{subjects['member_id']}",
                ),
                "desk": (STORE_MANAGER, f"/console/desk?store={DEMO_STORE}"),
            }
            figures: dict[str, Any] = {}
            with TestClient(timer) as client:
                for page, (who, path) in pages.items():
                    if not path:
                        log(f"{page}: nothing to show, skipped")
                        for figure in ("p95", "p50", "cpu_p95"):
                            figures[f"{page}_{figure}_ms"] = None
                        continue
                    client.cookies.clear()
                    client.cookies.set(sessions.SESSION_COOKIE, tokens[who])
                    timed = _time(client, timer, path, requests)
                    log(
                        f"{page}: p50 {timed['p50']} ms, p95 {timed['p95']} ms, "
                        f"CPU p95 {timed['cpu_p95']} ms ({path})"
                    )
                    for figure, value in timed.items():
                        figures[f"{page}_{figure}_ms"] = value
        finally:
            engine.dispose()
    return {
        **{k: v for k, v in figures.items() if k.endswith("_p95_ms") and "_cpu_" not in k},
        **{k: v for k, v in figures.items() if k.endswith("_p50_ms")},
        **{k: v for k, v in figures.items() if k.endswith("_cpu_p95_ms")},
        "orders": subjects["orders"],
        "members": subjects["members"],
        "requests_per_page": requests,
        "backend": "sqlite",
        "timing": "server time: ASGI middleware around the app, in-process test client",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--rebuild", action="store_true", help="build the kept demo again")
    parser.add_argument("--database", type=Path, help="time this SQLite file instead of the demo")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.database:
        database = args.database
        log(f"timing a copy of {database}")
    else:
        database = kept_demo(args.seed, args.scale, args.rebuild)
    figures = run(database, args.requests)
    figures["machine"] = {**machine(), "bench_total_s": round(time.perf_counter() - started)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
