"""The console under test: a small demo in a SQLite file, served for real, seen by Chromium.

The demo (scale 0.03: every warehouse and DC, a few stores, 60 SKUs) and its users are built once
per session; the console only reads, so every test shares it. Pages need a session: `client` is
signed in as the demo's HQ admin, `visitor` is not, and `page` logs in through the login form
(`fresh_page` does not). Page tests go through FastAPI's test client;
browser tests start `uvicorn yipan.app:create_app --factory` on a free port and drive the
system Chromium (`/usr/bin/chromium`) with Playwright. Without Chromium the browser tests skip,
unless `YIPAN_REQUIRE_SERVICES=1`, where its absence is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from tests.servers import running_server
from tests.support import REQUIRE_SERVICES
from yipan.app import create_app
from yipan.auth.service import login, sessions
from yipan.demo import build_demo
from yipan.demo.build import DemoSummary
from yipan.demo.logins import DEMO_PASSWORD, ensure_demo_logins
from yipan.kernel.db import make_engine, unit_of_work

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
SCALE = 0.03
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ADMIN = "admin"


@dataclass(frozen=True)
class Demo:
    url: str
    summary: DemoSummary


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'demo.db'}"
    engine = make_engine(url)
    try:
        summary = build_demo(engine, seed=7, scale=SCALE)
        ensure_demo_logins(engine)
    finally:
        engine.dispose()
    return Demo(url=url, summary=summary)


@pytest.fixture(scope="session")
def _session_client(demo: Demo) -> Iterator[TestClient]:
    engine = make_engine(demo.url)
    with TestClient(create_app(engine, background=False)) as test_client:
        yield test_client
    engine.dispose()


@pytest.fixture(scope="session")
def admin_session(demo: Demo) -> str:
    """A session token of the demo's HQ admin, made by auth's login service."""
    engine = make_engine(demo.url)
    try:
        with unit_of_work(engine) as session:
            signed_in = login.authenticate(session, ADMIN, DEMO_PASSWORD).unwrap()
    finally:
        engine.dispose()
    return sessions.issue_session_token(signed_in)


@pytest.fixture
def visitor(_session_client: TestClient) -> TestClient:
    """The app's test client with no cookies: a first visit, in Chinese, not logged in."""
    _session_client.cookies.clear()
    return _session_client


@pytest.fixture
def client(visitor: TestClient, admin_session: str) -> TestClient:
    """The app's test client signed in as the demo's HQ admin, in Chinese."""
    # The domain the app's own cookies get, so a test's `cookies.set` of another cookie adds to
    # them in the same order as before.
    visitor.cookies.set(sessions.SESSION_COOKIE, admin_session, domain="testserver.local")
    return visitor


def _require_chromium() -> None:
    reason = None
    if not CHROMIUM.exists():
        reason = f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "browser tests need the playwright package (pip install -e '.[dev]')"
    if reason is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"YIPAN_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def server(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real application, as `yipan serve` runs it, on the demo database."""
    _require_chromium()
    log = tmp_path_factory.mktemp("server") / "uvicorn.log"
    with running_server(demo.url, log) as running:
        yield running.base_url


@pytest.fixture(scope="session")
def browser(server: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def fresh_page(browser: Browser, server: str) -> Iterator[Page]:
    """A fresh browser context per test (no cookies: not logged in, the console starts in
    Chinese), tablet-sized."""
    context = browser.new_context(base_url=server, viewport={"width": 1180, "height": 820})
    tab = context.new_page()
    yield tab
    context.close()


def log_in(page: Page, username: str, password: str = DEMO_PASSWORD) -> None:
    """Fill in and send the login form the page shows."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("[data-testid=login-submit]")


@pytest.fixture
def page(fresh_page: Page) -> Page:
    """A fresh browser context logged in as the demo's HQ admin through the login form."""
    fresh_page.goto("/console/login")
    log_in(fresh_page, ADMIN)
    fresh_page.wait_for_url("**/console/dashboard")
    return fresh_page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
