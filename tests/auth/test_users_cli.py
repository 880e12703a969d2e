"""`yipan users`: create the first administrator from the shell and list users."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests import factories
from yipan.auth.service import keys
from yipan.cli.main import app
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("YIPAN_DATABASE_URL", url)
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield url
    get_settings.cache_clear()


def test_an_admin_is_created_from_a_password_on_stdin_and_listed(database: str) -> None:
    created = runner.invoke(
        app,
        ["users", "create", "root", "--name", "Root", "--role", "hq_admin", "--password-stdin"],
        input="a long enough password\n",
    )
    assert created.exit_code == 0, created.output
    assert "created root" in created.output
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0, listed.output
    assert "root" in listed.output
    assert "hq_admin" in listed.output


def test_a_store_guide_is_created_with_a_prompted_password(database: str) -> None:
    engine = make_engine(database)
    factories.node(engine, "SH-1")
    engine.dispose()
    created = runner.invoke(
        app,
        ["users", "create", "guide", "--name", "G", "--role", "store_guide", "--scope", "SH-1"],
        input="a long enough password\na long enough password\n",
    )
    assert created.exit_code == 0, created.output


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--role", "hq_admin"], "PASSWORD_TOO_SHORT"),
        (["--role", "store_guide", "--scope", "NOPE"], "UNKNOWN_STORE"),
    ],
)
def test_refused_users_exit_1_with_the_reason(database: str, args: list[str], code: str) -> None:
    password = "short" if code == "PASSWORD_TOO_SHORT" else "a long enough password"
    refused = runner.invoke(
        app,
        ["users", "create", "x1", "--name", "X", *args, "--password-stdin"],
        input=password + "\n",
    )
    assert refused.exit_code == 1
    assert code in refused.output
    listed = runner.invoke(app, ["users", "list"])
    assert "x1" not in listed.output


def test_an_api_key_is_printed_once_and_lets_its_holder_in_within_its_scope(database: str) -> None:
    engine = make_engine(database)
    factories.node(engine, "SH-1")
    made = runner.invoke(
        app, ["users", "api-key", "till SH-1", "--scope-kind", "store", "--scope", "SH-1", "-q"]
    )
    assert made.exit_code == 0, made.output
    key = made.output.strip()
    with unit_of_work(engine) as session:
        principal = keys.authenticate_api_key(session, key)
    assert (principal.role, principal.scope.kind, principal.scope.value) == (
        "integrator",
        "store",
        "SH-1",
    )
    refused = runner.invoke(
        app, ["users", "api-key", "till", "--scope-kind", "store", "--scope", "NOPE"]
    )
    assert refused.exit_code == 1
    assert "UNKNOWN_STORE" in refused.output
