"""``dsa110 catalog``: import and query survey catalogs."""

from __future__ import annotations

import click

from dsa110_contimg.cli.common import settings_of


@click.group()
def catalog() -> None:
    """Import and query survey catalogs (NVSS, CSV, the VLA calibrator list)."""


@catalog.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option(
    "--skip-bad",
    is_flag=True,
    help="Import the good rows and report the bad (default: all or nothing).",
)
@click.pass_context
def catalog_import(ctx: click.Context, name: str, path: str, skip_bad: bool) -> None:
    """Import catalog file PATH (NVSS text/FITS or CSV) as catalog NAME."""
    from dsa110_contimg.catalog.readers import CatalogFormatError
    from dsa110_contimg.catalog.store import CatalogStore

    settings = settings_of(ctx)
    settings.catalog_db.parent.mkdir(parents=True, exist_ok=True)
    try:
        with CatalogStore(settings.catalog_db) as store:
            report = store.import_file(name, path, skip_bad=skip_bad)
    except CatalogFormatError as exc:
        for problem in getattr(exc, "problems", [])[:50]:
            click.echo(problem, err=True)
        raise
    for problem in report.problems[:50]:
        click.echo(f"skipped {problem}", err=True)
    click.echo(
        f"imported {report.n_imported} rows of {path} as {name!r} into {settings.catalog_db}"
    )


@catalog.command("import-vla")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
def catalog_import_vla(ctx: click.Context, path: str) -> None:
    """Import the VLA calibrator list (its standard text format) as catalog VLACAL."""
    from dsa110_contimg.catalog.calibrators import calibrator_rows, read_vla_calibrators
    from dsa110_contimg.catalog.store import CatalogStore

    settings = settings_of(ctx)
    settings.catalog_db.parent.mkdir(parents=True, exist_ok=True)
    cals = read_vla_calibrators(path)
    with CatalogStore(settings.catalog_db) as store:
        n = store.import_rows("VLACAL", calibrator_rows(cals), source_path=str(path))
    click.echo(f"imported {n} calibrators from {path} as 'VLACAL'")


@catalog.command("cone")
@click.argument("name")
@click.argument("ra_deg", type=float)
@click.argument("dec_deg", type=float)
@click.argument("radius_deg", type=float)
@click.pass_context
def catalog_cone(
    ctx: click.Context, name: str, ra_deg: float, dec_deg: float, radius_deg: float
) -> None:
    """List catalog NAME's sources within RADIUS_DEG of (RA_DEG, DEC_DEG)."""
    from dsa110_contimg.catalog.store import CatalogStore

    with CatalogStore(settings_of(ctx).catalog_db) as store:
        rows = store.cone(name, ra_deg, dec_deg, radius_deg)
    for row in rows:
        click.echo(
            f"{row['name']:<28} {row['ra_deg']:11.6f} {row['dec_deg']:+11.6f} {row['flux_mjy']:10.2f} mJy"
        )
    click.echo(f"{len(rows)} sources")
