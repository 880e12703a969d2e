"""`yipan users …`: create the first administrator (and others) and list who has access.

Commands run as the system itself; the audit log records them as the `cli` actor. Exit codes:
0 done, 1 refused (the reason is printed), nothing is written when refused.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import ApiKeyIn, UserIn
from yipan.auth.service import keys, users
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

app = typer.Typer(help="Users of the console and the API.", no_args_is_help=True)
console = Console()


def _cli_principal() -> Principal:
    return Principal.system(f"cli:{getpass.getuser()}")


@contextmanager
def _refused_exits_1() -> Iterator[None]:
    """Print why a command was refused and exit 1; nothing was written."""
    try:
        yield
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from None
    except ValueError as exc:  # pydantic's ValidationError
        console.print(f"[red]INVALID_INPUT[/]: {exc}")
        raise typer.Exit(1) from None


@app.command("create")
def create(
    username: str = typer.Argument(..., help="login name, e.g. li.wei"),
    display_name: str = typer.Option(..., "--name", help="the name shown, e.g. 李伟"),
    role: Role = typer.Option(..., "--role", help="what the user may do"),
    scope_kind: str | None = typer.Option(
        None, "--scope-kind", metavar="all|region|store", help="default: the role's own"
    ),
    scope_value: str | None = typer.Option(
        None, "--scope", help="a province (region roles) or a node code (store roles)"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input"
    ),
) -> None:
    """Create a user; asks for the password unless --password-stdin is given."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _refused_exits_1():
        user_in = UserIn.model_validate(
            {
                "username": username,
                "display_name": display_name,
                "role": role,
                "scope_kind": scope_kind,
                "scope_value": scope_value,
                "password": password,
            }
        )
        with unit_of_work(make_engine(get_settings().database_url)) as session:
            user = users.create_user(session, user_in, by=_cli_principal())
    scope = user.scope_value or "the whole chain"
    console.print(f"[green]created[/] {user.username} ({user.role}, {scope})")


@app.command("api-key")
def create_api_key(
    name: str = typer.Argument(..., help="what the key is for, e.g. 'tmall connector'"),
    role: Role = typer.Option(Role.INTEGRATOR, "--role", help="what the key may do"),
    scope_kind: str | None = typer.Option(
        None, "--scope-kind", metavar="all|region|store", help="default: the role's own"
    ),
    scope_value: str | None = typer.Option(
        None, "--scope", help="a province (region) or a node code (store), e.g. a till's store"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print the key alone (for scripts)"),
) -> None:
    """Create an API key and print it: it is shown this once, only its hash is kept."""
    with _refused_exits_1():
        key_in = ApiKeyIn.model_validate(
            {"name": name, "role": role, "scope_kind": scope_kind, "scope_value": scope_value}
        )
        with unit_of_work(make_engine(get_settings().database_url)) as session:
            created = keys.create_api_key(session, key_in, by=_cli_principal())
    if quiet:
        typer.echo(created.key)
        return
    scope = created.api_key.scope_value or "the whole chain"
    console.print(f"[green]created[/] {created.api_key.name} ({created.api_key.role}, {scope})")
    console.print(f"key (shown this once, keep it): {created.key}")


@app.command("list")
def list_users() -> None:
    """Every user, disabled ones too."""
    with unit_of_work(make_engine(get_settings().database_url), readonly=True) as session:
        rows = users.list_users(session)
    table = Table("id", "username", "name", "role", "scope", "active", "last login")
    for u in rows:
        table.add_row(
            str(u.id),
            u.username,
            u.display_name,
            u.role,
            u.scope_value or "all",
            "yes" if u.active else "[red]no[/]",
            u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "",
        )
    console.print(table)
