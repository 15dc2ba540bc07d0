"""``dsa110 config`` and ``dsa110 db``: the resolved settings; the products DB's schema and backups."""

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
    """Print the resolved settings, secrets masked (science sections as tables)."""
    values = settings_of(ctx).masked()
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    import tomli_w

    click.echo(tomli_w.dumps(_without_none(values)), nl=False)


def _without_none(values: dict) -> dict:
    """TOML has no null: unset values (at any depth) are left out."""
    return {
        k: _without_none(v) if isinstance(v, dict) else v
        for k, v in values.items()
        if v is not None
    }


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
    if revision == "head":
        n = _rebuild_stale_metrics(settings)
        if n:
            click.echo(f"rebuilt the variability metrics of {n} sources (one epoch per transit)")


def _rebuild_stale_metrics(settings) -> int:  # type: ignore[no-untyped-def]
    """Metrics rows made before one-epoch-per-transit (migration 0011), rebuilt now."""
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.variability.stage import rebuild_stale_metrics

    engine = make_engine(settings.db_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return rebuild_stale_metrics(session, preset=settings.candidate_preset())
    finally:
        engine.dispose()


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


@db.command("backup")
@click.argument("dest", type=click.Path(file_okay=False))
@click.option("--no-catalogs", is_flag=True, help="Leave the catalog store (catalogs.sqlite3) out.")
@click.pass_context
def db_backup(ctx: click.Context, dest: str, no_catalogs: bool) -> None:
    """Copy the products DB and the catalog store into the new folder DEST, while the pipeline runs.

    SQLite: the online backup API; PostgreSQL: pg_dump of one exported
    snapshot. DEST gets a manifest.json (revision, row counts, SHA-256).
    """
    from dsa110_contimg.products.backup import backup

    settings = settings_of(ctx)
    report = backup(settings.db_url, dest, catalog_db=None if no_catalogs else settings.catalog_db)
    for part in report.parts:
        rows = sum(n for t, n in part.counts.items() if t != "alembic_version")
        rev = f", revision {part.revision}" if part.revision else ""
        click.echo(f"{part.kind}: {part.file} {part.bytes / 1e6:.1f} MB, {rows} rows{rev}")
    click.echo(f"backup complete in {report.seconds:.1f} s: {report.path}")


@db.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False))
@click.option("--force", is_flag=True, help="Replace a DB that holds data (saved first).")
@click.option("--dry-run", is_flag=True, help="Only check the backup and the targets.")
@click.option("--no-catalogs", is_flag=True, help="Leave the catalog store as it is.")
@click.pass_context
def db_restore(ctx: click.Context, src: str, force: bool, dry_run: bool, no_catalogs: bool) -> None:
    """Check the backup SRC, then put it back as the products DB and catalog store.

    A DB that holds data is only replaced with --force (stop the daemon and
    the API first); it is saved under state_dir/backups/pre-restore-<time>.
    """
    from dsa110_contimg.products.backup import restore

    settings = settings_of(ctx)
    report = restore(
        settings.db_url,
        src,
        catalog_db=None if no_catalogs else settings.catalog_db,
        force=force,
        dry_run=dry_run,
        save_dir=settings.state_dir / "backups",
    )
    click.echo(f"backup {src} is intact: revision {report.revision} (code head {report.head})")
    if report.saved_previous:
        click.echo(f"the replaced DB was saved in {report.saved_previous}")
    if report.restored:
        rows = sum(n for t, n in report.counts.items() if t != "alembic_version")
        click.echo(f"restored {' and '.join(report.restored)}: {rows} rows in the products DB")
    elif dry_run:
        click.echo("dry run: nothing changed")
    if report.needs_upgrade:
        click.echo("the backup's schema is older than the code's: run `dsa110 db upgrade`")
