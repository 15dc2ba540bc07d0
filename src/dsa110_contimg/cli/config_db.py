"""``dsa110 config`` and ``dsa110 db``: the resolved settings and the products DB's schema."""

from __future__ import annotations

import json

import click

from dsa110_contimg.cli.common import settings_of


@click.group()
def config() -> None:
    """Inspect the resolved settings."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
@click.pass_context
def config_show(ctx: click.Context, as_json: bool) -> None:
    """Print the resolved settings, secrets masked."""
    values = settings_of(ctx).masked()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    import tomli_w

    click.echo(tomli_w.dumps({k: v for k, v in values.items() if v is not None}), nl=False)


@click.group()
def db() -> None:
    """Create, migrate and inspect the products database."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Create the products DB or migrate it to the newest schema."""
    from dsa110_contimg.config import mask_url_password
    from dsa110_contimg.products import upgrade

    settings = settings_of(ctx)
    settings.ensure_folders()
    rev = upgrade(settings.db_url, revision)
    click.echo(f"products DB {mask_url_password(settings.db_url)} at revision {rev}")


@db.command("downgrade")
@click.argument("revision")
@click.pass_context
def db_downgrade(ctx: click.Context, revision: str) -> None:
    """Migrate the products DB down to REVISION (`base` removes every table)."""
    from dsa110_contimg.products import downgrade

    rev = downgrade(settings_of(ctx).db_url, revision)
    click.echo(f"products DB at revision {rev or 'base'}")


@db.command("current")
@click.pass_context
def db_current(ctx: click.Context) -> None:
    """Print the DB's revision and the code's newest one."""
    from dsa110_contimg.products import current_revision, head_revision

    current = current_revision(settings_of(ctx).db_url)
    click.echo(f"database: {current or 'none'}\ncode head: {head_revision()}")
