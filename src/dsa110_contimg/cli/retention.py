"""``dsa110 retention plan | apply | disk``: the storage lifecycle by hand."""

from __future__ import annotations

import json
from typing import Any

import click

from dsa110_contimg.cli.common import database, settings_of

_CLASS_OPTION = click.option(
    "--class",
    "classes",
    multiple=True,
    type=click.Choice(["raw", "ms", "intermediate", "log", "caltable", "event", "heartbeat"]),
    help="Only this product class (repeatable; default: every class).",
)
_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _gb(n: int) -> str:
    """Bytes in the largest decimal unit below them (kB, MB, GB, TB)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _age(days: float | None) -> str:
    return "keep" if days is None else f"{days:g} d"


def _progress(settings: Any, factory: Any, desc: str) -> Any:
    """A tqdm bar over the rows the plan examines on disk (hidden when not a terminal)."""
    from tqdm import tqdm

    from dsa110_contimg.retention import count_candidates

    with factory() as session:
        total = count_candidates(settings, session)
    return tqdm(total=total, unit="row", desc=desc, disable=None, leave=False)


@click.group()
def retention() -> None:
    """The storage lifecycle: what the retention settings remove, and the disk guard."""


@retention.command()
@_CLASS_OPTION
@_JSON_OPTION
@click.pass_context
def plan(ctx: click.Context, classes: tuple[str, ...], as_json: bool) -> None:
    """Print what would be removed now, per class (files, bytes, event rows); deletes nothing."""
    from dsa110_contimg.retention import CLASSES, make_plan

    settings, factory = database(ctx)
    bar = _progress(settings, factory, "scanning")
    with bar, factory() as session:
        result = make_plan(settings, session, progress=bar.update, classes=classes or CLASSES)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"{'class':<13} {'age':>8} {'files':>8} {'size':>14} {'rows':>8}  held back")
    for name, c in result.classes.items():
        held = ", ".join(f"{n} {why}" for why, n in c.protected.items()) or "-"
        click.echo(
            f"{name:<13} {_age(c.age_days):>8} {c.files:>8} {_gb(c.size_bytes):>14} "
            f"{c.rows:>8}  {held}"
        )
    click.echo(f"{'total':<13} {'':>8} {result.files:>8} {_gb(result.size_bytes):>14}")
    click.echo("nothing was deleted (dsa110 retention apply does it)")


@retention.command()
@_CLASS_OPTION
@_JSON_OPTION
@click.pass_context
def apply(ctx: click.Context, classes: tuple[str, ...], as_json: bool) -> None:
    """Remove what the plan lists now; purged products keep their rows (status purged)."""
    from dsa110_contimg.retention import CLASSES, apply_retention

    settings, factory = database(ctx)
    bar = _progress(settings, factory, "scanning")
    with bar:
        report = apply_retention(settings, factory, progress=bar.update, classes=classes or CLASSES)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for name in CLASSES:
            files = report.removed_files.get(name, 0)
            rows = report.deleted_rows.get(name, 0)
            if files or rows:
                size = _gb(report.removed_bytes.get(name, 0))
                click.echo(f"{name:<13} removed {files} files, {size}; {rows} rows deleted")
        click.echo(f"total: {_gb(report.total_bytes)} freed")
        for path, why in report.failed.items():
            click.secho(f"not removed: {path}: {why}", fg="yellow", err=True)
    if report.failed:
        ctx.exit(1)


@retention.command()
@_JSON_OPTION
@click.pass_context
def disk(ctx: click.Context, as_json: bool) -> None:
    """Free space of each data folder against its warn and stop thresholds."""
    from dsa110_contimg.retention import folder_space

    spaces = folder_space(settings_of(ctx))
    if as_json:
        rows = [
            {
                "folder": s.folder,
                "path": str(s.path),
                "free_bytes": s.free_bytes,
                "warn_bytes": s.warn_bytes,
                "stop_bytes": s.stop_bytes,
                "level": s.level.name.lower(),
            }
            for s in spaces
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    for s in spaces:
        click.echo(f"{s.level.name.lower():<5} {s.describe()}")
