"""``dsa110 beam profile | fit | list``: the primary beam measured on the sky, and its models."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from dsa110_contimg.cli.common import database

_RANGE = [
    click.option("--since", "since_mjd", type=float, default=None, help="Images from this MJD."),
    click.option("--until", "until_mjd", type=float, default=None, help="Images before this MJD."),
    click.option(
        "--min-snr", type=float, default=10.0, show_default=True, help="Weakest measurement used."
    ),
]


def _with_range(func: Any) -> Any:
    for option in reversed(_RANGE):
        func = option(func)
    return func


def _samples(ctx: click.Context, since_mjd: float | None, until_mjd: float | None, min_snr: float):
    from dsa110_contimg.errors import InputDataError
    from dsa110_contimg.products.db import session_scope
    from dsa110_contimg.qa.beam_profile import measured_samples

    _, factory = database(ctx)
    with session_scope(factory) as session:
        samples = measured_samples(
            session, since_mjd=since_mjd, until_mjd=until_mjd, min_snr=min_snr
        )
    if samples.size == 0:
        raise InputDataError(
            "no clean forced measurements of steady catalog sources on pb-corrected images",
            hint="run forced photometry first, or widen --since/--until or lower --min-snr",
        )
    return factory, samples


def _print_profile(profile: Any) -> None:
    click.echo(
        f"{profile.n_measurements} measurements on {profile.n_images} images; "
        f"E-W/N-S cuts within {profile.strip_deg:.2f} deg of the axis"
    )
    head = f"{'profile':>7} {'offset':>7} {'n':>6} {'forced/cat':>10} {'+-':>6} "
    click.echo(head + f"{'model':>6} {'measured':>8} {'+-':>6}")
    for axis, bins in profile.profiles.items():
        for b in bins:
            click.echo(
                f"{axis:>7} {b.offset_deg:7.2f} {b.n:6d} {b.ratio:10.4f} {b.ratio_err:6.4f} "
                f"{b.model_gain:6.3f} {b.gain:8.4f} {b.gain_err:6.4f}"
            )


@click.group()
def beam() -> None:
    """The primary beam measured from forced / catalog fluxes, and its registered models."""


@beam.command()
@_with_range
@click.option("--bins", "n_bins", type=click.IntRange(2, 100), default=12, show_default=True)
@click.option("--out", "out_png", type=click.Path(dir_okay=False), help="Write the QA figure.")
@click.option("--json", "as_json", is_flag=True, help="Print the bins as JSON.")
@click.pass_context
def profile(
    ctx: click.Context,
    since_mjd: float | None,
    until_mjd: float | None,
    min_snr: float,
    n_bins: int,
    out_png: str | None,
    as_json: bool,
) -> None:
    """Print the beam profile: forced / catalog flux by offset (radial, E-W, N-S), binned."""
    from dsa110_contimg.qa.beam_profile import beam_profile

    _, samples = _samples(ctx, since_mjd, until_mjd, min_snr)
    result = beam_profile(samples, n_bins=n_bins)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1))
    else:
        _print_profile(result)
    if out_png:
        from dsa110_contimg.qa.beam_figure import write_beam_figure

        click.echo(f"figure: {write_beam_figure(result, out_png)}", err=as_json)


@beam.command()
@_with_range
@click.option(
    "--kind",
    type=click.Choice(["airy", "measured"]),
    default="airy",
    show_default=True,
    help="airy: fit the Airy's width; measured: that fit times a smoothed radial correction.",
)
@click.option(
    "--valid-from", "valid_from_mjd", type=float, default=None,
    help="MJD from which the model holds (default: --since, else 0: all images).",
)  # fmt: skip
@click.option("--note", default=None, help="Why this version was made.")
@click.option("--out", "out_png", type=click.Path(dir_okay=False), help="Write the QA figure.")
@click.option("--dry-run", is_flag=True, help="Fit and print, register nothing.")
@click.pass_context
def fit(
    ctx: click.Context,
    since_mjd: float | None,
    until_mjd: float | None,
    min_snr: float,
    kind: str,
    valid_from_mjd: float | None,
    note: str | None,
    out_png: str | None,
    dry_run: bool,
) -> None:
    """Fit a beam model to the measurements and register it as the next version."""
    from dsa110_contimg.errors import InputDataError
    from dsa110_contimg.products import repositories as repo
    from dsa110_contimg.products.db import session_scope
    from dsa110_contimg.qa.beam_profile import beam_profile, fit_fwhm_scale, measured_model

    factory, samples = _samples(ctx, since_mjd, until_mjd, min_snr)
    try:
        result = fit_fwhm_scale(samples)
        model = result.model if kind == "airy" else measured_model(samples, result)
    except ValueError as exc:
        raise InputDataError(str(exc), hint="more images, or a lower --min-snr") from exc
    click.echo(
        f"fitted FWHM scale {result.fwhm_scale:.4f} +- {result.fwhm_scale_err:.4f} "
        f"({result.n_used} measurements where the beam >= 0.2; forced/catalog at the "
        f"centre {result.flux_scale:.4f}, the flux scale, not the beam's); forced/catalog where the "
        f"applied beam is 0.2-0.4: {result.median_before:.4f} before, "
        f"{result.median_after:.4f} after; scatter {result.rms_before:.4f} -> "
        f"{result.rms_after:.4f}"
    )
    if math.isnan(result.applied_fwhm_scale):  # no image was divided by a beam
        click.echo("the measured images carry no primary-beam correction to compare with")
    elif result.settled():
        click.echo(
            f"settled: the images were corrected with a width of x{result.applied_fwhm_scale:.4f}"
        )
    else:
        click.echo(
            f"not settled: the images were corrected with a width of "
            f"x{result.applied_fwhm_scale:.4f}; their calibration predicted the field with that "
            "beam, which pulls this fit toward it. Reprocess the groups from calibrate with this "
            "model and fit again until the width settles (usually one more round)."
        )
    if out_png:
        from dsa110_contimg.qa.beam_figure import write_beam_figure

        write_beam_figure(beam_profile(samples), out_png, fitted=model)
        click.echo(f"figure: {out_png}")
    if dry_run:
        return
    record = result.profile_record()
    record.update(radii_deg=list(model.radii_deg), gains=list(model.gains))
    with session_scope(factory) as session:
        row = repo.register_beam_model(
            session,
            kind=kind,
            fwhm_scale=result.fwhm_scale,
            profile=record,
            valid_from_mjd=valid_from_mjd if valid_from_mjd is not None else since_mjd or 0.0,
            note=note,
        )
        click.echo(
            f"registered beam model v{row.version} (id {row.id}, {kind}), valid from MJD "
            f'{row.valid_from_mjd:.5f}; images use it with beam_model = "measured"'
        )


@beam.command("list")
@click.pass_context
def list_models(ctx: click.Context) -> None:
    """List the registered beam models, newest first."""
    from dsa110_contimg.products import repositories as repo
    from dsa110_contimg.products.db import session_scope

    _, factory = database(ctx)
    with session_scope(factory) as session:
        rows = repo.list_beam_models(session)
    if not rows:
        click.echo("no beam models registered: images are corrected with the Airy")
    for row in rows:
        state = "current" if row["superseded_by_id"] is None else f"-> {row['superseded_by_id']}"
        click.echo(
            f"v{row['version']:<3} id {row['id']:<4} {row['kind']:<9} x{row['fwhm_scale']:.4f} "
            f"from MJD {row['valid_from_mjd']:.3f}  {state}  {row['note'] or ''}"
        )
