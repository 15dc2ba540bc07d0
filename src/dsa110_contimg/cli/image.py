"""``dsa110 image``: image one MS with WSClean."""

from __future__ import annotations

import json

import click

from dsa110_contimg.cli.common import database, settings_of


@click.command()
@click.argument("ms", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--tier",
    type=click.Choice(["standard", "quicklook", "deep"]),
    default="standard",
    show_default=True,
    help="Imaging parameter tier.",
)
@click.option(
    "--data-column",
    default="CORRECTED_DATA",
    show_default=True,
    help="MS column to image (DATA for uncalibrated or simulated unit-gain data).",
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Product folder.")
@click.option(
    "--tiers-file", type=click.Path(dir_okay=False, exists=True), help="TOML tier overrides."
)
@click.option(
    "--register",
    is_flag=True,
    help="Record the products in the products DB (an unregistered MS is registered first).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result record as JSON.")
@click.pass_context
def image(
    ctx: click.Context,
    ms: str,
    tier: str,
    data_column: str,
    out_dir: str | None,
    tiers_file: str | None,
    register: bool,
    as_json: bool,
) -> None:
    """Image MS with WSClean: FITS products, pb correction, QA and previews."""
    from dsa110_contimg.imaging import get_tier, image_ms, register_imaging
    from dsa110_contimg.imaging.tiers import load_tier_overrides

    settings = settings_of(ctx)
    overrides = settings.imaging.overrides()  # DSA110_IMAGING_TIERS, then [imaging.tiers]
    for name, values in (load_tier_overrides(tiers_file) if tiers_file else {}).items():
        overrides.setdefault(name, {}).update(values)  # --tiers-file wins
    chosen = get_tier(tier, overrides)
    result = image_ms(
        ms,
        out_dir or settings.images_dir,
        tier=chosen,
        data_column=data_column.upper(),
        catalog_db=settings.catalog_db,  # the catalog clean mask
    )
    if register:
        from dsa110_contimg.pipeline.services import registered_ms
        from dsa110_contimg.products.db import session_scope

        _, factory = database(ctx)
        row = registered_ms(factory, ms)
        with session_scope(factory) as session:
            register_imaging(session, result, row.id)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=1, default=str))
        return
    qa = result.qa
    click.echo(
        f"{result.products['image-pb']} (v{result.version}, {result.tier}): "
        f"rms {qa['rms_jy'] * 1e3:.2f} mJy/beam, peak {qa['peak_jy']:.3f} Jy/beam, "
        f"QA {qa['grade']}; wsclean {result.wsclean_seconds:.1f} s, log {result.log_path}"
    )
