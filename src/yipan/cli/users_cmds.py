"""`yipan users …`: create the first administrator (and others) and list who has access.

Commands run as the system itself; the audit log records them as the `cli` actor. Exit codes:
0 done, 1 refused (the reason is printed), nothing is written when refused.
"""

from __future__ import annotations

import getpass
import sys

import typer
from rich.console import Console
from rich.table import Table

from yipan.auth.domain import Principal, Role
from yipan.auth.schemas import UserIn
from yipan.auth.service import users
from yipan.kernel.config import get_settings
from yipan.kernel.db import make_engine, unit_of_work
from yipan.kernel.errors import YipanError

app = typer.Typer(help="Users of the console and the API.", no_args_is_help=True)
console = Console()


def _cli_principal() -> Principal:
    return Principal.system(f"cli:{getpass.getuser()}")


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
    try:
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
    except YipanError as exc:
        console.print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(1) from None
    except ValueError as exc:  # pydantic's ValidationError
        console.print(f"[red]INVALID_INPUT[/]: {exc}")
        raise typer.Exit(1) from None
    scope = user.scope_value or "the whole chain"
    console.print(f"[green]created[/] {user.username} ({user.role}, {scope})")


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
