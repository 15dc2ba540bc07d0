"""``dsa110 user add | list | disable | enable | passwd | role``: the dashboard's named users.

Passwords are read from a prompt (hidden, asked twice) or, for scripts, as
the first line of standard input (``--password-stdin``); never from the
command line, where other users of the machine could read them.
"""

from __future__ import annotations

import json
import sys

import click

from dsa110_contimg.cli.common import database

ROLES = click.Choice(["reader", "operator", "admin"])

_PASSWORD_STDIN = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input (no prompt).",
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.UsageError("no password on standard input")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group()
def user() -> None:
    """Named users who sign in to the dashboard (roles: reader, operator, admin)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=ROLES, required=True, help="reader, operator or admin.")
@_PASSWORD_STDIN
@click.pass_context
def add(ctx: click.Context, name: str, role: str, password_stdin: bool) -> None:
    """Add user NAME with a role and a password."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    repo.check_user_name(name)  # before asking for a password
    with factory() as session:
        if repo.user_or_none(session, name) is not None:
            raise repo.ConflictError(f"a user named {name!r} exists already")
    password = _password(password_stdin)
    with factory() as session:
        repo.add_user(session, name, role, password)
        session.commit()
    click.echo(f"added {name} ({role})")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the users: name, role, created, disabled."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    with factory() as session:
        users = repo.list_users(session)
    if as_json:
        rows = [{**u, "created_at": u["created_at"].isoformat()} for u in users]
        click.echo(json.dumps(rows, indent=2))
        return
    if not users:
        click.echo("no users (add one: dsa110 user add NAME --role operator)")
        return
    width = max(len(u["name"]) for u in users)
    for u in users:
        state = "  disabled" if u["disabled"] else ""
        created = u["created_at"].strftime("%Y-%m-%d %H:%M UTC")
        click.echo(f"{u['name']:<{width}}  {u['role']:<8}  {created}{state}")


@user.command()
@click.argument("name")
@click.pass_context
def disable(ctx: click.Context, name: str) -> None:
    """Disable user NAME: no more sign-ins, and its sessions end now."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    with factory() as session:
        repo.disable_user(session, name)
        session.commit()
    click.echo(f"disabled {name}")


@user.command()
@click.argument("name")
@click.pass_context
def enable(ctx: click.Context, name: str) -> None:
    """Enable user NAME again."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    with factory() as session:
        repo.disable_user(session, name, disabled=False)
        session.commit()
    click.echo(f"enabled {name}")


@user.command()
@click.argument("name")
@_PASSWORD_STDIN
@click.pass_context
def passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Give user NAME a new password (its sessions end now)."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    with factory() as session:
        repo.get_user(session, name)  # before asking for a password
    password = _password(password_stdin)
    with factory() as session:
        repo.set_password(session, name, password)
        session.commit()
    click.echo(f"new password set for {name}")


@user.command()
@click.argument("name")
@click.argument("role", type=ROLES)
@click.pass_context
def role(ctx: click.Context, name: str, role: str) -> None:
    """Give user NAME another ROLE."""
    from dsa110_contimg.products import repositories as repo

    _, factory = database(ctx)
    with factory() as session:
        repo.set_user_role(session, name, role)
        session.commit()
    click.echo(f"{name} is now {role}")
