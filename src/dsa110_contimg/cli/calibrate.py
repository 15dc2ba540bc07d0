"""``dsa110 calibrate``: calibrate one MS as the pipeline does."""

from __future__ import annotations

import click

from dsa110_contimg.cli.common import database


@click.command()
@click.argument("ms", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--solve",
    is_flag=True,
    help="First solve bandpass and gains on the calibrator transiting MS and register them.",
)
@click.option(
    "--tile-gains/--no-tile-gains",
    default=None,
    help="When the strip's bandpass is valid but its transit gains have expired, solve "
    "this MS's gains against the catalog sky model first (default: settings.tile_gains, on).",
)
@click.pass_context
def calibrate(ctx: click.Context, ms: str, solve: bool, tile_gains: bool | None) -> None:
    """Apply the products DB's valid calibration tables to MS (writes CORRECTED_DATA).

    Tables are chosen for the MS's mid time and declination strip: expired
    or superseded tables are not used, tables solved more than 1.5 deg away in
    declination (half the primary beam) are refused and the MS waits for its
    own strip's tables (stage ``waiting_cal``). Between transits (bandpass valid, gains expired) the MS's
    own gains are solved on the catalog sky model, as the pipeline does. The
    application is recorded as a `calibrate` job and in cal_applications
    (an unregistered MS is registered first). Exits non-zero when no valid
    table exists.
    """
    from dsa110_contimg.pipeline.services import calibrate_ms

    settings, factory = database(ctx)
    result = calibrate_ms(
        settings, factory, ms, solve=solve, tile_gains=tile_gains, report=click.echo
    )
    if result.skipped:
        click.echo(f"{result.ms_path} is already calibrated; nothing done")
        return
    click.echo(f"{result.ms_path}: CORRECTED_DATA from {', '.join(result.outputs['tables'])}")
